"""How channels are collected (issue 13): the channel list kept in the archive, each channel's
mode, account, pts and poll interval, and the collection health problems raised and cleared.

The channel list changes from the CLI while a daemon runs: every change bumps
``channel_list:version`` in ``meta`` in the same transaction, so the daemon notices it with one
small read every few seconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from monitor.core.store.base import StoreBase
from monitor.core.times import iso, now_iso

LIST_VERSION_KEY = "channel_list:version"

_BUMP = (
    "INSERT INTO meta (key, value) VALUES (?, '1') "
    "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
)


class CollectionMixin(StoreBase):
    """The ``channel_list``, ``collection`` and ``health`` tables."""

    # -- the channel list -------------------------------------------------------------------
    async def list_channels(self) -> list[sqlite3.Row]:
        """The channels added from the CLI: ``ref, text, channel_id, mode, account, added_at``."""
        return await self.fetchall("SELECT * FROM channel_list ORDER BY added_at, rowid")

    async def add_listed_channel(self, ref: str, text: str, mode: str | None, account: str | None) -> bool:
        """Add one reference; ``False`` when it is listed already (nothing changes then)."""
        async with self.transaction() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO channel_list (ref, text, mode, account, added_at) VALUES (?, ?, ?, ?, ?)",
                (ref, text, mode, account, now_iso()),
            )
            if cur.rowcount:
                await conn.execute(_BUMP, (LIST_VERSION_KEY,))
            return bool(cur.rowcount)

    async def remove_listed_channel(self, ref: str, channel_id: int | None = None) -> int:
        """Remove a reference (and any other naming the same channel id); how many rows went."""
        async with self.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM channel_list WHERE ref = ? OR (channel_id IS NOT NULL AND channel_id = ?)",
                (ref, channel_id),
            )
            if cur.rowcount:
                await conn.execute(_BUMP, (LIST_VERSION_KEY,))
                if channel_id is not None:
                    await conn.execute("DELETE FROM collection WHERE channel_id = ?", (channel_id,))
            return cur.rowcount

    async def set_listed_channel_id(self, ref: str, channel_id: int) -> None:
        """A listed reference was resolved: from now on it follows the channel by id."""
        async with self.transaction() as conn:
            await conn.execute("UPDATE channel_list SET channel_id = ? WHERE ref = ?", (channel_id, ref))

    async def list_version(self) -> str:
        row = await self.fetchone("SELECT value FROM meta WHERE key = ?", (LIST_VERSION_KEY,))
        return row[0] if row else "0"

    # -- how each channel is collected ---------------------------------------------------------
    async def collection_rows(self) -> dict[int, sqlite3.Row]:
        rows = await self.fetchall("SELECT * FROM collection")
        return {r["channel_id"]: r for r in rows}

    async def save_collection(self, rows: Iterable[dict[str, Any]]) -> None:
        """Upsert ``channel_id, mode, account, joined, pts, interval, expected_delay, last_poll_at``."""
        now = now_iso()
        params = [
            (
                r["channel_id"],
                r["mode"],
                r["account"],
                int(bool(r.get("joined"))),
                r.get("pts"),
                r.get("interval"),
                r.get("expected_delay"),
                r.get("last_poll_at"),
                now,
            )
            for r in rows
        ]
        if not params:
            return
        async with self.transaction() as conn:
            await conn.executemany(
                """INSERT INTO collection (channel_id, mode, account, joined, pts, interval,
                       expected_delay, last_poll_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (channel_id) DO UPDATE SET mode = excluded.mode,
                       account = excluded.account, joined = excluded.joined,
                       pts = COALESCE(excluded.pts, pts), interval = excluded.interval,
                       expected_delay = excluded.expected_delay,
                       last_poll_at = COALESCE(excluded.last_poll_at, last_poll_at),
                       updated_at = excluded.updated_at""",
                params,
            )

    async def drop_collection(self, channel_ids: Sequence[int]) -> None:
        async with self.transaction() as conn:
            await conn.executemany("DELETE FROM collection WHERE channel_id = ?", [(c,) for c in channel_ids])

    async def recent_post_dates(self, channel_id: int, limit: int = 200) -> list[str]:
        """The dates of a channel's newest posts (ISO 8601, newest first): its usual gap is learned
        from them. Newest by message id, which the (channel_id, message_id) index walks without a
        sort (a channel's ids grow with its dates), so a check of thousands of channels stays cheap."""
        rows = await self.fetchall(
            "SELECT date FROM posts WHERE channel_id = ? ORDER BY message_id DESC LIMIT ?",
            (channel_id, limit),
        )
        return sorted((r[0] for r in rows), reverse=True)

    async def collection_overview(self, since: datetime) -> list[dict[str, Any]]:
        """One row per known channel for ``channels list`` and ``stats``: names, status, mode,
        account, expected delay, posts per day since ``since``, last post, last gap-fill."""
        rows = await self.fetchall(
            """SELECT c.id, c.username, c.title, c.status, c.status_reason, c.last_gapfill_at,
                      k.mode, k.account, k.joined, k.interval, k.expected_delay, k.last_poll_at,
                      (SELECT max(date) FROM posts WHERE channel_id = c.id) AS last_post,
                      (SELECT count(*) FROM posts WHERE channel_id = c.id AND date >= ?) AS recent
               FROM channels c LEFT JOIN collection k ON k.channel_id = c.id ORDER BY c.id""",
            (iso(since),),
        )
        return [dict(r) for r in rows]

    # -- health ---------------------------------------------------------------------------------
    async def raise_health(self, key: str, subject: str, problem: str) -> str | None:
        """Record a problem; its raise time when it is new, ``None`` when it is open already."""
        now = now_iso()
        async with self.transaction() as conn:
            async with conn.execute("SELECT cleared_at FROM health WHERE key = ?", (key,)) as cur:
                row = await cur.fetchone()
            if row is not None and row[0] is None:
                return None
            await conn.execute(
                "INSERT INTO health (key, subject, problem, raised_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET subject = excluded.subject, problem = excluded.problem, "
                "raised_at = excluded.raised_at, cleared_at = NULL",
                (key, subject, problem, now),
            )
            return now

    async def clear_health(self, key: str) -> sqlite3.Row | None:
        """Close an open problem; the row as it was (``None`` when nothing was open)."""
        async with self.transaction() as conn:
            async with conn.execute(
                "SELECT * FROM health WHERE key = ? AND cleared_at IS NULL", (key,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                await conn.execute("UPDATE health SET cleared_at = ? WHERE key = ?", (now_iso(), key))
            return row

    async def open_health(self) -> list[sqlite3.Row]:
        return await self.fetchall("SELECT * FROM health WHERE cleared_at IS NULL ORDER BY raised_at")

    # -- discovery ------------------------------------------------------------------------------
    async def forward_sources(self) -> list[sqlite3.Row]:
        """Channels forwarded from: ``source_id, name, channel_id, last`` per (source, forwarding channel)."""
        return await self.fetchall(
            "SELECT fwd_from_id AS source_id, max(fwd_from_name) AS name, channel_id, max(date) AS last "
            "FROM posts WHERE fwd_from_id IS NOT NULL AND fwd_from_id != channel_id "
            "GROUP BY fwd_from_id, channel_id"
        )

    async def posts_pointing_out(self) -> list[sqlite3.Row]:
        """Posts whose text may link to or mention a channel: ``channel_id, date, text, entities``."""
        return await self.fetchall(
            "SELECT channel_id, date, text, entities FROM posts "
            "WHERE text LIKE '%t.me/%' OR text LIKE '%telegram.me/%' OR text LIKE '%@%' OR entities LIKE '%url%'"
        )
