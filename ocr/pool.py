"""OCR off the event loop: a bounded queue feeding worker processes that can be killed.

Why processes we start ourselves rather than ``ProcessPoolExecutor``: a stuck Tesseract must be
killed, and killing a Python worker leaves its Tesseract child running with ``/tmp/tess_*`` files
behind (``shared/research/ocr-study.md``). Each worker (``ocr.worker``) runs in its own session,
so on a timeout the whole process group is killed, its private temp folder removed and a fresh
worker started; the pool keeps going.

**The passes of one image are spread over the workers.** An image is read in steps: ``prepare``
(load, fingerprint, write the planes), the plane ``passes`` in batches (the colour planes and
masks in one Tesseract run per worker, each stack of line crops in its own: the bulk of the
time), the ``second`` passes that need the first ones (the row re-read and the script-model
digits pass, side by side), then ``finish`` (merge, Eastern digits from the glyphs). Steps are queued by image age, so the oldest
image's passes go first and every worker helps with it: a single big poster uses both cores
(its alert comes about twice as fast), and a slow noisy poster no longer holds one worker while
the other idles at the end of a batch. With few images per worker, that straggler bounded the
whole run (measured with ``bench.ocr_throughput``: ``bench/README.md``, OCR).

The image keeps one deadline (``timeout``) across its steps: a step still running at the
deadline has its worker's process group killed, the image fails with ``OCR timed out after Ns``,
and its other steps are dropped. Steps share nothing but the image's job folder (plane files,
removed when the image is done), so any worker can take any step.

The event loop only awaits: files are hashed in a thread, workers are talked to through pipes.
Requests for the same sha256 while one is in flight share its result, and a small cache of recent
outcomes means a poster re-shared by ten channels is read once. The queue is bounded, so a flood
of images makes callers wait instead of filling memory; at most ``workers + 1`` images are being
read at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monitor.core.errors import ImageError, OcrError
from monitor.core.models import OcrOutcome
from ocr.hashing import SIMILAR_DISTANCE, perceptual_hash, same_picture
from ocr.images import load_image
from ocr.pass_plan import second_passes
from ocr.passes import plane_batches
from ocr.settings import OcrSettings
from ocr.tesseract import usable_settings

log = logging.getLogger(__name__)

__all__ = ["OcrPool"]

_READY_TIMEOUT = 120.0
_LINE_LIMIT = 16 * 1024 * 1024


def _file_sha256(path: Path, max_bytes: int) -> str | None:
    """sha256 of the file, or None when it is unreadable or over the byte limit (the worker says why)."""
    try:
        if path.stat().st_size > max_bytes:
            return None
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def _fingerprint(path: Path, settings: OcrSettings) -> str | None:
    try:
        loaded = load_image(
            path, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
        )
    except ImageError:
        return None
    return perceptual_hash(loaded.frames[0])


def _same_picture(path: Path, other: Path, settings: OcrSettings) -> bool:
    try:
        a, b = (
            load_image(
                p, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
            )
            for p in (path, other)
        )
    except ImageError:
        return False
    return same_picture(a.frames[0], b.frames[0])


@dataclass
class _Job:
    """One image to read, from the queue to its outcome."""

    path: Path
    sha256: str | None
    future: asyncio.Future[OcrOutcome]
    timeout: float
    seq: int = 0
    deadline: float = 0.0
    folder: Path | None = None
    closed: bool = False  # failed or finished: its remaining steps are dropped
    workers: set[int] = field(default_factory=set)  # pids that ran a step of it
    words: tuple[str, ...] | None = None  # the channels' words its finish was sent (use_words)


@dataclass
class _Step:
    """One request to a worker on behalf of a job (prepare, one pass, finish)."""

    job: _Job
    payload: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]


class _StepFailed(Exception):
    """A step could not be done: the image fails with this reason."""

    def __init__(self, reason: str, *, timed_out: bool = False, given_up: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.given_up = given_up  # dropped because another step of the image failed


@dataclass
class _Worker:
    """One worker process in its own process group, with its own temp folder."""

    settings: OcrSettings
    jobs: Path | None = None  # the pool's job folder: the worker removes it if the pool is killed
    process: asyncio.subprocess.Process | None = None
    tmpdir: str | None = None
    next_id: int = 0
    stderr_task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="tgmonitor-ocr-")
        env = dict(
            os.environ,
            OMP_THREAD_LIMIT="1",
            TMPDIR=self.tmpdir,
            PYTHONUNBUFFERED="1",
            TGMONITOR_OCR_PARENT=str(os.getpid()),  # the worker dies with this process (ocr.worker)
            TGMONITOR_OCR_JOBS=str(self.jobs or ""),
        )
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ocr.worker",
            json.dumps(self.settings.to_dict()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # own process group: killpg takes Tesseract with it
            limit=_LINE_LIMIT,
        )
        self.stderr_task = asyncio.create_task(self._drain_stderr())
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), _READY_TIMEOUT)
        except TimeoutError:
            await self.kill()
            raise OcrError("an OCR worker did not start within two minutes") from None
        if not line:
            code = await self.process.wait()
            await self.kill()
            raise OcrError(f"an OCR worker exited at start (exit code {code})")

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            log.debug("ocr worker %s: %s", self.pid, line.decode(errors="replace").rstrip())

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def request(self, payload: dict[str, Any], timeout: float, job: _Job) -> dict[str, Any]:
        """Send one step of ``job`` to the worker and return its answer.

        Raises :class:`_StepFailed` when the worker runs past ``timeout`` (its group is killed
        and a fresh worker started) or dies; :class:`OcrError` when Tesseract is missing.
        """
        if self.process is None or self.process.returncode is not None:
            await self.restart()
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.next_id += 1
        request = json.dumps({"id": self.next_id, **payload}, ensure_ascii=False) + "\n"
        try:
            self.process.stdin.write(request.encode())
            await self.process.stdin.drain()
            line = await asyncio.wait_for(self.process.stdout.readline(), max(0.0, timeout))
        except TimeoutError:
            log.warning(
                "ocr timed out after %.1fs on %s (%s): killing worker %s",
                job.timeout,
                job.path,
                payload.get("op"),
                self.pid,
            )
            await self.restart()
            raise _StepFailed(f"OCR timed out after {job.timeout:g}s", timed_out=True) from None
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line:
            code = self.process.returncode if self.process else None
            log.warning("ocr worker %s died on %s (exit code %s)", self.pid, job.path, code)
            await self.restart()
            raise _StepFailed(f"the OCR worker died reading this image (exit code {code})")
        reply = json.loads(line)
        if "error" in reply:
            raise OcrError(reply["error"])
        if "failed" in reply:
            raise _StepFailed(reply["failed"])
        return reply

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def kill(self) -> None:
        """Kill the worker's whole process group and remove its temp folder."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self.stderr_task is not None:
            self.stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.stderr_task
            self.stderr_task = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    async def stop(self) -> None:
        """Ask the worker to finish (end of input), kill it if it does not."""
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 5)
        await self.kill()


