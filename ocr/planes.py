"""The images a poster is read from: colour planes, masks, and the stack of its clean line crops.

Each plane separates a different text colour from its background, and each gets its own
Tesseract pass (``ocr.passes``):

* ``grey``, ``red``, ``green``, ``blue``: the image's own channels.
* ``white`` and ``black`` masks: poster text is mostly white or black with a contrasting outline,
  over flames, flags or photos. Pixels whose darkest channel is above 190 (or lightest below 70)
  become black text on white: the outline and most of the background vanish, and Tesseract
  stops reading hollow letters (the largest single gain measured; binarising whole planes did
  not help).
* ``gold``: gold letters (red and green high, blue low: flames keep some blue) escape the white
  mask.
* ``white-fill`` and ``black-fill``: black letters outlined in white come out of the white mask
  as hollow outlines (white letters outlined in black out of the black mask); filling their
  letter-sized holes makes the outlines letters.
* ``x2:NAME`` (``x2:grey``, ``x2:white``, ...): every plane of a small image (long side under
  ``settings.double_below``) cut from it at twice its size, read besides the planes at its own
  size: small photos carry text a few pixels tall, which Tesseract reads better enlarged, while
  a small poster's own-size planes read what the enlarged ones miss. Their words are put back
  at the image's own size and counted as the plane's own (:func:`at_own_size`).
* ``lines:LANG``: the lines of text found on colour masks and cut out clean (``ocr.lines``),
  scaled to one height and stacked, read once per language; Tesseract's page analysis never
  sees the flames. ``lines-ink`` (:data:`INK_PLANE`) is the same crops for the digit reader.

The pool's workers hand planes to each other as files (:func:`save_plane`, :func:`open_plane`:
a line stack's layout travels beside it as JSON). What each plane added: ``bench/README.md``
(OCR).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ocr.colour_planes import BLACK_LEVEL, WHITE_LEVEL, CutPlanes, same_pixels
from ocr.components import fill_small_holes
from ocr.lines import Placement, find_lines, stack_lines
from ocr.readings import PassResult
from ocr.settings import OcrSettings

__all__ = [
    "DOUBLED_PREFIX",
    "INK_PLANE",
    "LINES_PREFIX",
    "at_own_size",
    "frame_planes",
    "image_planes",
    "is_pass",
    "layout_of",
    "layout_path",
    "line_planes",
    "open_plane",
    "plane_sets",
    "save_plane",
    "twin_planes",
]


LINES_PREFIX = "lines:"
"""Planes named ``lines:LANG`` are the stack of clean line crops, read with the model ``LANG``."""

INK_PLANE = "lines-ink"
"""The line crops again, for the digit reader only (not a Tesseract pass): at least at the
stack's height, and larger ones at their own size (``stack_lines(keep_large=True)``)."""

DOUBLED_PREFIX = "x2:"
"""Planes named ``x2:NAME`` are the plane ``NAME`` of a small image read at twice its size."""


def _doubled(frame: Image.Image) -> Image.Image:
    return frame.resize((frame.width * 2, frame.height * 2), Image.Resampling.LANCZOS)


def _planes(
    frame: Image.Image, names: tuple[str, ...], upscale_below: int, cut: CutPlanes | None = None
) -> dict[str, Image.Image]:
    if upscale_below and max(frame.size) < upscale_below:
        frame = _doubled(frame)
    if cut is None or cut.channels.frame is not frame:  # ``cut``: this very frame's, made earlier
        cut = CutPlanes.of(frame, names)
    channels = cut.channels
    out: dict[str, Image.Image] = {}
    for name in names:
        if name in cut.planes:
            out[name] = cut.planes[name]
        elif name == "gold":  # gold or yellow letters: red and green high, blue low (flames keep some blue)
            red, green, blue = (np.asarray(c) for c in (channels.red, channels.green, channels.blue))
            gold = (red > 190) & (green > 150) & (blue < 70)
            out[name] = Image.fromarray(np.where(gold, 0, 255).astype(np.uint8))
        elif name == "white-fill":  # outlined letters filled in
            out[name] = _filled(np.asarray(channels.darkest) > WHITE_LEVEL)
        elif name == "black-fill":
            out[name] = _filled(np.asarray(channels.lightest) < BLACK_LEVEL)
        else:
            raise ValueError(f"unknown OCR pass {name!r}")
    return out


def _filled(mask: np.ndarray) -> Image.Image:
    # the outline of a hollow letter becomes the letter; larger holes are backgrounds
    return Image.fromarray(np.where(fill_small_holes(mask, 0.002 * mask.size), 0, 255).astype(np.uint8))


def plane_sets(frames: list[Image.Image], settings: OcrSettings) -> list[dict[str, Image.Image]]:
    """The planes to read, per frame (a frame too small to read gets none).

    With ``line_pass``, the stack of clean line crops (``ocr.lines``) is a plane too, once per
    language (``lines:ara``, ``lines:eng``: the same image, read with each model alone).
    """
    return [frame_planes(frame, settings) | line_planes(frame, settings) for frame in frames]


