"""What every sink shares: the :class:`Sink` base, the alert as a sink sees it, the names.

The delivery contract (how a sink reports a failure, idempotency keys, human vs machine
sinks) is described in the package docstring, :mod:`alerts.sinks`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from monitor.core.config import SinkConfig
from monitor.core.detection import severity_rank
from monitor.core.errors import DeliveryError


class SinkUnavailable(DeliveryError):
    """The sink itself cannot be used (bad token, unknown chat, webhook gone): stop using it."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


@dataclass
class OutgoingAlert:
    """One delivery as a sink sees it."""

    delivery_id: int
    alert_id: int
    kind: str
    severity: str | None
    body: dict[str, Any]
    key: str  # idempotency key, stable across retries and restarts
    attempts: int = 0  # attempts made before this one (> 0: it may have gone out already)
    image: Path | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sink_name(config: SinkConfig) -> str:
    """The sink's name in the archive (``deliveries.sink``): never a secret.

    A webhook URL often *is* a secret (Slack and Discord put the token in the path), so a webhook
    is named by its host and a short hash of the full URL.
    """
    if config.name:
        return config.name
    if config.type == "webhook" and config.url:
        digest = hashlib.sha256(config.url.encode()).hexdigest()[:8]
        return f"webhook:{urlsplit(config.url).hostname or '?'}#{digest}"
    if config.type == "telegram":
        return f"telegram:{config.chat}"
    if config.type == "jsonl":
        return f"jsonl:{config.path}"
    return config.type


def random_id_for(key: str) -> int:
    """A message ``random_id`` derived from the idempotency key: a resend reuses it."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class Sink:
    """Base of every sink."""

    kind: ClassVar[str] = "sink"
    human: bool = True

    def __init__(self, name: str, min_severity: str | None = None):
        self.name = name
        self.min_severity = min_severity

    def wants(self, severity: str | None) -> bool:
        """Whether an alert of ``severity`` goes to this sink at all."""
        if self.min_severity is None:
            return True
        return severity_rank(severity) >= severity_rank(self.min_severity)

    async def open(self) -> None:
        """Connect or log in (called before the first send; must be cheap when already open)."""

    async def send(self, alert: OutgoingAlert) -> None:
        raise NotImplementedError

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        """Send many alerts as one message (human sinks override this)."""
        for alert in alerts:
            await self.send(alert)

    async def close(self) -> None:
        """Release connections (idempotent)."""
