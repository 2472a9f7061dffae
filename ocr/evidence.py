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
it (a name, a brand, a word the dictionary lacks); a known word of four letters or more read on
a clean line crop (``ocr.lines``: the line's own ink, no background) counts on its own. A line is kept when what is left of it holds
a known word of three letters or more; lines on one row that only repeat a kept line's words
(another pass's reading of the same line) are folded into it. Everything else is *doubtful*:
kept apart for whoever debugs a reading, never searched or matched (:func:`judge_lines`).

Countdown lines written back by the digit readers (``ocr.digits``) are constructed, not read:
the glyph reader only reads the number of a line that reads like a countdown on its own (a
"remaining" word and a unit, two different words, in one reading of one line-shaped region),
and the script-model re-reads and the voted countdown are kept only when such a line exists
(:func:`countdown_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.core.text import normalize, words
from ocr.digits import countdown_template, countdown_value
from ocr.lexicon import Lexicon
from ocr.readings import Line, same_row

__all__ = ["Judged", "countdown_rows", "judge_lines", "support_of"]

Box = tuple[int, int, int, int]

KNOWN_SUPPORT = 2  # passes that must read a word the dictionary knows
UNKNOWN_SUPPORT = 3  # passes that must read a word it does not know (names, brands)
MIN_KNOWN = 3  # a kept line holds a known word at least this long
CLEAN_PREFIX = "lines:"  # the passes over clean line crops (``ocr.planes.LINES_PREFIX``)
CLEAN_LENGTH = 4  # a known word this long read on a clean crop alone is kept
_SUPPORT_CAP = 6  # beyond this many passes a word is not surer (the colour planes read alike)


def support_of(readings: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Folded word -> the passes that read it, from (pass, line text) of every pass's lines
    (words without the punctuation around them: ``تنتهي"`` is ``تنتهي``)."""
    support: dict[str, set[str]] = {}
    for reader, text in readings:
        for word in words(normalize(text)):
            support.setdefault(word, set()).add(reader)
    return support


@dataclass
class Judged:
    """The lines of one image split into the kept and the doubtful, in the order given."""

    kept: list[Line] = field(default_factory=list)
    doubtful: list[str] = field(default_factory=list)


def _word_kept(word: str, support: dict[str, set[str]], lexicon: Lexicon) -> bool:
    readers = support.get(word, set())
    seen = len(readers)
    if word.isdigit():
        return seen >= KNOWN_SUPPORT
    if len(word) < 2:
        return False
    if not lexicon.knows(word):
        return seen >= UNKNOWN_SUPPORT
    # A clean line crop holds the line's own ink only (``ocr.lines``): a dictionary word of four
    # letters or more read there is evidence on its own; grain read as letters rarely spells one.
    return seen >= KNOWN_SUPPORT or (
        len(word) >= CLEAN_LENGTH and any(r.startswith(CLEAN_PREFIX) for r in readers)
    )


def _token_kept(token: str, support: dict[str, set[str]], lexicon: Lexicon) -> bool:
    """A token as read (a hashtag folds to several words): kept when its kept words hold at
    least half of its letters."""
    found = words(normalize(token))
    letters = sum(len(w) for w in found)
    kept = sum(len(w) for w in found if _word_kept(w, support, lexicon))
    return letters > 0 and 2 * kept >= letters


def judge_lines(lines: list[Line], support: dict[str, set[str]], lexicon: Lexicon) -> Judged:
    """Split ``lines`` (merged, best first) into kept lines (their doubtful words removed) and
    doubtful text. See the module docstring.

    Of the readings of one row that repeat each other's words, the one with the most letters
    read by the most passes stays (the whole slogan rather than the piece another pass read,
    and the words most passes read rather than a misreading), in its place.
    """
    judged = Judged()
    candidates: list[tuple[int, int, Line, set[str]]] = []  # kept letters, place, pruned line, words
    for place, line in enumerate(lines):
        keep = [w for w in line.words if _token_kept(w.text, support, lexicon)]
        drop = [w.text for w in line.words if w not in keep]
        folded = [f for w in keep for f in words(normalize(w.text))]
        if not any(len(f) >= MIN_KNOWN and not f.isdigit() and lexicon.knows(f) for f in folded):
            judged.doubtful.append(line.text)
            continue
        if drop:
            judged.doubtful.append(" ".join(drop))
        pruned = Line(keep, line.plane, normalize(" ".join(w.text for w in keep)))
        weight = sum(len(f) * min(len(support.get(f, ())), _SUPPORT_CAP) for f in folded)
        candidates.append((weight, place, pruned, set(folded)))
    kept_rows: list[tuple[Box, set[str]]] = []
    chosen: list[tuple[int, Line]] = []
    for _, place, pruned, own in sorted(candidates, key=lambda c: (-c[0], c[1])):
        box = pruned.box
        letters = sum(len(f) for f in own)
        # Another pass's reading of a kept line on the same row adds nothing but its variants.
        if any(
            same_row(box, row) and 2 * sum(len(f) for f in own - seen) < letters for row, seen in kept_rows
        ):
            judged.doubtful.append(pruned.text)
            continue
        kept_rows.append((box, own))
        chosen.append((place, pruned))
    judged.kept = [line for _, line in sorted(chosen, key=lambda c: c[0])]
    return judged


def countdown_rows(readings: list[tuple[str, str, Box]]) -> list[Box]:
    """Rows that a pass read like a countdown line on its own ("remaining" word and unit, two
    different words, with or without the number: ``ocr.digits.countdown_template``; or an
    English "N days left"), from (pass, text, box) of every pass's lines."""
    rows: list[tuple[Box, set[str]]] = []
    for reader, text, box in readings:
        if countdown_template(text) is None and countdown_value(text) is None:
            continue
        for index, (row, readers) in enumerate(rows):
            if same_row(row, box):
                union = (min(row[0], box[0]), min(row[1], box[1]), max(row[2], box[2]), max(row[3], box[3]))
                rows[index] = (union, readers | {reader})
                break
        else:
            rows.append((box, {reader}))
    return [row for row, _ in rows]
