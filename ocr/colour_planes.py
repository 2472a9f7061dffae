"""The planes Pillow alone cuts from a frame: its channels, and the white and black masks.

Light to import (no numpy): ``ocr.first_passes`` cuts these and starts their passes before the
rest of the engine is imported, and ``ocr.planes`` adds the masks that need numpy (gold, the
filled masks) from the same :class:`Channels`. What each plane is for: ``ocr.planes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from PIL import Image, ImageChops

__all__ = [
    "BLACK_LEVEL",
    "PILLOW_PLANES",
    "WHITE_LEVEL",
    "Channels",
    "CutPlanes",
    "pixels_key",
    "same_pixels",
]

WHITE_LEVEL = 190
BLACK_LEVEL = 70

PixelsKey = tuple[str, tuple[int, int], bytes]


@dataclass(frozen=True)
class Channels:
    """A frame's channels, and each pixel's darkest and lightest of them (made once for every
    mask: Pillow takes 2 ms on a 1600 px poster, numpy's ``min(axis=2)`` over the colour axis 30 ms)."""

    frame: Image.Image
    red: Image.Image
    green: Image.Image
    blue: Image.Image
    darkest: Image.Image
    lightest: Image.Image

    @classmethod
    def of(cls, frame: Image.Image) -> Channels:
        r, g, b = frame.split()
        darkest = ImageChops.darker(ImageChops.darker(r, g), b)
        lightest = ImageChops.lighter(ImageChops.lighter(r, g), b)
        return cls(frame, r, g, b, darkest, lightest)


PILLOW_PLANES: Mapping[str, Callable[[Channels], Image.Image]] = {
    "color": lambda c: c.frame,
    "grey": lambda c: c.frame.convert("L"),
    "red": lambda c: c.red,
    "green": lambda c: c.green,
    "blue": lambda c: c.blue,
    "min": lambda c: c.darkest,
    "max": lambda c: c.lightest,
    # near-white pixels as black text on white: drops outlines and flames
    "white": lambda c: c.darkest.point(lambda v: 0 if v > WHITE_LEVEL else 255),
    # near-black pixels as black text on white
    "black": lambda c: c.lightest.point(lambda v: 0 if v < BLACK_LEVEL else 255),
}
"""The planes of a frame Pillow makes alone, by name (``settings.passes``)."""


@dataclass
class CutPlanes:
    """The Pillow planes of one frame, cut (``names``, in their order) from its :class:`Channels`:
    ``ocr.planes.frame_planes`` takes them as they are and cuts only the others."""

    channels: Channels
    planes: dict[str, Image.Image] = field(default_factory=dict)
    _keys: dict[str, PixelsKey] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, frame: Image.Image, names: tuple[str, ...]) -> CutPlanes:
        channels = Channels.of(frame)
        return cls(channels, {name: PILLOW_PLANES[name](channels) for name in names if name in PILLOW_PLANES})

    def key(self, name: str, plane: Image.Image) -> PixelsKey:
        """:func:`pixels_key` of ``plane``, worked out once for each of these planes: the early
        read and the engine both look for twins among them (12 ms a time at 900x1600)."""
        if self.planes.get(name) is not plane:
            return pixels_key(plane)
        if name not in self._keys:
            self._keys[name] = pixels_key(plane)
        return self._keys[name]


def pixels_key(plane: Image.Image) -> PixelsKey:
    """What makes two planes the same picture for Tesseract: mode, size and pixels (a digest)."""
    return plane.mode, plane.size, hashlib.blake2b(plane.tobytes(), digest_size=16).digest()


def same_pixels(
    planes: Mapping[str, Image.Image], key: Callable[[str, Image.Image], PixelsKey] | None = None
) -> dict[str, str]:
    """Plane name -> the earlier plane of ``planes`` with the very same pixels (``key``: how a
    plane's :func:`pixels_key` is had; ``CutPlanes.key`` keeps them). See ``ocr.planes.twin_planes``."""
    seen: dict[PixelsKey, str] = {}
    twins: dict[str, str] = {}
    for name, plane in planes.items():
        found = key(name, plane) if key is not None else pixels_key(plane)
        if found in seen:
            twins[name] = seen[found]
        else:
            seen[found] = name
    return twins
