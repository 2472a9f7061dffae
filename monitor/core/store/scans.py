"""Reads for tuning detection (issue 17): the archive's posts in chunks for a rules backtest and
a channel's recent texts for its signature (the verdicts per alert are in ``decisions``).

Read only: a backtest sends nothing and writes nothing. Posts are read in ranges of their id,
which sorts by date (``date_unix * ID_SLOTS + k``), so ``--since`` is an id bound and each
worker process of a backtest reads its own range without an ``OFFSET`` scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.store.schema import ID_SLOTS

if TYPE_CHECKING:  # annotations only: the archive hands this store out (no import cycle)
    from monitor.core.store import Archive


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One post as a backtest reads it."""

    id: int
    channel_id: int
    message_id: int
    date: str
    text: str
    ocr_text: str | None


def first_id(since: datetime | None) -> int:
    """The smallest post id dated at or after ``since`` (ids sort by date)."""
    return 0 if since is None else max(0, int(since.timestamp())) * ID_SLOTS


class ScanStore:
    """Chunked reads of posts and the recent texts of a channel."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def _where(self, since: datetime | None, channel_id: int | None) -> tuple[str, list[Any]]:
        sql, params = "id >= ?", [first_id(since)]
        if channel_id is not None:
            sql += " AND channel_id = ?"
            params.append(channel_id)
        return sql, params

    async def chunk_starts(
        self, *, since: datetime | None = None, channel_id: int | None = None, step: int = 20_000
    ) -> tuple[int, list[int]]:
        """How many posts match, and the id that starts every ``step``-th of them (in id order)."""
        where, params = self._where(since, channel_id)
        row = await self.archive.fetchone(f"SELECT count(*) FROM posts WHERE {where}", params)
        count = int(row[0]) if row else 0
        if not count:
            return 0, []
        rows = await self.archive.fetchall(
            f"SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM posts WHERE {where}) "
            "WHERE (n - 1) % ? = 0 ORDER BY id",
            [*params, max(1, step)],
        )
        return count, [int(r[0]) for r in rows]

    async def posts_between(
        self, low: int, high: int | None, *, since: datetime | None = None, channel_id: int | None = None
    ) -> list[ScanRow]:
        """The posts with ``low <= id < high`` (no upper bound when ``high`` is None), in id order."""
        where, params = self._where(since, channel_id)
        sql = f"SELECT id, channel_id, message_id, date, text, ocr_text FROM posts WHERE {where} AND id >= ?"
        params.append(low)
        if high is not None:
            sql += " AND id < ?"
            params.append(high)
        rows = await self.archive.fetchall(sql + " ORDER BY id", params)
        return [ScanRow(*r) for r in rows]

    async def recent_texts(self, channel_id: int, limit: int = 200) -> list[str]:
        """The texts of the channel's latest ``limit`` posts (not deleted), newest first."""
        rows = await self.archive.fetchall(
            "SELECT text FROM posts WHERE channel_id = ? AND deleted_at IS NULL AND text != '' "
            "ORDER BY id DESC LIMIT ?",
            (channel_id, max(1, limit)),
        )
        return [str(r[0]) for r in rows]
