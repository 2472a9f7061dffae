"""One Tesseract pass over one plane, and the second passes that need the plane passes first.

* Plane passes (:func:`read_plane`): each plane (``ocr.planes``) read as sparse text
  (``--psm 11``): psm 3 loses whole posters on busy backgrounds and psm 6 reads noise as pages
  of junk (``shared/research/ocr-study.md``); blobs shorter than ``plane_noise_height`` are
  specks to its page layout, not letters. A stack of line crops is read at psm 6 with one
  model, and its words are mapped back onto the image.
* ``rows`` (:func:`read_second`): the rows of text the plane passes found are cut out of the two
  filled masks and grey (``OcrSettings.row_planes``), upscaled to 48 px, stacked and read once
  more as a block (psm 6): a line that psm 11 read in pieces among flames is read whole once it
  stands alone. The rows go in two
  stacks (``rows:0``, ``rows:1``), each a run of its own, so that two cores read them together.
  Where the plane passes found nothing worth keeping (:func:`nothing_to_reread`), no second pass
  runs: their rows are the junk of a texture.
* ``digits``: Debian's ``ara`` model cannot emit ٢-٩ at all (``٤٨`` comes back as ``AE`` or
  ``/5``), so countdown-like lines are re-read with the Arabic script model
  (``tesseract-ocr-script-arab``, ``-l Arabic``); the glyph reader (``ocr.digits``) does the rest.

Every pass gets its share of the image's time in CPU seconds (:func:`ocr.pass_plan.pass_timeout`):
one that bogs down is skipped, not failed. Measurements: ``bench/README.md`` (OCR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from PIL import Image

from monitor.core.text import LATIN_OR_ARABIC_DIGIT, normalize
from ocr.digits import COUNTDOWN_HINT, countdown_like
from ocr.evidence import Box
from ocr.lines import place_words
from ocr.pass_plan import DIGITS_PASS, ROWS_PARTS, ROWS_PASS, pass_timeout
from ocr.planes import DOUBLED_PREFIX, LINES_PREFIX, image_planes, layout_of
from ocr.readings import Line, PassResult, Word, keep_words, same_row
from ocr.settings import OcrSettings
from ocr.tesseract import read_plane_images, tesseract_words
from ocr.voting import finish, merge_passes

__all__ = [
    "nothing_to_reread",
    "plane_batches",
    "read_plane",
    "read_planes",
    "read_second",
]


_ROW_HEIGHT = 48
_MAX_ROWS = 12
_Row = TypeVar("_Row")


def read_plane(plane: Image.Image | str | Path, settings: OcrSettings, name: str = "") -> list[list[Word]]:
    """One plane pass, skipped after its share of the timeout: ``settings.languages`` at
    ``settings.psm``; a stack of line crops (``name`` ``lines:LANG``) with one model at psm 6, its
    words mapped back onto the image and tagged with their crop."""
    if not name.startswith(LINES_PREFIX):
        return read_plane_images([plane], settings)[0]
    placements = layout_of(plane)
    found = tesseract_words(plane, name[len(LINES_PREFIX) :], 6, pass_timeout(settings), settings.tesseract)
    out = []
    for words in found:
        placed = []
        for w in words:
            spot = place_words(w.top, w.left, w.width, w.height, placements)
            if spot is not None:
                crop, left, top, width, height = spot
                placed.append(Word(w.text, w.conf, left, top, width, height, crop))
        if placed:
            out.append(placed)
    return out


def plane_batches(names: Sequence[str], ways: int) -> list[list[int]]:
    """The plane passes ``names`` (of one image's frames) in batches of their indices, each batch
    one Tesseract run (``read_planes``). Each stack of line crops goes alone (its own model and
    psm) and first, since they take longest; the other planes (all read alike) are dealt into
    ``ways`` batches, one per core or worker. A run per plane loaded the models nine times (``ara+eng``: 0.2 s of CPU each, a fifth of the passes'
    time on the real images); ``ways`` runs keep every core busy (``bench/README.md``, OCR)."""
    stacks = [[i] for i, name in enumerate(names) if name.startswith(LINES_PREFIX)]
    planes = [i for i, name in enumerate(names) if not name.startswith(LINES_PREFIX)]
    ways = max(1, min(ways, len(planes)))
    return stacks + [planes[i::ways] for i in range(ways) if planes[i::ways]]


def read_planes(
    planes: Sequence[tuple[str, Image.Image | str | Path]], settings: OcrSettings
) -> list[list[list[Word]]]:
    """The plane passes of a batch (``plane_batches``), each as :func:`read_plane` would read it:
    the colour planes and masks in one Tesseract run, a stack of line crops alone."""
    found: dict[int, list[list[Word]]] = {}
    alike = [(i, plane) for i, (name, plane) in enumerate(planes) if not name.startswith(LINES_PREFIX)]
    if alike:
        read = read_plane_images([plane for _, plane in alike], settings)
        found.update(zip((i for i, _ in alike), read, strict=True))
    for i, (name, plane) in enumerate(planes):
        if i not in found:
            found[i] = read_plane(plane, settings, name)
    return [found[i] for i in range(len(planes))]


def nothing_to_reread(
    results: list[PassResult], first_planes: Mapping[str, object], settings: OcrSettings
) -> bool:
    """Whether the second passes can be left out: the evidence step keeps no line of what the
    first frame's passes read at its own size (``results``: the plane passes; ``first_planes``:
    the names of the first frame's planes, or the planes), and the image is not small.

    The rows pass re-reads the rows those passes found, and the digits pass their countdown-like
    lines; where none of their lines is kept, those rows are the junk of a texture. On the stored
    passes of the real images, the drawn pictures without text, real photos without text and
    poster seeds 0-39, no second pass then added a word of any image's text but junk (``الله``
    off a drawn cat, ``haw, ure`` off a drawn landscape), and a sharp photo without text was read
    in 0.87 s instead of 1.20, a process each (``bench/README.md``, OCR, stop 54). A small image
    is read at twice its size too (``x2:`` planes), and those planes, read beside the second
    passes, find what its own size may miss: a car-park sign's ``1,4 متر`` came from the rows
    with them, so a small image keeps its second passes. This finish leaves out the glyph digit
    reader, the slow part of finishing a countdown poster (up to 0.66 s); the final finish runs
    it on the same planes either way."""
    if any(name.startswith(DOUBLED_PREFIX) for name in first_planes):
        return False
    own_size = [r for r in results if r.frame == 0 and not r.plane.startswith(DOUBLED_PREFIX)]
    return not finish(own_size, {}, settings).text


def read_second(
    name: str, results: list[PassResult], first_planes: Mapping[str, Image.Image], settings: OcrSettings
) -> PassResult:
    """One second-phase pass over the first frame, as a :class:`PassResult` (plane ``name``).

    ``rows``: every row of text the plane passes found is cut out of the planes that separate
    letters best (``settings.row_planes``: the two filled masks and grey), upscaled, and all of
    them re-read at once as a block (psm 6): a line half read among flames is read whole once it
    is alone. ``digits``: countdown-like lines re-read with the Arabic script model (see the
    module docstring); its lines come first.
    """
    # the rows and countdown lines of the planes at the image's own size (``ocr.planes``)
    first = [r for r in results if r.frame == 0 and not r.plane.startswith(DOUBLED_PREFIX)]
    if not first or not first_planes:
        return PassResult(0, name, [])
    if name in ROWS_PARTS:  # one part of the rows, read as the rows pass
        return PassResult(0, ROWS_PASS, _rows_pass(first, first_planes, settings, ROWS_PARTS.index(name)))
    if name == DIGITS_PASS:
        texts = _digits_pass(merge_passes(first, settings), first_planes, settings)
        return PassResult(0, name, [[Word(text, 100.0, 0, 0, 0, 0)] for text in texts])
    raise ValueError(f"unknown second pass {name!r}")


def _rows(results: list[PassResult], settings: OcrSettings) -> list[tuple[int, int, int, int]]:
    """Rows of text: the lines of all plane passes on the same row, pooled into one box."""
    rows: list[list[int]] = []
    for result in results:
        for words in result.lines:
            kept = keep_words(words, settings.min_confidence)
            if not kept:
                continue
            box = Line(kept, result.plane).box
            for row in rows:
                if same_row((row[0], row[1], row[2], row[3]), box):
                    row[:] = [
                        min(row[0], box[0]),
                        min(row[1], box[1]),
                        max(row[2], box[2]),
                        max(row[3], box[3]),
                    ]
                    break
            else:
                rows.append(list(box))
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def _rows_pass(
    results: list[PassResult], planes: Mapping[str, Image.Image], settings: OcrSettings, part: int
) -> list[list[Word]]:
    # each row's cuts (a plane's name, the box cut from it, the crop's size once at least 48 px
    # tall), worked out before any pixel is cut: each part cuts only the rows it reads
    rows: list[tuple[Box, list[tuple[str, Box, tuple[int, int]]]]] = []
    for left, top, right, bottom in _rows(results, settings)[:_MAX_ROWS]:
        height = bottom - top
        if height < 8:
            continue
        pad = max(4, height // 4)
        cuts = []
        for name in settings.row_planes:
            plane = planes.get(name)
            if plane is None:
                continue
            box = (
                max(0, left - pad),
                max(0, top - pad),
                min(plane.width, right + pad),
                min(plane.height, bottom + pad),
            )
            width, tall = box[2] - box[0], box[3] - box[1]
            if tall < _ROW_HEIGHT:
                width, tall = max(1, int(width * (_ROW_HEIGHT / tall))), _ROW_HEIGHT
            cuts.append((name, box, (width, tall)))
        if cuts:
            rows.append(((left, top, right, bottom), cuts))
    areas = [sum(width * tall for _, _, (width, tall) in cuts) for _, cuts in rows]
    chosen = [
        (origin, name, box, size)
        for origin, cuts in _rows_of_part(rows, areas, part)
        for name, box, size in cuts
    ]
    if not chosen:
        return []
    crops = []
    for _, name, box, size in chosen:
        crop = planes[name].crop(box).convert("L")
        if crop.size != size:
            crop = crop.resize(size, Image.Resampling.LANCZOS)
        crops.append(crop)
    cut_boxes = [box for _, _, box, _ in chosen]
    stacked, offsets = _stack_crops_at(crops)
    found = tesseract_words(stacked, settings.languages, 6, pass_timeout(settings), settings.tesseract)
    margin = _stack_margin(crops)
    out = []
    for words in found:  # back to image coordinates, through the crop the line was read on
        centre = sum(w.top + w.height / 2 for w in words) / len(words)
        index = max((i for i, y in enumerate(offsets) if y <= centre), default=0)
        left, top, right, bottom = cut_boxes[index]  # the cut, padding and all, before its scaling
        x_scale = (right - left) / max(1, crops[index].width)
        y_scale = (bottom - top) / max(1, crops[index].height)
        out.append(
            [
                Word(
                    w.text,
                    w.conf,
                    left + max(0, round((w.left - margin) * x_scale)),
                    top + max(0, round((w.top - offsets[index]) * y_scale)),
                    max(1, round(w.width * x_scale)),
                    max(1, round(w.height * y_scale)),
                )
                for w in words
            ]
        )
    return out


def _rows_of_part(rows: list[_Row], areas: list[int], part: int) -> list[_Row]:
    """The rows (in their order) that part ``part`` (0 or 1) of the rows pass reads, given each
    row's pixels once cut (``areas``): the first rows up to half of all the pixels, then the rest.
    Each part is a Tesseract run of its own, so the two go side by side on two cores (or pool
    workers); read as one stack, the rows were the last run of an image, with the other core
    idle (0.24 s an image on the real set)."""
    total, running, cut = sum(areas), 0, len(rows)
    for index, area in enumerate(areas):
        running += area
        if 2 * running >= total:
            cut = min(index + 1, max(1, len(rows) - 1))
            break
    return rows[:cut] if part == 0 else rows[cut:]


def _worth_rereading(line: Line) -> bool:
    """Whether the script model re-reads ``line``: a countdown word, a hashtag or a digit in it,
    any one (the planes may have lost a countdown's number or its words). What the re-read
    makes of it reaches the text only where it reads like a countdown
    (``ocr.digits.countdown_like``: a number and a countdown word or hashtag together)."""
    return bool(
        COUNTDOWN_HINT.search(line.norm) or "#" in line.text or LATIN_OR_ARABIC_DIGIT.search(line.text)
    )


def _stack_crops(crops: list[Image.Image]) -> Image.Image:
    return _stack_crops_at(crops)[0]


def _stack_margin(crops: list[Image.Image]) -> int:
    """The white around and between stacked crops: half the tallest, and some."""
    return max(c.height for c in crops) // 2 + 10


def _stack_crops_at(crops: list[Image.Image]) -> tuple[Image.Image, list[int]]:
    """Crops one under the other on white, :func:`_stack_margin` from the left, and the top of
    each in the stack."""
    gap = _stack_margin(crops)
    width = max(c.width for c in crops) + 2 * gap
    height = sum(c.height for c in crops) + gap * (len(crops) + 1)
    canvas = Image.new("L", (width, height), 255)
    offsets = []
    y = gap
    for crop in crops:
        canvas.paste(crop, (gap, y))
        offsets.append(y)
        y += crop.height + gap
    return canvas, offsets


def _digits_pass(lines: list[Line], planes: dict[str, Image.Image], settings: OcrSettings) -> list[str]:
    """Re-read countdown-like lines with the script model; return the lines it read with digits."""
    if not settings.digits_model:
        return []
    if settings.digits_scope == "page":
        grey = planes["grey"] if "grey" in planes else next(iter(planes.values())).convert("L")
        found = tesseract_words(grey, settings.digits_model, 11, pass_timeout(settings), settings.tesseract)
        texts = (" ".join(w.text for w in keep_words(words, settings.min_confidence)) for words in found)
        return [text for text in texts if countdown_like(text)]
    chosen = [ln for ln in lines if _worth_rereading(ln)]
    if not chosen:
        return []
    crops = []
    own_planes = image_planes(planes)
    for line in chosen[:8]:
        plane = own_planes.get(line.plane) or own_planes.get("grey") or next(iter(own_planes.values()))
        left, top, right, bottom = line.box
        pad = max(4, (bottom - top) // 2)
        box = (
            max(0, left - 2 * pad),
            max(0, top - pad),
            min(plane.width, right + 2 * pad),
            min(plane.height, bottom + pad),
        )
        crop = plane.crop(box).convert("L")
        if crop.height < 40:  # the script model likes ~40 px tall lines
            scale = 40 / max(1, crop.height)
            crop = crop.resize((max(1, int(crop.width * scale)), 40), Image.Resampling.LANCZOS)
        crops.append(crop)
    found = tesseract_words(
        _stack_crops(crops), settings.digits_model, 11, pass_timeout(settings), settings.tesseract
    )
    digit_lines = []
    for words in found:
        words = keep_words(words, settings.min_confidence)
        text = " ".join(w.text for w in words)
        if LATIN_OR_ARABIC_DIGIT.search(text) and len(normalize(text)) >= 2:
            digit_lines.append(text)
    return digit_lines
