"""The fast fold against the former one: same output on a generated Arabic+English corpus and edges.

:func:`monitor.core.text.normalize` folds each word once (kept in a table) and new words together
in a few C scans. ``_former_normalize`` below is the definition it replaced (the fold of issue 17's
first version, kept here verbatim as the reference): one ``str.translate`` per run of foldable
characters, then hashtags, case, digits, letter runs and whitespace over the whole text.
"""

from __future__ import annotations

import random
import re
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.core import text as text_module
from monitor.core.text import normalize, normalize_with_offsets

# --- the former definition (reference) ------------------------------------------------------

_TABLE = text_module._TABLE  # the per-character fold itself is unchanged: the lexicon's data
_FOLDABLE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_TABLE)) + "]+")
_HASHTAG = re.compile(r"#\w+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")


def _former_normalize(text: str) -> str:
    if not text:
        return ""
    text = _FOLDABLE.sub(lambda m: m.group().translate(_TABLE), unicodedata.normalize("NFKC", text))
    if "#" in text:
        text = _HASHTAG.sub(lambda m: _CAMEL_BOUNDARY.sub(" ", m.group()), text)
    text = text.casefold().replace("#", " ").replace("_", " ")
    text = _DIGIT_LETTER.sub(" ", text)
    text = _LETTER_RUN.sub(r"\1", text)
    return " ".join(text.split())


def _fresh(text: str) -> str:
    """``normalize`` with neither its post cache nor its word table (every word new)."""
    text_module._WORDS.clear()
    return normalize.__wrapped__(text)  # type: ignore[attr-defined]


def _warm(text: str) -> str:
    """``normalize`` once the word table knows the words (the post cache bypassed)."""
    normalize.__wrapped__(text)  # type: ignore[attr-defined]
    return normalize.__wrapped__(text)  # type: ignore[attr-defined]


# --- a generated corpus --------------------------------------------------------------------

_AR_WORDS = "في من على إلى أمريكا إسرائيل آمن ٱلله مؤتمر رئيس سماء المقاومة ھذا کتاب گال پ ژ ڤ ایران".split()
_AR_WORDS += ["الانْتِقَامُ", "مُعَدًّا", "رَحْمٰن", "قـــادم", "الان\u200bتقام", "\u200fالانتقام\u200e", "قادمممم"]
_EN_WORDS = "the revenge IS Coming Noooo vengeance İstanbul straße ǅemal ﬁnal ＡＢＣ".split()
_PIECES = [
    "#الانتقام_قادم",
    "#RevengeIsComing",
    "#باقي_٥٩_يوما",
    "#باقي٥٩يوما",
    "#59daysleft",
    "باقي59يوم",
    "٣٫١٤",
    "١٬٠٠٠",
    "۰۱۲",
    "نعم،",
    "لا؛",
    "لماذا؟",
    "#aB#cD",
    "#a_bC",
    "##xY",
    "a1b2c",
    "١٢abc٣",
    "ﻻ",
    "ﷲ",
    "ﷺ",
    "\u00a8",  # NFKC: a space and a combining mark
    "\u1100\u1161\u11a8",  # Hangul jamo compose
    "aaa\u0301a",
    "\u0301",
    "\u064e\u0651",  # marks only: folds to nothing
    "\u200b",
    "ـــ",
    "ء",
    "x\x00y",  # NUL: the separator the fold joins new words with
    "\x00",
    "😀🔥",
    "٪",
    "…",
]
_SPACES = [" ", " ", " ", "  ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "\u202f", " \n ", "\x1c", "\u2028"]


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = _AR_WORDS + _EN_WORDS + _PIECES
    posts = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(0, 40)):
            word = rng.choice(vocab)
            if rng.random() < 0.2:  # glue two pieces: hashtags, digits and letters meet
                word += rng.choice(vocab)
            if rng.random() < 0.1:
                word = "".join(c + rng.choice("\u064b\u0651\u0670\u0640\u200c") for c in word)
            words.append(word)
        text = "".join(w + rng.choice(_SPACES) for w in words)
        posts.append(rng.choice(_SPACES) + text if rng.random() < 0.2 else text)
    return posts


def test_the_fold_matches_the_former_definition_on_a_generated_corpus():
    corpus = _corpus(3000, seed=17)
    for post in corpus:
        expected = _former_normalize(post)
        assert _fresh(post) == expected, post
        assert _warm(post) == expected, post
        assert text_module._fold_text(post) == expected, post  # the steps over a whole text
    text_module._WORDS.clear()
    for post in corpus:  # one table across the corpus, as a process keeps it
        assert normalize.__wrapped__(post) == _former_normalize(post), post  # type: ignore[attr-defined]


def test_whitespace_then_any_combining_mark_folds_as_before():
    """NFKC never composes across whitespace, which the word-by-word fold relies on: every
    whitespace character before every combining mark of the Basic Multilingual Plane."""
    spaces = [chr(cp) for cp in range(0x10000) if chr(cp).isspace()]
    marks = [chr(cp) for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp))]
    text = " ".join(f"a{space}{mark}b" for space in spaces for mark in marks)
    assert _fresh(text) == _former_normalize(text)


def test_the_word_table_starts_afresh_when_full(monkeypatch):
    monkeypatch.setattr(text_module, "_WORDS_KEPT", 10)
    text_module._WORDS.clear()
    posts = _corpus(200, seed=3)
    most = max(len(set(post.split())) for post in posts)  # the new words of one post may overfill it
    for post in posts:
        assert normalize.__wrapped__(post) == _former_normalize(post)  # type: ignore[attr-defined]
        assert len(text_module._WORDS) <= 10 + most


_ALPHABET = st.sampled_from(
    list("ابتثجحخدذرسشصضطظعغفقكلمنهويةىأإآٱؤئءکگچپژڤیۀھ")
    + list("\u064b\u064e\u064f\u0650\u0651\u0652\u0670\u0640\u06d6\u200b\u200c\u200f\u202b\u2066\ufeff\u00ad")
    + list("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬،؛؟")
    + list("ﻻﺍﻟﷲ＃\u00a8\u00a0\u3000\x00\u0301")
    + list("aAbBzZ09#_ \n\t.-!")
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(_ALPHABET, max_size=60), st.text(max_size=60)))
@example("a \x00 b")
@example("ـ a#\x00#b")
@example(" \x00 ")
@example("\u00a8\u0301")
@example("x" + " \x00 " * 3)
def test_any_text_folds_as_before(text):
    expected = _former_normalize(text)
    assert _fresh(text) == expected
    assert _warm(text) == expected
    assert text_module._fold_text(text) == expected
    assert normalize_with_offsets(text)[0] == expected


def test_long_words_are_folded_but_not_kept():
    text_module._WORDS.clear()
    # A text of characters the native fold handles is folded in C and never meets the word table:
    # the presentation form (ﻻ, which NFKC changes) sends this one through the table.
    long_word = "أ" * 5000 + "#ABc" + "ﻻ"
    text = f"قادم {long_word} الآن"
    assert normalize.__wrapped__(text) == _former_normalize(text)  # type: ignore[attr-defined]
    assert set(text_module._WORDS) == {"قادم", "الآن"}
