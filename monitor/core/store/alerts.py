"""The alerts' rows: alerts, their content keys (``alert_keys``), the listing,
and the countdown points that reminders are made of.

The outbox, the listing and the reminders (``alerts/``) decide what to write; this module only
reads and writes the rows. Writes take the caller's unit of work (:data:`Tx`), so an alert, its
deliveries and its campaign commit together; reads made while deciding inside that unit of work
take it too (they must see its own uncommitted rows).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.store.common import IN_LIST, Tx, chunks, marks, stored_values
from monitor.core.times import iso

if TYPE_CHECKING:  # annotations only: the archive may hand this store out (no import cycle)
    from monitor.core.store import Archive

NumberedAlert = tuple[int, int, str, str, str, str, int]
"""A post alert written with the id SQLite would give it: (id, post_id, fingerprint, severity,
created_at, body, channel_id)."""

AlertKey = tuple[int, str, str, int, str | None]
"""One content key of an alert: (alert_id, key, kind, channel_id, the post's date)."""

_INSERT_KEY = (
    "INSERT OR IGNORE INTO alert_keys (alert_id, key, kind, channel_id, date) VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class PostAlertContext:
    """What a post's new alert is worked out against: its images and its earlier alerts."""

    images: list[tuple[str, str | None]]  # (sha256, phash) of each image of the post
    bodies: list[str]  # the JSON bodies of the post's earlier post alerts


class AlertStore:
    """The ``alerts`` and ``alert_keys`` tables (and the ``countdowns`` reads of reminders)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    # --- recording (inside the caller's unit of work) -------------------------------------

    async def taken_fingerprints(self, tx: Tx, fingerprints: Sequence[str]) -> set[str]:
        """Which of ``fingerprints`` an alert already has."""
        return await stored_values(tx, "alerts", "fingerprint", fingerprints)

    async def key_dates(self, tx: Tx, keys: Sequence[str]) -> dict[str, list[str]]:
        """The post dates of the stored alerts that carry each of these content keys."""
        stored: dict[str, list[str]] = {}
        for chunk in chunks(keys, IN_LIST):
            for key, date in await tx.execute_fetchall(
                f"SELECT key, date FROM alert_keys WHERE key IN ({marks(len(chunk))})", tuple(chunk)
            ):
                stored.setdefault(key, []).append(date)
        return stored

    async def next_id(self, tx: Tx) -> int:
        """The id SQLite gives the next alert (no alert is ever deleted)."""
        ((top,),) = await tx.execute_fetchall("SELECT coalesce(max(id), 0) FROM alerts")
        return int(top) + 1

    async def post_context(self, tx: Tx, post_id: int) -> PostAlertContext:
        """The post's images and its earlier alerts' bodies, in one read."""
        rows = await tx.execute_fetchall(
            "SELECT 'image', pm.sha256, m.phash FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
            "WHERE pm.post_id = ? AND m.is_image = 1 "
            "UNION ALL SELECT 'alert', body, NULL FROM alerts WHERE post_id = ? AND kind = 'post'",
            (post_id, post_id),
        )
        images: list[tuple[str, str | None]] = []
        bodies: list[str] = []
        for what, value, phash in rows:
            if what == "image":
                images.append((value, phash))
            else:
                bodies.append(value)
        return PostAlertContext(images, bodies)

    async def insert(
        self,
        tx: Tx,
        *,
        kind: str,
        post_id: int | None,
        fingerprint: str,
        severity: str | None,
        created_at: datetime,
        body: str,
        channel_id: int | None,
    ) -> int | None:
        """One alert (``body`` is its JSON); its id, or ``None`` when the fingerprint exists."""
        cur = await tx.execute(
            "INSERT INTO alerts (kind, post_id, fingerprint, severity, created_at, body, channel_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
            (kind, post_id, fingerprint, severity, iso(created_at), body, channel_id),
        )
        if cur.rowcount != 1:
            return None
        return cur.lastrowid

    async def insert_numbered(self, tx: Tx, rows: Sequence[NumberedAlert]) -> None:
        """Post alerts with the ids :meth:`next_id` counted out (one ``executemany``)."""
        await tx.executemany(
            "INSERT INTO alerts (id, kind, post_id, fingerprint, severity, created_at, body, channel_id) "
            "VALUES (?, 'post', ?, ?, ?, ?, ?, ?)",
            rows,
        )

    async def insert_keys(self, tx: Tx, rows: Iterable[AlertKey]) -> None:
        """Content keys of alerts (campaigns look them up); a key already there is kept."""
        await tx.executemany(_INSERT_KEY, rows)

    async def rewrite(self, tx: Tx, alert_id: int, body: str, severity: str | None) -> None:
        """Replace an alert's body and severity (a campaign alert not sent yet)."""
        await tx.execute("UPDATE alerts SET body = ?, severity = ? WHERE id = ?", (body, severity, alert_id))

    # --- sending --------------------------------------------------------------------------

    async def sendable(self, tx: Tx, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        """Alerts by id: ``id, kind, severity, body, fingerprint, created_at`` (a claimed batch)."""
        return {
            r[0]: r
            for r in await tx.execute_fetchall(
                f"SELECT id, kind, severity, body, fingerprint, created_at FROM alerts "
                f"WHERE id IN ({marks(len(ids))})",
                ids,
            )
        }

    # --- reading back -------------------------------------------------------------------------

    async def created_since(self, since: str) -> list[sqlite3.Row]:
        """Alerts created at or after ``since`` (a :func:`monitor.core.times.stamp`), oldest first."""
        return await self.archive.fetchall(
            "SELECT id, kind, severity, body, created_at FROM alerts WHERE created_at >= ? ORDER BY id",
            (since,),
        )

    async def listing(
        self,
        *,
        since: datetime | None = None,
        severities: Sequence[str] | None = None,
        channel_id: int | None = None,
        unacked: bool = False,
        state: str | None = None,
        limit: int = 50,
        after_id: int | None = None,
        before_id: int | None = None,
        category: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[sqlite3.Row]:
        """Alerts newest first: ``id, kind, severity, created_at, acked_at, body``.

        ``channel_id`` keeps the channel's alerts and the campaigns it took part in; ``state``
        (``new``, ``acknowledged``, ``tp``, ``fp``) keeps those the analysts' decisions put there;
        ``after_id``/``before_id`` page by id (newer than / older than); ``category`` keeps alerts
        with a match of that rule category; ``ids`` only these alerts.
        """
        sql = ["SELECT a.id, a.kind, a.severity, a.created_at, a.acked_at, a.body FROM alerts a WHERE 1 = 1"]
        params: list[Any] = []
        if after_id is not None:
            sql.append("AND a.id > ?")
            params.append(after_id)
        if before_id is not None:
            sql.append("AND a.id < ?")
            params.append(before_id)
        if ids is not None:
            sql.append(f"AND a.id IN ({marks(len(ids))})" if ids else "AND 0")
            params.extend(ids)
        if category is not None:
            sql.append(
                "AND EXISTS (SELECT 1 FROM json_each(a.body, '$.matches') m "
                "WHERE json_extract(m.value, '$.category') = ?)"
            )
            params.append(category)
        if since is not None:
            sql.append("AND a.created_at >= ?")
            params.append(iso(since))
        if severities is not None:
            sql.append(f"AND a.severity IN ({marks(len(severities))})")
            params.extend(severities)
        if channel_id is not None:
            sql.append(
                "AND (a.channel_id = ? OR (a.kind = 'campaign' AND a.campaign_id IN "
                "(SELECT campaign_id FROM alerts WHERE channel_id = ? AND kind = 'post' AND campaign_id IS NOT NULL)))"
            )
            params.extend([channel_id, channel_id])
        if unacked or state == "new":
            sql.append("AND a.acked_at IS NULL")
        verdict = (
            "SELECT 1 FROM alert_decisions d WHERE d.alert_id = a.id AND d.kind = 'verdict' "
            "AND d.superseded_at IS NULL"
        )
        if state == "acknowledged":
            sql.append(f"AND a.acked_at IS NOT NULL AND NOT EXISTS ({verdict})")
        elif state in ("tp", "fp"):
            sql.append(f"AND EXISTS ({verdict} AND d.value = ?)")
            params.append(state)
        sql.append("ORDER BY a.id DESC LIMIT ?")
        params.append(max(1, limit))
        return await self.archive.fetchall(" ".join(sql), params)

    async def by_id(self, alert_id: int) -> sqlite3.Row | None:
        """One alert: ``id, kind, severity, created_at, acked_at, body, post_id, channel_id``."""
        return await self.archive.fetchone(
            "SELECT id, kind, severity, created_at, acked_at, body, post_id, channel_id FROM alerts WHERE id = ?",
            (alert_id,),
        )

    async def for_post(self, post_id: int, limit: int = 20) -> list[sqlite3.Row]:
        """A post's alerts, newest first: ``id, kind, severity, created_at, acked_at, body``."""
        return await self.archive.fetchall(
            "SELECT id, kind, severity, created_at, acked_at, body FROM alerts WHERE post_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (post_id, limit),
        )

    async def known_ids(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are alerts."""
        return {
            r[0]
            for r in await self.archive.fetchall(
                f"SELECT id FROM alerts WHERE id IN ({marks(len(ids))})", ids
            )
        }

    # --- reminders ------------------------------------------------------------------------

    async def has_fingerprint(self, fingerprint: str) -> bool:
        """Whether an alert with this fingerprint exists (a reminder raised already)."""
        return (
            await self.archive.fetchone("SELECT 1 FROM alerts WHERE fingerprint = ?", (fingerprint,))
            is not None
        )

    async def countdown_points(self) -> list[sqlite3.Row]:
        """Every countdown with a deadline: ``post_id, channel_id, date, value, unit, deadline``,
        by channel and date (what countdown series are made of)."""
        return await self.archive.fetchall(
            "SELECT post_id, channel_id, date, value, unit, deadline FROM countdowns "
            "WHERE deadline IS NOT NULL ORDER BY channel_id, date, post_id"
        )
