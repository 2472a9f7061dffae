"""Eastern Arabic digits in countdown lines, read by the shape of their glyphs.

Why not Tesseract: Debian's ``ara`` model cannot emit ٢-٩ at all, and the Arabic *script* model
(``-l Arabic``) reads them poorly: on clean renders of ``باقي ٥٩ يوما`` it got 0 of 13 numbers
in Noto Kufi, 7 of 13 in Amiri; on an isolated number (psm 7/8, with or without a digits
whitelist) 0-6 of 13. Eastern digits are few and simple shapes, so they are matched instead
(nearest neighbour on a 20x20 bitmap of each connected component) against glyphs rendered at
start from fonts the poster generator does *not* use (DejaVu Sans in three cuts, Noto Nastaliq
Urdu, Noto Sans Syriac, Thaana and Indic Siyaq Numbers), together with the letter shapes of the
countdown words, so that a letter is not taken for a digit. On clean lines ``باقي N يوما``
drawn in the poster fonts (never seen by the templates) it reads 30 of 30 numbers in Noto Sans
Arabic and Amiri, 19 in Noto Naskh Arabic, 14 in Noto Kufi Arabic. Real posters use other fonts
again: all of this is measured on synthetic posters only (``bench/ocr_quality.py``).

Western digits are templates too, as competitors: a run of them is left to the ``ara`` model,
which reads Western digits well (1/١ and 9/٩ share shape and value and count either way). A lone
١ is not taken: it is as thin as an alef or a stray stroke.

It only runs where a countdown is already half read: a line whose words (from the ``ara`` passes)
include a "remaining" word (باقي, متبقي, لم يتبق سوى, العد التنازلي) and a unit (يوما, ساعة), so
a look-alike glyph elsewhere can never become a countdown. The line is cut out of several planes
and masks, each is segmented and read, and the number that most of them agree on is written back
into the line: ``#باقي_0AE_يوما`` becomes ``#باقي_84_يوما``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

log = logging.getLogger(__name__)

__all__ = [
    "CountdownRegion",
    "countdown_lines",
    "countdown_regions",
    "read_number",
    "template_fonts",
    "warm_up",
]

_SIZE = 20
# Fonts the synthetic posters (scripts/posters.py) never use, so the measurement stays honest
# (DejaVu Sans *Bold* is left out: the posters draw Latin lines with it).
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoNastaliqUrdu-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSyriac-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansThaana-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansIndicSiyaqNumbers-Regular.ttf",
)
_EASTERN = "٠١٢٣٤٥٦٧٨٩"
# Western digits are templates too, as competitors: a Western number is left to Tesseract's ara
# model, which reads those well; only a run of Eastern digits is taken.
_WESTERN = "0123456789"
# Letters of the words around a countdown, so their pieces are known as "not a digit".
_WORDS = ("باقي", "يوما", "يوم", "ايام", "متبقي", "ساعة", "ساعات", "لم يتبق سوى", "العد التنازلي", "#", "_")


def template_fonts() -> list[str]:
    return [f for f in _FONT_CANDIDATES if Path(f).exists()]


def _shape(mask: np.ndarray) -> np.ndarray:
    """A component as a fixed-size vector: its bitmap, aspect kept, centred in a square."""
    h, w = mask.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = mask.astype(np.uint8) * 255
    small = Image.fromarray(square).resize((_SIZE, _SIZE), Image.Resampling.BILINEAR)
    vec = np.asarray(small, dtype=np.float32).ravel() / 255.0
    aspect = np.float32(np.log(h / max(1, w)))
    return np.concatenate([vec, [aspect * 4.0]])


def _components(binary: np.ndarray) -> list[tuple[slice, slice, np.ndarray]]:
    labels, _ = ndimage.label(binary, structure=np.ones((3, 3)))
    return [(sl[0], sl[1], labels[sl] == i + 1) for i, sl in enumerate(ndimage.find_objects(labels)) if sl]


@lru_cache(maxsize=64)
def _font(font_path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path, size, layout_engine=ImageFont.Layout.RAQM)


def _render(text: str, font_path: str, size: int) -> np.ndarray:
    font = _font(font_path, size)
    probe = ImageDraw.Draw(Image.new("L", (4, 4)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font, direction="rtl", language="ar")
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), text, font=font, fill=255, direction="rtl", language="ar")
    return np.asarray(image) > 127


@lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, tuple[str, ...]]:
    vectors: list[np.ndarray] = []
    labels: list[str] = []
    for font in template_fonts():
        for size in (48,):
            for digit in _EASTERN + _WESTERN:
                glyph = _render(digit, font, size)
                parts = _components(glyph)
                if not parts:
                    continue
                _rows, _cols, mask = max(parts, key=lambda p: p[2].sum())
                for variant in (mask, ndimage.binary_dilation(mask), ndimage.binary_erosion(mask)):
                    if variant.any():
                        vectors.append(_shape(_trim(variant)))
                        labels.append(_label(digit))
            for word in _WORDS:
                for _rows, _cols, mask in _components(_render(word, font, size)):
                    if mask.sum() > 4:
                        vectors.append(_shape(mask))
                        labels.append("x")
    if not vectors:
        log.warning(
            "no fonts to draw digit templates from: Eastern Arabic countdown numbers will be missed "
            "(apt-get install -y fonts-dejavu-core fonts-dejavu-extra fonts-noto-core)"
        )
        return np.zeros((0, _SIZE * _SIZE + 1), dtype=np.float32), ()
    return np.stack(vectors), tuple(labels)


def _label(digit: str) -> str:
    """The label of a digit template: its value; a Western digit is marked "w" unless it has the
    shape and the value of an Eastern one (1 and ١, 9 and ٩ read the same either way)."""
    if digit in _EASTERN:
        return str(_EASTERN.index(digit))
    return digit if digit in "19" else "w" + digit


def warm_up() -> None:
    """Draw the templates now (they are drawn once per process, on first use otherwise)."""
    _templates_locked()


_TEMPLATES_LOCK = threading.Lock()


def _templates_locked() -> tuple[np.ndarray, tuple[str, ...]]:
    with _TEMPLATES_LOCK:  # a warm-up thread may be drawing them right now
        return _templates()


def _trim(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _classify(mask: np.ndarray) -> tuple[str, float]:
    vectors, labels = _templates_locked()
    if not labels:
        return "x", 1e9
    distances = np.linalg.norm(vectors - _shape(mask), axis=1)
    best = int(np.argmin(distances))
    return labels[best], float(distances[best])


@dataclass
class CountdownRegion:
    """A line that reads like a countdown with its number missing, and where it is."""

    box: tuple[int, int, int, int]
    height: int  # height of the line's words, for the glyph size limits


_MAX_DISTANCE = 5.5  # beyond this a component is like no template: not a digit
_MIN_HEIGHT = 12


def _masks(crop: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Text-pixel masks of one region from every plane: Otsu both ways, and the white/black masks."""
    out = []
    for name, pixels in crop.items():
        if name in ("white", "black"):
            out.append(pixels < 128)
            continue
        threshold = _otsu(pixels)
        out.append(pixels > threshold)
        out.append(pixels <= threshold)
    return out


