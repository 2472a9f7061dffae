"""Reading alerts back: the listing behind ``tgmonitor alerts`` and acknowledging one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from monitor.core.detection import SEVERITY_RANK
from monitor.core.errors import MonitorError
from monitor.core.times import iso


async def list_alerts(
    archive: Any,
    *,
    since: datetime | None = None,
    severity: str | None = None,
    channel: str | int | None = None,
    unacked: bool = False,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Alerts newest first, each its body plus ``created_at``, ``acked_at`` and ``deliveries``.

    ``severity`` keeps that severity and above; ``channel`` (id, @username, link or title) keeps
    the channel's alerts and the campaigns it took part in.
    """
    sql = ["SELECT a.id, a.kind, a.severity, a.created_at, a.acked_at, a.body FROM alerts a WHERE 1 = 1"]
    params: list[Any] = []
    if since is not None:
        sql.append("AND a.created_at >= ?")
        params.append(iso(since))
    if severity is not None:
        allowed = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[severity]]
        sql.append(f"AND a.severity IN ({','.join('?' * len(allowed))})")
        params.extend(allowed)
    if channel is not None:
        row = await archive.find_channel(channel)
        if row is None:
            return []
        sql.append(
            "AND (a.channel_id = ? OR (a.kind = 'campaign' AND a.campaign_id IN "
            "(SELECT campaign_id FROM alerts WHERE channel_id = ? AND kind = 'post' AND campaign_id IS NOT NULL)))"
        )
        params.extend([row["id"], row["id"]])
    if unacked:
        sql.append("AND a.acked_at IS NULL")
    sql.append("ORDER BY a.id DESC LIMIT ?")
    params.append(max(1, limit))
    rows = await archive.fetchall(" ".join(sql), params)
    ids = [r[0] for r in rows]
    deliveries: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        found = await archive.fetchall(
            f"SELECT alert_id, sink, status, attempts, last_error, sent_at FROM deliveries "
            f"WHERE alert_id IN ({','.join('?' * len(ids))}) ORDER BY id",
            ids,
        )
        for d in found:
            deliveries[d[0]].append(
                {"sink": d[1], "status": d[2], "attempts": d[3], "last_error": d[4], "sent_at": d[5]}
            )
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
        )
        data.pop("covers", None)
        out.append(data)
    return out


async def ack_alerts(archive: Any, ids: list[int], when: datetime) -> list[int]:
    """Mark alerts handled; returns those newly acknowledged. Unknown ids are an error."""
    marks = ",".join("?" * len(ids))
    known = {r[0] for r in await archive.fetchall(f"SELECT id FROM alerts WHERE id IN ({marks})", ids)}
    missing = [i for i in ids if i not in known]
    if missing:
        raise MonitorError(f"no alert with id {missing[0]}: see tgmonitor alerts")
    async with archive.transaction() as conn:
        async with conn.execute(
            f"SELECT id FROM alerts WHERE id IN ({marks}) AND acked_at IS NULL", ids
        ) as cur:
            fresh = [r[0] for r in await cur.fetchall()]
        await conn.executemany("UPDATE alerts SET acked_at = ? WHERE id = ?", [(iso(when), i) for i in fresh])
    return fresh
