"""The pure TL -> Post conversion, on real Telethon TL objects (no client, no I/O)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from telethon.tl import types

from handlers.telegram import (
    album_to_post,
    channel_from_entity,
    entities_json,
    group_messages,
    is_image_document,
    jsonable,
    media_items,
    message_to_post,
)
from monitor.core.models import Channel

CHANNEL = Channel(id=1001, username="militia_news", title="أخبار المقاومة", access_hash=42)
WHEN = datetime(2024, 1, 28, 9, 30, tzinfo=UTC)
TEXT = "#عاجل الانتقامُ قادمٌ خلال ٣ أيام"  # diacritics and Eastern Arabic digits stay as written


def photo(pid: int = 1, ref: bytes = b"\x00\xffref") -> types.Photo:
    return types.Photo(
        id=pid,
        access_hash=5,
        file_reference=ref,
        date=WHEN,
        sizes=[
            types.PhotoStrippedSize(type="i", bytes=b"\x01\x02"),
            types.PhotoSize(type="m", w=320, h=240, size=9000),
            types.PhotoSizeProgressive(type="y", w=1280, h=960, sizes=[10000, 50000, 81234]),
            types.PhotoSize(type="x", w=800, h=600, size=40000),
        ],
        dc_id=2,
    )


def document(
    mime: str, name: str | None = None, extra: list | None = None, size: int = 1234
) -> types.Document:
    attrs = list(extra or [])
    if name:
        attrs.append(types.DocumentAttributeFilename(file_name=name))
    return types.Document(
        id=7,
        access_hash=8,
        file_reference=b"r",
        date=WHEN,
        mime_type=mime,
        size=size,
        dc_id=2,
        attributes=attrs,
    )


def message(mid: int = 10, text: str = TEXT, **kw) -> types.Message:
    return types.Message(id=mid, peer_id=types.PeerChannel(1001), date=WHEN, message=text, post=True, **kw)


def test_text_entities_counters_and_metadata():
    msg = message(
        entities=[
            types.MessageEntityHashtag(0, 5),
            types.MessageEntityTextUrl(6, 4, url="https://example.org"),
        ],
        views=15342,
        forwards=87,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=9),
        edit_date=datetime(2024, 1, 28, 10, 0, tzinfo=UTC),
        post_author="المكتب الإعلامي",
    )
    post = message_to_post(msg, CHANNEL, source="gapfill")
    assert post.text == TEXT
    assert post.message_id == 10 and post.channel == CHANNEL
    assert post.date == WHEN and post.date.tzinfo is not None
    assert post.entities == [
        {"type": "hashtag", "offset": 0, "length": 5},
        {"type": "text_url", "offset": 6, "length": 4, "url": "https://example.org"},
    ]
    assert (post.views, post.forwards, post.reply_to) == (15342, 87, 9)
    assert post.edit_date == datetime(2024, 1, 28, 10, 0, tzinfo=UTC)
    assert post.author == "المكتب الإعلامي"
    assert post.source == "gapfill"
    assert post.url == "https://t.me/militia_news/10"
    assert post.media == [] and post.fwd_from_id is None


def test_forward_from_channel_records_id_and_name():
    fwd = types.MessageFwdHeader(date=WHEN, from_id=types.PeerChannel(2002), channel_post=55)
    post = message_to_post(message(fwd_from=fwd), CHANNEL, fwd_names={2002: "كتائب حزب الله"})
    assert post.fwd_from_id == 2002
    assert post.fwd_from_name == "كتائب حزب الله"
    hidden = types.MessageFwdHeader(date=WHEN, from_name="مصدر مجهول")
    post = message_to_post(message(fwd_from=hidden), CHANNEL)
    assert (post.fwd_from_id, post.fwd_from_name) == (None, "مصدر مجهول")


def test_photo_uses_largest_size():
    items = media_items(message(media=types.MessageMediaPhoto(photo=photo())))
    assert len(items) == 1
    item = items[0]
    assert item.kind == "photo" and item.is_image
    assert (item.width, item.height, item.size) == (1280, 960, 81234)
    assert item.content is None  # described only: bytes are fetched on the intake worker


def test_image_documents_count_as_images_others_do_not():
    png = media_items(
        message(media=types.MessageMediaDocument(document=document("image/png", "poster.png")))
    )[0]
    assert png.is_image and png.mime_type == "image/png" and png.file_name == "poster.png"
    webp = document("application/octet-stream", "بيان.WEBP")
    assert is_image_document(webp)
    jpg = media_items(message(media=types.MessageMediaDocument(document=document("image/jpg"))))[0]
    assert jpg.is_image and jpg.mime_type == "image/jpeg"
    sticker = document(
        "image/webp",
        "s.webp",
        [types.DocumentAttributeSticker(alt="🔥", stickerset=types.InputStickerSetEmpty())],
    )
    assert not is_image_document(sticker)
    video = media_items(
        message(
            media=types.MessageMediaDocument(
                document=document(
                    "video/mp4", "clip.mp4", [types.DocumentAttributeVideo(duration=3.0, w=640, h=360)]
                )
            )
        )
    )[0]
    assert (video.kind, video.is_image, video.width) == ("video_file", False, 640)
    pdf = media_items(
        message(media=types.MessageMediaDocument(document=document("application/pdf", "a.pdf")))
    )[0]
    assert (pdf.kind, pdf.is_image, pdf.size) == ("document", False, 1234)
    voice = media_items(
        message(
            media=types.MessageMediaDocument(
                document=document("audio/ogg", None, [types.DocumentAttributeAudio(duration=5, voice=True)])
            )
        )
    )[0]
    assert voice.kind == "voice_message"


def test_other_media_recorded_not_downloaded():
    geo = message(media=types.MessageMediaGeo(geo=types.GeoPoint(long=44.4, lat=33.3, access_hash=1)))
    items = media_items(geo)
    assert [(i.kind, i.missing_reason) for i in items] == [("geo", "not downloaded")]
    assert media_items(message(media=types.MessageMediaPhoto(photo=types.PhotoEmpty(id=3))))[0].missing_reason


def test_raw_json_is_json_safe():
    msg = message(media=types.MessageMediaPhoto(photo=photo(ref=b"\x00\xffref")))
    post = message_to_post(msg, CHANNEL)
    text = json.dumps(post.raw, ensure_ascii=False)
    assert TEXT in text
    assert post.raw["date"] == "2024-01-28T09:30:00+00:00"
    assert post.raw["media"]["photo"]["file_reference"] == base64.b64encode(b"\x00\xffref").decode()
    assert jsonable({"d": datetime(2024, 1, 1), "b": b"\x01", "t": (1, 2)}) == {
        "d": "2024-01-01T00:00:00+00:00",
        "b": "AQ==",
        "t": [1, 2],
    }


def test_album_becomes_one_post_with_every_image():
    parts = [
        message(12, "", grouped_id=99, media=types.MessageMediaPhoto(photo=photo(3))),
        message(
            11,
            "بيان مصور",
            grouped_id=99,
            media=types.MessageMediaPhoto(photo=photo(2)),
            entities=[types.MessageEntityBold(0, 4)],
        ),
        message(
            13, "", grouped_id=99, media=types.MessageMediaDocument(document=document("image/png", "p.png"))
        ),
    ]
    post = album_to_post(parts, CHANNEL)
    assert post.message_id == 11
    assert post.text == "بيان مصور"
    assert post.grouped_id == 99
    assert len(post.media) == 3 and all(m.is_image for m in post.media)
    assert post.raw["message_ids"] == [11, 12, 13]
    assert post.entities == [{"type": "bold", "offset": 0, "length": 4}]


def test_group_messages_keeps_albums_together_and_order():
    msgs = [
        message(1),
        message(2, grouped_id=5),
        message(3, grouped_id=5),
        message(4),
        message(5, grouped_id=6),
    ]
    assert [[m.id for m in g] for g in group_messages(msgs)] == [[1], [2, 3], [4], [5]]


def test_entities_json_and_channel_from_entity():
    assert entities_json(message(entities=[types.MessageEntityMentionName(0, 3, user_id=5)])) == [
        {"type": "mention_name", "offset": 0, "length": 3, "user_id": 5}
    ]
    chan = types.Channel(
        id=1001, title="قناة", photo=types.ChatPhotoEmpty(), date=WHEN, access_hash=77, username="x"
    )
    assert channel_from_entity(chan) == Channel(1001, "x", "قناة", 77)
