"""Reading posters with Tesseract: the passes, the junk filter, the merge, the digits, the vote.

The pipeline was chosen by measurement on the posters of ``scripts/posters.py`` with
``python -m bench.ocr_quality`` (48 posters a seed; keyword+hashtag recall on the normalised
words of the OCR text / countdown value accuracy / seconds per image with 2 jobs on 2 cores).
Tuned on seeds 0 and 1; seed 2 was held out until its first measurement, seeds 3 and 4 were
drawn after the last change and only measured. In one run per seed, plain Tesseract next to it:

=================  =========================  ==============================
seed (countdowns)  plain ``-l ara+eng``       **ours**
=================  =========================  ==============================
0 (33, 14 E)       44.9 / 27.3 / 0 / 0.2      94.6 / 97.0 / 92.9 / 4.1
1 (35, 20 E)       39.7 / 11.4 / 0 / 0.2      92.9 / 94.3 / 95.0 / 4.3
2 (39, 27 E)       27.8 / 10.3 / 0 / 0.2      94.3 / 92.3 / 88.9 / 3.9
3 (39, 23 E)       40.2 /  7.7 / 0 / 0.2      93.3 / 92.3 / 95.7 / 3.8
4 (36, 20 E)       42.0 / 22.2 / 0 / 0.2      89.2 / 88.9 / 95.0 / 3.9
all 240 posters    38.9 / 15.4                92.9 / 92.9
=================  =========================  ==============================

(each: kw+tag keyword and hashtag recall % / cd countdown value accuracy % / E the same on the
countdowns written in Eastern Arabic digits / s seconds per image, 2 jobs on 2 cores.)

No false countdown and no lexicon word that is not on the poster (``false kw``) in any seed.
Before the line crops and the many-font digit reader (the same bench, seed 0 / 1): 81.4 / 78.3 %
recall, 72.7 / 60.0 % countdowns. Measured steps on seeds 0 and 1 (kw+tag, cd): the line stack
+7.8 / +10.8 and +3 / +25 points; enlarging small posters for it +3.0 / +1.1 and +3 / +6; a
countdown vote and reading poster countdowns line by line, together, +12 / +3 countdown points;
every crop scaled to one height for Tesseract (with the digit reader kept on full-size crops)
+0.6 / +1.6 recall and +0 / +3 countdown points.

CER is not a useful column here: many passes add junk lines, which count as insertions. What is
left: small hashtags on grain, the odd digit lost or added by the glyph reader (٣ and ٢ differ by
one tooth), and Western numbers whose first digit Tesseract drops on every plane alike.

* **One pass per image plane, psm 11.** Grey, red, green and blue are each read as sparse text
  (``--psm 11``) and the lines merged: each plane separates a different text colour from its
  background. psm 3 loses whole posters on busy backgrounds and psm 6 reads noise as pages of
  junk (``shared/research/ocr-study.md``).
* **White and black masks.** Poster text is mostly white or black with a contrasting outline,
  over flames, flags or photos. Pixels whose darkest channel is above 190 (or lightest below 70)
  become black text on white: the outline and most of the background vanish, and Tesseract stops
  reading hollow letters. This added 20 points of recall on fire, flag and noise posters, the
  largest single gain measured; binarising whole planes (Otsu, adaptive) did not help.
* **Gold mask and filled masks.** Gold letters (red and green high, blue low: flames keep some
  blue) escape the white mask; black letters outlined in white come out of the white mask as
  hollow outlines, and white letters outlined in black out of the black mask. ``white-fill`` and
  ``black-fill`` fill the letter-sized holes of those masks, so outlines become letters. Alone
  each added 1-3 points; the three together +4.1 (seed 0) and +6.0 (seed 1) points of recall.
* **Row re-read.** The rows of text the plane passes found are cut out of the two filled masks
  and grey, upscaled to 48 px, stacked and read once more as a block (psm 6): a line that psm 11
  read in pieces among flames is read whole once it stands alone (+4.2 / +4.9 points measured on
  top of the nine planes; one crop per row from its best plane gave +3.0 / +2.7).
* **Confidence filter.** Words under ``min_confidence`` (30) are dropped: many passes read the
  same flames many ways, and the stray numbers they produce would otherwise become countdowns.
* **Merge.** Lines are compared after ``monitor.core.text.normalize``; a line already contained in a
  kept line is dropped, a line that contains a kept one replaces it. Hashtags Tesseract returns
  in visual order (``اموي_٩٥_يقاب#``, direction marks stripped first) or with dashes for
  underscores are put right. The text gives the agreed countdown first, then the lines most
  planes read alike (``by_agreement``): the junk the passes make of flames is mostly read by
  one plane only, and nothing is dropped (recall and countdowns measured unchanged, seeds 0, 1).
* **Clean line crops** (``ocr.lines``). On colour masks (near-white, near-black, gold, red, an
  Otsu cut of grey and of each channel) letter-sized components are chained into lines and each
  line is cut out with its own ink only; the crops, scaled to one height and stacked, are read
  once per language (``lines:ara``, ``lines:eng``, psm 6). Tesseract's page analysis never sees
  the flames. Posters under 640 px are enlarged 2x first: their hashtags are a few pixels thick.
* **Eastern Arabic digits.** Debian's ``ara`` model cannot emit ٢-٩ at all (``٤٨`` comes back as
  ``AE`` or ``/5``), and the Arabic *script* model reads them poorly (0 of 13 clean Noto Kufi
  numbers). (1) ``ocr.digits`` reads the number of a line that reads like a countdown (a
  "remaining" word and a unit, OCR slips forgiven) from its glyphs, labelled by ``ocr.glyphs``
  (nearest neighbours among ~80 fonts the posters do not use): on the clean line crops, and on
  the rows of the plane passes. The line is written back whole, in Eastern digits as on the
  poster (``#باقي_0AE_يوما`` -> ``#باقي_٨٦_يوما``). (2) Countdown-like lines are re-read with
  the script model (``tesseract-ocr-script-arab``, ``-l Arabic``).
* **The countdown vote.** Every reader gives its own number (nine planes may read ``٥٩`` as
  ``09`` alike); the countdown most readings agree on goes first (``_agreed_countdown``), and
  ``alerts.countdown`` reads poster text line by line, so it is the one the detector takes.

Upscaling small images for the plane passes, a darkest-channel plane and a 60 confidence cut
were measured too and did not pay (``bench/ocr_quality.py`` keeps them as configurations); nor
did Tesseract's "best" integer models for ``ara`` and ``eng`` (from npm's
``@tesseract.js-data``: 74.3 % recall against 81.4 % for Debian's fast ones, seed 0), nor
dropping the blue or green plane now that the line stack exists (within a poster either way). Tried for the digits and
dropped: the script model on tight crops of the number between the countdown words, with and
without a digits whitelist (1 of 14; whitelisting made it worse), and on whole-line crops from
every plane (4 of 14 at best, no way to pick the right reading). A pass is limited in CPU
seconds (``pass_timeout``, ``RLIMIT_CPU``), not wall-clock ones: with a wall-clock limit the same
grainy poster kept or lost a pass by the machine's load (seed 0 with two busy processes beside
the bench: countdowns 93.9 % and a wrong value on a fire poster; with the CPU limit 97.0 %, the
same misses and the same CER as on a quiet machine). ``OMP_THREAD_LIMIT=1`` is set
for every Tesseract run: Debian's build uses OpenMP, which made each run about 5x slower on two
shared cores. Parallelism comes from worker processes instead (``ocr.pool``), which also share
the passes of one image.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops
from scipy import ndimage

from monitor.core.errors import ImageError, OcrError
from monitor.core.models import OcrOutcome
from monitor.core.text import normalize
from monitor.core.text import words as word_list
from ocr.digits import countdown_from_ink, countdown_lines, countdown_value
from ocr.hashing import perceptual_hash, sha256_bytes
from ocr.images import LoadedImage, load_image
from ocr.lines import Placement, find_lines, place_words, stack_lines
from ocr.settings import OcrSettings

log = logging.getLogger(__name__)

__all__ = [
    "Line",
    "PassResult",
    "TesseractFailed",
    "finish",
    "install_command",
    "plane_sets",
    "read_frames",
    "read_plane",
    "read_second",
    "recognize_file",
    "second_passes",
    "tesseract_info",
]

_COUNTDOWN_HINT = re.compile(
    r"باقي|باق|متبقي|يتبق|تبقي|بقي|يوم|ايام|ساعه|التنازلي|المهله|days?|hours?|left", re.IGNORECASE
)
_DIGITISH = re.compile(r"[0-9٠-٩۰-۹]")
_HAS_WORD = re.compile(r"[^\W_]{2,}|\d")
_WHITE_LEVEL = 190
_BLACK_LEVEL = 70


@dataclass
class Word:
    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int
    crop: int = -1  # the clean line crop it was read from (``ocr.lines``), -1 for plane passes


@dataclass
class Line:
    """One line of text as a pass read it, with the plane it came from and its box."""

    words: list[Word]
    plane: str
    norm: str = ""
    extra_first: bool = False

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def box(self) -> tuple[int, int, int, int]:
        left = min(w.left for w in self.words)
        top = min(w.top for w in self.words)
        right = max(w.left + w.width for w in self.words)
        bottom = max(w.top + w.height for w in self.words)
        return left, top, right, bottom


@dataclass
class ReadResult:
    text: str
    lines: list[Line] = field(default_factory=list)
    digit_lines: list[str] = field(default_factory=list)
    passes: int = 0


# --- Tesseract itself ---------------------------------------------------------------------------


def _language_package(language: str) -> str:
    if language in ("Arabic", "script/Arabic"):
        return "tesseract-ocr-script-arab"
    if language.startswith("script/"):
        return "tesseract-ocr-script-" + language.split("/", 1)[1].lower()[:4]
    return "tesseract-ocr-" + language.lower().replace("_", "-")


def install_command(languages: str = "ara+eng") -> str:
    """The exact Debian command that installs Tesseract and ``languages``."""
    packages = ["tesseract-ocr", *(_language_package(lang) for lang in languages.split("+") if lang)]
    return "apt-get install -y " + " ".join(dict.fromkeys(packages))


@lru_cache(maxsize=1)
def _tesseract_info_cached(cmd: str) -> tuple[str, tuple[str, ...]]:
    env = _env()
    try:
        version_out = subprocess.run(
            [cmd, "--version"], capture_output=True, text=True, timeout=30, env=env, check=True
        ).stdout
        langs_out = subprocess.run(
            [cmd, "--list-langs"], capture_output=True, text=True, timeout=30, env=env, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrError(f"Tesseract cannot be run ({exc}); install it: {install_command()}") from None
    version = version_out.splitlines()[0].split()[-1] if version_out.strip() else "unknown"
    languages = tuple(
        line.strip() for line in langs_out.splitlines()[1:] if line.strip() and not line.startswith("List")
    )
    return version, languages


def tesseract_info() -> dict:
    """Tesseract's version and installed languages; :class:`OcrError` with the install command if missing."""
    cmd = shutil.which("tesseract")
    if cmd is None:
        raise OcrError(f"Tesseract is not installed: run `{install_command()}`")
    version, languages = _tesseract_info_cached(cmd)
    return {"version": version, "languages": list(languages), "path": cmd}


