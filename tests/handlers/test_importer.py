"""The block road of imports: cutting the messages array, parsing blocks, worker processes.

Whatever road a message takes (blocks in this process, blocks in worker processes, or the
event-by-event reader of full-account exports and of blocks that do not parse), the archive
must end up the same: same posts, same raw evidence, same detection marks, countdowns and alerts.
"""

from __future__ import annotations

import json
from pathlib import Path

import ijson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.detect import Detector
from alerts.outbox import Outbox
from alerts.rules import load_rules
from handlers.export import BlockError, MessageBlock, iter_message_blocks, parse_block
from handlers.importer import ParallelImport, import_export
from handlers.pipeline import Pipeline
from monitor.app import open_import_pipeline
from monitor.core.config import Config
from monitor.core.errors import ExportError
from monitor.core.store import Archive
from tests.support.export import (
    CHANNEL_ID,
    CHANNEL_NAME,
    chat,
    message,
    rich_channel,
    service,
    write_account,
    write_single,
)

THREATS = [
    "الانتقام قادم",
    "باقي ٥٩ يوما على الموعد",
    "#59daysleft vengeance is coming",
    "قوات الاحتلال الأمريكي هدف مشروع",
]


def channel_messages(n: int) -> list[dict]:
    """Arabic and English posts, every seventh one a threat or a countdown, some service messages."""
    out: list[dict] = []
    for i in range(1, n + 1):
        if i % 23 == 0:
            out.append(service(i))
        elif i % 7 == 0:
            out.append(message(i, f"بيان رقم {i}: {THREATS[i % len(THREATS)]}"))
        elif i % 5 == 0:
            out.append(message(i, [f"منشور {i} ", {"type": "hashtag", "text": "#العراق"}, ' {"id": 9}']))
        else:
            out.append(message(i, f"news item {i} about the market, اليوم في بغداد"))
    return out


