"""The one write connection: transactions under a lock (and a process gate), reads, closing.

Every other part of the store is a mixin on :class:`StoreBase`; this is the only place that opens
a transaction, so the rules of the single writer live in one page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from monitor.core.store.common import Tx

log = logging.getLogger(__name__)

QUIET_CHECKPOINT_S = 1.0
"""A live writer (the daemon) checkpoints the WAL into the archive at most this often, right
after a commit, beside its next batch (``quiet_checkpoints``). Measured on a 1,000,000-post
archive taking 500 posts/s (``bench/web_speed.py``): SQLite's own checkpoint, every 10,000 WAL
pages (``wal_autocheckpoint``, ~13 s of writes), runs inside the commit that crosses the mark and
made that batch 100-280 ms instead of 15; a second's worth of pages takes 5-30 ms beside the
writer, and no batch waits for it."""


class WriteGate(Protocol):
    """A lock shared by processes that write one archive at once (a ``multiprocessing.Lock``)."""

    def acquire(self, block: bool = True, /) -> bool: ...

    def release(self) -> None: ...


async def _acquire_in_thread(gate: WriteGate) -> None:
    """Wait for the import workers' gate in a thread; if the wait is cancelled, the thread still
    takes the gate, so it is handed back as soon as it does (or no worker would write again)."""
    waiting = asyncio.ensure_future(asyncio.to_thread(gate.acquire))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(lambda done: done.cancelled() or done.exception() or gate.release())
        raise


class StoreBase:
    """The connection and its transactions; the archive's other parts build on these."""

    def __init__(self, conn: Tx, path: Path, media_dir: Path, write_gate: WriteGate | None = None):
        self._conn = conn
        self.path = path
        self.media_dir = media_dir
        # The lock that protects the single write connection: one transaction at a time.
        self._write_lock = asyncio.Lock()
        # Import workers share the archive: a process lock hands write transactions from one to
        # the next at once (SQLite's own busy wait sleeps in coarse steps).
        self._write_gate = write_gate
        self._transactions = 0  # ended (committed or rolled back) on this connection: _write_mark
        # Set by a live writer (Archive.open(quiet_checkpoints=True)): see QUIET_CHECKPOINT_S.
        self.quiet_checkpoints = False
        self._checkpointed_at = time.monotonic()
        self._checkpoint: asyncio.Task[None] | None = None
        self._checkpointer: sqlite3.Connection | None = None

    async def close(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint  # a few ms
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        async with self._write_lock:
            with contextlib.suppress(sqlite3.Error):
                await self._conn.execute("PRAGMA optimize")
            await self._conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """The one write connection, inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        async with self._write_lock:
            gate = self._write_gate
            if gate is not None and not gate.acquire(False):
                await _acquire_in_thread(gate)
            try:
                try:
                    await self._conn.execute("BEGIN IMMEDIATE")
                    yield self._conn
                    await self._conn.execute("COMMIT")
                except BaseException:
                    # A statement whose await was cancelled still runs on the connection's thread
                    # (aiosqlite queues it): a BEGIN cancelled there opens the transaction anyway.
                    # This ROLLBACK is queued behind it, so it ends that transaction (or finds
                    # none, after a COMMIT that went through) before anyone else's BEGIN.
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                    raise
            finally:
                self._transactions += 1
                if gate is not None:
                    gate.release()
        if self.quiet_checkpoints:
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        """After a commit: checkpoint now, if the last was long enough ago and none is running."""
        if self._checkpoint is not None or time.monotonic() - self._checkpointed_at < QUIET_CHECKPOINT_S:
            return
        self._checkpointed_at = time.monotonic()
        self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        """``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own, in a worker thread: it
        copies what no reader still needs and waits for nobody, while the next batch is planned
        and written beside it (SQLite lets one checkpoint run with one writer; on the write
        connection itself it would fail whenever a read of it was under way)."""
        try:
            await asyncio.to_thread(self._checkpoint_now)
        except sqlite3.Error as exc:  # a busy or read-only file: SQLite's autocheckpoint remains
            log.debug("quiet checkpoint of %s: %s", self.path, exc)
        finally:
            self._checkpoint = None

    def _checkpoint_now(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def _write_mark(self) -> tuple[int, int]:
        """What tells that nothing was written since: this connection's transactions (one read
        outside a transaction may have seen one that was still open), others' (``data_version``)."""
        rows = await self._conn.execute_fetchall("PRAGMA data_version")
        return self._transactions, int(next(iter(rows))[0])

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One call on the connection's thread (execute, fetch and close are three otherwise).
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cur:
            return await cur.fetchone()
