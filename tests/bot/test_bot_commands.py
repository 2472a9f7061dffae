"""The bot desk's commands through a real Telethon bot client: Arabic, hostile text, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from telethon.tl import functions, types

from monitor.core.models import Channel
from monitor.core.times import iso
from tests.support.alerts import add_post, detection_for
from tests.support.bot import ALICE, BOB, CAROL, ELSEWHERE, GROUP, MALLORY, running_desk
from tests.support.fake_telegram import png_bytes
from tests.support.ocr import png_bomb, write_poster

CH = Channel(id=1001, username="saberin_news", title="صابرين <b>نيوز</b> & co")
HOSTILE = "الانتقامُ قادمٌ <a href='https://evil.example'>اضغط</a> &amp; <b>لا</b> \u202e<script>x</script> إلى آل سعود"
LONG = ("بيان <عاجل> & الانتقام قادم يا أعداء الله " * 400).strip()  # ~16,000 characters


def covered(message: str, entity) -> str:
    """The text an entity covers (offsets count UTF-16 units)."""
    raw = message.encode("utf-16-le")
    return raw[2 * entity.offset : 2 * (entity.offset + entity.length)].decode("utf-16-le")


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_clean(request) -> str:
    """An answer is within Telegram's limits and carries archive text as text, never markup."""
    limit = 1024 if isinstance(request, functions.messages.SendMediaRequest) else 4096
    assert u16(request.message) <= limit
    for entity in request.entities or []:
        assert entity.offset + entity.length <= u16(request.message)
        assert getattr(entity, "url", "https://t.me/").startswith("https://t.me/")  # no link of theirs
    return request.message


async def archive_posts(desk) -> None:
    await add_post(desk.archive, CH, 1, HOSTILE)
    await add_post(desk.archive, CH, 2, LONG)
    for i in range(3, 16):
        await add_post(desk.archive, CH, i, f"الإنتقام قادم رقم {i} ٣ أيام")