def check_languages(settings: OcrSettings) -> list[str]:
    """Raise :class:`OcrError` if a required language is missing; return optional ones missing."""
    installed = set(tesseract_info()["languages"])
    missing = [lang for lang in settings.languages.split("+") if lang and lang not in installed]
    if missing:
        raise OcrError(
            f"Tesseract lacks the language(s) {', '.join(missing)}: run `{install_command(settings.languages)}`"
        )
    optional = []
    if settings.digits_pass and settings.digits_model and settings.digits_model not in installed:
        optional.append(settings.digits_model)
    return optional


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def _limit_cpu(pid: int, seconds: int) -> None:
    """Let process ``pid`` use ``seconds`` of CPU (SIGXCPU, then SIGKILL a second later), no core
    file. Set from here rather than in the child (``preexec_fn`` is unsafe with threads): the few
    milliseconds the child runs before count all the same."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        resource.prlimit(pid, resource.RLIMIT_CPU, (seconds, seconds + 1))


class TesseractFailed(Exception):
    """Tesseract ran but refused the image (a non-zero exit): the image fails, the pool goes on."""


_TSV_FIELDS = 12  # level page block par line word left top width height conf text


def _run_tesseract(source: str, lang: str, psm: int, timeout: float | None) -> list[list[Word]]:
    """Lines (lists of words) Tesseract finds in the image file ``source``.

    Tesseract is run directly (``tesseract FILE - ... tsv``), not through pytesseract: a plane is
    written once as an uncompressed PGM (about 1 ms) instead of a PNG per pass (tens to hundreds
    of ms), and a pass that runs over ``timeout`` is killed and skipped (psm 11 on grain can run
    for minutes; one plane less is better than no text at all).

    ``timeout`` is CPU time (``RLIMIT_CPU`` set on the child): a pass gets the same work done on
    a busy machine as on a quiet one, so what a poster reads as does not depend on what else
    runs (with a wall-clock limit, the same grainy poster lost a pass or kept it by load).
    Wall-clock time is bounded too, at four times as much, against a Tesseract that waits.
    """
    command = [_tesseract_cmd(), source, "-", "--oem", "1", "--psm", str(psm), "-l", lang, "tsv"]
    cpu = max(1, math.ceil(timeout)) if timeout else None
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    except FileNotFoundError:
        raise OcrError(f"Tesseract is not installed: run `{install_command()}`") from None
    with process:
        if cpu is not None:
            _limit_cpu(process.pid, cpu)
        try:
            stdout, stderr = process.communicate(timeout=4 * cpu + 1 if cpu else None)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            log.info("a %s psm %d pass waited over %ds on %s: skipped", lang, psm, 4 * (cpu or 0) + 1, source)
            return []
    if cpu is not None and process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        log.info("a %s psm %d pass ran over %ds of CPU on %s: skipped", lang, psm, cpu, source)
        return []
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise TesseractFailed(message[-1] if message else f"exit code {process.returncode}")
    lines: dict[tuple[str, str, str], list[Word]] = {}
    for row in stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < _TSV_FIELDS or cells[0] != "5":
            continue
        text = cells[11].strip()
        if not text:
            continue
        word = Word(clean_token(text), float(cells[10]), *(int(c) for c in cells[6:10]))
        lines.setdefault((cells[2], cells[3], cells[4]), []).append(word)
    return list(lines.values())


def _tesseract_cmd() -> str:
    return shutil.which("tesseract") or "tesseract"


def _tesseract_words(
    image: Image.Image | str | Path, lang: str, psm: int, timeout: float | None
) -> list[list[Word]]:
    """Lines Tesseract finds in ``image`` (a Pillow image, or the path of an image file)."""
    if not isinstance(image, Image.Image):
        return _run_tesseract(str(image), lang, psm, timeout)
    suffix = ".pgm" if image.mode in ("L", "1") else ".ppm"
    fd, name = tempfile.mkstemp(prefix="tess_", suffix=suffix)
    os.close(fd)
    try:
        image.convert("L" if suffix == ".pgm" else "RGB").save(name)
        return _run_tesseract(name, lang, psm, timeout)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


# --- planes, merge, digits ----------------------------------------------------------------------


def _planes(frame: Image.Image, names: tuple[str, ...], upscale_below: int) -> dict[str, Image.Image]:
    if upscale_below and max(frame.size) < upscale_below:
        frame = frame.resize((frame.width * 2, frame.height * 2), Image.Resampling.LANCZOS)
    r, g, b = frame.split()
    out: dict[str, Image.Image] = {}
    for name in names:
        if name == "color":
            out[name] = frame
        elif name == "grey":
            out[name] = frame.convert("L")
        elif name == "red":
            out[name] = r
        elif name == "green":
            out[name] = g
        elif name == "blue":
            out[name] = b
        elif name == "min":
            out[name] = ImageChops.darker(ImageChops.darker(r, g), b)
        elif name == "max":
            out[name] = ImageChops.lighter(ImageChops.lighter(r, g), b)
        elif name == "white":  # near-white pixels as black text on white: drops outlines and flames
            darkest = ImageChops.darker(ImageChops.darker(r, g), b)
            out[name] = darkest.point(lambda v: 0 if v > _WHITE_LEVEL else 255)
        elif name == "black":  # near-black pixels as black text on white
            lightest = ImageChops.lighter(ImageChops.lighter(r, g), b)
            out[name] = lightest.point(lambda v: 0 if v < _BLACK_LEVEL else 255)
        elif name == "gold":  # gold or yellow letters: red and green high, blue low (flames keep some blue)
            rgb = np.asarray(frame, dtype=np.int16)
            gold = (rgb[..., 0] > 190) & (rgb[..., 1] > 150) & (rgb[..., 2] < 70)
            out[name] = Image.fromarray(np.where(gold, 0, 255).astype(np.uint8))
        elif name in ("white-fill", "black-fill"):  # outlined letters filled in
            rgb = np.asarray(frame)
            light, dark = rgb.min(axis=2) > _WHITE_LEVEL, rgb.max(axis=2) < _BLACK_LEVEL
            mask = light if name == "white-fill" else dark
            out[name] = Image.fromarray(np.where(_fill_small_holes(mask), 0, 255).astype(np.uint8))
        else:
            raise ValueError(f"unknown OCR pass {name!r}")
    return out


def _fill_small_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its letter-sized holes filled: the outline of a hollow letter becomes the letter."""
    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, count = ndimage.label(holes)
    if not count:
        return mask
    sizes = np.bincount(labels.ravel())
    limit = 0.002 * mask.size
    small = sizes <= limit
    small[0] = False
    return mask | small[labels]


