"""Daemon details: file references, documents, back-fill, reload (SIGHUP), scheduler reminders."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from telethon.tl import functions, types

from handlers.channels import parse_channel_ref
from monitor.core.config import ScheduleConfig
from monitor.core.store import Archive
from monitor.daemon import backfill_channel
from monitor.scheduler import Hooks, build_scheduler, rebuild_reminders
from tests.support.daemon import (
    CHANNEL_ID,
    eventually,
    make_config,
    make_server,
    posts_at_least,
    running_daemon,
)
from tests.support.fake_telegram import png_bytes


@dataclass
class Reminder:
    """A reminder as the scheduler reads one (``monitor.scheduler.ReminderLike``): a key and a time."""

    key: str
    at: datetime


@pytest.mark.asyncio
async def test_expired_file_reference_is_refetched_once(tmp_path):
    server = make_server()
    poster = png_bytes("مرجع منتهي")
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        msg = server.post(CHANNEL_ID, "ملصق", photo=poster, push=False)
        server.expire_file_reference(msg.media.photo.id)
        server.push(server.channels[CHANNEL_ID].events[-1][1], CHANNEL_ID)
        await eventually(posts_at_least(daemon, 1))
        await daemon.intake.drain(5)
        post = await daemon.app.archive.post(CHANNEL_ID, msg.id)
        media = await daemon.app.archive.post_media(post.id)
        assert media[0]["sha256"] == hashlib.sha256(poster).hexdigest()
        assert any(isinstance(r, functions.channels.GetMessagesRequest) for r in server.requests)


@pytest.mark.asyncio
async def test_image_documents_downloaded_other_documents_only_under_the_cap(tmp_path):
    server = make_server()
    config = make_config(tmp_path, download_documents_max_bytes=100)
    async with running_daemon(server, config) as daemon:
        server.post(
            CHANNEL_ID, "بيان", document=png_bytes("وثيقة"), mime_type="image/png", file_name="بيان.png"
        )
        server.post(
            CHANNEL_ID, "صغير", document=b"%PDF-1.4 tiny", mime_type="application/pdf", file_name="a.pdf"
        )
        # (clips have a cap of their own, [ocr] video_max_bytes: tests/app/test_daemon_video.py)
        server.post(CHANNEL_ID, "كبير", document=b"\0" * 5000, mime_type="application/zip", file_name="v.zip")
        await eventually(posts_at_least(daemon, 3))
        await daemon.intake.drain(5)
        rows = await daemon.app.archive.fetchall(
            "SELECT p.message_id, pm.kind, pm.sha256, pm.missing_reason FROM posts p "
            "JOIN post_media pm ON pm.post_id = p.id ORDER BY p.message_id"
        )
        by_id = {r[0]: (r[1], r[2] is not None, r[3]) for r in rows}
        assert by_id[1][:2] == ("photo_document", True)
        assert by_id[2][:2] == ("document", True)  # 13 bytes: under the 100-byte cap
        assert by_id[3] == ("document", False, "not downloaded")
        images = await daemon.app.archive.fetchone("SELECT count(*) FROM media WHERE is_image = 1")
        assert images[0] == 1


@pytest.mark.asyncio
async def test_backfill_pulls_history_and_is_harmless_to_rerun(tmp_path):
    server = make_server()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(1, 31):
        server.post(CHANNEL_ID, f"تاريخ {i}", push=False, date=start + timedelta(days=i))
    server.album(CHANNEL_ID, [png_bytes("a1"), png_bytes("a2")], "ألبوم قديم", push=False)
    config = make_config(tmp_path)
    seen: list[tuple[int, int | None]] = []

    def factory(cfg):
        return server.client()

    counts = await backfill_channel(
        config,
        config.archive.path,
        config.archive.media_dir,
        "https://t.me/militia_news",
        ocr=False,
        detect=False,
        client_factory=factory,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert counts["new"] == 31 and counts["failed"] == 0  # 30 posts + one album
    assert seen[-1] == (32, 32)
    again = await backfill_channel(
        config,
        config.archive.path,
        config.archive.media_dir,
        "@militia_news",
        ocr=False,
        detect=False,
        client_factory=factory,
    )
    assert again["new"] == 0 and again["skipped"] == 31
    since = await backfill_channel(
        config,
        config.archive.path,
        config.archive.media_dir,
        "militia_news",
        since=start + timedelta(days=25),
        limit=100,
        ocr=False,
        detect=False,
        client_factory=factory,
    )
    assert since["seen"] == 2 + 6  # the album's two messages, then days 30..25
    archive = await Archive.open(config.archive.path)
    try:
        rows = await archive.fetchall("SELECT count(*), count(DISTINCT message_id) FROM posts")
        assert tuple(rows[0]) == (31, 31)
        post = await archive.post(CHANNEL_ID, 31)
        assert post.text == "ألبوم قديم" and len(await archive.post_media(post.id)) == 2
    finally:
        await archive.close()
    assert sum(isinstance(r, functions.contacts.ResolveUsernameRequest) for r in server.requests) == 1


@pytest.mark.asyncio
async def test_reload_adds_channels_and_a_bad_config_keeps_the_old_one(tmp_path, caplog):
    server = make_server(channels=2)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[telegram]\nchannels = ["@militia_news"]\n[archive]\npath = "{tmp_path / "archive.db"}"\n[ocr]\nenabled = false\n',
        encoding="utf-8",
    )
    from monitor.core.config import load_config

    config = load_config(path)
    async with running_daemon(server, config, install_signals=True) as daemon:
        path.write_text(
            path.read_text(encoding="utf-8").replace('"@militia_news"]', '"@militia_news", "@other_front"]')
        )
        server.post(1002, "في القناة الجديدة", push=False)
        with caplog.at_level(logging.INFO, logger="monitor.daemon"):
            os.kill(os.getpid(), signal.SIGHUP)  # the real signal, through the loop's handler
            await eventually(posts_at_least(daemon, 1, 1002), what="the added channel gap-filled")
        assert 1002 in daemon.channels
        path.write_text("[telegram\nbroken", encoding="utf-8")
        assert await daemon.reload() is False
        assert daemon.config.telegram.channels == ["@militia_news", "@other_front"]
        assert any("reload failed, keeping the old config" in r.getMessage() for r in caplog.records)
        server.post(CHANNEL_ID, "ما زال يعمل")
        await eventually(posts_at_least(daemon, 1))


@pytest.mark.asyncio
@pytest.mark.parametrize("detect", [True, False])
async def test_a_reload_gives_the_ocr_the_new_rules_words(tmp_path, detect):
    """The OCR spells the rules' words (``monitor.ocr_settings``): after SIGHUP's reload the
    pool finishes its reads with the new rules' words, whether or not the daemon detects."""
    server = make_server(channels=1)
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "a"\nseverity = "low"\nterms = ["ثأر المهندس"]\n', encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[telegram]\nchannels = ["@militia_news"]\n[archive]\npath = "{tmp_path / "archive.db"}"\n'
        f'[alerts]\nrules = "{rules}"\n[ocr]\nenabled = true\nworkers = 1\n',
        encoding="utf-8",
    )
    from monitor.core.config import load_config

    config = load_config(path)
    async with running_daemon(server, config, ocr=True, detect=detect) as daemon:
        pool = daemon.app.ocr_pool
        assert pool is not None and pool.settings.known_words == ("المهندس", "ثأر")
        rules.write_text('[[rule]]\nname = "b"\nseverity = "low"\nterms = ["جايينكم يا محتلين"]\n')
        assert await daemon.reload() is True
        assert pool.settings.known_words == ("جايينكم", "محتلين", "يا")


