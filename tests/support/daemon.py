"""Helpers for the daemon tests: a config, a daemon wired to the fake Telegram, waiting on the archive."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from monitor.core.config import Config, parse_config
from monitor.core.store import Archive
from monitor.daemon import Daemon
from tests.support.fake_telegram import FakeTelegram

CHANNEL_ID = 1001
OTHER_ID = 1002


def make_config(tmp_path: Path, channels: list[Any] | None = None, **telegram: Any) -> Config:
    # The fake pushes every channel's updates to the account (a member): join mode, unless a test
    # says otherwise (watch mode polls, which races the pushed updates these tests look at).
    telegram.setdefault("mode", "join")
    data: dict[str, Any] = {
        "telegram": {"channels": channels if channels is not None else ["@militia_news"], **telegram},
        "archive": {"path": str(tmp_path / "archive.db"), "media_dir": str(tmp_path / "media")},
        "ocr": {"enabled": False},
    }
    return parse_config(data)


def make_server(channels: int = 1) -> FakeTelegram:
    server = FakeTelegram()
    server.add_channel(CHANNEL_ID, "militia_news", "أخبار المقاومة الإسلامية")
    if channels > 1:
        server.add_channel(OTHER_ID, "other_front", "الجبهة الأخرى")
    return server


@contextlib.asynccontextmanager
async def running_daemon(
    server: FakeTelegram, config: Config, timeout: float = 15.0, **kwargs: Any
) -> AsyncIterator[Daemon]:
    """A real Daemon whose TelegramClient talks to ``server``; stopped (and checked) on exit."""
    kwargs.setdefault("ocr", False)
    kwargs.setdefault("detect", False)
    kwargs.setdefault("install_signals", False)
    kwargs.setdefault("schedule", False)
    kwargs.setdefault("backoff", (0.05, 0.2))
    kwargs.setdefault(
        "client_factory", lambda cfg: server.client(flood_sleep_threshold=cfg.telegram.flood_sleep_threshold)
    )
    daemon = Daemon(config, config.archive.path, config.archive.media_dir, **kwargs)
    task = asyncio.create_task(daemon.run())
    started = asyncio.create_task(daemon.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        task.result()  # raises the daemon's error
    if not done:
        started.cancel()
        task.cancel()
        raise TimeoutError("daemon did not start")
    try:
        yield daemon
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, timeout)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Wait (bounded) until an async check on the archive holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def count_posts(db: Path, channel_id: int = CHANNEL_ID) -> int:
    archive = await Archive.open(db)
    try:
        row = await archive.fetchone("SELECT count(*) FROM posts WHERE channel_id = ?", (channel_id,))
        return row[0]
    finally:
        await archive.close()


def posts_at_least(daemon: Daemon, n: int, channel_id: int = CHANNEL_ID) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        row = await daemon.app.archive.fetchone(
            "SELECT count(*) FROM posts WHERE channel_id = ?", (channel_id,)
        )
        return row[0] >= n

    return check
