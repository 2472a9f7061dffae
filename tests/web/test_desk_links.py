"""Alert messages link to the post's page on the desk when ``[web] base_url`` is set."""

from __future__ import annotations

import pytest

from alerts import format as fmt
from alerts.outbox import Outbox
from alerts.sinks import JsonlSink
from monitor.app import build_detector
from monitor.core.config import AlertsConfig, Config, SinkConfig
from monitor.core.store import Archive
from tests.support.alerts import add_post, read_jsonl
from tests.web.desk_support import CH1


@pytest.mark.asyncio
async def test_messages_link_to_the_desk(tmp_path):
    archive = await Archive.open(tmp_path / "a.db")
    jsonl = tmp_path / "alerts.jsonl"
    outbox = Outbox(archive, [JsonlSink(SinkConfig(type="jsonl", path=jsonl))], AlertsConfig())
    outbox.dispatcher.desk_url = "https://desk.example.org/"
    try:
        post = await add_post(archive, CH1, 41, "الانتقامُ قادمٌ يا أعداء الله")
        detection = build_detector(Config()).detect(post.text, date=post.date)
        [alert_id] = await outbox.record(post, detection)
        await outbox.deliver_pending(flush=True)
    finally:
        await outbox.close()
        await archive.close()
    [line] = read_jsonl(jsonl)
    assert line["alert_id"] == alert_id and line["desk_url"] == f"https://desk.example.org/post/{CH1.id}/41"
    assert f'<a href="https://desk.example.org/post/{CH1.id}/41">Open in the desk</a>' in fmt.render_html(
        line
    )
    assert f"desk: https://desk.example.org/post/{CH1.id}/41" in fmt.render_text(line)
    # without a desk address nothing changes
    line.pop("desk_url")
    assert "desk" not in fmt.render_text(line).lower().replace("tgmonitor", "")