@pytest.mark.asyncio
async def test_reminder_jobs_are_rebuilt_without_duplicates():
    fired: list[str] = []
    done = asyncio.Event()
    now = datetime.now(UTC)
    items = [
        Reminder("series-a:24", now - timedelta(seconds=5)),
        Reminder("series-a:0", now + timedelta(days=1)),
    ]

    async def reminders() -> list[Reminder]:
        return list(items)

    async def fire(reminder: Reminder) -> None:
        fired.append(reminder.key)
        done.set()

    scheduler = build_scheduler(ScheduleConfig(), Hooks(reminders=reminders, fire_reminder=fire))
    scheduler.start()
    try:
        assert await rebuild_reminders(scheduler, Hooks(reminders=reminders, fire_reminder=fire)) == 2
        assert await rebuild_reminders(scheduler, Hooks(reminders=reminders, fire_reminder=fire)) == 2
        ids = sorted(j.id for j in scheduler.get_jobs() if j.id.startswith("reminder:"))
        assert ids == ["reminder:series-a:0", "reminder:series-a:24"]
        await asyncio.wait_for(done.wait(), 10)  # the overdue one fires at once
        assert fired == ["series-a:24"]
        items.pop()  # the series is gone (e.g. its post deleted): its job goes too
        await rebuild_reminders(scheduler, Hooks(reminders=reminders, fire_reminder=fire))
        assert not [j for j in scheduler.get_jobs() if j.id == "reminder:series-a:0"]
    finally:
        scheduler.shutdown(wait=False)


