"""The chain's daily head: recorded in the archive, stamped by an RFC 3161 authority when
``[evidence] tsa_url`` is set, and sent to the sinks named in ``[evidence] head_sinks`` so that
someone outside this machine holds it. The daemon's scheduler runs it once a day.

Each step is done once per day and picked up again by the next run if it failed (a TSA that was
down, a sink that refused): the head of a day never changes once recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from alerts.sinks import OutgoingAlert, Sink
from handlers.timestamping import TimestampError, head_data, request_token
from monitor.core.config import EvidenceConfig
from monitor.core.errors import DeliveryError
from monitor.core.store import Archive
from monitor.core.store.evidence import ChainHead

log = logging.getLogger(__name__)


def head_body(head: ChainHead) -> dict[str, object]:
    """The head as a sink receives it (an alert body of kind ``chain-head``)."""
    stamped = "with an RFC 3161 time-stamp token" if head.tsa_token else "not time-stamped"
    return {
        "kind": "chain-head",
        "severity": None,
        "channel_title": "tgmonitor evidence chain",
        "date": head.recorded_at,
        "day": head.day,
        "seq": head.seq,
        "hash": head.hash,
        "timestamped": head.tsa_token is not None,
        "text": f"chain head of {head.day}: record {head.seq}, sha256 {head.hash} ({stamped})",
    }


async def record_daily_head(
    archive: Archive,
    config: EvidenceConfig,
    sinks: Mapping[str, Sink] | None = None,
    now: datetime | None = None,
) -> ChainHead:
    """Record today's head, stamp it and send it (each once); returns the head as it stands."""
    day = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    head = await archive.evidence.record_head(day)
    if config.tsa_url and head.tsa_token is None:
        try:
            token = await request_token(config.tsa_url, head_data(head.hash), timeout=config.tsa_timeout)
        except TimestampError as exc:
            log.warning("chain head of %s not time-stamped (tried again next run): %s", day, exc)
        else:
            await archive.evidence.set_head_token(day, config.tsa_url, token)
    head = await archive.evidence.day_head(day) or head
    wanted = [name for name in config.head_sinks if name not in head.sent_to]
    sent = list(head.sent_to)
    for name in wanted:
        sink = (sinks or {}).get(name)
        if sink is None:
            log.warning("chain head: no sink named %r is configured ([evidence] head_sinks)", name)
            continue
        alert = OutgoingAlert(
            delivery_id=0,
            alert_id=0,
            kind="chain-head",
            severity=None,
            body=head_body(head),
            key=f"chain-head:{day}",
        )
        try:
            await sink.open()
            await sink.send(alert)
        except DeliveryError as exc:
            log.warning("chain head of %s not sent to %s (tried again next run): %s", day, name, exc)
            continue
        sent.append(name)
    if sent != head.sent_to:
        await archive.evidence.set_head_sent(day, sent)
    return await archive.evidence.day_head(day) or head
