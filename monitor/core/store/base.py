"""The one write connection: transactions under a lock (and a process gate), reads, closing.

Every other part of the store is a mixin on :class:`StoreBase`; this is the only place that opens
a transaction, so the rules of the single writer live in one page.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from monitor.core.store.common import Tx


class WriteGate(Protocol):
    """A lock shared by processes that write one archive at once (a ``multiprocessing.Lock``)."""

    def acquire(self, block: bool = True, /) -> bool: ...

    def release(self) -> None: ...


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

    async def close(self) -> None:
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
                await asyncio.to_thread(gate.acquire)
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                    raise
                else:
                    await self._conn.execute("COMMIT")
            finally:
                self._transactions += 1
                if gate is not None:
                    gate.release()

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
