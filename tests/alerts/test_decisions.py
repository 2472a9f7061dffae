"""Decisions on alerts (acknowledge, true/false positive): one story per alert whichever desk.

Real archive files; concurrent presses go through the archive's real write path.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from click.testing import CliRunner

from alerts.decisions import decide, describe
from alerts.listing import list_alerts
from alerts.outbox import Outbox
from alerts.sinks import JsonlSink
from monitor.cli import main
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.errors import MonitorError
from monitor.core.models import Channel
from monitor.core.store import Archive
from tests.support.alerts import ARABIC_THREAT, add_post, detection_for

CHANNEL = Channel(id=7001, username="sabereen", title="صابرين")


async def _archive_with_alerts(tmp_path, count: int = 2) -> tuple[Archive, list[int]]:
    archive = await Archive.open(tmp_path / "a.db")
    outbox = Outbox(archive, [JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "x.jsonl"))], AlertsConfig())
    for n in range(count):
        text = f"{ARABIC_THREAT} {n}"
        post = await add_post(archive, CHANNEL, n + 1, text)
        await outbox.record(post, detection_for(text, {"الانتقامُ قادمٌ": "revenge"}))
    rows = await archive.fetchall("SELECT id FROM alerts ORDER BY id")
    return archive, [r[0] for r in rows]


def test_first_decision_wins_and_a_change_keeps_history(tmp_path):
    async def go() -> None:
        archive, (alert_id, other) = await _archive_with_alerts(tmp_path)
        first = await decide(archive, alert_id, "fp", actor="علي", desk="bot", note="خطبة دينية، ليست تهديدًا")
        again = await decide(archive, alert_id, "tp", actor="sara", desk="web")
        assert first.recorded and not again.recorded
        assert again.decision == first.decision and again.decision.actor == "علي"
        changed = await decide(archive, alert_id, "tp", actor="sara", desk="web", replace=True)
        assert changed.recorded and changed.decision.value == "tp"
        history = await archive.decisions.history(alert_id)
        assert [(d.value, d.superseded_at is None) for d in history] == [("fp", False), ("tp", True)]
        assert history[0].note == "خطبة دينية، ليست تهديدًا"
        rows = await list_alerts(archive)
        by_id = {r["alert_id"]: r for r in rows}
        assert by_id[alert_id]["state"] == "tp" and by_id[alert_id]["acked_at"] is not None
        assert by_id[other]["state"] == "new" and by_id[other]["decisions"] == []
        assert [r["alert_id"] for r in await list_alerts(archive, state="tp")] == [alert_id]
        assert [r["alert_id"] for r in await list_alerts(archive, state="new")] == [other]
        assert await list_alerts(archive, state="fp") == []
        await archive.close()

    asyncio.run(go())


def test_two_analysts_pressing_at_once_make_one_decision(tmp_path):
    async def go() -> None:
        archive, (alert_id, _) = await _archive_with_alerts(tmp_path)
        outcomes = await asyncio.gather(
            *(decide(archive, alert_id, "ack", actor=f"analyst{n}", desk="bot") for n in range(8))
        )
        assert sum(o.recorded for o in outcomes) == 1
        assert len({o.decision.id for o in outcomes}) == 1
        assert len(await archive.decisions.history(alert_id)) == 1
        await archive.close()

    asyncio.run(go())


def test_two_processes_cannot_both_record_the_current_decision(tmp_path):
    """The partial unique index holds even against a writer that skips our code."""

    async def go() -> int:
        archive, (alert_id, _) = await _archive_with_alerts(tmp_path)
        await decide(archive, alert_id, "ack", actor="a", desk="cli")
        await archive.close()
        return alert_id

    alert_id = asyncio.run(go())
    with sqlite3.connect(tmp_path / "a.db") as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO alert_decisions (alert_id, kind, value, actor, desk, decided_at) "
            "VALUES (?, 'ack', 'ack', 'b', 'web', '2026-01-01T00:00:00+00:00')",
            (alert_id,),
        )


def test_bad_decisions_are_refused_and_change_nothing(tmp_path):
    async def go() -> None:
        archive, (alert_id, _) = await _archive_with_alerts(tmp_path)
        with pytest.raises(MonitorError, match="no alert with id 999"):
            await decide(archive, 999, "ack", actor="a", desk="cli")
        with pytest.raises(MonitorError, match="unknown decision"):
            await decide(archive, alert_id, "maybe", actor="a", desk="cli")
        with pytest.raises(MonitorError, match="who made it"):
            await decide(archive, alert_id, "ack", actor="  ", desk="cli")
        with pytest.raises(MonitorError, match="at most"):
            await decide(archive, alert_id, "fp", actor="a", desk="cli", note="x" * 5000)
        assert await archive.decisions.history(alert_id) == []
        assert (await list_alerts(archive))[0]["acked_at"] is None
        await archive.close()

    asyncio.run(go())


def test_cli_mark_ack_and_state_filter(tmp_path, no_user_config):
    async def build() -> list[int]:
        archive, ids = await _archive_with_alerts(tmp_path)
        await archive.close()
        return ids

    first, second = asyncio.run(build())
    db = str(tmp_path / "a.db")
    runner = CliRunner()
    hostile = "\x1b]8;;https://evil\x1b\\click\x1b]8;;\x1b\\ [red]x[/red] \u202eevil"
    result = runner.invoke(
        main, ["alerts", "mark", str(first), "fp", "--note", "نشيد", "--by", hostile, "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "false positive by" in result.output and "\x1b" not in result.output
    result = runner.invoke(main, ["alerts", "mark", str(first), "tp", "--by", "sara", "--db", db])
    assert result.exit_code == 0 and "already marked" in result.output and "--change" in result.output
    result = runner.invoke(main, ["alerts", "mark", str(first), "tp", "--by", "sara", "--change", "--db", db])
    assert result.exit_code == 0 and "true positive by sara (cli)" in result.output
    result = runner.invoke(main, ["alerts", "ack", str(second), "--by", "omar", "--db", db])
    assert result.output.startswith(f"acknowledged {second}")

    rows = json.loads(runner.invoke(main, ["alerts", "--json", "--state", "tp", "--db", db]).output)
    assert [r["alert_id"] for r in rows] == [first]
    assert rows[0]["decisions"][0]["by"] == "sara" and rows[0]["decisions"][0]["desk"] == "cli"
    rows = json.loads(runner.invoke(main, ["alerts", "--json", "--state", "acknowledged", "--db", db]).output)
    assert [r["alert_id"] for r in rows] == [second]

    table = runner.invoke(main, ["alerts", "--db", db], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "true positive" in table.output and "by omar" in table.output

    result = runner.invoke(main, ["alerts", "mark", "999", "tp", "--db", db])
    assert result.exit_code == 2 and "no alert with id 999" in result.output


def test_an_archive_acknowledged_before_decisions_existed_keeps_its_acks(tmp_path):
    """Migration step 4 turns each old ``acked_at`` into an ``ack`` decision."""

    async def go() -> int:
        archive, (alert_id, _) = await _archive_with_alerts(tmp_path)
        await archive.close()
        return alert_id

    alert_id = asyncio.run(go())
    with sqlite3.connect(tmp_path / "a.db") as conn:  # back to schema 3, acked the old way
        conn.execute("DROP TABLE alert_decisions")
        conn.execute("ALTER TABLE channels DROP COLUMN kind")  # step 5 (issue 19) came later too
        conn.execute("UPDATE alerts SET acked_at = '2025-05-05T05:05:05+00:00' WHERE id = ?", (alert_id,))
        conn.execute("PRAGMA user_version = 3")

    async def reopen() -> None:
        archive = await Archive.open(tmp_path / "a.db")
        history = await archive.decisions.history(alert_id)
        assert [(d.value, d.decided_at) for d in history] == [("ack", "2025-05-05T05:05:05+00:00")]
        assert describe(history[0]).startswith("acknowledged by unknown (cli) at 2025-05-05 05:05")
        await archive.close()

    asyncio.run(reopen())