@pytest.mark.asyncio
async def test_search_pages_through_arabic_and_hostile_posts(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        await archive_posts(desk)
        (answer,) = await desk.command("/search الانتقام")  # alef and diacritics folded
        text = check_clean(answer)
        assert "results 1–5" in text and "next" in str(answer.reply_markup)
        assert "<script>" not in text or "⟨U+202E⟩<script>x</script>" in text
        bold = [covered(text, e) for e in answer.entities if isinstance(e, types.MessageEntityBold)]
        assert bold[0] == "الانتقام" and len(bold) > 5  # the query, then the words found
        assert {b.replace("ُ", "").replace("إ", "ا") for b in bold[1:]} == {"الانتقام"}
        # the next page, by its button: the same message edited
        (button,) = [b for row in answer.reply_markup.rows for b in row.buttons]
        sent = desk.server.account_messages[max(desk.server.account_messages)]
        await desk.press(ALICE, sent, button.type.data, edits=1)
        page = desk.server.message(sent.peer_id, sent.id).message
        assert "results 6–10" in page and u16(page) <= 4096


@pytest.mark.asyncio
async def test_post_alerts_countdowns_stats_health_help(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        await archive_posts(desk)
        image = png_bytes("ملصق", (120, 90))
        poster = await add_post(desk.archive, CH, 20, LONG, image=image, ocr_text="الانتقام قادم <i>&</i>")
        alert_ids = await desk.outbox.record(poster, detection_for(LONG, {"الانتقام قادم": "revenge"}))
        now = datetime.now(UTC).replace(microsecond=0)
        async with desk.archive.transaction() as tx:  # a countdown series running: 3 days left, posted today
            await tx.execute(
                "INSERT INTO countdowns (post_id, channel_id, date, value, unit, deadline) VALUES (?, ?, ?, 3, 'day', ?)",
                (poster.id, CH.id, iso(now), iso(now + timedelta(days=3))),
            )

        photo, text = await desk.command("/post @saberin_news/20", answers=2)
        assert isinstance(photo, functions.messages.SendMediaRequest)
        assert desk.server.uploaded(photo.media.file.id) == image
        body = check_clean(text)
        assert "بيان <عاجل> & الانتقام" in body and "Poster text" in body and "<i>&</i>" in body
        assert f"alert #{alert_ids[0]}" in body
        (text,) = await desk.command("/post https://t.me/saberin_news/1")
        assert "<a href='https://evil.example'>" in check_clean(text)

        (text,) = await desk.command("/alerts ٣")  # Eastern Arabic digits
        body = check_clean(text)
        assert f"#{alert_ids[0]}" in body and "new" in body and "صابرين <b>نيوز</b> & co" in body

        (text,) = await desk.command("/countdowns")
        body = check_clean(text)
        assert "1 countdowns running" in body and "2 d" in body

        (text,) = await desk.command("/stats")
        assert "posts: 16" in check_clean(text)
        await desk.archive.set_channel_status(CH.id, "private", "CHANNEL_PRIVATE <x>")
        (text,) = await desk.command("/health", user=BOB)
        body = check_clean(text)
        assert "never ran" in body and "private (CHANNEL_PRIVATE <x>)" in body

        (text,) = await desk.command("/help", chat=None)  # alice, privately
        assert "/search" in text.message and "/similar" in text.message


@pytest.mark.asyncio
async def test_bad_input_gets_a_short_answer_and_changes_nothing(tmp_path, monkeypatch):
    async with running_desk(tmp_path, monkeypatch) as desk:
        await archive_posts(desk)
        before = await desk.archive.stats()
        cases = {
            "/frobnicate": "unknown command /frobnicate",
            "/search": "usage: /search QUERY",
            "/search    ": "usage: /search QUERY",
            "/search " + "ا" * 5000: "search refused: the query is 5,000 characters long",
            "/post @saberin_news/999": "no archived post @saberin_news/999",
            "/post @nobody_here/1": "no archived post",
            "/post خبر": "usage: /post",
            "/alerts many": "usage: /alerts [N]",
            "/alerts 500": "usage: /alerts [N]",
            "/similar": "with a photo",
        }
        for command, expected in cases.items():
            (answer,) = await desk.command(command)
            assert expected in answer.message, (command, answer.message)
            assert u16(answer.message) < 300  # short
        (answer,) = await desk.command("/similar", document=b"%PDF-1.4 not an image", mime_type="image/png")
        assert "cannot read that image" in answer.message
        (answer,) = await desk.command("/similar", photo=png_bomb())
        assert "cannot read that image" in answer.message and "pixels" in answer.message
        after = await desk.archive.stats()
        assert before == after
        for table in ("alert_decisions", "rule_mutes"):
            assert (await desk.archive.fetchone(f"SELECT count(*) FROM {table}"))[0] == 0


@pytest.mark.asyncio
async def test_strangers_get_nothing_and_other_groups_are_left(tmp_path, monkeypatch, caplog):
    async with running_desk(tmp_path, monkeypatch) as desk:
        await archive_posts(desk)
        desk.server.user_message(MALLORY, "/search الانتقام")  # privately
        desk.server.user_message(MALLORY, "/stats")
        desk.server.user_message(CAROL, "/alerts", chat_id=GROUP)  # allowed group, user not allowed
        desk.server.user_message(ALICE, "/search الانتقام", chat_id=ELSEWHERE)  # a group not allowed
        await desk.server.wait_for(lambda: desk.server.left, 10)
        desk.server.add_chat(702, "another group")
        desk.server.add_to_chat(MALLORY, 702)  # added to a group: left at once
        supergroup = desk.server.add_channel(9001, "random_supergroup", "مجموعة")
        supergroup.megagroup, supergroup.broadcast = True, None
        desk.server.post(9001, "/stats")
        await desk.server.wait_for(lambda: len(desk.server.left) == 3, 10)
        (answer,) = await desk.command("/stats", user=BOB)  # the desk is alive and answers in order
        assert "posts: 15" in answer.message
        assert desk.sent() == [answer] and len(desk.server.sent) == 1  # nobody else got anything
        assert set(map(str, desk.server.left)) == {
            str(types.PeerChat(ELSEWHERE)),
            str(types.PeerChat(702)),
            str(types.PeerChannel(9001)),
        }
        refusals = [r for r in caplog.records if "ignoring" in r.getMessage()]
        assert len([r for r in refusals if "user 666" in r.getMessage()]) == 1  # logged once per sender
        assert not any("الانتقام" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_similar_reads_the_photo_once_and_finds_its_archived_twin(tmp_path, monkeypatch):
    from PIL import Image

    from ocr import perceptual_hash

    path = write_poster(tmp_path, "arabic-light")
    archived = path.read_bytes()
    image = Image.open(path)
    async with running_desk(tmp_path, monkeypatch) as desk:
        await add_post(
            desk.archive, CH, 60, "", image=archived, phash=perceptual_hash(image), ocr_text="الانتقام قادم"
        )
        smaller = tmp_path / "smaller.jpg"
        image.convert("RGB").resize((image.width * 3 // 4, image.height * 3 // 4)).save(
            smaller, "JPEG", quality=70
        )
        posted = desk.server.user_message(ALICE, "look", chat_id=GROUP, photo=smaller.read_bytes())
        (answer,) = await desk.command("/similar", reply_to=posted.id)
        body = check_clean(answer)
        assert desk.reads == [len(smaller.read_bytes())], body  # read once
        assert "الانتقام" in body  # what OCR read
        assert "would alert" in body
        assert "1 archived look-alikes" in body and "saberin_news/60" in body
