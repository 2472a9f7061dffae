"""Poster OCR: safe image loading, hashing and Tesseract in a pool of killable worker processes.

Public API::

    settings = OcrSettings.from_config(config.ocr)
    outcome = recognize_file(path, settings)          # sync; OcrOutcome, never raises for a bad image
    async with OcrPool(settings, workers=2) as pool:  # off the event loop, one read per sha256
        outcome = await pool.recognize(path)
    tesseract_info()                                  # {"version", "languages", "path"}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from monitor.core.models import OcrOutcome
from ocr.settings import OcrSettings

if TYPE_CHECKING:
    from ocr.engine import recognize_file
    from ocr.hashing import SIMILAR_DISTANCE, hamming, nearest, perceptual_hash, sha256_bytes
    from ocr.images import LoadedImage, load_image, sniff_format
    from ocr.pool import OcrPool
    from ocr.tesseract import check_languages, install_command, library_mismatch, tesseract_info

__all__ = [
    "SIMILAR_DISTANCE",
    "LoadedImage",
    "OcrOutcome",
    "OcrPool",
    "OcrSettings",
    "check_languages",
    "hamming",
    "install_command",
    "library_mismatch",
    "load_image",
    "nearest",
    "perceptual_hash",
    "recognize_file",
    "sha256_bytes",
    "sniff_format",
    "tesseract_info",
]

_HOMES = {
    "recognize_file": "ocr.engine",
    **dict.fromkeys(
        ("SIMILAR_DISTANCE", "hamming", "nearest", "perceptual_hash", "sha256_bytes"), "ocr.hashing"
    ),
    **dict.fromkeys(("LoadedImage", "load_image", "sniff_format"), "ocr.images"),
    "OcrPool": "ocr.pool",
    **dict.fromkeys(
        ("check_languages", "install_command", "library_mismatch", "tesseract_info"), "ocr.tesseract"
    ),
    # the C module Tesseract's calls bind to: only ocr.library loads it right (into the global
    # scope, before libtesseract), so ``from ocr import _tesseract_calls`` is that module's
    "_tesseract_calls": "ocr.library",
}


def __getattr__(name: str) -> object:
    """Each name from its module on first use: importing the package or one light module of it
    (``ocr.settings``, ``ocr.first_passes``) imports neither the engine (numpy) nor asyncio, so
    ``check --image`` starts its first passes before they are imported (``ocr.first_passes``)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ocr' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
