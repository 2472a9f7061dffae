"""One normaliser for indexing, searching and matching Arabic and Latin text.

The steps follow ``shared/research/lexicon.json`` (``normalization_steps``): NFKC, invisible and
direction marks dropped, tatweel and diacritics dropped, alef/hamza/ya/ta-marbuta/Persian letter
variants folded, Eastern Arabic and Persian digits read as ASCII digits, Arabic punctuation mapped,
hashtags opened up (``#`` dropped, ``_`` as a space, ``#CamelCase`` split), digits split from
letters (``#باقي٥٩يوما`` -> ``باقي 59 يوما``), runs of 3+ equal letters collapsed, whitespace
collapsed and Latin case folded.

There are two entry points with one definition:

* :func:`normalize` is the fast path, used on every post we index and every text we match: a
  word seen before costs a dictionary look-up, and the new words of a text are folded together
  by a few C scans (``str.replace`` per distinct foldable character, compiled regexes that open
  with a character class so ``re`` skips ahead in C).
* :func:`normalize_with_offsets` returns the same string plus, for each output character, the
  span of the original text it came from, so a match found in normalised text can be highlighted
  in the original. It is slower and is used only once a match is known.

A property test checks that both give the same string for any input.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, compress, repeat
from operator import add, is_
from typing import overload

from monitor.core import _native
from monitor.core.fold_tables import build as _build_fold_tables

INDEX_VERSION = "2"
"""What :func:`~monitor.core.store.search.fts_row` makes of a text: bump it when the output changes
for any input (the normaliser, ``words``, ``index_words``, all here), and every archive's index is
rebuilt on opening; the OCR's dictionaries, folded by the same normaliser, are extracted again
(``ocr.lexicon``). Kept here, beside what it versions: reading it does not import the store.
``tests/core/test_store_index.py`` pins the output on a probe text to catch a change.
Version 2: every Default_Ignorable code point is dropped (a word joiner inside a word had split it)."""

__all__ = [
    "ARABIC_DIACRITICS",
    "ARABIC_PROCLITICS",
    "DIRECTION_MARKS",
    "INDEX_VERSION",
    "LATIN_OR_ARABIC_DIGIT",
    "LATIN_OR_ARABIC_NUMBER",
    "fold_digits",
    "index_text",
    "index_words",
    "normalize",
    "normalize_with_offsets",
    "original_span",
    "strip_proclitics",
    "within_edits",
    "words",
]

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that show
# nothing. Channel text is written by the adversary, and one of these inside a word (a word
# joiner, a Hangul filler, a variation selector) splits it for the matcher while the reader sees
# the word whole; every one is dropped, not only the usual direction marks.
_DEFAULT_IGNORABLE = [
    0x00AD,  # soft hyphen
    0x034F,  # combining grapheme joiner
    0x061C,  # Arabic letter mark
    0x115F,
    0x1160,  # Hangul fillers
    0x17B4,
    0x17B5,  # Khmer inherent vowels
    *range(0x180B, 0x1810),  # Mongolian variation selectors and vowel separator
    *range(0x200B, 0x2010),  # ZWSP, ZWNJ, ZWJ, LRM, RLM
    *range(0x202A, 0x202F),  # LRE..RLO, PDF
    *range(0x2060, 0x2070),  # word joiner, invisible operators, LRI..PDI, deprecated format controls
    0x3164,  # Hangul filler
    *range(0xFE00, 0xFE10),  # variation selectors
    0xFEFF,  # BOM / ZWNBSP
    0xFFA0,  # halfwidth Hangul filler
    *range(0xFFF0, 0xFFF9),
    *range(0x1BCA0, 0x1BCA4),  # shorthand format controls
    *range(0x1D173, 0x1D17B),  # musical format controls
    *range(0xE0000, 0xE1000),  # tags, variation selectors supplement
]
_INVISIBLE = [
    *_DEFAULT_IGNORABLE,
    0x0640,  # tatweel
    0x0621,  # bare hamza
]
_DIACRITICS = [
    *range(0x064B, 0x0660),
    0x0670,
    *range(0x0610, 0x061B),
    *range(0x06D6, 0x06DD),
    *range(0x06DF, 0x06E9),
    *range(0x06EA, 0x06EE),
]
_LETTER_FOLDS = {
    "ا": "أإآٱٲٳ",
    "و": "ؤ",
    "ي": "ئىیے",
    "ه": "ةۀھەہ",
    "ك": "کڪگچ",
    "ب": "پ",
    "ز": "ژ",
    "ف": "ڤ",
    ".": "٫",
    ",": "٬،",
    ";": "؛",
    "?": "؟",
}

_TABLE: dict[int, str | None] = {cp: None for cp in (*_INVISIBLE, *_DIACRITICS)}
for _target, _sources in _LETTER_FOLDS.items():
    for _src in _sources:
        _TABLE[ord(_src)] = _target
for _i in range(10):
    _TABLE[0x0660 + _i] = str(_i)
    _TABLE[0x06F0 + _i] = str(_i)

# The fold, per character (``None``: dropped). ``str.translate`` looks every character of a text up
# in a dict (about 0.1 µs each for Arabic text) and a callback per run of foldable characters
# costs a Python call each (30 a post); instead one C scan finds the runs, and each *distinct*
# foldable character of the text (a post has a handful: أ إ ة ى, a few marks) is replaced with
# ``str.replace``, a C scan of its own. The class comes first in the pattern (``X X*``, not
# ``X+``): ``re`` skips ahead in C only to a pattern that opens with a character class.
_FOLD_TO: dict[str, str] = {chr(cp): to or "" for cp, to in _TABLE.items()}


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex class of these code points written as ranges: ``re`` compiles a class of the Basic
    Plane into a bitmap, but one reaching past it (the tag characters) into a list it walks per
    character, so 4,000 single characters made the scan 400 times slower than a few ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(codepoints):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return (
        "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges) + "]"
    )


ARABIC_DIACRITICS = _char_class(_DIACRITICS)
"""A regex class of the marks the normaliser drops (harakat, Quranic marks): for code that looks
at text as read, before it is normalised (``ocr.readings``)."""

_FOLD_CLASS = _char_class(cp for cp in _TABLE if cp <= 0xFFFF)
_FOLDABLE_RUNS = re.compile(_FOLD_CLASS + _FOLD_CLASS + "*").findall
# The few foldable characters past the Basic Plane (all of them ignorable) have a scan of their
# own, behind a one-range test that is about three times as fast as the fold's scan.
_ANY_ASTRAL = re.compile("[\U00010000-\U0010ffff]").search
_ASTRAL_FOLDABLE = re.compile(_char_class(cp for cp in _TABLE if cp > 0xFFFF)).sub


def _fold(text: str) -> str:
    """``text.translate(_TABLE)``, in a few C scans instead of one dict look-up per character."""
    runs = _FOLDABLE_RUNS(text)
    if runs:
        for c in set("".join(runs)):
            text = text.replace(c, _FOLD_TO[c])
    if _ANY_ASTRAL(text):
        text = _ASTRAL_FOLDABLE("", text)
    return text


def _first_native_fold(text: str) -> str | None:
    """Set the native fold's tables (from ``_TABLE`` and the Python definitions of the steps,
    :mod:`monitor.core.fold_tables`; 30-70 ms, so on first use rather than at import), then fold."""
    global _native_fold
    _native.set_tables(*_build_fold_tables(_TABLE))
    _native_fold = _native.fold
    return _native.fold(text)


# The same fold in C for a whole text (None: a character it does not handle).
_native_fold: Callable[[str], str | None] = _first_native_fold

_HASHTAG = re.compile(r"#\w+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"\s+")
_SPACES_TO_FOLD = re.compile(r"\s{2,}|[^\S ]")
_ANY_DIGIT = re.compile(r"\d").search
_ANY_TRIPLE = re.compile(r"(.)\1\1").search

ARABIC_PROCLITICS = ("وبال", "وال", "فال", "بال", "كال", "لل", "ال", "و", "ف", "ب", "ل", "ك")
"""Attached prefixes an Arabic word may carry, longest first (after normalisation)."""

_WORD = re.compile(r"\w+")


def _split_camel(match: re.Match[str]) -> str:
    return _CAMEL_BOUNDARY.sub(" ", match.group())


# The fast path's own patterns: each opens with a literal or a character class, which ``re`` finds
# in C, so a text is scanned once per step rather than the pattern tried at every position.
_CAMEL_HASHTAG = re.compile(r"#\w*[a-z][A-Z]\w*")  # a hashtag that has a camel-case boundary
_DIGIT_RUN = re.compile(r"\d\d*")
_LETTER_AT = re.compile(r"[^\W\d_]").match  # the letters of _DIGIT_LETTER, at one position
_OTHER_SPACE = re.compile(r"[^\S ]").search  # whitespace other than the plain space


def _space_digit_run(match: re.Match[str]) -> str:
    """A run of digits with a space on each side where a letter touches it (``_DIGIT_LETTER``)."""
    text, (start, end) = match.string, match.span()
    run = match.group()
    if start and _LETTER_AT(text, start - 1):
        run = " " + run
    if end < len(text) and _LETTER_AT(text, end):
        run += " "
    return run


def _fold_text(text: str) -> str:
    """The steps of :func:`normalize` over a whole text, each a C scan (see the module docstring)."""
    text = _fold(unicodedata.normalize("NFKC", text))
    if "#" in text:
        text = _CAMEL_HASHTAG.sub(_split_camel, text).replace("#", " ")
    text = text.casefold()
    if "_" in text:
        text = text.replace("_", " ")
    # Cheap scans first: most posts need neither of the two slower substitutions.
    if _ANY_DIGIT(text):
        text = _DIGIT_RUN.sub(_space_digit_run, text)
    if _ANY_TRIPLE(text):
        text = _LETTER_RUN.sub(r"\1", text)
    if "  " in text or _OTHER_SPACE(text) or text[:1] == " " or text[-1:] == " ":
        return " ".join(text.split())  # the same whitespace as \s, collapsed and stripped
    return text


# Words (runs of non-whitespace of the original) are folded once each and kept: a channel's
# vocabulary repeats, and a known word costs a dictionary look-up instead of the steps above.
# Every step works inside a word (whitespace is never dropped nor made from a letter, NFKC never
# composes across it), so the folded words joined by single spaces are ``_fold_text(text)``;
# ``tests/core/test_text_fold.py`` checks it against the former one-pass definition.
_WORDS: dict[str, str] = {}
# Words kept before the table starts afresh. 32,768 was smaller than a corpus' vocabulary (the
# 2 MB bench corpus has 45,451 distinct words, a fifth of them one-off): the table was cleared
# over and over and a text of known words was folded again (7.0 MB/s with every word "known",
# the same as with none). 65,536 holds it; a full table is about 50 MB of short Arabic words.
_WORDS_KEPT = 1 << 16
_LONGEST_KEPT = 64  # longer words (a link, a hostile run of letters) are folded, not kept: a few MB at most
_SEPARATOR = " \x00 "  # joins unknown words into one text to fold: NUL is untouched by every step


def _fold_words(words: list[str], native: bool = False) -> list[str]:
    """Each word folded, the lot in one pass of :func:`_fold_text` (a pass per word costs its
    dozen C calls each), or first of the native fold with ``native`` (words of a text the native
    fold handled; ``normalize`` comes here only with words it did not)."""
    source = _SEPARATOR.join(words)
    if source.count("\x00") != len(words) - 1:  # a word with a NUL of its own
        return [_fold_text(word) for word in words]
    joined = _native_fold(source) if native else None
    if joined is None:
        joined = _fold_text(source)
    folded = joined.split(_SEPARATOR)
    if len(folded) == len(words):  # the usual case: no word folded to nothing
        return folded
    return [part.strip() for part in joined.split("\x00")]


@functools.lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Fold ``text`` for indexing, searching and matching (fast path).

    Cached: a post is folded for the index and again for detection moments later (an import
    batch is 2,000 posts), and the second time costs a dictionary look-up.

    A text of characters the native fold handles (``monitor/core/_native.c``: Arabic, Latin, the
    usual punctuation, emoji; :mod:`monitor.core.fold_tables`) is folded in one C call; any
    other text word by word below.
    """
    if not text:
        return ""
    folded_text = _native_fold(text)
    if folded_text is not None:
        return folded_text
    words = text.split()
    folded = list(map(_WORDS.get, words))
    if None in folded:
        # All in C, and from this call's own look-ups: another thread may clear the table meanwhile.
        unknown = list(dict.fromkeys(compress(words, map(is_, folded, repeat(None)))))
        new = dict(zip(unknown, _fold_words(unknown), strict=True))
        if len(_WORDS) > _WORDS_KEPT:
            _WORDS.clear()
        if max(map(len, unknown)) <= _LONGEST_KEPT:
            _WORDS.update(new)
        else:
            _WORDS.update({word: f for word, f in new.items() if len(word) <= _LONGEST_KEPT})
        folded = list(map(new.get, words, folded))  # the new fold of a word, else the known one
    return " ".join(filter(None, folded))


