"""Dots the passes lost: a kept Arabic word that no dictionary spells yields to a word of the same
letter shapes that another pass read in its place and a dictionary spells, or else to the one
word of these channels with those shapes.

Arabic letters come in families told apart by their dots alone (ب ت ث and, inside a word, ن ي;
ج ح خ; د ذ; ر ز; س ش; ص ض; ط ظ; ع غ; ف and, inside a word, ق), and a dot is a few pixels. Flames,
grain and JPEG blocks take one away or add one, and the planes then read a word with the wrong
dots alike: ``تأر المهندس`` for ``ثأر المهندس`` from nine passes over a poster, where one clean
line crop read ``ثأر``. The agreement of the passes (``ocr.evidence``) cannot see it: the planes
outnumber the crop, and folded (``normalize``) both words are words (``تار`` is one). The spelling
tells them apart: Tesseract's own dictionary (``ocr.lexicon.spellings_for``) spells ``ثأر``, not
``تأر``.

So a kept word of three letters or more that the dictionary does not spell, where some pass read
at the same place (``ocr.readings.same_place``) a word of the same shapes that it does spell,
becomes that word (the one read most often there, if several). A word the dictionary spells is
never changed, nor one no pass read otherwise (a name stays as read), unless it has the shapes of
one of the channels' own words (below). Measured on the stored passes
(``bench/README.md``, OCR, stop 49): synthetic seeds 0-34, 16 keywords gained and none lost; the
real images, seven words respelt, each to the word on the image (``التي``, ``الأضحى``,
``البركات``, ``شركة``, ``الحلول``, ``النوع``, ``مبارك``), none away from it.

Tesseract's dictionary is a newspaper's: it spells neither ``تتصورون`` nor ``نتصورون``, and the
slogan ``نحن أقرب مما تتصورون`` came out as the planes read it, ``نتصورون``. The words of these
channels are the alert rules' (``OcrSettings.known_words``, their vocabulary): a word they spell
is spelt here too. And where no pass read the dots at all (16 ``تأر`` of seeds 0-34), a kept word
no dictionary spells takes the dots of the one known word with its shapes; the 107,000 words of
Tesseract's dictionary are too many for that (measured in stop 49: ``مابش`` became ``ماتش``,
``للعد`` ``للغد``), the few hundred of the rules are not, and two known words of one shape leave
it as read. A hashtag's words are words here too, each put back alone, the joins kept
(``#ترقيوا`` -> ``#ترقبوا``, ``#بافي_72_ساعة`` -> ``#باقي_72_ساعة``), and so is a word with
punctuation read onto it (``مختلين»`` -> ``محتلين»``). Stop 50, all four: 33 more keywords and
hashtags on seeds 0-34 and none lost, 6 on seeds 35-39 (read by nothing before), no rule match
that is not on its poster; the real images read the same.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

from monitor.core.text import normalize, words
from ocr.lexicon import SPELT_ARABIC, Lexicon
from ocr.readings import Line, Word, same_place

__all__ = ["redotted", "shapes"]

Box = tuple[int, int, int, int]
# What joins a hashtag's words, and the punctuation a pass reads onto a word (``تتصورون.``,
# ``«محتلين``): split off (and kept) so that the word between is put back like any word
_JOINS = re.compile(r"""([#_.,:;!?"'«»“”‘’()\[\]\-،؛؟…]+)""")

_FAMILY = {
    **dict.fromkeys("بتثني", "ٮ"),
    **dict.fromkeys("جحخ", "ح"),
    **dict.fromkeys("دذ", "د"),
    **dict.fromkeys("رز", "ر"),
    **dict.fromkeys("سش", "س"),
    **dict.fromkeys("صض", "ص"),
    **dict.fromkeys("طظ", "ط"),
    **dict.fromkeys("عغ", "ع"),
    **dict.fromkeys("فق", "ڡ"),
    "ة": "ه",
}
_INSIDE = str.maketrans(_FAMILY)
# At a word's end ن, ي and ق have shapes of their own (a deeper bowl, a tail): only the others
# share one there.
_LAST = str.maketrans({**_FAMILY, "ن": "ں", "ي": "ى", "ق": "ٯ"})


def shapes(word: str) -> str:
    """``word`` without its dots: each letter as its family's shape (``ثأر`` and ``تأر`` alike)."""
    return word[:-1].translate(_INSIDE) + word[-1:].translate(_LAST)


def redotted(
    lines: list[Line],
    readings: list[tuple[str, str, Box]],
    spellings: Lexicon,
    known: tuple[str, ...] = (),
) -> list[Line]:
    """``lines`` (the kept lines of one image) with each word the dictionary does not spell
    replaced by the spelt word of its shapes that a pass read at its place, else by the one
    known word of its shapes (see the module docstring). ``readings``: (pass, word as read, its
    box) of every word every pass kept; ``known``: the channels' words (``OcrSettings.known_words``)."""
    dictionary = _Dictionary(spellings, _known_words(known))
    spelt: dict[str, list[tuple[str, Box]]] = {}
    for _, text, box in readings:
        for part in _JOINS.split(text):  # a hashtag's words are words too, punctuation aside
            if SPELT_ARABIC.fullmatch(part) and part in dictionary:
                spelt.setdefault(shapes(part), []).append((part, box))
    if not spelt and not dictionary.known.by_shapes:
        return lines
    return [_redotted_line(line, spelt, dictionary) for line in lines]


@dataclass(frozen=True)
class _KnownWords:
    """The channels' words (``OcrSettings.known_words``), looked up as spelt and by shapes."""

    words: frozenset[str]
    by_shapes: dict[str, str]  # the shapes of exactly one known word -> that word


@lru_cache(maxsize=8)
def _known_words(known: tuple[str, ...]) -> _KnownWords:
    """The channels' words, and each one whose shapes no other of them has, by its shapes (once
    per set of words, not per image)."""
    alike: dict[str, set[str]] = {}
    for word in known:
        if SPELT_ARABIC.fullmatch(word):
            alike.setdefault(shapes(word), set()).add(word)
    by_shapes = {shape: next(iter(found)) for shape, found in alike.items() if len(found) == 1}
    return _KnownWords(frozenset(known), by_shapes)


class _Dictionary:
    """Tesseract's spellings and the channels' own words, looked up as one."""

    def __init__(self, spellings: Lexicon, known: _KnownWords) -> None:
        self.spellings = spellings
        self.known = known

    def __contains__(self, word: str) -> bool:
        return word in self.known.words or word in self.spellings


def _redotted_line(line: Line, spelt: dict[str, list[tuple[str, Box]]], dictionary: _Dictionary) -> Line:
    changed = [_redotted_word(word, spelt, dictionary) for word in line.words]
    if all(new is old for new, old in zip(changed, line.words, strict=True)):
        return line
    return replace(line, words=changed, norm=" ".join(words(normalize(" ".join(w.text for w in changed)))))


def _redotted_word(word: Word, spelt: dict[str, list[tuple[str, Box]]], dictionary: _Dictionary) -> Word:
    box = (word.left, word.top, word.left + word.width, word.top + word.height)
    mended = "".join(_redotted_part(part, box, spelt, dictionary) for part in _JOINS.split(word.text))
    return word if mended == word.text else replace(word, text=mended)


def _redotted_part(
    part: str, box: Box, spelt: dict[str, list[tuple[str, Box]]], dictionary: _Dictionary
) -> str:
    """One part of a word read at ``box`` (the whole word, a hashtag's word, or the word between
    punctuation), its dots put back."""
    if not SPELT_ARABIC.fullmatch(part) or part in dictionary:
        return part
    twins = Counter(text for text, at in spelt.get(shapes(part), ()) if same_place(box, at))
    if twins:
        return twins.most_common(1)[0][0]
    return dictionary.known.by_shapes.get(shapes(part), part)
