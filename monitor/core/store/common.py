"""What every part of the store shares: the unit-of-work handle, ``IN (...)`` sizes, chunking."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import TypeVar

import aiosqlite

T = TypeVar("T")

Tx = aiosqlite.Connection
"""A unit of work's handle: what :meth:`Archive.transaction` yields. Code outside the store holds
it only to pass it back to the store's own functions (it never runs SQL on it)."""

_LIMITS = sqlite3.connect(":memory:")
IN_LIST = max(100, min(4000, _LIMITS.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 10))
"""Values per ``IN (...)`` of the batch look-ups: a whole import batch in one query (one thread hop)."""
_LIMITS.close()


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    """``items`` in slices of at most ``size`` (the values of one ``IN (...)`` each)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(count: int) -> str:
    """``?, ?, ...``: the placeholders of an ``IN (...)`` of ``count`` values."""
    return ",".join("?" * count)


async def stored_values(tx: Tx, table: str, column: str, values: Sequence[T]) -> set[T]:
    """Those of ``values`` that ``table.column`` holds: one ``IN (...)`` per :data:`IN_LIST` values.

    ``table`` and ``column`` are the store's own names, never input.
    """
    found: set[T] = set()
    for chunk in chunks(values, IN_LIST):
        rows = await tx.execute_fetchall(
            f"SELECT {column} FROM {table} WHERE {column} IN ({marks(len(chunk))})", tuple(chunk)
        )
        found.update(r[0] for r in rows)
    return found
