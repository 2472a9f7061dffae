"""A live poster goes all the way: downloaded through Telethon, stored, read by Tesseract."""

from __future__ import annotations

import io

import pytest

from monitor.core.config import parse_config
from tests.support.daemon import CHANNEL_ID, eventually, make_server, posts_at_least, running_daemon


def poster_png() -> bytes:
    from scripts.posters import canonical_poster, render_poster

    spec = canonical_poster()
    image = render_poster(spec.lines, spec.background, spec.width, seed=spec.seed)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_live_poster_is_read_by_ocr(tmp_path):
    try:
        from ocr import OcrPool  # noqa: F401
    except ImportError:
        pytest.skip("the OCR pool is not there yet")
    config = parse_config(
        {
            "telegram": {"channels": ["@militia_news"]},
            "archive": {"path": str(tmp_path / "archive.db")},
            "ocr": {"enabled": True, "workers": 1},
        }
    )
    server = make_server()
    async with running_daemon(server, config, ocr=True) as daemon:
        server.post(CHANNEL_ID, "", photo=poster_png())
        archive = daemon.app.archive

        async def read() -> bool:
            post = await archive.post(CHANNEL_ID, 1)
            return post is not None and bool(post.ocr_text)

        await eventually(read, timeout=60, what="the poster's OCR text")
        post = await archive.post(CHANNEL_ID, 1)
        assert "VENGEANCE" in post.ocr_text.upper()
        media = await archive.fetchone("SELECT ocr_status FROM media")
        assert media[0] == "done"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_images_left_unread_by_a_crash_are_resumed(tmp_path):
    try:
        from ocr import OcrPool  # noqa: F401
    except ImportError:
        pytest.skip("the OCR pool is not there yet")
    from scripts.posters import render_poster

    image = render_poster(["VENGEANCE IS COMING"], "light", 700, seed=3)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    server = make_server()
    data = {
        "telegram": {"channels": ["@militia_news"]},
        "archive": {"path": str(tmp_path / "archive.db")},
        "ocr": {"enabled": True, "workers": 1},
    }
    config = parse_config(data)
    # First run without OCR (as if it crashed before reading): the image is stored, unread.
    async with running_daemon(server, config, ocr=False) as daemon:
        server.post(CHANNEL_ID, "", photo=buf.getvalue())
        await eventually(posts_at_least(daemon, 1))
        await daemon.intake.drain(5)
        row = await daemon.app.archive.fetchone("SELECT ocr_status FROM media")
        assert row[0] == "pending"
    async with running_daemon(server, config, ocr=True) as daemon:
        assert await daemon.resume_pending() >= 1
        post = await daemon.app.archive.post(CHANNEL_ID, 1)
        assert "VENGEANCE" in (post.ocr_text or "").upper()
