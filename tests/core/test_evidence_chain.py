"""The hash chain on a real archive: saves, edits, deletions and files chained; tampering named."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive
from monitor.core.store.blocks import all_records
from monitor.core.store.chain import ZERO_HASH, record_hash
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


def findings_text(report) -> str:
    """What ``verify`` found, a finding per line: what the assertions read."""
    return "\n".join(str(f) for f in report.findings)


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
        records = all_records(conn)
        blocks = conn.execute("SELECT count(*) FROM chain_blocks").fetchone()[0]
        old = conn.execute("SELECT count(*) FROM chain").fetchone()[0]
    kinds: dict[str, int] = {}
    for record in records:
        kinds[record[1]] = kinds.get(record[1], 0) + 1
    accounts = {r[6] for r in records}
    # one block per write: genesis, 4 posts with files, an edit, 3 versions, a deletion, an edit
    assert (blocks, old) == (6, 0)
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
    text = findings_text(report)
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
    tamper(db, "UPDATE chain_blocks SET account = X'00ff' WHERE items LIKE '%\"delete\"%'")
    report = await verify(db)
    text = findings_text(report)
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
    text = findings_text(report)
    assert f"post id {pid}: removed from the archive" in text
    assert "post https://t.me/sabereen_test/99" in text and "inserted afterwards" in text
    assert "version" in text and "removed after capture" in text


@pytest.mark.asyncio
async def test_a_changed_block_breaks_the_chain(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE chain_blocks SET recorded_at = '2000-01-01T00:00:00+00:00' WHERE id = 2")
    tamper(db, "DELETE FROM chain_blocks WHERE id = 4")
    report = await verify(db)
    text = findings_text(report)
    assert "block 2 (records 2-7): altered" in text and "chain records 9-11: removed" in text, text
    # the posts whose records went with block 4: post 5 and its versions have no record now
    assert "post https://t.me/sabereen_test/5" in text and "inserted afterwards" in text


@pytest.mark.asyncio
async def test_a_record_altered_inside_a_block_names_the_block_and_the_row(tmp_path):
    db = await filled(tmp_path)
    with sqlite3.connect(db) as conn:
        items = conn.execute("SELECT items FROM chain_blocks WHERE id = 2").fetchone()[0]
        entries = json.loads(items)
        entries[2][4] = "0" * 64  # post 3's item hash
        conn.execute(
            "UPDATE chain_blocks SET items = ? WHERE id = 2", (json.dumps(entries, separators=(",", ":")),)
        )
    report = await verify(db)
    text = findings_text(report)
    assert "block 2 (records 2-7): altered" in text, text
    assert "post https://t.me/sabereen_test/3 (id" in text and "changed after capture" in text
    assert len(report.findings) == 2, text


@pytest.mark.asyncio
async def test_a_block_that_is_no_json_or_lies_about_its_posts_is_named(tmp_path):
    db = await filled(tmp_path)
    tamper(db, "UPDATE chain_blocks SET items = 'not json' WHERE id = 5")
    tamper(db, "UPDATE chain_blocks SET post_min = post_min + 1 WHERE id = 3")
    report = await verify(db)
    text = findings_text(report)
    assert "block 5 (records 12-12): altered" in text, text
    assert "block 3 (records 8-8): altered: its post id range" in text, text
    assert "deletion mark of post https://t.me/sabereen_test/2" in text  # its record is unreadable now


@pytest.mark.asyncio
async def test_an_archive_from_before_the_chain_is_chained_once(tmp_path):
    db = await filled(tmp_path)
    # Make it look like an archive of the schema before the chain, rows and all.
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE chain")
        conn.execute("DROP TABLE chain_heads")
        conn.execute("DROP TABLE chain_blocks")
        conn.execute("DROP TABLE chain_block_spans")
        conn.execute("DELETE FROM meta WHERE key = 'evidence:genesis'")
        conn.execute(
            f"PRAGMA user_version = {MIGRATIONS.index(EVIDENCE_CHAIN)}"
        )  # later steps re-run: IF NOT EXISTS
    async with await Archive.open(db, tmp_path / "media") as archive:
        assert (await archive.fetchone("SELECT sum(count) FROM chain_blocks"))[0] == 1 + 5 + 4 + 1 + 2
        assert await archive.evidence.ensure_genesis() == 0
        await archive.save_post(post(6, "جديد"))
    report = await verify(db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.genesis_at is not None


def as_per_record(db: Path) -> int:
    """Turn the archive's blocks into the per-record ``chain`` rows that tgmonitor wrote before
    the blocks (each record's hash over the one before): an archive chained before the change.
    Returns the last seq."""
    with sqlite3.connect(db) as conn:
        previous = ZERO_HASH
        records = all_records(conn)
        for seq, kind, post_id, item, sha256, item_hash, account, recorded_at in records:
            previous = record_hash(
                previous, seq, kind, post_id, item, sha256, item_hash, account, recorded_at
            )
            conn.execute(
                "INSERT INTO chain (seq, kind, post_id, item, sha256, item_hash, account, recorded_at, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, kind, post_id, item, sha256, item_hash, account, recorded_at, previous),
            )
        conn.execute("DELETE FROM chain_blocks")
        conn.execute("DELETE FROM chain_block_spans")
    return records[-1][0]


@pytest.mark.asyncio
async def test_an_archive_chained_record_by_record_continues_in_blocks(tmp_path):
    db = await filled(tmp_path)
    last = as_per_record(db)
    async with await Archive.open(db, tmp_path / "media") as archive:
        old_head = await archive.evidence.head()
        assert old_head[0] == last
        await archive.evidence.record_head("2021-11-01")  # a daily head in the per-record chain
        await archive.save_posts([post(6, "جديد ٦"), post(1, ARABIC + " (مُعدَّل) ٢")])
        await archive.mark_deleted(CHANNEL.id, [6])
        await archive.evidence.record_head("2021-11-02")  # and one in the blocks
        head = await archive.evidence.head()
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT seq_first FROM chain_blocks ORDER BY seq_first").fetchall()
    assert first[0][0] == last + 1 and head[0] == last + 3
    report = await verify(db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == last + 3 and report.head == head and report.genesis_at is not None
    assert (await verify(db, workers=2)).ok
    assert (await verify(db, since=T0)).ok  # --since from the per-record rows into the blocks
    # Tampering on either side of the change is named: an old record, a new block, rows of both.
    tamper(db, "UPDATE chain SET recorded_at = '2000-01-01T00:00:00+00:00' WHERE seq = 3")
    tamper(db, "UPDATE chain_blocks SET account = 'x' WHERE seq_first = ?", (last + 1,))
    tamper(db, "UPDATE posts SET text = 'مزور' WHERE message_id IN (4, 6)")
    report = await verify(db)
    text = findings_text(report)
    assert "chain record 3" in text
    assert f"(records {last + 1}-{last + 2}): altered" in text
    assert "sabereen_test/4 (id" in text and "sabereen_test/6 (id" in text
    assert len(report.findings) == 4, text
    alone = verify_archive(db, tmp_path / "media", workers=1)
    pooled = verify_archive(db, tmp_path / "media", workers=2, parallel_from=1)
    assert (
        sorted(map(str, alone.findings))
        == sorted(map(str, pooled.findings))
        == sorted(map(str, report.findings))
    )
    since = await verify(db, since=T0)
    assert sorted(map(str, since.findings)) == sorted(map(str, report.findings))


@pytest.mark.asyncio
async def test_a_day_head_the_blocks_no_longer_hold_is_named(tmp_path):
    db = await filled(tmp_path)
    async with await Archive.open(db, tmp_path / "media") as archive:
        head = await archive.evidence.record_head("2021-11-02")
        await archive.save_post(post(7, "بعد"))
    assert (await verify(db)).ok
    tamper(db, "UPDATE chain_blocks SET hash = ? WHERE seq_first + count - 1 = ?", ("f" * 64, head.seq))
    text = "\n".join(str(f) for f in (await verify(db)).findings)
    assert "chain head of 2021-11-02: record 13 is not the one recorded that day" in text, text
    tamper(db, "DELETE FROM chain_blocks WHERE seq_first + count - 1 >= ?", (head.seq,))
    text = "\n".join(str(f) for f in (await verify(db)).findings)
    assert "chain head of 2021-11-02: the chain no longer reaches record 13" in text, text


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
        records = all_records(conn)
        blocks = conn.execute("SELECT account, count FROM chain_blocks WHERE id > 1 ORDER BY id").fetchall()
    seqs = [r[0] for r in records]
    accounts: dict[str, int] = {}
    for record in records:
        if record[1] == "post":
            accounts[record[6]] = accounts.get(record[6], 0) + 1
    edits = sum(1 for r in records if r[1] == "edit")
    assert seqs == list(range(1, len(seqs) + 1))
    # one block per road in each batch (an edit is chained with the road its post came by)
    assert blocks[:2] == [("import:telegram:42", 20), ("live:telegram:42", 20)]
    assert sorted(blocks[2:]) == [("import:telegram:42", 7), ("live:telegram:42", 7)]
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
