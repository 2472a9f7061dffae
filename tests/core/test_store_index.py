"""The contentless search index (schema step 3) and batches planned before the write lock."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from monitor.core.models import Channel, Post
from monitor.core.store import INDEX_VERSION, MIGRATIONS, Archive
from monitor.core.store.schema import split_sql
from monitor.core.store.search import fts_row

CHANNEL = Channel(id=4242, username="index_test", title="فهرس")
T0 = datetime(2022, 3, 1, 9, 0, tzinfo=UTC)

# Every step of the normaliser and of the extra index words, in one text.
PROBE = (
    "وَالانْتِقَامُ قادمٌ #الانتقام_قادم #RevengeIsComing باقي ٥٩ يوما، الأمريكيّ "
    "Ｆｕｌｌｗｉｄｔｈ café ــــــ ﻻ للمجاهدين وبالعبوات !!! 3days الان\u2060تقام ᅠ\U000e0041 ❤\ufe0f"
)
PROBE_DIGEST = "fa84c5113982d476896a2d7d5721de4c60ada3c8"


def post(message_id: int, text: str, **kw) -> Post:
    kw.setdefault("date", T0 + timedelta(minutes=message_id))
    return Post(channel=CHANNEL, message_id=message_id, text=text, **kw)


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        yield archive
    finally:
        await archive.close()


async def found(archive: Archive, query: str) -> list[int]:
    return [h.post.message_id for h in await archive.search(query, limit=100)]


def test_the_index_rows_are_pinned_to_the_index_version():
    """A change to what the index holds needs a new INDEX_VERSION: old archives are then rebuilt.

    The contentless index removes a row by the values it was indexed with; an archive indexed by
    another normaliser would be left with stale words.
    """
    body, extra = fts_row(PROBE, "نص الملصق: الانتقام")
    digest = hashlib.sha1(f"{body}\x00{extra}".encode()).hexdigest()
    assert (INDEX_VERSION, digest) == ("2", PROBE_DIGEST), (
        "fts_row's output changed: bump INDEX_VERSION in monitor/core/store/schema.py and update PROBE_DIGEST"
    )


@pytest.mark.asyncio
async def test_the_index_keeps_no_copy_of_the_text(archive):
    await archive.save_post(post(1, "الانتقام قادم"))
    tables = {r[0] for r in await archive.fetchall("SELECT name FROM sqlite_master")}
    assert "posts_fts_content" not in tables
    assert await found(archive, "الانتقام") == [1]


@pytest.mark.asyncio
async def test_an_edit_replaces_the_indexed_words(archive):
    await archive.save_post(post(1, "الانتقام قادم"))
    await archive.save_post(post(2, "خبر عاجل"))
    result = await archive.save_post(post(1, "بيان عن الكهرباء"))
    assert result.status == "updated"
    assert await found(archive, "الانتقام") == []
    assert await found(archive, "الكهرباء") == [1]
    assert await found(archive, "عاجل") == [2]
    assert (await archive.fetchone("SELECT count(*) FROM posts_fts"))[0] == 2


@pytest.mark.asyncio
async def test_a_post_edited_twice_in_one_batch_is_indexed_by_its_last_text(archive):
    await archive.save_post(post(1, "النص الاول"))
    results = await archive.save_posts([post(1, "النص الثاني"), post(1, "النص الثالث")])
    assert [r.status for r in results] == ["updated", "updated"]
    assert await found(archive, "الاول") == []
    assert await found(archive, "الثاني") == []
    assert await found(archive, "الثالث") == [1]
    assert len(await archive.versions(results[0].post_id)) == 2


@pytest.mark.asyncio
async def test_ocr_text_replaces_its_indexed_words(archive, tmp_path):
    from tests.support.export import make_image

    image = tmp_path / "poster.png"
    make_image(image)
    from monitor.core.models import MediaItem

    media = MediaItem(kind="photo", path=image, is_image=True, mime_type="image/png")
    saved = await archive.save_post(post(1, "صورة", media=[media]))
    sha = saved.new_media[0]
    await archive.set_ocr_result(sha, "done", text="الانتقام قادم")
    assert await found(archive, "الانتقام") == [1]
    await archive.set_ocr_result(sha, "done", text="نص اخر")
    assert await found(archive, "الانتقام") == []
    assert await found(archive, "اخر") == [1]
    assert await found(archive, "صورة") == [1]


@pytest.mark.asyncio
async def test_an_archive_with_the_old_index_is_migrated_and_reindexed(tmp_path):
    path = tmp_path / "archive.db"
    with sqlite3.connect(path) as conn:  # an archive at schema 2: the index kept its own copy
        for step in range(2):
            for statement in split_sql(MIGRATIONS[step]):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO channels (id, username, title, created_at, updated_at) VALUES (4242, 'index_test', 'x', 'x', 'x')"
        )
        for n, text in enumerate(["الانتقام قادم", "وبالعبوات الناسفة"], start=1):
            conn.execute(
                "INSERT INTO posts (id, channel_id, message_id, date, text, first_seen_at, updated_at) "
                "VALUES (?, 4242, ?, ?, ?, 'x', 'x')",
                (n * 4096, n, (T0 + timedelta(minutes=n)).isoformat(), text),
            )
            # indexed by an older normaliser: words that no longer match what fts_row makes
            conn.execute(
                "INSERT INTO posts_fts (rowid, body, extra) VALUES (?, 'stale words', '')", (n * 4096,)
            )
    conn.close()
    archive = await Archive.open(path)
    try:
        assert (await archive.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS)
        assert await archive.get_meta("index_version") == INDEX_VERSION
        assert await found(archive, "stale") == []
        assert await found(archive, "الانتقام") == [1]
        assert await found(archive, "العبوات") == [2]  # the extra column, rebuilt
        await archive.save_post(post(1, "نص جديد"))  # removing a row needs the values it was indexed with
        assert await found(archive, "الانتقام") == []
        assert await found(archive, "جديد") == [1]
    finally:
        await archive.close()


@pytest.mark.asyncio
async def test_another_index_version_rebuilds_the_index_on_opening(tmp_path):
    path = tmp_path / "archive.db"
    archive = await Archive.open(path)
    await archive.save_post(post(1, "الانتقام قادم"))
    await archive.set_meta("index_version", "0")
    await archive.close()
    archive = await Archive.open(path)
    try:
        assert await archive.get_meta("index_version") == INDEX_VERSION
        assert await found(archive, "الانتقام") == [1]
        assert (await archive.fetchone("SELECT count(*) FROM posts_fts"))[0] == 1
    finally:
        await archive.close()


# --- batches planned before the write lock ------------------------------------------------------


@pytest.mark.asyncio
async def test_a_plan_made_stale_by_another_process_is_worked_out_again(archive, monkeypatch):
    """Between the plan and the write lock another process saves the same message: no duplicate."""
    await archive.save_post(post(9, "قناة معروفة"))  # the channel row exists
    read_state = archive._read_state
    calls = []

    async def read_then_meddle(conn, posts):
        state = await read_state(conn, posts)
        calls.append(conn)
        if len(calls) == 1:  # after the read outside the transaction, another process writes
            with sqlite3.connect(archive.path) as other:
                other.execute(
                    "INSERT INTO posts (id, channel_id, message_id, date, text, first_seen_at, updated_at) "
                    "VALUES (?, ?, 2, ?, ?, 'x', 'x')",
                    (123 * 4096, CHANNEL.id, (T0 + timedelta(minutes=2)).isoformat(), "كتبها غيري"),
                )
                other.execute(
                    "INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)",
                    (123 * 4096, *fts_row("كتبها غيري", None)),
                )
            other.close()
        return state

    monkeypatch.setattr(archive, "_read_state", read_then_meddle)
    results = await archive.save_posts([post(1, "الاول"), post(2, "كتبها غيري")])
    assert len(calls) == 2  # worked out again under the lock
    assert [r.status for r in results] == ["new", "unchanged"]
    assert results[1].post_id == 123 * 4096
    rows = await archive.fetchall("SELECT message_id FROM posts ORDER BY message_id")
    assert [r[0] for r in rows] == [1, 2, 9]
    assert await found(archive, "غيري") == [2]


@pytest.mark.asyncio
async def test_a_plan_that_still_holds_is_written_as_planned(archive, monkeypatch):
    await archive.save_post(post(1, "قديم"))
    read_state = archive._read_state
    calls = []

    async def counting(conn, posts):
        calls.append(conn)
        return await read_state(conn, posts)

    monkeypatch.setattr(archive, "_read_state", counting)
    results = await archive.save_posts([post(1, "قديم"), post(3, "جديد")])
    assert len(calls) == 1
    assert [r.status for r in results] == ["unchanged", "new"]


@pytest.mark.asyncio
async def test_a_write_by_another_process_is_noticed_by_the_plan_check(archive):
    """``PRAGMA data_version`` tells the plan check that another connection committed."""
    seen = await archive._write_mark()
    with sqlite3.connect(archive.path) as other:
        other.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    other.close()
    assert await archive._write_mark() != seen


# --- the unit of work: plan outside the lock, write in one batch -------------------------------


@pytest.mark.asyncio
async def test_a_batch_writes_the_plan_and_its_marks_in_one_commit(archive):
    plan = await archive.plan_posts([post(1, "باقي ٣ أيام"), post(2, "عادي")], detected=[True, False])
    assert [r.status for r in plan.results] == ["new", "new"]
    async with archive.batch() as batch:
        results = await batch.save_posts(plan)
        assert not batch.replanned
        countdown = (results[0].post_id, CHANNEL.id, T0.isoformat(), 3, "day", None)
        await batch.mark_detected([results[1].post_id], [countdown])
    rows = await archive.fetchall("SELECT message_id, detected_at IS NOT NULL FROM posts ORDER BY message_id")
    assert [tuple(r) for r in rows] == [(1, 1), (2, 1)]
    assert await archive.countdown_posts() == [(T0.isoformat(), 3, "day", 1)]
    with pytest.raises(ValueError, match="saved already"):
        async with archive.batch() as batch:
            await batch.save_posts(plan)


@pytest.mark.asyncio
async def test_a_batch_that_fails_leaves_nothing(archive):
    plan = await archive.plan_posts([post(1, "لن يبقى")])
    with pytest.raises(RuntimeError):
        async with archive.batch() as batch:
            await batch.save_posts(plan)
            raise RuntimeError("after the posts, before the commit")
    assert (await archive.fetchone("SELECT count(*) FROM posts"))[0] == 0
    assert await found(archive, "يبقى") == []


@pytest.mark.asyncio
async def test_a_batch_says_when_its_plan_was_worked_out_again(archive):
    """Another writer saved one of the posts between the plan and the batch: new results."""
    await archive.save_post(post(9, "قناة معروفة"))
    plan = await archive.plan_posts([post(1, "الاول"), post(2, "الثاني")])
    assert [r.status for r in plan.results] == ["new", "new"]
    await archive.save_post(post(2, "الثاني"))
    async with archive.batch() as batch:
        results = await batch.save_posts(plan)
        assert batch.replanned
    assert [r.status for r in results] == ["new", "unchanged"]
    assert plan.results == results


@pytest.mark.asyncio
async def test_a_word_split_by_an_invisible_character_is_found_whole(archive):
    # A word joiner or a Hangul filler inside a word shows nothing: the analyst searches the word.
    await archive.save_post(post(1, "الانت\u2060قامُ قادم\u3164ٌ"))
    await archive.save_post(post(2, "Venge\U000e0020ance is coming"))
    assert await found(archive, "الانتقام قادم") == [1]
    assert await found(archive, "vengeance") == [2]
