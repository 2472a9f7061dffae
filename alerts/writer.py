"""An alert's rows: the alert itself and one delivery per configured sink.

Shared by the two writers of alerts, the outbox's recording (post alerts, ready-made alerts such
as reminders) and the campaigns (campaign announcements), so both decide alike which sink gets a
delivery and which one is ``skipped``, and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerts.sinks import Sink
from monitor.core.store import Archive, Tx
from monitor.core.store.deliveries import NewDelivery
from monitor.core.times import iso, stamp


def dumps(value: Any) -> str:
    """An alert body as stored: compact JSON, Arabic as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class AlertWriter:
    """Writes alerts with their deliveries, inside the caller's unit of work."""

    def __init__(self, archive: Archive, sinks: Mapping[str, Sink]) -> None:
        self.alerts = archive.alerts
        self.deliveries = archive.deliveries
        self.sinks = sinks

    async def write(
        self,
        tx: Tx,
        kind: str,
        fingerprint: str,
        severity: str | None,
        body: dict[str, Any],
        now: datetime,
        *,
        post_id: int | None,
        channel_id: int | None,
        deliver: bool,
        hold_until: datetime | None = None,
    ) -> int | None:
        """One alert (``body`` as a dict) and its deliveries; ``None`` if the fingerprint exists."""
        alert_id = await self.alerts.insert(
            tx,
            kind=kind,
            post_id=post_id,
            fingerprint=fingerprint,
            severity=severity,
            created_at=now,
            body=dumps({**body, "alert_id": None, "created_at": iso(now)}),
            channel_id=channel_id,
        )
        if alert_id is not None:
            await self.write_deliveries(tx, alert_id, severity, deliver, hold_until)
        return alert_id

    async def write_deliveries(
        self, tx: Tx, alert_id: int, severity: str | None, deliver: bool, hold_until: datetime | None = None
    ) -> None:
        """The alert's deliveries, one per sink (see :meth:`delivery_rows`)."""
        rows = self.delivery_rows(alert_id, severity, deliver, hold_until)
        if not rows:  # no sinks configured: the alert is archived, nothing to deliver
            return
        await self.deliveries.insert(tx, rows)

    def delivery_rows(
        self, alert_id: int, severity: str | None, deliver: bool, hold_until: datetime | None
    ) -> list[NewDelivery]:
        """One ``deliveries`` row per sink: pending (held until ``hold_until``), or skipped with the reason."""
        rows: list[NewDelivery] = []
        for sink in self.sinks.values():
            if not deliver:
                rows.append((alert_id, sink.name, "skipped", None, "archived without notification"))
            elif not sink.wants(severity):
                rows.append(
                    (alert_id, sink.name, "skipped", None, f"below the sink's minimum ({sink.min_severity})")
                )
            else:
                rows.append((alert_id, sink.name, "pending", stamp(hold_until) if hold_until else None, None))
        return rows
