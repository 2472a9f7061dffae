"""Lines of poster text found on colour masks and cut out clean, for one stacked Tesseract read.

Tesseract's own page analysis is the weak part on posters: over flames, flag stripes or grain it
either finds no line at all (psm 3) or reads the background as pages of junk (psm 6), and even
psm 11 reads a slogan in pieces. Poster text is drawn in one fill colour, often with an outline
of another, so a simple mask (near-white, near-black, gold, red, an Otsu cut of grey or of one
channel) separates the letters of a line from what is around them. On each mask, connected
components of letter size are chained into lines (side by side, overlapping vertically, of
similar height; underscores and kashida link the words of a hashtag), and each line is cut out
with only its own components (plus the dots and marks inside its box): black ink on white,
nothing of the background left. The crops are scaled to one height and stacked one under the
other with wide gaps, so Tesseract reads all of them in one run per language (psm 6).

On top of the plane passes this was the largest gain in recall after the masks (figures in
``bench/README.md``, OCR). Grain chains into long junk "lines" on some masks, so each mask gives
its best twelve only. Nothing here is specific to the synthetic posters' colours beyond the usual poster
palette (white, black, gold, red); the Otsu cuts of grey and of each channel cover the rest.

Why not a library: OpenCV's text detectors need model files from the network (EAST, DB), and
its MSER finds letters but not lines; the components (``ocr.components``) and their chaining are
a few numpy calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ocr import _components
from ocr.components import label_components

__all__ = ["Placement", "TextLine", "find_lines", "masks_of", "otsu", "place_words", "stack_lines"]

_WHITE_LEVEL = 190
_BLACK_LEVEL = 70
_MIN_HEIGHT = 6  # letters shorter than this are specks (or dots, which join the line later)
_TARGET_HEIGHT = 52  # crops are scaled to this line height: Tesseract reads ~20-30 px letters best
_GAP = 30  # white between stacked crops: psm 6 must never take two crops for one line
MAX_LINES = 96
PER_MASK = 12


@dataclass
class TextLine:
    """A line of text on one mask: its box in the image and its ink (box-local, padded)."""

    box: tuple[int, int, int, int]  # left, top, right, bottom of the line's letters
    mask: str  # the mask it was found on
    ink: np.ndarray  # bool, True where the line's components are; covers ``origin`` + shape
    origin: tuple[int, int]  # left, top of ``ink`` in the image
    letters: int  # how many letter-sized components it chains
    zoom: int = 1  # ``box``, ``ink`` and ``origin`` are in the image enlarged this many times


@dataclass(frozen=True)
class Placement:
    """Where a line's crop sits in the stack: to map what Tesseract read back onto the image."""

    top: int  # in the stack
    left: int
    height: int
    width: int
    scale: float  # stack pixels per image pixel
    origin: tuple[int, int]  # the crop's left, top in the image

    @property
    def image_box(self) -> tuple[int, int, int, int]:
        """The crop's box on the image: left, top, right, bottom."""
        x, y = self.origin
        return x, y, x + round(self.width / self.scale), y + round(self.height / self.scale)

    def to_json(self) -> list[float]:
        return [self.top, self.left, self.height, self.width, self.scale, *self.origin]

    @classmethod
    def from_json(cls, data: list[float]) -> Placement:
        top, left, height, width, scale, x, y = data
        return cls(int(top), int(left), int(height), int(width), float(scale), (int(x), int(y)))


# --- masks ----------------------------------------------------------------------------------


def otsu(values: np.ndarray) -> int:
    """Otsu's threshold of 8-bit ``values`` (127 for an empty array)."""
    if values.size == 0:
        return 127
    if values.dtype != np.uint8:
        raise ValueError(f"Otsu's threshold takes 8-bit values, not {values.dtype}")
    # Pillow counts the bytes as they are; np.bincount copied them to 8-byte integers first (5 ms a plane)
    row = Image.fromarray(np.ascontiguousarray(values).reshape(1, -1))
    hist = np.array(row.histogram(), dtype=np.float64)
    total = hist.sum()
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * np.arange(256))
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1e-9)
    return int(np.argmax(between))


