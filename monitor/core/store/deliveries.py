"""The ``deliveries`` rows: one per alert and sink, from ``pending`` through ``sending`` to
``delivered``, ``failed``, ``skipped`` or ``folded``.

The outbox's senders (``alerts/dispatch.py``) decide when to claim, retry, release or give up;
this module only moves the rows. Writes take the caller's unit of work (:data:`Tx`): a claim is
committed before the sink is called, a mark right after it returns (see ``alerts/outbox.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.core.store.common import Tx, marks
from monitor.core.times import stamp

if TYPE_CHECKING:  # annotations only: the archive may hand this store out (no import cycle)
    from monitor.core.store import Archive

NewDelivery = tuple[int, str, str, str | None, str | None]
"""A delivery as written: (alert_id, sink, status, next_attempt_at as stamped, last_error)."""

INTERRUPTED = "interrupted while sending: may have been delivered once already"

_INSERT = (
    "INSERT OR IGNORE INTO deliveries (alert_id, sink, status, next_attempt_at, last_error) "
    "VALUES (?, ?, ?, ?, ?)"
)


class DeliveryStore:
    """The ``deliveries`` table."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    # --- written with their alerts --------------------------------------------------------

    async def insert(self, tx: Tx, rows: Iterable[NewDelivery]) -> None:
        """New deliveries (one ``executemany``); one already there for the alert and sink is kept."""
        await tx.executemany(_INSERT, rows)

    async def fold_unsent(self, tx: Tx, alert_ids: Sequence[int], reason: str) -> None:
        """Fold the never-tried pending deliveries of these alerts (into a campaign alert)."""
        await tx.execute(
            f"UPDATE deliveries SET status = 'folded', last_error = ? WHERE alert_id IN ({marks(len(alert_ids))}) "
            "AND status = 'pending' AND attempts = 0",
            (reason, *alert_ids),
        )

    async def supersede(self, tx: Tx, alert_id: int, reason: str) -> None:
        """Fold whatever of this alert is still pending (a newer announcement replaces it)."""
        await tx.execute(
            "UPDATE deliveries SET status = 'folded', last_error = ? WHERE alert_id = ? AND status = 'pending'",
            (reason, alert_id),
        )

    async def any_started(self, tx: Tx, alert_id: int) -> bool:
        """Whether any delivery of this alert was tried, sent or settled (not pending nor skipped)."""
        ((started,),) = await tx.execute_fetchall(
            "SELECT count(*) FROM deliveries WHERE alert_id = ? "
            "AND (attempts > 0 OR status NOT IN ('pending', 'skipped'))",
            (alert_id,),
        )
        return bool(started)

    # --- the senders ----------------------------------------------------------------------

    async def claim_due(
        self, tx: Tx, sink: str, now: datetime, claimant: str, *, flush: bool, limit: int
    ) -> list[tuple[int, int, int]]:
        """Claim up to ``limit`` deliveries of ``sink`` due at ``now`` (``sending`` by ``claimant``).

        Returns ``(delivery id, alert id, attempts counting this one)`` in claim order. ``flush``
        also claims never-tried deliveries held for later (campaign alerts in their hold).
        """
        when = stamp(now)
        claimed = await tx.execute_fetchall(
            "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, claimed_by = ?, "
            "claimed_at = ?, digest_key = NULL WHERE id IN (SELECT id FROM deliveries "
            "WHERE sink = ? AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ? "
            "OR (? AND attempts = 0)) ORDER BY id LIMIT ?) RETURNING id, alert_id, attempts",
            (claimant, when, sink, when, int(flush), limit),
        )
        return [(r[0], r[1], r[2]) for r in claimed]

    async def set_digest_key(self, tx: Tx, ids: Sequence[int], digest_key: str) -> None:
        """Tie claimed deliveries to the digest that sends them (a resend reuses the key)."""
        await tx.executemany(
            "UPDATE deliveries SET digest_key = ? WHERE id = ?", [(digest_key, i) for i in ids]
        )

    async def release(self, tx: Tx, ids: Sequence[int]) -> None:
        """Give back claimed deliveries that were not tried: ``pending``, the attempt uncounted."""
        await tx.executemany(
            "UPDATE deliveries SET status = 'pending', attempts = attempts - 1, claimed_by = NULL, "
            "digest_key = NULL WHERE id = ? AND status = 'sending'",
            [(i,) for i in ids],
        )

    async def mark(
        self,
        tx: Tx,
        ids: Iterable[int],
        status: str,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt: datetime | None = None,
    ) -> None:
        """Settle tried deliveries: ``delivered`` (sent at ``now``), ``failed``, or ``pending`` again
        with the time of the next attempt."""
        sent_at = stamp(now)
        retry = stamp(next_attempt) if next_attempt else None
        await tx.executemany(
            "UPDATE deliveries SET status = ?, last_error = ?, next_attempt_at = ?, claimed_by = NULL, "
            "sent_at = CASE WHEN ? = 'delivered' THEN ? ELSE sent_at END WHERE id = ?",
            [(status, error, retry, status, sent_at, i) for i in ids],
        )

    async def next_due(self, sink: str) -> tuple[str | None, int]:
        """The earliest ``next_attempt_at`` of the sink's pending deliveries, and how many are due
        whenever (no time set)."""
        row = await self.archive.fetchone(
            "SELECT min(next_attempt_at), sum(next_attempt_at IS NULL) FROM deliveries "
            "WHERE sink = ? AND status = 'pending'",
            (sink,),
        )
        if row is None:
            return None, 0
        return row[0], int(row[1] or 0)

    async def recent_sends(self, sink: str, since: datetime) -> list[tuple[str, str | None]]:
        """``(sent_at, digest_key)`` of the sink's deliveries sent at or after ``since``."""
        rows = await self.archive.fetchall(
            "SELECT sent_at, digest_key FROM deliveries WHERE sink = ? AND status = 'delivered' AND sent_at >= ?",
            (sink, stamp(since)),
        )
        return [(r[0], r[1]) for r in rows]

    # --- after a crash or a shutdown ------------------------------------------------------

    async def sending_claims(self) -> list[tuple[int, str | None, str | None]]:
        """``(id, claimed_by, claimed_at)`` of every delivery left ``sending``."""
        rows = await self.archive.fetchall(
            "SELECT id, claimed_by, claimed_at FROM deliveries WHERE status = 'sending'"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def requeue_interrupted(self, tx: Tx, ids: Sequence[int]) -> None:
        """Put deliveries whose sender died back to ``pending``, due now."""
        await tx.executemany(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, claimed_by = NULL, "
            f"last_error = '{INTERRUPTED}' WHERE id = ? AND status = 'sending'",
            [(i,) for i in ids],
        )

    async def requeue_claimed_by(self, tx: Tx, claimant: str) -> None:
        """Put ``claimant``'s sends cut short (a shutdown past its grace) back to ``pending``."""
        await tx.execute(
            f"UPDATE deliveries SET status = 'pending', claimed_by = NULL, last_error = '{INTERRUPTED}' "
            "WHERE status = 'sending' AND claimed_by = ?",
            (claimant,),
        )

    # --- reading --------------------------------------------------------------------------

    async def for_alerts(self, alert_ids: Sequence[int]) -> list[sqlite3.Row]:
        """``alert_id, sink, status, attempts, last_error, sent_at`` of these alerts' deliveries."""
        return await self.archive.fetchall(
            f"SELECT alert_id, sink, status, attempts, last_error, sent_at FROM deliveries "
            f"WHERE alert_id IN ({marks(len(alert_ids))}) ORDER BY id",
            alert_ids,
        )

    async def last_id(self) -> int:
        """The newest delivery's id (0 for none): deliveries written later have larger ids."""
        row = await self.archive.fetchone("SELECT coalesce(max(id), 0) FROM deliveries")
        return int(row[0]) if row else 0

    async def outcome_after(self, delivery_id: int) -> dict[str, dict[str, int]]:
        """Per sink, how many deliveries newer than ``delivery_id`` are ``delivered``, ``pending``
        (``sending`` counts as pending: it is settled later), ``failed`` or something else
        (``skipped``, ``folded``), for the report that ends ``import --alerts``."""
        rows = await self.archive.fetchall(
            "SELECT sink, CASE WHEN status = 'sending' THEN 'pending' ELSE status END, count(*) "
            "FROM deliveries WHERE id > ? GROUP BY 1, 2",
            (delivery_id,),
        )
        out: dict[str, dict[str, int]] = {}
        for sink, status, count in rows:
            counts = out.setdefault(sink, {"delivered": 0, "pending": 0, "failed": 0})
            counts[status] = counts.get(status, 0) + count
        return out

    async def status_counts(self) -> list[tuple[str, str, int]]:
        """``(sink, status, count)`` over every delivery."""
        rows = await self.archive.fetchall(
            "SELECT sink, status, count(*) FROM deliveries GROUP BY sink, status"
        )
        return [(r[0], r[1], r[2]) for r in rows]
