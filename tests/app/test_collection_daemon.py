"""The daemon's collection plan end to end: the channel list picked up while running, an account
pool that loses an account mid-run, learned silence, and the heartbeat ``stats``/``doctor`` read."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.config import SinkConfig, load_config
from tests.support.daemon import CHANNEL_ID, OTHER_ID, eventually, make_config, posts_at_least, running_daemon
from tests.support.fake_telegram import SELF_ID, FakeTelegram

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[2]
FAST = {"poll_min_seconds": 1, "poll_max_seconds": 2, "join_check_seconds": 1, "join_interval_seconds": 0}


async def _true(value) -> bool:
    return bool(value)


def delivered(tmp_path: Path) -> list[dict]:
    path = tmp_path / "alerts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


async def cli(config: Path, *args: str) -> tuple[int, str]:
    """The real command in its own process, as a user runs it beside the daemon."""
    env = {**os.environ, "TGMONITOR_CONFIG": str(config)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def cli_db(db: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TGMONITOR_CONFIG", "TGMONITOR_DB")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "--db", str(db), *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_a_running_daemon_picks_up_channels_added_and_removed_within_seconds(tmp_path):
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة", joined=False)
    server.add_channel(OTHER_ID, "other_front", "الجبهة الأخرى", joined=False)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[telegram]\nchannels = ["@militia_news"]\nmode = "watch"\npoll_min_seconds = 1\npoll_max_seconds = 2\n'
        f'[archive]\npath = "{tmp_path / "a.db"}"\n[ocr]\nenabled = false\n',
        encoding="utf-8",
    )
    config = load_config(cfg)
    async with running_daemon(server, config) as daemon:
        code, out = await cli(cfg, "channels", "add", "https://t.me/other_front")
        assert code == 0, out
        await eventually(lambda: _true(OTHER_ID in daemon.channels), timeout=15, what="the added channel")
        server.post(OTHER_ID, "خبر عاجل من الجبهة ٧")
        await eventually(posts_at_least(daemon, 1, OTHER_ID), timeout=15, what="its first post")
        code, out = await cli(cfg, "channels", "remove", "@other_front")
        assert code == 0, out
        await eventually(lambda: _true(OTHER_ID not in daemon.channels), timeout=15, what="the removal")
        code, out = await cli(cfg, "channels", "add", "@other_front", "--mode", "join")
        assert code == 0, out
        await eventually(
            lambda: _true(SELF_ID in server.channels[OTHER_ID].members), timeout=15, what="the join"
        )
        code, out = await cli(cfg, "channels", "remove", "@other_front")
        assert code == 0, out
        await eventually(lambda: _true(not server.channels[OTHER_ID].members), timeout=15, what="the leave")
        assert OTHER_ID not in daemon.collector.assigned
        assert CHANNEL_ID in daemon.channels  # the config's channel is untouched
    code, out = await cli(cfg, "channels", "list", "--json")
    rows = json.loads(out)
    assert [(r["ref"], r["mode"], r["account"], r["id"]) for r in rows] == [
        ("@militia_news", "watch", "main", CHANNEL_ID)
    ]
    assert rows[0]["expected_delay_s"] is not None and rows[0]["expected_delay_s"] <= 2 * 2


async def test_an_account_banned_mid_run_hands_its_channels_over_nothing_lost_or_twice(tmp_path):
    server = FakeTelegram()
    ids = {"first": SELF_ID, "second": 880001, "spare": 880002}
    server.add_account(ids["second"])
    server.add_account(ids["spare"])
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة", joined=False)
    server.add_channel(OTHER_ID, "other_front", "الجبهة الأخرى", joined=False)
    config = make_config(
        tmp_path,
        channels=["@militia_news", "@other_front"],
        mode="watch",
        channels_per_account=1,
        account=[{"name": "first"}, {"name": "second"}, {"name": "spare", "standby": True}],
        **FAST,
    )
    config.alerts.sink.append(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    factory = lambda cfg, account: server.client(account=ids[account.name])  # noqa: E731
    async with running_daemon(server, config, account_client_factory=factory, detect=True) as daemon:
        assigned = dict(daemon.collector.assigned)
        assert sorted(assigned.values()) == ["first", "second"]  # spread under the cap
        lost_channel = next(cid for cid, name in assigned.items() if name == "second")
        for i in range(3):
            server.post(lost_channel, f"قبل الحظر {i}")
        await eventually(posts_at_least(daemon, 3, lost_channel), timeout=15, what="posts before the ban")
        server.ban(ids["second"])
        for i in range(4):
            server.post(lost_channel, f"أثناء الحظر {i}")
        await eventually(
            lambda: _true(daemon.collector.assigned.get(lost_channel) == "spare"), timeout=15, what="the move"
        )
        server.post(lost_channel, "بعد النقل")
        await eventually(posts_at_least(daemon, 8, lost_channel), timeout=20, what="every post")
        await daemon.intake.drain(5)
        rows = await daemon.app.archive.fetchall(
            "SELECT message_id FROM posts WHERE channel_id = ? ORDER BY message_id", (lost_channel,)
        )
        assert [r[0] for r in rows] == list(range(1, 9))  # 0 lost, 0 twice (ids are unique per channel)
        problems = [r["key"] for r in await daemon.app.archive.open_health()]
        assert problems == ["account:second"]
        await eventually(lambda: _true(len(delivered(tmp_path)) == 1), what="the account alert delivered")
    assert "second" in delivered(tmp_path)[0]["text"]
    assert server.requests_of(ids["spare"])  # the standby did the work


async def test_a_silent_channel_raises_one_health_alert_and_one_clear(tmp_path):
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة")
    start = datetime.now(UTC) - timedelta(hours=7)
    for i in range(12):  # every 10 minutes, then 5 hours of silence
        server.post(
            CHANNEL_ID,
            f"نشرة رقم {i}",
            date=(start + timedelta(minutes=10 * i)).replace(microsecond=0),
            push=False,
        )
    config = make_config(tmp_path, silence_factor=6, silence_min_hours=0.5)
    config.alerts.sink.append(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    async with running_daemon(server, config, detect=True, health_interval=0.3) as daemon:
        await eventually(lambda: _true(len(delivered(tmp_path)) == 1), timeout=15, what="the silence alert")
        assert (
            "silent" in delivered(tmp_path)[0]["text"] and "@militia_news" in delivered(tmp_path)[0]["text"]
        )
        server.post(CHANNEL_ID, "عدنا")
        await eventually(lambda: _true(len(delivered(tmp_path)) == 2), timeout=15, what="the clear")
        assert "posts again" in delivered(tmp_path)[1]["text"]
        for _ in range(3):  # more checks say nothing new
            await daemon.checks.check_silence(list(daemon.channels.values()))
        health = await daemon.app.archive.fetchall("SELECT body FROM alerts WHERE kind = 'health'")
        assert len(health) == 2 and not await daemon.app.archive.open_health()


async def test_stats_and_doctor_read_the_heartbeat(tmp_path, no_user_config):
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة")
    config = make_config(tmp_path)
    db = config.archive.path
    async with running_daemon(server, config, heartbeat_interval=0.1) as daemon:
        await eventually(lambda: _beat(daemon), what="a heartbeat")
    stats = json.loads((await cli_db(db, "stats", "--json"))[1])
    assert stats["heartbeat"]["alive"] is True
    assert stats["per_channel"][0]["mode"] == "join" and stats["per_channel"][0]["account"] == "main"
    # a daemon that stopped beating long ago is "down or stuck"
    from monitor.core.store import Archive

    archive = await Archive.open(db)
    await archive.set_meta("daemon:heartbeat", (datetime.now(UTC) - timedelta(hours=3)).isoformat())
    await archive.close()
    _, out = await cli_db(db, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["daemon"]["level"] == "warn" and "down or stuck" in checks["daemon"]["detail"]


async def _beat(daemon) -> bool:
    return await daemon.app.archive.get_meta("daemon:heartbeat") is not None


async def test_a_long_flood_wait_moves_the_channels_and_the_account_comes_back(tmp_path):
    from telethon.tl import functions

    server = FakeTelegram()
    second = 880001
    server.add_account(second)
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة", joined=False)
    config = make_config(
        tmp_path,
        channels=["@militia_news"],
        mode="watch",
        flood_sleep_threshold=0,
        long_flood_wait_seconds=2,
        account=[{"name": "second"}, {"name": "first"}],
        **FAST,
    )
    config.alerts.sink.append(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    ids = {"first": SELF_ID, "second": second}

    def factory(cfg, account):
        return server.client(
            account=ids[account.name], flood_sleep_threshold=cfg.telegram.flood_sleep_threshold
        )

    async with running_daemon(server, config, account_client_factory=factory, detect=True) as daemon:
        assert daemon.collector.assigned[CHANNEL_ID] == "second"
        server.fail(
            functions.updates.GetChannelDifferenceRequest,
            "FLOOD_WAIT_3",
            code=420,
            times=None,
            match=lambda _request: server.current == second,
        )
        await eventually(
            lambda: _true(daemon.collector.assigned.get(CHANNEL_ID) == "first"), timeout=15, what="move"
        )
        server.post(CHANNEL_ID, "وصلنا رغم الانتظار")
        await eventually(posts_at_least(daemon, 1), timeout=15, what="the post through the other account")
        await eventually(lambda: _true(len(delivered(tmp_path)) == 2), timeout=20, what="lost, then back")
    texts = [a["text"] for a in delivered(tmp_path)]
    assert "second lost (flood wait" in texts[0] and "second collects again" in texts[1]


async def test_an_unknown_account_or_missing_session_is_one_sentence(tmp_path, monkeypatch):
    from monitor.core.config import AccountConfig
    from monitor.core.errors import ConfigError, TelegramSetupError
    from monitor.daemon import make_client
    from tests.support.fake_telegram import API_HASH

    config = make_config(tmp_path, account=[{"name": "second"}], session=str(tmp_path / "main.session"))
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    monkeypatch.delenv("TG_SESSION_SECOND", raising=False)
    with pytest.raises(TelegramSetupError, match="tgmonitor login --account second"):
        make_client(config, config.telegram.account[0])
    assert (
        AccountConfig.find(config.telegram, "second").session_file(config.telegram)
        == tmp_path / "second.session"
    )
    with pytest.raises(ConfigError, match="unknown account 'third'"):
        AccountConfig.find(config.telegram, "third")


async def test_a_channel_that_turns_private_is_alerted_once_and_cleared_when_readable(tmp_path):
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة", joined=False)
    config = make_config(tmp_path, mode="watch", **FAST)
    config.alerts.sink.append(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl"))
    async with running_daemon(server, config, detect=True) as daemon:
        server.set_private(CHANNEL_ID)
        await eventually(lambda: _true(len(delivered(tmp_path)) == 1), timeout=15, what="the private alert")
        assert "is private" in delivered(tmp_path)[0]["text"]
        server.set_private(CHANNEL_ID, False)
        await eventually(lambda: _true(len(delivered(tmp_path)) == 2), timeout=15, what="the clear")
        assert "can be read again" in delivered(tmp_path)[1]["text"]
        server.post(CHANNEL_ID, "عادت القناة")
        await eventually(posts_at_least(daemon, 1), timeout=15, what="a post after")
    assert len(delivered(tmp_path)) == 2


async def test_systemd_hears_ready_the_watchdog_and_stopping(tmp_path, monkeypatch):
    import socket

    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة")
    heard: list[str] = []

    def drain() -> None:
        while True:
            try:
                heard.append(sock.recv(256).decode())
            except BlockingIOError:
                return

    try:
        async with running_daemon(server, make_config(tmp_path), heartbeat_interval=0.1):

            async def beaten() -> bool:
                drain()
                return "WATCHDOG=1" in heard

            await eventually(beaten, what="a watchdog ping")
        drain()
    finally:
        sock.close()
    assert heard[0] == "READY=1" and "STOPPING=1" in heard
