"""Find whole words and phrases of many terms at once in Arabic and Latin text.

Terms and text go through the one normaliser (:func:`monitor.core.text.normalize`). The matcher then
masks punctuation as spaces (length for length, so spans in the masked text are spans in the
normalised text) and runs one Aho-Corasick automaton over it (``_native.Phrases``, in C:
``monitor/core/phrases.c``; it replaced pyahocorasick, see "why our own" there).

Whole-word semantics are built into the automaton keys rather than checked afterwards, so the
automaton only reports hits that start at a word boundary:

* every key starts with a space, and the text is padded with spaces;
* an Arabic first word is entered with each chain of attached prefixes (و ف ب ل ك, with or without
  the article ال, the لل contraction of ل + ال, and the future prefix س on imperfect verbs); a
  word written with the article needs it (الثأر is not ثار), a word written without may take it;
* the right edge: a Latin key ends with the space after the word; a short Arabic key ends with
  the first character that may follow it (a space or the first letter of a suffix); the rest of
  the word is checked on those (rare) hits against the usual attached suffixes
  (pronouns, plural and dual endings, ة becoming ت or ات);
* an indefinite Arabic phrase also matches in its definite form (عبوة ناسفة / العبوة الناسفة,
  but هدف مشروع is not هدف المشروع, "the project's goal"), a feminine head noun also matches in
  its sound plural (بالعبوات الناسفة), and every multi-word term has a joined
  variant so that an all-lowercase hashtag (``#vengeanceiscoming``) matches ``vengeance is coming``.

Spans are mapped back to the original text with :func:`monitor.core.text.normalize_with_offsets`
only when there is a hit, so the common no-hit path costs one ``normalize`` and one automaton
pass. An automaton rather than a regex alternation because Python's ``re`` tries every
alternative at every position; see ``bench/match_throughput.py`` for the measured difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from monitor.core import _native
from monitor.core.text import normalize, normalize_with_offsets, original_span

__all__ = ["Hit", "PhraseMatcher", "mask", "term_keys", "term_parts"]

# Punctuation and symbols (ASCII, Latin-1, Arabic, general punctuation, arrows, dingbats, emoji):
# word boundaries, masked as spaces one for one. An explicit class of ranges runs twice as fast as
# "any non-word character" (no Unicode category lookup per character); after normalize() what is
# left outside it is letters, digits and combining marks of other scripts (which belong to words).
# The matcher itself masks with the same ranges as a table in C (``_BLANKS``).
_NONWORD_RANGES = (
    *((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E), (0x7F, 0xBF), (0xD7, 0xD7), (0xF7, 0xF7)),
    *((0x606, 0x60F), (0x61B, 0x61F), (0x66A, 0x66D), (0x6D4, 0x6D4), (0x6DD, 0x6DE), (0x6E9, 0x6E9)),
    *((0x6FD, 0x6FE), (0x2010, 0x2BFF), (0x3000, 0x303F), (0xFD3E, 0xFD3F), (0xFE10, 0xFE6F)),
    (0x1F000, 0x1FAFF),
)
_NONWORD = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _NONWORD_RANGES) + "]"
)

_ARTICLE = "ال"
_PLAIN_CHAINS = ("", "و", "ف", "ب", "ل", "ك", "وب", "فب", "ول", "فل", "وك", "فك")
_ARTICLE_CHAINS = ("ال", "وال", "فال", "بال", "كال", "لل", "وبال", "فبال", "ولل", "فلل", "وكال", "فكال")
_FUTURE_CHAINS = ("س", "وس", "فس")
_MIN_STEM = 3  # a shorter stem only takes the article chains: برد is not ب + رد

_PRONOUNS = ("ه", "ها", "هم", "هما", "هن", "ك", "كم", "كما", "كن", "ي", "نا")
_AR_SUFFIXES = frozenset(
    (
        *(
            "",
            "ون",
            "ين",
            "ان",
            "ات",
            "وا",
            "ت",
            "تم",
            "تن",
            "تا",
            "ونا",
            "وه",
            "وها",
            "وهم",
            "يه",
            "يين",
            "يون",
        ),
        *_PRONOUNS,
        *("ات" + p for p in _PRONOUNS),
        *("ين" + p for p in _PRONOUNS),
    )
)
# Words ending in ة (folded to ه): the key stops before it and the ending must follow.
_TA_SUFFIXES = frozenset(
    ("ه", "ات", "تان", "تين", "تي", *("ت" + p for p in _PRONOUNS), *("ات" + p for p in _PRONOUNS))
)
_EXACT: frozenset[str] = frozenset(("",))

_MODES = {"exact": _EXACT, "ar": _AR_SUFFIXES, "ta": _TA_SUFFIXES}
_MODE_NAMES = tuple(_MODES)
_MODE_INDEX = {name: i for i, name in enumerate(_MODE_NAMES)}
_FIRST = {"": " "}  # an empty suffix: the word ends, a space follows
_FOLLOW_UPTO = 6  # keys up to this length (leading space, prefixes, stem) carry their follower
_FOLLOWERS = {mode: frozenset(_FIRST.get(s, s[:1]) for s in suffixes) for mode, suffixes in _MODES.items()}
"""What may follow a key of each mode: a space, or the first letter of one of its suffixes."""
_CLOSED, _FOLLOWED, _OPEN = 0, 1, 2  # how a key ends: with the space, a following letter, or open


def mask(normalized: str) -> str:
    """Punctuation of normalised text as spaces, keeping every position."""
    return _NONWORD.sub(" ", normalized)


def _blanks_table() -> bytes:
    """``_NONWORD_RANGES`` as a table of code points for the native automaton's mask
    (``monitor/core/phrases.c``): one C look-up per character instead of the regex's (its class
    reaches past the Basic Plane, so ``re`` walks its ranges per character)."""
    table = bytearray(_NONWORD_RANGES[-1][1] + 1)
    for first, last in _NONWORD_RANGES:
        table[first : last + 1] = b"\x01" * (last + 1 - first)
    return bytes(table)


_BLANKS = _blanks_table()


def _is_arabic(word: str) -> bool:
    return bool(word) and "\u0600" <= word[0] <= "\u06ff"


def _term_words(term: str) -> list[str]:
    return mask(normalize(term)).split()


def _variants(words: list[str]) -> list[tuple[list[str], str]]:
    """The word sequences a term stands for, each with the kind of prefix chains it takes.

    ``"any"``: as written; ``"definite"``: the article added to every later word (an
    indefinite noun phrase made definite, which then needs the article on its first word too);
    ``"joined"``: the all-lowercase hashtag form, which takes no prefix.
    """
    out = [(words, "any")]
    arabic = all(_is_arabic(w) and len(w) >= _MIN_STEM for w in words)
    if len(words) > 1 and arabic and not any(w.startswith(_ARTICLE) for w in words):
        out.append(([words[0], *(_ARTICLE + w for w in words[1:])], "definite"))
    if len(words) > 1 and _is_arabic(words[0]) and words[0].endswith("ه") and len(words[0]) >= 4:
        # a feminine head noun in the sound plural: عبوة ناسفة -> عبوات ناسفة
        out += [([v[0][:-1] + "ات", *v[1:]], kind) for v, kind in list(out)]
    if len(words) > 1:
        joined = _term_words("".join(words))
        if joined and joined != words:
            out.append((joined, "joined"))
    return out


def _chains(first: str, kind: str, phrase: bool) -> tuple[str, tuple[str, ...]]:
    """The core of the first word and the prefix chains it may carry in the text.

    A word written with the article needs it (الثأر is not ثار, "he revolted"); a word written
    without it may take it, except the head of a phrase (رتل الدعم, هدف مشروع) whose definite
    form is the separate ``definite`` variant. A stem shorter than three letters takes no
    one-letter prefix (برد is not ب + رد).
    """
    if kind == "joined" or not _is_arabic(first):
        return first, ("",)
    if kind == "definite" or (first.startswith(_ARTICLE) and len(first) - 2 >= 2):
        core = first[2:] if first.startswith(_ARTICLE) and kind != "definite" else first
        return core, _ARTICLE_CHAINS
    if len(first) < _MIN_STEM:
        return first, ("",) if phrase else ("", *_ARTICLE_CHAINS)
    chains = _PLAIN_CHAINS if phrase else _PLAIN_CHAINS + _ARTICLE_CHAINS
    if first[0] in "يتنا" and len(first) >= 4:
        chains += _FUTURE_CHAINS
    return first, chains


def term_parts(term: str) -> list[tuple[str, str, str]]:
    """The automaton's keys for ``term`` as ``(prefix chain, body, suffix mode)``: the key is
    ``" " + chain + body`` (:func:`term_keys`); the native automaton walks the bodies from each
    word start and from after each chain the word starts with, so the chains are not repeated
    in its trie.

    Empty when the term normalises to nothing (the rules loader rejects such terms).
    """
    words = _term_words(term)
    if not words:
        return []
    parts: dict[tuple[str, str], str] = {}
    seen: set[str] = set()
    for variant, kind in _variants(words):
        last = variant[-1]
        mode = "exact"
        if _is_arabic(last):
            mode = "ta" if last.endswith("ه") and len(last) >= _MIN_STEM else "ar"
        core, chains = _chains(variant[0], kind, phrase=len(variant) > 1)
        body = " ".join([core, *variant[1:]])
        if mode == "ta":
            body = body[:-1]
        if mode == "exact":
            body += " "  # the right edge is part of the key: no hit to check afterwards
        for chain in chains:
            key = " " + chain + body
            if key not in seen:  # one key, one mode (the first), however it is split
                seen.add(key)
                parts[(chain, body)] = mode
    return [(chain, body, mode) for (chain, body), mode in parts.items()]


def term_keys(term: str) -> list[tuple[str, str]]:
    """Automaton keys for ``term``: ``(" " + prefix chain + core, suffix mode)`` pairs."""
    return [(" " + chain + body, mode) for chain, body, mode in term_parts(term)]


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a term: ``start``/``end`` index the original text."""

    payload: Hashable
    start: int
    end: int


