"""The hash chain on a real archive: saves, edits, deletions and files chained; tampering named."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive
from monitor.core.store.schema import EVIDENCE_CHAIN, MIGRATIONS
from monitor.core.store.verify import verify_archive
from tests.support.export import make_image

CHANNEL = Channel(id=1111, username="sabereen_test", title="صابرين")
T0 = datetime(2021, 11, 2, 12, 0, tzinfo=UTC)
ARABIC = "أعلنت إدارة «آل» ١٢٣ ساعة: الانتقامُ قادمٌ"


def post(message_id: int, text: str = ARABIC, **kw) -> Post:
    kw.setdefault("date", T0 + timedelta(minutes=message_id))
    kw.setdefault("raw", {"id": message_id, "message": text})
    return Post(channel=CHANNEL, message_id=message_id, text=text, **kw)


def image_post(message_id: int, tmp_path: Path, seed: int) -> Post:
    path = tmp_path / f"img{seed}.png"
    make_image(path, fmt="PNG", color=(40 * seed, 30, 30))
    return post(message_id, media=[MediaItem(kind="photo", is_image=True, path=path, mime_type="image/png")])


async def filled(tmp_path: Path) -> Path:
    """An archive with posts, an edit (twice in one batch too), a deletion and files; closed."""
    db = tmp_path / "archive.db"
    async with await Archive.open(db, tmp_path / "media") as archive:
        archive.capture_account = "telegram:42"
        await archive.save_posts([post(1), post(2), image_post(3, tmp_path, 1), image_post(4, tmp_path, 2)])
        await archive.save_post(post(1, ARABIC + " (مُعدَّل)"))
        await archive.save_posts([post(5, "أ"), post(5, "إ"), post(5, "آ")])  # live: each a version
        await archive.mark_deleted(CHANNEL.id, [2])
    async with await Archive.open(db, tmp_path / "media") as archive:  # a restart
        await archive.save_post(post(2, ARABIC + " ٠١٢"))
    return db


async def verify(db: Path, **kw):
    async with await Archive.open(db, db.parent / "media", readonly=True) as archive:
        return await archive.evidence.verify(**kw)


def tamper(db: Path, sql: str, params: tuple = ()) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql, params)


@pytest.mark.asyncio
async def test_untouched_archive_verifies_after_edits_deletions_and_restarts(tmp_path):
    db = await filled(tmp_path)
    report = await verify(db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.posts == 5 and report.files == 2
    with sqlite3.connect(db) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM chain GROUP BY kind").fetchall())
        accounts = {r[0] for r in conn.execute("SELECT account FROM chain")}
    # 5 posts; edits: post 1 once, post 5 twice, post 2 once; 1 deletion; 2 files
    assert kinds == {"genesis": 1, "post": 5, "edit": 4, "delete": 1, "media": 2}
    assert "live:telegram:42" in accounts


@pytest.mark.asyncio
async def test_tampering_is_named(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE posts SET text = 'نص مزور' WHERE message_id = 3")
    tamper(db, "UPDATE post_versions SET text = 'x' WHERE id = (SELECT min(id) FROM post_versions)")
    tamper(db, "UPDATE posts SET deleted_at = NULL WHERE message_id = 2")
    tamper(db, "UPDATE posts SET deleted_at = '2021-11-03T00:00:00+00:00' WHERE message_id = 4")
    with sqlite3.connect(db) as conn:
        path = conn.execute("SELECT path FROM media LIMIT 1").fetchone()[0]
    file = tmp_path / "media" / path
    data = bytearray(file.read_bytes())
    data[-1] ^= 1
    file.write_bytes(bytes(data))
    report = await verify(db)
    text = "\n".join(str(f) for f in report.findings)
    assert "post https://t.me/sabereen_test/3 (id" in text and "changed after capture" in text
    assert "post https://t.me/sabereen_test/1 (id" in text  # its first version is the post as captured
    assert "deletion mark of post https://t.me/sabereen_test/2" in text and "removed after capture" in text
    assert "deletion mark of post https://t.me/sabereen_test/4" in text and "inserted afterwards" in text
    assert f"file {path}: its bytes changed" in text
    assert len(report.findings) == 5, text


@pytest.mark.asyncio
async def test_a_column_turned_into_a_blob_is_named_not_a_crash(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE posts SET text = CAST(text AS BLOB) WHERE message_id = 3")
    tamper(db, "UPDATE chain SET account = X'00ff' WHERE kind = 'delete'")
    report = await verify(db)
    text = "\n".join(str(f) for f in report.findings)
    assert "post https://t.me/sabereen_test/3 (id" in text and "changed after capture" in text
    assert not report.ok and len(report.findings) >= 2, text


@pytest.mark.asyncio
async def test_removed_and_inserted_rows_and_records_are_named(tmp_path):
    db = await filled(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        pid = conn.execute("SELECT id FROM posts WHERE message_id = 4").fetchone()[0]
        conn.execute("DELETE FROM post_media WHERE post_id = ?", (pid,))
        conn.execute("DELETE FROM posts WHERE id = ?", (pid,))
        conn.execute(
            "INSERT INTO posts (id, channel_id, message_id, date, text, first_seen_at, updated_at) "
            "SELECT id + 1, channel_id, 99, date, 'مزروع', first_seen_at, updated_at FROM posts WHERE message_id = 1"
        )
        conn.execute("DELETE FROM post_versions WHERE id = (SELECT max(id) FROM post_versions)")
    report = await verify(db)
    text = "\n".join(str(f) for f in report.findings)
    assert f"post id {pid}: removed from the archive" in text
    assert "post https://t.me/sabereen_test/99" in text and "inserted afterwards" in text
    assert "version" in text and "removed after capture" in text


@pytest.mark.asyncio
async def test_a_changed_chain_record_breaks_the_chain(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE chain SET recorded_at = '2000-01-01T00:00:00+00:00' WHERE seq = 3")
    tamper(db, "DELETE FROM chain WHERE seq = 6")
    report = await verify(db)
    text = "\n".join(str(f) for f in report.findings)
    assert "chain record 3" in text and "chain records 6-6: removed" in text


@pytest.mark.asyncio
async def test_an_archive_from_before_the_chain_is_chained_once(tmp_path):
    db = await filled(tmp_path)
    # Make it look like an archive of the schema before the chain, rows and all.
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE chain")
        conn.execute("DROP TABLE chain_heads")
        conn.execute("DELETE FROM meta WHERE key = 'evidence:genesis'")
        conn.execute(
            f"PRAGMA user_version = {MIGRATIONS.index(EVIDENCE_CHAIN)}"
        )  # later steps re-run: IF NOT EXISTS
    async with await Archive.open(db, tmp_path / "media") as archive:
        assert (await archive.fetchone("SELECT count(*) FROM chain"))[0] == 1 + 5 + 4 + 1 + 2
        assert await archive.evidence.ensure_genesis() == 0
        await archive.save_post(post(6, "جديد"))
    report = await verify(db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.genesis_at is not None


@pytest.mark.asyncio
async def test_since_checks_only_what_came_later(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE posts SET text = 'قديم مزور' WHERE message_id = 3")
    later = datetime.now(UTC) + timedelta(seconds=1)
    report = await verify(db, since=later)
    assert report.ok and report.posts == 0
    report = await verify(db, since=T0)
    assert not report.ok


@pytest.mark.asyncio
async def test_worker_processes_find_what_one_process_finds(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE posts SET text = 'نص مزور' WHERE message_id = 3")
    tamper(db, "UPDATE posts SET deleted_at = NULL WHERE message_id = 2")
    alone = verify_archive(db, tmp_path / "media", workers=1)
    pooled = verify_archive(db, tmp_path / "media", workers=2, parallel_from=1)
    assert sorted(map(str, alone.findings)) == sorted(map(str, pooled.findings)) and len(alone.findings) == 2
    assert (alone.posts, alone.files, alone.records) == (pooled.posts, pooled.files, pooled.records)


@pytest.mark.asyncio
async def test_a_batch_of_two_roads_is_chained_once_for_each(tmp_path):
    db = tmp_path / "archive.db"
    async with await Archive.open(db, tmp_path / "media") as archive:
        archive.capture_account = "telegram:42"
        mixed = [post(i, f"{ARABIC} {i}", source="import" if i % 2 else "live") for i in range(1, 41)]
        await archive.save_posts(mixed)
        await archive.save_posts([post(i, f"{ARABIC} ٠{i}", source="live") for i in range(1, 41, 3)])
    report = await verify(db)
    assert report.ok, [str(f) for f in report.findings]
    with sqlite3.connect(db) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM chain ORDER BY seq")]
        accounts = dict(
            conn.execute("SELECT account, count(*) FROM chain WHERE kind = 'post' GROUP BY account")
        )
        edits = conn.execute("SELECT count(*) FROM chain WHERE kind = 'edit'").fetchone()[0]
    assert seqs == list(range(1, len(seqs) + 1))
    assert accounts == {"import:telegram:42": 20, "live:telegram:42": 20} and edits == 14


@pytest.mark.asyncio
async def test_ranges_of_worker_processes_name_what_one_process_names(tmp_path):
    """Many ranges of ids (the parallel pass): a post removed inside one, one inserted after the
    last, one changed; each named once, as the single process names them."""
    db = tmp_path / "archive.db"
    async with await Archive.open(db, tmp_path / "media") as archive:
        await archive.save_posts([post(i, f"{ARABIC} {i} إ") for i in range(1, 301)])
        await archive.save_posts([post(i, f"{ARABIC} {i} آ") for i in range(100, 120)])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        ids = [r[0] for r in conn.execute("SELECT id FROM posts ORDER BY id")]
        removed, changed = ids[150], ids[110]
        conn.execute("DELETE FROM posts WHERE id = ?", (removed,))
        conn.execute("UPDATE posts SET text = 'مزور ٩' WHERE id = ?", (changed,))
        conn.execute(
            "INSERT INTO posts (id, channel_id, message_id, date, text, first_seen_at, updated_at) "
            "SELECT ?, channel_id, 999, date, 'مزروع', first_seen_at, updated_at FROM posts WHERE id = ?",
            (ids[-1] + 1, ids[-1]),
        )
    alone = verify_archive(db, tmp_path / "media", workers=1)
    pooled = verify_archive(db, tmp_path / "media", workers=2, parallel_from=1)
    text = sorted(map(str, alone.findings))
    assert text == sorted(map(str, pooled.findings)) and len(text) == 3, text
    assert any(f"post id {removed}: removed from the archive" in t for t in text)
    assert any(f"(id {changed}): changed after capture" in t for t in text)
    assert any("sabereen_test/999" in t and "inserted afterwards" in t for t in text)
    assert alone.posts == pooled.posts == 300
