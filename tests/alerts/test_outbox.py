"""The outbox on a real archive: idempotent alerts, edits, silent imports, campaigns, digests."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from alerts.outbox import Outbox, backoff_delay
from alerts.sinks import JsonlSink
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from tests.support.alerts import ARABIC_THREAT, FakeCountdown, add_post, detection_for, read_jsonl, statuses

CH1 = Channel(id=1001, username="saberin_news", title="صابرين نيوز")
CH2 = Channel(id=1002, username=None, title="قناة خاصة")
CH3 = Channel(id=1003, username="kataib_media", title="الإعلام الحربي")
POSTER = b"poster-bytes-1" * 10


@pytest_asyncio.fixture
async def archive(tmp_path):
    arch = await Archive.open(tmp_path / "archive.db")
    yield arch
    await arch.close()


def make_outbox(archive, tmp_path, **config) -> tuple[Outbox, JsonlSink]:
    sink = JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    cfg = AlertsConfig(campaign_hold_seconds=0, **config)
    return Outbox(archive, [sink], cfg), sink


@pytest.mark.asyncio
async def test_alert_and_deliveries_written_together_and_idempotent(archive, tmp_path):
    outbox, sink = make_outbox(archive, tmp_path)
    post = await add_post(archive, CH1, 10, ARABIC_THREAT)
    det = detection_for(ARABIC_THREAT, {"الانتقامُ قادمٌ": "revenge"})
    ids = await outbox.record(post, det)
    assert len(ids) == 1
    assert await statuses(archive) == {(ids[0], sink.name): "pending"}
    # the same post and detection again (re-processing, re-import): nothing new
    assert await outbox.record(post, det) == []
    assert await outbox.deliver_pending() == 1
    lines = read_jsonl(tmp_path / "alerts.jsonl")
    assert len(lines) == 1
    body = lines[0]
    assert body["alert_id"] == ids[0] and body["kind"] == "post" and body["severity"] == "high"
    assert body["channel"] == "saberin_news" and body["channel_id"] == 1001 and body["message_id"] == 10
    assert body["url"] == "https://t.me/saberin_news/10"
    assert body["text"] == ARABIC_THREAT
    assert body["matches"][0]["term"] == "الانتقامُ قادمٌ"
    assert set(body) >= {"date", "countdown", "ocr_excerpt", "channels"}
    assert await outbox.deliver_pending() == 0


@pytest.mark.asyncio
async def test_edit_with_a_new_match_adds_one_alert_with_only_what_is_new(archive, tmp_path):
    outbox, _ = make_outbox(archive, tmp_path)
    text = "الانتقام قادم"
    post = await add_post(archive, CH1, 11, text)
    first = await outbox.record(post, detection_for(text, {"الانتقام قادم": "revenge"}))
    edited = text + " والموعد بعد ٣ أيام"
    post = await add_post(archive, CH1, 11, edited)
    det = detection_for(
        edited,
        {"الانتقام قادم": "revenge"},
        countdown=FakeCountdown(3, "day", datetime(2026, 11, 25, tzinfo=UTC)),
    )
    second = await outbox.record(post, det)
    assert len(first) == 1 and len(second) == 1 and first != second
    row = await archive.fetchone("SELECT body FROM alerts WHERE id = ?", (second[0],))
    body = json.loads(row[0])
    assert body["matches"] == []  # the revenge match was already alerted
    assert body["countdown"]["value"] == 3 and body["countdown"]["deadline"].startswith("2026-11-25")
    assert await outbox.record(post, det) == []


@pytest.mark.asyncio
async def test_low_severity_only_or_no_alert_records_nothing(archive, tmp_path):
    outbox, _ = make_outbox(archive, tmp_path)
    post = await add_post(archive, CH1, 12, "بيان عادي")
    det = detection_for("بيان عادي", {"بيان": "statement"})
    det.matches[0].severity = "low"
    assert await outbox.record(post, det) == []
    det.alert = False
    assert await outbox.record(post, det) == []


@pytest.mark.asyncio
async def test_silent_import_archives_but_never_delivers(archive, tmp_path):
    outbox, sink = make_outbox(archive, tmp_path)
    post = await add_post(archive, CH1, 13, ARABIC_THREAT)
    det = detection_for(ARABIC_THREAT, {"الانتقامُ قادمٌ": "revenge"})
    ids = await outbox.record(post, det, deliver=False)
    assert await statuses(archive) == {(ids[0], sink.name): "skipped"}
    # a later import --alerts of the same export raises nothing new, so sends nothing
    assert await outbox.record(post, det, deliver=True) == []
    assert await outbox.deliver_pending(flush=True) == 0
    assert read_jsonl(tmp_path / "alerts.jsonl") == []


@pytest.mark.asyncio
async def test_campaign_across_three_channels_is_one_alert(archive, tmp_path):
    outbox, _sink = make_outbox(archive, tmp_path)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    ocr = "الانتقام قادم\nالمقاومة الإسلامية"
    det = detection_for(ocr, {"الانتقام قادم": "revenge"}, source="ocr", ocr_text=ocr)
    ids = []
    for i, channel in enumerate((CH1, CH2, CH3)):
        post = await add_post(
            archive, channel, 100 + i, "", date=base + timedelta(minutes=7 * i), image=POSTER, ocr_text=ocr
        )
        ids.append(await outbox.record(post, det))
    assert [len(x) for x in ids] == [1, 2, 1]  # the second channel starts the campaign
    campaign_id = ids[1][1]
    rows = await archive.fetchall("SELECT id, kind, campaign_id FROM alerts ORDER BY id")
    assert [r[1] for r in rows].count("post") == 3  # every single-channel alert is archived
    assert await outbox.deliver_pending() == 1  # ... but one message goes out
    (sent,) = read_jsonl(tmp_path / "alerts.jsonl")
    assert sent["alert_id"] == campaign_id and sent["kind"] == "campaign"
    assert [c["channel_id"] for c in sent["channels"]] == [1001, 1002, 1003]
    assert sent["channels"][1]["url"] == "https://t.me/c/1002/101"
    assert sent["first_seen"] < sent["last_seen"]
    assert sent["ocr_excerpt"].startswith("الانتقام قادم")
    folded = await statuses(archive)
    assert sorted(folded.values()) == ["delivered", "folded", "folded", "folded"]


@pytest.mark.asyncio
async def test_campaign_by_perceptual_hash_and_by_text_and_window(archive, tmp_path):
    outbox, _ = make_outbox(archive, tmp_path, campaign_window_hours=6)
    now = datetime.now(UTC).replace(microsecond=0)
    text = "#الانتقام_قادم بيان المقاومة الإسلامية في العراق"
    det = detection_for(text, {"الانتقام": "revenge"})
    a = await add_post(archive, CH1, 1, text, date=now, image=b"A" * 50, phash="c3c3c3c3c3c3c3c3")
    b = await add_post(
        archive, CH2, 1, "", date=now, image=b"B" * 50, phash="c3c3c3c3c3c3c3c2"
    )  # 1 bit apart
    assert len(await outbox.record(a, det)) == 1
    poster_det = detection_for("الانتقام", {"الانتقام": "revenge"}, source="ocr", ocr_text="الانتقام")
    assert len(await outbox.record(b, poster_det)) == 2  # near-duplicate poster: campaign
    # the same normalised text (diacritics, hashtags folded) in a third channel joins the same campaign
    same = "الانتقامُ قادم بيانُ المقاومة الاسلامية في العراق"
    c = await add_post(archive, CH3, 1, same, date=now + timedelta(hours=1))
    assert len(await outbox.record(c, detection_for(same, {"الانتقامُ": "revenge"}))) == 1
    campaigns = await archive.fetchall("SELECT id, channels FROM campaigns")
    assert [tuple(r) for r in campaigns] == [(1, 3)]
    # outside the window: no campaign
    far = await add_post(archive, Channel(id=1004, username="far"), 1, text, date=now + timedelta(hours=30))
    assert len(await outbox.record(far, det)) == 1


@pytest.mark.asyncio
async def test_burst_is_folded_into_a_digest_nothing_dropped(archive, tmp_path):
    from rich.console import Console

    from alerts.sinks import ConsoleSink

    console = Console(file=io.StringIO(), width=120)
    sink = ConsoleSink(SinkConfig(type="console"), console=console)
    outbox = Outbox(archive, [sink], AlertsConfig(burst_limit=5, burst_window_seconds=60))
    for i in range(12):
        text = f"تهديد رقم {i} الانتقام قادم"
        post = await add_post(archive, CH1, 200 + i, text)
        assert len(await outbox.record(post, detection_for(text, {"الانتقام قادم": "revenge"}))) == 1
    assert await outbox.deliver_pending() == 12
    printed = console.file.getvalue()
    assert printed.count("alert #") == 5
    assert "Digest: 7 alerts" in printed
    rows = await archive.fetchall("SELECT status, digest_key FROM deliveries ORDER BY id")
    assert all(r[0] == "delivered" for r in rows)
    assert len({r[1] for r in rows if r[1]}) == 1
    # the next burst in the same window waits for the window instead of flooding
    post = await add_post(archive, CH1, 300, "الانتقام قادم")
    await outbox.record(post, detection_for("الانتقام قادم", {"الانتقام قادم": "revenge"}))
    assert await outbox.deliver_pending() == 0
    assert (await statuses(archive))[(13, sink.name)] == "pending"


def test_backoff_grows_is_capped_and_jittered():
    import random

    rng = random.Random(7)
    delays = [backoff_delay(n, 2.0, 60.0, rng) for n in range(1, 12)]
    assert 1.0 <= delays[0] <= 2.0
    assert all(d <= 60.0 for d in delays)
    assert delays[-1] >= 30.0
    assert len({round(d, 6) for d in delays[-4:]}) == 4  # jitter: capped values still differ


@pytest.mark.asyncio
async def test_end_to_end_through_the_pipeline_and_the_real_detector(archive, tmp_path):
    from alerts.detect import load_detector
    from handlers.pipeline import Pipeline
    from monitor.core.config import Config
    from monitor.core.models import Post

    outbox, _ = make_outbox(archive, tmp_path)
    pipeline = Pipeline(archive, detector=load_detector(Config()), outbox=outbox)
    date = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    first = await pipeline.process(Post(channel=CH1, message_id=900, date=date, text="الانتقامُ قادمٌ"))
    assert len(first.alerts) == 1
    edited = Post(channel=CH1, message_id=900, date=date, text="الانتقامُ قادمٌ. باقي ٣ أيام على الرد")
    second = await pipeline.process(edited)
    assert len(second.alerts) == 1  # only the countdown is new
    again = await pipeline.process(edited)
    assert again.alerts == []
    await outbox.deliver_pending()
    sent = read_jsonl(tmp_path / "alerts.jsonl")
    assert [len(b["matches"]) for b in sent] == [1, 0]
    assert (
        sent[0]["matches"][0]["rule"] == "revenge-coming" and sent[0]["matches"][0]["term"] == "الانتقام قادم"
    )
    assert sent[1]["countdown"]["value"] == 3 and sent[1]["countdown"]["deadline"].startswith("2026-11-25")
    row = await archive.fetchone("SELECT count(*) FROM countdowns")
    assert row[0] == 1


@pytest.mark.asyncio
async def test_campaign_is_held_rewritten_while_unsent_and_reannounced_when_doubled(archive, tmp_path):
    sink = JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    outbox = Outbox(archive, [sink], AlertsConfig(campaign_hold_seconds=3600))
    ocr = "الانتقام قادم"
    det = detection_for(ocr, {"الانتقام قادم": "revenge"}, source="ocr", ocr_text=ocr)
    now = datetime.now(UTC).replace(microsecond=0)
    channels = [Channel(id=7000 + i, username=f"ch{i}", title=f"قناة {i}") for i in range(8)]

    async def share(i):
        post = await add_post(
            archive, channels[i], 1, "", date=now + timedelta(minutes=i), image=POSTER, ocr_text=ocr
        )
        return await outbox.record(post, det)

    first = await share(0)
    assert await outbox.deliver_pending() == 1  # the first channel's alert goes out at once
    campaign = (await share(1))[1]
    await share(2)
    assert await outbox.deliver_pending() == 0  # the campaign waits for more channels
    assert await outbox.deliver_pending(flush=True) == 1  # a one-shot command does not wait
    sent = read_jsonl(tmp_path / "alerts.jsonl")
    assert [b["alert_id"] for b in sent] == [first[0], campaign]
    assert len(sent[1]["channels"]) == 3  # rewritten in place while unsent: one message, 3 channels
    assert len(await share(3)) == 1 and len(await share(4)) == 1 and len(await share(5)) == 2  # 6 = 2 x 3
    await share(6)
    await share(7)
    await outbox.deliver_pending(flush=True)
    sent = read_jsonl(tmp_path / "alerts.jsonl")
    assert [len(b["channels"]) for b in sent[1:]] == [3, 8]
    assert (await archive.fetchone("SELECT channels FROM campaigns"))[0] == 8


async def _alert_state(archive: Archive) -> list[list[tuple]]:
    """Every row the outbox writes, ``created_at`` and ids of the moment left out."""
    alerts = await archive.fetchall(
        "SELECT id, kind, post_id, fingerprint, severity, body, channel_id, campaign_id FROM alerts ORDER BY id"
    )
    bodies = []
    for row in alerts:
        body = json.loads(row[5])
        body.pop("created_at", None)
        bodies.append((*row[:5], json.dumps(body, sort_keys=True), *row[6:]))
    deliveries = await archive.fetchall(
        "SELECT alert_id, status, last_error FROM deliveries ORDER BY alert_id, sink"  # one sink
    )
    keys = await archive.fetchall(
        "SELECT alert_id, key, kind, channel_id, date FROM alert_keys ORDER BY 1, 2"
    )
    campaigns = await archive.fetchall("SELECT id, channels, announced, alert_id FROM campaigns ORDER BY id")
    return [bodies, *([tuple(r) for r in rows] for rows in (deliveries, keys, campaigns))]


@pytest.mark.asyncio
@pytest.mark.parametrize("not_fresh", [None, 1])
async def test_a_batch_of_fresh_posts_records_what_one_by_one_records(tmp_path, not_fresh):
    """The batched road (drafts, executemany) and the one-by-one road write the same rows,
    campaigns included: the same text in a second channel within the window, in the same batch
    (also when the first of them is not fresh and goes one by one in the middle of the batch)."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    campaign_text = "#الانتقام_قادم بيان المقاومة الإسلامية في العراق"
    posts = [
        (CH1, 1, "الانتقام قادم يا محتلين", 0),
        (CH1, 2, campaign_text, 10),
        (CH2, 3, "الانتقامُ قادم بيانُ المقاومة الاسلامية في العراق", 20),  # joins #2: a campaign
        (CH1, 4, "نص عادي بلا تهديد", 30),
        (CH3, 5, campaign_text, 40),  # a third channel
        (CH1, 6, campaign_text, 60 * 40),  # outside the window
        (CH2, 7, "الانتقام قادم يا محتلين", 50),  # the same text as #1 in another channel
    ]
    states = []
    for batched in (False, True):
        archive = await Archive.open(tmp_path / f"{batched}.db")
        try:
            outbox, _ = make_outbox(archive, tmp_path / str(batched))
            items = []
            for channel, message_id, text, minutes in posts:
                record = await add_post(
                    archive, channel, message_id, text, date=base + timedelta(minutes=minutes)
                )
                det = detection_for(text, {"الانتقام": "revenge"} if "الانتقام" in text else {})
                items.append((record, det))
            if batched:
                fresh = {r.id for n, (r, _) in enumerate(items) if n != not_fresh}
                async with archive.transaction() as conn:
                    ids = await outbox.record_in(conn, items, fresh=fresh)
            else:
                ids = {r.id: await outbox.record(r, d) for r, d in items}
            states.append((ids, await _alert_state(archive)))
        finally:
            await archive.close()
    (one_ids, one), (batch_ids, batch) = states
    assert batch == one
    assert sorted(map(tuple, batch_ids.values())) == sorted(map(tuple, one_ids.values()))
    assert [c[1] for c in one[3]] == [3, 2]  # both campaigns happened
