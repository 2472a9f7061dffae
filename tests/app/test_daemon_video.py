"""Live clips go all the way: downloaded through Telethon from the fake Telegram, cut into key
frames by ffmpeg, read by the OCR pool, matched, and alerted with the frame time in every sink's
message."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from telethon.tl import types

from alerts.format import render_html, render_text
from alerts.sinks.console import render_rich
from monitor.core.config import parse_config
from tests.support.clips import threat_clip
from tests.support.daemon import CHANNEL_ID, eventually, make_server, posts_at_least, running_daemon
from tests.support.stickers import THREAT_STICKER, write_sticker

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]


def video_config(tmp_path: Path, **ocr: object):
    return parse_config(
        {
            "telegram": {"channels": ["@militia_news"], "mode": "join"},
            "archive": {"path": str(tmp_path / "archive.db"), "media_dir": str(tmp_path / "media")},
            "ocr": {"enabled": True, "workers": 2, **ocr},
            "alerts": {"sink": [{"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")}]},
        }
    )


def video_media(server, content: bytes, *, round_note: bool = False) -> types.MessageMediaDocument:
    """A video document as Telegram sends it (an MP4 with its video attribute)."""
    attribute = types.DocumentAttributeVideo(duration=20, w=720, h=540, round_message=round_note)
    document = server.make_document(content, "video/mp4", None if round_note else "clip.mp4", [attribute])
    return types.MessageMediaDocument(document=document)


def sticker_media(server, content: bytes) -> types.MessageMediaDocument:
    """An animated sticker as Telegram sends it: a Lottie document with its sticker attributes."""
    attributes = [
        types.DocumentAttributeImageSize(w=512, h=512),
        types.DocumentAttributeSticker(alt="😡", stickerset=types.InputStickerSetEmpty()),
    ]
    document = server.make_document(content, "application/x-tgsticker", "AnimatedSticker.tgs", attributes)
    return types.MessageMediaDocument(document=document)


def delivered(tmp_path: Path) -> list[dict]:
    path = tmp_path / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def every_sink_message(body: dict) -> dict[str, str]:
    """What each sink sends for this alert body: Telegram's HTML, webhook and console text, Rich."""
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(render_rich(body))
    return {
        "telegram": render_html(body),
        "webhook": render_text(body),
        "slack": render_text(body, mark="*"),
        "console": console.export_text(),
        "jsonl": json.dumps(body, ensure_ascii=False),
    }


@pytest.mark.slow
async def test_a_live_clip_with_a_threat_end_card_alerts_with_its_frame_time(tmp_path):
    clip = threat_clip(tmp_path / "threat.mp4")
    truncated = clip.read_bytes()[: clip.stat().st_size // 2]
    server = make_server()
    async with running_daemon(server, video_config(tmp_path), ocr=True, detect=True) as daemon:
        server.post(CHANNEL_ID, "", media=video_media(server, clip.read_bytes()))
        server.post(CHANNEL_ID, "فيديو", media=video_media(server, truncated, round_note=True))
        server.post(CHANNEL_ID, "صباح الخير")
        archive = daemon.app.archive

        async def alerted() -> bool:
            return any(b["message_id"] == 1 for b in delivered(tmp_path))

        await eventually(posts_at_least(daemon, 3), timeout=30, what="the three posts")
        await eventually(alerted, timeout=240, what="the clip's alert")
        await daemon.intake.drain(60)
        post = await archive.post(CHANNEL_ID, 1)
        assert "[video 0:14] " in post.ocr_text and "الانتقام قادم" in post.ocr_text
        rows = await archive.fetchall(
            "SELECT mime_type, ocr_status, ocr_reason FROM media ORDER BY size DESC"
        )
        assert [(r[0], r[1]) for r in rows] == [("video/mp4", "done"), ("video/mp4", "failed")]
        assert "truncated" in rows[1][2] and "\n" not in rows[1][2]
        assert (await archive.post(CHANNEL_ID, 3)).text == "صباح الخير"  # the rest of the burst archived
        hits = await archive.search("الانتقام")
        assert [h.post.message_id for h in hits] == [1]

    body = next(b for b in delivered(tmp_path) if b["message_id"] == 1)
    assert body["severity"] == "high" and body["countdown"]["value"] == 59
    for sink, message in every_sink_message(body).items():
        assert "video 0:14" in message, f"{sink}: {message}"
    assert not any(b["message_id"] in (2, 3) for b in delivered(tmp_path))


async def test_a_live_clip_over_the_cap_is_recorded_with_its_size_not_downloaded(tmp_path):
    clip = threat_clip(tmp_path / "threat.mp4")
    server = make_server()
    config = video_config(tmp_path, enabled=False, video_max_bytes=20_000)
    async with running_daemon(server, config) as daemon:
        server.post(CHANNEL_ID, "الفيديو الكامل", media=video_media(server, clip.read_bytes()))
        await eventually(posts_at_least(daemon, 1), timeout=30)
        await daemon.intake.drain(10)
        rows = await daemon.app.archive.fetchall("SELECT sha256, missing_reason FROM post_media")
    size = clip.stat().st_size // 1024
    assert [tuple(r) for r in rows] == [
        (None, f"video of {size} KB not downloaded: over the 19 KB cap ([ocr] video_max_bytes)")
    ]


@pytest.mark.slow
async def test_a_live_animated_sticker_with_a_countdown_alerts_with_its_frame_time(tmp_path):
    sticker = write_sticker(tmp_path / "threat.tgs", THREAT_STICKER)
    server = make_server()
    async with running_daemon(server, video_config(tmp_path), ocr=True, detect=True) as daemon:
        server.post(CHANNEL_ID, "", media=sticker_media(server, sticker.read_bytes()))

        async def alerted() -> bool:
            return any(b["message_id"] == 1 for b in delivered(tmp_path))

        await eventually(alerted, timeout=120, what="the sticker's alert")
        await daemon.intake.drain(30)
        post = await daemon.app.archive.post(CHANNEL_ID, 1)
        assert "[video 0:00] باقي ٥٩ يوما" in post.ocr_text, post.ocr_text
        rows = await daemon.app.archive.fetchall("SELECT mime_type, ocr_status, ocr_reason FROM media")
        assert [tuple(r) for r in rows] == [("application/x-tgsticker", "done", None)]

    body = next(b for b in delivered(tmp_path) if b["message_id"] == 1)
    assert body["countdown"]["value"] == 59
    for sink, message in every_sink_message(body).items():
        assert "video 0:00" in message, f"{sink}: {message}"