def test_parse_channel_ref():
    assert parse_channel_ref("@Some_Channel") == "Some_Channel"
    assert parse_channel_ref("https://t.me/s/some_channel/123") == "some_channel"
    assert parse_channel_ref("t.me/some_channel?embed=1") == "some_channel"
    assert parse_channel_ref(-1001234567890) == 1234567890
    assert parse_channel_ref("-1001234567890") == 1234567890
    assert parse_channel_ref(1234567890) == 1234567890


@pytest.mark.asyncio
async def test_history_page_semantics_of_the_fake_follow_telegram(tmp_path):
    """iter_messages(min_id, reverse) through Telethon's offset arithmetic over our fake."""
    server = make_server()
    for i in range(1, 251):
        server.post(CHANNEL_ID, str(i), push=False)
    server.delete(CHANNEL_ID, [100, 101], push=False)
    client = server.client()
    await client.connect()
    try:
        peer = types.InputPeerChannel(CHANNEL_ID, server.channels[CHANNEL_ID].channel.access_hash)
        got = [m.id async for m in client.iter_messages(peer, min_id=90, reverse=True) if m.id > 90]
        assert got == [i for i in range(91, 251) if i not in (100, 101)]
        newest = [m.id async for m in client.iter_messages(peer, limit=5)]
        assert newest == [250, 249, 248, 247, 246]
    finally:
        await client.disconnect()


@pytest.mark.asyncio
async def test_flood_wait_on_resolve_does_not_hold_up_known_channels(tmp_path):
    server = make_server(channels=2)
    config = make_config(tmp_path)  # first run: @militia_news resolved and kept in the archive
    async with running_daemon(server, config):
        pass
    config = make_config(tmp_path, channels=["@militia_news", "@other_front"])
    server.fail(functions.contacts.ResolveUsernameRequest, "FLOOD_WAIT_500", code=420)
    async with running_daemon(server, config) as daemon:
        assert "@other_front" in daemon.unresolved
        server.post(CHANNEL_ID, "القناة المعروفة تعمل")
        await eventually(posts_at_least(daemon, 1))
        # An hour later: our retry time and Telethon's own flood memory have both passed.
        daemon.book.next_resolve = 0
        daemon.client._flood_waited_requests.clear()
        server.post(1002, "الأخرى", push=False)
        await daemon._scheduled_gapfill()
        assert not daemon.unresolved
        await eventually(posts_at_least(daemon, 1, 1002))
