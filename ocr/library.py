"""Tesseract in this process (tesserocr): the models load once per process, not once per run.

A Tesseract command pays for loading its models on every run (``ara+eng``: about 0.2 s of the
0.3 s a blank image takes; ``eng`` alone 0.17 s), and a poster is six runs (the colour planes
and masks batched in two, ``ocr.tesseract``). With
``OcrSettings(tesseract="library")`` one ``PyTessBaseAPI`` per language set and thread is kept
for the life of the process (a pool worker, ``tgmonitor check``), so that cost is paid once.
Not the default: the wheel's Tesseract (5.5) reads Debian's models a little differently from
Debian's 5.3, and the evidence step was measured on 5.3's readings (``bench/README.md``, Speed:
half the CPU, slightly lower recall, more junk words). The results are Tesseract's own TSV
(``GetTSVText``), parsed by the same code as the command's (``ocr.tesseract.words_from_tsv``),
at the same settings (``--oem 1``, the pass's ``--psm``, its languages, Debian's models).

The per-pass CPU limit keeps its purpose (a pass that runs away is cut after the same CPU
seconds on a busy machine as on a quiet one, so what a poster reads as does not depend on the
load): on the main thread a ``SIGPROF`` timer counts this process's CPU time (in a pool worker
nothing else runs beside a pass but, for its first second, the digit templates' warm-up) and
tesserocr cancels the recognition when the signal's handler raises; anywhere else (a thread of the bot or
the web desk) recognition gets the command's wall-clock bound (four times the CPU seconds) and a
pass whose thread used more CPU than its share is dropped afterwards, as the command's would be.
Why not ``Recognize(timeout=...)`` alone: its deadline is wall-clock time, which load stretches.
"""

from __future__ import annotations

import ctypes
import logging
import math
import signal
import threading
import time
from functools import cache
from pathlib import Path

import tesserocr
from PIL import Image
from tesserocr import OEM, PyTessBaseAPI

from monitor.core.errors import OcrError

log = logging.getLogger(__name__)

__all__ = ["library_tsv"]


class _PassOverrun(Exception):
    """Raised by the SIGPROF handler: the pass used its CPU seconds; tesserocr cancels it."""


class _Engines(threading.local):
    """One API per language set, per thread: an API must not be used by two threads at once."""

    def __init__(self) -> None:
        self.by_lang: dict[str, PyTessBaseAPI] = {}


_engines = _Engines()


_LEPTONICA_QUIET = 6  # L_SEVERITY_NONE


@cache
def _quiet_leptonica() -> None:
    """Leptonica prints its complaints (``Error in boxClipToRectangle``...) on stderr, which the
    command's runs kept in a pipe; in this process they would land in the user's terminal. The
    wheel bundles its own Leptonica (``tesserocr.libs``), already loaded: set its message level."""
    for lib in sorted((Path(tesserocr.__file__).parent.parent / "tesserocr.libs").glob("libleptonica*")):
        ctypes.CDLL(str(lib)).setMsgSeverity(_LEPTONICA_QUIET)


def _api(lang: str, tessdata: str) -> PyTessBaseAPI:
    api = _engines.by_lang.get(lang)
    if api is None:
        _quiet_leptonica()
        try:
            api = PyTessBaseAPI(path=tessdata, lang=lang, oem=OEM.LSTM_ONLY)
        except RuntimeError as exc:
            raise OcrError(
                f"Tesseract could not load the language(s) {lang} from {tessdata}: {exc}"
            ) from None
        _engines.by_lang[lang] = api
    return api


def _on_overrun(signum: int, frame: object) -> None:
    raise _PassOverrun()


def library_tsv(
    image: Image.Image | str | Path, lang: str, psm: int, timeout: float | None, tessdata: str
) -> str | None:
    """Tesseract's TSV for ``image`` at ``psm`` with ``lang``, or None when the pass ran over
    ``timeout`` CPU seconds (rounded up, as for the command) and was cut."""
    api = _api(lang, tessdata)
    api.SetPageSegMode(psm)
    if isinstance(image, Image.Image):
        api.SetImage(image)
    else:
        api.SetImageFile(str(image))
    cpu = max(1, math.ceil(timeout)) if timeout else None
    if cpu is None:
        api.Recognize()
        return api.GetTSVText(0)
    if threading.current_thread() is threading.main_thread():
        return _recognize_main(api, cpu)
    return _recognize_thread(api, cpu)


def _recognize_main(api: PyTessBaseAPI, cpu: int) -> str | None:
    previous = signal.signal(signal.SIGPROF, _on_overrun)
    try:
        signal.setitimer(signal.ITIMER_PROF, cpu)
        try:
            finished = api.Recognize()
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _PassOverrun:
        log.info("a psm %d pass ran over %ds of CPU: skipped", api.GetPageSegMode(), cpu)
        return None
    finally:
        signal.signal(signal.SIGPROF, previous)
    return api.GetTSVText(0) if finished else ""


def _recognize_thread(api: PyTessBaseAPI, cpu: int) -> str | None:
    started = time.thread_time()
    finished = api.Recognize(timeout=(4 * cpu + 1) * 1000)
    if not finished or time.thread_time() - started > cpu:
        log.info(
            "a psm %d pass ran over %ds of CPU (or %ds of wall time): skipped",
            api.GetPageSegMode(),
            cpu,
            4 * cpu + 1,
        )
        return None
    return api.GetTSVText(0)
