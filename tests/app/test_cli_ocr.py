"""`tgmonitor ocr --pending`, `similar` and `doctor` on a real archive with real posters."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from PIL import Image

from monitor.cli import main
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive
from ocr.hashing import perceptual_hash
from ocr.video import NO_PICTURE
from tests.support.clips import sound_only_clip
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
    assert checks["reading"]["detail"].startswith("thorough: ")  # the default
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


def test_doctor_names_the_configured_reading(tmp_path, no_user_config):
    from monitor.core.config import READINGS
    from ocr.settings import READING_PASSES

    assert set(READINGS) == set(READING_PASSES)  # every reading the config takes has its passes
    config = tmp_path / "config.toml"
    for reading in READINGS:  # and doctor says each
        config.write_text(f'[ocr]\nreading = "{reading}"\n', encoding="utf-8")
        args = ["--config", str(config), "--db", str(tmp_path / "a.db"), "doctor", "--json"]
        checks = {c["check"]: c for c in json.loads(CliRunner().invoke(main, args).output)["checks"]}
        assert checks["reading"]["level"] == "ok"
        assert checks["reading"]["detail"].startswith(f"{reading}: "), reading
    assert checks["reading"]["detail"].startswith("thorough: every plane")


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


@pytest.mark.slow
def test_again_reads_what_an_older_version_read_and_keeps_what_it_cannot_read(tmp_path, no_user_config):
    """An archive an older version read (a junk line every pass kept, as before ``ocr.evidence``):
    ``ocr --again`` replaces the reading with the OCR's as it is now, in the post and in search;
    a poster whose read fails now keeps its earlier reading; a failed file is tried again; a run
    with an earlier cut-off has nothing left to do, and reading again raises no alert twice."""
    db, media = tmp_path / "archive.db", tmp_path / "media"
    arabic = write_poster(tmp_path, "arabic-light").read_bytes()  # الانتقام قادم / #الرد_قادم
    english = write_poster(tmp_path, "english-dark").read_bytes()  # HELL IS COMING / 72 HOURS LEFT
    channel = Channel(id=1001, username="militia_news", title="Militia News")
    when = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

    def photo(data: bytes, mime: str = "image/png") -> MediaItem:
        return MediaItem(kind="photo", is_image=True, content=data, mime_type=mime, size=len(data))

    # The Arabic poster re-posted smaller and recompressed, stored first: read again first, it
    # must not copy its original's old reading.
    image = Image.open(io.BytesIO(arabic)).convert("RGB")
    repost = image_bytes(image.resize((image.width * 3 // 4, image.height * 3 // 4)), "JPEG", quality=60)
    save_posts(
        db,
        media,
        [Post(channel=channel, message_id=4, date=when, text="", media=[photo(repost, "image/jpeg")])],
    )
    save_posts(
        db,
        media,
        [
            Post(channel=channel, message_id=5, date=when, text="", media=[photo(arabic)]),
            Post(channel=channel, message_id=6, date=when, text="", media=[photo(english)]),
            Post(channel=channel, message_id=7, date=when, text="", media=[photo(b"junk", "image/jpeg")]),
        ],
    )

    async def shas():
        async with await Archive.open(db, media) as archive:
            rows = await archive.fetchall(
                "SELECT pm.post_id, p.message_id, pm.sha256 FROM post_media pm JOIN posts p ON p.id = pm.post_id"
            )
            return {row[1]: row[2] for row in rows}

    sha = asyncio.run(shas())

    async def as_an_older_version_left_it():
        async with await Archive.open(db, media) as archive:
            original = perceptual_hash(Image.open(io.BytesIO(arabic)))
            await archive.set_ocr_result(sha[5], "done", text="الانتقام قادم\nied BLAZER", phash=original)
            await archive.set_ocr_result(sha[4], "done", text="الانتقام قادم\nied BLAZER", copied_from=sha[5])
            await archive.set_ocr_result(sha[6], "done", text="HELL IS COMING\nied BLAZER")
            await archive.set_ocr_result(sha[7], "failed", reason="an older reason")
            (await archive.media(sha[6])).path.write_bytes(b"no longer a picture")  # its read will fail

    asyncio.run(as_an_older_version_left_it())
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(db), "search", "BLAZER", "--json"])
    assert len(json.loads(result.output)) == 3

    args = ["--db", str(db), "ocr", "--again", "--read-before", "2100-01-01", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary == {"read_before": "2100-01-01T00:00:00+00:00", "ocr_done": 2, "ocr_failed": 2, "kept": 1}

    async def after():
        async with await Archive.open(db, media) as archive:
            rows = await archive.fetchall("SELECT sha256, ocr_status, ocr_reason FROM media")
            alerts = await archive.fetchall("SELECT count(*) FROM alerts")
            return (
                await archive.post(1001, 4),
                await archive.post(1001, 5),
                await archive.post(1001, 6),
                {r[0]: (r[1], r[2]) for r in rows},
                alerts[0][0],
            )

    repost_post, arabic_post, english_post, status, alerts = asyncio.run(after())
    assert "الانتقام قادم" in arabic_post.ocr_text and "BLAZER" not in arabic_post.ocr_text
    assert "الانتقام قادم" in repost_post.ocr_text and "BLAZER" not in repost_post.ocr_text
    assert english_post.ocr_text == "HELL IS COMING\nied BLAZER"  # its read failed: the earlier one stays
    assert status[sha[6]] == ("done", None)
    assert status[sha[7]][0] == "failed" and status[sha[7]][1] != "an older reason"
    hits = json.loads(runner.invoke(main, ["--db", str(db), "search", "BLAZER", "--json"]).output)
    assert [hit["message_id"] for hit in hits] == [6]
    assert alerts >= 1  # الانتقام قادم on the poster alerts (archived, not sent)

    result = runner.invoke(main, ["--db", str(db), "ocr", "--again", "--read-before", "2000-01-01", "--json"])
    assert json.loads(result.output.strip().splitlines()[-1])["ocr_done"] == 0

    result = runner.invoke(main, args)  # everything read again once more: the same verdicts
    assert json.loads(result.output.strip().splitlines()[-1])["ocr_done"] == 2
    assert asyncio.run(after())[4] == alerts


def test_a_clip_not_read_now_keeps_what_an_older_version_read(tmp_path, no_user_config):
    """Videos turned off since (``[ocr] video_max_bytes = 0``): the clip is skipped, not read
    again, and its earlier reading (its lines and their times) stays in the post."""
    db, media = tmp_path / "archive.db", tmp_path / "media"
    clip = MediaItem(kind="video", content=b"an mp4 an older version read", mime_type="video/mp4")
    channel = Channel(id=1001, username="militia_news", title="Militia News")
    when = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    save_posts(db, media, [Post(channel=channel, message_id=9, date=when, text="", media=[clip])])
    earlier = "[video 0:17] باقي ٥٩ يوما"

    async def read_by_an_older_version():
        async with await Archive.open(db, media) as archive:
            (row,) = await archive.fetchall("SELECT sha256 FROM media")
            await archive.set_ocr_result(row[0], "done", text=earlier)

    asyncio.run(read_by_an_older_version())
    config = tmp_path / "config.toml"
    config.write_text("[ocr]\nvideo_max_bytes = 0\n", encoding="utf-8")
    args = ["--db", str(db), "--config", str(config), "ocr", "--again", "--read-before", "2100-01-01"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["ocr_done"], summary["ocr_failed"], summary["kept"]) == (0, 0, 1)

    async def post_text():
        async with await Archive.open(db, media) as archive:
            return (await archive.post(1001, 9)).ocr_text

    assert asyncio.run(post_text()) == earlier
    result = CliRunner().invoke(main, args)
    assert "read again: 0, failed: 0; 1 kept their earlier reading" in result.output


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_again_records_a_clip_of_sound_alone_as_skipped_not_failed(tmp_path, no_user_config):
    """An older version recorded an MP4 without a picture as failed, with FFmpeg's advice on its
    options; read again, it is skipped with the sentence, and not listed to be read again."""
    db, media = tmp_path / "archive.db", tmp_path / "media"
    sound = sound_only_clip(tmp_path / "tone.mp4").read_bytes()
    clip = MediaItem(kind="video", content=sound, mime_type="video/mp4", size=len(sound))
    channel = Channel(id=1001, username="militia_news", title="Militia News")
    when = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    save_posts(db, media, [Post(channel=channel, message_id=9, date=when, text="", media=[clip])])
    older = "ffmpeg: Stream map '0:v:0' matches no streams.; To ignore this, add a trailing '?' to the map."

    async def status(record: str | None = None) -> tuple[str, str]:
        async with await Archive.open(db, media) as archive:
            (row,) = await archive.fetchall("SELECT sha256 FROM media")
            if record is not None:
                await archive.set_ocr_result(row[0], "failed", reason=record)
            found = await archive.fetchone("SELECT ocr_status, ocr_reason FROM media")
            return found[0], found[1]

    assert asyncio.run(status(older)) == ("failed", older)
    args = ["--db", str(db), "ocr", "--again", "--read-before", "2100-01-01", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["ocr_done"], summary["ocr_failed"], summary["kept"]) == (0, 0, 0)
    assert asyncio.run(status()) == ("skipped", NO_PICTURE)
    again = json.loads(CliRunner().invoke(main, args).output.strip().splitlines()[-1])
    assert again["ocr_done"] == again["ocr_failed"] == 0  # skipped: nothing left to read again


def test_again_takes_no_files_and_read_before_needs_it(tmp_path, no_user_config):
    save_posts(tmp_path / "a.db", tmp_path / "media", [])
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(tmp_path / "a.db"), "ocr", "--again", "--pending"])
    assert result.exit_code == 2 and "one of them" in result.output
    result = runner.invoke(main, ["--db", str(tmp_path / "a.db"), "ocr", "--pending", "--read-before", "7d"])
    assert result.exit_code == 2 and "--read-before goes with --again" in result.output
    result = runner.invoke(main, ["--db", str(tmp_path / "a.db"), "ocr", "--again", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["ocr_done"] == 0
