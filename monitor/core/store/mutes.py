"""Muted rules: "this rule, in this channel, raises no alert until then" (the bot desk's button).

A mute is a row ``(rule, channel_id, until, by, at)``; it is active while ``now < until``. The
outbox reads the active mutes inside the unit of work that writes alerts (so a mute recorded a
moment before a post is detected is honoured), and drops the muted rules' matches there. Expired
rows stay: who muted what, and when, is part of the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.core.store.common import Tx

if TYPE_CHECKING:  # annotations only: the archive hands this store out (no import cycle)
    from monitor.core.store import Archive

_COLUMNS = "id, rule, channel_id, until, by, at"


@dataclass(frozen=True, slots=True)
class MuteRow:
    """One mute, as stored (times are ISO 8601 UTC strings, as :func:`~monitor.core.times.iso`)."""

    id: int
    rule: str
    channel_id: int
    until: str
    by: str
    at: str


class MuteStore:
    """The ``rule_mutes`` table."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def active_in(self, tx: Tx, channel_id: int, now: str) -> set[str]:
        """The rules muted in ``channel_id`` at ``now``, read inside the caller's unit of work."""
        rows = await tx.execute_fetchall(
            "SELECT DISTINCT rule FROM rule_mutes WHERE channel_id = ? AND until > ?", (channel_id, now)
        )
        return {r[0] for r in rows}

    async def muted_channels(self, tx: Tx, now: str) -> set[int]:
        """Channels with at least one active mute at ``now`` (most have none: a cheap first look)."""
        rows = await tx.execute_fetchall("SELECT DISTINCT channel_id FROM rule_mutes WHERE until > ?", (now,))
        return {int(r[0]) for r in rows}

    async def add(self, rule: str, channel_id: int, *, until: str, by: str, now: str) -> tuple[MuteRow, bool]:
        """Mute ``rule`` in ``channel_id`` until ``until``, unless a mute of it is active already.

        Returns the mute that holds and whether it was written now (``False``: an earlier press
        of the same button stands, as for decisions).
        """
        async with self.archive.transaction() as tx:
            rows = await tx.execute_fetchall(
                f"SELECT {_COLUMNS} FROM rule_mutes WHERE rule = ? AND channel_id = ? AND until > ? "
                "ORDER BY id LIMIT 1",
                (rule, channel_id, now),
            )
            if rows:
                return MuteRow(*rows[0]), False
            async with tx.execute(
                "INSERT INTO rule_mutes (rule, channel_id, until, by, at) VALUES (?, ?, ?, ?, ?)",
                (rule, channel_id, until, by, now),
            ) as cur:
                new_id = cur.lastrowid or 0
        return MuteRow(new_id, rule, channel_id, until, by, now), True

    async def active(self, now: str, channel_id: int | None = None) -> list[MuteRow]:
        """Active mutes (of one channel, or all), the soonest to end first."""
        sql = f"SELECT {_COLUMNS} FROM rule_mutes WHERE until > ?"
        params: tuple = (now,)
        if channel_id is not None:
            sql += " AND channel_id = ?"
            params += (channel_id,)
        rows = await self.archive.fetchall(sql + " ORDER BY until, id", params)
        return [MuteRow(*r) for r in rows]
