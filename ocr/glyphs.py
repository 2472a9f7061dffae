"""What one connected component of ink is: an Eastern Arabic digit, a Western digit, or a letter.

Debian's ``ara`` Tesseract model cannot emit ٢-٩, so countdown numbers written in Eastern Arabic
digits are read here, glyph by glyph. A component is described by a gradient-orientation
histogram (HOG: 4x4 cells, 8 orientations) of its bitmap fitted into a square, a coarse 8x8
bitmap and its aspect ratio, and labelled by its nearest neighbours among examples drawn at
start from every installed font that has Arabic-Indic digits (about 80 with the Debian packages
``./dev`` installs: KACST, Arabeyes, SIL, FreeFont, Thabit, Farsiweb, DejaVu, Noto extras),
each drawn plain, thicker, thinner and turned by ±4 degrees. Letters of the words that stand
next to countdown numbers are examples too, labelled "not a digit".

The fonts the synthetic posters are drawn with (``scripts/posters.py``: Noto Sans, Naskh and
Kufi Arabic, Amiri, DejaVu Sans Bold, DejaVu Serif Bold, Noto Sans) are left out, in every
weight, so that ``bench/ocr_quality.py`` measures reading fonts never seen; real posters use
other fonts again (how well it labels them: ``bench/README.md``, OCR). ١ alone is an alef
stroke and ٠ alone a dot: ``ocr.digits`` settles those from the neighbouring digits.

Why nearest neighbours and not a trained network: the examples are drawn, not collected, so
"training" is drawing them (cached on disk, about 10 s once); numpy answers a query in a few
milliseconds, and no model file has to be shipped or downloaded.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ocr.components import dilate, erode, label_components
from ocr.disk_cache import cache_file, file_stamps, write_atomically

log = logging.getLogger(__name__)

__all__ = ["EASTERN", "GlyphModel", "component_label", "glyph_model", "template_fonts", "warm_up"]

EASTERN = "٠١٢٣٤٥٦٧٨٩"
_PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
_PERSIAN_SAME_SHAPE = "۰۱۲۳۷۸۹"  # ۴ ۵ ۶ differ from ٤ ٥ ٦; the rest are the same glyphs
_WESTERN = "0123456789"
# Words seen around countdown numbers: their pieces are examples of "not a digit".
_WORDS = (
    "باقي", "يوما", "يوم", "ايام", "متبقي", "ساعة", "ساعات", "لم يتبق سوى", "العد التنازلي",
    "بقي", "تبقى", "المهلة", "الانتقام قادم", "الرد", "قريبا", "ترقبوا", "#", "_",
)  # fmt: skip
_VERSION = 1  # bump when the features or the examples change: the disk cache is keyed on it
_SIZE = 24
_FONT_DIRS = ("/usr/share/fonts",)
# The synthetic posters' font families (scripts/posters.py), kept out of the examples.
_POSTER_FONTS = (
    "Amiri",
    "NotoSansArabic",
    "NotoNaskhArabic",
    "NotoKufiArabic",
    "DejaVuSans-Bold.",
    "DejaVuSerif-Bold.",
    "NotoSans-Bold.",
)
_SKIP = ("Quran", "Colored", "Emoji")


def _has_digits(path: str) -> bool:
    """Whether the font draws ٠-٩ as ten different glyphs (not missing-glyph boxes)."""
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return False
    shapes = set()
    for char in EASTERN:
        mask = font.getmask(char)
        if mask.getbbox() is None:
            return False
        shapes.add(bytes(mask))
    return len(shapes) >= len(EASTERN) - 1


@lru_cache(maxsize=1)
def template_fonts() -> tuple[str, ...]:
    """Installed fonts with Eastern Arabic digits, the poster generator's fonts left out.

    Which fonts have them is found by drawing their digits: 0.23 s for the 365 font files of
    ``./dev``'s Debian packages, which every process that read a countdown poster paid before it
    could even find its cached examples. So the answer is kept on disk too, keyed on each
    candidate file's path, size and modification time (a stat each): a font installed, removed
    or updated gives a new key, and the fonts are drawn again."""
    candidates = _candidate_fonts()
    cache = cache_file("fonts", (_VERSION, file_stamps(candidates)), ".txt")
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return tuple(cache.read_text(encoding="utf-8").splitlines())
    paths = tuple(str(path) for path in candidates if _has_digits(str(path)))
    with contextlib.suppress(OSError):  # a read-only home: found again by the next process
        write_atomically(cache, "\n".join(paths).encode())
    return paths


def _candidate_fonts() -> list[Path]:
    """The font files that could give examples: TrueType and OpenType, the poster generator's
    families and the decorative ones left out."""
    found = []
    for folder in _FONT_DIRS:
        for path in sorted(Path(folder).rglob("*")):
            name = path.name
            if path.suffix.lower() not in (".ttf", ".otf") or name.startswith(_POSTER_FONTS):
                continue
            if not any(word in name for word in _SKIP):
                found.append(path)
    return found


# --- features ---------------------------------------------------------------------------------


def trim(mask: np.ndarray) -> np.ndarray:
    """``mask`` cut to the box of its ink."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return mask
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def features(mask: np.ndarray) -> np.ndarray:
    """The description of one component (``mask`` trimmed to its box, True = ink)."""
    height, width = mask.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = np.where(mask, 255, 0)
    picture = Image.fromarray(square)
    grid = np.asarray(picture.resize((_SIZE, _SIZE), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    gy, gx = np.gradient(grid)
    magnitude = np.hypot(gx, gy)
    orientation = np.minimum(((np.arctan2(gy, gx) % np.pi) / np.pi * 8).astype(np.int64), 7)
    cell = _SIZE // 4
    cells = (np.arange(_SIZE) // cell)[:, None] * 4 + (np.arange(_SIZE) // cell)[None, :]
    hog = np.bincount((cells * 8 + orientation).ravel(), magnitude.ravel(), minlength=128).astype(np.float32)
    hog /= np.linalg.norm(hog) + 1e-6
    coarse = np.asarray(picture.resize((8, 8), Image.Resampling.BILINEAR), dtype=np.float32).ravel()
    coarse /= np.linalg.norm(coarse) + 1e-6
    aspect = np.float32(np.log(height / max(1, width)))
    return np.concatenate([hog, coarse * 0.7, [aspect * 0.5]]).astype(np.float32)


# --- examples ---------------------------------------------------------------------------------


def _draw(text: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
    probe = ImageDraw.Draw(Image.new("L", (4, 4)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font, direction="rtl", language="ar")
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), text, font=font, fill=255, direction="rtl", language="ar")
    return np.asarray(image) > 127


def _components(mask: np.ndarray) -> list[np.ndarray]:
    found = label_components(mask, 8)
    return [found.mask_of(i) for i in range(found.count)]


def _variants(mask: np.ndarray, letters: bool) -> list[np.ndarray]:
    """The glyph plain, thicker, thinner and turned a little: as poster text comes back from masks."""
    out = [mask, dilate(mask)]
    thinner = erode(mask)
    if thinner.sum() > 0.3 * mask.sum():
        out.append(thinner)
    if not letters:
        for angle in (-4, 4):
            turned = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).rotate(
                angle, expand=True, resample=Image.Resampling.BILINEAR
            )
            out.append(np.asarray(turned) > 127)
    return [trim(v) for v in out if v.any()]


def _examples(fonts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    vectors: list[np.ndarray] = []
    labels: list[str] = []
    for path in fonts:
        try:
            font = ImageFont.truetype(path, 40, layout_engine=ImageFont.Layout.RAQM)
        except OSError:
            continue
        glyphs = [(c, str(i)) for i, c in enumerate(EASTERN)]
        glyphs += [(c, str(_PERSIAN.index(c))) for c in _PERSIAN if c not in _PERSIAN_SAME_SHAPE]
        glyphs += [(c, "w" + c) for c in _WESTERN]
        for char, label in glyphs:
            parts = _components(_draw(char, font))
            if not parts:
                continue
            for variant in _variants(max(parts, key=np.count_nonzero), letters=False):
                vectors.append(features(variant))
                labels.append(label)
        for word in _WORDS:
            for part in _components(_draw(word, font)):
                if np.count_nonzero(part) > 6:
                    for variant in _variants(trim(part), letters=True):
                        vectors.append(features(variant))
                        labels.append("x")
    if not vectors:
        return np.zeros((0, 128 + 64 + 1), dtype=np.float32), np.array([], dtype="<U3")
    return np.stack(vectors), np.array(labels)


class GlyphModel:
    """Labelled examples and their nearest-neighbour vote."""

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, norms: np.ndarray | None = None):
        self.vectors = vectors
        self.labels = labels
        self.norms = (vectors * vectors).sum(axis=1) if norms is None else norms

    def __len__(self) -> int:
        return len(self.labels)

    def label(self, mask: np.ndarray, k: int = 5) -> tuple[str, float]:
        """The label of a component (``"0"``-``"9"``, ``"w0"``-``"w9"`` or ``"x"``) and its distance."""
        if not len(self.labels):
            return "x", float("inf")
        query = features(trim(mask))
        # 2 * (V @ q), not (2 * V) @ q: that doubled all 30,000 examples (24 MB) on every call,
        # 3.2 ms a label instead of 1.3 (the same floats: doubling is exact)
        distances = self.norms - 2 * (self.vectors @ query) + float(query @ query)
        nearest = np.argpartition(distances, min(k, len(distances) - 1))[:k]
        nearest = nearest[np.argsort(distances[nearest])]
        votes: dict[str, float] = {}
        for rank, index in enumerate(nearest):
            votes[str(self.labels[index])] = votes.get(str(self.labels[index]), 0.0) + 1.0 / (1 + rank)
        best = max(votes, key=votes.__getitem__)
        return best, float(np.sqrt(max(0.0, distances[nearest[0]])))


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> GlyphModel:
    """The examples from the disk cache, else drawn (and cached). The cache is two files: the
    vectors (24 MB) as a plain array that is mapped, not read, and the labels with each
    vector's squared norm. Reading them all from one archive and working out the norms took
    0.05 s of the first countdown poster of every process; mapped, 2 ms."""
    fonts = template_fonts()
    made_from = (_VERSION, _SIZE, _WORDS, fonts, "mapped vectors, kept norms")
    vectors_file = cache_file("glyphs", made_from, ".npy")
    rest_file = cache_file("glyphs", made_from, ".npz")
    with contextlib.suppress(OSError, ValueError, KeyError):
        # read-only (nothing writes to the examples), and a plain array over the mapping
        vectors = np.asarray(np.load(vectors_file, mmap_mode="r"))
        with np.load(rest_file) as data:
            labels, norms = data["labels"], data["norms"]
        if len(vectors) == len(labels) == len(norms):  # else two files of different drawings
            return GlyphModel(vectors, labels, norms)
    if not fonts:
        log.warning(
            "no fonts with Eastern Arabic digits: countdown numbers in ٠-٩ will be missed "
            "(apt-get install -y fonts-kacst fonts-arabeyes fonts-sil-scheherazade fonts-dejavu-extra)"
        )
    model = GlyphModel(*_examples(fonts))
    with contextlib.suppress(OSError):  # a read-only home: keep it in memory only
        packed = io.BytesIO()
        np.save(packed, model.vectors)
        write_atomically(vectors_file, packed.getvalue())
        packed = io.BytesIO()
        np.savez(packed, labels=model.labels, norms=model.norms)
        write_atomically(rest_file, packed.getvalue())
    return model


def glyph_model() -> GlyphModel:
    """The examples, drawn once per process (or loaded from the cache on disk)."""
    with _LOCK:  # a warm-up thread may be drawing them right now
        return _model()


def warm_up() -> None:
    """Draw or load the examples now, rather than in the middle of the first countdown poster."""
    glyph_model()


def component_label(mask: np.ndarray) -> tuple[str, float]:
    """The label of one component: see :meth:`GlyphModel.label`."""
    return glyph_model().label(mask)
