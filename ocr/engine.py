"""Reading one poster: load and fingerprint it, cut its planes, run every pass, merge them.

:func:`recognize_file` reads an image with every pass in this process; the pool's workers
(``ocr.worker``) run the same steps one request at a time. An image goes through
``ocr.images`` (safe loading) -> ``ocr.planes`` (colour planes, masks, stacks of line crops) ->
``ocr.passes`` (a Tesseract pass per plane through ``ocr.tesseract``, then the row re-read and
the script-model digits pass) -> ``ocr.voting`` (merge, Eastern digits from the glyphs, the
countdown vote).

Every step was chosen by measurement on the posters of ``scripts/posters.py`` with
``python -m bench.ocr_quality``: the tables, the measured steps and what was tried and dropped
are in ``bench/README.md`` (OCR).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from monitor.core.errors import ImageError
from monitor.core.models import OcrOutcome
from ocr.blank import has_no_text
from ocr.first_passes import FirstPasses, fulfil, start_loading
from ocr.hashing import perceptual_hash, sha256_bytes
from ocr.images import LoadedImage, load_image
from ocr.lexicon import lexicon_for, spellings_for
from ocr.pass_plan import WAYS, second_passes
from ocr.passes import nothing_to_reread, plane_batches, read_planes, read_second
from ocr.planes import DOUBLED_PREFIX, LINES_PREFIX, frame_planes, is_pass, line_planes, twin_planes
from ocr.readings import PassResult, ReadResult, Word
from ocr.settings import OcrSettings
from ocr.tesseract import TesseractFailed, tesseract_failure, usable_settings
from ocr.voting import finish

__all__ = [
    "NO_TEXT",
    "load_for_ocr",
    "nothing_to_read",
    "read_frames",
    "read_passes",
    "recognize_file",
    "recognize_image",
]

NO_TEXT = "no text: no strong edges to make letters of"
"""The reason recorded with a ``done`` outcome whose picture was not read (``ocr.blank``)."""


def read_frames(
    frames: list[Image.Image],
    settings: OcrSettings,
    meanwhile: Callable[[], object] | None = None,
    started_early: FirstPasses | None = None,
) -> ReadResult:
    """Text of the frames of one image, every pass in this process (:func:`read_passes`)."""
    results, first, second = read_passes(frames, settings, meanwhile, started_early)
    return finish(results, first, settings, second)


def read_passes(
    frames: list[Image.Image],
    settings: OcrSettings,
    meanwhile: Callable[[], object] | None = None,
    started_early: FirstPasses | None = None,
) -> tuple[list[PassResult], dict[str, Image.Image], list[PassResult]]:
    """The passes over the frames of one image, in this process, as :func:`ocr.voting.finish`
    takes them: the plane passes, the first frame's planes, the second passes.

    The plane passes run on two threads, each waiting on its Tesseract run: first the ones the
    second passes need (the first frame's planes at their own size, then its line stacks, cut in
    Python while the planes are read), then the second passes (``rows`` takes as long as a stack,
    ``digits`` a moment), with the doubled planes of a small image and the other frames' planes
    filling the thread the second passes leave free. Planes with the same pixels
    (``ocr.planes.twin_planes``) are read once. The models this process has not loaded yet load
    meanwhile, on threads of their own (``ocr.first_passes.start_loading``).

    ``meanwhile`` is the caller's own work, run on this thread once every pass is started, when
    it would otherwise only wait for Tesseract (``check --image`` builds its detector there: built
    beside the cutting of planes, its Python took turns with it and delayed the first passes).

    ``started_early``: the first frame's Pillow planes already being read (``ocr.first_passes``),
    taken over with their pool when they are this read's."""
    start_loading(settings)
    early = started_early.take_over(frames[0], settings) if started_early is not None and frames else None
    with early or ThreadPoolExecutor(WAYS, thread_name_prefix="ocr-pass") as pool:
        taken = started_early if early is not None else None
        threads = _StacksFirst(pool)
        cut = [
            frame_planes(f, settings, taken.cut if taken and i == 0 else None) for i, f in enumerate(frames)
        ]
        # read once, each twin given the reading
        twins = [twin_planes(named, taken.cut if taken and i == 0 else None) for i, named in enumerate(cut)]
        once = [{k: v for k, v in named.items() if k not in t} for named, t in zip(cut, twins, strict=True)]
        firsts = _split(once, first=True)
        started: _Started = {}
        if taken is not None:  # the same planes, the same runs: their readings as they come
            started = {(0, name): (run, 0) for name, run in taken.started.items() if name in firsts[0]}
            firsts[0] = {k: v for k, v in firsts[0].items() if (0, k) not in started}
        started |= _start_passes(threads, firsts, settings)
        stacks = [line_planes(frame, settings) for frame in frames]
        started |= _start_passes(threads, _split(stacks, first=True), settings)
        if settings.evidence:  # the dictionaries load while Tesseract reads, not after it, when
            lexicon_for(settings.languages)  # finish needs them (6 ms from their cache, ~1 s at first)
            spellings_for(settings.languages)
        started |= _twins_of(started, twins)
        planes = [a | b for a, b in zip(cut, stacks, strict=True)]
        first = planes[0] if planes else {}
        # what the second passes read from: the first frame at its own size
        needed = [PassResult(0, name, _reading(started, 0, name)) for name in first if (0, name) in started]
        rereads = second_passes(settings)
        if rereads and nothing_to_reread(needed, first, settings):
            rereads = []
        second = [pool.submit(read_second, name, needed, first, settings) for name in rereads]
        started |= _start_passes(threads, _split(once, first=False), settings)
        started |= _start_passes(threads, _split(stacks, first=False), settings)
        started |= _twins_of(started, twins)
        if meanwhile is not None:
            meanwhile()
        results = [
            PassResult(index, name, _reading(started, index, name))
            for index, named in enumerate(planes)
            for name in named
            if is_pass(name)
        ]
    return results, first, [read.result() for read in second]


