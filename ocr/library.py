"""Tesseract in this process (tesserocr): the models load once per process, not once per run.

A Tesseract command pays for loading its models on every run (``ara+eng``: about 0.2 s of the
0.3 s a blank image takes; ``eng`` alone 0.17 s), and a poster is six runs (the colour planes
and masks batched in two, ``ocr.tesseract``). With the library (``OcrSettings(tesseract=
"library")``, the default) the ``PyTessBaseAPI`` of each language set is kept for the life of
the process (a pool worker, the bot, the web desk) and lent to one pass at a time, so a process
pays that cost once for each pass it runs at the same time, not once per run; and the models an
image will need start loading before its first pass (:func:`preload`), beside the Python that
cuts its planes.

It reads exactly as the command does: tesserocr is built from source against Debian's own
libtesseract (``./dev`` installs it with ``--no-binary tesserocr``), the TSV is Tesseract's own
(``GetTSVText``), parsed by the same code (``ocr.tesseract.words_from_tsv``), at the same settings
(``--oem 1``, the pass's ``--psm``, its languages, Debian's models), and a Pillow plane goes in as
the same pixels the command reads from its PGM (:func:`_pixels`). Tested page for page (``tests/ocr/
test_library.py``). A tesserocr wheel bundles another Tesseract (5.5), which reads Debian's models
a little differently: :func:`library_version` tells, and ``ocr.tesseract.usable_settings`` then
runs the command instead, with a warning.

The per-pass CPU limit keeps its purpose (a pass that runs away is cut after the same CPU
seconds on a busy machine as on a quiet one, so what a poster reads as does not depend on the
load): on the main thread a ``SIGPROF`` timer counts this process's CPU time (in a pool worker
nothing else runs beside a pass but, for its first second, the digit templates' warm-up) and
tesserocr cancels the recognition when the signal's handler raises; anywhere else (the threads of
``check --image``, the bot and the web desk) Tesseract only stops at a wall-clock deadline: a pass
is stopped once its wall time reaches its CPU seconds and has used them all, is read again with the
command's bound (four times the CPU seconds) when a busy machine gave it less CPU than that, and
is dropped when its thread used more CPU than its share, as the command's would be
(:func:`_recognize_thread`). Why not ``Recognize(timeout=...)`` alone: its deadline is wall-clock
time, which load stretches.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

# Debian's libtesseract runs OpenMP threads, which read this once, when the library loads: two
# threads per pass fight the other passes and workers for the two cores (a set of planes took
# 68 s instead of 9). The command gets the same limit (``ocr.tesseract``).
os.environ["OMP_THREAD_LIMIT"] = "1"
# Tesseract's OpenMP regions run on the calling thread without libgomp's team of one, the line
# images it keeps are not compressed, its models load without the legacy engine's universal
# ambiguities, a pass past its CPU seconds does not look for paragraphs (ocr/_tesseract_calls.c
# says why), and its LSTM network's bookkeeping runs without a
# call per number (ocr/tesseract_network.c): loaded into the global scope before libtesseract, so
# that libtesseract's calls bind there.
_dlopen_flags = sys.getdlopenflags()
sys.setdlopenflags(_dlopen_flags | os.RTLD_GLOBAL)
try:
    from ocr import _tesseract_calls
finally:
    sys.setdlopenflags(_dlopen_flags)

import tesserocr  # noqa: E402  (after the OpenMP limit and ocr._tesseract_calls)
from PIL import Image  # noqa: E402
from tesserocr import OEM, PyTessBaseAPI  # noqa: E402

from monitor.core.errors import OcrError  # noqa: E402
from ocr.settings import NOISE_VARIABLE, TESSERACT_NOISE_HEIGHT  # noqa: E402

log = logging.getLogger(__name__)

__all__ = ["library_tsv", "library_version", "preload"]


class _PassOverrun(Exception):
    """Raised by the SIGPROF handler: the pass used its CPU seconds; tesserocr cancels it."""


_idle: dict[str, list[PyTessBaseAPI]] = {}  # language set -> APIs no pass is using
_made: Counter[str] = Counter()  # language set -> APIs made or being made in this process
_loading: Counter[str] = Counter()  # language set -> APIs :func:`preload` is still making
_changed = threading.Condition()  # guards the three above; notified when an API comes back or is made
_LOADERS = max(1, min(2, os.cpu_count() or 1))  # threads loading models at once (:func:`preload`)


_LEPTONICA_QUIET = 6  # L_SEVERITY_NONE


@cache
def _quiet_leptonica() -> None:
    """Leptonica prints its complaints (``Error in boxClipToRectangle``...) on stderr, which the
    command's runs kept in a pipe; in this process they would land in the user's terminal. Set
    the message level of the Leptonica tesserocr uses: Debian's (``liblept``), or the one a
    wheel bundles (``tesserocr.libs``)."""
    bundled = sorted((Path(tesserocr.__file__).parent.parent / "tesserocr.libs").glob("libleptonica*"))
    for lib in [*(str(path) for path in bundled), None]:
        # None: the process's global scope, where Debian's Leptonica is, loaded with
        # ocr._tesseract_calls (ctypes.util.find_library ran ldconfig twice, 20 ms, to name it)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(lib).setMsgSeverity(_LEPTONICA_QUIET)


@contextlib.contextmanager
def _engine(lang: str, tessdata: str) -> Iterator[PyTessBaseAPI]:
    """An API for ``lang`` that no other pass is using (an API must not serve two threads at
    once): one kept from an earlier pass, one :func:`preload` is still loading (waited for:
    loading another would only cost the same time again), or a new one. It is kept after the
    pass, for the next one: across the images of a process, not only the passes of one."""
    with _changed:
        while not _idle.get(lang) and _loading[lang]:
            _changed.wait()
        spare = _idle.get(lang)
        api = spare.pop() if spare else None
        if api is None:
            _made[lang] += 1
    if api is None:
        try:
            api = _new_api(lang, tessdata)
        except OcrError:
            with _changed:
                _made[lang] -= 1
            raise
    try:
        yield api
    finally:
        with _changed:
            _idle.setdefault(lang, []).append(api)
            _changed.notify_all()


def _new_api(lang: str, tessdata: str) -> PyTessBaseAPI:
    _quiet_leptonica()
    try:
        return PyTessBaseAPI(path=tessdata, lang=lang, oem=OEM.LSTM_ONLY)
    except RuntimeError as exc:
        raise OcrError(f"Tesseract could not load the language(s) {lang} from {tessdata}: {exc}") from None


def preload(wanted: Mapping[str, int], tessdata: str) -> None:
    """Start loading, in the background, the APIs the passes will ask for (``wanted``: language
    set -> how many at once, in the order the passes need them) that this process has not made
    yet, and return at once.

    Loading a model set takes 0.005-0.025 s of CPU (``ara+eng`` 0.01-0.02 s, ``Arabic`` 0.025 s;
    four times that before ``ocr._tesseract_calls`` left out the legacy engine's tables) outside
    Python's lock, so a one-image process (``check --image``) loads them on its second core
    while it cuts the image's planes, instead of at the start of each pass, where every load held
    up a Tesseract run. They load in order, on as many threads as there are cores (two at most):
    five loads at once made the first plane passes, which need only ``ara+eng``, wait for all
    five (0.23 s on a small image). A model that fails to load here is loaded again by the pass
    that needs it, which then raises the error."""
    with _changed:
        missing = {lang: count - _made[lang] for lang, count in wanted.items() if count > _made[lang]}
        for lang, count in missing.items():
            _made[lang] += count
            _loading[lang] += count
    queue = deque(lang for lang, count in missing.items() for _ in range(count))
    for _ in range(min(len(queue), _LOADERS)):
        threading.Thread(target=_load_queue, args=(queue, tessdata), name="ocr-model", daemon=True).start()


def _load_queue(queue: deque[str], tessdata: str) -> None:
    while True:
        try:
            lang = queue.popleft()
        except IndexError:
            return
        _load_spare(lang, tessdata)


def _load_spare(lang: str, tessdata: str) -> None:
    try:
        api: PyTessBaseAPI | None = _new_api(lang, tessdata)
    except OcrError:
        api = None
    with _changed:
        _loading[lang] -= 1
        if api is None:
            _made[lang] -= 1
        else:
            _idle.setdefault(lang, []).append(api)
        _changed.notify_all()


def library_version() -> str:
    """The version of the Tesseract tesserocr runs (``5.3.0``), to hold against the command's."""
    first = tesserocr.tesseract_version().split()
    return first[1] if len(first) > 1 else "unknown"


def _on_overrun(signum: int, frame: object) -> None:
    raise _PassOverrun()


def _pixels(image: Image.Image) -> tuple[bytes, int, int, int]:
    """``image``'s pixels as Tesseract takes them raw (``SetImageBytes``): 8-bit grey, or 24-bit
    colour, and the bytes per pixel. The command reads a PGM (or PPM), which has no resolution, so
    Tesseract estimates one from the letters; raw pixels have none either, so the two read alike.
    Not tesserocr's ``SetImage``: it saves a Pillow image in its own format, or as BMP, and a BMP
    carries a resolution (the source's DPI, or 96), which Tesseract then uses instead of
    estimating one (the grey, red and green planes of a real poster read differently;
    ``tests/ocr/test_library.py``); and even as a PGM, writing the image out and Leptonica
    reading it back took 16 % of all the CPU of the real images (a poster's stacks of line crops
    are 7482 x 8815 pixels, 1.7 s each) for a copy of the pixels."""
    # a plane is grey already: no copy of a stack's 66 MB before the copy tobytes makes
    pixels = image if image.mode in ("L", "RGB") else image.convert("L" if image.mode == "1" else "RGB")
    depth = 1 if pixels.mode == "L" else 3
    return pixels.tobytes(), pixels.width, pixels.height, depth


_PNM = (".pgm", ".ppm", ".pnm")


def _open_pnm(path: str | Path) -> Image.Image:
    """A PGM or PPM file (the planes a pool worker writes, ``ocr.planes.save_plane``) read by
    Pillow: the same pixels as Leptonica's reader, which takes 26 ns a pixel (1.7 s for a stack
    of line crops of 66 million pixels). Other formats stay with Leptonica: two JPEG decoders
    need not give the same pixels."""
    with Image.open(path) as opened:
        opened.load()
        return opened


def library_tsv(
    image: Image.Image | str | Path,
    lang: str,
    psm: int,
    timeout: float | None,
    tessdata: str,
    noise_height: int = TESSERACT_NOISE_HEIGHT,
) -> str | None:
    """Tesseract's TSV for ``image`` at ``psm`` with ``lang``, or None when the pass ran over
    ``timeout`` CPU seconds (rounded up, as for the command) and was cut. ``noise_height`` is set
    on every pass, since one API serves passes that want different ones (the plane passes and
    ``rows`` share ``ara+eng``)."""
    with _engine(lang, tessdata) as api:
        api.SetPageSegMode(psm)
        if not api.SetVariable(NOISE_VARIABLE, str(noise_height)):
            _unknown_variable(NOISE_VARIABLE)  # read on, as the command does with a ``-c`` it lacks
        if not isinstance(image, Image.Image) and Path(image).suffix.lower() in _PNM:
            image = _open_pnm(image)  # a pool worker's plane file: Pillow reads it faster
        if isinstance(image, Image.Image):
            # ``data`` stays referenced until the pass is read, as tesserocr asks of the buffer
            data, width, height, depth = _pixels(image)
            api.SetImageBytes(data, width, height, depth, depth * width)
        else:
            api.SetImageFile(str(image))
        cpu = max(1, math.ceil(timeout)) if timeout else None
        if cpu is None:
            api.Recognize()
            return api.GetTSVText(0)
        if threading.current_thread() is threading.main_thread():
            return _recognize_main(api, cpu)
        return _recognize_thread(api, cpu)


@cache
def _unknown_variable(name: str) -> None:
    log.warning("this Tesseract has no parameter %s: its passes read with its own", name)


def _recognize_main(api: PyTessBaseAPI, cpu: int) -> str | None:
    previous = signal.signal(signal.SIGPROF, _on_overrun)
    try:
        signal.setitimer(signal.ITIMER_PROF, cpu)
        try:
            finished = _recognize_within(api, cpu)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _PassOverrun:
        finished = None
    finally:
        signal.signal(signal.SIGPROF, previous)
    if finished is None:
        log.info("a psm %d pass ran over %ds of CPU: skipped", api.GetPageSegMode(), cpu)
        return None
    return api.GetTSVText(0) if finished else ""


def _recognize_within(api: PyTessBaseAPI, cpu: int, timeout: int = 0) -> bool | None:
    """``api.Recognize`` (with a wall-clock ``timeout`` in ms, if any) with this thread's budget
    of ``cpu`` CPU seconds: None if it ran past them before the page's paragraphs were looked
    for. Tesseract looks at no deadline while it looks for them (4.6 s of CPU on a page of
    grain), so ocr/_tesseract_calls.c leaves them out of a pass that is over its CPU seconds by
    then, and that pass is skipped here, its page not read."""
    skipped = _tesseract_calls.paragraphs_skipped()
    _tesseract_calls.cpu_budget(float(cpu))
    try:
        finished = api.Recognize(timeout=timeout)  # 0: no deadline
    finally:
        _tesseract_calls.cpu_budget(0.0)
    return None if _tesseract_calls.paragraphs_skipped() != skipped else finished


def _recognize_thread(api: PyTessBaseAPI, cpu: int) -> str | None:
    """Off the main thread Tesseract can only be stopped at a wall-clock deadline. The first
    deadline is the CPU seconds themselves (and half a second): a pass cut there having used
    more than its CPU seconds would have been skipped anyway, and stops now instead of running
    to its end (a rows pass used 5 s of CPU for nothing on a calligraphy poster). Cut there
    with CPU to spare (a busy machine), it is read again with the long deadline, so the
    readings never depend on the machine's load. Tesseract looks at its deadline only while it
    recognises the words of its first pass (``Recognize`` then returns False); a pass past that
    point runs to its end and returns True (a grain read whole in 7.9 s under a 3 s deadline),
    and the CPU check below drops it as before; a pass already past its CPU seconds when
    Tesseract looks for its paragraphs ends there (:func:`_recognize_within`)."""
    started = time.thread_time()
    finished = _recognize_within(api, cpu, cpu * 1000 + 500)
    if finished is False and time.thread_time() - started <= cpu:
        started = time.thread_time()
        finished = _recognize_within(api, cpu, (4 * cpu + 1) * 1000)
    if not finished or time.thread_time() - started > cpu:
        log.info(
            "a psm %d pass ran over %ds of CPU (or %ds of wall time): skipped",
            api.GetPageSegMode(),
            cpu,
            4 * cpu + 1,
        )
        return None
    return api.GetTSVText(0)
