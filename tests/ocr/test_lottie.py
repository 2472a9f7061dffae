"""Animated stickers (Lottie ``.tgs``): key frames drawn by rlottie in a child process, read like a clip.

The stickers are real Lottie documents with their text as vector outlines (``tests.support.stickers``),
drawn by the real renderer; the slow tests read them with real Tesseract through ``tgmonitor check``.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from monitor.cli import main
from monitor.core.store import Archive
from monitor.core.store.schema import MIGRATIONS
from ocr import OcrPool
from ocr.clips import MediaReader
from ocr.lottie import MAX_DOCUMENT_BYTES, LottieFailed, lottie_key_frames, sample_frames, unpack
from ocr.video import VideoFailed, VideoSettings
from tests.support.stickers import FRAMES, THREAT_STICKER, write_sticker


def test_frames_are_evenly_spaced_from_the_first_to_the_last():
    frames = sample_frames(181, 60.0, 8)
    assert [n for n, _ in frames] == [0, 26, 51, 77, 103, 129, 154, 180]
    assert frames[-1][1] == pytest.approx(3.0)
    assert sample_frames(3, 30.0, 8) == [(0, 0.0), (1, 1 / 30), (2, 2 / 30)]  # fewer frames than asked
    assert sample_frames(50, 25.0, 1) == [(0, 0.0)]
    assert sample_frames(0, 60.0, 8) == []


def test_documents_that_are_not_stickers_are_refused_with_a_reason():
    document = b'{"v": "5.5.2", "layers": []}'
    assert unpack(gzip.compress(document)) == document
    assert unpack(b"  " + document) == b"  " + document  # a Lottie JSON saved as .tgs
    bomb = gzip.compress(b" " * (MAX_DOCUMENT_BYTES + 10))  # 17 KB that unpack to 16 MB
    with pytest.raises(LottieFailed, match="unpacks to more than 16 MB"):
        unpack(bomb)
    packed = gzip.compress(json.dumps({"layers": list(range(5000))}).encode())
    with pytest.raises(LottieFailed, match="truncated"):
        unpack(packed[: len(packed) // 2])
    with pytest.raises(LottieFailed, match="corrupt"):
        unpack(packed[:20] + bytes(len(packed) - 20))
    with pytest.raises(LottieFailed, match="neither gzip nor JSON"):
        unpack(b"\x89PNG\r\n\x1a\n")


@pytest.mark.asyncio
async def test_a_stickers_key_frames_are_drawn_with_its_transparency(tmp_path):
    sticker = write_sticker(tmp_path / "threat.tgs", THREAT_STICKER)
    frames = await lottie_key_frames(sticker, tmp_path / "frames", VideoSettings())
    assert [f.number for f in frames] == [0, 26, 51, 77, 103, 129, 154, FRAMES]
    assert frames[-1].seconds == pytest.approx(3.0)

    def text_ink(path: Path) -> int:
        """Opaque pixels where the text is (the disc crosses below it)."""
        image = Image.open(path)
        assert image.mode == "RGBA" and image.size == (512, 512)
        alpha = image.getchannel("A").crop((0, 100, 512, 400))
        return sum(alpha.histogram()[128:])

    assert text_ink(frames[0].path) == 0 and text_ink(frames[-1].path) == 0  # faded in, faded out
    assert all(text_ink(f.path) > 5000 for f in frames[1:6])


@pytest.mark.asyncio
async def test_broken_stickers_fail_with_the_renderers_reason(tmp_path):
    settings = VideoSettings()

    async def reason(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(VideoFailed) as failed:
            await lottie_key_frames(path, tmp_path / f"{name}.frames", settings)
        assert "\n" not in failed.value.reason
        return failed.value.reason

    assert "JSON is invalid" in await reason("bad.tgs", gzip.compress(b'{"v": "5.5.2", "layers": ['))
    deep = gzip.compress(b"[" * 100_000 + b"]" * 100_000)  # deeper than Python's stack
    assert "JSON is invalid" in await reason("deep.tgs", deep)
    no_size = {"v": "5.5.2", "fr": 60, "layers": []}  # no frames, no size: nothing rlottie can draw
    assert "rlottie can draw" in await reason("empty.tgs", gzip.compress(json.dumps(no_size).encode()))
    real = write_sticker(tmp_path / "real.tgs", THREAT_STICKER).read_bytes()
    assert "truncated" in await reason("cut.tgs", real[: len(real) // 2])
    assert "neither gzip nor JSON" in await reason("photo.tgs", b"\xff\xd8\xff\xe0 a JPEG")
    # A sticker whose bytes never come: the drawing child waits on it until it is killed at the
    # deadline (a real sticker under a tiny timeout was drawn within the 0.1 s floor of the wait
    # on a quick machine, and the test failed for it)
    os.mkfifo(tmp_path / "never.tgs")
    started = time.monotonic()
    with pytest.raises(VideoFailed) as stuck:
        await lottie_key_frames(tmp_path / "never.tgs", tmp_path / "never.frames", VideoSettings(timeout=0.5))
    assert stuck.value.reason == "the Lottie renderer took longer than 0.5s ([ocr] video_timeout)"
    assert time.monotonic() - started < 30


@pytest.mark.asyncio
async def test_stickers_recorded_as_unreadable_by_an_older_version_wait_for_ocr_again(tmp_path):
    path = tmp_path / "archive.db"
    archive = await Archive.open(path)
    await archive.close()
    old = "animated sticker (.tgs) is a Lottie vector animation FFmpeg cannot decode: not read"
    with sqlite3.connect(path) as conn:
        rows = [
            ("a" * 64, "a.tgs", "skipped", old),
            (
                "b" * 64,
                "b.mp4",
                "skipped",
                "video of 23.4 MB is over the 20.0 MB cap ([ocr] video_max_bytes)",
            ),
        ]
        conn.executemany(
            "INSERT INTO media (sha256, path, size, ocr_status, ocr_reason, created_at) "
            "VALUES (?, ?, 1, ?, ?, '2026-01-01T00:00:00+00:00')",
            rows,
        )
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    conn.close()
    archive = await Archive.open(path)
    try:
        pending = await archive.pending_ocr()
        assert [m.sha256 for m in pending] == ["a" * 64]
        assert (await archive.media("b" * 64)).ocr_status == "skipped"  # over the cap: still skipped
    finally:
        await archive.close()


# --- read with real Tesseract -----------------------------------------------------------------


def check(*args: str) -> dict:
    result = CliRunner().invoke(main, ["check", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.slow
@pytest.mark.parametrize("ink", [(0, 0, 0), (1, 1, 1)], ids=["black", "white, no outline"])
def test_a_threat_sticker_alerts_with_its_countdown_and_frame_time(no_user_config, tmp_path, ink):
    # white letters with no outline show on a dark chat theme: laid on grey, they are read too
    sticker = write_sticker(tmp_path / "threat.tgs", THREAT_STICKER, ink)
    data = check("--image", str(sticker), "--date", "2026-12-01")
    text = data["ocr_text"]
    assert "[video 0:00] VENGEANCE" in text and "[video 0:00] IS COMING" in text, text
    assert "[video 0:00] باقي ٥٩ يوما" in text, text
    assert data["alert"] is True
    assert (data["countdown"]["value"], data["countdown"]["source"]) == (59, "ocr")


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_sticker_without_text_is_read_as_having_none(tmp_path):
    sticker = write_sticker(tmp_path / "disc.tgs", [])
    async with OcrPool(workers=2) as pool:
        outcome = await MediaReader(pool).recognize(sticker)
    assert (outcome.status, outcome.text, outcome.frames) == ("done", "", 8)
    assert outcome.format == "tgs"