class OcrPool:
    """``await pool.recognize(path)`` reads an image in worker processes, never on the event loop.

    Use ``async with OcrPool(settings) as pool:`` or ``await pool.start()`` / ``await pool.close()``.
    """

    def __init__(
        self,
        settings: OcrSettings | None = None,
        workers: int | None = None,
        queue_size: int = 64,
        cache_size: int = 1024,
    ) -> None:
        self.settings = settings or OcrSettings()
        self.size = max(1, workers or os.cpu_count() or 1)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=max(1, queue_size))
        # Steps of the images being read, oldest image first: (job seq, step order, tie, step).
        self._steps: asyncio.PriorityQueue[tuple[int, int, int, _Step]] = asyncio.PriorityQueue()
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: dict[str, asyncio.Future[OcrOutcome]] = {}
        self._cache: OrderedDict[str, OcrOutcome] = OrderedDict()
        self._cache_size = cache_size
        self._started = False
        self._closed = False
        self._root: Path | None = None
        self._seq = itertools.count(1)
        self._tie = itertools.count()
        self.stats = {"read": 0, "shared": 0, "timeouts": 0, "failed": 0}
        self.similar_distance = SIMILAR_DISTANCE

    async def __aenter__(self) -> OcrPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Check Tesseract and its languages, then start the workers."""
        if self._started:
            return
        self._closed = False
        # raises OcrError; without the digits model, or with a tesserocr of another Tesseract, warns
        self.settings = await asyncio.to_thread(usable_settings, self.settings)
        self._root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="tgmonitor-ocr-jobs-"))
        self._workers = [_Worker(self.settings, self._root) for _ in range(self.size)]
        try:
            await asyncio.gather(*(w.start() for w in self._workers))
        except BaseException:
            await asyncio.gather(*(w.kill() for w in self._workers))
            await asyncio.to_thread(shutil.rmtree, self._root, True)
            raise
        self._tasks = [asyncio.create_task(self._serve(w)) for w in self._workers]
        self._tasks += [asyncio.create_task(self._drive()) for _ in range(self.size + 1)]
        self._started = True

    async def close(self) -> None:
        """Stop the workers; requests still waiting get a failed outcome."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await asyncio.gather(*(w.stop() for w in self._workers))
        self._workers = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_result(
                    OcrOutcome("failed", reason="the OCR pool was closed", sha256=job.sha256)
                )
        while not self._steps.empty():
            step = self._steps.get_nowait()[-1]
            step.future.cancel()
        if self._root is not None:
            await asyncio.to_thread(shutil.rmtree, self._root, True)
            self._root = None
        self._started = False

    def process_groups(self) -> list[int]:
        """Process group ids of the running workers (each worker leads its own group)."""
        return [w.pid for w in self._workers if w.pid is not None]

    async def recognize(self, path: Path | str, *, timeout: float | None = None) -> OcrOutcome:
        """OCR ``path``; a bad image gives a ``failed`` outcome, a missing Tesseract raises OcrError."""
        if not self._started and not self._closed:
            await self.start()
        path = Path(path)
        sha = await asyncio.to_thread(_file_sha256, path, self.settings.max_bytes)
        if self._closed:
            return OcrOutcome("failed", reason="the OCR pool was closed", sha256=sha)
        if sha is not None:
            if sha in self._cache:
                self._cache.move_to_end(sha)
                self.stats["shared"] += 1
                return self._cache[sha]
            if sha in self._inflight:
                self.stats["shared"] += 1
                return await asyncio.shield(self._inflight[sha])
        future: asyncio.Future[OcrOutcome] = asyncio.get_running_loop().create_future()
        if sha is not None:
            self._inflight[sha] = future
        job = _Job(path, sha, future, timeout or self.settings.timeout)
        try:
            await self._queue.put(job)
        except asyncio.CancelledError:
            self._forget(job)
            future.cancel()
            raise
        if self._closed and not future.done():  # closed while we waited for room in the queue
            self._forget(job)
            future.set_result(OcrOutcome("failed", reason="the OCR pool was closed", sha256=sha))
        return await asyncio.shield(future)

    def use_words(self, words: tuple[str, ...]) -> None:
        """The channels' words (``OcrSettings.known_words``) for every read finished from now on:
        the daemon's rules reloaded. The workers keep their models; each finish is sent them.
        Outcomes cached with other words are dropped: a poster shared again after the reload is
        read with the new words, not served the old reading."""
        words = tuple(words)
        if words != self.settings.known_words:
            self._cache.clear()
        self.settings = replace(self.settings, known_words=words)

    async def fingerprint(self, path: Path | str) -> str | None:
        """The pHash of ``path`` (in a thread: tens of milliseconds), or None when it is no
        image this pool would read (its limits) or cannot be read."""
        return await asyncio.to_thread(_fingerprint, Path(path), self.settings)

    async def same_picture(self, path: Path | str, other: Path | str) -> bool:
        """Whether two images are one picture (``ocr.hashing.same_picture``), in a thread."""
        return await asyncio.to_thread(_same_picture, Path(path), Path(other), self.settings)

    def _forget(self, job: _Job) -> None:
        if job.sha256 is not None and self._inflight.get(job.sha256) is job.future:
            del self._inflight[job.sha256]

    # --- images: each is driven through its steps by one of ``size + 1`` driver tasks ----------

    async def _drive(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if job.future.done():
                    continue
                try:
                    outcome = await self._read(job)
                except asyncio.CancelledError:  # the pool is closing under this job
                    if not job.future.done():
                        job.future.set_result(
                            OcrOutcome("failed", reason="the OCR pool was closed", sha256=job.sha256)
                        )
                    raise
                except OcrError as exc:
                    job.future.set_exception(exc)
                    continue
                except (OSError, ValueError, KeyError) as exc:  # a broken reply
                    log.exception("ocr failed on %s", job.path)
                    outcome = OcrOutcome("failed", reason=f"OCR worker error: {exc}")
                if outcome.sha256 is None:
                    outcome.sha256 = job.sha256
                self._record(job, outcome)
                await self._remove_folder(job)  # the image's plane files are gone when its reader hears
                job.future.set_result(outcome)
            finally:
                job.closed = True
                self._forget(job)
                self._queue.task_done()
                await self._remove_folder(job)

    @staticmethod
    async def _remove_folder(job: _Job) -> None:
        """Remove the image's job folder (its plane files), once."""
        folder, job.folder = job.folder, None
        if folder is not None:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _read(self, job: _Job) -> OcrOutcome:
        """Prepare, run the passes on every worker free to help, finish: the image's outcome."""
        assert self._root is not None
        started = time.perf_counter()
        job.seq = next(self._seq)
        job.deadline = time.monotonic() + job.timeout
        job.folder = self._root / f"job-{job.seq}"
        try:
            prepared = await self._step(
                job, 0, {"op": "prepare", "path": str(job.path), "dir": str(job.folder)}
            )
            if "outcome" in prepared:  # a bad image (failed), or one with nothing to read (ocr.blank)
                outcome = OcrOutcome.from_dict(prepared["outcome"])
                outcome.seconds = time.perf_counter() - started
                return outcome
            units = prepared["units"]  # every plane file; the ones to read are the passes
            passes_of = [unit for unit in units if unit.get("read", True)]
            readable = [unit for unit in passes_of if "same_as" not in unit]  # twins get their reading
            batches = plane_batches([unit["plane"] for unit in readable], self.size)
            answers = await self._all(
                job,
                [
                    self._step(job, i, {"op": "passes", "units": [readable[u] for u in batch]})
                    for i, batch in enumerate(batches, 1)
                ],
            )
            read = {(r["frame"], r["plane"]): r for a in answers for r in a["results"]}
            passes = [
                read[u["frame"], u["plane"]]
                if "same_as" not in u
                else read[u["frame"], u["same_as"]] | {"plane": u["plane"]}
                for u in passes_of
            ]
            order = len(batches) + 1
            names = second_passes(self.settings)
            second = await self._all(
                job,
                [
                    self._step(
                        job, order + i, {"op": "second", "name": name, "units": units, "results": passes}
                    )
                    for i, name in enumerate(names)
                ],
            )
            job.words = self.settings.known_words  # the words as of now (use_words)
            finished = await self._step(
                job,
                order + len(names),
                {
                    "op": "finish",
                    "units": units,
                    "results": passes,
                    "second": [r["result"] for r in second],
                    "known_words": list(job.words),
                },
            )
        except _StepFailed as exc:
            job.closed = True  # drop its queued steps; running ones end by the same deadline
            return OcrOutcome(
                "failed", reason=exc.reason, sha256=job.sha256, seconds=time.perf_counter() - started
            )
        outcome = OcrOutcome.from_dict(prepared["meta"])
        outcome.text = finished["text"]
        outcome.doubtful = finished.get("doubtful", "")
        outcome.seconds = time.perf_counter() - started
        # the passes Tesseract ran (a twin plane, ocr.planes.twin_planes, is not one; each part of the
        # rows pass is one; a second pass left out, ocr.passes.nothing_to_reread, is not)
        reread = sum(answer.get("read", True) for answer in second)
        outcome.extra = {"passes": len(readable) + reread, "workers": len(job.workers)}
        return outcome

    async def _all(self, job: _Job, steps: list[Coroutine[Any, Any, dict[str, Any]]]) -> list[dict[str, Any]]:
        """The answers of ``steps``, run side by side. On the first failure the job is closed (its
        queued steps are dropped), the running ones are awaited (they end by the job's deadline at
        the latest), and that failure is raised."""
        if not steps:  # an image too small to read has no passes; no second passes configured
            return []
        tasks = [asyncio.ensure_future(step) for step in steps]
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            if pending:
                job.closed = True
                await asyncio.wait(pending)
        finally:
            for task in tasks:
                task.cancel()  # only matters when we are cancelled ourselves
        errors = [task.exception() for task in tasks if not task.cancelled()]  # all retrieved
        failures = [e for e in errors if e is not None]
        if failures:  # the failure itself rather than a step dropped because of it
            raise min(failures, key=lambda e: isinstance(e, _StepFailed) and e.given_up)
        return [task.result() for task in tasks]

    async def _step(self, job: _Job, order: int, payload: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._steps.put_nowait((job.seq, order, next(self._tie), _Step(job, payload, future)))
        return await future

    # --- workers: each takes the oldest image's next step ------------------------------------

    async def _serve(self, worker: _Worker) -> None:
        while True:
            step = (await self._steps.get())[-1]
            job = step.job
            if step.future.done():
                continue
            if job.closed:
                step.future.set_exception(_StepFailed("the image was given up", given_up=True))
                continue
            remaining = job.deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise _StepFailed(f"OCR timed out after {job.timeout:g}s", timed_out=True)
                if worker.pid is not None:
                    job.workers.add(worker.pid)
                reply = await worker.request(step.payload, remaining, job)
            except asyncio.CancelledError:
                step.future.cancel()
                raise
            except (_StepFailed, OcrError) as exc:
                if not step.future.done():
                    step.future.set_exception(exc)
                continue
            except (OSError, ValueError) as exc:  # a broken reply or a worker that cannot start
                log.exception("ocr worker failed on %s", job.path)
                if not step.future.done():
                    step.future.set_exception(_StepFailed(f"OCR worker error: {exc}"))
                continue
            if not step.future.done():
                step.future.set_result(reply)

    def _record(self, job: _Job, outcome: OcrOutcome) -> None:
        if outcome.status == "done":
            self.stats["read"] += 1
        else:
            self.stats["failed"] += 1
            if outcome.reason and "timed out" in outcome.reason:
                self.stats["timeouts"] += 1
                return  # a timeout may pass next time (another load, a longer timeout): do not cache
        if job.words is not None and job.words != self.settings.known_words:
            return  # finished with words a reload has since replaced: the next share reads it again
        if job.sha256 is not None and self._cache_size:
            self._cache[job.sha256] = outcome
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def describe(self) -> dict[str, Any]:
        return {"workers": self.size, "queued": self._queue.qsize(), **self.stats}
