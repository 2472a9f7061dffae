"""Test-only entry point: the real daemon in its own process, with the fake Telegram inside it.

Not part of the product (it lives in tests/). The crash tests start it as a subprocess, send it
SIGTERM or SIGKILL in the middle of a burst, and start it again. The fake server is rebuilt the
same way each time: ``--history N`` posts already in the channel (as if made while the daemon was
down), then ``--burst M`` live posts pushed one by one. Content is a pure function of the message
id (text, date, and an image every tenth post), so every run sees the same channel.

It writes ``<state>/posted`` (how many posts exist on the fake server so far) after each post,
and ``<state>/ready`` once the daemon has connected and gap-filled.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.daemon import Daemon
from tests.support.daemon import CHANNEL_ID, make_config, make_server
from tests.support.fake_telegram import png_bytes

BASE_DATE = datetime(2024, 3, 1, tzinfo=UTC)


def post_text(i: int) -> str:
    return f"منشور رقم {i}: الانتقام قادم خلال ٣ أيام"


def write_atomic(path: Path, text: str) -> None:
    """The test reads these files while we write them: never let it see a half-written one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def add_post(server, i: int, push: bool) -> None:
    image = png_bytes(f"poster {i}") if i % 10 == 0 else None
    server.post(CHANNEL_ID, post_text(i), photo=image, push=push, date=BASE_DATE + timedelta(seconds=i))


async def main(args: argparse.Namespace) -> None:
    state = Path(args.state)
    config = make_config(state)
    server = make_server()
    for i in range(1, args.history + 1):
        add_post(server, i, push=False)
    write_atomic(state / "posted", str(args.history))
    daemon = Daemon(
        config,
        config.archive.path,
        config.archive.media_dir,
        client_factory=lambda cfg: server.client(),
        ocr=False,
        detect=False,
        schedule=False,
        install_signals=True,
        watermark_interval=0.2,
    )
    run = asyncio.create_task(daemon.run())
    started = asyncio.create_task(daemon.started.wait())
    await asyncio.wait({run, started}, return_when=asyncio.FIRST_COMPLETED)
    if run.done():
        run.result()
        return
    write_atomic(state / "ready", "1")
    for n in range(args.history + 1, args.history + args.burst + 1):
        if daemon.stopping:
            break
        add_post(server, n, push=True)
        write_atomic(state / "posted", str(n))
        await asyncio.sleep(args.interval)  # the fake channel's posting rate, not a test wait
    if args.exit_when_idle:
        await daemon.intake.drain(30)
        daemon.request_stop()
    await run


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("--exit-when-idle", action="store_true")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("telethon").setLevel(logging.WARNING)
    asyncio.run(main(parser.parse_args()))
