"""A bot desk running for real against the fake Telegram: the harness of ``tests/bot``.

The desk runs as ``tgmonitor run`` runs it (:func:`monitor.bot.runner.run_desk`) on the Telegram
sink's bot client, logged in with a bot token through a real ``TelegramClient`` whose network is
:class:`tests.support.fake_bot.FakeBotTelegram`; alerts are recorded by a real outbox in a real
archive and delivered by that sink, buttons and all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telethon.tl import functions, types

from alerts.outbox import Outbox
from alerts.sinks import TelegramSink
from monitor.app import build_detector
from monitor.bot.posters import thread_reader
from monitor.bot.runner import run_desk
from monitor.core.config import Config, parse_config
from monitor.core.models import OcrOutcome
from monitor.core.store import Archive
from tests.support.fake_bot import BOT_TOKEN, FakeBotTelegram

ROOM = 4001  # the alerts channel (a broadcast channel the bot posts in)
GROUP = 700  # the analysts' basic group, allowed
ELSEWHERE = 701  # a group someone added the bot to, not allowed
ALICE, BOB, CAROL, MALLORY = 501, 502, 503, 666
TOKEN_ENV = "TGM_TEST_BOT_TOKEN"


def desk_config(tmp_path: Path, **bot: Any) -> Config:
    data = {
        "alerts": {
            "sink": [
                {"type": "telegram", "chat": "@analyst_room", "bot_token_env": TOKEN_ENV, "name": "room"}
            ]
        },
        "bot": {
            "enabled": True,
            "allowed_chats": [-GROUP, "@analyst_room"],
            "allowed_users": ["@alice", BOB],
            **bot,
        },
        "ocr": {"workers": 1},
    }
    return parse_config(data)


@dataclass
class Desk:
    server: FakeBotTelegram
    archive: Archive
    outbox: Outbox
    sink: TelegramSink
    config: Config
    reads: list[int] = field(default_factory=list)  # bytes of each poster the desk read (OCR)

    # -- what the bot did -----------------------------------------------------------------------
    def sent(self, chat: int | None = None) -> list[Any]:
        """SendMessage/SendMedia requests to the analysts' group (or any peer with ``chat=None``)."""
        out = []
        for request in self.server.sent:
            peer = request.peer
            if chat is None or (isinstance(peer, types.InputPeerChat) and peer.chat_id == chat):
                out.append(request)
        return out

    async def command(
        self, text: str, *, user: int = ALICE, chat: int | None = GROUP, answers: int = 1, **kwargs: Any
    ) -> list[Any]:
        """Send ``text`` as ``user``; wait for the bot's ``answers`` replies to it and return them."""
        message = self.server.user_message(user, text, chat_id=chat, **kwargs)

        def replies() -> list[Any]:
            return [r for r in self.server.sent if _replies_to(r, message.id)]

        await self.server.wait_for(lambda: len(replies()) >= answers, 60)
        return replies()

    async def alert_message(self) -> types.Message:
        """Deliver what the outbox holds and return the last alert message in the room."""
        assert await self.outbox.deliver_pending() >= 1
        state = self.server.channels[ROOM]
        return state.messages[max(state.messages)]

    async def press(self, user: int, message: types.Message, data: bytes, *, edits: int = 0) -> Any:
        """Press a button as ``user``; wait for the answer (and ``edits`` more edits); return the answer."""
        before = len(self.server.edits)
        query = self.server.press(user, message, data)
        await self.server.wait_for(
            lambda: self.server.answers_to(query) and len(self.server.edits) >= before + edits, 30
        )
        return self.server.answers_to(query)[0]


def _replies_to(request: Any, message_id: int) -> bool:
    reply = getattr(request, "reply_to", None)
    return getattr(reply, "reply_to_msg_id", None) == message_id


@contextlib.asynccontextmanager
async def running_desk(tmp_path: Path, monkeypatch: Any, **bot: Any) -> AsyncIterator[Desk]:
    monkeypatch.setenv(TOKEN_ENV, BOT_TOKEN)
    server = FakeBotTelegram()
    server.add_channel(ROOM, "analyst_room", "Analysts")
    for uid, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol"), (MALLORY, "mallory")):
        server.add_user(uid, name, name.title())
    server.add_chat(GROUP, "غرفة المحللين")
    server.add_chat(ELSEWHERE, "someone else's group")
    config = desk_config(tmp_path, **bot)
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    sink = TelegramSink(
        config.alerts.sink[0], client_factory=lambda: server.client(), buttons=True, receive_updates=True
    )
    outbox = Outbox(archive, [sink], config.alerts)
    detector = build_detector(config)
    plain = thread_reader(config, lambda: detector)
    desk = Desk(server, archive, outbox, sink, config)

    async def reader(data: bytes) -> OcrOutcome:
        desk.reads.append(len(data))
        return await plain(data)

    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_desk(archive, config, sink, stop, detector=lambda: detector, reader=reader, started=started)
    )
    try:
        await asyncio.wait_for(started.wait(), 30)
        yield desk
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await outbox.close()
        await archive.close()


def edits_of(server: FakeBotTelegram) -> list[functions.messages.EditMessageRequest]:
    return list(server.edits)
