"""Write the bundled sample: a Telegram Desktop export of a fictional channel, with posters.

The channel "صدى الثأر — Sada al-Thar (sample)" does not exist; its posts imitate the style of
the channels tgmonitor watches (threats, a countdown series, an attack claim, posters) next to
the benign look-alikes that must not alert (a Ramadan countdown, the Arbaeen march, football).
The export follows Telegram Desktop's format: string and list ``text``, ``text_entities``,
service messages, a forward, an edit, photos and a "(File not included...)" placeholder.

Usage (from the repository root; rewrites ``monitor/sample/``)::

    python -m scripts.make_sample
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scripts.posters import render_poster, to_eastern

OUT = Path(__file__).resolve().parent.parent / "monitor" / "sample" / "ChannelExport"
CHANNEL_ID = 1733519640
START = datetime(2021, 11, 2, 9, 30, tzinfo=UTC)
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"

POSTERS = {
    "photo_1@02-11-2021_12-30-00.jpg": (["VENGEANCE IS COMING", "#59daysleft"], "flag", 900, 1),
    "photo_2@03-11-2021_12-31-10.jpg": (["الانتقام قادم", f"#باقي_{to_eastern('58')}_يوما"], "fire", 800, 2),
    "photo_3@05-11-2021_20-02-40.jpg": (["الرد قادم", "#الرد_قادم"], "dark", 720, 3),
    "photo_4@06-11-2021_09-15-00.jpg": (
        ["رمضان كريم", f"باقي {to_eastern('10')} أيام على الشهر الفضيل"],
        "light",
        720,
        4,
    ),
}


def _when(days: float, hours: float = 0) -> datetime:
    return START + timedelta(days=days, hours=hours)


def _message(mid: int, when: datetime, text: Any, **extra: Any) -> dict[str, Any]:
    local = when + timedelta(hours=3)  # the exporting machine was in Baghdad (UTC+3)
    msg: dict[str, Any] = {
        "id": mid,
        "type": "message",
        "date": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_unixtime": str(int(when.timestamp())),
        "from": "صدى الثأر",
        "from_id": f"channel{CHANNEL_ID}",
    }
    msg["text"] = text
    msg["text_entities"] = _entities(text)
    msg.update(extra)
    return msg


def _entities(text: Any) -> list[dict[str, Any]]:
    if isinstance(text, str):
        return [{"type": "plain", "text": text}] if text else []
    return [{"type": "plain", "text": p} if isinstance(p, str) else p for p in text]


def _photo(name: str) -> dict[str, Any]:
    width = POSTERS[name][2]
    return {"photo": f"photos/{name}", "photo_file_size": 0, "width": width, "height": 0}


def build_messages() -> list[dict[str, Any]]:
    m: list[dict[str, Any]] = [
        {
            "id": 1,
            "type": "service",
            "date": "2021-10-30T12:00:00",
            "date_unixtime": str(int(datetime(2021, 10, 30, 9, tzinfo=UTC).timestamp())),
            "actor": "صدى الثأر",
            "actor_id": f"channel{CHANNEL_ID}",
            "action": "create_channel",
            "title": "صدى الثأر",
            "text": "",
            "text_entities": [],
        },
        _message(
            2, _when(0, 0), "بسم الله الرحمن الرحيم\nقناة صدى الثأر: أخبار المقاومة الإسلامية في العراق"
        ),
        _message(
            3,
            _when(0, 3),
            [
                {"type": "bold", "text": "Vengeance is Coming"},
                " ",
                {"type": "hashtag", "text": "#59daysleft"},
            ],
            **_photo("photo_1@02-11-2021_12-30-00.jpg"),
        ),
        _message(
            4,
            _when(0, 4),
            "لا يفصلنا عن ٣١/ ١٢/ ٢٠٢١ سوى ٥٩ يوماً فقط، وبعدها ستكون أسلحة المقاومة نحو رؤوس المحتلين",
        ),
        _message(
            5,
            _when(1, 3),
            [
                "الانْتِقَامُ قَادِمٌ ",
                {"type": "hashtag", "text": "#الانتقام_قادم"},
                " ",
                {"type": "hashtag", "text": "#باقي_٥٨_يوما"},
            ],
            **_photo("photo_2@03-11-2021_12-31-10.jpg"),
        ),
        _message(
            6,
            _when(1, 6),
            "تسديدة صاروخية من اللاعب تسكن الشباك في الدقيقة ٩٠ ⚽️",
        ),
        _message(
            7,
            _when(2, 2),
            [
                "استهدف مجاهدو المقاومة الإسلامية في العراق قاعدة حرير بالطيران المسيّر، وأصابت هدفها بشكل مباشر. ",
                {"type": "text_link", "text": "التفاصيل", "href": "https://example.org/statement/7"},
            ],
            edited="2021-11-04T14:20:00",
            edited_unixtime=str(int(_when(2, 2.5).timestamp())),
        ),
        _message(
            8,
            _when(2, 5),
            "#باقي٥٧يوما على خروج قوات الاحتلال الأمريكي",
        ),
        _message(
            9,
            _when(3, 1),
            "مسيرة الأربعين المليونية تنطلق من البصرة نحو كربلاء سيراً على الأقدام",
            forwarded_from="أخبار الزوار",
        ),
        _message(
            10,
            _when(3, 8),
            "",
            **_photo("photo_3@05-11-2021_20-02-40.jpg"),
        ),
        _message(
            11,
            _when(3, 9),
            "56 days left. The occupiers will leave in coffins. #VengeanceIsComing",
        ),
        _message(12, _when(4, 0), "", **_photo("photo_4@06-11-2021_09-15-00.jpg")),
        _message(13, _when(4, 1), "باقي ٥٩ يوماً على شهر رمضان المبارك، اللهم بلغنا رمضان"),
        _message(
            14,
            _when(4, 2),
            "عاجل: رتل الدعم اللوجستي للاحتلال الأمريكي يتعرض لعبوة ناسفة على جانب الطريق",
            **{"photo": NOT_INCLUDED, "width": 1280, "height": 720},
        ),
        {
            "id": 15,
            "type": "service",
            "date": "2021-11-06T14:00:00",
            "date_unixtime": str(int(_when(4, 1.5).timestamp())),
            "actor": "صدى الثأر",
            "actor_id": f"channel{CHANNEL_ID}",
            "action": "pin_message",
            "message_id": 5,
            "text": "",
            "text_entities": [],
        },
        _message(
            16,
            _when(5, 3),
            [
                "Only 54 days remain. ",
                {"type": "mention", "text": "@sada_althar_sample"},
                " The countdown has begun.",
            ],
        ),
        _message(17, _when(5, 6), "قريباً افتتاح فرعنا الجديد في الكرادة"),
        _message(18, _when(6, 3), "#٥٣_يوما_على_رحيل_المحتل ولغة السلاح هي التي يفهمها الأمريكان"),
    ]
    return m


def main() -> int:
    photos = OUT / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name, (lines, background, width, seed) in POSTERS.items():
        image = render_poster(lines, background, width, seed=seed)
        image.convert("RGB").save(photos / name, "JPEG", quality=80, optimize=True)
    messages = build_messages()
    for msg in messages:
        if isinstance(msg.get("photo"), str) and not msg["photo"].startswith("(File"):
            path = OUT / msg["photo"]
            msg["photo_file_size"] = path.stat().st_size
            from PIL import Image

            with Image.open(path) as image:
                msg["width"], msg["height"] = image.size
    export = {
        "name": "صدى الثأر — Sada al-Thar (sample)",
        "type": "public_channel",
        "id": CHANNEL_ID,
        "messages": messages,
    }
    (OUT / "result.json").write_text(
        json.dumps(export, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"wrote {OUT} ({len(messages)} messages, {len(POSTERS)} posters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
