"""The desk of ``tgmonitor run`` (``[web] enabled``) in a process of its own, at a lower priority.

Measured (``bench/web_speed.py``, 50 clients without pause, posts archived at 500/s): with the
desk's handlers in the daemon's event loop, each of the dozen steps of an archive write waited
behind page rendering and behind the desk's SQL thread holding the GIL, and the write p99 grew
~6 times. No priority can be given to one coroutine or to a thread holding the GIL; a process can
be given one. So the daemon starts the same desk (:func:`monitor.web.desk.open_desk`) as a child
process niced by :data:`~monitor.web.desk.DESK_NICE`: the cores go to collection first, the desk
takes what is left. It reads the archive through SQLite's WAL like ``tgmonitor serve`` does.

The child stops when the daemon stops it (SIGTERM), and on its own when the daemon is gone (its
end of the pipe closes), so a killed daemon never leaves a desk serving. Ctrl-C in a terminal
reaches both: the child leaves the stopping to the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from monitor.core.config import Config
from monitor.core.errors import MonitorError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # a spawned interpreter imports aiohttp, Jinja2 and the store first
STOP_TIMEOUT_S = 30.0  # it finishes the requests in flight


class DeskProcess:
    """A running desk in its own process; :meth:`start`, then :meth:`stop`."""

    def __init__(self, config: Config, db_path: Path, media_dir: Path | None, *, nice: int) -> None:
        self.config = config
        self.db_path = db_path
        self.media_dir = media_dir
        self.nice = nice
        self.require_login = False
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None

    async def start(self) -> None:
        """Start the desk; raises :class:`MonitorError` with the desk's own sentence if it cannot
        serve (a port in use, a public address without users)."""
        context = multiprocessing.get_context("spawn")  # never fork a process with threads and a loop
        ours, theirs = context.Pipe()
        web = self.config.web
        process = context.Process(
            target=serve_in_child,
            args=(self.config, self.db_path, self.media_dir, web.host, web.port, self.nice, theirs),
            name="tgmonitor-desk",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._pipe = process, ours
        ready = await asyncio.to_thread(ours.poll, START_TIMEOUT_S)
        try:
            kind, value = ours.recv() if ready else ("error", "it did not start in time")
        except EOFError:
            kind, value = "error", f"its process ended (exit code {process.exitcode})"
        if kind != "ready":
            await self.stop()
            raise MonitorError(f"the web desk did not start: {value}")
        self.require_login = bool(value)

    async def stop(self) -> None:
        """Stop the desk (it finishes the requests in flight) and wait for its process."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                log.warning("the web desk did not stop in %g s: killed", STOP_TIMEOUT_S)
                process.kill()
                await asyncio.to_thread(process.join, 5)
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def ended(self) -> str | None:
        """How the desk's process ended when nobody stopped it (``exit code 1``, ``killed by
        signal 9``); None while it serves or after :meth:`stop`."""
        process = self._process
        if process is None or process.is_alive():
            return None
        code = process.exitcode
        return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


def serve_in_child(
    config: Config, db_path: Path, media_dir: Path | None, host: str, port: int, nice: int, pipe: Connection
) -> None:
    """The child's main: serve until SIGTERM or until the parent's end of ``pipe`` closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when its desk stops
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s desk %(levelname)s %(name)s: %(message)s")
    from monitor.web.desk import lower_priority

    lower_priority(nice)
    asyncio.run(_serve(config, db_path, media_dir, host, port, pipe))


async def _serve(
    config: Config, db_path: Path, media_dir: Path | None, host: str, port: int, pipe: Connection
) -> None:
    from monitor.web.desk import open_desk, run_desk

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        async with open_desk(config, db_path, media_dir, host=host, verify=False) as desk:
            runner = await run_desk(desk, host, port)
            try:
                pipe.send(("ready", desk.require_login))
                threading.Thread(target=_watch_parent, args=(pipe, loop, stop), daemon=True).start()
                await stop.wait()
            finally:
                await runner.cleanup()
    except MonitorError as exc:
        with contextlib.suppress(OSError):
            pipe.send(("error", str(exc)))


def _watch_parent(pipe: Connection, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Wait for the parent's end of the pipe to close (the daemon is gone), then stop the desk."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            pipe.recv()
    with contextlib.suppress(RuntimeError):  # the loop has already closed
        loop.call_soon_threadsafe(stop.set)
