"""What analysts decided about alerts: acknowledged, true or false positive, with who, where and when.

One store for every desk (the CLI, the web desk, the alert chat's bot), so an alert acknowledged
in the browser shows as acknowledged in the chat. Each alert has at most one *current* decision
of each kind (``ack``; ``verdict`` = ``tp`` | ``fp``), enforced by a partial unique index: a second
press of the same button by someone else finds the first decision instead of writing a second.
A verdict can be changed on purpose (``replace``): the old row stays, stamped ``superseded_at``,
so the history of who thought what is never lost. ``alerts.acked_at`` keeps saying "handled"
(set by the first decision of any kind) for the listings that filter on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.store.common import IN_LIST, Tx, chunks, marks
from monitor.core.times import iso

if TYPE_CHECKING:  # annotations only: the archive hands this store out (no import cycle)
    from monitor.core.store import Archive

_COLUMNS = "id, alert_id, kind, value, actor, desk, note, decided_at, superseded_at"


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One recorded decision, as stored."""

    id: int
    alert_id: int
    kind: str  # ack | verdict
    value: str  # ack: "ack"; verdict: "tp" | "fp"
    actor: str
    desk: str  # cli | web | bot
    note: str | None
    decided_at: str
    superseded_at: str | None

    @classmethod
    def of(cls, row: sqlite3.Row | tuple) -> DecisionRow:
        return cls(*row)


class DecisionStore:
    """The ``alert_decisions`` table."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def current_in(self, tx: Tx, alert_id: int, kind: str) -> DecisionRow | None:
        """The alert's current decision of ``kind``, read inside the caller's unit of work."""
        async with tx.execute(
            f"SELECT {_COLUMNS} FROM alert_decisions "
            "WHERE alert_id = ? AND kind = ? AND superseded_at IS NULL",
            (alert_id, kind),
        ) as cur:
            row = await cur.fetchone()
        return DecisionRow.of(row) if row else None

    async def supersede(self, tx: Tx, decision_id: int, when: str) -> None:
        """Stamp a decision replaced (it stays, as history)."""
        await tx.execute("UPDATE alert_decisions SET superseded_at = ? WHERE id = ?", (when, decision_id))

    async def insert(
        self,
        tx: Tx,
        *,
        alert_id: int,
        kind: str,
        value: str,
        actor: str,
        desk: str,
        note: str | None,
        when: str,
    ) -> DecisionRow:
        """Write a decision and mark the alert handled if it was not; returns the row."""
        async with tx.execute(
            "INSERT INTO alert_decisions (alert_id, kind, value, actor, desk, note, decided_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (alert_id, kind, value, actor, desk, note, when),
        ) as cur:
            new_id = cur.lastrowid
        await tx.execute("UPDATE alerts SET acked_at = ? WHERE id = ? AND acked_at IS NULL", (when, alert_id))
        return DecisionRow(new_id or 0, alert_id, kind, value, actor, desk, note, when, None)

    async def alert_exists(self, tx: Tx, alert_id: int) -> bool:
        async with tx.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)) as cur:
            return await cur.fetchone() is not None

    async def current_for(self, alert_ids: Sequence[int]) -> dict[int, list[DecisionRow]]:
        """The current decisions of each alert (oldest first); alerts without any are absent."""
        found: dict[int, list[DecisionRow]] = {}
        for chunk in chunks(list(alert_ids), IN_LIST):
            rows = await self.archive.fetchall(
                f"SELECT {_COLUMNS} FROM alert_decisions WHERE alert_id IN ({marks(len(chunk))}) "
                "AND superseded_at IS NULL ORDER BY id",
                chunk,
            )
            for row in rows:
                decision = DecisionRow.of(row)
                found.setdefault(decision.alert_id, []).append(decision)
        return found

    async def history(self, alert_id: int) -> list[DecisionRow]:
        """Every decision ever recorded on the alert, replaced ones included, oldest first."""
        rows = await self.archive.fetchall(
            f"SELECT {_COLUMNS} FROM alert_decisions WHERE alert_id = ? ORDER BY id", (alert_id,)
        )
        return [DecisionRow.of(r) for r in rows]

    async def post_alerts_with_verdicts(self, since: datetime | None = None) -> list[sqlite3.Row]:
        """Post alerts (created at or after ``since``) with their current verdict, oldest first:
        ``id, post_id, channel_id, severity, created_at, body, verdict, note`` (verdict tp | fp | None)."""
        sql = (
            "SELECT a.id, a.post_id, a.channel_id, a.severity, a.created_at, a.body, d.value AS verdict, d.note "
            "FROM alerts a LEFT JOIN alert_decisions d ON d.alert_id = a.id AND d.kind = 'verdict' "
            "AND d.superseded_at IS NULL WHERE a.kind = 'post'"
        )
        params: list[Any] = []
        if since is not None:
            sql += " AND a.created_at >= ?"
            params.append(iso(since))
        return await self.archive.fetchall(sql + " ORDER BY a.id", params)
