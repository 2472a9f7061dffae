"""What goes into an OCR run (:class:`OcrSettings`) and what comes out (:class:`OcrOutcome`).

Both are plain, JSON-friendly dataclasses: settings travel to the worker processes and outcomes
travel back as one line of JSON each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "DEFAULT_PASSES",
    "FILLED_MASKS",
    "NOISE_VARIABLE",
    "READING_PASSES",
    "TESSERACT_NOISE_HEIGHT",
    "OcrSettings",
]

DEFAULT_PASSES = ("grey", "red", "green", "blue", "white", "black", "gold", "white-fill", "black-fill")
"""Image planes read by Tesseract, chosen by measurement (see ``ocr.planes`` and ``bench/README.md``)."""

FILLED_MASKS = {"white-fill": "white", "black-fill": "black"}
"""Each filled mask and the mask it fills the letter holes of (``ocr.planes``): the evidence step
counts the two as one reader where nothing was filled under a word (``ocr.evidence``)."""

READING_PASSES: dict[str, dict[str, tuple[str, ...]]] = {
    "thorough": {},
    # The nearest set to plain Tesseract's speed that holds every quality floor of issue 18: no
    # blue plane (its flames' countdown ``#65_days_left`` read by it alone) and the rows re-read
    # from the grey plane alone (two fire and dark posters' countdowns). bench/README.md, stops 51, 53
    "quick": {"passes": tuple(name for name in DEFAULT_PASSES if name != "blue"), "row_planes": ("grey",)},
}
"""The passes of each ``[ocr] reading`` (``monitor.core.config.READINGS``): what it changes from
the defaults."""

NOISE_VARIABLE = "textord_max_noise_size"
"""Tesseract's parameter for the height (pixels) under which its page layout takes a blob for noise."""
TESSERACT_NOISE_HEIGHT = 7
"""Its own default, kept by every pass but the plane passes (``OcrSettings.plane_noise_height``)."""


@dataclass(frozen=True)
class OcrSettings:
    """How to read posters. Defaults are the measured best; the config file sets the limits."""

    languages: str = "ara+eng"
    timeout: float = 60.0  # seconds per image, the worker is killed after that
    pass_timeout: float = 3.0  # CPU seconds per Tesseract pass (rounded up): one that uses more is skipped
    max_pixels: int = 40_000_000
    max_bytes: int = 25 * 1024 * 1024
    max_side: int = 1600  # long side capped before OCR
    passes: tuple[str, ...] = DEFAULT_PASSES
    psm: int = 11
    # The plane passes' page layout takes blobs shorter than this (px) for noise, not Tesseract's 7:
    # 10 is its own smallest credible x-height (``textord_min_xheight``), and a shorter blob is a
    # speck of grain or texture, not a letter, which psm 11 read as junk words (a grain poster's
    # grey plane: 30 junk words in 0.68 s, none in 0.09 s). Dots and marks still go with the crop
    # of their word. The line stacks, rows and digits keep Tesseract's own. bench/README.md, stop 44
    plane_noise_height: int = 10
    min_confidence: float = 30.0  # words below this are dropped as junk
    digits_model: str | None = "Arabic"  # Tesseract's Arabic *script* model: reads ٢-٩
    digits_pass: bool = True  # re-read countdown lines with ``digits_model``
    digits_scope: str = "lines"  # "lines": crops of countdown-like lines; "page": the whole grey image
    row_pass: bool = True  # re-read each row of text cut out of the fill masks and grey (psm 6)
    # The planes each row is cut from for that re-read: grey alone is 8-9 % quicker and reads two
    # fire and dark posters' countdowns wrong (bench/README.md, stop 46; ``ours-rowsgrey``)
    row_planes: tuple[str, ...] = ("white-fill", "black-fill", "grey")
    glyph_digits: bool = True  # read Eastern Arabic digits of countdown lines by glyph shape (ocr.digits)
    line_pass: bool = True  # text lines found on colour masks, cut out clean, read stacked (ocr.lines)
    line_zoom_below: int = 640  # images with a shorter long side are enlarged 2x before lines are found
    upscale_below: int = 0  # upscale 2x when the long side is below this (0: never)
    double_below: int = 500  # a smaller image's planes are read at twice its size too (0: never)
    no_text_check: bool = True  # a picture without strong edges is recorded as no text, unread (ocr.blank)
    # "library": tesserocr in this process (ocr.library), built against Debian's Tesseract: the same
    # readings as the command, its models loaded once per process; "command": tesseract runs (planes
    # read alike batched in one, ocr.tesseract). bench/README.md, OCR speed
    tesseract: str = "library"
    evidence: bool = True  # only lines with agreement and dictionary words reach the text (ocr.evidence)
    # Words of these channels (the alert rules' vocabulary, ``alerts.rules.RuleSet.vocabulary``)
    # spelt beside Tesseract's dictionary when the dots a pass lost are put back (``ocr.dots``):
    # ``نتصورون`` takes the ``تتصورون`` another pass read there, ``تأر`` the dots of the one known
    # word of its shapes, ``ثأر``. They change no pass, only the finish. bench/README.md, stop 50
    known_words: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> OcrSettings:
        """Settings from ``monitor.core.config.OcrConfig`` (languages, timeout, limits, and the
        passes of its ``reading``)."""
        values: dict[str, Any] = dict(READING_PASSES[getattr(config, "reading", "thorough")])
        values |= {
            name: getattr(config, name)
            for name in (
                "languages",
                "timeout",
                "pass_timeout",
                "max_pixels",
                "max_bytes",
                "max_side",
                "tesseract",
            )
            if hasattr(config, name)
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON takes them (the pool's workers get them so): tuples as lists."""
        return {
            name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OcrSettings:
        """Settings from :meth:`to_dict` (unknown names ignored): every tuple field a tuple
        again, so that the settings stay hashable whichever field holds a sequence."""
        tuples = {f.name for f in fields(cls) if isinstance(f.default, tuple)}
        values = {
            f.name: tuple(data[f.name]) if f.name in tuples else data[f.name]
            for f in fields(cls)
            if f.name in data
        }
        return cls(**values)
