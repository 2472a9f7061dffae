"""Poster OCR: safe image loading, hashing and Tesseract in a pool of killable worker processes.

Public API::

    settings = OcrSettings.from_config(config.ocr)
    outcome = recognize_file(path, settings)          # sync; OcrOutcome, never raises for a bad image
    async with OcrPool(settings, workers=2) as pool:  # off the event loop, one read per sha256
        outcome = await pool.recognize(path)
    tesseract_info()                                  # {"version", "languages", "path"}
"""

from monitor.core.models import OcrOutcome
from ocr.engine import recognize_file
from ocr.hashing import SIMILAR_DISTANCE, hamming, nearest, perceptual_hash, sha256_bytes
from ocr.images import LoadedImage, load_image, sniff_format
from ocr.settings import OcrSettings
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


def __getattr__(name: str) -> object:
    """``OcrPool`` on first use: it imports asyncio, which a one-image read (``check --image``)
    does not need (0.01 s of its start)."""
    if name == "OcrPool":
        from ocr.pool import OcrPool

        return OcrPool
    raise AttributeError(f"module 'ocr' has no attribute {name!r}")
