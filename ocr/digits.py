"""Eastern Arabic digits in countdown lines, read by the shape of their glyphs.

Why not Tesseract: Debian's ``ara`` model cannot emit ٢-٩ at all, and the Arabic *script* model
(``-l Arabic``) reads them poorly (figures in ``bench/README.md``, OCR). Eastern digits are
few and simple shapes, so each connected component is labelled by ``ocr.glyphs`` (nearest
neighbours among digits and letters drawn from about 80 fonts the poster generator does not use)
and the digits standing together are read as a number.

Western digits are labelled too, as competitors: a run of them is left to the ``ara`` model,
which reads Western digits well (1/١ and 9/٩ share shape and value and count either way). A lone
١ is not taken: it is as thin as an alef or a stray stroke; next to another digit it is a ١, and
a small diamond at mid-height right of a digit is a ٠ (digits run left to right).

It only runs where a countdown is already half read: a line whose words include a "remaining"
word (باقي, متبقي, لم يتبق سوى, العد التنازلي) and a unit (يوما, ساعة), so a look-alike glyph
elsewhere can never become a countdown. Two places give such lines: the clean crops of
``ocr.lines`` (:func:`countdown_from_ink`, one crop, its own reading) and the rows of the plane
passes (:func:`countdown_lines`: the row is cut out of several planes and masks, each is
segmented and read, and the number most of them agree on wins). The line is written back whole:
``#باقي_0AE_يوما`` becomes ``#باقي_84_يوما``. All of this is measured on synthetic posters
only (``bench/ocr_quality.py``); real posters use other fonts again.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from monitor.core.text import (
    DIRECTION_MARKS,
    LATIN_OR_ARABIC_DIGIT,
    fold_digits,
    normalize,
    within_edits,
    words,
)
from ocr.components import label_components
from ocr.glyphs import component_label, template_fonts, warm_up
from ocr.lines import otsu

log = logging.getLogger(__name__)

__all__ = [
    "COUNTDOWN_HINT",
    "EASTERN_DIGIT",
    "EASTERN_ONLY",
    "EASTERN_ONLY_SHAPE",
    "CountdownRegion",
    "countdown_from_ink",
    "countdown_like",
    "countdown_lines",
    "countdown_regions",
    "countdown_template",
    "countdown_value",
    "countdown_written_out",
    "number_in",
    "read_digits",
    "read_number",
    "template_fonts",
    "warm_up",
]


def _components(binary: np.ndarray) -> list[tuple[slice, slice, np.ndarray]]:
    found = label_components(binary, 8)
    return [
        (
            slice(int(found.top[i]), int(found.bottom[i])),
            slice(int(found.left[i]), int(found.right[i])),
            found.mask_of(i),
        )
        for i in range(found.count)
    ]


@dataclass
class CountdownRegion:
    """A line that reads like a countdown with its number missing, and where it is."""

    box: tuple[int, int, int, int]
    height: int  # height of the line's words, for the glyph size limits


_MAX_DISTANCE = 0.9  # beyond this a component is like no example: not a digit
_MIN_HEIGHT = 12


def _masks(crop: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Text-pixel masks of one region from every plane: Otsu both ways, and the white/black masks."""
    out = []
    for name, pixels in crop.items():
        if name in ("white", "black"):
            out.append(pixels < 128)
            continue
        threshold = otsu(pixels)
        out.append(pixels > threshold)
        out.append(pixels <= threshold)
    return out


@dataclass
class _Part:
    rows: slice
    cols: slice
    label: str  # a digit "0"-"9", a Western digit "w0"-"w9", "x" (a letter), "|" (a bare stroke)
    distance: float = 0.0  # to the nearest example: how sure the label is (lower is surer)

    @property
    def height(self) -> int:
        return self.rows.stop - self.rows.start

    def overlap(self, other: _Part) -> int:
        return min(self.rows.stop, other.rows.stop) - max(self.rows.start, other.rows.start)


