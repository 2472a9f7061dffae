"""``tgmonitor alerts`` and ``tgmonitor alerts ack`` on a real archive."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from alerts.outbox import Outbox
from alerts.sinks import JsonlSink
from monitor.cli import main
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from tests.support.alerts import ARABIC_THREAT, add_post, detection_for

CH1 = Channel(id=6001, username="sabereen", title="صابرين")
CH2 = Channel(id=6002, username="kaf_news", title="كف")


def build(tmp_path) -> str:
    db = tmp_path / "a.db"

    async def go() -> None:
        archive = await Archive.open(db)
        outbox = Outbox(
            archive, [JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "x.jsonl"))], AlertsConfig()
        )
        post = await add_post(archive, CH1, 1, ARABIC_THREAT)
        await outbox.record(post, detection_for(ARABIC_THREAT, {"الانتقامُ قادمٌ": "revenge"}))
        text = "تحذير: استهداف القواعد الأمريكية"
        post = await add_post(archive, CH2, 2, text)
        det = detection_for(text, {"استهداف": "targeting"})
        det.matches[0].severity = "medium"
        await outbox.record(post, det)
        await outbox.deliver_pending()
        await archive.close()

    asyncio.run(go())
    return str(db)


def test_list_filter_json_and_ack(tmp_path, no_user_config):
    db = build(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "alerts"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "صابرين" in result.output and "الانتقامُ قادمٌ" in result.output and "✓" in result.output

    result = runner.invoke(main, ["--db", db, "alerts", "--json", "--severity", "high"])
    rows = json.loads(result.output)
    assert [r["channel"] for r in rows] == ["sabereen"]
    assert rows[0]["deliveries"][0]["status"] == "delivered" and rows[0]["acked_at"] is None

    rows = json.loads(runner.invoke(main, ["--db", db, "alerts", "--json", "--channel", "@kaf_news"]).output)
    assert [r["channel_id"] for r in rows] == [6002]
    rows = json.loads(runner.invoke(main, ["--db", db, "alerts", "--json", "--since", "1h"]).output)
    assert len(rows) == 2

    alert_id = str(rows[-1]["alert_id"])
    result = runner.invoke(main, ["--db", db, "alerts", "ack", alert_id])
    assert result.exit_code == 0 and f"acknowledged {alert_id}" in result.output
    result = runner.invoke(main, ["--db", db, "alerts", "ack", alert_id])
    assert "already acknowledged" in result.output
    rows = json.loads(runner.invoke(main, ["--db", db, "alerts", "--json", "--unacked"]).output)
    assert alert_id not in {str(r["alert_id"]) for r in rows} and len(rows) == 1

    result = runner.invoke(main, ["--db", db, "alerts", "ack", "999"])
    assert result.exit_code == 2 and "no alert with id 999" in result.output
    assert "Traceback" not in result.output


def test_links_stay_whole_on_a_narrow_terminal(tmp_path, no_user_config):
    # 80 columns give the channel column a dozen letters: the link folds onto the next lines,
    # every character of it there, instead of being cut to "https://t.m…"
    db = build(tmp_path)
    result = CliRunner().invoke(main, ["--db", db, "alerts"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    rows = [line.split("│") for line in result.output.splitlines() if line.startswith("│")]
    channel_column = "".join(cells[4].strip() for cells in rows if len(cells) > 5)
    for url in ("https://t.me/sabereen/1", "https://t.me/kaf_news/2"):
        assert url in channel_column, result.output
    assert "https://t.m…" not in result.output


def test_help_has_examples():
    runner = CliRunner()
    for args in (["alerts", "--help"], ["alerts", "ack", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Example:" in result.output
