"""A poster re-posted as another JPEG or at another size takes the reading of the one read before;
the next poster of the same countdown series (as near in pHash) is read itself."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive
from scripts.posters import render_poster
from tests.support.ocr import image_bytes

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def photo(data: bytes, mime: str) -> MediaItem:
    return MediaItem(kind="photo", is_image=True, content=data, mime_type=mime, size=len(data))


def save(db, media, posts) -> None:
    async def go():
        async with await Archive.open(db, media) as archive:
            for post in posts:
                await archive.save_post(post)

    asyncio.run(go())


def media_rows(db, media) -> dict[str, tuple]:
    async def go():
        async with await Archive.open(db, media) as archive:
            rows = await archive.fetchall(
                "SELECT sha256, ocr_status, ocr_text, ocr_doubtful, ocr_from FROM media"
            )
            posts = await archive.fetchall("SELECT message_id, ocr_text FROM posts")
            return {r[0]: r[1:] for r in rows}, dict(posts)

    return asyncio.run(go())


@pytest.mark.slow
def test_a_recompressed_repost_reuses_the_reading_and_the_next_countdown_is_read(tmp_path, no_user_config):
    db, media = tmp_path / "archive.db", tmp_path / "media"
    channel = Channel(id=1001, username="militia_news", title="Militia News")
    other = Channel(id=1002, username="sabereen", title="Sabereen")
    first = render_poster(["الرد قادم", "#باقي_٥٩_يوما"], "fire", 800, seed=5)
    save(
        db,
        media,
        [
            Post(
                channel=channel,
                message_id=1,
                date=WHEN,
                text="",
                media=[photo(image_bytes(first, "PNG"), "image/png")],
            )
        ],
    )
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(db), "ocr", "--pending", "--json"])
    assert result.exit_code == 0, result.output

    small = first.resize((first.width * 3 // 5, first.height * 3 // 5))
    repost = image_bytes(small, "JPEG", quality=45)
    nextday = render_poster(["الرد قادم", "#باقي_٥٨_يوما"], "fire", 800, seed=5)
    save(
        db,
        media,
        [
            Post(channel=other, message_id=2, date=WHEN, text="", media=[photo(repost, "image/jpeg")]),
            Post(
                channel=channel,
                message_id=3,
                date=WHEN,
                text="",
                media=[photo(image_bytes(nextday, "PNG"), "image/png")],
            ),
        ],
    )
    result = runner.invoke(main, ["--db", str(db), "ocr", "--pending", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"ocr_done": 2, "ocr_failed": 0}

    rows, posts = media_rows(db, media)
    read_itself = {sha: row for sha, row in rows.items() if row[3] is None}
    copied = {sha: row for sha, row in rows.items() if row[3] is not None}
    assert len(read_itself) == 2 and len(copied) == 1
    [(source_sha, copy)] = [(row[3], row) for row in copied.values()]
    assert rows[source_sha][1] == copy[1] and rows[source_sha][2] == copy[2]  # text and doubtful lines
    assert posts[2] == posts[1] and "قادم" in posts[2]