def minified(folder: Path, messages: list[dict]) -> Path:
    """The same export as ``write_single``, on one line (no newline anywhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": CHANNEL_NAME, "type": "public_channel", "id": CHANNEL_ID, "messages": messages}
    (folder / "result.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


def reference(result_json: Path) -> list:
    with open(result_json, "rb") as handle:
        return list(ijson.items(handle, "messages.item", use_float=True))


# --- cutting and parsing --------------------------------------------------------------------


@pytest.mark.parametrize("block_size", [64, 300, 4096, 1 << 20])
@pytest.mark.parametrize("layout", ["indented", "minified"])
def test_blocks_hold_exactly_the_messages_ijson_reads(tmp_path, block_size, layout):
    messages = channel_messages(120)
    folder = (write_single if layout == "indented" else minified)(tmp_path / "e", messages)
    result_json = folder / "result.json"
    blocks = list(iter_message_blocks(result_json, block_size=block_size))
    assert blocks[-1].last and not any(b.last for b in blocks[:-1])
    assert [b.first_index for b in blocks] == [
        1 + sum(b.count for b in blocks[:i]) for i in range(len(blocks))
    ]
    assert [m for b in blocks for m in parse_block(b)] == reference(result_json)


@pytest.mark.parametrize("block_size", [64, 4096])
def test_a_hollow_block_is_filled_again_from_the_file(tmp_path, block_size):
    """Workers are sent where a block is, not its bytes, and read them from the export."""
    folder = write_single(tmp_path / "e", channel_messages(40))
    result_json = folder / "result.json"
    data = result_json.read_bytes()
    blocks = list(iter_message_blocks(result_json, block_size=block_size))
    assert all(data[b.offset : b.offset + b.size] == b.data for b in blocks)
    with open(result_json, "rb") as handle:
        again = [b.hollow().filled(handle) for b in blocks]
    assert [b.data for b in again] == [b.data for b in blocks]
    assert all(b.hollow().data == b"" and b.hollow().size == len(b.data) for b in blocks)
    with open(result_json, "rb") as handle:
        result_json.write_bytes(data[: blocks[-1].offset + 1])  # the file shrank under the import
        with pytest.raises(BlockError):
            blocks[-1].hollow().filled(handle)


def test_an_empty_messages_array_is_one_empty_last_block(tmp_path):
    folder = write_single(tmp_path / "e", [])
    blocks = list(iter_message_blocks(folder / "result.json"))
    assert [(b.count, b.last) for b in blocks] == [(0, True)]
    assert parse_block(blocks[0]) == []


_PIECES = [*'{}[]",:\\ \n\tid"#_٥٩يوماabc', '{"id": 1}', '"}, {"id": 2', '\\"id\\": 3']
_HOSTILE = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_HOSTILE, min_size=1, max_size=12), block_size=st.integers(16, 400))
def test_text_that_looks_like_json_never_cuts_a_message(tmp_path_factory, texts, block_size):
    folder = write_single(tmp_path_factory.mktemp("e"), [message(i + 1, t) for i, t in enumerate(texts)])
    result_json = folder / "result.json"
    blocks = list(iter_message_blocks(result_json, block_size=block_size))
    assert [m for b in blocks for m in parse_block(b)] == reference(result_json)


def test_a_block_that_is_not_whole_messages_is_refused():
    with pytest.raises(BlockError):
        parse_block(MessageBlock(1, 2, b'{"id": 1, "text": "a"},\n{"id": 2, "text": ', False))
    with pytest.raises(BlockError):  # the last block must close the array and the file
        parse_block(MessageBlock(1, 1, b'{"id": 1, "text": "a"}\n ]\n} trailing', True))


# --- importing: the roads agree ---------------------------------------------------------------


def detector() -> Detector:
    return Detector(load_rules(None))


async def snapshot(db: Path) -> dict:
    """What an import left in the archive, independent of ids and clocks."""
    async with await Archive.open(db) as archive:
        posts = await archive.fetchall(
            "SELECT channel_id, message_id, date, text, entities, raw, fwd_from_name, edit_date, "
            "detected_at IS NOT NULL FROM posts ORDER BY channel_id, message_id"
        )
        countdowns = await archive.fetchall(
            "SELECT p.message_id, c.value, c.unit, c.deadline FROM countdowns c JOIN posts p ON p.id = c.post_id "
            "ORDER BY p.message_id"
        )
        alerts = await archive.fetchall(
            "SELECT p.message_id, a.severity, a.body FROM alerts a JOIN posts p ON p.id = a.post_id ORDER BY p.message_id"
        )
        found = await archive.search("الانتقام", limit=1000)
    return {
        "posts": [(*r[:5], json.loads(r[5]), *r[6:]) for r in posts],
        "countdowns": [tuple(r) for r in countdowns],
        "alerts": [(r[0], r[1], json.loads(r[2])["covers"]) for r in alerts],
        "search": sorted(hit.post.message_id for hit in found),
    }


async def run_import(path: Path, db: Path, **kw):
    async with await Archive.open(db, db.parent / "media") as archive:
        outbox = Outbox(archive, [], Config().alerts)
        return await import_export(path, Pipeline(archive, detector(), outbox=outbox, deliver=False), **kw)


@pytest.mark.asyncio
async def test_blocks_and_events_leave_the_same_archive(tmp_path):
    messages = channel_messages(300)
    single = write_single(tmp_path / "single", messages)
    account = write_account(tmp_path / "account", [chat(CHANNEL_NAME, CHANNEL_ID, messages)])
    by_blocks = await run_import(single, tmp_path / "blocks.db", block_size=2048)
    by_events = await run_import(account, tmp_path / "events.db")
    assert by_blocks.to_json() == by_events.to_json()
    assert by_blocks.alerts > 0 and by_blocks.service > 0
    assert await snapshot(tmp_path / "blocks.db") == await snapshot(tmp_path / "events.db")


@pytest.mark.asyncio
async def test_text_only_posts_are_stored_detected_with_their_alerts_and_countdowns(tmp_path):
    await run_import(write_single(tmp_path / "e", channel_messages(100)), tmp_path / "a.db")
    state = await snapshot(tmp_path / "a.db")
    assert all(row[-1] for row in state["posts"])  # every text-only post carries its mark
    countdown_posts = {i for i in range(1, 101) if i % 23 and i % 7 == 0 and i % 4 in (1, 2)}
    assert {(m, v, u) for m, v, u, _ in state["countdowns"]} == {(i, 59, "day") for i in countdown_posts}
    assert len(state["alerts"]) >= 10
    again = await run_import(write_single(tmp_path / "e", channel_messages(100)), tmp_path / "a.db")
    assert (again.new, again.unchanged, again.alerts) == (0, 96, 0)


@pytest.mark.asyncio
async def test_a_nested_object_that_starts_with_id_falls_back_to_events(tmp_path):
    messages = channel_messages(40)
    messages[10]["reactions"] = [{"id": 5, "type": "emoji", "count": 3, "emoji": "🔥"}]
    folder = write_single(tmp_path / "e", messages)
    summary = await run_import(folder, tmp_path / "a.db", block_size=512)
    assert summary.new == sum(1 for m in messages if m["type"] == "message")
    state = await snapshot(tmp_path / "a.db")
    raw = {row[1]: row[5] for row in state["posts"]}
    assert raw[11]["reactions"][0]["emoji"] == "🔥"


@pytest.mark.asyncio
async def test_rich_export_by_blocks_matches_the_reader(tmp_path):
    folder = rich_channel(tmp_path / "export")
    summary = await run_import(folder, tmp_path / "a.db", block_size=256)
    assert (summary.new, summary.service, summary.media_stored) == (13, 2, 4)
    state = await snapshot(tmp_path / "a.db")
    raw = {row[1]: row[5] for row in state["posts"]}
    assert raw[5]["forwarded_from"] == "قناة أخرى"  # the raw message, as exported, is the evidence
    assert 2 in state["search"] and 6 in state["search"]


# --- worker processes -----------------------------------------------------------------------


def parallel(db: Path, workers: int = 2) -> ParallelImport:
    return ParallelImport(
        open_import_pipeline, (Config(), db, db.parent / "media", False), workers=workers, from_bytes=0
    )


@pytest.mark.asyncio
async def test_workers_leave_the_same_archive_as_one_process(tmp_path, no_user_config):
    folder = write_single(tmp_path / "e", channel_messages(600))
    alone = await run_import(folder, tmp_path / "alone" / "a.db", block_size=4096)
    db = tmp_path / "workers" / "a.db"
    seen: list[int] = []
    together = await run_import(folder, db, block_size=4096, parallel=parallel(db), on_bytes=seen.append)
    assert together.to_json() == alone.to_json()
    assert sum(seen) == (folder / "result.json").stat().st_size
    assert await snapshot(db) == await snapshot(tmp_path / "alone" / "a.db")
    again = await run_import(folder, db, block_size=4096, parallel=parallel(db))
    assert (again.new, again.alerts, again.unchanged) == (0, 0, alone.new)


@pytest.mark.asyncio
@pytest.mark.parametrize("workers", [1, 2])
async def test_a_repeated_id_far_apart_keeps_its_first_copy_on_every_import(
    tmp_path, no_user_config, workers
):
    """Copies of one id in different blocks (and worker processes): the first is imported, every
    import of the file decides the same, and nothing is "updated" on a re-import (issue 20, #6)."""
    messages = channel_messages(400)
    messages[350] = message(7, "نسخة مكررة بعيدة من الرسالة السابعة")
    messages[399] = message(120, "نسخة مكررة أخرى")
    folder = write_single(tmp_path / "e", messages)
    db = tmp_path / "a.db"
    road = parallel(db) if workers > 1 else None
    first = await run_import(folder, db, block_size=2048, parallel=road)
    assert first.rejected == 2 and first.updated == 0
    assert any("the id repeats message #7's" in reason for reason in first.rejected_messages)
    before = await snapshot(db)
    for _ in range(2):
        again = await run_import(folder, db, block_size=2048 if workers > 1 else 700, parallel=road)
        assert (again.new, again.updated, again.rejected) == (0, 0, 2)
    assert await snapshot(db) == before
    async with await Archive.open(db) as archive:
        texts = {r[0]: r[1] for r in await archive.fetchall("SELECT message_id, text FROM posts")}
    assert "نسخة مكررة" not in texts[7] and "نسخة مكررة" not in texts[120]


@pytest.mark.asyncio
async def test_workers_stop_at_a_malformed_message_and_name_it(tmp_path, no_user_config):
    folder = write_single(tmp_path / "e", channel_messages(400))
    path = folder / "result.json"
    text = path.read_text(encoding="utf-8")
    at = text.index('"id": 300,')
    path.write_text(text[:at] + "@@@ " + text[at:], encoding="utf-8")
    line = text[:at].count("\n") + 1
    db = tmp_path / "a.db"
    with pytest.raises(ExportError) as error:
        await run_import(folder, db, block_size=4096, parallel=parallel(db))
    assert f"line {line}," in str(error.value)
    async with await Archive.open(db) as archive:
        kept = {r[0] for r in await archive.fetchall("SELECT message_id FROM posts")}
    assert set(range(1, 299)) - {i for i in range(1, 299) if i % 23 == 0} <= kept  # all before it


@pytest.mark.asyncio
async def test_a_re_import_detects_only_what_changed(tmp_path):
    first = [message(1, "الانتقام قادم"), message(2, "خبر عادي"), message(3, "باقي ٥٩ يوما")]
    await run_import(write_single(tmp_path / "v1", first), tmp_path / "a.db")
    # The same words, now with a bold entity: stored as a new version and detected again.
    second = [message(1, ["", {"type": "bold", "text": "الانتقام قادم"}]), first[1], first[2]]
    summary = await run_import(write_single(tmp_path / "v2", second), tmp_path / "a.db")
    assert (summary.updated, summary.unchanged, summary.alerts) == (1, 2, 0)
    state = await snapshot(tmp_path / "a.db")
    assert [row[-1] for row in state["posts"]] == [1, 1, 1]
    assert [(m, v) for m, v, _, _ in state["countdowns"]] == [(3, 59)]


@pytest.mark.asyncio
async def test_a_worker_error_reaches_the_user_as_it_is(tmp_path, no_user_config):
    from monitor.core.errors import ArchiveError
    from tests.support.importing import refusing_pipeline

    folder = write_single(tmp_path / "e", channel_messages(50))
    db = tmp_path / "a.db"
    refusing = ParallelImport(refusing_pipeline, (db,), workers=2, from_bytes=0)
    with pytest.raises(ArchiveError, match="Read-only file system"):
        await run_import(folder, db, block_size=1024, parallel=refusing)


@pytest.mark.asyncio
async def test_a_worker_that_dies_stops_the_import_with_a_clear_error(tmp_path, no_user_config):
    from monitor.core.errors import MonitorError
    from tests.support.importing import dying_pipeline

    folder = write_single(tmp_path / "e", channel_messages(50))
    db = tmp_path / "a.db"
    dying = ParallelImport(dying_pipeline, (Config(), db), workers=2, from_bytes=0)
    with pytest.raises(MonitorError, match="exit code 3"):
        await run_import(folder, db, block_size=1024, parallel=dying)
