"""Where the bot desk runs: inside ``tgmonitor run`` on the Telegram sink's bot client, or alone.

One bot, one client: Telegram hands a bot's updates to one connection, and the Telegram sink
already logs the bot in, so the desk answers on the sink's client (the sink puts the desk's
buttons under its alerts when ``[bot] enabled``). ``tgmonitor bot`` makes the same sink without
a chat to send to, for a machine that only serves analysts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from alerts.sinks import Sink, TelegramSink
from monitor.bot.desk import BotDesk
from monitor.bot.posters import PosterReader, thread_reader
from monitor.core.config import Config
from monitor.core.errors import DeliveryError
from monitor.core.store import Archive

log = logging.getLogger(__name__)


def desk_sink(sinks: Iterable[Sink]) -> TelegramSink | None:
    """The Telegram sink that logs in as the desk's bot (built so by ``build_sinks``)."""
    return next((s for s in sinks if isinstance(s, TelegramSink) and s.receive_updates), None)


async def run_desk(
    archive: Archive,
    config: Config,
    sink: TelegramSink,
    stop: asyncio.Event,
    *,
    detector: Callable[[], Any],
    reader: PosterReader | None = None,
    backoff: tuple[float, float] = (5.0, 300.0),
    started: asyncio.Event | None = None,
) -> None:
    """Log the bot in (retrying while Telegram is unreachable) and answer until ``stop``."""
    delay = backoff[0]
    client: Any = None
    while client is None and not stop.is_set():
        try:
            client = await sink.connect_client()
        except DeliveryError as exc:
            if exc.permanent:
                log.error("bot desk not started: %s", exc)
                return
            log.warning("bot desk: %s; trying again in %.0f s", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, backoff[1])
    if client is None:
        return
    desk = BotDesk(
        archive,
        config.bot,
        detector=detector,
        reader=reader or thread_reader(config, detector),
        max_image_bytes=config.ocr.max_bytes,
    )
    await desk.attach(client)
    if started is not None:
        started.set()
    try:
        await stop.wait()
    finally:
        desk.detach()


async def run_in_daemon(app: Any, config: Config, stop: asyncio.Event) -> None:
    """``tgmonitor run``'s one call: the desk on the outbox's Telegram sink, if ``[bot] enabled``."""
    sink = desk_sink(app.outbox.sinks.values()) if app.outbox is not None else None
    if not config.bot.enabled:
        return
    if sink is None:
        log.error("bot desk not started: no telegram sink logs in with the bot's token")
        return
    await run_desk(app.archive, config, sink, stop, detector=lambda: app.detector)
