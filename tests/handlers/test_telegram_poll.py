"""Issue 19, live road: a poll (``MessageMediaPoll``) is archived as searchable post text, with its
results, the way an export's poll is; real TL objects through a real TelegramClient."""

from __future__ import annotations

import pytest
from telethon import events
from telethon.tl import types

from handlers.telegram import channel_from_entity, media_items, message_to_post
from monitor.core.store import Archive
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.asyncio

QUESTION = "هل يجب استهداف السفارة الأمريكية؟"


# (voters and recent_voters share one flag bit in the TL schema: Telethon wants both or neither)
def poll_media(*, results: bool = True, quiz: bool = False) -> types.MessageMediaPoll:
    answers = [
        types.PollAnswer(text=types.TextWithEntities("نعم، إن شاء الله", []), option=b"0"),
        types.PollAnswer(text=types.TextWithEntities("لا", []), option=b"1"),
    ]
    poll = types.Poll(
        id=77, question=types.TextWithEntities(QUESTION, []), answers=answers, hash=0, quiz=quiz
    )
    counts = types.PollResults(
        results=[
            types.PollAnswerVoters(
                option=b"0", voters=72, correct=quiz or None, recent_voters=[types.PeerUser(5)]
            ),
            types.PollAnswerVoters(option=b"1", voters=37, chosen=True, recent_voters=[types.PeerUser(6)]),
        ],
        total_voters=109,
    )
    return types.MessageMediaPoll(poll=poll, results=counts if results else types.PollResults())


async def test_a_live_poll_is_archived_as_searchable_text_with_its_results(tmp_path):
    server = FakeTelegram()
    server.add_channel(1001, "militia_news", "أخبار")
    client = server.client()
    seen: list[types.Message] = []

    async def on_new(event):
        seen.append(event.message)

    client.add_event_handler(on_new, events.NewMessage())
    await client.connect()
    try:
        server.post(1001, media=poll_media())
        await server.wait_for(lambda: len(seen) == 1)
        entity = await client.get_entity("militia_news")
        (fetched,) = await client.get_messages(entity, ids=[1])
    finally:
        await client.disconnect()
    channel = channel_from_entity(entity)
    live, history = message_to_post(seen[0], channel), message_to_post(fetched, channel, source="backfill")
    expected = f"Poll: {QUESTION}\n- نعم، إن شاء الله (72 votes)\n- لا (37 votes)\n109 voters"
    assert live.text == history.text == expected
    assert live.media == []  # a poll is no file waiting to be downloaded
    async with await Archive.open(tmp_path / "a.db", tmp_path / "media") as archive:
        await archive.save_post(live)
        hits = await archive.search("الامريكيه")  # other alef variant, no taa marbuta
        assert [h.post.message_id for h in hits] == [1]
        assert hits[0].post.text == expected


async def test_a_quiz_and_a_poll_whose_results_telegram_withholds():
    channel = types.Channel(
        id=1001, title="أخبار", photo=types.ChatPhotoEmpty(), date=None, username="militia_news"
    )
    quiz = types.Message(
        id=2, peer_id=types.PeerChannel(1001), date=None, message="", media=poll_media(quiz=True)
    )
    hidden = types.Message(
        id=3, peer_id=types.PeerChannel(1001), date=None, message="", media=poll_media(results=False)
    )
    assert media_items(quiz) == []
    ours = channel_from_entity(channel)
    assert message_to_post(_dated(quiz), ours).text.splitlines()[:2] == [
        f"Quiz: {QUESTION}",
        "- نعم، إن شاء الله (72 votes, correct)",
    ]
    assert message_to_post(_dated(hidden), ours).text == f"Poll: {QUESTION}\n- نعم، إن شاء الله\n- لا"


def _dated(message: types.Message) -> types.Message:
    from datetime import UTC, datetime

    message.date = datetime(2024, 1, 1, tzinfo=UTC)
    return message
