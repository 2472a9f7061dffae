"""Countdown reminders from the archive, raised once, scheduled by a real APScheduler across a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts.outbox import Outbox
from alerts.reminders import JOB_ID, check_reminders, due_reminders, next_reminder_at, schedule_reminders
from alerts.sinks import JsonlSink
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from monitor.core.times import iso
from tests.support.alerts import add_post, read_jsonl, wait_until

CH = Channel(id=4001, username="countdown_ch", title="قناة العد التنازلي")


async def add_countdown(archive, message_id, text, date, value, unit, deadline):
    post = await add_post(archive, CH, message_id, text, date=date)
    async with archive.transaction() as conn:
        await conn.execute(
            "INSERT INTO countdowns (post_id, channel_id, date, value, unit, deadline) VALUES (?, ?, ?, ?, ?, ?)",
            (post.id, CH.id, iso(date), value, unit, iso(deadline)),
        )
    return post


def outbox_for(archive, tmp_path):
    sink = JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    return Outbox(archive, [sink], AlertsConfig(reminder_offsets_hours=[24, 0]))


@pytest.mark.asyncio
async def test_series_reminders_at_24h_and_deadline_once_each_across_restart(tmp_path):
    deadline = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    archive = await Archive.open(tmp_path / "a.db")
    # a daily series: "3 days left", "2 days left" posted at different hours, same deadline (±hours)
    await add_countdown(
        archive,
        1,
        "باقي ٣ أيام",
        deadline - timedelta(days=3, hours=5),
        3,
        "day",
        deadline - timedelta(hours=5),
    )
    await add_countdown(archive, 2, "باقي يومان", deadline - timedelta(days=2), 2, "day", deadline)
    outbox = outbox_for(archive, tmp_path)
    assert await check_reminders(archive, outbox, now=deadline - timedelta(hours=25)) == []
    assert await next_reminder_at(archive, deadline - timedelta(hours=25)) == deadline - timedelta(hours=24)
    first = await check_reminders(archive, outbox, now=deadline - timedelta(hours=23))
    assert len(first) == 1
    assert await check_reminders(archive, outbox, now=deadline - timedelta(hours=22)) == []
    await outbox.deliver_pending()
    await archive.close()

    archive = await Archive.open(tmp_path / "a.db")  # restart
    outbox = outbox_for(archive, tmp_path)
    assert await check_reminders(archive, outbox, now=deadline - timedelta(hours=20)) == []
    final = await check_reminders(archive, outbox, now=deadline + timedelta(minutes=1))
    assert len(final) == 1
    assert await check_reminders(archive, outbox, now=deadline + timedelta(minutes=2)) == []
    await outbox.deliver_pending()
    await archive.close()
    sent = read_jsonl(tmp_path / "alerts.jsonl")
    assert [b["kind"] for b in sent] == ["reminder", "reminder"]
    assert [b["offset_hours"] for b in sent] == [24, 0]
    assert sent[0]["deadline"] == iso(deadline) and sent[0]["countdown"]["value"] == 2
    assert sent[0]["url"] == "https://t.me/countdown_ch/2" and len(sent[0]["series"]) == 2


@pytest.mark.asyncio
async def test_late_start_raises_only_the_latest_and_not_stale_ones(tmp_path):
    deadline = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    async with await Archive.open(tmp_path / "a.db") as archive:
        await add_countdown(archive, 1, "باقي ساعتان", deadline - timedelta(hours=30), 30, "hour", deadline)
        # down through both reminder times: only the deadline one, and only if not too late
        due = await due_reminders(archive, deadline + timedelta(hours=1))
        assert [(r.offset_hours) for r in due] == [0]
        assert await due_reminders(archive, deadline + timedelta(hours=7)) == []


@pytest.mark.asyncio
async def test_scheduler_job_fires_and_rearms_across_restart(tmp_path):
    archive = await Archive.open(tmp_path / "a.db")
    # The 24-hour reminder falls due 5 s from now: time enough to be scheduled first on a loaded
    # machine (with 1 s, a CI run once found it already due and raised it at once).
    deadline = datetime.now(UTC) + timedelta(hours=24, seconds=5)
    await add_countdown(archive, 1, "الموعد غداً", datetime.now(UTC), 1, "day", deadline)
    outbox = outbox_for(archive, tmp_path)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    try:
        assert await schedule_reminders(archive, scheduler, outbox) == []
        job = scheduler.get_job(JOB_ID)
        assert (
            job is not None
            and abs((job.next_run_time - (deadline - timedelta(hours=24))).total_seconds()) < 1
        )
        await wait_until(lambda: _count(archive, "reminder", 1), timeout=20)  # the job fired
        await wait_until(lambda: _next_run_is(scheduler, deadline), timeout=5)  # ... and re-armed
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
        await archive.close()

    archive = await Archive.open(tmp_path / "a.db")  # restart: nothing raised twice, job re-armed
    outbox = outbox_for(archive, tmp_path)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    try:
        assert await schedule_reminders(archive, scheduler, outbox) == []
        assert await _count(archive, "reminder", 1)
        assert _next_run_is(scheduler, deadline)
    finally:
        scheduler.shutdown(wait=False)
        await archive.close()


async def _count(archive, kind, n):
    row = await archive.fetchone("SELECT count(*) FROM alerts WHERE kind = ?", (kind,))
    return row[0] == n


def _next_run_is(scheduler, when):
    job = scheduler.get_job(JOB_ID)
    return job is not None and abs((job.next_run_time - when).total_seconds()) < 1
