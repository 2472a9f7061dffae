"""Join and watch modes through a real TelegramClient against the fake Telegram (issue 13).

The fake pushes a channel's updates only to accounts that joined it (``joined=False``), as
Telegram does: a watched channel's posts reach the archive only through the poller."""

from __future__ import annotations

import json
import time

import pytest
from telethon.tl import functions

from monitor.core.config import SinkConfig
from tests.support.daemon import CHANNEL_ID, OTHER_ID, eventually, make_config, posts_at_least, running_daemon
from tests.support.fake_telegram import SELF_ID, FakeTelegram

pytestmark = pytest.mark.asyncio

FAST = {"poll_min_seconds": 1, "poll_max_seconds": 2, "join_check_seconds": 1, "join_interval_seconds": 0}


def unjoined_server() -> FakeTelegram:
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة الإسلامية", joined=False)
    return server


async def sources(daemon, channel_id: int = CHANNEL_ID) -> list[tuple[int, str]]:
    rows = await daemon.app.archive.fetchall(
        "SELECT message_id, source FROM posts WHERE channel_id = ? ORDER BY message_id", (channel_id,)
    )
    return [(r[0], r[1]) for r in rows]


async def test_watch_mode_never_joins_and_polls_each_new_post_within_its_interval(tmp_path):
    server = unjoined_server()
    config = make_config(tmp_path, mode="watch", **FAST)
    async with running_daemon(server, config) as daemon:
        await eventually(lambda: _async(_polled(server)), what="the first poll")
        sent = time.monotonic()
        server.post(CHANNEL_ID, "الانتقامُ قادمٌ خلال ٣ أيام")  # pushed to members only: nobody
        await eventually(posts_at_least(daemon, 1), timeout=15, what="the polled post")
        took = time.monotonic() - sent
        server.post(CHANNEL_ID, "بيان رقم ٢ — إنذار أخير")
        await eventually(posts_at_least(daemon, 2), timeout=15, what="the second polled post")
        assert await sources(daemon) == [(1, "poll"), (2, "poll")]
        state = daemon.collector.entry_state(CHANNEL_ID)
        assert state["mode"] == "watch" and state["account"] == "main" and not state["joined"]
        # the interval is at most poll_max (2 s), stretched only by the budget; the machine is busy
        assert took < 2 * state["expected_delay"] + 5
    assert not any(isinstance(r, functions.channels.JoinChannelRequest) for r in server.requests)
    assert server.channels[CHANNEL_ID].members == set()


def _polled(server: FakeTelegram) -> bool:
    return any(isinstance(r, functions.updates.GetChannelDifferenceRequest) for r in server.requests)


async def test_join_mode_joins_gets_pushed_posts_and_catches_up_when_updates_stop(tmp_path):
    server = unjoined_server()
    config = make_config(tmp_path, mode="join", **FAST)
    async with running_daemon(server, config) as daemon:
        await eventually(lambda: _async(SELF_ID in server.channels[CHANNEL_ID].members), what="the join")
        await eventually(lambda: _async(daemon.collector.entry_state(CHANNEL_ID)["joined"]), what="joined")
        server.post(CHANNEL_ID, "أُعلن النفير العام")
        await eventually(posts_at_least(daemon, 1), what="the pushed post")
        server.post(CHANNEL_ID, "تحذير: آخر مهلة", push=False)  # the pushed updates stop
        await eventually(posts_at_least(daemon, 2), timeout=15, what="the caught-up post")
        assert await sources(daemon) == [(1, "live"), (2, "poll")]
        assert daemon.collector.entry_state(CHANNEL_ID)["expected_delay"] <= 1.0
    rows = await _collection(config)
    assert rows[CHANNEL_ID]["mode"] == "join" and rows[CHANNEL_ID]["joined"] == 1
    assert rows[CHANNEL_ID]["pts"] >= 3


async def _async(value):
    return value


async def _collection(config):
    from monitor.core.store import Archive

    archive = await Archive.open(config.archive.path)
    try:
        return await archive.collection_rows()
    finally:
        await archive.close()


