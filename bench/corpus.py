"""Generated text for benchmarks: Arabic and English posts of about 120 characters, some hashtags.

Seeded, so every run measures the same corpus. The vocabulary mixes ordinary news words with a
few rare words, so benchmarks can query common, rare and absent words.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

ARABIC = [
    *"المقاومة الإسلامية في العراق بيان عاجل بغداد البصرة كربلاء أربيل الأنبار الحكومة البرلمان".split(),
    *"الشعب الشهداء الموقف السياسي الاقتصاد الأسواق النفط الكهرباء الماء المدارس الجامعة الطلاب".split(),
    *"المستشفى الأطباء الطريق السيارات الجيش الحشد الشعبي الوطن الأمن الحدود اليوم غدا اجتماع".split(),
]
ENGLISH = [
    *"the resistance in iraq statement baghdad basra government parliament people market oil".split(),
    *"electricity water schools university students hospital doctors road cars army border meeting".split(),
]
# Threat and countdown phrases go into a few posts only, as on real channels.
THREATS = ["الانتقام قادم", "قوات الاحتلال الأمريكي", "vengeance is coming", "باقي ٥٩ يوما", "هدف مشروع"]
THREAT_RATE = 0.03
HASHTAGS = ["#العد_التنازلي", "#Iraq", "#بغداد", "#عاجل", "#العراق", "#news"]
RARE = ["زنجبيل", "quasar", "مغناطيسية", "xylophone"]


def post_text(rng: random.Random, length: int = 120) -> str:
    words = ARABIC if rng.random() < 0.6 else ENGLISH
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < length:
        parts.append(rng.choice(words))
    if rng.random() < 0.25:
        parts.append(rng.choice(HASHTAGS))
    if rng.random() < THREAT_RATE:
        parts.append(rng.choice(THREATS))
    if rng.random() < 0.001:
        parts.insert(rng.randrange(len(parts)), rng.choice(RARE))
    return " ".join(parts)


def iter_messages(n: int, seed: int = 1, start: int = 1_600_000_000) -> Iterator[dict]:
    rng = random.Random(seed)
    for i in range(1, n + 1):
        when = start + i * 60
        text = post_text(rng)
        if rng.random() < 0.3 and "#" in text:
            head, tag = text.rsplit(" ", 1)
            text_value: object = [head + " ", {"type": "hashtag", "text": tag}]
        else:
            text_value = text
        yield {
            "id": i,
            "type": "message",
            "date": "2020-09-13T12:00:00",
            "date_unixtime": str(when),
            "from": "Bench Channel",
            "from_id": "channel777",
            "text": text_value,
            "text_entities": [{"type": "plain", "text": text}],
        }


def write_export(folder: Path, n: int, seed: int = 1) -> Path:
    """Write a single-chat Telegram Desktop export of ``n`` messages; return its result.json."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    with open(path, "w", encoding="utf-8") as out:
        out.write('{\n "name": "Bench Channel",\n "type": "public_channel",\n "id": 777,\n "messages": [\n')
        for i, message in enumerate(iter_messages(n, seed)):
            if i:
                out.write(",\n")
            out.write("  " + json.dumps(message, ensure_ascii=False))
        out.write("\n ]\n}\n")
    return path
