"""What the passes read: words, lines, one pass's result, and the text of a whole image.

Plain records shared by the Tesseract runner (``ocr.tesseract``), the passes (``ocr.passes``),
the merge and vote (``ocr.voting``) and the worker protocol (``PassResult`` travels as JSON).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.core.text import ARABIC_DIACRITICS

__all__ = [
    "VOCALISED_CONFIDENCE",
    "Line",
    "PassResult",
    "ReadResult",
    "Word",
    "keep_words",
    "same_place",
    "same_row",
    "vocalised",
]

_HAS_WORD = re.compile(rf"[^\W_]{ARABIC_DIACRITICS}*[^\W_]|\d")
"""Two letters in a row, with or without harakat between them: the marks are not word characters
to ``re``, and a fully vocalised word (``رَحْبَتَ``, every letter with its mark) has no two
letters side by side."""

_HARAKAT = re.compile("[\u064b-\u0652]")  # fatha, damma, kasra, their tanwin, shadda, sukun

VOCALISED_CONFIDENCE = 10.0
"""A vocalised word (:func:`vocalised`) is kept down to this confidence, not ``min_confidence``."""


@dataclass
class Word:
    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int
    crop: int = -1  # the clean line crop it was read from (``ocr.lines``), -1 for plane passes


@dataclass
class Line:
    """One line of text as a pass read it, with the plane it came from and its box."""

    words: list[Word]
    plane: str
    norm: str = ""
    extra_first: bool = False

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def box(self) -> tuple[int, int, int, int]:
        left = min(w.left for w in self.words)
        top = min(w.top for w in self.words)
        right = max(w.left + w.width for w in self.words)
        bottom = max(w.top + w.height for w in self.words)
        return left, top, right, bottom


@dataclass
class ReadResult:
    text: str
    lines: list[Line] = field(default_factory=list)
    passes: int = 0
    doubtful: str = ""  # lines without the evidence to be searched or matched (``ocr.evidence``)


@dataclass
class PassResult:
    """What one plane pass read: the frame and plane it ran on, and its lines."""

    frame: int
    plane: str
    lines: list[list[Word]]

    def to_json(self) -> dict:
        return {
            "frame": self.frame,
            "plane": self.plane,
            "lines": [
                [[w.text, w.conf, w.left, w.top, w.width, w.height, w.crop] for w in ws] for ws in self.lines
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> PassResult:
        lines = [
            [Word(t, float(c), int(x), int(y), int(w), int(h), int(k)) for t, c, x, y, w, h, k in ws]
            for ws in data["lines"]
        ]
        return cls(int(data["frame"]), str(data["plane"]), lines)


def keep_words(words: list[Word], min_confidence: float) -> list[Word]:
    """The confidence filter: many passes read the same flames many ways, and the stray numbers
    they produce under ``min_confidence`` would otherwise become countdowns. A vocalised word is
    kept down to ``VOCALISED_CONFIDENCE``: Tesseract reads each haraka as a symbol it is unsure
    of, so a fully vocalised line (a verse, a book page) comes out at 10-30 where the same words
    bare read at 90 (``رَحْبَتَ`` at 10 and 18 beside ``رسول`` at 91). Whether it has
    evidence is ``ocr.evidence``'s to judge."""
    return [
        w
        for w in words
        if (w.conf >= min_confidence or (w.conf >= VOCALISED_CONFIDENCE and vocalised(w.text)))
        and _HAS_WORD.search(w.text)
        and not _flat_number(w)
    ]


def _flat_number(word: Word) -> bool:
    """Whether ``word`` is a number in a box far flatter than digits are (each digit at most
    twice as wide as it is tall): a streak of a flag or a rule under a line, which Tesseract can
    still call ``8`` at confidence 92 (an 11x1 box beside ``#العد_التنازلي`` on a held-out
    flag poster made a countdown of 8 days)."""
    return word.text.isdigit() and word.width > 2 * len(word.text) * max(1, word.height)


def vocalised(text: str) -> bool:
    """Whether a word as read carries two harakat or more. On the stored passes of the real and
    synthetic images, dictionary words so read under confidence 30 were on the image 20 times in
    21: the junk the passes make of flames and grain seldom carries marks, and rarely spells a
    word with them (``bench/README.md``, OCR)."""
    return len(_HARAKAT.findall(text)) >= 2


def same_row(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes (left, top, right, bottom) overlap over half the shorter one's height."""
    return _height_shared(a, b) > 0.5 * min(a[3] - a[1], b[3] - b[1])


def same_place(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Two boxes of one word read by two passes: on one row and overlapping across it."""
    return same_row(a, b) and _across(a, b)


def same_line(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Two boxes of one line read by two passes: overlapping over half the taller one's height
    (a box that also covers the rows above or below is not that line's) and across it."""
    return _height_shared(a, b) > 0.5 * max(a[3] - a[1], b[3] - b[1]) and _across(a, b)


def _height_shared(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """The pixels of height two boxes share (negative: the gap between them)."""
    return min(a[3], b[3]) - max(a[1], b[1])


def _across(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes overlap across: some column holds both."""
    return min(a[2], b[2]) > max(a[0], b[0])
