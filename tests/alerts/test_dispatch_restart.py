"""The senders after a restart: the burst window is read back from the archive."""

from __future__ import annotations

import io

import pytest
import pytest_asyncio
from rich.console import Console

from alerts.outbox import Outbox
from alerts.sinks import ConsoleSink
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from tests.support.alerts import add_post, detection_for, statuses

CH1 = Channel(id=1001, username="saberin_news", title="صابرين نيوز")


@pytest_asyncio.fixture
async def archive(tmp_path):
    arch = await Archive.open(tmp_path / "archive.db")
    yield arch
    await arch.close()


@pytest.mark.asyncio
async def test_a_restarted_outbox_reads_the_burst_window_back(archive):
    def fresh_outbox() -> tuple[Outbox, ConsoleSink]:
        sink = ConsoleSink(SinkConfig(type="console"), console=Console(file=io.StringIO(), width=120))
        return Outbox(archive, [sink], AlertsConfig(burst_limit=5, burst_window_seconds=60)), sink

    outbox, _ = fresh_outbox()
    for i in range(8):
        text = f"تهديد رقم {i} الانتقام قادم"
        post = await add_post(archive, CH1, 200 + i, text)
        await outbox.record(post, detection_for(text, {"الانتقام قادم": "revenge"}))
    assert await outbox.deliver_pending() == 8  # 5 single alerts and a digest of 3
    # a restart: the new outbox knows the window only from the archive (5 sends and a digest)
    outbox, sink = fresh_outbox()
    post = await add_post(archive, CH1, 300, "الانتقام قادم")
    await outbox.record(post, detection_for("الانتقام قادم", {"الانتقام قادم": "revenge"}))
    assert await outbox.deliver_pending() == 0
    assert (await statuses(archive))[(9, sink.name)] == "pending"