def _keep(words: list[Word], min_confidence: float) -> list[Word]:
    return [w for w in words if w.conf >= min_confidence and _HAS_WORD.search(w.text)]


_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")
_HASHTAG_DASH = re.compile(r"(?<=\w)[-‐‑–—~](?=\w)")
_DIGIT_RUN = re.compile(r"[0-9٠-٩۰-۹]+")
_EASTERN_REVERSED = re.compile("(?<![٠-٩])٠[٠-٩]+(?![٠-٩])")
_DIRECTION_MARKS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def clean_token(token: str) -> str:
    """Undo three ways Tesseract mangles Arabic tokens.

    ``_`` often comes back as a dash (``#باقي-٥٩-يوما``), an Arabic hashtag is sometimes
    returned in visual order (``اموي_٩٥_يقاب#``): reversed, with its digit runs left to right,
    and so is a run of Eastern digits on its own (``٠١`` for ``١٠``).
    """
    token = _DIRECTION_MARKS.sub("", token)
    if token.endswith("#") and not token.startswith("#") and _ARABIC_LETTER.search(token):
        token = _DIGIT_RUN.sub(lambda m: m.group()[::-1], token[::-1])
    # A number never starts with ٠: "٠١" is ١٠ given back in visual order (left to right).
    token = _EASTERN_REVERSED.sub(lambda m: m.group()[::-1], token)
    if token.startswith("#"):
        token = _HASHTAG_DASH.sub("_", token)
    return token