def _parts(mask: np.ndarray, height: int) -> tuple[list[_Part], list[tuple[slice, slice]]]:
    """The components of ``mask``, labelled, and the small ones (dots, maybe a ٠)."""
    parts, small = [], []
    for rows, cols, comp in _components(mask):
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if h < 0.3 * height or comp.sum() < 12:
            if comp.sum() >= 4:
                small.append((rows, cols))
            continue
        if h > 1.2 * height or w > 1.0 * height:
            parts.append(_Part(rows, cols, "x"))  # a letter group: a neighbour, not a digit
            continue
        label, distance = component_label(comp)
        if distance > _MAX_DISTANCE:
            label = "x"
        if label == "x" and w <= 0.35 * h and h >= 0.45 * height:
            label = "|"  # an alef, a stray stroke or a ١: decided by its neighbours
        parts.append(_Part(rows, cols, label, distance))
    return parts, small


def _runs(parts: list[_Part], height: int) -> list[list[_Part]]:
    """Digits side by side (a bare stroke joins when it stands right next to a digit)."""
    ordered = sorted(
        (p for p in parts if p.label != "x" or p.height < 0.5 * height), key=lambda p: p.cols.start
    )
    runs: list[list[_Part]] = []
    for part in ordered:
        if part.label == "x":  # a small blob: only ever a ٠ after digits
            if (
                runs
                and part.cols.start - runs[-1][-1].cols.stop <= 0.6 * runs[-1][-1].height
                and _zero_beside(runs[-1], part)
            ):
                runs[-1].append(_Part(part.rows, part.cols, "0", part.distance))
            continue
        if runs:
            last = runs[-1][-1]
            gap = part.cols.start - last.cols.stop
            size = max(last.height, part.height)
            # a ١ is as tall as its neighbours; a shorter stroke is part of a letter
            short_stroke = "|" in (part.label, last.label) and min(last.height, part.height) < 0.7 * size
            if (
                gap <= 0.6 * size
                and not short_stroke
                and (last.overlap(part) >= 0.4 * size or _zero_beside(runs[-1], part))
            ):
                runs[-1].append(
                    part if part.height >= 0.5 * size else _Part(part.rows, part.cols, "0", part.distance)
                )
                continue
        runs.append([part])
    return [
        [_Part(p.rows, p.cols, "1", p.distance) if p.label == "|" else p for p in run]
        for run in runs
        if any(p.label != "|" for p in run)  # strokes alone are letters
    ]


EASTERN_ONLY = frozenset("2345678")
"""Digits whose Eastern shapes (٢-٨) only Eastern digits have (١ ٩ ٠ look like 1, 9 and a dot):
a run with one of them is an Eastern number, and Tesseract's ``ara`` model writes none of them."""
_TO_EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EASTERN_ONLY_SHAPE = re.compile(f"[{''.join(sorted(EASTERN_ONLY)).translate(_TO_EASTERN)}]")
"""One of those shapes in a line (a countdown line the glyph reader wrote back)."""


def _zero_beside(run: list[_Part], part: _Part) -> bool:
    """A ٠: a small diamond at mid-height of the digits it follows (digits run left to right).
    Its label says little: so small a blob looks like a dot, a ٥ or a 0 alike."""
    top = min(p.rows.start for p in run)
    bottom = max(p.rows.stop for p in run)
    size = bottom - top
    centre = (part.rows.start + part.rows.stop) / 2
    width = part.cols.stop - part.cols.start
    return (
        part.label != "|"
        and 0.5 <= part.height / max(1, width) <= 2.0  # a compact blob, not a stroke
        and part.height <= 0.5 * size
        and top + 0.25 * size <= centre <= bottom - 0.1 * size
    )


