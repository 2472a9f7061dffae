"""The daemon end to end, in-process: a real Daemon, real TelegramClient, real archive; only the
network under Telethon is the fake server (tests/support/fake_telegram.py)."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import pytest
from telethon.tl import functions, types

from monitor.core.store import Archive
from monitor.daemon import Daemon
from tests.support.daemon import (
    CHANNEL_ID,
    OTHER_ID,
    eventually,
    make_config,
    make_server,
    posts_at_least,
    running_daemon,
)
from tests.support.fake_telegram import png_bytes

pytestmark = pytest.mark.asyncio


async def test_new_post_with_photo_is_archived_with_its_image(tmp_path):
    server = make_server()
    config = make_config(tmp_path)
    poster = png_bytes("الانتقام قادم")
    async with running_daemon(server, config) as daemon:
        server.post(CHANNEL_ID, "الانتقامُ قادمٌ خلال ٣ أيام", photo=poster, views=120)
        await eventually(posts_at_least(daemon, 1), what="the post")
        archive = daemon.app.archive
        post = await archive.post(CHANNEL_ID, 1)
        assert post is not None and post.text == "الانتقامُ قادمٌ خلال ٣ أيام"
        media = await archive.post_media(post.id)
        assert [m["sha256"] for m in media] == [hashlib.sha256(poster).hexdigest()]
        stored = config.archive.media_path() / media[0]["path"]
        assert stored.read_bytes() == poster
        row = await archive.fetchone("SELECT source, views, raw FROM posts WHERE id = ?", (post.id,))
        assert row["source"] == "live" and row["views"] == 120
        assert "TG_SESSION" not in row["raw"] and "الانتقام" in row["raw"]
        channel = await archive.find_channel("@militia_news")
        assert channel["access_hash"] == server.channels[CHANNEL_ID].channel.access_hash


async def test_album_becomes_one_post_with_all_images(tmp_path):
    server = make_server()
    images = [png_bytes(f"صورة {i}") for i in range(3)]
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        msgs = server.album(CHANNEL_ID, images, "بيان مصوّر")
        await eventually(posts_at_least(daemon, 1), what="the album")
        await daemon.intake.drain(5)
        archive = daemon.app.archive
        rows = await archive.fetchall("SELECT id, message_id, text FROM posts")
        assert [(r["message_id"], r["text"]) for r in rows] == [(msgs[0].id, "بيان مصوّر")]
        media = await archive.post_media(rows[0]["id"])
        assert [m["sha256"] for m in media] == [hashlib.sha256(i).hexdigest() for i in images]


async def test_album_part_arriving_late_joins_its_post(tmp_path):
    # Telethon's events.Album drops albums whose parts come more than 0.5 s apart; ours must not.
    server = make_server()
    images = [png_bytes("أولى"), png_bytes("ثانية")]
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        daemon.intake.album_wait = 0.05
        msgs = server.album(CHANNEL_ID, images, "ألبوم متقطع", push=False)
        updates = [u for _, u in server.channels[CHANNEL_ID].events[-2:]]
        server.push(updates[0], CHANNEL_ID)
        await eventually(posts_at_least(daemon, 1), what="the first part")
        await daemon.intake.drain(5)
        server.push(updates[1], CHANNEL_ID)
        archive = daemon.app.archive

        async def both() -> bool:
            post = await archive.post(CHANNEL_ID, msgs[0].id)
            return post is not None and len(await archive.post_media(post.id)) == 2

        await eventually(both, what="the late part joined")
        assert await archive.post(CHANNEL_ID, msgs[1].id) is None


async def test_edit_keeps_the_old_version(tmp_path):
    server = make_server()
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        msg = server.post(CHANNEL_ID, "الموعد بعد ٣ أيام")
        await eventually(posts_at_least(daemon, 1))
        server.edit(CHANNEL_ID, msg.id, "الموعد بعد يومين")
        archive = daemon.app.archive

        async def edited() -> bool:
            post = await archive.post(CHANNEL_ID, msg.id)
            return post is not None and post.text == "الموعد بعد يومين"

        await eventually(edited, what="the edit")
        post = await archive.post(CHANNEL_ID, msg.id)
        versions = await archive.versions(post.id)
        assert [v["text"] for v in versions] == ["الموعد بعد ٣ أيام"]


async def test_delete_marks_and_keeps_content(tmp_path):
    server = make_server()
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        msg = server.post(CHANNEL_ID, "بيان سيحذف")
        await eventually(posts_at_least(daemon, 1))
        server.delete(CHANNEL_ID, [msg.id])
        archive = daemon.app.archive

        async def deleted() -> bool:
            post = await archive.post(CHANNEL_ID, msg.id)
            return bool(post and post.deleted)

        await eventually(deleted, what="the deletion")
        assert (await archive.post(CHANNEL_ID, msg.id)).text == "بيان سيحذف"


async def test_missed_edits_and_deletions_are_found_by_the_recent_recheck(tmp_path):
    server = make_server()
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        for text in ("أول", "ثاني", "ثالث"):
            server.post(CHANNEL_ID, text)
        await eventually(posts_at_least(daemon, 3))

        async def watermark_moved() -> bool:  # archived is not yet "safe": the recheck covers safe ids
            return daemon.intake.progress.of(CHANNEL_ID).safe() >= 3

        await eventually(watermark_moved, what="the watermark to pass the three posts")
        server.edit(CHANNEL_ID, 1, "أول بعد التعديل", push=False)  # these updates never arrive
        server.delete(CHANNEL_ID, [2], push=False)
        await daemon.gapfill_all()  # the scheduled round
        archive = daemon.app.archive

        async def caught_up() -> bool:
            first, second = await archive.post(CHANNEL_ID, 1), await archive.post(CHANNEL_ID, 2)
            return first.text == "أول بعد التعديل" and second.deleted

        await eventually(caught_up, what="the missed edit and deletion")
        post = await archive.post(CHANNEL_ID, 1)
        assert [v["text"] for v in await archive.versions(post.id)] == ["أول"]
        assert (await archive.post(CHANNEL_ID, 2)).text == "ثاني"  # content kept
        await daemon.gapfill_all()  # a second round changes nothing
        await daemon.intake.drain(5)
        assert len(await archive.versions(post.id)) == 1


async def test_forward_records_source_channel_id_and_name(tmp_path):
    server = make_server(channels=2)
    source = server.post(OTHER_ID, "الأصل", push=False)
    fwd = types.MessageFwdHeader(
        date=source.date, from_id=types.PeerChannel(OTHER_ID), channel_post=source.id
    )
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        server.post(CHANNEL_ID, "الأصل", fwd_from=fwd)
        await eventually(posts_at_least(daemon, 1))
        row = await daemon.app.archive.fetchone("SELECT fwd_from_id, fwd_from_name FROM posts")
        assert (row["fwd_from_id"], row["fwd_from_name"]) == (OTHER_ID, "الجبهة الأخرى")


async def test_gap_in_updates_is_filled_by_telethon_get_channel_difference(tmp_path):
    server = make_server()
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        server.post(CHANNEL_ID, "أول")
        await eventually(posts_at_least(daemon, 1))
        server.post(CHANNEL_ID, "ضاع في الطريق", push=False)  # pts advances, no update arrives
        server.post(CHANNEL_ID, "ثالث")
        await eventually(posts_at_least(daemon, 3), what="the missing post")
        assert any(isinstance(r, functions.updates.GetChannelDifferenceRequest) for r in server.requests)
        rows = await daemon.app.archive.fetchall("SELECT message_id, source FROM posts ORDER BY message_id")
        assert [(r[0], r[1]) for r in rows] == [(1, "live"), (2, "live"), (3, "live")]


async def test_downtime_is_filled_at_start_without_duplicates(tmp_path):
    server = make_server()
    config = make_config(tmp_path)
    server.post(CHANNEL_ID, "قبل التشغيل")
    async with running_daemon(server, config) as daemon:
        await eventually(posts_at_least(daemon, 1))
        server.post(CHANNEL_ID, "أثناء التشغيل")
        await eventually(posts_at_least(daemon, 2))
    resolves = sum(isinstance(r, functions.contacts.ResolveUsernameRequest) for r in server.requests)
    for i in range(3):
        server.post(CHANNEL_ID, f"أثناء التوقف {i}", push=False)
    server.delete(CHANNEL_ID, [4], push=False)  # a hole in the ids
    async with running_daemon(server, config) as daemon:
        await eventually(posts_at_least(daemon, 4))
        await daemon.intake.drain(5)
        rows = await daemon.app.archive.fetchall("SELECT message_id, source FROM posts ORDER BY message_id")
        assert [(r[0], r[1]) for r in rows] == [(1, "gapfill"), (2, "live"), (3, "gapfill"), (5, "gapfill")]
    # the second start used the access hash kept in the archive: no new resolve
    assert sum(isinstance(r, functions.contacts.ResolveUsernameRequest) for r in server.requests) == resolves


async def test_short_flood_wait_is_slept_inside_telethon(tmp_path):
    server = make_server()
    server.post(CHANNEL_ID, "قديم")
    server.fail(functions.messages.GetHistoryRequest, "FLOOD_WAIT_1", code=420)
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        await eventually(posts_at_least(daemon, 1))
    history = [r for r in server.requests if isinstance(r, functions.messages.GetHistoryRequest)]
    assert len(history) >= 2  # failed once, retried by Telethon after its sleep


async def test_long_flood_wait_is_waited_out_for_that_channel(tmp_path, caplog):
    server = make_server()
    server.post(CHANNEL_ID, "قديم")
    server.fail(functions.messages.GetHistoryRequest, "FLOOD_WAIT_2", code=420)
    config = make_config(tmp_path, flood_sleep_threshold=1)  # 2 s is above Telethon's threshold
    with caplog.at_level(logging.WARNING, logger="handlers.gapfill"):
        async with running_daemon(server, config) as daemon:
            await eventually(posts_at_least(daemon, 1), timeout=15)
    assert any("flood wait 2 s on gap-fill" in r.getMessage() for r in caplog.records)


async def test_private_channel_is_marked_and_the_rest_keeps_running(tmp_path):
    server = make_server(channels=2)
    config = make_config(tmp_path, channels=["@militia_news", "https://t.me/other_front"])
    async with running_daemon(server, config) as daemon:
        server.set_private(CHANNEL_ID)
        await daemon.gapfill_all()
        server.post(OTHER_ID, "ما زال يعمل")
        await eventually(posts_at_least(daemon, 1, OTHER_ID))
        row = await daemon.app.archive.fetchone(
            "SELECT status, status_reason FROM channels WHERE id = ?", (CHANNEL_ID,)
        )
        assert (row["status"], row["status_reason"]) == ("private", "ChannelPrivateError")
        ok = await daemon.app.archive.fetchone("SELECT status FROM channels WHERE id = ?", (OTHER_ID,))
        assert ok["status"] == "ok"
        server.set_private(CHANNEL_ID, False)  # access comes back
        await daemon.gapfill_all()
        row = await daemon.app.archive.fetchone("SELECT status FROM channels WHERE id = ?", (CHANNEL_ID,))
        assert row["status"] == "ok"


async def test_unknown_username_is_reported_not_fatal(tmp_path):
    server = make_server()
    config = make_config(tmp_path, channels=["@militia_news", "@gone_channel"])
    async with running_daemon(server, config) as daemon:
        assert daemon.unresolved == {"@gone_channel": "renamed"}
        server.post(CHANNEL_ID, "مستمر")
        await eventually(posts_at_least(daemon, 1))


async def test_failed_post_holds_the_watermark_and_is_retried(tmp_path):
    server = make_server()
    config = make_config(tmp_path)
    poster = png_bytes("يفشل مرة")
    shard = config.archive.media_path() / hashlib.sha256(poster).hexdigest()[:2]
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"")  # a file where the media store needs a directory: storing fails for real
    async with running_daemon(server, config) as daemon:
        server.post(CHANNEL_ID, "صورة", photo=poster)
        server.post(CHANNEL_ID, "نص بعدها")
        await eventually(posts_at_least(daemon, 1))
        await daemon.intake.drain(5)
        progress = daemon.intake.progress.of(CHANNEL_ID)
        assert progress.failed == {1} and progress.safe() == 0
        assert await daemon.app.archive.post(CHANNEL_ID, 1) is None
        shard.unlink()
        assert await daemon.retry_failed() == 1
        await eventually(posts_at_least(daemon, 2), what="the retried post")
        await daemon.intake.drain(5)
        assert progress.safe() == 2 and not progress.failed


async def test_reconnects_after_connection_loss_and_fills_the_gap(tmp_path, caplog):
    server = make_server()
    async with running_daemon(server, make_config(tmp_path)) as daemon:
        server.post(CHANNEL_ID, "قبل الانقطاع")
        await eventually(posts_at_least(daemon, 1))
        server.refuse_connections = 2
        server.drop_connection()
        server.post(CHANNEL_ID, "أثناء الانقطاع", push=False)

        async def back() -> bool:
            return daemon.health.state == "connected" and daemon.health.reconnects == 1

        await eventually(back, what="reconnection")
        await eventually(posts_at_least(daemon, 2), what="the post missed while disconnected")
        server.post(CHANNEL_ID, "بعد العودة")
        await eventually(posts_at_least(daemon, 3))
        health = await daemon.app.archive.get_meta("daemon:health")
        assert '"state": "connected"' in health and '"reconnects": 1' in health


async def test_stop_drains_in_flight_posts_and_saves_watermark(tmp_path):
    server = make_server()
    config = make_config(tmp_path)
    async with running_daemon(server, config) as daemon:
        for i in range(200):
            server.post(CHANNEL_ID, f"رشقة {i}")
        await eventually(posts_at_least(daemon, 1))
    archive = await Archive.open(config.archive.path)
    try:
        mark = int(await archive.get_meta(f"watermark:{CHANNEL_ID}"))
        got = [r[0] for r in await archive.fetchall("SELECT message_id FROM posts ORDER BY message_id")]
        assert got == list(range(1, len(got) + 1))  # what was taken in was archived: no hole
        assert mark == len(got)  # the rest (still in Telethon's queue) is left to the next gap-fill
        assert '"state": "stopped"' in await archive.get_meta("daemon:health")
    finally:
        await archive.close()
    async with running_daemon(server, config) as daemon:
        await eventually(posts_at_least(daemon, 200))
        rows = await daemon.app.archive.fetchall("SELECT count(DISTINCT message_id), count(*) FROM posts")
        assert tuple(rows[0]) == (200, 200)


async def test_scheduler_runs_with_the_daemon(tmp_path):
    server = make_server()
    async with running_daemon(server, make_config(tmp_path), schedule=True) as daemon:
        jobs = {job.id for job in daemon.scheduler.get_jobs()}
        assert {"gapfill", "retry_failed", "resume_pending", "optimize"} <= jobs
        server.post(CHANNEL_ID, "مجدول", push=False)
        await daemon.scheduler.get_job("gapfill").func()
        await eventually(posts_at_least(daemon, 1))
    assert not daemon.scheduler.running


async def test_a_network_that_never_answers_is_retried_and_stop_still_works(tmp_path):
    server = make_server()
    server.silent = True  # TCP connects, Telegram never answers (a DPI block, a captive portal)
    config = make_config(tmp_path)
    daemon = Daemon(
        config,
        config.archive.path,
        client_factory=lambda cfg: server.client(),
        ocr=False,
        detect=False,
        install_signals=False,
        schedule=False,
        connect_timeout=0.3,
        backoff=(0.05, 0.1),
    )
    task = asyncio.create_task(daemon.run())

    async def timed_out() -> bool:
        return daemon.health.reconnects == 0 and "did not answer" in (daemon.health.last_error or "")

    await eventually(timed_out, what="the connect timeout")
    server.silent = False
    await asyncio.wait_for(daemon.started.wait(), 10)
    server.post(CHANNEL_ID, "وصلنا أخيراً")
    await eventually(posts_at_least(daemon, 1))
    server.silent = True
    daemon.request_stop()
    await asyncio.wait_for(task, 10)


async def test_stop_during_a_hanging_connect_returns_at_once(tmp_path):
    server = make_server()
    server.silent = True
    config = make_config(tmp_path)
    daemon = Daemon(
        config,
        config.archive.path,
        client_factory=lambda cfg: server.client(),
        ocr=False,
        detect=False,
        install_signals=False,
        schedule=False,
        connect_timeout=600,
    )
    task = asyncio.create_task(daemon.run())
    await server.wait_for(lambda: bool(server.requests))  # connect() is now stuck waiting
    daemon.request_stop()
    await asyncio.wait_for(task, 10)
    assert daemon.health.state == "stopped"
