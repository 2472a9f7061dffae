"""A delivery process for the crash tests: run the outbox and, in a hang mode, stop dead at a point.

    python -m tests.support.alerts_crash_child DB WEBHOOK_URL JSONL MODE

MODE ``before``: each sink claims its first alert, prints ``SENDING <sink> <alert>`` and hangs
before sending it. ``after``: each sink sends its first alert, prints ``SENT <sink> <alert>`` and
hangs before the outbox can mark it delivered. ``deliver``: deliver everything, print
``DELIVERED <n>`` and exit. The test kills the hanging process with SIGKILL. The hang lives in
this test-only wrapper sink, not in the product code.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alerts.outbox import Outbox
from alerts.sinks import JsonlSink, OutgoingAlert, Sink, WebhookSink
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.store import Archive


class HangingSink(Sink):
    def __init__(self, inner: Sink, mode: str):
        super().__init__(inner.name, inner.min_severity)
        self.human = inner.human
        self.inner = inner
        self.mode = mode

    async def send(self, alert: OutgoingAlert) -> None:
        if self.mode == "before":
            print(f"SENDING {self.name} {alert.alert_id}", flush=True)
            await asyncio.Event().wait()
        await self.inner.send(alert)
        if self.mode == "after":
            print(f"SENT {self.name} {alert.alert_id}", flush=True)
            await asyncio.Event().wait()

    async def close(self) -> None:
        await self.inner.close()


async def main(db: str, url: str, jsonl: str, mode: str) -> None:
    archive = await Archive.open(Path(db))
    sinks: list[Sink] = [
        WebhookSink(SinkConfig(type="webhook", url=url, name="hook")),
        JsonlSink(SinkConfig(type="jsonl", path=Path(jsonl), name="file")),
    ]
    if mode != "deliver":
        sinks = [HangingSink(s, mode) for s in sinks]
    outbox = Outbox(archive, sinks, AlertsConfig(burst_limit=1000))
    try:
        count = await outbox.deliver_pending()
        print(f"DELIVERED {count}", flush=True)
    finally:
        await outbox.close()
        await archive.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