def _otsu(pixels: np.ndarray) -> int:
    hist = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 127
    levels = np.arange(256)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * levels)
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1e-9)
    return int(np.argmax(between))


def _number_in(mask: np.ndarray, height: int) -> str | None:
    """The one run of digit glyphs standing apart from letters in ``mask``, as Western digits."""
    parts = []
    small = []  # candidates for ٠, a small dot or diamond at mid-height
    for rows, cols, comp in _components(mask):
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if h < 0.2 * height or comp.sum() < 12:
            if comp.sum() >= 4:
                small.append((rows, cols))
            continue
        if h > 1.2 * height or w > 1.0 * height:
            parts.append((rows, cols, "x", 0.0))  # a letter group: a neighbour, not a digit
            continue
        label, distance = _classify(comp)
        if distance > _MAX_DISTANCE:
            label = "x"
        parts.append((rows, cols, label, distance))
    digits = sorted((p for p in parts if p[2] != "x"), key=lambda p: p[1].start)
    runs: list[list[tuple]] = []
    for part in digits:
        if runs:
            last = runs[-1][-1]
            gap = part[1].start - last[1].stop
            size = max(last[0].stop - last[0].start, part[0].stop - part[0].start)
            overlap = min(last[0].stop, part[0].stop) - max(last[0].start, part[0].start)
            if gap <= 0.6 * size and overlap >= 0.4 * size:
                runs[-1].append(part)
                continue
        runs.append([part])
    found = []
    for run in runs:
        top = min(p[0].start for p in run)
        bottom = max(p[0].stop for p in run)
        size = bottom - top
        left, right = run[0][1].start, run[-1][1].stop
        if size < 0.35 * height:
            continue
        if sum(p[2].startswith("w") for p in run) * 2 >= len(run):
            found.append("w")  # a Western number: Tesseract's business
            continue
        value = "".join(p[2] for p in run if not p[2].startswith("w"))
        zero = _zero_after(small, top, bottom, right)
        if zero is not None:
            value, right = value + "0", zero
        if len(value) > 3 or value.startswith("0"):
            continue
        # a number stands apart: no letter piece right next to it on its own line
        crowded = any(
            p[2] == "x"
            and min(bottom, p[0].stop) - max(top, p[0].start) > 0.3 * size
            and (0 <= left - p[1].stop < 0.15 * size or 0 <= p[1].start - right < 0.15 * size)
            for p in parts
        )
        if not crowded:
            found.append(value)
    return found[0] if len(found) == 1 else None


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
        value = _number_in(mask, region.height)
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
# "ley", "Lay"): accepted as the day unit, and only next to a "remaining" word.
_PUNCT = re.compile(r"[^\w]")
_DAY_LOOKALIKE = re.compile(r"l[aeo][gy]s?|lacy|logs?")


