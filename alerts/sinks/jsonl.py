"""The JSON Lines sink: one alert per line, appended and fsynced, never written twice."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

from alerts.sinks.base import OutgoingAlert, Sink, SinkUnavailable, sink_name
from monitor.core.config import SinkConfig
from monitor.core.errors import ConfigError, DeliveryError


class JsonlSink(Sink):
    """One alert per line, appended and fsynced (``delivery_key`` added to the body).

    A retried alert (one that may already have been written before a crash) is looked up in the
    last 256 KiB of the file first, so this sink never writes an alert twice.
    """

    kind = "jsonl"
    human = False
    TAIL_BYTES = 256 * 1024

    def __init__(self, config: SinkConfig):
        super().__init__(sink_name(config), config.min_severity)
        if config.path is None:
            raise ConfigError("a jsonl sink needs a path")
        self.path = Path(config.path).expanduser()

    async def send(self, alert: OutgoingAlert) -> None:
        record = {**alert.body, "delivery_key": alert.key}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        await self._append([line], [alert.key] if alert.attempts else [])

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        lines = [
            json.dumps({**a.body, "delivery_key": a.key}, ensure_ascii=False, separators=(",", ":")) + "\n"
            for a in alerts
        ]
        await self._append(lines, [a.key for a in alerts if a.attempts])

    async def _append(self, lines: list[str], check: list[str]) -> None:
        try:
            await asyncio.to_thread(self._write, lines, check)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise SinkUnavailable(f"{self.name}: cannot write {self.path} ({exc.strerror})") from None
        except OSError as exc:
            raise DeliveryError(f"{self.name}: cannot write {self.path} ({exc.strerror})") from None

    def _write(self, lines: list[str], check: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if check and self.path.exists():
            with open(self.path, "rb") as handle:
                handle.seek(max(0, self.path.stat().st_size - self.TAIL_BYTES))
                tail = handle.read().decode("utf-8", "replace")
            present = {k for k in check if f'"delivery_key":"{k}"' in tail}
            lines = [line for line in lines if not any(f'"delivery_key":"{k}"' in line for k in present)]
            if not lines:
                return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