class PhraseMatcher:
    """An automaton over many terms; each term carries an opaque payload given back on a hit."""

    def __init__(
        self, terms: Iterable[tuple[str, Hashable]], mark: Callable[[Hashable], int] | None = None
    ) -> None:
        """``mark(payload)``, when given, is a 64-bit int per payload; :meth:`find_marked` gives
        them OR-ed over a text's hits (what kinds of hits a text has, without a loop over them)."""
        entries: dict[tuple[str, str], list[tuple[Hashable, str]]] = {}
        self.size = 0
        for term, payload in terms:
            self.size += 1
            for chain, body, mode in term_parts(term):
                bucket = entries.setdefault((chain, body), [])
                if (payload, mode) not in bucket:
                    bucket.append((payload, mode))
        # Each final key keeps every reading that produced it, so no term can shadow another. A
        # key is " " + chain + body (+ its follower); its length below counts all of it.
        payloads: dict[Hashable, int] = {}
        chains: dict[str, int] = {"": 0}
        final: dict[str, list[tuple[int, int, int, tuple[int, ...]]]] = {}  # body -> readings
        # A term's keys (one per prefix chain: 20-30) share its bucket, and their readings and
        # followers with it: each is worked out once per distinct bucket (a third of the build).
        values: dict[tuple[tuple[Hashable, str], ...], tuple[int, ...]] = {}
        followers: dict[frozenset[str], list[str]] = {}
        for (chain, body), bucket in entries.items():
            seen = tuple(bucket)
            value = values.get(seen)
            if value is None:
                value = values[seen] = tuple(
                    n for p, m in bucket for n in (payloads.setdefault(p, len(payloads)), _MODE_INDEX[m])
                )
            c = chains.setdefault(chain, len(chains))
            size = 1 + len(chain) + len(body)
            if body.endswith(" "):  # exact: the right edge is in the key
                final.setdefault(body, []).append((c, size, _CLOSED, value))
            elif size > _FOLLOW_UPTO:  # long keys rarely start other words: their ending is checked on a hit
                final.setdefault(body, []).append((c, size, _OPEN, value))
            else:
                # A short key also takes the first character of what may follow it (a space or
                # the first letter of a suffix): words that merely start with it (a three-letter
                # stem is the start of many words) are not hits to check.
                modes = frozenset(m for _, m in bucket)
                after = followers.get(modes)
                if after is None:
                    after = followers[modes] = sorted(set().union(*(_FOLLOWERS[m] for m in modes)))
                for follower in after:
                    if follower == " ":
                        final.setdefault(body + follower, []).append((c, size + 1, _CLOSED, value))
                    else:
                        final.setdefault(body + follower, []).append((c, size, _FOLLOWED, value))
        bodies = sorted(final)
        self._auto = _native.Phrases(
            list(chains),
            bodies,
            [tuple(final[body]) for body in bodies],
            [tuple(sorted(_MODES[mode])) for mode in _MODE_NAMES],
            tuple(payloads),
            _BLANKS,
            None if mark is None else tuple(mark(payload) for payload in payloads),
        )
        self.keys = sum(len({r[0] for r in readings}) for readings in final.values())  # (chain, body) pairs
        self._empty = not final

    def find_normalized(self, normalized: str) -> list[tuple[Hashable, int, int]]:
        """Hits in already normalised text as ``(payload, start, end)`` in that text.

        One native call (``monitor/core/phrases.c``): the mask, runs of spaces made one, the
        automaton's walk, each candidate's ending checked against its mode's suffixes, positions
        given back in ``normalized``, each distinct hit once.
        """
        if self._empty or not normalized:
            return []
        return self._auto.find(normalized)

    def find_marked(self, normalized: str) -> tuple[list[tuple[Hashable, int, int]], int]:
        """:meth:`find_normalized`'s hits and the OR of their payloads' marks (see ``__init__``)."""
        if self._empty or not normalized:
            return [], 0
        return self._auto.find_marked(normalized)

    def find(self, text: str) -> list[Hit]:
        """Hits in ``text`` with spans in ``text`` itself (for highlighting)."""
        normalized = normalize(text)
        found = self.find_normalized(normalized)
        if not found:
            return []
        return to_original(text, normalized, found)


def to_original(text: str, normalized: str, found: list[tuple[Hashable, int, int]]) -> list[Hit]:
    """Map ``(payload, start, end)`` spans of ``normalize(text)`` back to ``text``."""
    again, origins = normalize_with_offsets(text)
    if again != normalized:  # cannot happen while the two stay one definition; stay safe anyway
        return [Hit(p, 0, len(text)) for p, _, _ in found]
    out = []
    for payload, start, end in found:
        s, e = original_span(origins, start, end)
        out.append(Hit(payload, s, e))
    return out