def masks_of(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate text masks of an RGB image (True = maybe a letter)."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    darkest = np.minimum(np.minimum(r, g), b)
    lightest = np.maximum(np.maximum(r, g), b)
    # Not the grey: in int16, 299 * r + 587 * g + 114 * b wraps round above 32767, so this plane is
    # the intensity folded over on itself. It has been so since the line finder was written, and
    # every measurement since was made with it; the true grey (int32) was measured in stop 37 and
    # read less on the real set (recall 60.23 % per image against 60.72; bench/README.md, OCR).
    grey = ((299 * r + 587 * g + 114 * b) // 1000).astype(np.uint8)
    out = {
        "white": darkest > _WHITE_LEVEL,
        "black": lightest < _BLACK_LEVEL,
        "gold": (r > 190) & (g > 150) & (b < 70),
        "red": (r > 150) & (g < 80) & (b < 80),
    }
    for name, plane in (("grey", grey), ("r", r), ("g", g), ("b", b)):
        plane8 = plane.astype(np.uint8)
        cut = otsu(plane8)
        out[f"{name}-dark"] = plane8 <= cut
        out[f"{name}-light"] = plane8 > cut
    return out


# --- components and lines --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """One component of a mask, with what chaining asks of it thousands of times worked out once."""

    label: int
    top: int
    bottom: int
    left: int
    right: int
    height: int
    width: int
    flat: bool  # an underscore, a hyphen or a kashida: it links the words of a hashtag
    reach: float  # how far right a neighbour on its line may start (1.5 times this, at most)


def _piece(label: int, top: int, bottom: int, left: int, right: int) -> _Piece:
    height, width = bottom - top, right - left
    flat = height < _MIN_HEIGHT and width >= 3 * max(1, height) and width >= 6
    return _Piece(label, top, bottom, left, right, height, width, flat, width / 2 if flat else height)


def _pieces(mask: np.ndarray) -> tuple[np.ndarray, list[_Piece]]:
    """Labelled components of ``mask`` that could be letters (or their dots).

    The tests run on arrays of every component at once: a mask of grain has tens of thousands.
    """
    found = label_components(mask, 8)
    if not found.count:
        return found.labels, []
    height, width = mask.shape
    areas, top, bottom, left, right = found.area, found.top, found.bottom, found.left, found.right
    tall, wide = bottom - top, right - left
    keep = (
        (areas >= 6)
        & (tall > 0)
        & (tall <= 0.3 * height)
        & (wide <= 0.9 * width)
        & (top > 0)  # backgrounds run off the edge; poster text keeps a margin
        & (left > 0)
        & (bottom < height)
        & (right < width)
        & (areas >= 0.06 * tall * wide)  # below: a thin ring or a scribble of grain, not a letter
    )
    pieces = [
        _piece(int(i) + 1, int(top[i]), int(bottom[i]), int(left[i]), int(right[i]))
        for i in np.flatnonzero(keep)
    ]
    return found.labels, pieces


def _chain(pieces: list[_Piece]) -> list[list[_Piece]]:
    """Pieces on one text line, grouped, in the order of their leftmost piece.

    Two pieces side by side are on one line (``ocr/_components.c``'s ``chain``, union-find over
    the pieces sorted by their left edge) when the gap between them is at most 1.5 times the
    larger one's reach (its height; half the width of a flat bar) and either they overlap by 0.3
    of the lower one's height and neither is more than three times the other's, or one is a flat
    bar (an underscore, a hyphen, a kashida) at mid-height of the other, at most 0.8 of its
    height away. Two bars are never linked to each other."""
    usable = sorted((p for p in pieces if p.height >= _MIN_HEIGHT or p.flat), key=lambda p: p.left)
    if not usable:
        return []
    columns = np.array([(p.top, p.bottom, p.left, p.right) for p in usable], dtype=np.int64).T.copy()
    flat = bytes(p.flat for p in usable)
    first = np.frombuffer(_components.chain(*columns, flat, _MIN_HEIGHT), dtype=np.int32)
    groups: dict[int, list[_Piece]] = {}
    for index, piece in zip(first.tolist(), usable, strict=True):
        groups.setdefault(index, []).append(piece)
    return list(groups.values())


def find_lines(rgb: np.ndarray, max_lines: int = MAX_LINES, zoom_below: int = 0) -> list[TextLine]:
    """Lines of text on every mask of ``rgb``, each cut out with its own components only.

    A line repeated on another mask with the same ink is kept once; different masks of one line
    are all kept, since they read differently. An image whose long side is under ``zoom_below``
    is enlarged twice first (bicubic): the small hashtags of small posters are then several
    pixels thick on the masks, and their glyphs keep their shape.
    """
    zoom = 1
    if zoom_below and max(rgb.shape[:2]) < zoom_below:
        zoom = 2
        size = (rgb.shape[1] * zoom, rgb.shape[0] * zoom)
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
    found: list[TextLine] = []
    for name, mask in masks_of(rgb).items():  # the poster palette's masks first, then the Otsu cuts
        labels, pieces = _pieces(mask)
        if not pieces:
            continue
        boxes = np.array([(p.label, p.top, p.bottom, p.left, p.right) for p in pieces], dtype=np.int64)
        lines = [line for group in _chain(pieces) if (line := _line_of(name, group, boxes, labels))]
        # Grain chains into long "lines" of blobs on some masks: each mask gives its best few only,
        # so a noisy mask cannot crowd the clean lines of another out of the stack.
        lines.sort(key=lambda ln: -ln.letters)
        for line in lines[:PER_MASK]:
            if not any(_same(line, other) for other in found):
                line.zoom = zoom
                found.append(line)
    return found[:max_lines]


def _line_of(name: str, group: list[_Piece], boxes: np.ndarray, labels: np.ndarray) -> TextLine | None:
    """The line of a group of pieces, with the dots and marks inside its box (``boxes``: every
    piece of the mask as label, top, bottom, left, right); None if the group is no line."""
    letters = [p for p in group if not p.flat]
    if not letters:
        return None
    left = min(p.left for p in group)
    top = min(p.top for p in group)
    right = max(p.right for p in group)
    bottom = max(p.bottom for p in group)
    height, width = bottom - top, right - left
    if width < 1.2 * height or (len(letters) < 2 and width < 2.5 * height):
        return None  # one blob, not a line of letters
    heights = sorted(p.height for p in letters)
    if height > 2.5 * heights[len(heights) // 2]:
        return None  # a staircase of blobs, each overlapping the next: grain, not a line
    pad = max(4, height // 3)
    x0, y0 = max(0, left - pad), max(0, top - pad)
    x1, y1 = min(labels.shape[1], right + pad), min(labels.shape[0], bottom + pad)
    window = labels[y0:y1, x0:x1]
    inside = (
        (boxes[:, 1] >= y0)
        & (boxes[:, 2] <= y1)
        & (boxes[:, 3] >= x0)
        & (boxes[:, 4] <= x1)
        & (boxes[:, 2] - boxes[:, 1] <= height)
    )
    members = np.concatenate((np.array([p.label for p in group], dtype=np.int64), boxes[inside, 0]))
    # A lookup table over the members' labels (repeats do no harm): numpy's sorting way of
    # ``isin`` checks for masked arrays, which imports numpy.ma (15 ms) on the poster's first line.
    ink = np.isin(window, members, kind="table")
    return TextLine((left, top, right, bottom), name, ink, (x0, y0), len(letters))


def _same(a: TextLine, b: TextLine) -> bool:
    """The same line with (nearly) the same ink, found on two masks."""
    if a.origin != b.origin or a.ink.shape != b.ink.shape:
        return False
    differ = np.count_nonzero(a.ink ^ b.ink)
    return differ <= 0.05 * max(1, np.count_nonzero(a.ink))


# --- the stack -------------------------------------------------------------------------------


def stack_lines(
    lines: list[TextLine], target_height: int = _TARGET_HEIGHT, *, keep_large: bool = False
) -> tuple[Image.Image, list[Placement]]:
    """The crops of ``lines``, black on white, scaled to one height and stacked with wide gaps.

    With ``keep_large``, crops taller than ``target_height`` keep their size (up to twice it): the
    glyphs of their digits are then read at the resolution the poster gives them.
    """
    crops: list[tuple[Image.Image, float, TextLine]] = []
    for line in lines:
        height = line.box[3] - line.box[1]
        # Every crop to one height, down as well as up: Tesseract's LSTM gave nothing at all for a
        # clean bold line 100 px tall that it read whole at 25 px.
        scale = target_height / max(1, height)
        if keep_large and 0.5 <= scale <= 1.0:
            scale = 1.0
        image = Image.fromarray(np.where(line.ink, 0, 255).astype(np.uint8), "L")
        if scale != 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        crops.append((image, scale, line))
    width = max((c.width for c, _, _ in crops), default=1) + 2 * _GAP
    height = sum(c.height for c, _, _ in crops) + _GAP * (len(crops) + 1)
    canvas = Image.new("L", (width, height), 255)
    placements = []
    y = _GAP
    for image, scale, line in crops:
        canvas.paste(image, (_GAP, y))
        origin = (line.origin[0] // line.zoom, line.origin[1] // line.zoom)
        placements.append(Placement(y, _GAP, image.height, image.width, scale * line.zoom, origin))
        y += image.height + _GAP
    return canvas, placements


def place_words(
    top: int, left: int, width: int, height: int, placements: list[Placement]
) -> tuple[int, int, int, int, int] | None:
    """A word box in the stack mapped back onto the image: (crop index, left, top, width, height)."""
    centre = top + height / 2
    for index, spot in enumerate(placements):
        if spot.top - _GAP / 2 <= centre <= spot.top + spot.height + _GAP / 2:
            x = spot.origin[0] + (left - spot.left) / spot.scale
            y = spot.origin[1] + (top - spot.top) / spot.scale
            return (
                index,
                round(x),
                round(y),
                max(1, round(width / spot.scale)),
                max(1, round(height / spot.scale)),
            )
    return None
