"""Write Telegram Desktop exports in the real format, for tests.

The shapes follow what Telegram Desktop writes (see ``shared/research/telethon-offline.md``):
``date`` is the exporting machine's local time without an offset and ``date_unixtime`` the UTC
epoch seconds as a string; ``text`` is a string when it is one plain part and otherwise a list of
strings and ``{"type", "text", ...}`` objects; ``text_entities`` is always a list; photos are
relative paths (or the "File not included" placeholder) with ``photo_file_size``, ``width`` and
``height``; documents carry ``file``, ``file_name``, ``mime_type`` and maybe ``media_type``.
Images are real files made with Pillow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
LOCAL_TZ = timezone(timedelta(hours=3))  # the exporting machine's clock (Baghdad)
CHANNEL_ID = 1234567890
CHANNEL_NAME = "قناة الاختبار"

TextPart = str | dict[str, Any]


def when(day: int, hour: int = 12, minute: int = 0, *, month: int = 11, year: int = 2021) -> datetime:
    """A UTC moment, for readable test data."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat(timespec="seconds")


def _unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def text_entities(text: str | list[TextPart]) -> list[dict[str, Any]]:
    """What Telegram Desktop writes as ``text_entities`` for ``text`` (always a list)."""
    parts = [text] if isinstance(text, str) else text
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            if part:
                out.append({"type": "plain", "text": part})
        else:
            out.append(dict(part))
    return out