def number_in(mask: np.ndarray, height: int, *, tesseract_digits: bool = False) -> str | None:
    """The one run of Eastern digit glyphs standing apart from letters in ``mask``: in Eastern
    digits when one of them has a shape only Eastern digits have (٢-٨), else in Western digits.

    ``height`` is the height of the line's tallest letters. With ``tesseract_digits`` (Tesseract
    already read a number on this line) a run with any Western-looking digit is left to
    Tesseract, which reads Western digits well; shapes both kinds share (١ and 1, ٩ and 9) are
    read here and the vote of ``ocr.voting`` settles any disagreement.
    """
    read = read_digits(mask, height, tesseract_digits=tesseract_digits)
    return read[0] if read is not None else None


def read_digits(mask: np.ndarray, height: int, *, tesseract_digits: bool = False) -> tuple[str, float] | None:
    """:func:`number_in` with the mean distance of its digits to their examples (lower is surer)."""
    parts, small = _parts(mask, height)
    found: list[tuple[str, int, float]] = []  # (value or "w", its height, mean distance)
    for run in _runs(parts, height):
        top = min(p.rows.start for p in run)
        bottom = max(p.rows.stop for p in run)
        size = bottom - top
        left, right = run[0].cols.start, run[-1].cols.stop
        if size < 0.35 * height:
            continue
        labels = [p.label for p in run]
        western = sum(label.startswith("w") and label != "w0" for label in labels)
        if western and "w0" in labels:
            western += labels.count("w0")  # 0 beside Western digits is a Western 0, not a round ٥
        if western * 2 >= len(labels) or (tesseract_digits and western):
            found.append(("w", size, 0.0))  # a Western number: Tesseract's business
            continue
        value = "".join("5" if label == "w0" else label.lstrip("w") for label in labels)
        zero = _zero_after(small, top, bottom, right)
        if zero is not None:
            value, right = value + "0", zero
        if any(label in EASTERN_ONLY for label in labels):
            value = value.translate(_TO_EASTERN)  # written back as on the poster: ٥٩, not 59
        if len(value) > 3 or value.startswith(("0", "٠")) or value == "1":
            continue  # a lone stroke or dot is no number; a ١ alone is as thin as an alef
        # a number stands apart: no letter piece right next to it on its own line
        crowded = any(
            p.label == "x"
            and p.overlap(run[0]) > 0.3 * size
            and (0 <= left - p.cols.stop < 0.15 * size or 0 <= p.cols.start - right < 0.15 * size)
            for p in parts
        )
        if not crowded:
            found.append((value, size, sum(p.distance for p in run) / len(run)))
    # A stray glyph beside the number (a letter piece taken for a ٥) is smaller than the digits.
    tallest = max((size for _, size, _ in found), default=0)
    found = [item for item in found if item[1] >= 0.7 * tallest]
    if len(found) != 1 or found[0][0] == "w":
        return None
    return found[0][0], found[0][2]


def _zero_after(small: list[tuple[slice, slice]], top: int, bottom: int, right: int) -> int | None:
    """The right edge of a ٠ just right of a run of digits (digits run left to right), or None."""
    size = bottom - top
    for rows, cols in small:
        h, w = rows.stop - rows.start, cols.stop - cols.start
        centre = (rows.start + rows.stop) / 2
        if (
            0.08 * size <= h <= 0.45 * size
            and 0.08 * size <= w <= 0.45 * size
            and top + 0.25 * size <= centre <= bottom - 0.1 * size
            and 0 <= cols.start - right <= 0.6 * size
        ):
            return cols.stop
    return None