_Started = dict[tuple[int, str], tuple[Future[list[list[list[Word]]]], int]]


def _split(planes: list[dict[str, Image.Image]], *, first: bool) -> list[dict[str, Image.Image]]:
    """The planes the second passes read from (``first``: the first frame's, at their own size),
    or all the others (the doubled planes, the other frames')."""
    return [
        {k: v for k, v in named.items() if (index == 0 and not k.startswith(DOUBLED_PREFIX)) == first}
        for index, named in enumerate(planes)
    ]


def _twins_of(started: _Started, twins: list[dict[str, str]]) -> _Started:
    """Each twin plane given the reading of the plane with the same pixels, once that is started."""
    return {
        (index, name): started[index, twin]
        for index, t in enumerate(twins)
        for name, twin in t.items()
        if (index, twin) in started
    }


def _reading(started: _Started, index: int, name: str) -> list[list[Word]]:
    read, position = started[index, name]
    return read.result()[position]


class _StacksFirst:
    """The pool's queue with the line stacks ahead of the planes still waiting.

    A stack is the longest run of an image (0.5-0.9 s against 0.05-0.3 s for a plane), and its
    crops are cut in Python while the first planes are read; queued behind the planes, the two
    stacks were the last runs before ``rows``, and one thread waited for the other to end its
    stack (0.075 s an image on the real set, up to 0.24 s). Ahead of the waiting planes, the
    short planes are what is left at the end, and the threads end together. Each submitted run
    takes whichever waiting run comes first when a thread is free."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._waiting: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self._order = itertools.count()

    def submit(self, stack: bool, run: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            heapq.heappush(self._waiting, (0 if stack else 1, next(self._order), future, run, args))
        self._pool.submit(self._run_next)
        return future

    def _run_next(self) -> None:
        with self._lock:
            _, _, future, run, args = heapq.heappop(self._waiting)
        fulfil(future, run, *args)


def _start_passes(
    threads: _StacksFirst, planes: list[dict[str, Image.Image]], settings: OcrSettings
) -> _Started:
    """The passes over ``planes`` (per frame) started: for each (frame, plane), its run's future
    and its place in the run. The command reads the planes in batches (``plane_batches``: one
    run loads the models once); the library, whose models stay loaded, reads each plane as a
    run of its own, so that the two threads share out the work evenly."""
    units = [
        (index, name, plane)
        for index, named in enumerate(planes)
        for name, plane in named.items()
        if is_pass(name)
    ]
    names = [name for _, name, _ in units]
    batches = (
        plane_batches(names, WAYS) if settings.tesseract == "command" else [[i] for i in range(len(units))]
    )
    started = {}
    for batch in batches:
        stack = any(units[i][1].startswith(LINES_PREFIX) for i in batch)
        read = threads.submit(stack, read_planes, [units[i][1:] for i in batch], settings)
        started.update({(units[i][0], units[i][1]): (read, position) for position, i in enumerate(batch)})
    return started


def recognize_image(loaded: LoadedImage, settings: OcrSettings) -> str:
    return read_frames(loaded.frames, settings).text


def load_for_ocr(
    path: Path | str | bytes, settings: OcrSettings, early: FirstPasses | None = None
) -> tuple[OcrOutcome, LoadedImage | None]:
    """Load and fingerprint an image: a ``done`` outcome with no text yet and the image, or a
    ``failed`` outcome with the reason and None. ``early``: the image already loaded, if it is
    this one (``ocr.first_passes``)."""
    started = time.perf_counter()
    sha = phash = None
    try:
        loaded = early.image_of(path, settings) if early is not None else None
        if loaded is None:
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


def nothing_to_read(
    outcome: OcrOutcome, loaded: LoadedImage, settings: OcrSettings, known: bool | None = None
) -> bool:
    """Whether ``loaded`` has no text to read (``ocr.blank``); if so ``outcome`` says so.
    ``known``: the test's answer for ``loaded``, already worked out (``ocr.first_passes``)."""
    if not settings.no_text_check or not (has_no_text(loaded.frames) if known is None else known):
        return False
    outcome.reason = NO_TEXT
    return True


def recognize_file(
    path: Path | str | bytes,
    settings: OcrSettings | None = None,
    meanwhile: Callable[[], object] | None = None,
    started_early: FirstPasses | None = None,
) -> OcrOutcome:
    """OCR one image file synchronously, every pass in this process.

    Never raises for a bad image: the outcome is ``failed`` with a reason. Raises
    :class:`OcrError` only when Tesseract or a language is missing (with the install command).
    ``meanwhile`` runs while Tesseract reads (:func:`read_passes`), and not at all when nothing
    is read (a bad image, an image without text). ``started_early``: this file's load and first
    passes, begun before the engine was imported (``ocr.first_passes``, ``check --image``).
    """
    started = time.perf_counter()
    settings = usable_settings(settings or OcrSettings())
    outcome, loaded = load_for_ocr(path, settings, started_early)
    known = None  # the test for text, when the early read of this image made it
    if started_early is not None and loaded is not None:
        known = started_early.without_text(loaded)
        if known is not None:  # this image's read began there: its seconds count from then
            started = started_early.began
    if loaded is not None and not nothing_to_read(outcome, loaded, settings, known):
        try:
            read = read_frames(loaded.frames, settings, meanwhile, started_early)
            outcome.text, outcome.doubtful = read.text, read.doubtful
        except TesseractFailed as exc:
            outcome.status, outcome.reason = "failed", tesseract_failure(exc)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _sha_of_file(path: Path | str) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except OSError:
        return None
