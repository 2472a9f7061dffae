"""Pictures without text, drawn: what a channel posts besides posters (a landscape, a photo's
grain and colour, a sky, flames or a flag with nothing written on them).

Used by ``bench/ocr_speed.py`` and the tests of the no-text decision (``ocr.blank``): such a
picture must be recorded as having no text in a fraction of a second, and nothing drawn with
``scripts/posters.py`` may be taken for one. Seeded, so a run can be repeated.

    python -m scripts.pictures OUT_DIR [--seed 0]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from scripts.posters import _background, _smooth_noise

__all__ = ["KINDS", "draw_picture", "write_pictures"]

KINDS = ("landscape", "photo", "sky", "fire", "flag", "noise", "gradient", "dark")


def _ridge(rng: np.random.Generator, w: int, base: float, rough: float) -> np.ndarray:
    """A mountain skyline: heights (0-1 of the image, from the top) made of a few octaves of noise."""
    x = np.linspace(0.0, 1.0, w)
    height = np.full(w, base)
    for octave in range(5):
        knots = 3 * 2**octave
        points = rng.random(knots + 1)
        height += rough / 2**octave * (np.interp(x, np.linspace(0, 1, knots + 1), points) - 0.5)
    return height


def _landscape(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    sky = np.array([70, 120, 200], np.float32) * (1 - yy) + np.array([200, 220, 240], np.float32) * yy
    rgb = np.broadcast_to(sky, (h, w, 3)).copy()
    clouds = _smooth_noise(rng, w, h, max(8, w // 6), max(8, h // 12))
    rgb += (np.clip(clouds - 0.55, 0, 1) * 300)[..., None]
    sun_x, sun_y, radius = rng.uniform(0.1, 0.9) * w, rng.uniform(0.08, 0.3) * h, 0.05 * min(w, h)
    gy, gx = np.mgrid[0:h, 0:w]
    rgb[np.hypot(gx - sun_x, gy - sun_y) < radius] = (255, 240, 200)
    rows = np.arange(h)[:, None]
    for base, colour in ((0.45, (90, 100, 120)), (0.6, (60, 80, 60)), (0.75, (40, 70, 30))):
        top = (_ridge(rng, w, base, 0.25) * h)[None, :]
        shade = 0.8 + 0.4 * _smooth_noise(rng, w, h, max(4, w // 60))
        land = rows >= top
        rgb[land] = (np.array(colour, np.float32) * shade[..., None])[land]
    grass = rng.normal(0, 12, (h, w, 3)) * (rows > 0.75 * h)[..., None]
    return np.clip(rgb + grass, 0, 255)


def _photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Colour blobs at several scales and sensor grain: what a photo is to a text reader."""
    rgb = np.zeros((h, w, 3), np.float32)
    for cell, weight in ((max(8, w // 3), 0.5), (max(4, w // 12), 0.3), (max(2, w // 50), 0.2)):
        rgb += weight * np.stack([_smooth_noise(rng, w, h, cell) for _ in range(3)], axis=-1)
    return np.clip(rgb * 255 + rng.normal(0, 6, (h, w, 3)), 0, 255)


def draw_picture(kind: str, seed: int = 0, size: tuple[int, int] = (1280, 960)) -> Image.Image:
    """One picture of ``kind`` (one of :data:`KINDS`), with no text in it."""
    rng = np.random.default_rng(seed)
    w, h = size
    if kind == "landscape":
        rgb = _landscape(rng, w, h)
    elif kind == "photo":
        rgb = _photo(rng, w, h)
    elif kind == "sky":
        rgb = _landscape(rng, w, h * 3)[:h]
    else:
        rgb = _background(kind, w, h, rng)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(0.6))


def write_pictures(out_dir: Path | str, seed: int = 0) -> list[Path]:
    """Every kind once, as a JPEG of a channel's quality (75): the recompressed picture is what
    arrives."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, kind in enumerate(KINDS):
        buffer = io.BytesIO()
        draw_picture(kind, seed * 100 + index).save(buffer, "JPEG", quality=75)
        path = out / f"{kind}-{seed}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in write_pictures(args.out_dir, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
