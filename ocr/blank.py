"""Pictures with nothing to read: recorded as having no text without a single Tesseract pass.

A poster's dozen passes cost seconds; a channel also posts photos, skies, blurred backgrounds,
screenshots of a gradient. Legible text, in any script and colour, is drawn with edges of strong
contrast: a letter's stroke against what is around it changes some colour channel by far more
than grain, a soft gradient or a blurred photo do between two pixels. So a picture in which
fewer pixels have such an edge than one small letter has (:data:`MIN_EDGE_PIXELS`) carries no
text to read, and none is read.

The test only ever says "no text" for a picture with too few strong edges: anything with a
sharp shape in it (a flag's stripes, a mountain ridge, a photo in focus) is read as before. It
never looks for text itself, so what a poster reads as does not depend on it. Measured on the
synthetic posters (none skipped), the real images and drawn pictures without text
(``scripts/pictures.py``), in ``python -m bench.ocr_speed`` (``bench/README.md``, OCR).

Why Pillow's image differences rather than numpy: they run in C on the 8-bit channels, about
ten times faster than the same arithmetic in int16 arrays, and the answer must take a small
part of the 0.3 s a no-text picture may cost.
"""

from __future__ import annotations

from PIL import Image, ImageChops

__all__ = ["EDGE_STEP", "MIN_EDGE_PIXELS", "has_no_text", "strong_edges"]

EDGE_STEP = 40
"""A strong edge: some channel changes by more than this (of 255) over two pixels. Blurred or
JPEG-softened letters spread their edge over two pixels, hence the two-pixel span."""

MIN_EDGE_PIXELS = 32
"""Fewer strong-edge pixels than one letter drawn 12 px high has (an alef: 39-48, a ٥: 62-73, on
a gradient, a blurred photo or a dark background; a three-letter word 150-240): not a letter
there. The pictures it is meant for have none at all (0 on every smooth drawn picture)."""

_SPAN = 2


def strong_edges(frame: Image.Image, enough: int = MIN_EDGE_PIXELS) -> int:
    """Pixels of ``frame`` with a strong edge across or down (:data:`EDGE_STEP`), counted up to
    at least ``enough`` (the count stops early once it is reached)."""
    rgb = frame if frame.mode == "RGB" else frame.convert("RGB")
    width, height = rgb.size
    count = 0
    for a, b in (
        ((0, 0, width - _SPAN, height), (_SPAN, 0, width, height)),
        ((0, 0, width, height - _SPAN), (0, _SPAN, width, height)),
    ):
        if a[2] <= a[0] or a[3] <= a[1]:
            continue
        diff = ImageChops.difference(rgb.crop(a), rgb.crop(b))
        red, green, blue = diff.split()
        strongest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
        count += sum(strongest.histogram()[EDGE_STEP + 1 :])
        if count >= enough:
            break
    return count


def has_no_text(frames: list[Image.Image]) -> bool:
    """Whether no frame of an image has enough strong edges to hold a word (see the module)."""
    return all(strong_edges(frame) < MIN_EDGE_PIXELS for frame in frames)
