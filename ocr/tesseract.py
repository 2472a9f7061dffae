"""Running Tesseract: a command per batch of passes, limited in CPU time, and the languages it needs.

Tesseract is run as a command (``tesseract FILE - ... tsv``, see :func:`_run_tesseract` for why
not pytesseract); the planes read alike (one language set, one psm) go through one run, its
list-file input (:func:`_run_batch`), so its models load once. A pass is limited in CPU seconds
(``RLIMIT_CPU``), not wall-clock ones: with a wall-clock limit the same grainy poster kept or
lost a pass by the machine's load, so what a poster read as depended on what else ran.
``OMP_THREAD_LIMIT=1`` is set for every run: Debian's build uses OpenMP, which made each run
about 5x slower on two shared cores; parallelism comes from running batches side by side instead
(``ocr.pool``'s workers, ``ocr.engine``'s threads). Measurements: ``bench/README.md`` (OCR).

A missing Tesseract or language is an :class:`OcrError` that names the exact Debian command
that installs it (:func:`install_command`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import Image

from monitor.core.errors import OcrError
from monitor.core.text import DIRECTION_MARKS, LATIN_OR_ARABIC_NUMBER
from ocr.disk_cache import cache_file, file_stamps, write_atomically
from ocr.library import library_tsv, library_version, preload
from ocr.pass_plan import pass_timeout
from ocr.readings import Word
from ocr.settings import NOISE_VARIABLE, TESSERACT_NOISE_HEIGHT, OcrSettings

log = logging.getLogger(__name__)

__all__ = [
    "TesseractFailed",
    "check_languages",
    "clean_token",
    "install_command",
    "library_mismatch",
    "load_models",
    "read_plane_images",
    "tesseract_batch",
    "tesseract_failure",
    "tesseract_info",
    "tesseract_words",
    "usable_settings",
    "words_by_page",
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
    """The command's version, languages and tessdata folder: asked of the command once, then
    kept on disk (``ocr.disk_cache``) under the stamps of what they come from (the command's file
    and ``TESSDATA_PREFIX`` in the key, the models' folder it named in the file). The two runs cost
    20 ms of every ``check --image`` before it could do anything else; the answers change only
    when a package is installed or removed, which changes a stamp."""
    prefix = os.environ.get("TESSDATA_PREFIX", "")
    cache = cache_file("tesseract", (_INFO_VERSION, cmd, prefix, file_stamps([Path(cmd).resolve()])), ".json")
    with contextlib.suppress(OSError, ValueError, TypeError):
        version, languages, tessdata, folder = json.loads(cache.read_text(encoding="utf-8"))
        if folder == _folder_stamp(tessdata):  # no language added or removed since
            return str(version), tuple(str(lang) for lang in languages), str(tessdata)
    version, languages, tessdata = _ask_tesseract(cmd)
    with contextlib.suppress(OSError):  # a read-only home: asked again next time
        kept = [version, list(languages), tessdata, _folder_stamp(tessdata)]
        write_atomically(cache, json.dumps(kept).encode())
    return version, languages, tessdata


def _folder_stamp(tessdata: str) -> list[object]:
    """The tessdata folder's stamp (a model file added or removed changes its time), as JSON keeps it."""
    return list(file_stamps([Path(tessdata)])[0]) if tessdata else []


_INFO_VERSION = 2  # bump when what is kept of the command's answers changes


def _ask_tesseract(cmd: str) -> tuple[str, tuple[str, ...], str]:
    env = _env()
    try:  # both at once: each start of the command costs 20 ms
        with ThreadPoolExecutor(2) as both:
            asked = [
                both.submit(
                    subprocess.run,
                    [cmd, flag],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    env=env,
                    check=True,
                )
                for flag in ("--version", "--list-langs")
            ]
            version_out, langs_out = (run.result().stdout for run in asked)
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


def _limit_cpu(pid: int, seconds: int, ceiling: int | None = None) -> None:
    """Let process ``pid`` use ``seconds`` of CPU (SIGXCPU, then SIGKILL at ``ceiling``, a second
    later by default), no core file. Set from here rather than in the child (``preexec_fn`` is
    unsafe with threads): the few milliseconds the child runs before count all the same. Only
    the soft limit can be raised later, up to ``ceiling``, without privileges."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError, ValueError):
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        resource.prlimit(pid, resource.RLIMIT_CPU, (seconds, ceiling or seconds + 1))


def _cpu_used(pid: int) -> float:
    """CPU seconds process ``pid`` has used so far (``/proc/PID/stat``: user and system time)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TesseractFailed(Exception):
    """Tesseract ran but refused the image (a non-zero exit): the image fails, the pool goes on."""


_TSV_FIELDS = 12  # level page block par line word left top width height conf text


def _run_tesseract(
    source: str, lang: str, psm: int, timeout: float | None, noise_height: int = TESSERACT_NOISE_HEIGHT
) -> list[list[Word]]:
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
    run = _run_command(source, lang, psm, _cpu_seconds(timeout), source, noise_height)
    return words_from_tsv(run.tsv) if run.finished else []


def _cpu_seconds(timeout: float | None) -> int | None:
    return max(1, math.ceil(timeout)) if timeout else None


@dataclass(frozen=True)
class _Run:
    tsv: str  # what Tesseract wrote (all of it, or the pages before it was killed)
    finished: bool
    overran: bool  # killed on a page that had used its own seconds (CPU, or 4x as many of wall time)


def _run_command(
    source: str, lang: str, psm: int, cpu: int | None, what: str, noise_height: int, pages: int = 1
) -> _Run:
    """Run Tesseract on ``source`` (an image, or a list file of ``pages`` images), each page
    limited to ``cpu`` seconds of CPU and four times as many of wall time. A refusal raises
    :class:`TesseractFailed`."""
    command = [_tesseract_cmd(), source, "-", "--oem", "1", "--psm", str(psm), "-l", lang]
    command += ["-c", f"{NOISE_VARIABLE}={noise_height}", "tsv"]
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=_env())
        except FileNotFoundError:
            raise OcrError(f"Tesseract is not installed: run `{install_command()}`") from None
        with process:
            out, waited, page_started = _read_pages(process, cpu, pages)
        errors.seek(0)
        stderr = errors.read()
    tsv = out.decode("utf-8", errors="replace")
    if waited:
        log.info("a %s psm %d pass waited over %ds on %s: skipped", lang, psm, 4 * (cpu or 0) + 1, what)
        return _Run(tsv, False, True)
    if cpu is not None and process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        log.info("a %s psm %d pass ran over %ds of CPU on %s: skipped", lang, psm, cpu, what)
        # A single-threaded run never uses more CPU seconds than wall ones: a page killed sooner
        # was cut by the limit of the page before (raised a moment late), not by its own.
        return _Run(tsv, False, time.monotonic() - page_started >= cpu)
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise TesseractFailed(message[-1] if message else f"exit code {process.returncode}")
    return _Run(tsv, True, False)


