"""A number that moves whenever anything is committed to the archive, read in microseconds.

SQLite's ``PRAGMA data_version`` changes, on the connection that asks, when any *other*
connection (of this process or another) has committed since; this class keeps a connection of
its own for it, so every writer (the daemon, an import, the desk's own decisions) counts. The
web desk keys what it has read on it: an answer is reused only while the archive is unchanged,
so nothing stale is ever served. The read is a look at the WAL index in shared memory, short
enough to make on the event loop (no trip through the archive's busy connection thread).
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

from monitor.core.store.opening import read_only_uri


class ChangeMark:
    """``mark()`` is equal to an earlier value only if nothing was committed in between."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(
            read_only_uri(path), uri=True, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA busy_timeout = 50")  # it runs on an event loop
        self._unknown = itertools.count(-1, -1)

    def mark(self) -> int:
        """The mark now; when SQLite cannot tell (the file busy beyond 50 ms), a value never seen
        before, which counts as "changed": the caller reads again rather than trusting an answer."""
        try:
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.OperationalError:
            return next(self._unknown)
        return int(row[0])

    def close(self) -> None:
        self._conn.close()
