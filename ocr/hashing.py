"""Exact and perceptual fingerprints of images.

``sha256`` of the bytes names an image in the archive: the same file shared by ten channels is
stored and read once. The perceptual hash (imagehash's pHash: a DCT of a 32x32 grey thumbnail,
64 bits, stored as 16 hex digits) survives resizing, recompression and small crops, so a poster
re-posted in another size is found by ``tgmonitor similar`` at a small Hamming distance. pHash
rather than dHash: it is steadier under JPEG recompression and colour shifts.

The DCT is a product of two 32x32 matrices here, not imagehash's call into ``scipy.fftpack``:
importing scipy took 0.14 s of every ``tgmonitor check --image``. The hash is imagehash's on
every picture measured (303: the 43 real images of ``shared/real_images``, 240 generated
posters, 20 photos of real channel exports; ``tests/ocr/test_hashing.py`` holds it on posters,
recompressed posters, grain and plain colours); on
pictures with mirror symmetries (a plain colour, stripes) some coefficients are equal in exact
arithmetic, and scipy's FFT breaks those ties by its rounding noise, which could change with
its version. Here the coefficients are rounded to 1e-6 (the noise is about 1e-10) so that equal
ones stay equal: a plain picture hashes to ``8000000000000000`` (only the mean is above the
median), as it does with imagehash.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image, ImageFilter

from monitor.core.phash import hamming, nearest

__all__ = ["SIMILAR_DISTANCE", "hamming", "nearest", "perceptual_hash", "same_picture", "sha256_bytes"]

SIMILAR_DISTANCE = 10
"""Default largest Hamming distance (of 64 bits) between two images called near-duplicates."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_THUMB = 32  # the thumbnail's side
_KEPT = 8  # the lowest 8x8 frequencies make the 64 bits
_DCT = 2 * np.cos(np.pi * np.outer(np.arange(_THUMB), 2 * np.arange(_THUMB) + 1) / (2 * _THUMB))
"""DCT-II without normalisation (``scipy.fftpack.dct``'s default) as a matrix: ``_DCT @ x``."""


def perceptual_hash(image: Image.Image) -> str:
    """64-bit pHash of ``image`` as 16 lowercase hex digits (imagehash's ``phash``, its bits
    read row by row from the most significant)."""
    thumb = image.convert("L").resize((_THUMB, _THUMB), Image.Resampling.LANCZOS)
    pixels = np.asarray(thumb, dtype=np.float64)
    low = np.round((_DCT @ pixels @ _DCT.T)[:_KEPT, :_KEPT], 6)
    middle = np.sort(low, axis=None)[_KEPT * _KEPT // 2 - 1 : _KEPT * _KEPT // 2 + 1]
    # np.median's value (the mean of the two middle ones of 64), without its check for masked
    # arrays: that imports numpy.ma, 15 ms of every poster's start before the planes are cut.
    bits = (low > (middle[0] + middle[1]) / 2).ravel()
    return f"{int(''.join('1' if bit else '0' for bit in bits), 2):016x}"


_BLOCKS = 32  # blocks across the picture: each about a word of a poster's line
_MAX_WIDTH = 800  # pictures are compared at most this wide (a countdown's digits stay tens of pixels)
BLOCK_DIFFERENCE = 8.0
"""Largest mean grey difference (of 255) allowed in any block of two images called the same
picture. Measured on generated posters (``tests/ocr/test_hashing.py``): recompression (JPEG
quality 30-60) and resizing to half size leave at most 4 in every block; the next number of
a countdown on the same template leaves 14 to 60 in the blocks of its digits."""


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    """Whether ``a`` and ``b`` are one picture at another size or compression, not merely alike.

    pHash says two posters look alike, which is also true of two posters of one template with
    another number in the countdown: reusing one's reading for the other would give the wrong
    number. So the larger picture is brought to the smaller's size, both are blurred a little
    (resampling edges), and compared block by block: recompression and resizing spread small
    differences everywhere, a changed word concentrates a large one in its blocks. The shapes
    must match too (within 3 %): a crop is another picture.
    """
    if abs(a.width / a.height - b.width / b.height) > 0.03 * (a.width / a.height):
        return False
    width = min(a.width, b.width, _MAX_WIDTH)
    height = max(1, round(width * a.height / a.width))
    block = max(1, width // _BLOCKS)
    if height < block:
        return False
    x, y = (_grey_at(image, width, height) for image in (a, b))
    rows, cols = height // block * block, width // block * block
    diff = np.abs(x[:rows, :cols] - y[:rows, :cols])
    blocks = diff.reshape(rows // block, block, cols // block, block).mean(axis=(1, 3))
    return float(blocks.max()) <= BLOCK_DIFFERENCE


def _grey_at(image: Image.Image, width: int, height: int) -> np.ndarray:
    grey = image.convert("L").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(grey.filter(ImageFilter.GaussianBlur(width / 400)), dtype=np.float32)
