"""Distances between perceptual hashes (16 hex digits, 64 bits), for every layer that ranks them.

The hashes are made in :mod:`ocr.hashing`; comparing them needs no imaging library, so it lives
here, where the store (a re-posted poster taking an earlier reading) and the commands ranking
look-alikes (``similar``, the bot) share one definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

Key = TypeVar("Key")

__all__ = ["hamming", "nearest"]


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {len(a)} and {len(b)} hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def nearest(wanted: str, hashes: Iterable[tuple[Key, str]], max_distance: int) -> list[tuple[int, Key, str]]:
    """``(distance, key, phash)`` of the ``(key, phash)`` pairs (a key: an image's SHA-256, an
    alert's id) within ``max_distance`` bits of ``wanted``, nearest first (what ``similar``, the
    bot's look-alikes and campaigns rank). A hash of another length (an archive from an older
    hasher) or not hex is not comparable and is left out."""
    found: list[tuple[int, Key, str]] = []
    for key, phash in hashes:
        if len(phash) != len(wanted):
            continue
        try:
            distance = hamming(wanted, phash)
        except ValueError:
            continue
        if distance <= max_distance:
            found.append((distance, key, phash))
    found.sort()
    return found