def _read_pages(process: subprocess.Popen[bytes], cpu: int | None, pages: int) -> tuple[bytes, bool, float]:
    """Tesseract's output as it comes, whether it was killed for waiting, and when the page it
    was on began. Tesseract writes a page's TSV (its level-1 row first) as soon as the page is
    done: each page then gets ``cpu`` more seconds of CPU (the soft limit raised, under a hard
    one of every page's seconds) and ``4 * cpu + 1`` of wall time, as a run of its own would."""
    assert process.stdout is not None
    ceiling = (cpu + 1) * pages if cpu else None
    if cpu is not None:
        _limit_cpu(process.pid, cpu, ceiling)
    chunks: list[bytes] = []
    tail = b""
    page_started = time.monotonic()
    while True:
        wait = None if cpu is None else page_started + 4 * cpu + 1 - time.monotonic()
        ready = select.select([process.stdout], [], [], max(0.0, wait))[0] if wait is not None else True
        if not ready:
            process.kill()
            process.wait()
            return b"".join(chunks), True, page_started
        data = os.read(process.stdout.fileno(), 1 << 16)
        if not data:
            break
        chunks.append(data)
        lines = (tail + data).split(b"\n")
        tail = lines.pop()
        if cpu is not None and any(line.startswith(b"1\t") for line in lines):
            page_started = time.monotonic()
            _limit_cpu(process.pid, min(ceiling or 0, math.ceil(_cpu_used(process.pid)) + cpu), ceiling)
    process.wait()
    return b"".join(chunks), False, page_started


