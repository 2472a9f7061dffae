"""Live posts through detection and delivery: an alert per new threat, edits alert only on what is new."""

from __future__ import annotations

import json

import pytest

from monitor.core.config import parse_config
from tests.support.daemon import CHANNEL_ID, eventually, make_server, posts_at_least, running_daemon

pytestmark = pytest.mark.asyncio


def alerts_config(tmp_path, rules: str | None = None):
    data = {
        "telegram": {"channels": ["@militia_news"]},
        "archive": {"path": str(tmp_path / "archive.db")},
        "ocr": {"enabled": False},
        "alerts": {"sink": [{"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")}]},
    }
    if rules:
        data["alerts"]["rules"] = rules
    return parse_config(data)


def delivered(tmp_path) -> list[dict]:
    path = tmp_path / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def test_threat_is_alerted_and_an_edit_alerts_only_on_what_is_new(tmp_path):
    server = make_server()
    config = alerts_config(tmp_path)
    async with running_daemon(server, config, detect=True) as daemon:
        server.post(CHANNEL_ID, "بيان: الانتقام قادم")
        server.post(CHANNEL_ID, "صباح الخير")  # nothing to say about this one

        async def first_alert() -> bool:
            return len(delivered(tmp_path)) >= 1

        await eventually(first_alert, timeout=20, what="the first alert delivered")
        await eventually(posts_at_least(daemon, 2))
        server.edit(CHANNEL_ID, 1, "بيان: الانتقام قادم، وكل قواعدهم هدف مشروع")
        server.edit(CHANNEL_ID, 2, "صباح الخير يا أهلنا")  # an edit with nothing new

        async def second_alert() -> bool:
            return len(delivered(tmp_path)) >= 2

        await eventually(second_alert, timeout=20, what="the edit's alert")
        await daemon.intake.drain(5)
        await daemon.app.outbox.deliver_pending()
    bodies = delivered(tmp_path)
    assert [b["message_id"] for b in bodies] == [1, 1]
    assert "هدف مشروع" in json.dumps(bodies[1]["matches"], ensure_ascii=False)
    assert all(b["channel_id"] == CHANNEL_ID for b in bodies)


async def test_sighup_with_broken_rules_keeps_the_old_rules(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nseverity = "high"\ncategory = "threat"\nterms = ["يوم الحساب"]\n')
    server = make_server()
    config = alerts_config(tmp_path, str(rules))
    config.source = None
    async with running_daemon(server, config, detect=True) as daemon:
        rules.write_text("[[rule]\nbroken")
        assert await daemon.reload() is False
        server.post(CHANNEL_ID, "اقترب يوم الحساب")

        async def alerted() -> bool:
            return len(delivered(tmp_path)) >= 1

        await eventually(alerted, timeout=20, what="an alert under the old rules")
        rules.write_text(
            '[[rule]]\nname = "y"\nseverity = "high"\ncategory = "threat"\nterms = ["ساعة الصفر"]\n'
        )
        assert await daemon.reload() is True
        server.post(CHANNEL_ID, "دقت ساعة الصفر")

        async def new_rules() -> bool:
            return len(delivered(tmp_path)) >= 2

        await eventually(new_rules, timeout=20, what="an alert under the new rules")


async def test_countdown_post_gets_reminder_jobs_in_the_scheduler(tmp_path):
    server = make_server()
    config = alerts_config(tmp_path)
    async with running_daemon(server, config, detect=True, schedule=True) as daemon:
        server.post(CHANNEL_ID, "بقي ٣ أيام على الموعد")
        await eventually(posts_at_least(daemon, 1))
        await daemon.intake.drain(5)
        await daemon.scheduler.get_job("reminders").func()  # the periodic rebuild, run now

        def reminder_jobs() -> list[str]:
            return sorted(j.id for j in daemon.scheduler.get_jobs() if j.id.startswith("reminder:"))

        assert len(reminder_jobs()) == 2  # 24 h before and at the deadline
        await daemon.scheduler.get_job("reminders").func()
        assert len(reminder_jobs()) == 2  # rebuilding never duplicates
        row = await daemon.app.archive.fetchone("SELECT value, unit FROM countdowns")
        assert tuple(row) == (3, "day")


async def test_daily_digest_goes_to_human_sinks_once_a_day(tmp_path, capsys):
    server = make_server()
    config = alerts_config(tmp_path)
    config.alerts.sink.append(type(config.alerts.sink[0])(type="console"))
    async with running_daemon(server, config, detect=True) as daemon:
        server.post(CHANNEL_ID, "بيان: الانتقام قادم")

        async def alerted() -> bool:
            return len(delivered(tmp_path)) >= 1

        await eventually(alerted, timeout=20, what="the alert")
        capsys.readouterr()
        assert await daemon.daily_digest() == 1
        assert "Digest: 1 alerts" in capsys.readouterr().out  # the console (a human sink) got the digest
        assert await daemon.daily_digest() == 0  # once a day
    assert len(delivered(tmp_path)) == 1  # the JSON Lines sink (a machine sink) got no duplicate
