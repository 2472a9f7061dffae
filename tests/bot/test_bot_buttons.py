"""The buttons under an alert, pressed through a real Telethon bot client against the fake Telegram."""

from __future__ import annotations

import asyncio

import pytest
from telethon.tl import functions, types

from alerts.buttons import press_data
from monitor.core.models import Channel
from tests.support.alerts import ARABIC_THREAT, add_post, detection_for
from tests.support.bot import ALICE, BOB, CAROL, MALLORY, running_desk
from tests.support.fake_telegram import png_bytes

CH = Channel(id=1001, username="saberin_news", title="صابرين <نيوز> & co")
TERMS = {"الانتقامُ قادمٌ": "revenge"}


def buttons_of(message: types.Message) -> dict[str, bytes]:
    return {b.text: b.type.data for row in message.reply_markup.rows for b in row.buttons}


async def count(archive, table: str) -> int:
    return (await archive.fetchone(f"SELECT count(*) FROM {table}"))[0]


@pytest.mark.asyncio
async def test_each_button_records_and_edits(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        post = await add_post(desk.archive, CH, 10, ARABIC_THREAT)
        (alert_id,) = await desk.outbox.record(post, detection_for(ARABIC_THREAT, TERMS))
        message = await desk.alert_message()
        data = buttons_of(message)
        assert len(data) == 5 and all(len(d) <= 64 for d in data.values())
        assert press_data("ack", alert_id, False) in data.values()

        answer = await desk.press(ALICE, message, press_data("ack", alert_id, False), edits=1)
        assert "acknowledged by @alice" in answer.message and not answer.alert
        edited = desk.server.message(message.peer_id, message.id)
        assert "acknowledged by @alice (bot)" in edited.message
        assert "صابرين <نيوز> & co" in edited.message and "<script>alert(1)</script>" in edited.message
        assert buttons_of(edited) == data  # the buttons stay
        (decision,) = await desk.archive.decisions.history(alert_id)
        assert (decision.value, decision.actor, decision.desk) == ("ack", "@alice", "bot")

        await desk.press(BOB, message, press_data("tp", alert_id, False), edits=1)
        edited = desk.server.message(message.peer_id, message.id)
        assert "true positive by @bob (bot)" in edited.message and "acknowledged by @alice" in edited.message
        # a second verdict by someone else shows the first one, records nothing
        answer = await desk.press(ALICE, message, press_data("fp", alert_id, False))
        assert answer.alert and "already decided: true positive by @bob" in answer.message
        assert await count(desk.archive, "alert_decisions") == 2

        answer = await desk.press(ALICE, message, press_data("mute", alert_id, False), edits=1)
        assert "muted revenge" in answer.message
        (mute,) = await desk.archive.mutes.active("2000-01-01T00:00:00+00:00")
        assert (mute.rule, mute.channel_id, mute.by) == ("revenge", CH.id, "@alice")
        assert "rule revenge muted here until" in desk.server.message(message.peer_id, message.id).message
        answer = await desk.press(BOB, message, press_data("mute", alert_id, False))
        assert answer.alert and "already muted" in answer.message and "@alice" in answer.message
        assert await count(desk.archive, "rule_mutes") == 1
        # the mute holds: the same rule in the same channel raises nothing now
        again = await add_post(desk.archive, CH, 11, ARABIC_THREAT + " ٢")
        assert await desk.outbox.record(again, detection_for(ARABIC_THREAT, TERMS)) == []

        answer = await desk.press(ALICE, message, press_data("sim", alert_id, False))
        assert "no poster" in answer.message


@pytest.mark.asyncio
async def test_similar_button_lists_the_posters_look_alikes(tmp_path, monkeypatch):
    import io

    from PIL import Image

    from ocr import perceptual_hash

    image = png_bytes("ملصق الانتقام", (320, 240))
    phash = perceptual_hash(Image.open(io.BytesIO(image)))
    async with running_desk(tmp_path, monkeypatch) as desk:
        post = await add_post(
            desk.archive, CH, 20, ARABIC_THREAT, image=image, phash=phash, ocr_text="الانتقام"
        )
        await add_post(desk.archive, Channel(2002, "copycat", "نسخة"), 5, "repost", image=image, phash=phash)
        (alert_id, *_) = await desk.outbox.record(post, detection_for(ARABIC_THREAT, TERMS))
        message = await desk.alert_message()
        assert isinstance(message.media, types.MessageMediaPhoto)  # the poster went with it
        answer = await desk.press(ALICE, message, press_data("sim", alert_id, True))
        assert "1 archived look-alikes" in answer.message
        await desk.server.wait_for(lambda: any("look-alike" in r.message for r in desk.server.sent[1:]), 10)
        reply = next(r for r in desk.server.sent if "posters like" in r.message)
        assert "https://t.me/copycat/5" in [e.url for e in reply.entities if hasattr(e, "url")]
        # the caption is edited within 1,024 characters
        await desk.press(BOB, message, press_data("ack", alert_id, True), edits=1)
        caption = desk.server.message(message.peer_id, message.id).message
        assert len(caption.encode("utf-16-le")) // 2 <= 1024 and "acknowledged by @bob" in caption


@pytest.mark.asyncio
async def test_two_analysts_at_once_make_one_decision(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        post = await add_post(desk.archive, CH, 30, ARABIC_THREAT)
        (alert_id,) = await desk.outbox.record(post, detection_for(ARABIC_THREAT, TERMS))
        message = await desk.alert_message()
        first = desk.server.press(ALICE, message, press_data("fp", alert_id, False))
        second = desk.server.press(BOB, message, press_data("fp", alert_id, False))
        await desk.server.wait_for(
            lambda: desk.server.answers_to(first) and desk.server.answers_to(second), 30
        )
        assert await count(desk.archive, "alert_decisions") == 1
        texts = [desk.server.answers_to(q)[0].message for q in (first, second)]
        assert sum("already decided" in t for t in texts) == 1


@pytest.mark.asyncio
async def test_presses_from_strangers_and_deleted_alerts(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        post = await add_post(desk.archive, CH, 40, ARABIC_THREAT)
        (alert_id,) = await desk.outbox.record(post, detection_for(ARABIC_THREAT, TERMS))
        message = await desk.alert_message()
        for user in (MALLORY, CAROL):  # not in allowed_users
            query = desk.server.press(user, message, press_data("tp", alert_id, False))
            # a press that is answered is answered within this wait; these never are
            await desk.press(ALICE, message, b"tgm:bogus")
            assert desk.server.answers_to(query) == []
        assert await count(desk.archive, "alert_decisions") == 0 and desk.server.edits == []

        # the alert is deleted from the archive behind the desk (by hand: no command deletes alerts)
        async with desk.archive.transaction() as tx:
            await tx.execute("DELETE FROM deliveries WHERE alert_id = ?", (alert_id,))
            await tx.execute("DELETE FROM alert_keys WHERE alert_id = ?", (alert_id,))
            await tx.execute("DELETE FROM alerts WHERE id = ?", (alert_id,))
        answer = await desk.press(ALICE, message, press_data("ack", alert_id, False))
        assert answer.alert and f"alert #{alert_id} is no longer in the archive" in answer.message
        assert await count(desk.archive, "alert_decisions") == 0 and desk.server.edits == []


@pytest.mark.asyncio
async def test_a_flood_wait_on_an_edit_does_not_hold_up_alerts(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        desk.sink._client.flood_sleep_threshold = 0  # Telethon raises; the desk waits it out itself
        post = await add_post(desk.archive, CH, 50, ARABIC_THREAT)
        (alert_id,) = await desk.outbox.record(post, detection_for(ARABIC_THREAT, TERMS))
        message = await desk.alert_message()
        desk.server.fail(functions.messages.EditMessageRequest, "FLOOD_WAIT_3", code=420)
        query = desk.server.press(ALICE, message, press_data("ack", alert_id, False))
        await desk.server.wait_for(lambda: desk.server.answers_to(query), 10)
        # while the edit waits, another alert goes out
        other = await add_post(desk.archive, CH, 51, ARABIC_THREAT + "!")
        await desk.outbox.record(other, detection_for(ARABIC_THREAT, TERMS))
        await desk.alert_message()
        assert desk.server.edits == []  # still waiting
        await desk.server.wait_for(lambda: len(desk.server.edits) == 1, 15)
        await asyncio.sleep(0)
        assert "acknowledged by @alice" in desk.server.message(message.peer_id, message.id).message
