"""Muted rules (the bot desk's "mute for this channel 24 h"): the outbox raises no alert for them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio

from alerts.outbox import COUNTDOWN_RULE, Outbox
from monitor.core.config import AlertsConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from monitor.core.times import iso, now_utc
from tests.support.alerts import ARABIC_THREAT, FakeCountdown, add_post, detection_for

CH = Channel(id=3001, username="muted_news", title="أخبار مكتومة")
OTHER = Channel(id=3002, username="loud_news", title="أخبار أخرى")
TERMS = {"الانتقامُ قادمٌ": "revenge"}


@pytest_asyncio.fixture
async def archive(tmp_path):
    arch = await Archive.open(tmp_path / "archive.db")
    yield arch
    await arch.close()


async def mute(archive: Archive, rule: str, channel_id: int, hours: float = 24) -> None:
    now = now_utc()
    await archive.mutes.add(
        rule, channel_id, until=iso(now + timedelta(hours=hours)) or "", by="@analyst", now=iso(now) or ""
    )


@pytest.mark.asyncio
async def test_a_muted_rule_raises_nothing_in_its_channel_only(archive):
    outbox = Outbox(archive, [], AlertsConfig())
    await mute(archive, "revenge", CH.id)
    post = await add_post(archive, CH, 1, ARABIC_THREAT)
    assert await outbox.record(post, detection_for(ARABIC_THREAT, TERMS)) == []
    other = await add_post(archive, OTHER, 1, ARABIC_THREAT)
    assert len(await outbox.record(other, detection_for(ARABIC_THREAT, TERMS))) == 1
    # a second rule of the same post still alerts, with only its own match
    both = detection_for(ARABIC_THREAT, {**TERMS, "أعداءَ الله": "enemies"})
    alert_id = (await outbox.record(post, both))[0]  # (a campaign with the other channel may follow)
    row = await archive.alerts.by_id(alert_id)
    assert '"rule":"enemies"' in row["body"] and '"rule":"revenge"' not in row["body"]


@pytest.mark.asyncio
async def test_an_expired_mute_no_longer_holds(archive):
    outbox = Outbox(archive, [], AlertsConfig())
    await mute(archive, "revenge", CH.id, hours=-1)
    post = await add_post(archive, CH, 2, ARABIC_THREAT)
    assert len(await outbox.record(post, detection_for(ARABIC_THREAT, TERMS))) == 1


@pytest.mark.asyncio
async def test_imports_batch_path_honours_mutes(archive):
    """An import drafts fresh posts' alerts before its transaction: a mute sends them one by one."""
    outbox = Outbox(archive, [], AlertsConfig())
    await mute(archive, "revenge", CH.id)
    muted = await add_post(archive, CH, 3, ARABIC_THREAT)
    loud = await add_post(archive, OTHER, 3, ARABIC_THREAT)
    items = [(muted, detection_for(ARABIC_THREAT, TERMS)), (loud, detection_for(ARABIC_THREAT, TERMS))]
    drafts = outbox.draft_records(items, fresh={muted.id, loud.id})
    async with archive.transaction() as tx:
        out = await outbox.record_drafts(tx, drafts)
    assert out[muted.id] == [] and len(out[loud.id]) == 1
    assert (await archive.fetchone("SELECT count(*) FROM alerts"))[0] == 1


@pytest.mark.asyncio
async def test_a_muted_countdown_and_a_second_mute_press(archive):
    outbox = Outbox(archive, [], AlertsConfig())
    await mute(archive, COUNTDOWN_RULE, CH.id)
    now = now_utc()
    again, fresh = await archive.mutes.add(
        COUNTDOWN_RULE, CH.id, until=iso(now + timedelta(hours=24)) or "", by="@other", now=iso(now) or ""
    )
    assert not fresh and again.by == "@analyst"  # the first press stands
    assert (await archive.fetchone("SELECT count(*) FROM rule_mutes"))[0] == 1
    text = "باقي ٣ أيام"
    post = await add_post(archive, CH, 4, text)
    detection = detection_for(text, {}, countdown=FakeCountdown(3))
    assert await outbox.record(post, detection) == []
