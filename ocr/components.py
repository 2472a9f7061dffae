"""Connected components and one-step morphology of binary images (masks of letters).

The components come from ``ocr/_components.c`` (why native: its header), numbered as
``scipy.ndimage.label`` numbers them, with each one's box and area from the same pass; the
morphology is four shifted copies in numpy. ``tests/ocr/test_components.py`` holds every
function against ``scipy.ndimage`` on generated masks and on the masks of real posters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ocr import _components

__all__ = ["Components", "dilate", "erode", "fill_small_holes", "label_components"]


@dataclass(frozen=True)
class Components:
    """The components of a mask: ``labels`` (0 background, 1..count), and per component (index
    ``label - 1``) its box (``bottom`` and ``right`` exclusive) and its area in pixels."""

    labels: np.ndarray
    count: int
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    area: np.ndarray

    def mask_of(self, index: int) -> np.ndarray:
        """Component ``index`` (0-based) within its box, as booleans."""
        box = self.labels[self.top[index] : self.bottom[index], self.left[index] : self.right[index]]
        return box == index + 1


def label_components(mask: np.ndarray, connectivity: int = 8) -> Components:
    """The components of the 2-D ``mask`` (non-zero: set), joined by edges (4) or by edges and
    corners (8)."""
    if mask.ndim != 2:
        raise ValueError(f"a mask has two dimensions, not {mask.ndim}")
    height, width = mask.shape
    cells = np.ascontiguousarray(mask if mask.dtype in (np.bool_, np.uint8) else mask != 0)
    labels, count, stats = _components.label(cells.view(np.uint8), width, height, connectivity)
    per = np.frombuffer(stats, dtype=np.int64).reshape(count, 5)
    return Components(
        np.frombuffer(labels, dtype=np.int32).reshape(height, width),
        count,
        per[:, 0],
        per[:, 1],
        per[:, 2],
        per[:, 3],
        per[:, 4],
    )


def fill_small_holes(mask: np.ndarray, largest: float) -> np.ndarray:
    """``mask`` with every hole of at most ``largest`` pixels filled: a hole is a part of the
    background, joined by edges, that does not reach the image's border (``scipy.ndimage``'s
    ``binary_fill_holes`` fills them all)."""
    mask = np.asarray(mask, dtype=bool)  # a 0/255 mask too: ``|`` below must give booleans
    background = label_components(~mask, 4)
    if not background.count:
        return mask
    height, width = mask.shape
    inside = (
        (background.top > 0)
        & (background.left > 0)
        & (background.bottom < height)
        & (background.right < width)
    )
    small = np.concatenate(([False], inside & (background.area <= largest)))
    return mask | small[background.labels]


def dilate(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel at its edges (not corners); outside the image counts as unset."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def erode(mask: np.ndarray) -> np.ndarray:
    """``mask`` shrunk by one pixel: a pixel stays set when its four edge neighbours are set;
    outside the image counts as unset, so the border rows and columns go."""
    out = mask.copy()
    out[1:, :] &= mask[:-1, :]
    out[:-1, :] &= mask[1:, :]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[0, :] = out[-1, :] = False
    out[:, 0] = out[:, -1] = False
    return out