def read_number(planes: Mapping[str, Image.Image], region: CountdownRegion) -> str | None:
    """The number in ``region``, as Western digits, when most masks that read one agree."""
    if region.height < _MIN_HEIGHT:  # words a few pixels tall: any speck would look like a digit
        return None
    left, top, right, bottom = region.box
    pad = region.height // 3
    any_plane = next(iter(planes.values()))
    box = (
        max(0, left - pad),
        max(0, top - pad),
        min(any_plane.width, right + pad),
        min(any_plane.height, bottom + pad),
    )
    crops = {name: np.asarray(plane.crop(box).convert("L")) for name, plane in planes.items()}
    votes: Counter[str] = Counter()
    for mask in _masks(crops):
        value = number_in(mask, region.height)
        if value is not None:
            votes[value] += 1
    if not votes:
        return None
    (value, count), *rest = votes.most_common()
    if value == "w" or (rest and rest[0][1] == count) or value == "1":
        # A Western number (Tesseract reads those), a tie, or a lone ١: as thin as an alef, a
        # Western 1 or a stray stroke, and "one day left" is written in words anyway.
        return None
    log.debug("countdown number %s (votes %s)", value, dict(votes))
    return value


# --- countdown lines: where to look, and what to write back ------------------------------------

_REMAIN = {"باقي": "باقي", "بقي": "باقي", "متبقي": "متبقي", "يتبق": "لم يتبق سوى", "سوي": "لم يتبق سوى"}
_REMAIN_PHRASE = {"التنازلي": "العد التنازلي"}
_UNITS = {"يوما": "day", "يوم": "day", "ايام": "day", "ساعه": "hour", "ساعات": "hour"}
# يوما in the poster fonts comes back from the ara+eng passes as Latin look-alikes ("logs",
# "ley", "Lay"): accepted as the day unit, only next to a "remaining" word and a number read
# as digits (:func:`_template` says why).
_PUNCT = re.compile(r"[^\w]")
_DAY_LOOKALIKE = re.compile(r"l[aeo][gy]s?|lacy|logs?")
EASTERN_DIGIT = re.compile("[٠-٩۰-۹]")
"""An Eastern Arabic or Persian digit: in a reading by the script model, which writes them."""
COUNTDOWN_HINT = re.compile(
    r"باقي|باق|متبقي|يتبق|تبقي|بقي|يوم|ايام|ساعه|التنازلي|المهله|days?|hours?|left", re.IGNORECASE
)
"""A word of countdowns (or a piece of one, in a reading folded by ``normalize``)."""


def countdown_like(text: str) -> bool:
    """Whether a reading has a number beside a countdown word or in a hashtag (``العد التنازلي
    40``, ``#59daysleft``): where a countdown may be read, though the vote
    (:func:`countdown_value`) may find no unit or no clean number there."""
    return bool(
        LATIN_OR_ARABIC_DIGIT.search(text) and (COUNTDOWN_HINT.search(normalize(text)) or "#" in text)
    )


def no_other_number(text: str, number: int) -> bool:
    """Whether every number ``text`` holds (Eastern digits as Western) is ``number``: a reading of
    a countdown line, or a piece of one, holds its number or none (the garbled copies of the
    countdown written first, ``ocr.evidence.countdown_copies``, and its re-reads by the script
    model, ``ocr.voting.finish``)."""
    return all(int(f) == number for f in words(normalize(text)) if f.isdigit())


def _close(word: str, vocabulary: Mapping[str, str]) -> str | None:
    """The vocabulary word ``word`` is, allowing one wrong, missing or extra letter (OCR slips)
    in words of four letters or more: one letter of three is a third of the word, and junk
    like ``يوي`` would pass for يوم and for سوي alike."""
    if word in vocabulary:
        return word
    if len(word) < 3:
        return None
    for known in vocabulary:
        if len(known) >= 4 and within_edits(word, known, 1):
            return known
    return None


@dataclass
class _Group:
    box: tuple[int, int, int, int]
    heights: list[int]
    templates: list[str]  # the countdown lines its readings read like, one per reading that does


