"""Synthetic propaganda posters with ground truth, for OCR tests, benchmarks and the sample data.

Real posters from the channels cannot be shipped, so we draw look-alikes: Arabic and English
slogans, hashtags with Western and Eastern Arabic digits and underscores, countdown phrases, over
fire, flag, noise, dark, gradient and light backgrounds, 320-1280 px wide, some rotated a few
degrees, some saved as low-quality JPEG. Everything is seeded, so the same call always draws the
same pixels (for a given Pillow and font version): the images are regenerated, never committed.

Arabic is shaped by Pillow's raqm layout (``libraqm``); a font from a Debian package that is
missing is reported with the package to install. Vocabulary comes from
``shared/research/lexicon.json`` (copied here so the script works from the repository alone).

Usage::

    python -m scripts.posters OUT_DIR [--n 48] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, features

from monitor.core.text import normalize, words

__all__ = [
    "BACKGROUNDS",
    "KEYWORDS",
    "PosterSpec",
    "canonical_poster",
    "make_poster_set",
    "poster_specs",
    "render_poster",
    "to_eastern",
]

BACKGROUNDS = ("fire", "flag", "noise", "dark", "gradient", "light")

# Fonts by role: (path, Debian package). Noto Sans/Kufi Arabic lack '#' and '_', so Arabic lines
# carrying them use Amiri, which covers ASCII.
_FONT_FILES = {
    "noto-sans-arabic": ("/usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf", "fonts-noto-core"),
    "noto-naskh-arabic": ("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Bold.ttf", "fonts-noto-core"),
    "noto-kufi-arabic": ("/usr/share/fonts/truetype/noto/NotoKufiArabic-Bold.ttf", "fonts-noto-core"),
    "amiri": ("/usr/share/fonts/opentype/fonts-hosny-amiri/Amiri-Bold.ttf", "fonts-hosny-amiri"),
    "dejavu-sans": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "dejavu-serif": ("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf", "fonts-dejavu-core"),
    "noto-sans": ("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf", "fonts-noto-core"),
}
_ARABIC_FONTS = ("noto-sans-arabic", "noto-naskh-arabic", "noto-kufi-arabic", "amiri")
_ARABIC_ASCII_FONTS = ("amiri",)
_LATIN_FONTS = ("dejavu-sans", "dejavu-serif", "noto-sans")

_ARABIC = re.compile(r"[\u0600-\u06FF]")
_EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

# Lexicon terms (shared/research/lexicon.json) that can appear on a poster. The truth of every
# poster lists those found in its text after normalisation.
KEYWORDS: tuple[str, ...] = (
    "الانتقام قادم", "الانتقام", "الثأر", "ثأر المهندس", "يا لثارات الحسين", "القصاص",
    "دماء الشهداء لن تذهب هدرا", "الرد قادم", "انتظرونا", "قريبا", "القادم أعظم", "القادم أدهى",
    "ساعة الصفر", "ترقبوا", "العد التنازلي بدأ", "نحن أقرب مما تتصورون", "جايينكم", "العد التنازلي",
    "باقي", "انتهاء المهلة", "المهلة", "الرد المزلزل", "هدف مشروع", "بالتوابيت", "سنستهدف",
    "لغة السلاح", "الجاي أعظم", "باقيلكم", "يا محتلين", "المقاومة الإسلامية في العراق",
    "قواعد الاحتلال", "الاحتلال الأمريكي", "الشيطان الأكبر", "سرايا أولياء الدم",
    "Vengeance is Coming", "hell is coming", "legitimate target", "in coffins",
    "We are closer than you think", "what is coming is greater", "the response is coming",
    "coming soon", "wait for us", "days left", "the clock is ticking", "the countdown has begun",
    "War of Attrition", "Islamic Resistance in Iraq", "revenge for the blood of the martyrs",
)  # fmt: skip

_AR_SLOGANS = (
    "الانتقام قادم", "الرد قادم", "القادم أعظم", "القادم أدهى", "ساعة الصفر", "ترقبوا",
    "انتظرونا", "الرد المزلزل", "يا لثارات الحسين", "ثأر المهندس", "نحن أقرب مما تتصورون",
    "دماء الشهداء لن تذهب هدرا", "العد التنازلي بدأ", "قواعد الاحتلال هدف مشروع",
    "الجاي أعظم", "جايينكم يا محتلين", "سنستهدف قواعد الاحتلال", "لغة السلاح",
    "المقاومة الإسلامية في العراق", "الشيطان الأكبر بالتوابيت",
)  # fmt: skip
_EN_SLOGANS = (
    "VENGEANCE IS COMING", "HELL IS COMING", "WE ARE CLOSER THAN YOU THINK", "COMING SOON",
    "WAIT FOR US", "THE RESPONSE IS COMING", "WHAT IS COMING IS GREATER", "LEGITIMATE TARGET",
    "THE CLOCK IS TICKING", "THE COUNTDOWN HAS BEGUN", "Islamic Resistance in Iraq",
    "War of Attrition", "Vengeance is Coming", "in coffins",
)  # fmt: skip
_TAGS = ("#الانتقام_قادم", "#الرد_قادم", "#العد_التنازلي", "#قريبا", "#ساعة_الصفر", "#ترقبوا")


def to_eastern(text: str) -> str:
    """Write the ASCII digits of ``text`` as Eastern Arabic digits (٠-٩)."""
    return text.translate(_EASTERN)


@dataclass
class PosterSpec:
    """What one poster shows and how it is drawn."""

    name: str
    lines: list[str]
    background: str
    width: int
    seed: int
    rotate: float = 0.0
    jpeg_quality: int | None = None
    countdown: dict | None = None  # {"value": int, "unit": "day"|"hour", "text": str}


# --- fonts and text -----------------------------------------------------------------------------


def _font_path(key: str) -> str:
    path, package = _FONT_FILES[key]
    if not Path(path).exists():
        raise SystemExit(f"font {path} is missing: run `apt-get install -y {package}`")
    return path


def _check_raqm() -> None:
    if not features.check("raqm"):
        raise SystemExit("Pillow cannot shape Arabic without libraqm: run `apt-get install -y libraqm0`")


def _font(key: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(key), size, layout_engine=ImageFont.Layout.RAQM)


def _is_arabic(line: str) -> bool:
    return bool(_ARABIC.search(line))


def _line_font_key(line: str, rng: random.Random) -> str:
    if _is_arabic(line):
        if any(c in line for c in "#_:!") or re.search(r"[A-Za-z]", line):
            return rng.choice(_ARABIC_ASCII_FONTS)
        return rng.choice(_ARABIC_FONTS)
    return rng.choice(_LATIN_FONTS)


def _text_kwargs(line: str) -> dict:
    if _is_arabic(line):
        return {"direction": "rtl", "language": "ar"}
    return {"direction": "ltr", "language": "en"}


# --- backgrounds --------------------------------------------------------------------------------


def _smooth_noise(
    rng: np.random.Generator, w: int, h: int, cell: int, cell_h: int | None = None
) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid scaled up bicubically."""
    gw, gh = max(2, w // cell + 2), max(2, h // (cell_h or cell) + 2)
    grid = (rng.random((gh, gw)) * 255).astype(np.uint8)
    img = Image.fromarray(grid, "L").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def _fire_rgb(rng: np.random.Generator, w: int, h: int, start: float = 0.0) -> np.ndarray:
    """Flames rising from the bottom: black, dark red, orange, yellow."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    stretch = _smooth_noise(rng, w, h, max(8, w // 14), max(16, h // 3))  # tall tongues
    fine = _smooth_noise(rng, w, h, max(4, w // 40))
    heat = (y - start) / max(1e-3, 1.0 - start) * 1.25 + (stretch - 0.5) * 0.9 + (fine - 0.5) * 0.35
    heat = np.clip(heat, 0.0, 1.0)
    stops = np.array([0.0, 0.3, 0.55, 0.8, 1.0], dtype=np.float32)
    colours = np.array(
        [[15, 5, 5], [120, 10, 0], [220, 70, 0], [255, 160, 20], [255, 235, 140]], dtype=np.float32
    )
    rgb = np.stack([np.interp(heat, stops, colours[:, c]) for c in range(3)], axis=-1)
    return rgb


def _flag_rgb(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A flag (US stripes with a canton, or Iraq's red-white-black) burning from the bottom."""
    rgb = np.zeros((h, w, 3), dtype=np.float32)
    if rng.random() < 0.6:
        stripe = np.arange(h) * 13 // h
        red = np.array([178, 34, 52], dtype=np.float32)
        white = np.array([245, 245, 245], dtype=np.float32)
        rgb[:] = np.where((stripe % 2 == 0)[:, None, None], red, white)
        rgb[: h * 7 // 13, : w * 2 // 5] = np.array([60, 59, 110], dtype=np.float32)
    else:
        third = np.arange(h) * 3 // h
        palette = np.array([[206, 17, 38], [250, 250, 250], [10, 10, 10]], dtype=np.float32)
        rgb[:] = palette[third][:, None, :]
    # Cloth waves: shade the flag with a smooth field.
    shade = 0.75 + 0.35 * _smooth_noise(rng, w, h, max(16, w // 5))
    rgb *= shade[..., None]
    fire = _fire_rgb(rng, w, h, start=0.35)
    heat = fire.mean(axis=-1, keepdims=True) / 255.0
    alpha = np.clip(heat * 1.6, 0.0, 1.0)
    return rgb * (1 - alpha) + fire * alpha


def _background(kind: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "fire":
        return _fire_rgb(rng, w, h)
    if kind == "flag":
        return _flag_rgb(rng, w, h)
    if kind == "noise":
        coarse = np.stack([_smooth_noise(rng, w, h, max(6, w // 25)) for _ in range(3)], axis=-1)
        fine = rng.random((h, w, 3), dtype=np.float32)
        return (coarse * 0.7 + fine * 0.3) * 255.0
    if kind == "dark":
        base = rng.integers(8, 40, size=3).astype(np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
        vignette = 1.0 + 0.6 * (0.5 - r)[..., None]
        return np.clip(base * vignette + rng.normal(0, 3, (h, w, 3)), 0, 255)
    if kind == "gradient":
        a = rng.integers(0, 256, size=3).astype(np.float32)
        b = rng.integers(0, 256, size=3).astype(np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = ((xx / w + yy / h) / 2.0)[..., None]
        return a * (1 - t) + b * t
    if kind == "light":
        base = np.array([244, 240, 228], dtype=np.float32) - rng.integers(0, 20, size=3)
        return np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255)
    raise ValueError(f"unknown background {kind!r}; choose one of {', '.join(BACKGROUNDS)}")


def _luminance(rgb: np.ndarray) -> float:
    return float((rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).mean())


def _text_style(kind: str, region: np.ndarray, rng: random.Random) -> tuple[tuple, tuple | None, int]:
    """Fill colour, outline colour (or None) and outline width for text over ``region``."""
    light_fills = [(255, 255, 255), (255, 215, 0), (255, 240, 200)]
    dark_fills = [(0, 0, 0), (120, 0, 0), (0, 70, 30), (20, 20, 60)]
    if kind in ("fire", "flag"):
        # Designers keep text legible on flames: a contrasting outline, always.
        if rng.random() < 0.8:
            return rng.choice(light_fills), rng.choice([(0, 0, 0), (60, 0, 0)]), 3
        return (0, 0, 0), (255, 255, 255), 3
    if kind == "noise":
        if rng.random() < 0.5:
            return (255, 255, 255), (0, 0, 0), 2
        return (0, 0, 0), (255, 255, 255), 2
    if kind == "dark":
        return rng.choice([*light_fills, (220, 30, 30)]), None, 0
    if kind == "light":
        return rng.choice(dark_fills), None, 0
    fill = rng.choice(dark_fills) if _luminance(region) > 128 else rng.choice(light_fills)
    return fill, None, 0


# --- drawing ------------------------------------------------------------------------------------


def _fit_font(line: str, key: str, size: int, max_width: int, draw: ImageDraw.ImageDraw):
    while True:
        font = _font(key, size)
        left, top, right, bottom = draw.textbbox((0, 0), line, font=font, **_text_kwargs(line))
        if right - left <= max_width or size <= 10:
            return font, (left, top, right, bottom)
        size = max(10, int(size * 0.9))


def render_poster(
    lines: list[str],
    background: str,
    width: int,
    *,
    seed: int,
    rotate: float = 0.0,
    jpeg_quality: int | None = None,
    boxes: list[list[int]] | None = None,
) -> Image.Image:
    """Draw ``lines`` (Arabic right to left, others left to right) over ``background``.

    The height follows from the seed (portrait, square or landscape). Hashtag lines are drawn
    smaller, like the small tags at the bottom of real posters. With ``jpeg_quality`` the image is
    passed once through a JPEG encoder, so it carries real compression artefacts. ``boxes``, when
    given, receives the box ``[left, top, right, bottom]`` of each line as drawn (after rotation:
    the box around the turned corners), so benchmarks can tell a line not found from one misread.
    """
    _check_raqm()
    if not lines:
        raise ValueError("a poster needs at least one line")
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    aspect = rng.choice([0.75, 1.0, 1.25])
    height = round(width * aspect)
    pixels = _background(background, width, height, nrng)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)

    margin = int(width * 0.06)
    max_width = width - 2 * margin
    fitted = []
    for line in lines:
        key = _line_font_key(line, rng)
        scale = 0.065 if line.startswith("#") else rng.choice([0.085, 0.1, 0.11])
        size = max(12, int(width * scale))
        font, box = _fit_font(line, key, size, max_width, draw)
        fitted.append((line, font, box))
    gaps = int(height * 0.04)
    block = sum(b[3] - b[1] for _, _, b in fitted) + gaps * (len(fitted) - 1)
    if block > height - 2 * margin:  # too tall: shrink every line
        factor = (height - 2 * margin) / block
        fitted = [
            (
                line,
                *_fit_font(line, _line_font_key(line, rng), max(10, int(f.size * factor)), max_width, draw),
            )
            for line, f, _ in fitted
        ]
        block = sum(b[3] - b[1] for _, _, b in fitted) + gaps * (len(fitted) - 1)
    y = max(margin, (height - block) // 2 + rng.randint(-height // 12, height // 12))
    y = min(y, max(margin, height - margin - block))
    for line, font, (left, top, right, bottom) in fitted:
        w = right - left
        x = (width - w) // 2 + rng.randint(-margin // 2, margin // 2)
        x = min(max(x, 2), max(2, width - w - 2))
        region = pixels[max(0, y) : y + bottom - top + 1, max(0, x) : x + w + 1]
        fill, stroke, stroke_width = _text_style(background, region if region.size else pixels, rng)
        kwargs = _text_kwargs(line)
        if stroke is not None:
            kwargs |= {"stroke_width": max(1, stroke_width * font.size // 60), "stroke_fill": stroke}
        draw.text((x - left, y - top), line, font=font, fill=fill, **kwargs)
        if boxes is not None:
            boxes.append(_turned_box((x, y, x + w, y + bottom - top), rotate, width, height))
        y += bottom - top + gaps

    if rotate:
        edge = tuple(int(v) for v in pixels[0, 0])
        image = image.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=edge)
    if background == "noise":  # noise drawn on top of the text too, like a grainy photo
        grain = nrng.normal(0, 10, (height, width, 3))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8))
    if background in ("fire", "flag"):
        image = image.filter(ImageFilter.GaussianBlur(0.4))
    if jpeg_quality is not None:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=jpeg_quality)
        buffer.seek(0)
        image = Image.open(buffer)
        image.load()
    return image


def _turned_box(box: tuple[int, int, int, int], degrees: float, width: int, height: int) -> list[int]:
    """The box around ``box`` after Pillow's ``rotate(degrees)`` about the image centre."""
    if not degrees:
        return list(box)
    angle = np.deg2rad(degrees)
    cx, cy = width / 2, height / 2
    xs, ys = [], []
    for px, py in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
        dx, dy = px - cx, py - cy  # counter-clockwise on screen, y pointing down
        xs.append(cx + dx * np.cos(angle) + dy * np.sin(angle))
        ys.append(cy - dx * np.sin(angle) + dy * np.cos(angle))
    return [
        max(0, int(min(xs))),
        max(0, int(min(ys))),
        min(width, int(max(xs)) + 1),
        min(height, int(max(ys)) + 1),
    ]


# --- the poster set -----------------------------------------------------------------------------


def canonical_poster() -> PosterSpec:
    """The flag in flames with "VENGEANCE IS COMING" and "#59daysleft" (MEMRI, Nov 2021)."""
    return PosterSpec(
        name="p00-flag-canonical",
        lines=["VENGEANCE IS COMING", "#59daysleft"],
        background="flag",
        width=1080,
        seed=59,
        countdown={"value": 59, "unit": "day", "text": "#59daysleft"},
    )


def _countdown_line(rng: random.Random, eastern: bool) -> tuple[str, dict]:
    """A countdown phrase in one of the shapes seen on posters, with its value and unit."""
    unit = "hour" if rng.random() < 0.25 else "day"
    value = rng.choice([12, 24, 48, 72]) if unit == "hour" else rng.randint(3, 99)
    n = to_eastern(str(value)) if eastern else str(value)
    if unit == "hour":
        shapes = [f"متبقي {n} ساعة", f"باقي {n} ساعة", f"#باقي_{n}_ساعة"]
        if not eastern:
            shapes += [f"{n} HOURS LEFT", f"#{n}hoursleft"]
    else:
        shapes = [f"#باقي_{n}_يوما", f"باقي {n} يوما", f"لم يتبق سوى {n} يوما", f"العد التنازلي {n} يوما"]
        if not eastern:
            shapes += [f"#{n}daysleft", f"{n} DAYS LEFT", f"#{n}_days_left", f"Only {n} days left"]
    text = rng.choice(shapes)
    return text, {"value": value, "unit": unit, "text": text}


def poster_specs(n: int = 48, seed: int = 0) -> list[PosterSpec]:
    """The specs of ``n`` posters: the canonical one first, then every background in turn."""
    rng = random.Random(seed)
    specs = [canonical_poster()]
    widths = [320, 400, 480, 560, 640, 720, 800, 960, 1080, 1280]
    for i in range(1, n):
        background = BACKGROUNDS[i % len(BACKGROUNDS)]
        lines: list[str] = []
        if rng.random() < 0.8:
            lines.append(rng.choice(_AR_SLOGANS))
        if rng.random() < 0.6 or not lines:
            lines.append(rng.choice(_EN_SLOGANS))
        countdown = None
        if rng.random() < 0.75:
            text, countdown = _countdown_line(rng, eastern=rng.random() < 0.6)
            lines.insert(rng.randint(0, len(lines)), text)
        if rng.random() < 0.6:
            lines.append(rng.choice(_TAGS))
        rotate = round(rng.uniform(1.0, 3.0) * rng.choice([-1, 1]), 1) if rng.random() < 0.3 else 0.0
        quality = rng.randint(40, 60) if rng.random() < 0.35 else None
        width = widths[(i * 7 + rng.randint(0, 2)) % len(widths)]
        specs.append(
            PosterSpec(
                name=f"p{i:02d}-{background}",
                lines=lines,
                background=background,
                width=width,
                seed=seed * 1000 + i,
                rotate=rotate,
                jpeg_quality=quality,
                countdown=countdown,
            )
        )
    return specs


def keywords_in(lines: list[str]) -> list[str]:
    """Lexicon terms present in ``lines`` as whole words after normalisation."""
    text = f" {' '.join(words(normalize(' '.join(lines))))} "
    return [term for term in KEYWORDS if f" {' '.join(words(normalize(term)))} " in text]


def hashtags_in(lines: list[str]) -> list[str]:
    return [token for line in lines for token in line.split() if token.startswith("#")]


def truth_of(spec: PosterSpec, image: Image.Image, file_name: str, boxes: list | None = None) -> dict:
    return {
        "file": file_name,
        "lines": spec.lines,
        "boxes": boxes or [],
        "keywords": keywords_in(spec.lines),
        "hashtags": hashtags_in(spec.lines),
        "countdown": spec.countdown,
        "eastern_digits": any("\u0660" <= c <= "\u0669" for line in spec.lines for c in line),
        "background": spec.background,
        "size": list(image.size),
        "rotation": spec.rotate,
        "jpeg_quality": spec.jpeg_quality,
        "seed": spec.seed,
    }


def write_poster(spec: PosterSpec, out_dir: Path) -> dict:
    """Render ``spec`` into ``out_dir`` (PNG, or JPEG at its quality) and return its truth."""
    boxes: list[list[int]] = []
    image = render_poster(
        spec.lines, spec.background, spec.width, seed=spec.seed, rotate=spec.rotate, boxes=boxes
    )
    if spec.jpeg_quality is not None:
        file_name = f"{spec.name}.jpg"
        image.save(out_dir / file_name, "JPEG", quality=spec.jpeg_quality)
    else:
        file_name = f"{spec.name}.png"
        image.save(out_dir / file_name, "PNG")
    return truth_of(spec, image, file_name, boxes)


def make_poster_set(out_dir: Path | str, n: int = 48, seed: int = 0) -> list[dict]:
    """Write ``n`` posters and ``truth.json`` (a list, one entry per image) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth = [write_poster(spec, out) for spec in poster_specs(n, seed)]
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    truth = make_poster_set(args.out_dir, args.n, args.seed)
    print(f"{len(truth)} posters and truth.json written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
