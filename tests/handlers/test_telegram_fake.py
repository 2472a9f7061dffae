"""The fake Telegram itself, through a real TelegramClient: what other tests build on."""

from __future__ import annotations

import pytest
from telethon import errors, events
from telethon.tl import functions

from tests.support.fake_telegram import FakeTelegram, png_bytes

pytestmark = pytest.mark.asyncio


async def test_updates_gaps_and_history_through_telethon():
    server = FakeTelegram()
    server.add_channel(1001, "militia_news", "أخبار")
    client = server.client()
    seen: list[tuple[str, int]] = []

    async def on_new(event):
        seen.append(("new", event.message.id))

    async def on_deleted(event):
        seen.extend(("deleted", i) for i in event.deleted_ids)

    client.add_event_handler(on_new, events.NewMessage())
    client.add_event_handler(on_deleted, events.MessageDeleted())
    await client.connect()
    try:
        assert (await client.get_me()).id == server.me.id
        server.post(1001, "واحد")
        server.post(1001, "اثنان", push=False)  # a pts gap: Telethon asks GetChannelDifference
        server.post(1001, "ثلاثة", photo=png_bytes("p"))
        await server.wait_for(lambda: len(seen) == 3)
        # (A deletion that arrives while Telethon fills a gap is dropped by Telethon 1.45: it sets
        # the channel pts from the difference before applying its other_updates. The daemon's
        # recent-window recheck finds such deletions and edits; see test_daemon_live.)
        server.delete(1001, [1])
        await server.wait_for(lambda: len(seen) == 4)
        assert sorted(seen) == [("deleted", 1), ("new", 1), ("new", 2), ("new", 3)]
        entity = await client.get_entity("militia_news")
        message = await client.get_messages(entity, ids=3)
        assert await client.download_media(message, file=bytes) == server.files[message.media.photo.id]
        server.fail(functions.messages.GetHistoryRequest, "FLOOD_WAIT_300", code=420)
        with pytest.raises(errors.FloodWaitError) as caught:
            await client.get_messages(entity, limit=1)
        assert caught.value.seconds == 300
    finally:
        await client.disconnect()


async def test_bot_login_and_sending_for_alert_sinks():
    server = FakeTelegram()
    server.authorized = False  # a fresh bot session
    server.add_channel(3003, "analyst_group", "Analysts")
    client = server.client()
    await client.start(bot_token="123456:ABC")
    try:
        assert (await client.get_me()).bot
        sent = await client.send_message("@analyst_group", "<b>تنبيه</b>: الانتقام قادم", parse_mode="html")
        assert sent.id == 1 and server.sent[-1].message == "تنبيه: الانتقام قادم"
        assert server.sent[-1].entities  # the bold survived as an entity
        poster = png_bytes("poster")
        await client.send_file("@analyst_group", poster, caption="ملصق")
        request = server.sent[-1]
        assert isinstance(request, functions.messages.SendMediaRequest)
        assert server.uploaded(request.media.file.id) == poster
        server.fail(functions.messages.SendMessageRequest, "CHAT_WRITE_FORBIDDEN", code=403)
        with pytest.raises(errors.ChatWriteForbiddenError):
            await client.send_message("@analyst_group", "x")
    finally:
        await client.disconnect()
