"""`tgmonitor ocr --pending`, `similar` and `doctor` on a real archive with real posters."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from PIL import Image

from monitor.cli import main
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive
from tests.support.ocr import image_bytes, write_poster


def save_posts(db, media_dir, posts):
    async def go():
        archive = await Archive.open(db, media_dir)
        try:
            for post in posts:
                await archive.save_post(post)
            return await archive.stats()
        finally:
            await archive.close()

    return asyncio.run(go())


@pytest.mark.slow
def test_pending_then_similar_finds_the_reposted_poster(tmp_path, no_user_config):
    db = tmp_path / "archive.db"
    media = tmp_path / "media"
    poster = write_poster(tmp_path, "arabic-light")
    png = poster.read_bytes()
    channel_a = Channel(id=1001, username="militia_news", title="Militia News")
    channel_b = Channel(id=1002, username="sabereen", title="Sabereen")
    when = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

    def photo(data: bytes, mime: str = "image/png") -> MediaItem:
        return MediaItem(kind="photo", is_image=True, content=data, mime_type=mime, size=len(data))

    stats = save_posts(
        db,
        media,
        [
            Post(channel=channel_a, message_id=5, date=when, text="", media=[photo(png)]),
            Post(channel=channel_b, message_id=77, date=when, text="repost", media=[photo(png)]),
            Post(
                channel=channel_a,
                message_id=6,
                date=when,
                text="",
                media=[photo(b"not an image", "image/jpeg")],
            ),
        ],
    )
    assert stats["ocr_pending"] == 2  # one poster shared by two channels is one image

    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(db), "ocr", "--pending", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"ocr_done": 1, "ocr_failed": 1}

    async def check():
        async with await Archive.open(db, media) as archive:
            post = await archive.post(1002, 77)
            failed = await archive.fetchone(
                "SELECT ocr_status, ocr_reason FROM media WHERE ocr_status = 'failed'"
            )
            return post, failed

    post, failed = asyncio.run(check())
    assert "الانتقام" in post.ocr_text
    assert failed[1].startswith("not an image")

    # The same poster, smaller and recompressed, as someone else would repost it.
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.resize((image.width // 2, image.height // 2))
    repost = tmp_path / "repost.jpg"
    repost.write_bytes(image_bytes(small, "JPEG", quality=45))
    result = runner.invoke(main, ["--db", str(db), "similar", str(repost), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert len(found["matches"]) == 1
    urls = {p["url"] for p in found["matches"][0]["posts"]}
    assert urls == {"https://t.me/militia_news/5", "https://t.me/sabereen/77"}
    assert found["matches"][0]["distance"] <= 10

    result = runner.invoke(main, ["--db", str(db), "similar", str(repost), "--max-distance", "0", "--json"])
    assert (
        json.loads(result.output)["matches"] == [] or json.loads(result.output)["matches"][0]["distance"] == 0
    )

    result = runner.invoke(main, ["--db", str(db), "ocr", "--pending"])
    assert result.exit_code == 0 and "posters read: 0, failed: 0" in result.output


def test_similar_on_a_bad_image_is_one_sentence(tmp_path, no_user_config):
    bad = tmp_path / "x.jpg"
    bad.write_text("hello")
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "a.db"), "similar", str(bad)])
    assert result.exit_code != 0
    assert "cannot read" in result.output and "not an image" in result.output
    assert "Traceback" not in result.output


def test_ocr_files_prints_text_and_failures(tmp_path, no_user_config):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    result = CliRunner().invoke(main, ["ocr", str(bad), "--json"])
    assert result.exit_code == 0
    [row] = json.loads(result.output)
    assert row["status"] == "failed" and "empty" in row["reason"]


def test_doctor_reports_tesseract_and_languages(tmp_path, no_user_config, monkeypatch):
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", "0123456789abcdef-secret")
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "a.db"), "doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    checks = {c["check"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert checks["tesseract"]["detail"].startswith("5.")
    # tesserocr built against the same Tesseract (./dev): the passes read in process
    assert checks["tesserocr"]["level"] == "ok"
    assert checks["tesseract"]["detail"].split()[0] in checks["tesserocr"]["detail"]
    assert "ara+eng" in checks["languages"]["detail"]
    assert checks["api hash"]["level"] == "ok"
    assert "0123456789abcdef-secret" not in result.output  # presence only, never the value
    # the clip readers: Debian's ffmpeg with libvpx, and rlottie drawing a sticker in its child
    assert checks["video"]["level"] == "ok" and checks["video"]["detail"].startswith("ffmpeg ")
    assert "libvpx" in checks["video"]["detail"]
    assert checks["stickers"] == {
        "level": "ok",
        "check": "stickers",
        "detail": "rlottie draws animated stickers (.tgs)",
    }


def test_doctor_without_tesseract_gives_the_install_command(tmp_path, no_user_config, monkeypatch):
    from ocr import tesseract

    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    tesseract._tesseract_info_cached.cache_clear()
    try:
        result = CliRunner().invoke(main, ["--db", str(tmp_path / "a.db"), "doctor", "--json"])
    finally:
        tesseract._tesseract_info_cached.cache_clear()
    assert result.exit_code == 1
    report = json.loads(result.output)
    [tess] = [c for c in report["checks"] if c["check"] == "tesseract"]
    assert tess["level"] == "fail"
    assert "apt-get install -y tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng" in tess["detail"]
    [video] = [c for c in report["checks"] if c["check"] == "video"]
    assert video["level"] == "warn" and "apt-get install -y ffmpeg" in video["detail"]


def test_doctor_says_when_clips_are_not_read(tmp_path, no_user_config):
    config = tmp_path / "config.toml"
    config.write_text("[ocr]\nvideo_max_bytes = 0\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--config", str(config), "--db", str(tmp_path / "a.db"), "doctor", "--json"]
    )
    checks = {c["check"]: c for c in json.loads(result.output)["checks"]}
    assert checks["video"]["detail"] == "clips and animated stickers are not read ([ocr] video_max_bytes = 0)"
    assert "stickers" not in checks


def test_ocr_pending_without_tesseract_is_one_sentence(tmp_path, no_user_config, monkeypatch):
    from ocr import tesseract

    save_posts(tmp_path / "a.db", tmp_path / "media", [])
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    tesseract._tesseract_info_cached.cache_clear()
    try:
        result = CliRunner().invoke(main, ["--db", str(tmp_path / "a.db"), "ocr", "--pending"])
    finally:
        tesseract._tesseract_info_cached.cache_clear()
    assert result.exit_code != 0
    assert "apt-get install -y tesseract-ocr" in result.output
    assert "Traceback" not in result.output
