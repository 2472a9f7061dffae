"""The ``campaigns`` rows and the look-ups that find a new alert's fellow members.

``alerts/campaigns.py`` decides when posts make a campaign and what its alert says; this module
only reads and writes the rows, inside the caller's unit of work (:data:`Tx`): the alert that
joins a campaign and the campaign's new announcement commit together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.core.store.common import Tx, marks
from monitor.core.times import iso

if TYPE_CHECKING:  # annotations only: the archive may hand this store out (no import cycle)
    from monitor.core.store import Archive


class CampaignStore:
    """The ``campaigns`` table and the campaign links of ``alerts``."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    # --- finding the members --------------------------------------------------------------

    async def alerts_sharing(
        self, tx: Tx, keys: Sequence[str], low: str, high: str, exclude: int
    ) -> set[int]:
        """Alerts (but ``exclude``) carrying one of ``keys`` for a post dated ``low``..``high``."""
        rows = await tx.execute_fetchall(
            f"SELECT DISTINCT alert_id FROM alert_keys WHERE key IN ({marks(len(keys))}) "
            "AND date BETWEEN ? AND ? AND alert_id != ?",
            (*keys, low, high, exclude),
        )
        return {r[0] for r in rows}

    async def phash_keys(self, tx: Tx, low: str, high: str, exclude: int) -> list[tuple[int, str]]:
        """``(alert_id, key)`` of every perceptual-hash key of posts dated ``low``..``high``."""
        rows = await tx.execute_fetchall(
            "SELECT alert_id, key FROM alert_keys WHERE kind = 'phash' AND date BETWEEN ? AND ? AND alert_id != ?",
            (low, high, exclude),
        )
        return [(r[0], r[1]) for r in rows]

    async def post_alerts(self, tx: Tx, ids: Sequence[int]) -> list[tuple[int, int, int | None]]:
        """``(id, channel_id, campaign_id)`` of those of ``ids`` that are post alerts."""
        rows = await tx.execute_fetchall(
            f"SELECT id, channel_id, campaign_id FROM alerts WHERE id IN ({marks(len(ids))}) AND kind = 'post'",
            tuple(ids),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def members(self, tx: Tx, campaign_id: int) -> list[sqlite3.Row]:
        """``id, body, post_id`` of the campaign's post alerts, by id."""
        return list(
            await tx.execute_fetchall(
                "SELECT id, body, post_id FROM alerts WHERE campaign_id = ? AND kind = 'post' ORDER BY id",
                (campaign_id,),
            )
        )

    # --- the campaign rows ----------------------------------------------------------------

    async def create(self, tx: Tx, first_seen: datetime, last_seen: datetime, created_at: datetime) -> int:
        """A new campaign; its id."""
        cur = await tx.execute(
            "INSERT INTO campaigns (first_seen, last_seen, created_at) VALUES (?, ?, ?)",
            (iso(first_seen), iso(last_seen), iso(created_at)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def join(self, tx: Tx, campaign_id: int, alert_ids: Sequence[int]) -> None:
        """Make these alerts members of the campaign (one ``executemany``)."""
        await tx.executemany(
            "UPDATE alerts SET campaign_id = ? WHERE id = ?", [(campaign_id, i) for i in alert_ids]
        )

    async def link(self, tx: Tx, campaign_id: int, alert_id: int) -> None:
        """Tie one alert (the campaign's own announcement) to the campaign."""
        await tx.execute("UPDATE alerts SET campaign_id = ? WHERE id = ?", (campaign_id, alert_id))

    async def announcement(self, tx: Tx, campaign_id: int) -> tuple[int | None, int]:
        """The campaign's current alert (if any) and the number of channels it announced."""
        ((current, announced),) = await tx.execute_fetchall(
            "SELECT alert_id, announced FROM campaigns WHERE id = ?", (campaign_id,)
        )
        return current, announced

    async def set_span(
        self, tx: Tx, campaign_id: int, first_seen: str, last_seen: str, channels: int
    ) -> None:
        """Record the campaign's first and last post dates (as stored) and its channel count."""
        await tx.execute(
            "UPDATE campaigns SET first_seen = ?, last_seen = ?, channels = ? WHERE id = ?",
            (first_seen, last_seen, channels, campaign_id),
        )

    async def set_announced(self, tx: Tx, campaign_id: int, channels: int) -> None:
        """The campaign's current alert now names ``channels`` channels."""
        await tx.execute("UPDATE campaigns SET announced = ? WHERE id = ?", (channels, campaign_id))

    async def announce(self, tx: Tx, campaign_id: int, alert_id: int, channels: int) -> None:
        """``alert_id`` is the campaign's new announcement, naming ``channels`` channels."""
        await tx.execute(
            "UPDATE campaigns SET alert_id = ?, announced = ? WHERE id = ?", (alert_id, channels, campaign_id)
        )
