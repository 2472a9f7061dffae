"""Clips in a Telegram Desktop export (``video_files/``, ``round_video_messages/``, ``stickers/``,
``files/``) are read at their key frames when the export is imported, through the app's real
pipeline (detector, OCR pool and clip reader, outbox, store)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from handlers.importer import import_export
from monitor.app import open_app
from monitor.core.config import parse_config
from tests.support.clips import textless_clip, threat_clip
from tests.support.export import message, write_single
from tests.support.stickers import write_sticker

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]


def clip_fields(folder: Path, reference: str, media_type: str, mime: str) -> dict:
    path = folder / reference
    return {
        "file": reference,
        "file_size": path.stat().st_size,
        "media_type": media_type,
        "mime_type": mime,
        "duration_seconds": 20,
        "width": 720,
        "height": 540,
    }


def write_export(folder: Path) -> tuple[Path, int]:
    """An export with every kind of clip; returns it and a video cap between its sizes."""
    (folder / "video_files").mkdir(parents=True)
    (folder / "round_video_messages").mkdir()
    (folder / "stickers").mkdir()
    (folder / "files").mkdir()
    threat = threat_clip(folder / "video_files" / "threat.mp4")
    textless_clip(folder / "video_files" / "landscape.mp4")
    data = threat.read_bytes()
    (folder / "round_video_messages" / "note.mp4").write_bytes(data[: len(data) // 2])  # truncated
    (folder / "video_files" / "long.mp4").write_bytes(data + bytes(4096))  # over the cap below
    (folder / "files" / "statement.mp4").write_text("بيان: الانتقام قادم\n", encoding="utf-8")  # no video
    write_sticker(folder / "stickers" / "sticker.tgs", [])  # an animated sticker without text
    messages = [
        message(1, "", **clip_fields(folder, "video_files/threat.mp4", "video_file", "video/mp4")),
        message(2, "", **clip_fields(folder, "round_video_messages/note.mp4", "video_message", "video/mp4")),
        message(3, "", **clip_fields(folder, "files/statement.mp4", "video_file", "video/mp4")),
        message(4, "", **clip_fields(folder, "stickers/sticker.tgs", "sticker", "application/x-tgsticker")),
        message(5, "نشيد", **clip_fields(folder, "video_files/long.mp4", "video_file", "video/mp4")),
        message(6, "منظر", **clip_fields(folder, "video_files/landscape.mp4", "animation", "video/mp4")),
        message(7, "صباح الخير يا أهلنا"),
    ]
    write_single(folder, messages)
    return folder, len(data) + 1


@pytest.mark.slow
async def test_an_imported_export_reads_its_clips_and_alerts_on_the_threat_with_its_time(tmp_path):
    folder, cap = write_export(tmp_path / "export")
    config = parse_config(
        {
            "archive": {"path": str(tmp_path / "archive.db"), "media_dir": str(tmp_path / "media")},
            "ocr": {"enabled": True, "workers": 2, "video_max_bytes": cap},
        }
    )
    async with open_app(config, tmp_path / "archive.db", tmp_path / "media", deliver=False) as app:
        summary = await import_export(folder, app.pipeline)
        archive = app.archive
        rows = await archive.fetchall(
            "SELECT pm.post_id, m.ocr_status, m.ocr_reason, m.ocr_text FROM post_media pm "
            "JOIN media m ON m.sha256 = pm.sha256 ORDER BY pm.post_id"
        )
        by_message = {}
        for row in rows:
            post = await archive.fetchone("SELECT message_id FROM posts WHERE id = ?", (row[0],))
            by_message[post[0]] = (row[1], row[2], row[3])
        alerts = await archive.fetchall(
            "SELECT p.message_id, a.body FROM alerts a JOIN posts p ON p.id = a.post_id"
        )
        assert (await archive.stats())["posts"] == 7

    assert summary.ocr_done >= 1
    status, reason, text = by_message[1]
    assert status == "done" and "[video 0:14] الانتقام قادم" in text, text
    assert by_message[2][0] == "failed" and by_message[2][1].startswith("the video is truncated")
    assert by_message[3][0] == "failed" and "Invalid data found when processing input" in by_message[3][1]
    assert by_message[4] == ("done", None, "")  # the sticker's frames drawn and read: no text
    assert by_message[5][0] == "skipped" and "KB is over the" in by_message[5][1]
    assert by_message[6] == ("done", None, "")  # a clip without text: no text
    for _, reason, _ in by_message.values():
        assert reason is None or "\n" not in reason
    assert [a[0] for a in alerts] == [1]  # the threat clip alone, not the statement file, nor the rest
    body = json.loads(alerts[0][1])
    assert "[video 0:14]" in body["ocr_excerpt"] and body["countdown"]["value"] == 59