def _run_batch(
    sources: list[str], lang: str, psm: int, timeout: float | None, noise_height: int = TESSERACT_NOISE_HEIGHT
) -> list[list[list[Word]]]:
    """The lines of each image file of ``sources``, read in one Tesseract run (its list-file input).

    One run loads the models once (``ara+eng``: 0.2 s of CPU, paid by every run) and reads each
    page exactly as a run of its own would (the same TSV: ``tests/ocr/test_batches.py``), with
    the same limits per page (``_read_pages``). When the run is killed, the pages it wrote stand,
    the page it was on is skipped (as a pass over its time always was) and the pages after it go
    into a new run.
    """
    if len(sources) <= 1:
        return [_run_tesseract(source, lang, psm, timeout, noise_height) for source in sources]
    cpu = _cpu_seconds(timeout)
    fd, listing = tempfile.mkstemp(prefix="tess_", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(sources) + "\n")
        what = f"{sources[0]} and {len(sources) - 1} more"
        run = _run_command(listing, lang, psm, cpu, what, noise_height, len(sources))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(listing)
    pages = words_by_page(run.tsv)
    if run.finished:
        return [pages.get(page, []) for page in range(1, len(sources) + 1)]
    done = max(pages, default=0)
    read = [pages.get(page, []) for page in range(1, done + 1)]
    if not run.overran:  # cut by a limit not its own: read it again
        return [*read, *_run_batch(sources[done:], lang, psm, timeout, noise_height)]
    return [*read, [], *_run_batch(sources[done + 1 :], lang, psm, timeout, noise_height)]


def words_from_tsv(tsv: str) -> list[list[Word]]:
    """Lines (lists of words) of Tesseract's TSV output: the command's and the library's alike."""
    return [line for lines in words_by_page(tsv).values() for line in lines]


def words_by_page(tsv: str) -> dict[int, list[list[Word]]]:
    """Lines (lists of words) of each page of Tesseract's TSV output (pages from 1; a page read
    with no word has its entry, empty)."""
    pages: dict[int, dict[tuple[str, str, str], list[Word]]] = {}
    for row in tsv.splitlines():  # the command's first line is a header, the library's is not
        cells = row.split("\t")
        if len(cells) < _TSV_FIELDS or not cells[1].isdigit():
            continue
        lines = pages.setdefault(int(cells[1]), {})
        text = cells[11].strip()
        if cells[0] != "5" or not text:
            continue
        word = Word(clean_token(text), float(cells[10]), *(int(c) for c in cells[6:10]))
        lines.setdefault((cells[2], cells[3], cells[4]), []).append(word)
    return {page: list(lines.values()) for page, lines in pages.items()}


def _tesseract_cmd() -> str:
    return shutil.which("tesseract") or "tesseract"


def tesseract_words(
    image: Image.Image | str | Path,
    lang: str,
    psm: int,
    timeout: float | None,
    engine: str = "command",
    *,
    noise_height: int = TESSERACT_NOISE_HEIGHT,
) -> list[list[Word]]:
    """Lines Tesseract finds in ``image`` (a Pillow image, or the path of an image file), read by
    the library in this process (``engine="library"``, ``ocr.library``) or by the command."""
    return tesseract_batch([image], lang, psm, timeout, engine, noise_height=noise_height)[0]


def tesseract_batch(
    images: Sequence[Image.Image | str | Path],
    lang: str,
    psm: int,
    timeout: float | None,
    engine: str = "command",
    *,
    noise_height: int = TESSERACT_NOISE_HEIGHT,
) -> list[list[list[Word]]]:
    """The lines of each of ``images``, all read alike (``lang``, ``psm``; ``timeout`` CPU
    seconds each; blobs shorter than ``noise_height`` pixels taken for noise by the page layout,
    ``OcrSettings.plane_noise_height``): by the command in one run (:func:`_run_batch`), or by
    the library one after the other (its models are loaded once anyway)."""
    if engine == "library":
        return [_library_words(image, lang, psm, timeout, noise_height) for image in images]
    with _image_files(images) as sources:
        return _run_batch(sources, lang, psm, timeout, noise_height)


def read_plane_images(
    images: Sequence[Image.Image | str | Path], settings: OcrSettings
) -> list[list[list[Word]]]:
    """The plane passes over ``images`` (colour planes and masks, read alike): ``settings``'
    languages at its psm, each pass within :func:`ocr.pass_plan.pass_timeout`, blobs shorter than
    its ``plane_noise_height`` taken for specks. The one way a plane is read, in a pool worker, in
    ``check --image``'s first passes and in the engine's."""
    return tesseract_batch(
        images,
        settings.languages,
        settings.psm,
        pass_timeout(settings),
        settings.tesseract,
        noise_height=settings.plane_noise_height,
    )