def message(
    message_id: int,
    text: str | list[TextPart] = "",
    *,
    date: datetime | None = None,
    edited: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One ``"type": "message"`` of a channel, with both the local and the UTC date."""
    moment = date or when(2, 12) + timedelta(minutes=message_id)
    out: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "date": _local(moment),
        "date_unixtime": _unix(moment),
    }
    if edited is not None:
        out["edited"] = _local(edited)
        out["edited_unixtime"] = _unix(edited)
    out["from"] = fields.pop("from_name", CHANNEL_NAME)
    out["from_id"] = fields.pop("from_id", f"channel{CHANNEL_ID}")
    out.update(fields)
    out["text"] = text
    out["text_entities"] = text_entities(text)
    return out


def service(message_id: int, action: str = "pin_message", *, date: datetime | None = None) -> dict[str, Any]:
    """A service message (not a post)."""
    moment = date or when(2, 12) + timedelta(minutes=message_id)
    return {
        "id": message_id,
        "type": "service",
        "date": _local(moment),
        "date_unixtime": _unix(moment),
        "actor": CHANNEL_NAME,
        "actor_id": f"channel{CHANNEL_ID}",
        "action": action,
        "message_id": 1,
        "text": "",
        "text_entities": [],
    }


def make_image(
    path: Path, *, fmt: str = "JPEG", color: tuple[int, int, int] = (200, 30, 30), size=(64, 48)
) -> Path:
    """A real small image file (JPEG, PNG or WEBP) with a little drawing so files differ by colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle((4, 4, size[0] // 2, size[1] // 2), fill=(255, 255, 255))
    image.save(path, fmt)
    return path


def photo_fields(folder: Path, name: str, **image: Any) -> dict[str, Any]:
    """``photo`` fields for a message, writing the image under ``folder/photos``."""
    path = make_image(folder / "photos" / name, **image)
    with Image.open(path) as img:
        width, height = img.size
    return {
        "photo": f"photos/{name}",
        "photo_file_size": path.stat().st_size,
        "width": width,
        "height": height,
    }


def write_single(
    folder: Path,
    messages: list[dict[str, Any]],
    *,
    name: str = CHANNEL_NAME,
    chat_id: int = CHANNEL_ID,
    chat_type: str = "public_channel",
) -> Path:
    """A single-chat export: ``folder/result.json``. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "type": chat_type, "id": chat_id, "messages": messages}
    (folder / "result.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder


def chat(name: str, chat_id: int, messages: list[dict[str, Any]], chat_type: str = "public_channel") -> dict:
    """One chat of a full-account export."""
    return {"name": name, "type": chat_type, "id": chat_id, "messages": messages}


def write_account(folder: Path, chats: list[dict[str, Any]], left_chats: list[dict[str, Any]] = ()) -> Path:
    """A full-account export (``chats.list`` and ``left_chats.list``). Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 42, "first_name": "Analyst", "phone_number": "+000"},
        "contacts": {"about": "contacts", "list": []},
        "chats": {"about": "chats", "list": list(chats)},
        "left_chats": {"about": "left chats", "list": list(left_chats)},
    }
    (folder / "result.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder


# --- a channel export with every feature the reader must handle ----------------------------

REVENGE = "الانْتِقَامُ قادم لا محالة"
EDITED_TEXT = "بيان مُعدَّل: النصر قريب"
COUNTDOWN = [
    {"type": "hashtag", "text": "#باقي_٥٩_يوما"},
    " على الموعد",
]
LINKS = [
    "تابعونا ",
    {"type": "mention", "text": "@sabereen_test"},
    " و",
    {"type": "text_link", "text": "موقعنا", "href": "https://example.org/a"},
    " ",
    {"type": "link", "text": "https://example.org/b"},
    " ",
    {"type": "bold", "text": "عاجل"},
    " ",
    {"type": "hashtag", "text": "#الانتقام_قادم"},
]


def rich_channel(folder: Path) -> Path:
    """A single-channel export exercising every field the reader cares about.

    Message ids: 1 service (create), 2 plain Arabic with diacritics, 3 list text with entities,
    4 edited, 5 forwarded, 6 reply to 2, 7 photo (JPEG), 8 photo placeholder (not included),
    9 photo whose file is missing, 10 webp document (an image), 11 video document (not an
    image), 12 PNG photo, 13 service (pin),
    14 English with a CamelCase hashtag, 15 the countdown hashtag with Eastern Arabic digits.
    """
    folder.mkdir(parents=True, exist_ok=True)
    webp = make_image(folder / "stickers" / "poster.webp", fmt="WEBP", color=(10, 120, 10))
    video = folder / "video_files" / "clip.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    messages = [
        service(1, "create_channel", date=when(1, 8)),
        message(2, REVENGE, date=when(2, 22, 30)),  # 01:30 on the 3rd in Baghdad
        message(3, LINKS, date=when(3, 9)),
        message(4, EDITED_TEXT, date=when(3, 10), edited=when(3, 11, 15)),
        message(5, "America will pay أمريكا", date=when(3, 12), forwarded_from="قناة أخرى"),
        message(6, "رد على البيان والانتقام", date=when(3, 13), reply_to_message_id=2),
        message(7, "ملصق جديد", date=when(4, 9), **photo_fields(folder, "photo_1@04-11-2021_12-00-00.jpg")),
        message(8, "صورة غير مضمنة", date=when(4, 10), photo=NOT_INCLUDED, width=800, height=600),
        message(9, "صورة مفقودة", date=when(4, 11), photo="photos/photo_9_gone.jpg", width=10, height=10),
        message(
            10,
            "",
            date=when(4, 12),
            file="stickers/poster.webp",
            file_name="poster.webp",
            file_size=webp.stat().st_size,
            mime_type="image/webp",
            media_type="sticker",
            width=64,
            height=48,
        ),
        message(
            11,
            "فيديو",
            date=when(4, 13),
            file="video_files/clip.mp4",
            file_name="clip.mp4",
            file_size=video.stat().st_size,
            mime_type="video/mp4",
            media_type="video_file",
            duration_seconds=3,
        ),
        message(
            12,
            "ملصق ثان",
            date=when(4, 14),
            **photo_fields(folder, "photo_2@04-11-2021_17-00-00.png", fmt="PNG", color=(0, 0, 200)),
        ),
        service(13, "pin_message", date=when(4, 15)),
        message(14, ["Follow ", {"type": "hashtag", "text": "#RevengeIsComing"}], date=when(5, 9)),
        message(15, COUNTDOWN, date=when(5, 10)),
    ]
    return write_single(folder, messages)