def _close(word: str, vocabulary: Mapping[str, str]) -> str | None:
    """The vocabulary word ``word`` is, allowing one wrong, missing or extra letter (OCR slips)."""
    if word in vocabulary:
        return word
    if len(word) < 3:
        return None
    for known in vocabulary:
        if abs(len(known) - len(word)) <= 1 and _one_edit(word, known):
            return known
    return None


def _one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    if len(a) > len(b):
        a, b = b, a
    return any(a == b[:i] + b[i + 1 :] for i in range(len(b)))


@dataclass
class _Group:
    box: tuple[int, int, int, int]
    heights: list[int]
    words: list[str]
    hashtag: bool


def countdown_regions(
    lines: list[tuple[str, tuple[int, int, int, int], int]],
) -> list[tuple[CountdownRegion, str]]:
    """Regions of the image that read like a countdown with the number missing or garbled.

    ``lines`` are (text, box, word height) of every line any pass read. Lines on the same row are
    pooled; a row qualifies when, over all its readings, it has a "remaining" word and a unit.
    Returns each region with the text to write back around its number (``{n}`` marks the spot).
    """
    from monitor.text import normalize

    groups: list[_Group] = []
    for text, box, height in sorted(lines, key=lambda item: item[1][1]):
        words = [w for w in (_PUNCT.sub("", w) for w in normalize(text).split()) if w]
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
                group.words += words
                group.hashtag |= "#" in text
                break
        else:
            groups.append(_Group(box, [height], words, "#" in text))
    out = []
    for group in groups:
        remain = [_close(w, _REMAIN) for w in group.words] + [_close(w, _REMAIN_PHRASE) for w in group.words]
        units = [_close(w, _UNITS) for w in group.words]
        found_remain = [r for r in remain if r]
        found_units = [_UNITS[u] for u in units if u]
        if found_remain and not found_units and any(_DAY_LOOKALIKE.fullmatch(w) for w in group.words):
            found_units = ["day"]
        if not found_remain or not found_units:
            continue
        if "التنازلي" in found_remain:
            phrase = "العد التنازلي"
        else:
            phrase = Counter(_REMAIN[r] for r in found_remain if r in _REMAIN).most_common(1)[0][0]
        unit = "ساعة" if "hour" in found_units else "يوما"
        if group.hashtag and phrase == "باقي":
            template = f"#باقي_{{n}}_{unit.replace(' ', '_')}"
        else:
            template = f"{phrase} {{n}} {unit}"
        heights = sorted(group.heights)
        out.append((CountdownRegion(group.box, heights[len(heights) // 2]), template))
    return out


def countdown_lines(
    lines: list[tuple[str, tuple[int, int, int, int], int]], planes: Mapping[str, Image.Image]
) -> list[str]:
    """Countdown lines with their Eastern Arabic number read from the glyphs (see the module doc)."""
    if not planes:
        return []
    out = []
    for region, template in countdown_regions(lines):
        number = read_number(planes, region)
        if number is not None:
            out.append(template.format(n=number))
    return out
