"""Reading alerts back: the listing behind ``tgmonitor alerts``, each alert with its decisions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from alerts.decisions import decide, state_of
from monitor.core.detection import SEVERITY_RANK
from monitor.core.errors import MonitorError
from monitor.core.store import Archive

STATES = ("new", "acknowledged", "tp", "fp")


async def list_alerts(
    archive: Archive,
    *,
    since: datetime | None = None,
    severity: str | None = None,
    channel: str | int | None = None,
    unacked: bool = False,
    state: str | None = None,
    limit: int = 50,
    after_id: int | None = None,
    before_id: int | None = None,
    category: str | None = None,
    ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest first, each its body plus ``created_at``, ``acked_at``, ``deliveries``,
    ``state`` (new, acknowledged, tp, fp) and ``decisions`` (who decided what, where, when).

    ``severity`` keeps that severity and above; ``channel`` (id, @username, link or title) keeps
    the channel's alerts and the campaigns it took part in; ``after_id``/``before_id`` page by
    id; ``category`` keeps alerts with a match of that rule category; ``ids`` only these alerts.
    """
    allowed = None
    if severity is not None:
        allowed = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[severity]]
    channel_id = None
    if channel is not None:
        row = await archive.find_channel(channel)
        if row is None:
            return []
        channel_id = row["id"]
    rows = await archive.alerts.listing(
        since=since,
        severities=allowed,
        channel_id=channel_id,
        unacked=unacked,
        state=state,
        limit=limit,
        after_id=after_id,
        before_id=before_id,
        category=category,
        ids=ids,
    )
    ids = [r[0] for r in rows]
    deliveries: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for d in await archive.deliveries.for_alerts(ids):
            deliveries[d[0]].append(
                {"sink": d[1], "status": d[2], "attempts": d[3], "last_error": d[4], "sent_at": d[5]}
            )
    decisions = await archive.decisions.current_for(ids) if ids else {}
    out = []
    for alert_id, kind, sev, created_at, acked_at, body in rows:
        data = json.loads(body)
        data.update(
            alert_id=alert_id,
            kind=kind,
            severity=sev,
            created_at=created_at,
            acked_at=acked_at,
            deliveries=deliveries[alert_id],
            state=state_of(decisions.get(alert_id, [])),
            decisions=[
                {"action": d.value, "by": d.actor, "desk": d.desk, "note": d.note, "at": d.decided_at}
                for d in decisions.get(alert_id, [])
            ],
        )
        data.pop("covers", None)
        out.append(data)
    return out


async def ack_alerts(archive: Archive, ids: list[int], *, actor: str, desk: str = "cli") -> list[int]:
    """Acknowledge alerts; returns those newly acknowledged. Unknown ids are an error (checked
    for all before any is recorded)."""
    known = await archive.alerts.known_ids(ids)
    missing = [i for i in ids if i not in known]
    if missing:
        raise MonitorError(f"no alert with id {missing[0]}: see tgmonitor alerts")
    fresh = []
    for alert_id in dict.fromkeys(ids):
        outcome = await decide(archive, alert_id, "ack", actor=actor, desk=desk)
        if outcome.recorded:
            fresh.append(alert_id)
    return fresh