def merge_lines(candidates: list[Line]) -> list[Line]:
    """Distinct lines in reading order: a line contained in a kept one is dropped."""
    kept: list[Line] = []
    for line in candidates:
        line.norm = normalize(line.text)
        if not line.norm:
            continue
        padded = f" {line.norm} "
        if any(padded in f" {k.norm} " for k in kept):
            continue
        kept = [k for k in kept if f" {k.norm} " not in padded]
        kept.append(line)
    kept.sort(key=lambda ln: (ln.box[1] // 8, ln.box[0]))
    return kept


def _countdown_like(line: Line) -> bool:
    return bool(_COUNTDOWN_HINT.search(line.norm) or "#" in line.text or _DIGITISH.search(line.text))


def _stack_crops(crops: list[Image.Image]) -> Image.Image:
    return _stack_crops_at(crops)[0]


def _stack_crops_at(crops: list[Image.Image]) -> tuple[Image.Image, list[int]]:
    """Crops one under the other on white, and the top of each in the stack."""
    gap = max(c.height for c in crops) // 2 + 10
    width = max(c.width for c in crops) + 2 * gap
    height = sum(c.height for c in crops) + gap * (len(crops) + 1)
    canvas = Image.new("L", (width, height), 255)
    offsets = []
    y = gap
    for crop in crops:
        canvas.paste(crop, (gap, y))
        offsets.append(y)
        y += crop.height + gap
    return canvas, offsets


def _digits_pass(lines: list[Line], planes: dict[str, Image.Image], settings: OcrSettings) -> list[str]:
    """Re-read countdown-like lines with the script model; return the lines it read with digits."""
    if not settings.digits_model:
        return []
    if settings.digits_scope == "page":
        grey = planes["grey"] if "grey" in planes else next(iter(planes.values())).convert("L")
        found = _tesseract_words(grey, settings.digits_model, 11, _pass_timeout(settings))
        out = []
        for words in found:
            text = " ".join(w.text for w in _keep(words, settings.min_confidence))
            norm = normalize(text)
            if _DIGITISH.search(text) and (_COUNTDOWN_HINT.search(norm) or "#" in text):
                out.append(text)
        return out
    chosen = [ln for ln in lines if _countdown_like(ln)]
    if not chosen:
        return []
    crops = []
    image_planes = _image_planes(planes)
    for line in chosen[:8]:
        plane = image_planes.get(line.plane) or image_planes.get("grey") or next(iter(image_planes.values()))
        left, top, right, bottom = line.box
        pad = max(4, (bottom - top) // 2)
        box = (
            max(0, left - 2 * pad),
            max(0, top - pad),
            min(plane.width, right + 2 * pad),
            min(plane.height, bottom + pad),
        )
        crop = plane.crop(box).convert("L")
        if crop.height < 40:  # the script model likes ~40 px tall lines
            scale = 40 / max(1, crop.height)
            crop = crop.resize((max(1, int(crop.width * scale)), 40), Image.Resampling.LANCZOS)
        crops.append(crop)
    found = _tesseract_words(_stack_crops(crops), settings.digits_model, 11, _pass_timeout(settings))
    digit_lines = []
    for words in found:
        words = _keep(words, settings.min_confidence)
        text = " ".join(w.text for w in words)
        if _DIGITISH.search(text) and len(normalize(text)) >= 2:
            digit_lines.append(text)
    return digit_lines


def _pass_timeout(settings: OcrSettings) -> float:
    """CPU time allowed to one pass: ``pass_timeout``, and never more than a share of the image's
    timeout. A pass that bogs down (psm 11 on grain ran 5-8 s for nothing where a median-filtered
    copy took 0.5 s; minutes on large grainy images) is skipped instead of failing the image;
    ordinary passes take 0.1-1.5 s at 1600 px on the 2-core machine."""
    return min(settings.pass_timeout, max(1.0, settings.timeout / (len(settings.passes) + 2)))


@dataclass
class PassResult:
    """What one plane pass read: the frame and plane it ran on, and its lines."""

    frame: int
    plane: str
    lines: list[list[Word]]

    def to_json(self) -> dict:
        return {
            "frame": self.frame,
            "plane": self.plane,
            "lines": [
                [[w.text, w.conf, w.left, w.top, w.width, w.height, w.crop] for w in ws] for ws in self.lines
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> PassResult:
        lines = [
            [Word(t, float(c), int(x), int(y), int(w), int(h), int(k)) for t, c, x, y, w, h, k in ws]
            for ws in data["lines"]
        ]
        return cls(int(data["frame"]), str(data["plane"]), lines)


def plane_sets(frames: list[Image.Image], settings: OcrSettings) -> list[dict[str, Image.Image]]:
    """The planes to read, per frame (a frame too small to read gets none).

    With ``line_pass``, the stack of clean line crops (``ocr.lines``) is a plane too, once per
    language (``lines:ara``, ``lines:eng``: the same image, read with each model alone).
    """
    out = []
    for frame in frames:
        if min(frame.size) < 8:
            out.append({})
            continue
        planes = _planes(frame, settings.passes, settings.upscale_below)
        if settings.line_pass:
            planes |= _line_planes(frame, settings)
        out.append(planes)
    return out


LINES_PREFIX = "lines:"


INK_PLANE = "lines-ink"
"""The line crops again, for the digit reader only (not a Tesseract pass): at least at the
stack's height, and larger ones at their own size (``stack_lines(keep_large=True)``)."""


def _image_planes(planes: Mapping[str, Image.Image]) -> dict[str, Image.Image]:
    """The planes cut from the image itself (not the stacks of line crops): where a line's box
    points."""
    return {k: v for k, v in planes.items() if not k.startswith(LINES_PREFIX) and is_pass(k)}


def is_pass(name: str) -> bool:
    """Whether the plane ``name`` is read by Tesseract (every plane but :data:`INK_PLANE`)."""
    return name != INK_PLANE


def _line_planes(frame: Image.Image, settings: OcrSettings) -> dict[str, Image.Image]:
    lines = find_lines(np.asarray(frame.convert("RGB")), zoom_below=settings.line_zoom_below)
    if not lines:
        return {}
    stack, placements = stack_lines(lines)
    stack.info["layout"] = [p.to_json() for p in placements]
    planes = {LINES_PREFIX + lang: stack for lang in settings.languages.split("+") if lang}
    if settings.glyph_digits:
        ink, ink_placements = stack_lines(lines, keep_large=True)
        ink.info["layout"] = [p.to_json() for p in ink_placements]
        planes[INK_PLANE] = ink
    return planes


def layout_path(plane_file: str | Path) -> Path:
    """Where the layout of a stack of line crops is written next to its plane file."""
    return Path(f"{plane_file}.layout.json")


def save_plane(plane: Image.Image, target: Path) -> None:
    """Write a plane as PGM/PPM, and a line stack's layout beside it."""
    plane.save(target)
    if "layout" in plane.info:
        layout_path(target).write_text(json.dumps(plane.info["layout"]), encoding="utf-8")


def open_plane(path: str | Path) -> Image.Image:
    """A plane written by :func:`save_plane`, with its layout back in ``info``."""
    with Image.open(path) as image:
        image.load()
        plane = image.copy()
    side = layout_path(path)
    if side.exists():
        plane.info["layout"] = json.loads(side.read_text(encoding="utf-8"))
    return plane


def _layout(plane: Image.Image | str | Path) -> list[Placement]:
    data = plane.info.get("layout") if isinstance(plane, Image.Image) else None
    if data is None and not isinstance(plane, Image.Image) and layout_path(plane).exists():
        data = json.loads(layout_path(plane).read_text(encoding="utf-8"))
    return [Placement.from_json(p) for p in data or []]


def read_plane(plane: Image.Image | str | Path, settings: OcrSettings, name: str = "") -> list[list[Word]]:
    """One plane pass, skipped after its share of the timeout: ``settings.languages`` at
    ``settings.psm``; a stack of line crops (``name`` ``lines:LANG``) with one model at psm 6, its
    words mapped back onto the image and tagged with their crop."""
    if not name.startswith(LINES_PREFIX):
        return _tesseract_words(plane, settings.languages, settings.psm, _pass_timeout(settings))
    placements = _layout(plane)
    found = _tesseract_words(plane, name[len(LINES_PREFIX) :], 6, _pass_timeout(settings))
    out = []
    for words in found:
        placed = []
        for w in words:
            spot = place_words(w.top, w.left, w.width, w.height, placements)
            if spot is not None:
                crop, left, top, width, height = spot
                placed.append(Word(w.text, w.conf, left, top, width, height, crop))
        if placed:
            out.append(placed)
    return out


def _merged(results: list[PassResult], settings: OcrSettings) -> list[Line]:
    candidates: list[Line] = []
    for result in sorted(results, key=lambda r: (r.frame, _plane_rank(r.plane, settings))):
        for words in result.lines:
            kept = _keep(words, settings.min_confidence)
            if kept:
                candidates.append(Line(kept, result.plane))
    return merge_lines(candidates)


def second_passes(settings: OcrSettings) -> list[str]:
    """The passes that need the plane passes first: each is one more Tesseract run (``read_second``)."""
    names = []
    if settings.row_pass:
        names.append("rows")
    if settings.digits_pass and settings.digits_model:
        names.append("digits")
    return names


def read_second(
    name: str, results: list[PassResult], first_planes: Mapping[str, Image.Image], settings: OcrSettings
) -> PassResult:
    """One second-phase pass over the first frame, as a :class:`PassResult` (plane ``name``).

    ``rows``: every row of text the plane passes found is cut out of the three planes that
    separate letters best, upscaled, and all of them re-read at once as a block (psm 6): a line
    half read among flames is read whole once it is alone. ``digits``: countdown-like lines
    re-read with the Arabic script model (see the module docstring); its lines come first.
    """
    first = [r for r in results if r.frame == 0]
    if not first or not first_planes:
        return PassResult(0, name, [])
    if name == "rows":
        return PassResult(0, name, _rows_pass(first, first_planes, settings))
    if name == "digits":
        texts = _digits_pass(_merged(first, settings), first_planes, settings)
        return PassResult(0, name, [[Word(text, 100.0, 0, 0, 0, 0)] for text in texts])
    raise ValueError(f"unknown second pass {name!r}")


_ROW_PLANES = ("white-fill", "black-fill", "grey")
_GLYPH_LINE_PLANES = ("grey", "red", "green", "blue", "white", "black")
_ROW_HEIGHT = 48
_MAX_ROWS = 12


def _rows(results: list[PassResult], settings: OcrSettings) -> list[tuple[int, int, int, int]]:
    """Rows of text: the lines of all plane passes on the same row, pooled into one box."""
    rows: list[list[int]] = []
    for result in results:
        for words in result.lines:
            kept = _keep(words, settings.min_confidence)
            if not kept:
                continue
            box = Line(kept, result.plane).box
            for row in rows:
                if _same_row((row[0], row[1], row[2], row[3]), box):
                    row[:] = [
                        min(row[0], box[0]),
                        min(row[1], box[1]),
                        max(row[2], box[2]),
                        max(row[3], box[3]),
                    ]
                    break
            else:
                rows.append(list(box))
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def _rows_pass(
    results: list[PassResult], planes: Mapping[str, Image.Image], settings: OcrSettings
) -> list[list[Word]]:
    crops: list[Image.Image] = []
    origins: list[tuple[int, int, int, int]] = []
    for left, top, right, bottom in _rows(results, settings)[:_MAX_ROWS]:
        height = bottom - top
        if height < 8:
            continue
        pad = max(4, height // 4)
        for name in _ROW_PLANES:
            plane = planes.get(name)
            if plane is None:
                continue
            box = (
                max(0, left - pad),
                max(0, top - pad),
                min(plane.width, right + pad),
                min(plane.height, bottom + pad),
            )
            crop = plane.crop(box).convert("L")
            if crop.height < _ROW_HEIGHT:
                scale = _ROW_HEIGHT / crop.height
                crop = crop.resize((max(1, int(crop.width * scale)), _ROW_HEIGHT), Image.Resampling.LANCZOS)
            crops.append(crop)
            origins.append((left, top, right, bottom))
    if not crops:
        return []
    stacked, offsets = _stack_crops_at(crops)
    found = _tesseract_words(stacked, settings.languages, 6, _pass_timeout(settings))
    out = []
    for words in found:  # back to image coordinates: the row the line was cut from
        centre = sum(w.top + w.height / 2 for w in words) / len(words)
        index = max((i for i, y in enumerate(offsets) if y <= centre), default=0)
        left, top, right, bottom = origins[index]
        span = max(1, crops[index].width)
        out.append(
            [
                Word(
                    w.text,
                    w.conf,
                    left + (w.left * (right - left)) // span,
                    top,
                    max(1, w.width * (right - left) // span),
                    bottom - top,
                )
                for w in words
            ]
        )
    return out


def finish(
    results: list[PassResult],
    first_planes: Mapping[str, Image.Image],
    settings: OcrSettings,
    second: list[PassResult] | None = None,
) -> ReadResult:
    """Merge the passes of one image: plane passes, second passes (``read_second``) and the
    Eastern digits read from the glyphs of countdown lines (``ocr.digits``).

    The passes may have run anywhere (in this process, or spread over the pool's workers):
    ``first_planes`` only has to give the plane images of the first frame.
    """
    second = second or []
    rows = [r for r in second if r.plane == "rows"]
    digit_lines = [" ".join(w.text for w in ws) for r in second if r.plane == "digits" for ws in r.lines]
    lines = _merged([*results, *rows], settings)
    glyph_lines: list[str] = []
    if settings.glyph_digits and first_planes:
        glyph_lines = _crop_countdowns(results, first_planes)
        # Where to look: the lines of the colour planes and the plain masks. A re-read row's box
        # is the whole pooled row, and the filled masks merge letters into blobs: both made the
        # regions too coarse (seed 0: 79 on a fire poster lost when they were included).
        located = [r for r in results if r.plane in _GLYPH_LINE_PLANES] or results
        planes = _image_planes(first_planes)
        glyph_lines += countdown_lines(_all_lines(located), planes)
    read_by = [
        (r.plane, " ".join(w.text for w in _keep(found, settings.min_confidence)))
        for r in [*results, *rows]
        for found in r.lines
    ]
    readings = [text for _, text in read_by]
    agreed = _agreed_countdown(glyph_lines, digit_lines, readings)
    # The agreed countdown first (the detector takes the first), then what the digit readers made
    # of countdown-like lines, then the poster's lines, the most agreed first.
    texts = [*agreed, *glyph_lines, *digit_lines, *(ln.text for ln in by_agreement(lines, read_by))]
    seen: set[str] = set()
    out = []
    for text in texts:
        key = normalize(text)
        if key and key not in seen:
            seen.add(key)
            out.append(text)
    return ReadResult("\n".join(out), lines, digit_lines, len(results) + len(second))


def by_agreement(lines: list[Line], read_by: list[tuple[str, str]]) -> list[Line]:
    """The merged lines, those most planes agree on first (ties: the longer, then reading order).

    Every plane reads the flames too, and the junk it makes of them is mostly read by one pass
    only, while a line of the poster is read by several planes alike. Each plane with a reading
    that shares at least half of the line's letters (or of the reading's: a pass that read half
    the slogan agrees with the whole) adds the share of the line it read, and the sum is
    weighed by the line's letters (up to 10: a two-letter scrap read twice is not a slogan).
    So of ``الانتقام قادم`` and the misreading ``الانتقام قادح`` the one more planes read whole
    comes first; among equals the longer line first (the slogan before its pieces). Nothing is
    dropped (the detector and search see every line); the order is for the people who read it.
    """
    plane_words = []
    for plane, text in read_by:
        seen = set(word_list(normalize(text)))
        plane_words.append((plane, seen, sum(len(w) for w in seen)))

    def score(line: Line) -> tuple[float, int]:
        own = set(word_list(line.norm or normalize(line.text)))
        letters = sum(len(w) for w in own)
        if not letters:
            return 0.0, 0
        best: dict[str, float] = {}  # plane -> the largest share of the line one of its readings has
        for plane, seen, size in plane_words:
            shared = sum(len(w) for w in own & seen)
            if size and 2 * shared >= min(letters, size):
                best[plane] = max(best.get(plane, 0.0), shared / letters)
        return sum(best.values()) * min(letters, 10), letters

    scores = [score(line) for line in lines]
    order = sorted(range(len(lines)), key=lambda i: (-scores[i][0], -scores[i][1]))
    return [lines[i] for i in order]


_EASTERN_ONLY = re.compile("[٢-٨]")


def _agreed_countdown(glyph_lines: list[str], digit_lines: list[str], readings: list[str]) -> list[str]:
    """The countdown line most readings of the poster agree on, to go first (or nothing).

    Every pass reads the countdown its own way, and a misread number (``1 days left`` for ``41``,
    a flame taken for a digit) must not win by coming first. Each reading with countdown words
    around one clean number is a vote for its value; a line whose number was read from the
    glyphs (``ocr.digits``) as an Eastern number with a shape only Eastern digits have (٢-٨)
    counts twice, since Tesseract's ``ara`` model cannot emit those at all. The script-model
    pass re-reads one line from several planes: the same reading of it counts once.
    (Measured and dropped: one vote per reader shared among its readings, and ignoring the
    ``ara`` readings when the glyphs show an Eastern number: a wrong glyph reading then won.)
    """
    votes: Counter[tuple[int, str]] = Counter()
    texts: dict[tuple[int, str], Counter[str]] = {}
    ballots = [(2 if _EASTERN_ONLY.search(line) else 1, line) for line in glyph_lines]
    ballots += [(1, line) for line in dict.fromkeys(digit_lines)]  # one line, cut from many planes
    ballots += [(1, line) for line in readings]
    for weight, line in ballots:
        value = countdown_value(line)
        if value is not None:
            votes[value] += weight
            texts.setdefault(value, Counter())[line] += weight
    if not votes:
        return []
    winner = max(votes, key=lambda key: votes[key])  # ties: the first counted (glyph lines first)
    return [texts[winner].most_common(1)[0][0]]


def _crop_countdowns(results: list[PassResult], first_planes: Mapping[str, Image.Image]) -> list[str]:
    """Countdown lines whose number is read from the glyphs of a clean line crop.

    One line of the poster is usually cut out of several masks; their readings of the number can
    differ (a mask that lost a stroke), so each line of the poster gives the reading whose digits
    are nearest their examples.
    """
    readings: dict[int, list[str]] = {}
    for result in results:
        if result.frame == 0 and result.plane.startswith(LINES_PREFIX):
            for words in result.lines:
                crop = words[0].crop
                if crop >= 0:
                    readings.setdefault(crop, []).append(" ".join(w.text for w in words))
    if not readings or INK_PLANE not in first_planes:
        return []
    stack = first_planes[INK_PLANE]
    placements = _layout(stack)
    best: list[tuple[tuple[int, int, int, int], str, float]] = []  # image box, line, distance
    for crop, texts in sorted(readings.items()):
        if crop >= len(placements):
            continue
        spot = placements[crop]
        ink = (
            np.asarray(stack.crop((spot.left, spot.top, spot.left + spot.width, spot.top + spot.height)))
            < 128
        )
        found = countdown_from_ink(texts, ink)
        if found is None:
            continue
        box = spot.image_box
        for index, (other, _, distance) in enumerate(best):
            if _same_row(box, other):
                if found[1] < distance:
                    best[index] = (box, *found)
                break
        else:
            best.append((box, *found))
    return [line for _, line, _ in best]


def _same_row(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes (left, top, right, bottom) overlap over half the shorter one's height."""
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap > 0.5 * min(a[3] - a[1], b[3] - b[1])


def _all_lines(results: list[PassResult]) -> list[tuple[str, tuple[int, int, int, int], int]]:
    """Every line of the first frame's passes, whatever its confidence: (text, box, word height)."""
    out = []
    for result in results:
        if result.frame != 0:
            continue
        for words in result.lines:
            if words:
                heights = sorted(w.height for w in words)
                out.append(
                    (
                        " ".join(w.text for w in words),
                        Line(words, result.plane).box,
                        heights[len(heights) // 2],
                    )
                )
    return out


def _plane_rank(plane: str, settings: OcrSettings) -> int:
    return settings.passes.index(plane) if plane in settings.passes else len(settings.passes)


def read_frames(frames: list[Image.Image], settings: OcrSettings) -> ReadResult:
    """Text of the frames of one image, every pass in this process, one after the other."""
    planes = plane_sets(frames, settings)
    results = [
        PassResult(index, name, read_plane(plane, settings, name))
        for index, frame_planes in enumerate(planes)
        for name, plane in frame_planes.items()
        if is_pass(name)
    ]
    first = planes[0] if planes else {}
    second = [read_second(name, results, first, settings) for name in second_passes(settings)]
    return finish(results, first, settings, second)


def recognize_image(loaded: LoadedImage, settings: OcrSettings) -> str:
    return read_frames(loaded.frames, settings).text


def usable_settings(settings: OcrSettings) -> OcrSettings:
    """``settings`` checked against the installed languages (OcrError if a required one is missing);
    without the digits model the digits pass is switched off, with a warning."""
    optional_missing = check_languages(settings)
    if not optional_missing:
        return settings
    log.warning(
        "Tesseract model %s missing, Eastern Arabic digits will be lost: run `apt-get install -y %s`",
        optional_missing[0],
        _language_package(optional_missing[0]),
    )
    return OcrSettings.from_dict({**settings.to_dict(), "digits_pass": False})


def load_for_ocr(path: Path | str | bytes, settings: OcrSettings) -> tuple[OcrOutcome, LoadedImage | None]:
    """Load and fingerprint an image: a ``done`` outcome with no text yet and the image, or a
    ``failed`` outcome with the reason and None."""
    started = time.perf_counter()
    sha = phash = None
    try:
        loaded = load_image(
            path, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
        )
        sha = sha256_bytes(loaded.data)
        phash = perceptual_hash(loaded.frames[0])
    except ImageError as exc:
        if sha is None and isinstance(path, Path | str):
            sha = _sha_of_file(path)
        return OcrOutcome(
            "failed", reason=str(exc), sha256=sha, phash=phash, seconds=time.perf_counter() - started
        ), None
    outcome = OcrOutcome(
        "done",
        sha256=sha,
        phash=phash,
        width=loaded.width,
        height=loaded.height,
        format=loaded.format,
        frames=len(loaded.frames),
    )
    return outcome, loaded


def tesseract_failure(exc: TesseractFailed) -> str:
    return f"Tesseract could not read it: {exc}".strip()


def recognize_file(path: Path | str | bytes, settings: OcrSettings | None = None) -> OcrOutcome:
    """OCR one image file synchronously, every pass in this process.

    Never raises for a bad image: the outcome is ``failed`` with a reason. Raises
    :class:`OcrError` only when Tesseract or a language is missing (with the install command).
    """
    started = time.perf_counter()
    settings = usable_settings(settings or OcrSettings())
    outcome, loaded = load_for_ocr(path, settings)
    if loaded is not None:
        try:
            outcome.text = read_frames(loaded.frames, settings).text
        except TesseractFailed as exc:
            outcome.status, outcome.reason = "failed", tesseract_failure(exc)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _sha_of_file(path: Path | str) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except OSError:
        return None
