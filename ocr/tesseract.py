"""Running Tesseract: one command per pass, limited in CPU time, and the languages it needs.

Tesseract is run as a command (``tesseract FILE - ... tsv``, see :func:`_run_tesseract` for why
not pytesseract). A pass is limited in CPU seconds (``RLIMIT_CPU``), not wall-clock ones: with a
wall-clock limit the same grainy poster kept or lost a pass by the machine's load, so what a
poster read as depended on what else ran. ``OMP_THREAD_LIMIT=1`` is set for every run: Debian's
build uses OpenMP, which made each run about 5x slower on two shared cores; parallelism comes
from worker processes instead (``ocr.pool``). Measurements: ``bench/README.md`` (OCR).

A missing Tesseract or language is an :class:`OcrError` that names the exact Debian command
that installs it (:func:`install_command`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from PIL import Image

from monitor.core.errors import OcrError
from ocr.library import library_tsv
from ocr.readings import Word
from ocr.settings import OcrSettings

log = logging.getLogger(__name__)

__all__ = [
    "TesseractFailed",
    "check_languages",
    "clean_token",
    "install_command",
    "tesseract_failure",
    "tesseract_info",
    "tesseract_words",
    "usable_settings",
]


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


_TESSDATA_IN = re.compile(r'languages in "([^"]+)"')


@lru_cache(maxsize=1)
def _tesseract_info_cached(cmd: str) -> tuple[str, tuple[str, ...], str]:
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
    where = _TESSDATA_IN.search(langs_out)
    return version, languages, where.group(1) if where else ""


def tesseract_info() -> dict:
    """Tesseract's version and installed languages; :class:`OcrError` with the install command if missing."""
    cmd = shutil.which("tesseract")
    if cmd is None:
        raise OcrError(f"Tesseract is not installed: run `{install_command()}`")
    version, languages, tessdata = _tesseract_info_cached(cmd)
    return {"version": version, "languages": list(languages), "path": cmd, "tessdata": tessdata}


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
    return words_from_tsv(stdout.decode("utf-8", errors="replace"))


def words_from_tsv(tsv: str) -> list[list[Word]]:
    """Lines (lists of words) of Tesseract's TSV output: the command's and the library's alike."""
    lines: dict[tuple[str, str, str], list[Word]] = {}
    for row in tsv.splitlines():  # the command's first line is a header, the library's is not
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


def tesseract_words(
    image: Image.Image | str | Path, lang: str, psm: int, timeout: float | None, engine: str = "command"
) -> list[list[Word]]:
    """Lines Tesseract finds in ``image`` (a Pillow image, or the path of an image file), read by
    the library in this process (``engine="library"``, ``ocr.library``) or by the command."""
    if engine == "library":
        return _library_words(image, lang, psm, timeout)
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


def _library_words(
    image: Image.Image | str | Path, lang: str, psm: int, timeout: float | None
) -> list[list[Word]]:
    try:
        tsv = library_tsv(image, lang, psm, timeout, tesseract_info()["tessdata"])
    except RuntimeError as exc:  # tesserocr could not take the image (the command's non-zero exit)
        raise TesseractFailed(str(exc)) from None
    return [] if tsv is None else words_from_tsv(tsv)


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


def tesseract_failure(exc: TesseractFailed) -> str:
    return f"Tesseract could not read it: {exc}".strip()