@contextlib.contextmanager
def _image_files(images: Sequence[Image.Image | str | Path]) -> Iterator[list[str]]:
    """The files of ``images``: a path as it is, a Pillow image written as an uncompressed
    PGM/PPM for the run and removed after it."""
    written: list[str] = []
    try:
        sources = []
        for image in images:
            if not isinstance(image, Image.Image):
                sources.append(str(image))
                continue
            suffix = ".pgm" if image.mode in ("L", "1") else ".ppm"
            fd, name = tempfile.mkstemp(prefix="tess_", suffix=suffix)
            os.close(fd)
            written.append(name)
            image.convert("L" if suffix == ".pgm" else "RGB").save(name)
            sources.append(name)
        yield sources
    finally:
        for name in written:
            with contextlib.suppress(OSError):
                os.unlink(name)


def load_models(wanted: Mapping[str, int], engine: str) -> None:
    """Start loading the models ``wanted`` (language set -> how many at once) in the background
    when the library reads (``ocr.library.preload``); the command loads its own on every run."""
    if engine == "library":
        preload(wanted, tesseract_info()["tessdata"])


def _library_words(
    image: Image.Image | str | Path, lang: str, psm: int, timeout: float | None, noise_height: int
) -> list[list[Word]]:
    try:
        tsv = library_tsv(image, lang, psm, timeout, tesseract_info()["tessdata"], noise_height)
    except RuntimeError as exc:  # tesserocr could not take the image (the command's non-zero exit)
        raise TesseractFailed(str(exc)) from None
    return [] if tsv is None else words_from_tsv(tsv)


_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")
_HASHTAG_DASH = re.compile(r"(?<=\w)[-‐‑–—~](?=\w)")
_EASTERN_REVERSED = re.compile("(?<![٠-٩])٠[٠-٩]+(?![٠-٩])")


def clean_token(token: str) -> str:
    """Undo three ways Tesseract mangles Arabic tokens.

    ``_`` often comes back as a dash (``#باقي-٥٩-يوما``), an Arabic hashtag is sometimes
    returned in visual order (``اموي_٩٥_يقاب#``): reversed, with its digit runs left to right,
    and so is a run of Eastern digits on its own (``٠١`` for ``١٠``).
    """
    token = DIRECTION_MARKS.sub("", token)
    if token.endswith("#") and not token.startswith("#") and _ARABIC_LETTER.search(token):
        token = LATIN_OR_ARABIC_NUMBER.sub(lambda m: m.group()[::-1], token[::-1])
    # A number never starts with ٠: "٠١" is ١٠ given back in visual order (left to right).
    token = _EASTERN_REVERSED.sub(lambda m: m.group()[::-1], token)
    if token.startswith("#"):
        token = _HASHTAG_DASH.sub("_", token)
    return token


def library_mismatch() -> str | None:
    """Why tesserocr must not read in place of the command (it runs another Tesseract, whose
    readings differ), with how to build it against the installed one; None when it may."""
    ours, theirs = library_version(), tesseract_info()["version"]
    if ours == theirs:
        return None
    return (
        f"tesserocr runs Tesseract {ours} and the command is {theirs}: the command reads instead; build "
        "tesserocr against the installed Tesseract, as ./dev does: `apt-get install -y libtesseract-dev "
        "libleptonica-dev pkg-config g++` and `.venv/bin/pip install --force-reinstall --no-deps "
        "--no-binary tesserocr tesserocr`"
    )


@cache
def _library_matches() -> bool:
    """Whether the library may read (:func:`library_mismatch`), said once per process when not."""
    mismatch = library_mismatch()
    if mismatch:
        log.warning("%s", mismatch)
    return mismatch is None


_said_missing: set[str] = set()  # the optional models whose absence was logged


def usable_settings(settings: OcrSettings) -> OcrSettings:
    """``settings`` checked against the installed languages (OcrError if a required one is missing);
    without the digits model the digits pass is switched off, with a warning. The library reads
    only when it runs the command's own Tesseract (``ocr.library``); a tesserocr wheel with
    another version would read the posters differently, so the command reads instead, with a
    warning that says how to build tesserocr against Debian's Tesseract."""
    changes: dict[str, object] = {}
    optional_missing = check_languages(settings)
    if optional_missing:
        if optional_missing[0] not in _said_missing:  # once a process (``check --image`` asks twice)
            _said_missing.add(optional_missing[0])
            log.warning(
                "Tesseract model %s missing, Eastern Arabic digits will be lost: run `apt-get install -y %s`",
                optional_missing[0],
                _language_package(optional_missing[0]),
            )
        changes["digits_pass"] = False
    if settings.tesseract == "library" and not _library_matches():
        changes["tesseract"] = "command"
    return OcrSettings.from_dict({**settings.to_dict(), **changes}) if changes else settings


def tesseract_failure(exc: TesseractFailed) -> str:
    return f"Tesseract could not read it: {exc}".strip()
