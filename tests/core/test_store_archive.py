"""The archive on a real SQLite file: schema, idempotent saves, versions, deletions, media, OCR."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from monitor.core.errors import ArchiveError
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import MIGRATIONS, Archive
from monitor.core.store.schema import split_sql
from tests.support.export import make_image

SABEREEN = Channel(id=1111, username="sabereen_test", title="صابرين")
OTHER = Channel(id=2222, username=None, title="قناة أخرى")
T0 = datetime(2021, 11, 2, 12, 0, tzinfo=UTC)

TABLES = ("channels", "posts", "post_versions", "media", "post_media", "posts_fts")


def post(message_id: int, text: str = "", channel: Channel = SABEREEN, **kw) -> Post:
    kw.setdefault("date", T0 + timedelta(minutes=message_id))
    return Post(channel=channel, message_id=message_id, text=text, **kw)


async def counts(archive: Archive) -> dict[str, int]:
    out = {}
    for table in TABLES:
        row = await archive.fetchone(f"SELECT count(*) FROM {table}")
        out[table] = row[0]
    return out


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        yield archive
    finally:
        await archive.close()


# --- opening, schema ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_new_archive_is_wal_and_fully_migrated(tmp_path):
    path = tmp_path / "sub" / "dir" / "archive.db"
    archive = await Archive.open(path)
    try:
        assert (await archive.fetchone("PRAGMA journal_mode"))[0] == "wal"
        assert (await archive.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS)
        assert archive.media_dir == path.parent / "media"
    finally:
        await archive.close()
    with sqlite3.connect(path) as conn:  # WAL is a property of the file, not the connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("SELECT 1 FROM posts_fts LIMIT 1")


@pytest.mark.asyncio
async def test_reopening_keeps_everything(tmp_path):
    path = tmp_path / "archive.db"
    archive = await Archive.open(path)
    await archive.save_post(post(1, "الانتقام قادم"))
    await archive.set_meta("k", "v")
    await archive.close()

    archive = await Archive.open(path)
    try:
        assert (await archive.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS)
        assert (await archive.post(SABEREEN.id, 1)).text == "الانتقام قادم"
        assert await archive.get_meta("k") == "v"
        assert [h.post.message_id for h in await archive.search("الانتقام")] == [1]
    finally:
        await archive.close()


@pytest.mark.asyncio
async def test_an_old_schema_is_migrated_step_by_step(tmp_path):
    path = tmp_path / "archive.db"
    with sqlite3.connect(path) as conn:
        for statement in split_sql(MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO channels (id, username, title, created_at, updated_at) VALUES (5, 'old', 'Old', 'x', 'x')"
        )
    conn.close()
    archive = await Archive.open(path)
    try:
        assert (await archive.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS)
        assert (await archive.find_channel("@old"))["id"] == 5
        columns = {r[1] for r in await archive.fetchall("PRAGMA table_info(alerts)")}
        assert "campaign_id" in columns  # step 2 ran
    finally:
        await archive.close()


@pytest.mark.asyncio
async def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "archive.db"
    archive = await Archive.open(path)
    await archive.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ArchiveError) as exc:
        await Archive.open(path)
    message = str(exc.value)
    assert str(path) in message
    assert "newer tgmonitor" in message
    assert "upgrade" in message


@pytest.mark.asyncio
async def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "archive.db"
    path.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(ArchiveError, match="not a usable tgmonitor archive"):
        await Archive.open(path)


# --- saving posts ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_saving_the_same_post_twice_changes_nothing(archive):
    p = post(
        7,
        "بيان: الانتقام قادم",
        entities=[{"type": "hashtag", "offset": 0, "length": 4}],
        views=10,
        fwd_from_name="قناة",
        reply_to=3,
        raw={"id": 7},
    )
    first = await archive.save_post(p)
    assert first.status == "new"
    before = await counts(archive)
    stamp = await archive.fetchone("SELECT updated_at, first_seen_at FROM posts")

    again = await archive.save_post(
        post(
            7,
            "بيان: الانتقام قادم",
            entities=[{"type": "hashtag", "offset": 0, "length": 4}],
            views=10,
            fwd_from_name="قناة",
            reply_to=3,
            raw={"id": 7},
        )
    )
    assert again.status == "unchanged"
    assert again.post_id == first.post_id
    assert again.previous_text is None
    assert await counts(archive) == before
    assert tuple(await archive.fetchone("SELECT updated_at, first_seen_at FROM posts")) == tuple(stamp)
    assert before["posts"] == 1 and before["post_versions"] == 0 and before["posts_fts"] == 1


@pytest.mark.asyncio
async def test_post_fields_round_trip(archive):
    edit = T0 + timedelta(hours=3)
    await archive.save_post(
        post(
            9,
            "نص",
            views=5,
            forwards=2,
            fwd_from_id=99,
            fwd_from_name="مصدر",
            reply_to=8,
            grouped_id=123,
            edit_date=edit,
            author="admin",
            source="import",
            entities=[{"type": "bold", "offset": 0, "length": 2}],
        )
    )
    record = await archive.post(SABEREEN.id, 9)
    assert record.date == T0 + timedelta(minutes=9)
    assert record.date.tzinfo is not None
    assert (record.views, record.forwards, record.fwd_from_id, record.fwd_from_name) == (5, 2, 99, "مصدر")
    assert (record.reply_to, record.grouped_id, record.edit_date, record.author) == (8, 123, edit, "admin")
    assert record.entities == [{"type": "bold", "offset": 0, "length": 2}]
    assert record.source == "import"
    assert record.url == "https://t.me/sabereen_test/9"
    assert (await archive.post(SABEREEN.id, 10)) is None
    assert await archive.last_message_id(SABEREEN.id) == 9
    assert await archive.last_message_id(OTHER.id) is None


@pytest.mark.asyncio
async def test_a_changed_text_keeps_the_old_one_as_a_version(archive):
    first = await archive.save_post(post(4, "النص الأول"))
    result = await archive.save_post(post(4, "النص المعدل", edit_date=T0 + timedelta(hours=1)))
    assert result.status == "updated"
    assert result.post_id == first.post_id
    assert result.previous_text == "النص الأول"
    record = await archive.post(SABEREEN.id, 4)
    assert record.text == "النص المعدل"
    assert record.edit_date == T0 + timedelta(hours=1)
    versions = await archive.versions(first.post_id)
    assert [v["text"] for v in versions] == ["النص الأول"]
    # The index follows the current text only.
    assert [h.post.message_id for h in await archive.search("المعدل")] == [4]
    assert await archive.search("الأول") == []
    # A third edit keeps both older texts, oldest first.
    await archive.save_post(post(4, "النص الثالث"))
    assert [v["text"] for v in await archive.versions(first.post_id)] == ["النص الأول", "النص المعدل"]
    assert (await archive.stats())["edited_versions"] == 2


@pytest.mark.asyncio
async def test_changed_entities_alone_make_a_version(archive):
    await archive.save_post(post(4, "عاجل"))
    result = await archive.save_post(post(4, "عاجل", entities=[{"type": "bold", "offset": 0, "length": 4}]))
    assert result.status == "updated"
    assert len(await archive.versions(result.post_id)) == 1


@pytest.mark.asyncio
async def test_new_view_counts_update_without_a_version(archive):
    await archive.save_post(post(4, "عاجل", views=10))
    result = await archive.save_post(post(4, "عاجل", views=50))
    assert result.status == "unchanged"
    assert (await archive.post(SABEREEN.id, 4)).views == 50
    assert await archive.versions(result.post_id) == []


@pytest.mark.asyncio
async def test_a_batch_with_the_same_message_twice(archive):
    results = await archive.save_posts([post(1, "a"), post(2, "b"), post(1, "a")])
    assert [r.status for r in results] == ["new", "new", "unchanged"]
    assert results[0].post_id == results[2].post_id
    assert (await counts(archive))["posts"] == 2


@pytest.mark.asyncio
async def test_post_ids_sort_by_date_even_in_the_same_second(archive):
    same = T0
    posts = [post(i, f"post {i}", date=same) for i in range(1, 30)] + [
        post(100, "later", date=same + timedelta(seconds=1))
    ]
    results = await archive.save_posts(posts)
    ids = [r.post_id for r in results]
    assert len(set(ids)) == len(ids)
    assert max(ids[:-1]) < ids[-1]


@pytest.mark.asyncio
async def test_mark_deleted_keeps_the_content(archive):
    await archive.save_posts([post(1, "سيبقى محفوظا"), post(2, "آخر")])
    assert await archive.mark_deleted(SABEREEN.id, [1, 99]) == 1
    assert await archive.mark_deleted(SABEREEN.id, [1]) == 0  # already marked
    assert await archive.mark_deleted(SABEREEN.id, []) == 0
    record = await archive.post(SABEREEN.id, 1)
    assert record.deleted is True
    assert record.text == "سيبقى محفوظا"
    assert (await archive.post(SABEREEN.id, 2)).deleted is False
    hits = await archive.search("محفوظا")
    assert [h.post.message_id for h in hits] == [1] and hits[0].post.deleted
    assert (await archive.stats())["deleted_posts"] == 1


@pytest.mark.asyncio
async def test_channels_are_upserted_and_found(archive):
    await archive.save_post(post(1, "x"))
    await archive.upsert_channel(Channel(id=SABEREEN.id, username=None, title="صابرين الجديدة"))
    row = await archive.find_channel("@sabereen_test")
    assert row["title"] == "صابرين الجديدة"  # a missing username does not erase the known one
    assert (await archive.find_channel("https://t.me/sabereen_test"))["id"] == SABEREEN.id
    assert (await archive.find_channel(f"-100{SABEREEN.id}"))["id"] == SABEREEN.id
    assert (await archive.find_channel(SABEREEN.id))["id"] == SABEREEN.id
    assert (await archive.find_channel("صابرين الجديدة"))["id"] == SABEREEN.id
    assert await archive.find_channel("@nobody") is None
    await archive.set_channel_status(SABEREEN.id, "banned", "removed by Telegram")
    stats = await archive.stats()
    assert stats["per_channel"][0]["status"] == "banned"
    assert stats["per_channel"][0]["status_reason"] == "removed by Telegram"


# --- media ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_media_is_stored_once_even_when_two_channels_share_it(archive, tmp_path):
    poster = make_image(tmp_path / "in" / "poster.jpg")
    copy = tmp_path / "elsewhere" / "same.jpg"
    copy.parent.mkdir()
    copy.write_bytes(poster.read_bytes())

    def photo(path: Path) -> MediaItem:
        return MediaItem(kind="photo", is_image=True, path=path, mime_type="image/jpeg")

    a = await archive.save_post(post(1, "ملصق", media=[photo(poster)]))
    b = await archive.save_post(post(50, "نفس الملصق", channel=OTHER, media=[photo(copy)]))
    assert a.new_media == b.new_media and len(a.new_media) == 1
    sha = a.new_media[0]
    rows = await archive.fetchall("SELECT sha256, path, size FROM media")
    assert [r[0] for r in rows] == [sha]
    stored = archive.media_dir / rows[0][1]
    assert stored.read_bytes() == poster.read_bytes()
    assert rows[0][2] == poster.stat().st_size
    files = [p for p in archive.media_dir.rglob("*") if p.is_file()]
    assert files == [stored]
    assert [p.channel_id for p in await archive.posts_with_media(sha)] == [SABEREEN.id, OTHER.id]
    assert [m.sha256 for m in await archive.pending_ocr(10)] == [sha]
    # Saving a post again does not offer its image for reading again.
    again = await archive.save_post(post(1, "ملصق", media=[photo(poster)]))
    assert again.new_media == []
    assert (await archive.stats())["images"] == 1


@pytest.mark.asyncio
async def test_media_from_bytes_and_store_media(archive, tmp_path):
    data = make_image(tmp_path / "p.png", fmt="PNG").read_bytes()
    sha = await archive.store_media(
        MediaItem(kind="photo", is_image=True, content=data, mime_type="image/png")
    )
    record = await archive.media(sha)
    assert record.path.suffix == ".png"
    assert record.path.read_bytes() == data
    assert record.ocr_status == "pending"
    result = await archive.save_post(
        post(3, "", media=[MediaItem(kind="photo", is_image=True, content=data, mime_type="image/png")])
    )
    assert result.new_media == [sha]
    assert (await archive.fetchone("SELECT count(*) FROM media"))[0] == 1
    assert await archive.store_media(MediaItem(kind="photo", missing_reason="gone")) is None


@pytest.mark.asyncio
async def test_a_non_image_document_is_not_queued_for_ocr(archive):
    pdf = MediaItem(kind="document", is_image=False, content=b"%PDF-1.4 " * 8, mime_type="application/pdf")
    result = await archive.save_post(post(1, "بيان", media=[pdf]))
    assert result.new_media == []
    row = await archive.fetchone("SELECT ocr_status, is_image, path FROM media")
    assert (row[0], row[1]) == ("skipped", 0)
    assert await archive.pending_ocr(10) == []
    assert (await archive.stats())["images"] == 0


@pytest.mark.asyncio
async def test_a_clip_is_queued_for_reading_at_its_key_frames(archive):
    video = MediaItem(kind="video_file", is_image=False, content=b"\x00" * 64, mime_type="video/mp4")
    sticker = MediaItem(kind="sticker", is_image=False, content=b"\x1a\x45\xdf\xa3", mime_type="video/webm")
    result = await archive.save_post(post(1, "فيديو", media=[video, sticker]))
    assert len(result.new_media) == 2
    rows = await archive.fetchall("SELECT ocr_status, is_image, path FROM media ORDER BY path")
    assert [(r[0], r[1]) for r in rows] == [("pending", 0), ("pending", 0)]
    assert sorted(r[2].rsplit(".", 1)[1] for r in rows) == ["mp4", "webm"]  # the suffix the reader goes by
    assert len(await archive.pending_ocr(10)) == 2
    assert await archive.posts_awaiting_ocr([result.post_id]) == {result.post_id}
    stats = await archive.stats()
    assert (stats["images"], stats["ocr_pending"], stats["clips_read"]) == (
        0,
        2,
        0,
    )  # doctor says "2 ... clips"


@pytest.mark.asyncio
async def test_missing_media_is_recorded(archive, tmp_path):
    items = [
        MediaItem(kind="photo", is_image=True, missing_reason="not included in export"),
        MediaItem(kind="photo", is_image=True, path=tmp_path / "vanished.jpg"),
    ]
    result = await archive.save_post(post(1, "بلا صورة", media=items))
    assert result.status == "new" and result.new_media == []
    rows = await archive.post_media(result.post_id)
    assert [r["sha256"] for r in rows] == [None, None]
    assert rows[0]["missing_reason"] == "not included in export"
    assert "vanished.jpg" in rows[1]["missing_reason"]
    assert (await archive.stats())["media_missing"] == 2


@pytest.mark.asyncio
async def test_a_missing_file_found_later_fills_the_gap(archive, tmp_path):
    missing = MediaItem(kind="photo", is_image=True, missing_reason="not included in export")
    result = await archive.save_post(post(1, "ملصق", media=[missing]))
    poster = make_image(tmp_path / "poster.jpg")
    later = await archive.save_post(
        post(1, "ملصق", media=[MediaItem(kind="photo", is_image=True, path=poster, mime_type="image/jpeg")])
    )
    assert later.post_id == result.post_id and len(later.new_media) == 1
    rows = await archive.post_media(result.post_id)
    assert rows[0]["sha256"] == later.new_media[0] and rows[0]["missing_reason"] is None
    # ... and a later import without the file does not forget it.
    await archive.save_post(post(1, "ملصق", media=[missing]))
    assert (await archive.post_media(result.post_id))[0]["sha256"] == later.new_media[0]


# --- OCR results ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_what_was_read_before_a_time_is_listed_once_page_by_page(archive):
    """``ocr --again``'s list: read (done or failed) before the cut-off or at no known time,
    oldest stored first, each once across pages; pending and skipped images are not read again,
    and one read since the cut-off is done. A copy of a poster finds only readings since then."""
    shas = []
    for n in range(7):
        item = MediaItem(kind="photo", is_image=True, content=f"poster {n}".encode(), mime_type="image/png")
        shas.append((await archive.save_post(post(n + 1, media=[item]))).new_media[0])
    await archive.set_ocr_result(shas[0], "done", text="باقي ٥٩ يوما", phash="00ff00ff00ff00ff")
    await archive.set_ocr_result(shas[1], "failed", reason="not an image")
    await archive.set_ocr_result(shas[2], "done", text="")
    await archive.set_ocr_result(shas[3], "skipped", reason="clip over video_max_bytes")
    await archive.set_ocr_result(shas[5], "done", text="الرد قادم")
    await archive.set_ocr_result(shas[6], "done", text="#الانتقام_قادم")
    async with archive.transaction() as tx:  # as an old version left them: read long ago, or no time kept
        await tx.execute(
            "UPDATE media SET ocr_at = '2021-01-01T00:00:00+00:00' WHERE sha256 IN (?, ?, ?)", shas[:3]
        )
        await tx.execute("UPDATE media SET ocr_at = NULL WHERE sha256 = ?", (shas[5],))
    cutoff = "2022-01-01T00:00:00+00:00"  # shas[6] was read after it (now)

    listed, place = [], None
    for _ in range(10):  # pages of two: three are enough, a fourth is empty
        page = await archive.read_before(cutoff, 2, after=place)
        if not page:
            break
        listed += [media.sha256 for media, _ in page]
        place = page[-1][1]
    assert len(listed) == len(set(listed))  # each once, though every page asks again
    assert sorted(listed) == sorted([shas[0], shas[1], shas[2], shas[5]])  # not pending 4, skipped 3, nor 6
    assert await archive.count_read_before(cutoff) == 4
    early = await archive.read_before("2020-01-01T00:00:00+00:00")
    assert [media.sha256 for media, _ in early] == [shas[5]]  # before every known time: no time kept

    assert (await archive.read_near("00ff00ff00ff00ff", 0))[0].sha256 == shas[0]
    assert await archive.read_near("00ff00ff00ff00ff", 0, read_since=cutoff) is None
    await archive.set_ocr_result(shas[0], "done", text="باقي ٥٩ يوما", phash="00ff00ff00ff00ff")
    assert (await archive.read_near("00ff00ff00ff00ff", 0, read_since=cutoff))[0].sha256 == shas[0]
    assert shas[0] not in [media.sha256 for media, _ in await archive.read_before(cutoff)]


@pytest.mark.asyncio
async def test_ocr_text_is_indexed_for_every_post_that_carries_the_image(archive):
    image = MediaItem(kind="photo", is_image=True, content=b"poster-bytes", mime_type="image/jpeg")
    a = await archive.save_post(post(1, "ملصق جديد", media=[image]))
    image2 = MediaItem(kind="photo", is_image=True, content=b"poster-bytes", mime_type="image/jpeg")
    b = await archive.save_post(post(2, "", channel=OTHER, media=[image2]))
    sha = a.new_media[0]
    assert await archive.search("العبوات") == []

    changed = await archive.set_ocr_result(
        sha, "done", text="وبالعبوات النَّاسفة", phash="ffee", width=640, height=480
    )
    assert sorted(changed) == sorted([a.post_id, b.post_id])
    hits = await archive.search("العبوات")
    assert {h.post.message_id for h in hits} == {1, 2}
    assert all(h.post.ocr_text == "وبالعبوات النَّاسفة" for h in hits)
    assert any(h.snippet.startswith("[poster]") for h in hits)
    media = await archive.media(sha)
    assert (media.ocr_status, media.phash, media.width, media.height) == ("done", "ffee", 640, 480)
    assert await archive.pending_ocr(10) == []
    assert await archive.media_by_phash() == [(sha, "ffee")]

    # A third channel re-shares the poster: it gets the OCR text at once and nobody reads it again.
    image3 = MediaItem(kind="photo", is_image=True, content=b"poster-bytes", mime_type="image/jpeg")
    c = await archive.save_post(post(3, "", channel=Channel(id=3333, title="ثالثة"), media=[image3]))
    assert (await archive.post(3333, 3)).ocr_text == "وبالعبوات النَّاسفة"
    assert c.new_media == [sha]  # newly linked, but already read
    assert await archive.pending_ocr(10) == []
    assert len(await archive.search("الناسفة")) == 3

    stats = await archive.stats()
    assert (stats["images"], stats["ocr_done"], stats["ocr_failed"], stats["ocr_pending"]) == (1, 1, 0, 0)


@pytest.mark.asyncio
async def test_an_edit_keeps_the_ocr_text_in_the_index(archive):
    image = MediaItem(kind="photo", is_image=True, content=b"img", mime_type="image/jpeg")
    result = await archive.save_post(post(1, "قبل", media=[image]))
    await archive.set_ocr_result(result.new_media[0], "done", text="ملصق التهديد")
    await archive.save_post(post(1, "بعد التعديل"))
    assert [h.post.message_id for h in await archive.search("التهديد")] == [1]
    assert [h.post.message_id for h in await archive.search("التعديل")] == [1]
    assert await archive.search("قبل") == []


@pytest.mark.asyncio
async def test_failed_ocr_is_counted(archive):
    result = await archive.save_post(
        post(1, "", media=[MediaItem(kind="photo", is_image=True, content=b"x", mime_type="image/jpeg")])
    )
    await archive.set_ocr_result(result.new_media[0], "failed", reason="not an image")
    stats = await archive.stats()
    assert (stats["ocr_done"], stats["ocr_failed"]) == (0, 1)
    assert (await archive.post(SABEREEN.id, 1)).ocr_text is None


# --- stats and meta ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stats_counts(archive):
    empty = await archive.stats()
    for key in ("channels", "posts", "images", "ocr_done", "ocr_failed", "alerts", "pending_deliveries"):
        assert empty[key] == 0
    assert empty["per_channel"] == []

    await archive.save_posts([post(1, "a"), post(2, "b"), post(3, "c", channel=OTHER)])
    async with archive.transaction() as conn:
        await conn.execute(
            "INSERT INTO alerts (kind, fingerprint, severity, created_at, body) VALUES ('post', 'f1', 'high', 'x', '{}')"
        )
        await conn.execute("INSERT INTO deliveries (alert_id, sink, status) VALUES (1, 'console', 'pending')")
        await conn.execute("INSERT INTO deliveries (alert_id, sink, status) VALUES (1, 'jsonl', 'delivered')")
    stats = await archive.stats()
    assert (stats["channels"], stats["posts"], stats["alerts"], stats["pending_deliveries"]) == (2, 3, 1, 1)
    per = {c["channel_id"]: c for c in stats["per_channel"]}
    assert per[SABEREEN.id]["posts"] == 2 and per[SABEREEN.id]["last_message_id"] == 2
    assert per[OTHER.id]["posts"] == 1 and per[OTHER.id]["title"] == "قناة أخرى"


@pytest.mark.asyncio
async def test_meta_round_trip(archive):
    assert await archive.get_meta("missing") is None
    await archive.set_meta("last_gapfill", "2021-11-02T12:00:00+00:00")
    await archive.set_meta("last_gapfill", "2021-11-03T12:00:00+00:00")
    assert await archive.get_meta("last_gapfill") == "2021-11-03T12:00:00+00:00"


@pytest.mark.asyncio
async def test_a_failed_transaction_is_rolled_back(archive):
    with pytest.raises(sqlite3.IntegrityError):
        async with archive.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '2')")
    assert await archive.get_meta("a") is None
    await archive.set_meta("b", "ok")  # the connection is usable afterwards
    assert await archive.get_meta("b") == "ok"


@pytest.mark.asyncio
async def test_concurrent_saves_share_the_one_writer(archive):
    posts = [post(i, f"منشور {i}") for i in range(1, 41)]
    results = await asyncio.gather(
        *(archive.save_post(p) for p in posts),
        *(archive.save_post(post(1, "منشور 1")) for _ in range(5)),
        archive.mark_deleted(SABEREEN.id, [2]),
        archive.set_meta("x", "y"),
    )
    assert {r.post_id for r in results[:40]} == {r[0] for r in await archive.fetchall("SELECT id FROM posts")}
    assert (await counts(archive))["posts"] == 40
    assert (await counts(archive))["posts_fts"] == 40


@pytest.mark.asyncio
async def test_an_unwritable_media_store_is_one_archive_error(tmp_path):
    blocker = tmp_path / "media"
    blocker.write_bytes(b"a file where the media directory should be")
    archive = await Archive.open(tmp_path / "a.db", blocker)
    try:
        image = MediaItem(kind="photo", is_image=True, content=b"poster", mime_type="image/jpeg")
        with pytest.raises(ArchiveError, match="cannot write to the media store"):
            await archive.save_post(post(1, "ملصق", media=[image]))
        assert (await counts(archive))["posts"] == 0  # nothing half-saved
        await archive.save_post(post(2, "بلا صورة"))  # the archive itself still works
    finally:
        await archive.close()


@pytest.mark.asyncio
async def test_two_processes_worth_of_writers_on_one_file(tmp_path):
    # The daemon and a CLI import may hold the same archive: WAL plus busy_timeout serialise them.
    path = tmp_path / "shared.db"
    first = await Archive.open(path)
    second = await Archive.open(path)
    try:
        await asyncio.gather(
            *(first.save_post(post(i, f"من الأول {i}")) for i in range(1, 31)),
            *(second.save_post(post(i, f"من الثاني {i}", channel=OTHER)) for i in range(1, 31)),
        )
        assert (await first.stats())["posts"] == 60
        assert len(await second.search("الأول", limit=100)) == 30
    finally:
        await first.close()
        await second.close()


@pytest.mark.asyncio
async def test_a_step_that_adds_columns_an_archive_has_runs_again_harmlessly(tmp_path):
    # Steps are renumbered when branches merge: an archive may already hold a step's columns
    # (the OCR doubtful lines, issue 18) under another step number, and must still open.
    path = tmp_path / "archive.db"
    archive = await Archive.open(path)
    await archive.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    conn.close()
    archive = await Archive.open(path)
    try:
        assert (await archive.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS)
        columns = {r[1] for r in await archive.fetchall("PRAGMA table_info(media)")}
        assert {"ocr_doubtful", "ocr_from"} <= columns
    finally:
        await archive.close()


async def wait_until(condition, what: str, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_a_write_cancelled_while_it_waits_to_begin_leaves_no_open_transaction(tmp_path):
    # The daemon cancels its tasks at shutdown; one may be waiting for BEGIN IMMEDIATE, which
    # aiosqlite still runs on the connection's thread. Its transaction must not stay open, or the
    # next write fails with "cannot start a transaction within a transaction".
    path = tmp_path / "a.db"
    archive = await Archive.open(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file: BEGIN waits on it
        started = asyncio.Event()

        async def write() -> None:
            started.set()
            await archive.set_meta("cancelled", "never")

        task = asyncio.create_task(write())
        await started.wait()
        await asyncio.sleep(0.05)  # the BEGIN is on the connection's thread, in its busy wait
        task.cancel()
        other.execute("ROLLBACK")  # the BEGIN now goes through, on the thread
        with pytest.raises(asyncio.CancelledError):
            await task
        await archive.set_meta("after", "ok")
        assert await archive.get_meta("after") == "ok"
        assert await archive.get_meta("cancelled") is None
    finally:
        other.close()
        await archive.close()


@pytest.mark.asyncio
async def test_a_write_cancelled_while_it_waits_for_the_import_gate_hands_the_gate_back(tmp_path):
    gate = threading.Lock()
    archive = await Archive.open(tmp_path / "a.db", write_gate=gate)
    try:
        gate.acquire()  # another import worker is writing
        task = asyncio.create_task(archive.set_meta("cancelled", "never"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.release()  # the waiting thread takes the gate, and must give it back
        await wait_until(lambda: not gate.locked(), "the gate to be handed back")
        await asyncio.wait_for(archive.set_meta("after", "ok"), 10)
        assert await archive.get_meta("after") == "ok"
        assert await archive.get_meta("cancelled") is None
    finally:
        await archive.close()
