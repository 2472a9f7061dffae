"""Which of the lines the passes read are really on the image: agreement between passes and a
dictionary of the language.

Every pass reads the poster's text, and every pass also reads the flames, flags and grain
around it as letters. What tells the two apart:

* **Agreement.** A word of the poster is read alike by several passes (planes, masks, the clean
  line crops, the row re-read); the junk a pass makes of a background is mostly its own. Each
  folded word counts the passes that read it anywhere on the image (:func:`support_of`).
* **A language model.** Tesseract's own dictionaries (``ocr.lexicon``) hold the word forms of
  Arabic and English; a string of letters none of them holds needs more agreement to count.

A word is kept when two passes read it and the dictionary knows it, or when three passes read
it (a name, a brand, a word the dictionary lacks). A line is kept when what is left of it holds
a known word of three letters or more; lines on one row that only repeat a kept line's words
(another pass's reading of the same line) are folded into it. Everything else is *doubtful*:
kept apart for whoever debugs a reading, never searched or matched (:func:`judge_lines`).

Countdown lines written back by the digit readers (``ocr.digits``) are constructed, not read:
they are kept only when a kept line on their row reads like a countdown on its own (a
"remaining" word and a unit, two words), so a number read from glyphs needs its line
(:func:`countdown_rows`, :func:`on_countdown_row`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.core.text import normalize
from ocr.digits import countdown_template
from ocr.lexicon import Lexicon
from ocr.readings import Line, same_row

__all__ = ["Judged", "countdown_rows", "judge_lines", "on_countdown_row", "support_of"]

Box = tuple[int, int, int, int]

KNOWN_SUPPORT = 2  # passes that must read a word the dictionary knows
UNKNOWN_SUPPORT = 3  # passes that must read a word it does not know (names, brands)
MIN_KNOWN = 3  # a kept line holds a known word at least this long


def support_of(readings: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Folded word -> the passes that read it, from (pass, line text) of every pass's lines."""
    support: dict[str, set[str]] = {}
    for reader, text in readings:
        for word in normalize(text).split():
            support.setdefault(word, set()).add(reader)
    return support


@dataclass
class Judged:
    """The lines of one image split into the kept and the doubtful, in the order given."""

    kept: list[Line] = field(default_factory=list)
    doubtful: list[str] = field(default_factory=list)


def _word_kept(word: str, support: dict[str, set[str]], lexicon: Lexicon) -> bool:
    seen = len(support.get(word, ()))
    if word.isdigit():
        return seen >= KNOWN_SUPPORT
    if len(word) < 2:
        return False
    return seen >= (KNOWN_SUPPORT if lexicon.knows(word) else UNKNOWN_SUPPORT)


def _token_kept(token: str, support: dict[str, set[str]], lexicon: Lexicon) -> bool:
    """A token as read (a hashtag folds to several words): kept when its kept words hold at
    least half of its letters."""
    words = normalize(token).split()
    letters = sum(len(w) for w in words)
    kept = sum(len(w) for w in words if _word_kept(w, support, lexicon))
    return letters > 0 and 2 * kept >= letters


def judge_lines(lines: list[Line], support: dict[str, set[str]], lexicon: Lexicon) -> Judged:
    """Split ``lines`` (merged, best first) into kept lines (their doubtful words removed) and
    doubtful text. See the module docstring."""
    judged = Judged()
    kept_rows: list[tuple[Box, set[str]]] = []
    for line in lines:
        keep = [w for w in line.words if _token_kept(w.text, support, lexicon)]
        drop = [w.text for w in line.words if w not in keep]
        folded = [f for w in keep for f in normalize(w.text).split()]
        if not any(len(f) >= MIN_KNOWN and not f.isdigit() and lexicon.knows(f) for f in folded):
            judged.doubtful.append(line.text)
            continue
        box = Line(keep, line.plane).box
        own = set(folded)
        letters = sum(len(f) for f in own)
        # Another pass's reading of a kept line on the same row adds nothing but its variants.
        if any(
            same_row(box, row) and 2 * sum(len(f) for f in own - seen) < letters for row, seen in kept_rows
        ):
            judged.doubtful.append(line.text)
            continue
        kept_rows.append((box, own))
        judged.kept.append(Line(keep, line.plane, normalize(" ".join(w.text for w in keep))))
        if drop:
            judged.doubtful.append(" ".join(drop))
    return judged


def countdown_rows(kept: list[Line]) -> list[Box]:
    """Boxes of the kept lines that read like a countdown on their own (number or not)."""
    return [line.box for line in kept if countdown_template(line.text) is not None]


def on_countdown_row(box: Box | None, rows: list[Box]) -> bool:
    """Whether a countdown line written back by a digit reader has its line among the kept ones:
    on the same row when its box is known, anywhere on the image when it is not."""
    if not rows:
        return False
    if box is None or box[2] <= box[0]:
        return True
    return any(same_row(box, row) for row in rows)