def countdown_regions(
    lines: list[tuple[str, tuple[int, int, int, int], int]],
) -> list[tuple[CountdownRegion, str]]:
    """Regions of the image that read like a countdown with the number missing or garbled.

    ``lines`` are (text, box, word height) of every line any pass read. Lines on the same row are
    pooled into one region, which qualifies when one line of it reads like a countdown on its own
    (a "remaining" word and a unit, two different words): a number read from the glyphs needs the
    line it belongs to, not words gathered from the junk of several passes. The region must be
    shaped like a line (wider than tall), not a fragment. Returns each region with the text to
    write back around its number (``{n}`` marks the spot).
    """
    groups: list[_Group] = []
    for text, box, height in sorted(lines, key=lambda item: item[1][1]):
        template = countdown_template(text)
        for group in groups:
            top = max(group.box[1], box[1])
            bottom = min(group.box[3], box[3])
            if bottom - top > 0.5 * min(group.box[3] - group.box[1], box[3] - box[1]):
                group.box = (
                    min(group.box[0], box[0]),
                    min(group.box[1], box[1]),
                    max(group.box[2], box[2]),
                    max(group.box[3], box[3]),
                )
                group.heights.append(height)
                if template is not None:
                    group.templates.append(template)
                break
        else:
            groups.append(_Group(box, [height], [template] if template is not None else []))
    out = []
    for group in groups:
        left, top, right, bottom = group.box
        if not group.templates or right - left < 2 * (bottom - top):
            continue
        heights = sorted(group.heights)
        template = Counter(group.templates).most_common(1)[0][0]
        out.append((CountdownRegion(group.box, heights[len(heights) // 2]), template))
    return out


def _words(text: str) -> list[str]:
    return [w for w in (_PUNCT.sub("", w) for w in normalize(text).split()) if w]


def _template(words: list[str], hashtag: bool) -> str | None:
    """The countdown line these words read like, with ``{n}`` for its number; None if they do not.

    The "remaining" word and the unit must be two different words of the reading: one word
    read one letter off cannot fill both slots. A Latin look-alike fills the unit only where the
    reading has a digit too: the English model makes ``logs 09 باقي`` of a countdown, but it makes
    ``lay`` of any short Arabic word, and ``العد التنازلي بدأ`` ("the countdown has begun", no
    number) with ``lay`` for بدأ became a countdown of 9 days once the glyph reader took a
    letter for a digit (``bench/README.md``, stop 47).
    """
    remain = [(i, _close(w, _REMAIN) or _close(w, _REMAIN_PHRASE)) for i, w in enumerate(words)]
    units = [(i, _close(w, _UNITS)) for i, w in enumerate(words)]
    remain = [(i, r) for i, r in remain if r]
    units = [(i, _UNITS[u]) for i, u in units if u]
    if remain and not units and any(LATIN_OR_ARABIC_DIGIT.search(w) for w in words):
        units = [(i, "day") for i, w in enumerate(words) if _DAY_LOOKALIKE.fullmatch(w)]
    remain_at = {i for i, _ in remain}
    unit_at = {i for i, _ in units}
    if not remain or not units or (len(remain_at | unit_at) < 2):
        return None  # one word in both slots (or nothing in one)
    found_remain = [r for _, r in remain]
    found_units = [u for _, u in units]
    if "التنازلي" in found_remain:
        phrase = "العد التنازلي"
    else:
        phrase = Counter(_REMAIN[r] for r in found_remain if r in _REMAIN).most_common(1)[0][0]
    unit = "ساعة" if "hour" in found_units else "يوما"
    if hashtag and phrase == "باقي":
        return f"#باقي_{{n}}_{unit}"
    return f"{phrase} {{n}} {unit}"


def countdown_template(text: str) -> str | None:
    """The countdown line ``text`` (one OCR reading) reads like, with ``{n}`` for the number."""
    return _template(_words(text), "#" in text)


def countdown_from_ink(readings: list[str], ink: np.ndarray) -> tuple[str, float] | None:
    """A countdown line with its number read from the glyphs of one clean crop (``ocr.lines``).

    ``readings`` are what Tesseract made of the crop (one per language); ``ink`` is the crop's
    mask (True = the line's letters, nothing of the background left). Returns the line and the
    mean distance of its digits to their examples (lower is surer), or None.
    """
    template = countdown_template(" ".join(readings))
    if template is None:
        return None
    rows = np.flatnonzero(ink.any(axis=1))
    if len(rows) < _MIN_HEIGHT:
        return None
    parts = _components(ink)
    heights = sorted(r.stop - r.start for r, _, comp in parts if comp.sum() >= 12)
    if not heights:
        return None
    height = heights[(len(heights) - 1) * 9 // 10]  # alef and lam: as tall as the digits
    read = read_digits(ink, height, tesseract_digits=any(LATIN_OR_ARABIC_DIGIT.search(r) for r in readings))
    return (template.format(n=read[0]), read[1]) if read is not None else None


_LEFT = re.compile(r"(?<!\d)(\d{1,3}) ?(days?|hours?) ?(?:left|remaining)")


def countdown_value(text: str) -> tuple[int, str] | None:
    """The (value, unit) one OCR reading gives a countdown, or None: a number with countdown words
    around it (``باقي 59 يوما``, ``59 days left``, ``#59daysleft``). A bare number is no vote.

    This only ranks the readings of one poster (:func:`ocr.voting.finish` puts the countdown most
    readings agree on first); what a countdown is, is decided by ``alerts.countdown``.
    """
    vote = _vote(text)
    return (vote[0], vote[1]) if vote is not None else None


def countdown_written_out(text: str) -> str | None:
    """The countdown a reading votes for (:func:`countdown_value`) written out whole: the line it
    reads like, with its number as read (``#بافي_72_ساعة`` -> ``#باقي_72_ساعة``); ``text`` itself
    when its words are already that line's (compared normalised) or it is English. None if
    ``text`` is no vote."""
    vote = _vote(text)
    if vote is None:
        return None
    template, number = vote[2], vote[3]
    if template is None:  # English: "59 days left" is read as written
        return text
    written = template.format(n=number)
    return text if _words(written) == _words(text) else written


def _vote(text: str) -> tuple[int, str, str | None, str] | None:
    """A reading's countdown vote: value, unit, the line it reads like (None for English) and its
    number as written (Eastern or Western digits); None if it is no vote."""
    norm = normalize(text)
    english = _LEFT.search(norm.replace("daysleft", "days left").replace("hoursleft", "hours left"))
    if english:
        unit = "hour" if english.group(2).startswith("hour") else "day"
        return int(english.group(1)), unit, None, english.group(1)
    # A vote needs one clean number: a whole word of digits, not "9ه" (٥ read as ه) nor "09"
    # (٥ read as 0: Arabic countdowns never write a leading zero), nor "²" (a digit to
    # str.isdigit, and no number to int).
    spaced = _PUNCT.sub(" ", DIRECTION_MARKS.sub("", text).replace("_", " ")).split()
    folded = fold_digits(" ".join(spaced)).split()  # digits fold one for one: the words stay aligned
    at = [i for i, word in enumerate(folded) if word.isascii() and word.isdigit()]
    if len(at) != 1 or folded[at[0]].startswith("0") or len(folded[at[0]]) > 3:
        return None
    template = _template(_words(text), "#" in text)
    if template is None:
        return None
    return int(folded[at[0]]), "hour" if "ساعة" in template else "day", template, spaced[at[0]]


def countdown_lines(
    lines: list[tuple[str, tuple[int, int, int, int], int]], planes: Mapping[str, Image.Image]
) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Countdown lines with their Eastern Arabic number read from the glyphs (see the module doc),
    each with the box of the row it was read on."""
    if not planes:
        return []
    out = []
    for region, template in countdown_regions(lines):
        number = read_number(planes, region)
        if number is not None:
            out.append((template.format(n=number), region.box))
    return out
