"""Channels: their names as last seen, their status, and finding one by any way a user writes it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from monitor.core.models import Channel
from monitor.core.store.base import StoreBase
from monitor.core.store.common import Tx
from monitor.core.times import iso, now_iso


async def upsert_channels(tx: Tx, channels: Iterable[Channel]) -> None:
    """Insert or refresh channels inside ``tx``; a name not known now does not erase an old one."""
    now = now_iso()
    await tx.executemany(
        """INSERT INTO channels (id, username, title, access_hash, kind, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET
               username = COALESCE(excluded.username, username),
               title = COALESCE(excluded.title, title),
               access_hash = COALESCE(excluded.access_hash, access_hash),
               kind = COALESCE(excluded.kind, kind),
               updated_at = excluded.updated_at
           WHERE excluded.username IS NOT username OR excluded.title IS NOT title
              OR excluded.access_hash IS NOT access_hash OR excluded.kind IS NOT kind""",
        [(c.id, c.username, c.title, c.access_hash, c.kind, now, now) for c in channels],
    )


class ChannelsMixin(StoreBase):
    """The ``channels`` table."""

    async def upsert_channel(self, channel: Channel, status: str | None = None) -> None:
        async with self.transaction() as conn:
            await upsert_channels(conn, [channel])
            if status is not None:
                await conn.execute(
                    "UPDATE channels SET status = ?, status_at = ? WHERE id = ?",
                    (status, now_iso(), channel.id),
                )

    async def set_channel_status(self, channel_id: int, status: str, reason: str | None = None) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE channels SET status = ?, status_reason = ?, status_at = ? WHERE id = ?",
                (status, reason, now_iso(), channel_id),
            )

    async def set_gapfill_time(self, channel_id: int, when: datetime | None = None) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE channels SET last_gapfill_at = ? WHERE id = ?",
                (iso(when or datetime.now(UTC)), channel_id),
            )

    async def channels(self) -> list[sqlite3.Row]:
        return await self.fetchall("SELECT * FROM channels ORDER BY id")

    async def find_channel(self, ref: str | int) -> sqlite3.Row | None:
        """A channel by id (with or without -100), ``@username``, ``username`` or t.me link."""
        if isinstance(ref, int) or (isinstance(ref, str) and re.fullmatch(r"-?\d+", ref.strip())):
            number = int(ref)
            if number < 0:
                number = int(str(number).removeprefix("-100").removeprefix("-"))
            return await self.fetchone("SELECT * FROM channels WHERE id = ?", (number,))
        name = str(ref).strip()
        name = re.sub(r"^(https?://)?(t\.me|telegram\.me)/(s/)?", "", name).lstrip("@").split("/")[0]
        row = await self.fetchone("SELECT * FROM channels WHERE username = ? COLLATE NOCASE", (name,))
        if row is None:
            row = await self.fetchone("SELECT * FROM channels WHERE title = ?", (str(ref).strip(),))
        return row
