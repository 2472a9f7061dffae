"""Which passes and models one image's read takes, and each pass's CPU seconds, from its settings.

Light to import (no numpy, no Tesseract): a one-image process (``check --image``) works out its
models here and starts its first passes (``ocr.first_passes``) before the rest of the engine is
imported.
"""

from __future__ import annotations

import os

from ocr.settings import OcrSettings

__all__ = ["DIGITS_PASS", "ROWS_PARTS", "ROWS_PASS", "WAYS", "models_of", "pass_timeout", "second_passes"]

ROWS_PASS = "rows"  # the rows cut out alone and re-read (``ocr.passes``): a clean crop too
DIGITS_PASS = "digits"  # the script-model re-read of countdown lines: constructed lines, not readings
ROWS_PARTS = (f"{ROWS_PASS}:0", f"{ROWS_PASS}:1")
"""The rows pass's two stacks, each one Tesseract run (``ocr.passes._rows_of_part``), as second passes."""

WAYS = max(1, min(2, os.cpu_count() or 1))
"""Tesseract runs side by side when one image is read in this process (``check --image``, the
bot's and the web desk's reads): the machines this runs on have two cores."""


def second_passes(settings: OcrSettings) -> list[str]:
    """The passes that need the plane passes first: each is one more Tesseract run (``read_second``)."""
    names = []
    if settings.row_pass:  # two parts, side by side (``_rows_of_part``)
        names += ROWS_PARTS
    if settings.digits_pass and settings.digits_model:
        names.append(DIGITS_PASS)
    return names


def models_of(settings: OcrSettings, ways: int) -> dict[str, int]:
    """The Tesseract models one image's passes use, and how many of each at once when ``ways``
    runs go side by side: the plane batches' languages (``ways`` of them; the rows pass reuses
    one), a model per language for the line stacks, the digits pass's script model."""
    wanted = {settings.languages: max(1, ways)}
    if settings.line_pass:  # the stacks of ``ocr.planes.line_planes``, one per language
        wanted |= {lang: max(wanted.get(lang, 0), 1) for lang in settings.languages.split("+") if lang}
    if DIGITS_PASS in second_passes(settings):
        wanted.setdefault(settings.digits_model, 1)
    return wanted


def pass_timeout(settings: OcrSettings) -> float:
    """CPU time allowed to one pass: ``pass_timeout``, and never more than a share of the image's
    timeout. A pass that bogs down (psm 11 on grain ran 5-8 s for nothing where a median-filtered
    copy took 0.5 s; minutes on large grainy images) is skipped instead of failing the image;
    ordinary passes take 0.1-1.5 s at 1600 px on the 2-core machine."""
    return min(settings.pass_timeout, max(1.0, settings.timeout / (len(settings.passes) + 2)))
