"""OCR off the event loop: a bounded queue feeding worker processes that can be killed.

Why processes we start ourselves rather than ``ProcessPoolExecutor``: a stuck Tesseract must be
killed, and killing a Python worker leaves its Tesseract child running with ``/tmp/tess_*`` files
behind (``shared/research/ocr-study.md``). Each worker (``ocr.worker``) runs in its own session,
so on a timeout the whole process group is killed, its private temp folder removed and a fresh
worker started; the pool keeps going.

The event loop only awaits: files are hashed in a thread, workers are talked to through pipes.
Requests for the same sha256 while one is in flight share its result, and a small cache of recent
outcomes means a poster re-shared by ten channels is read once. The queue is bounded, so a flood
of images makes callers wait instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import OcrError
from ocr.settings import OcrOutcome, OcrSettings

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


@dataclass
class _Job:
    path: Path
    sha256: str | None
    future: asyncio.Future[OcrOutcome]
    timeout: float


@dataclass
class _Worker:
    """One worker process in its own process group, with its own temp folder."""

    settings: OcrSettings
    process: asyncio.subprocess.Process | None = None
    tmpdir: str | None = None
    next_id: int = 0
    stderr_task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="tgmonitor-ocr-")
        env = dict(os.environ, OMP_THREAD_LIMIT="1", TMPDIR=self.tmpdir, PYTHONUNBUFFERED="1")
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

    async def run(self, path: Path, timeout: float) -> OcrOutcome:
        """Read ``path`` in the worker; on timeout or crash, kill the group and restart."""
        if self.process is None or self.process.returncode is not None:
            await self.restart()
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.next_id += 1
        request = json.dumps({"id": self.next_id, "path": str(path)}) + "\n"
        started = time.perf_counter()
        try:
            self.process.stdin.write(request.encode())
            await self.process.stdin.drain()
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            log.warning("ocr timed out after %.1fs on %s: killing worker %s", timeout, path, self.pid)
            await self.restart()
            return OcrOutcome(
                "failed", reason=f"OCR timed out after {timeout:g}s", seconds=time.perf_counter() - started
            )
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line:
            code = self.process.returncode
            log.warning("ocr worker %s died on %s (exit code %s)", self.pid, path, code)
            await self.restart()
            return OcrOutcome(
                "failed",
                reason=f"the OCR worker died reading this image (exit code {code})",
                seconds=time.perf_counter() - started,
            )
        reply = json.loads(line)
        if "error" in reply:
            raise OcrError(reply["error"])
        return OcrOutcome.from_dict(reply["outcome"])

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
    """``await pool.recognize(path)`` reads an image in a worker process, never on the event loop.

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
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: dict[str, asyncio.Future[OcrOutcome]] = {}
        self._cache: OrderedDict[str, OcrOutcome] = OrderedDict()
        self._cache_size = cache_size
        self._started = False
        self._closed = False
        self.stats = {"read": 0, "shared": 0, "timeouts": 0, "failed": 0}

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
        from ocr.engine import check_languages

        missing = await asyncio.to_thread(check_languages, self.settings)  # raises OcrError
        if missing:
            log.warning(
                "Tesseract model %s is missing: Eastern Arabic digits will be lost (apt-get install -y %s)",
                missing[0],
                "tesseract-ocr-script-arab",
            )
            self.settings = OcrSettings.from_dict({**self.settings.to_dict(), "digits_pass": False})
        self._workers = [_Worker(self.settings) for _ in range(self.size)]
        try:
            await asyncio.gather(*(w.start() for w in self._workers))
        except BaseException:
            await asyncio.gather(*(w.kill() for w in self._workers))
            raise
        self._tasks = [asyncio.create_task(self._serve(w)) for w in self._workers]
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

    def _forget(self, job: _Job) -> None:
        if job.sha256 is not None and self._inflight.get(job.sha256) is job.future:
            del self._inflight[job.sha256]

    async def _serve(self, worker: _Worker) -> None:
        while True:
            job = await self._queue.get()
            try:
                if job.future.done():
                    continue
                try:
                    outcome = await worker.run(job.path, job.timeout)
                except asyncio.CancelledError:  # the pool is closing under this job
                    if not job.future.done():
                        job.future.set_result(
                            OcrOutcome("failed", reason="the OCR pool was closed", sha256=job.sha256)
                        )
                    raise
                except OcrError as exc:
                    job.future.set_exception(exc)
                    continue
                except (OSError, ValueError) as exc:  # a broken reply or a worker that cannot start
                    log.exception("ocr worker failed on %s", job.path)
                    outcome = OcrOutcome("failed", reason=f"OCR worker error: {exc}")
                if outcome.sha256 is None:
                    outcome.sha256 = job.sha256
                self._record(job, outcome)
                job.future.set_result(outcome)
            finally:
                self._forget(job)
                self._queue.task_done()

    def _record(self, job: _Job, outcome: OcrOutcome) -> None:
        if outcome.status == "done":
            self.stats["read"] += 1
        else:
            self.stats["failed"] += 1
            if outcome.reason and "timed out" in outcome.reason:
                self.stats["timeouts"] += 1
                return  # a timeout may pass next time (another load, a longer timeout): do not cache
        if job.sha256 is not None and self._cache_size:
            self._cache[job.sha256] = outcome
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def describe(self) -> dict[str, Any]:
        return {"workers": self.size, "queued": self._queue.qsize(), **self.stats}
