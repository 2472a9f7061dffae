"""Exact and perceptual fingerprints of images.

``sha256`` of the bytes names an image in the archive: the same file shared by ten channels is
stored and read once. The perceptual hash (imagehash's pHash: a DCT of a 32x32 grey thumbnail,
64 bits, stored as 16 hex digits) survives resizing, recompression and small crops, so a poster
re-posted in another size is found by ``tgmonitor similar`` at a small Hamming distance. pHash
rather than dHash: it is steadier under JPEG recompression and colour shifts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import imagehash
from PIL import Image

__all__ = ["SIMILAR_DISTANCE", "hamming", "perceptual_hash", "sha256_bytes"]

SIMILAR_DISTANCE = 10
"""Default largest Hamming distance (of 64 bits) between two images called near-duplicates."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def perceptual_hash(image: Image.Image) -> str:
    """64-bit pHash of ``image`` as 16 lowercase hex digits."""
    return str(imagehash.phash(image))


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {len(a)} and {len(b)} hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def nearest(wanted: str, hashes: Iterable[tuple[str, str]], max_distance: int) -> list[tuple[int, str, str]]:
    """``(distance, sha256, phash)`` of the ``(sha256, phash)`` pairs within ``max_distance`` bits
    of ``wanted``, nearest first (what ``similar`` and the bot's look-alikes rank). A hash of
    another length (an archive from an older hasher) is not comparable and is left out."""
    found = []
    for sha, phash in hashes:
        if len(phash) == len(wanted) and (distance := hamming(wanted, phash)) <= max_distance:
            found.append((distance, sha, phash))
    found.sort()
    return found
