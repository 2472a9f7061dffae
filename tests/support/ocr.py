"""Helpers for the OCR tests: generated posters and hand-made bad images."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

from ocr.planes import frame_planes, twin_planes
from ocr.settings import OcrSettings
from scripts.posters import PosterSpec, render_poster, to_eastern

# A handful of posters, one or two per category the issue names. Each is (name, spec kwargs).
POSTERS: dict[str, dict] = {
    "canonical": {"lines": ["VENGEANCE IS COMING", "#59daysleft"], "background": "flag", "width": 1080, "seed": 59},
    "arabic-light": {"lines": ["الانتقام قادم", "#الرد_قادم"], "background": "light", "width": 800, "seed": 3},
    "eastern-countdown": {"lines": [f"باقي {to_eastern('59')} يوما"], "background": "light", "width": 800, "seed": 1},
    "english-dark": {"lines": ["HELL IS COMING", "72 HOURS LEFT"], "background": "dark", "width": 800, "seed": 7},
    "gradient-jpeg": {
        "lines": ["THE RESPONSE IS COMING", "باقي 26 يوما"],
        "background": "gradient",
        "width": 960,
        "seed": 11,
        "jpeg_quality": 50,
        "rotate": 2.0,
    },
    # Eastern Arabic digits on busy backgrounds (issue 4): read by ocr.digits
    "eastern-hashtag-fire": {"lines": [f"#باقي_{to_eastern('59')}_يوما", "الانتقام قادم"], "background": "fire", "width": 800, "seed": 2},
    "eastern-hours-dark": {"lines": ["الرد قادم", f"متبقي {to_eastern('48')} ساعة"], "background": "dark", "width": 800, "seed": 2},
    # a countdown word without a number: must not become a countdown
    "no-countdown-fire": {"lines": ["العد التنازلي بدأ", "#العد_التنازلي"], "background": "fire", "width": 800, "seed": 5},
}  # fmt: skip


def write_poster(folder: Path, name: str) -> Path:
    spec = POSTERS[name]
    image = render_poster(
        spec["lines"],
        spec["background"],
        spec["width"],
        seed=spec["seed"],
        rotate=spec.get("rotate", 0.0),
    )
    if spec.get("jpeg_quality"):
        path = folder / f"{name}.jpg"
        image.save(path, "JPEG", quality=spec["jpeg_quality"])
    else:
        path = folder / f"{name}.png"
        image.save(path, "PNG")
    return path


def plane_twins(path: Path) -> dict[str, str]:
    """The planes of the image at ``path`` (default settings) that are another plane's pixels,
    each with that plane's name: read once, so not among the Tesseract runs the pool counts."""
    with Image.open(path) as image:
        return twin_planes(frame_planes(image.convert("RGB"), OcrSettings()))


def spec_of(name: str) -> PosterSpec:
    spec = POSTERS[name]
    return PosterSpec(name=name, **{k: v for k, v in spec.items() if k != "jpeg_quality"})


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` grey pixels (only one row is stored)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def image_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()