async def test_a_full_account_keeps_the_channel_polled_and_says_so_once(tmp_path):
    server = unjoined_server()
    server.channel_cap = 0  # CHANNELS_TOO_MUCH on the first join
    config = make_config(tmp_path, mode="join", **FAST)
    async with running_daemon(server, config) as daemon:
        await eventually(lambda: _open_problem(daemon, f"join:{CHANNEL_ID}"), what="the health problem")
        server.post(CHANNEL_ID, "رسالة إلى العدو")
        await eventually(posts_at_least(daemon, 1), timeout=15, what="the polled post")
        assert await sources(daemon) == [(1, "poll")]
        assert not daemon.collector.entry_state(CHANNEL_ID)["joined"]
    assert server.channels[CHANNEL_ID].members == set()


async def _open_problem(daemon, key: str) -> bool:
    return any(r["key"] == key for r in await daemon.app.archive.open_health())


async def test_a_flood_wait_on_join_is_waited_out_then_joined(tmp_path):
    server = unjoined_server()
    server.fail(functions.channels.JoinChannelRequest, "FLOOD_WAIT_2", code=420)
    config = make_config(tmp_path, mode="join", flood_sleep_threshold=0, **FAST)
    async with running_daemon(server, config) as daemon:
        await eventually(
            lambda: _async(SELF_ID in server.channels[CHANNEL_ID].members), timeout=15, what="join"
        )
        joins = [r for r in server.requests if isinstance(r, functions.channels.JoinChannelRequest)]
        assert len(joins) == 2  # the refused one, then one after the wait
        await eventually(lambda: _async(daemon.collector.entry_state(CHANNEL_ID)["joined"]), what="joined")


async def test_a_private_invite_link_is_joined_and_collected(tmp_path):
    server = FakeTelegram()
    server.add_channel(OTHER_ID, None, "قناة خاصة", joined=False)
    server.add_invite("AbCdEfGh1234", OTHER_ID)
    config = make_config(
        tmp_path, channels=[], channel=[{"ref": "https://t.me/+AbCdEfGh1234", "mode": "join"}], **FAST
    )
    async with running_daemon(server, config) as daemon:
        await eventually(lambda: _async(OTHER_ID in daemon.channels), timeout=15, what="the invite joined")
        server.post(OTHER_ID, "للأعضاء فقط: الساعة صفر")
        await eventually(posts_at_least(daemon, 1, OTHER_ID), what="the pushed post")
    imports = [r for r in server.requests if isinstance(r, functions.messages.ImportChatInviteRequest)]
    assert len(imports) == 1 and SELF_ID in server.channels[OTHER_ID].members


def with_sink(config, tmp_path):
    """Health alerts go through the outbox: a JSON Lines sink shows what was delivered."""
    config.alerts.sink.append(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    return config


def delivered(tmp_path) -> list[dict]:
    path = tmp_path / "alerts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


async def test_a_rename_is_followed_by_id_and_said_once(tmp_path):
    server = unjoined_server()
    config = with_sink(make_config(tmp_path, mode="watch", **FAST), tmp_path)
    async with running_daemon(server, config, detect=True) as daemon:
        await eventually(lambda: _async(_polled(server)), what="the first poll")
        server.rename(CHANNEL_ID, "militia_news_2")
        server.post(CHANNEL_ID, "نحن هنا باسم جديد")
        await eventually(posts_at_least(daemon, 1), timeout=15, what="the post after the rename")
        row = await daemon.app.archive.find_channel(CHANNEL_ID)
        assert row["username"] == "militia_news_2"
        alerts = await daemon.app.archive.fetchall("SELECT body FROM alerts WHERE kind = 'health'")
        assert len(alerts) == 1 and "militia_news_2" in alerts[0][0]
        await eventually(lambda: _async(len(delivered(tmp_path)) == 1), what="the health alert delivered")
    resolves = sum(isinstance(r, functions.contacts.ResolveUsernameRequest) for r in server.requests)
    # the config still says @militia_news: a restart follows the channel by id, no resolve
    async with running_daemon(server, config, detect=True) as daemon:
        assert CHANNEL_ID in daemon.channels
        server.post(CHANNEL_ID, "ما زلنا هنا")
        await eventually(posts_at_least(daemon, 2), timeout=15, what="the post after the restart")
    assert sum(isinstance(r, functions.contacts.ResolveUsernameRequest) for r in server.requests) == resolves
    assert len(delivered(tmp_path)) == 1  # said once, not again at the restart
