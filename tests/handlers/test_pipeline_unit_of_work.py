"""An import batch's posts, detection marks, countdowns and alerts land in one unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_asyncio

from alerts.detect import load_detector
from alerts.outbox import Outbox
from alerts.sinks import JsonlSink
from handlers.pipeline import Pipeline
from monitor.core.config import AlertsConfig, Config, SinkConfig
from monitor.core.models import Channel, Post
from monitor.core.store import Archive

CHANNEL = Channel(id=77, username="uow_test", title="وحدة")
DATE = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
THREAT = "الانتقامُ قادمٌ"
COUNTDOWN = "الانتقامُ قادمٌ. باقي ٣ أيام"


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        yield archive
    finally:
        await archive.close()


def pipeline(archive: Archive, tmp_path) -> Pipeline:
    sink = JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    outbox = Outbox(archive, [sink], AlertsConfig(campaign_hold_seconds=0))
    return Pipeline(archive, detector=load_detector(Config()), outbox=outbox, deliver=False)


def posts() -> list[Post]:
    texts = [(2, THREAT), (3, COUNTDOWN), (4, "عادي")]
    return [Post(channel=CHANNEL, message_id=m, date=DATE, text=t) for m, t in texts]


async def stored(archive: Archive) -> tuple[list[tuple[int, int]], list[int], int]:
    rows = await archive.fetchall("SELECT message_id, detected_at IS NOT NULL FROM posts ORDER BY message_id")
    alerts = await archive.fetchall("SELECT count(*) FROM alerts")
    return [tuple(r) for r in rows], [c[3] for c in await archive.countdown_posts()], alerts[0][0]


@pytest.mark.asyncio
async def test_an_import_batch_writes_its_detections_with_its_posts(archive, tmp_path):
    results = await pipeline(archive, tmp_path).import_batch(posts())
    assert [(r.status, len(r.alerts)) for r in results] == [("new", 1), ("new", 1), ("new", 0)]
    assert await stored(archive) == ([(2, 1), (3, 1), (4, 1)], [3], 2)


@pytest.mark.asyncio
async def test_a_batch_worked_out_again_under_the_lock_writes_what_the_new_results_say(
    archive, tmp_path, monkeypatch
):
    """Another writer stores one of the posts (undetected) after the plan: it is marked, not
    inserted twice, and its countdown and alert are written once."""
    read_state, calls = archive._read_state, []

    async def meddling(conn, batch):
        state = await read_state(conn, batch)
        calls.append(len(batch))
        if len(calls) == 1:  # the plan, outside the lock: then the other writer comes
            await archive.save_post(Post(channel=CHANNEL, message_id=3, date=DATE, text=COUNTDOWN))
        return state

    monkeypatch.setattr(archive, "_read_state", meddling)
    results = await pipeline(archive, tmp_path).import_batch(posts())
    assert calls == [3, 1, 3]  # the plan, the other writer's save, the plan again under the lock
    assert [(r.status, len(r.alerts)) for r in results] == [("new", 1), ("unchanged", 1), ("new", 0)]
    assert await stored(archive) == ([(2, 1), (3, 1), (4, 1)], [3], 2)
