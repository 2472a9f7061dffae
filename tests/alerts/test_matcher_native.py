"""The rule terms' automaton in C (``_native.Phrases``, ``monitor/core/phrases.c``) against the
Python matcher over pyahocorasick it replaced (``tests/support/reference_matcher.py``).

Both are built from the same keys (``term_keys``); on any text they must give the same hits: the
mask (every code point), runs of spaces, prefixes, suffix checks, positions and de-duplication.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.matcher import _BLANKS, _NONWORD, PhraseMatcher
from alerts.rules import load_rules
from monitor.core import _native
from monitor.core.text import normalize
from tests.support.detect import LEXICON
from tests.support.reference_matcher import ReferenceMatcher

# Letters the prefix chains and suffixes are made of, a few others, Latin, digits, punctuation.
_LETTERS = [*list("وفبلكالسيتناهةمرد"), "ال", "ات", "ون", "ها"]
_TEXT = [*_LETTERS, " ", " ", "«", "»", "!", "،", "-", "\n", "a", "b", "ab", "1", "٥", "🔥", "ـ"]


def _mark(payload: tuple[str, int, str]) -> int:
    """A mark per payload, bits up to the 64th (several payloads share a bit, as in the detector)."""
    return 1 << (payload[1] * 7 % 64) | (1 << 63 if payload[1] % 5 == 0 else 0)


def _same(terms: list[str], texts: list[str]) -> None:
    entries = [(term, ("term", i, term)) for i, term in enumerate(terms)]
    native, reference = PhraseMatcher(entries, mark=_mark), ReferenceMatcher(entries, mark=_mark)
    for text in texts:
        normalized = normalize(text)
        got, expected = native.find_normalized(normalized), reference.find_normalized(normalized)
        assert sorted(got) == sorted(expected), text
        assert len(got) == len(set(got)), text  # each distinct hit once
        marked, marks = native.find_marked(normalized)
        assert marked == got
        assert marks == reference.find_marked(normalized)[1], text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(_LETTERS), min_size=1, max_size=4).map("".join)
        | st.lists(st.sampled_from([*_LETTERS, " "]), min_size=2, max_size=8).map("".join),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.lists(st.sampled_from(_TEXT), max_size=40).map("".join), min_size=1, max_size=5),
)
def test_random_terms_in_random_text(terms, texts):
    terms = [t for t in terms if normalize(t).strip()]
    if terms:
        _same(terms, [*texts, " ".join(terms), "«" + "» «".join(terms) + "»"])


def test_the_shipped_rules_on_the_lexicon():
    rules = load_rules()
    terms = sorted(
        {
            t
            for r in rules.rules
            for t in (*r.terms, *r.with_any, *r.without_any, *(x for g in r.near for x in g))
        }
    )
    phrases = [k["term"] for k in LEXICON["keywords"]] + [c["text"] for c in LEXICON["countdown_examples"]]
    phrases += [n["text"] if isinstance(n, dict) else str(n) for n in LEXICON["negative_examples"]]
    rng = random.Random(7)
    texts = [
        rng.choice([" ", "  ", " - ", "«", "! ", "\n"]).join(
            rng.choice(phrases) for _ in range(rng.randint(1, 10))
        )
        for _ in range(600)
    ]
    _same(terms, [*texts, "بالعبوات الناسفة!! «الانتقام» قادم", "#VengeanceIsComing #vengeanceiscoming"])


def test_every_code_point_the_mask_blanks_joins_a_phrase():
    """``a X b`` holds the phrase ``a b`` exactly when X is blanked (or a space): the native
    mask and the regex class agree on every code point."""
    matcher = PhraseMatcher([("a b", "ab")])
    points = [cp for cp in range(0x110000) if chr(cp) not in "ab"]
    text = " ".join("a" + chr(cp) + "b" for cp in points)
    starts = {start for _, start, _ in matcher.find_normalized(text)}
    joined = {points[start // 4] for start in starts}
    assert joined == {cp for cp in points if _NONWORD.match(chr(cp)) or chr(cp) == " "}


def test_spans_are_in_the_normalised_text():
    matcher = PhraseMatcher([("الرد قادم", 1), ("عبوة ناسفة", 2), ("vengeance is coming", 3)])
    text = normalize("«الرد» قادم!!  بالعبوات الناسفة، vengeance... is coming")
    hits = matcher.find_normalized(text)
    assert [(p, text[s:e]) for p, s, e in hits] == [
        (1, "الرد» قادم"),
        (2, "بالعبوات الناسفه"),
        (3, "vengeance... is coming"),
    ]


_OK = ([""], ["a "], [((0, 3, 0, (0, 0)),)], [("",)], ("x",), _BLANKS)  # the key " a ", closed


def test_a_good_table_finds():
    assert _native.Phrases(*_OK).find("b a c") == [("x", 2, 3)]


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({1: ["b ", "a "], 2: [(), ()]}, ValueError, "sorted"),
        ({1: ["", "a "], 2: [(), ()]}, ValueError, "non-empty"),
        ({0: ["x"]}, ValueError, "the first one empty"),
        ({0: ["", ""]}, ValueError, "the first one empty"),
        ({2: [((0, 3, 0, (5, 0)),)]}, ValueError, "payload or mode"),
        ({2: [((0, 3, 0, (0, 3)),)]}, ValueError, "payload or mode"),
        ({2: [((4, 3, 0, (0, 0)),)]}, ValueError, "chain out of range"),
        ({2: [((0, 3, 9, (0, 0)),)]}, ValueError, "bad length or kind"),
        ({2: [((0, 7, 0, (0, 0)),)]}, ValueError, "bad length or kind"),
        ({2: [((0, 3, 0, (0,)),)]}, TypeError, "must be (chain, length, kind"),
        ({3: [[""]]}, TypeError, "tuple of str"),
        ({1: ["a ", "b "]}, ValueError, "one tuple of readings per key"),
        ({5: "not bytes"}, TypeError, "must be bytes"),
    ],
)
def test_bad_tables_are_refused_with_a_reason(change, error, words):
    args = [change.get(i, arg) for i, arg in enumerate(_OK)]
    with pytest.raises(error, match=words.replace("(", r"\(")):
        _native.Phrases(*args)


def test_marks_are_or_ed_over_the_hits_and_refused_when_malformed():
    table = _native.Phrases(*_OK, (1 << 63 | 5,))
    assert table.find_marked("b a c a") == ([("x", 2, 3), ("x", 6, 7)], 1 << 63 | 5)
    assert table.find_marked("b c") == ([], 0)
    with pytest.raises(RuntimeError, match="without marks"):
        _native.Phrases(*_OK).find_marked("a")
    for marks, error, words in [
        ((1, 2), ValueError, "one int per payload"),
        ((-1,), ValueError, "must be in"),
        ((1 << 64,), ValueError, "must be in"),
        (("1",), TypeError, "must be an int"),
        ([1], TypeError, "tuple of int or None"),
    ]:
        with pytest.raises(error, match=words):
            _native.Phrases(*_OK, marks)


def test_a_built_table_is_not_built_again_and_an_unbuilt_one_finds_nothing():
    table = _native.Phrases(*_OK)
    with pytest.raises(RuntimeError, match="already built"):
        table.__init__(*_OK)
    assert table.find("b a c") == [("x", 2, 3)]  # the first tables still answer
    with pytest.raises(RuntimeError, match="not built"):
        _native.Phrases.__new__(_native.Phrases).find("a")