def frame_planes(
    frame: Image.Image, settings: OcrSettings, cut: CutPlanes | None = None
) -> dict[str, Image.Image]:
    """The colour planes and masks of one frame (``settings.passes``; none for a frame too small
    to read): cut in a fraction of the time the line crops take (``line_planes``). ``cut``: the
    Pillow planes of this frame already cut (``ocr.first_passes``), taken as they are."""
    if min(frame.size) < 8:
        return {}
    planes = _planes(frame, settings.passes, settings.upscale_below, cut)
    if settings.double_below and max(frame.size) < settings.double_below:
        planes |= {DOUBLED_PREFIX + k: v for k, v in _planes(_doubled(frame), settings.passes, 0).items()}
    return planes


def at_own_size(result: PassResult) -> PassResult:
    """A pass over a doubled plane (``x2:NAME``) as a reading of the plane ``NAME``: its boxes
    halved, so they point at the image, and its name the plane's, so the evidence step counts one
    plane read at two sizes as one reader, not two that agree. Any other pass as it is."""
    if not result.plane.startswith(DOUBLED_PREFIX):
        return result
    lines = [
        [
            replace(
                w, left=w.left // 2, top=w.top // 2, width=max(1, w.width // 2), height=max(1, w.height // 2)
            )
            for w in words
        ]
        for words in result.lines
    ]
    return PassResult(result.frame, result.plane[len(DOUBLED_PREFIX) :], lines)


def image_planes(planes: Mapping[str, Image.Image]) -> dict[str, Image.Image]:
    """The planes cut from the image itself at its own size (not the stacks of line crops, not
    the doubled planes): where a line's box points."""
    return {
        k: v for k, v in planes.items() if not k.startswith((LINES_PREFIX, DOUBLED_PREFIX)) and is_pass(k)
    }


def is_pass(name: str) -> bool:
    """Whether the plane ``name`` is read by Tesseract (every plane but :data:`INK_PLANE`)."""
    return name != INK_PLANE


def line_planes(frame: Image.Image, settings: OcrSettings) -> dict[str, Image.Image]:
    """The stack of clean line crops of one frame, a plane per language (with ``line_pass``;
    none for a frame too small to read), and the digit reader's own stack (``INK_PLANE``)."""
    if not settings.line_pass or min(frame.size) < 8:
        return {}
    lines = find_lines(np.asarray(frame.convert("RGB")), zoom_below=settings.line_zoom_below)
    if not lines:
        return {}
    stack, placements = stack_lines(lines)
    stack.info["layout"] = [p.to_json() for p in placements]
    planes = {LINES_PREFIX + lang: stack for lang in settings.languages.split("+") if lang}
    if settings.glyph_digits:
        ink, ink_placements = stack_lines(lines, keep_large=True)
        ink.info["layout"] = [p.to_json() for p in ink_placements]
        planes[INK_PLANE] = ink
    return planes


def twin_planes(planes: Mapping[str, Image.Image], cut: CutPlanes | None = None) -> dict[str, str]:
    """Plane name -> the earlier plane of ``planes`` (one frame's) with the very same pixels.

    On a poster in few colours some planes are the same picture: the black mask and the filled
    black mask where no letter is hollow, the grey and colour planes of a black-and-white page.
    Tesseract gives the same picture the same reading, so a plane named here is not read: it gets
    its twin's reading under its own name, and the passes count as they would have
    (``ocr.evidence`` counts the planes that agree). On the 43 real images 45 of 387 plane passes
    are twins (``bench/README.md``, OCR speed). Planes that are merely alike are each read:
    colour planes a few grey levels apart (under 0.2 % of their pixels) read differently often
    enough that treating them as twins lost countdowns (seed 4: 91.7 -> 86.1 %); every plane is
    one more reading for the vote. Stacks of line crops are never twins (each is read with its
    own model). ``cut``: the frame's Pillow planes cut earlier, whose keys it keeps.
    """
    read = {
        name: plane for name, plane in planes.items() if not name.startswith(LINES_PREFIX) and is_pass(name)
    }
    return same_pixels(read, cut.key if cut is not None else None)


def layout_path(plane_file: str | Path) -> Path:
    """Where the layout of a stack of line crops is written next to its plane file."""
    return Path(f"{plane_file}.layout.json")


def save_plane(plane: Image.Image, target: Path) -> None:
    """Write a plane as PGM/PPM, and a line stack's layout beside it."""
    plane.save(target)
    if "layout" in plane.info:
        layout_path(target).write_text(json.dumps(plane.info["layout"]), encoding="utf-8")


def open_plane(path: str | Path) -> Image.Image:
    """A plane written by :func:`save_plane`, with its layout back in ``info``."""
    with Image.open(path) as image:
        image.load()
        plane = image.copy()
    side = layout_path(path)
    if side.exists():
        plane.info["layout"] = json.loads(side.read_text(encoding="utf-8"))
    return plane


def layout_of(plane: Image.Image | str | Path) -> list[Placement]:
    data = plane.info.get("layout") if isinstance(plane, Image.Image) else None
    if data is None and not isinstance(plane, Image.Image) and layout_path(plane).exists():
        data = json.loads(layout_path(plane).read_text(encoding="utf-8"))
    return [Placement.from_json(p) for p in data or []]