# --- the same steps, tracking where each character came from -------------------------------

Origin = tuple[int, int]


def _nfkc_with_offsets(text: str) -> tuple[list[str], list[Origin]]:
    target = unicodedata.normalize("NFKC", text)
    chars: list[str] = []
    origins: list[Origin] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or unicodedata.combining(text[i]) == 0:
            piece = unicodedata.normalize("NFKC", text[start:i])
            chars.extend(piece)
            origins.extend([(start, i)] * len(piece))
            start = i
    if "".join(chars) == target:
        return chars, origins
    # Composition across our chunk boundaries (Hangul jamo, some Indic vowel signs): keep the
    # exact string and spread the origins evenly; such text never carries our vocabulary.
    n, m = len(text), len(target)
    return list(target), [(min(n - 1, i * n // m), min(n, (i + 1) * n // m + 1)) for i in range(m)]


# Combining marks are never word characters nor spaces: the few candidates of a text are found
# in C and looked up one by one (building a class of every mark took 7 ms, once per process:
# the whole cost of a one-off `tgmonitor search` that needs a highlight walked).
_MARK_CANDIDATE = re.compile(r"[^\w\s]")


def _is_mark(c: str) -> bool:
    """A combining mark of the Basic Multilingual Plane (what clusters a base character)."""
    return 0x300 <= ord(c) < 0x10000 and unicodedata.combining(c) != 0


def _cluster_origins(text: str) -> list[Origin]:
    """Each character's origin is its cluster: a base character with the marks that follow it,
    so a highlighted word keeps its diacritics (``انتقامُ``, not ``انتقام`` and a stray mark)."""
    origins = [(i, i + 1) for i in range(len(text))]
    marks = [m.start() for m in _MARK_CANDIDATE.finditer(text) if _is_mark(m.group())]
    run = 0
    while run < len(marks):
        start = end = marks[run]
        while run < len(marks) and marks[run] == end:  # a run of marks [start, end)
            end += 1
            run += 1
        # The base is the character before the run; a text that opens with marks takes its
        # first mark as the base, and a lone opening mark is no cluster.
        first = start - 1 if start else 0
        if end - first >= 2:
            origins[first:end] = [(first, end)] * (end - first)
    return origins


@functools.lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    return c.translate(_TABLE)


@functools.lru_cache(maxsize=4096)
def _case_char(c: str) -> str:
    return c.casefold().replace("#", " ").replace("_", " ")


def _map_chars(
    chars: list[str], origins: list[Origin], fn: Callable[[str], str]
) -> tuple[list[str], list[Origin]]:
    mapped = [fn(c) for c in chars]
    if len("".join(mapped)) == len(mapped):  # the usual case: one character for one
        return mapped, origins
    out_c: list[str] = []
    out_o: list[Origin] = []
    for r, o in zip(mapped, origins, strict=True):
        out_c.extend(r)
        out_o.extend([o] * len(r))
    return out_c, out_o


def _regex_sub(
    chars: list[str],
    origins: list[Origin],
    pattern: re.Pattern[str],
    repl: Callable[[re.Match[str]], str],
) -> tuple[list[str], list[Origin]]:
    joined = "".join(chars)
    out_c: list[str] = []
    out_o: list[Origin] = []
    pos = 0
    for m in pattern.finditer(joined):
        out_c.extend(chars[pos : m.start()])
        out_o.extend(origins[pos : m.start()])
        r = repl(m)
        if m.start() == m.end():  # an insertion: it belongs where the next character starts
            anchor = origins[m.start()][0] if m.start() < len(origins) else origins[-1][1]
            out_c.extend(r)
            out_o.extend([(anchor, anchor)] * len(r))
        elif len(r) == m.end() - m.start():  # character for character
            out_c.extend(r)
            out_o.extend(origins[m.start() : m.end()])
        else:  # a run folded into fewer characters: each covers the whole run
            span = (origins[m.start()][0], origins[m.end() - 1][1])
            out_c.extend(r)
            out_o.extend([span] * len(r))
        pos = m.end()
    out_c.extend(chars[pos:])
    out_o.extend(origins[pos:])
    return out_c, out_o


def _camel_with_offsets(chars: list[str], origins: list[Origin]) -> tuple[list[str], list[Origin]]:
    joined = "".join(chars)
    out_c: list[str] = []
    out_o: list[Origin] = []
    pos = 0
    for m in _HASHTAG.finditer(joined):
        out_c.extend(chars[pos : m.start()])
        out_o.extend(origins[pos : m.start()])
        sub_c, sub_o = _regex_sub(
            chars[m.start() : m.end()], origins[m.start() : m.end()], _CAMEL_BOUNDARY, lambda _: " "
        )
        out_c.extend(sub_c)
        out_o.extend(sub_o)
        pos = m.end()
    out_c.extend(chars[pos:])
    out_o.extend(origins[pos:])
    return out_c, out_o


def normalize_with_offsets(text: str) -> tuple[str, Sequence[Origin]]:
    """Return ``normalize(text)`` and, per output character, its ``(start, end)`` in ``text``.

    Every step of :func:`normalize` works inside a run of non-space characters, so the text is
    folded word by word, each word once (cached: a channel's vocabulary repeats), and the words
    are joined; the character-by-character walk is the fallback for the rare text where that
    does not give exactly ``normalize(text)``. (The space that joins two words points at the
    whitespace between them; the walk may stretch it over a ``#`` or ``_`` folded into it.
    Matches start and end on letters, so no highlight differs.)
    """
    if not text:
        return "", []
    if len(text) > LONG_TEXT:
        return normalize(text), _ChunkOrigins(text, normalize(text))
    if _PLAIN_TEXT(text):
        normalized = normalize(text)
        # Nothing can be inserted and only a bare hamza is always dropped: if exactly the
        # hamzas went, every other character stayed in place, in order.
        hamzas = [m.start() for m in _HAMZA.finditer(text)] if "\u0621" in text else []
        if len(normalized) == len(text) - len(hamzas):
            return normalized, _InPlace(len(normalized), [d - j for j, d in enumerate(hamzas)])
    by_word = _offsets_by_word(text)
    if by_word is not None:
        return by_word
    return _offsets_by_character(text)


_NON_SPACE = re.compile(r"\S+")


# Letters that fold one for one (Latin case, Arabic letter variants) and nothing else: a word of
# only these, without a run of three equal letters, folds character for character in place.
_PLAIN_WORD = re.compile("[A-Za-z\u0622-\u063a\u0641-\u064a]+").fullmatch


# ... and the same letters, single spaces between words, and punctuation that folds to itself or
# to one character (no '#' or '_': hashtags are opened up; no digits: they split from letters).
_PLAIN_TEXT = re.compile(
    '[A-Za-z\u0621-\u063a\u0641-\u064a!-"$-/:-@\\[\\\\\\]^`{-~\u060c\u061b\u061f\u066b\u066c]+'
    '(?: [A-Za-z\u0621-\u063a\u0641-\u064a!-"$-/:-@\\[\\\\\\]^`{-~\u060c\u061b\u061f\u066b\u066c]+)*'
).fullmatch
_HAMZA = re.compile("\u0621")


class _LazyOrigins(Sequence[Origin]):
    """Origins worked out when asked for (``_at``), not stored one tuple per character."""

    __slots__ = ("_length",)
    _length: int

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Origin: ...
    @overload
    def __getitem__(self, index: slice) -> list[Origin]: ...
    def __getitem__(self, index: int | slice) -> Origin | list[Origin]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._at(index)

    def _at(self, index: int) -> Origin:
        raise NotImplementedError


class _InPlace(_LazyOrigins):
    """The origins of a text folded character for character, some characters dropped.

    ``gaps`` holds, for each dropped character, the folded position it would have had: folded
    character ``i`` came from ``i`` plus the number of drops at or before it.
    """

    __slots__ = ("_gaps",)

    def __init__(self, length: int, gaps: list[int]):
        self._length, self._gaps = length, gaps

    def _at(self, index: int) -> Origin:
        if self._gaps:
            index += bisect.bisect_right(self._gaps, index)
        return index, index + 1


@functools.cache
def _in_place(length: int) -> tuple[Origin, ...]:
    return tuple((i, i + 1) for i in range(length))


@functools.lru_cache(maxsize=1 << 15)
def _word_offsets(word: str) -> tuple[str, tuple[Origin, ...]]:
    if _PLAIN_WORD(word):  # most words: no character walk (a search's first page is 20 posts cold)
        folded = word.translate(_TABLE).casefold()
        if not _ANY_TRIPLE(folded) and len(folded) == len(word):
            return folded, _in_place(len(word))
    folded, origins = _offsets_by_character(word)
    return folded, tuple(origins)


class _WordOrigins(_LazyOrigins):
    """Origins of text folded word by word, worked out per word when asked for.

    The folded text is the folded words joined by single spaces: ``starts[k]`` is where word
    ``k`` begins in it (worked out in C from the words' lengths). A position in a word maps
    through the word's relative origins (the character walk, :func:`_word_offsets`), worked out
    the first time the word is asked for: a countdown or a match needs the words it lies in,
    not every word of the post (a post of new words cost milliseconds). The space after word
    ``k`` points at the whitespace between it and the next word.
    """

    __slots__ = ("_fallback", "_folded", "_relative", "_spans", "_starts", "_text", "_words")

    def __init__(
        self, text: str, words: list[str], folded: list[str], spans: list[tuple[int, int]], length: int
    ):
        self._text, self._words, self._folded, self._spans, self._length = text, words, folded, spans, length
        self._starts = list(accumulate(map(add, map(len, folded), repeat(1)), initial=0))
        self._relative: dict[int, tuple[Origin, ...]] = {}
        self._fallback: Sequence[Origin] | None = None

    def _at(self, index: int) -> Origin:
        if self._fallback is not None:
            return self._fallback[index]
        k = bisect.bisect_right(self._starts, index) - 1
        offset = index - self._starts[k]
        start, end = self._spans[k]
        if offset == len(self._folded[k]):  # the space joining word k and the next
            return end, self._spans[k + 1][0]
        relative = self._relative.get(k)
        if relative is None:
            walked, relative = _word_offsets(self._words[k])
            if walked != self._folded[k]:  # the two roads disagree on this word: walk the whole text
                self._fallback = _offsets_by_character(self._text)[1]
                return self._fallback[index]
            self._relative[k] = relative
        first, last = relative[offset]
        return first + start, last + start


def _offsets_by_word(text: str) -> tuple[str, Sequence[Origin]] | None:
    normalized = normalize(text)  # and the words' folds are in the table
    words = text.split()
    spans = [m.span() for m in _NON_SPACE.finditer(text)]  # the same runs as split()
    folded = list(map(_WORDS.get, words))
    if None in folded:  # words the table does not keep (long ones), or it started afresh meanwhile
        unknown = [word for word, f in zip(words, folded, strict=True) if f is None]
        refolded = dict(zip(unknown, _fold_words(unknown, native=True), strict=True))
        folded = list(map(refolded.get, words, folded))
    if "" in folded:  # a word of marks alone folds to nothing: no piece of the folded text
        keep = list(map(bool, folded))
        words, spans, folded = (
            list(compress(words, keep)),
            list(compress(spans, keep)),
            list(compress(folded, keep)),
        )
    joined = " ".join(folded)  # type: ignore[arg-type]
    if joined != normalized or len(spans) != len(words):
        return None
    return (joined, _WordOrigins(text, words, folded, spans, len(joined))) if joined else ("", [])  # type: ignore[arg-type]


LONG_TEXT = 50_000
"""A text longer than this (a 10 MB post; Telegram's own limit is 4,096) gets its origins piece by
piece, when asked for: mapping a few matches must not cost a walk of every word of it."""
_PIECE = 4_000  # characters of a long text folded at a time (cut at whitespace)


class _ChunkOrigins(_LazyOrigins):
    """Origins of a long text, worked out piece by piece as far as the positions asked for.

    :func:`normalize` works word by word, so the text is cut at whitespace into pieces, each
    folded on its own and joined by one space: each piece's folding is checked against the
    slice of ``normalize(text)`` it must equal, and only the pieces that hold a position asked
    for are walked with offsets. Should a piece ever fold otherwise, the whole text's origins
    are worked out the usual way (:func:`_offsets_by_word`, :func:`_offsets_by_character`).
    """

    __slots__ = ("_done", "_fallback", "_normalized", "_pieces", "_rest", "_starts", "_text", "_walked")

    def __init__(self, text: str, normalized: str):
        self._text, self._normalized, self._length = text, normalized, len(normalized)
        self._rest = self._cuts()
        self._starts: list[int] = []  # where each piece (a folded piece or a joining space) starts
        self._pieces: list[tuple[int, int]] = []  # its original [lo, hi) (a space: the gap it stands for)
        self._done = 0  # folded characters covered so far
        self._walked: dict[int, Sequence[Origin]] = {}  # piece -> its origins (a few kept)
        self._fallback: Sequence[Origin] | None = None

    def _cuts(self) -> Iterator[tuple[int, int]]:
        text, lo = self._text, 0
        while lo < len(text):
            hi = min(len(text), lo + _PIECE)
            if hi < len(text):
                cut = max(text.rfind(c, lo + _PIECE // 2, hi) for c in " \n\t")
                hi = cut if cut > lo else hi
            yield lo, hi
            lo = hi

    def _grow(self, index: int) -> bool:
        """Fold pieces until ``index`` is covered; False if a piece folds otherwise than in the whole."""
        fold = normalize.__wrapped__  # type: ignore[attr-defined]  # why: pieces would crowd the cache
        while self._done <= index:
            lo, hi = next(self._rest, (-1, -1))
            if lo < 0:
                return False
            piece = self._text[lo:hi]
            folded = fold(piece)
            if not folded:
                continue
            if self._pieces:
                if self._normalized[self._done : self._done + 1] != " ":
                    return False
                last_lo, last_hi = self._pieces[-1]
                previous = last_lo + len(self._text[last_lo:last_hi].rstrip())
                self._starts.append(self._done)
                self._pieces.append((previous, lo + len(piece) - len(piece.lstrip())))
                self._done += 1
            if self._normalized[self._done : self._done + len(folded)] != folded:
                return False
            self._starts.append(self._done)
            self._pieces.append((lo, hi))
            self._done += len(folded)
        return True

    def _at(self, index: int) -> Origin:
        if self._fallback is None and not self._grow(index):
            by_word = _offsets_by_word(self._text)
            self._fallback = by_word[1] if by_word is not None else _offsets_by_character(self._text)[1]
        if self._fallback is not None:
            return self._fallback[index]
        k = bisect.bisect_right(self._starts, index) - 1
        lo, hi = self._pieces[k]
        if k % 2:  # the space joining two pieces: the whitespace between them
            return lo, hi
        origins = self._walked.get(k)
        if origins is None:
            if len(self._walked) >= 8:
                self._walked.pop(next(iter(self._walked)))
            origins = self._walked[k] = normalize_with_offsets(self._text[lo:hi])[1]
        start, end = origins[index - self._starts[k]]
        return start + lo, end + lo


def _offsets_by_character(text: str) -> tuple[str, list[Origin]]:
    if not text:
        return "", []
    if unicodedata.is_normalized("NFKC", text):  # the usual case: nothing to compose
        chars, origins = list(text), _cluster_origins(text)
    else:
        chars, origins = _nfkc_with_offsets(text)
    chars, origins = _map_chars(chars, origins, _fold_char)
    if "#" in chars:
        chars, origins = _camel_with_offsets(chars, origins)
    chars, origins = _map_chars(chars, origins, _case_char)
    joined = "".join(chars)
    if _ANY_DIGIT(joined):
        chars, origins = _regex_sub(chars, origins, _DIGIT_LETTER, lambda _: " ")
    if _ANY_TRIPLE(joined):
        chars, origins = _regex_sub(chars, origins, _LETTER_RUN, lambda m: m.group(1))
    # Only runs of 2+ whitespace characters or non-space ones change: single spaces stay as they are.
    chars, origins = _regex_sub(chars, origins, _SPACES_TO_FOLD, lambda _: " ")
    # strip(): drop leading and trailing whitespace exactly as str.strip does
    start, end = 0, len(chars)
    while start < end and chars[start].isspace():
        start += 1
    while end > start and chars[end - 1].isspace():
        end -= 1
    return "".join(chars[start:end]), origins[start:end]


def original_span(origins: Sequence[Origin], start: int, end: int) -> tuple[int, int]:
    """Map the span ``[start, end)`` of normalised text back to the original text."""
    if not origins or start >= end:
        return (0, 0)
    return origins[start][0], origins[end - 1][1]


_DIGIT_FOLD = {0x0660 + i: str(i) for i in range(10)} | {0x06F0 + i: str(i) for i in range(10)}
_DIGIT_CLASS = "[0-9\u0660-\u0669\u06f0-\u06f9]"
LATIN_OR_ARABIC_DIGIT = re.compile(_DIGIT_CLASS)
"""A digit of the three kinds channel text and OCR readings hold: Western, Eastern Arabic, Persian
(``\\d`` would take every script's digits, which no reading of these posters writes)."""
LATIN_OR_ARABIC_NUMBER = re.compile(_DIGIT_CLASS + "+")
"""A run of those digits: a number as written, whatever its kind."""
DIRECTION_MARKS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
"""The marks that set text direction (LRM, RLM, ALM, embeddings, overrides, isolates): Tesseract
writes them into Arabic readings, and they are not letters of the poster."""


def fold_digits(text: str) -> str:
    """Read Eastern Arabic and Persian digits as ASCII digits, changing nothing else."""
    return text.translate(_DIGIT_FOLD)


def words(normalized: str) -> list[str]:
    """The word tokens of already normalised text."""
    return _WORD.findall(normalized)


def within_edits(a: str, b: str, most: int) -> bool:
    """Whether ``a`` becomes ``b`` with ``most`` letters changed, dropped or added, or fewer
    (Levenshtein's distance, cut short once it is past ``most``). OCR slips are counted so: a
    countdown word read a letter off (``ocr.digits``), a kept word misread by another pass
    (``ocr.evidence``). Written here rather than taken from a library: the words are short, and
    difflib's ratio counts no edits."""
    if abs(len(a) - len(b)) > most:
        return False
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > most:
            return False
        previous = current
    return previous[-1] <= most


@functools.lru_cache(maxsize=1 << 17)
def _proclitic_forms(word: str) -> str:
    """Space-joined :func:`strip_proclitics` forms, cached: post vocabulary repeats heavily."""
    return " ".join(strip_proclitics(word))


def strip_proclitics(word: str, min_stem: int = 3) -> list[str]:
    """Forms of an Arabic ``word`` without its attached prefixes (و ف ب ل ك, ال, لل).

    ``والانتقام`` gives ``["الانتقام", "انتقام"]``. A stem shorter than ``min_stem`` letters is
    not offered, so ``الله`` does not become ``له``. Non-Arabic words give nothing.
    """
    if not word or not ("\u0600" <= word[0] <= "\u06ff"):
        return []
    forms: list[str] = []
    for prefix in ARABIC_PROCLITICS:
        if word.startswith(prefix) and len(word) - len(prefix) >= min_stem:
            stem = word[len(prefix) :]
            if prefix in ("وال", "فال", "بال", "كال", "وبال", "لل"):
                forms.append("ال" + stem)  # keep the article: وبالعبوات -> العبوات
            forms.append(stem)
    seen: dict[str, None] = {}
    for form in forms:
        if form != word:
            seen.setdefault(form, None)
    return list(seen)


# The first letters of ARABIC_PROCLITICS: a word starting otherwise has no forms to offer.
_PROCLITIC_FIRST = frozenset(p[0] for p in ARABIC_PROCLITICS)


def index_words(tokens: Iterable[str]) -> str:
    """Extra index tokens for already split words (see :func:`index_text`)."""
    first = _PROCLITIC_FIRST
    return " ".join(
        forms for word in tokens if len(word) > 3 and word[0] in first and (forms := _proclitic_forms(word))
    )


def index_text(normalized: str) -> str:
    """Extra index tokens for search: each Arabic word's forms without attached prefixes."""
    return index_words(words(normalized))


# --- finding, in original text, where a folded word may be --------------------------------

_SKIPPED = "".join(re.escape(chr(cp)) for cp, to in _TABLE.items() if to is None)


@functools.lru_cache(maxsize=256)
def spelling_pattern(word: str) -> re.Pattern[str]:
    """A regex that finds, in original (unfolded) text, the places that may fold to ``word``:
    each letter in any of its variants and cases, runs of it, with diacritics and invisible marks
    between. A superset for a cheap scan of a long text (a candidate is confirmed by folding a
    window around it); a spelling that only NFKC brings together (a ligature) is not found."""
    variants: dict[str, set[str]] = {}
    for cp, to in _TABLE.items():
        if to is not None:
            variants.setdefault(to, set()).add(chr(cp))
    parts = []
    for c in word:
        letters = {c, c.upper(), c.lower(), c.title(), *variants.get(c, ())}
        one = "[" + "".join(re.escape(x) for x in sorted(letters)) + "]"
        parts.append(f"{one}{one}*")  # not ``+``: a first character class lets ``re`` skip ahead in C
    return re.compile(f"[{_SKIPPED}]*".join(parts))
