"""Telegram Desktop exports in the real format: reading, importing, re-importing, malformed files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.export import SkippedChat, iter_export, locate_export
from handlers.importer import import_export
from handlers.pipeline import Pipeline
from monitor.core.entities import entity_text
from monitor.core.errors import ExportError
from monitor.core.models import Post
from monitor.core.store import Archive
from tests.support.export import (
    CHANNEL_ID,
    CHANNEL_NAME,
    EDITED_TEXT,
    NOT_INCLUDED,
    REVENGE,
    chat,
    message,
    photo_fields,
    rich_channel,
    service,
    when,
    write_account,
    write_single,
)

SAMPLE = Path(__file__).resolve().parents[2] / "monitor" / "sample" / "ChannelExport"


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        yield archive
    finally:
        await archive.close()


def read_all(path: Path, **kw) -> tuple[dict[int, Post], int]:
    posts: dict[int, Post] = {}
    service_count = 0
    for item in iter_export(locate_export(path), **kw):
        if isinstance(item, str):
            service_count += 1
        else:
            posts[item.message_id] = item
    return posts, service_count


# --- reading ----------------------------------------------------------------------------------


def test_single_chat_export_is_read_field_by_field(tmp_path):
    posts, service_count = read_all(rich_channel(tmp_path / "export"))
    assert service_count == 2
    assert sorted(posts) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15]
    channel = posts[2].channel
    assert (channel.id, channel.title, channel.username) == (CHANNEL_ID, CHANNEL_NAME, None)
    assert posts[2].text == REVENGE
    assert posts[2].source == "import"
    assert posts[2].raw["id"] == 2
    assert posts[2].url == f"https://t.me/c/{CHANNEL_ID}/2"


def test_dates_come_from_date_unixtime_in_utc(tmp_path):
    folder = rich_channel(tmp_path / "export")
    raw = json.loads((folder / "result.json").read_text(encoding="utf-8"))["messages"][1]
    assert raw["date"] == "2021-11-03T01:30:00"  # the exporting machine's clock, UTC+3
    posts, _ = read_all(folder)
    assert posts[2].date == datetime(2021, 11, 2, 22, 30, tzinfo=UTC)
    assert posts[4].edit_date == datetime(2021, 11, 3, 11, 15, tzinfo=UTC)
    assert posts[3].edit_date is None


def test_an_old_export_without_unixtime_takes_the_local_date(tmp_path):
    old = message(1, "قديم")
    del old["date_unixtime"]
    posts, _ = read_all(write_single(tmp_path / "e", [old]))
    assert posts[1].date == datetime.fromisoformat(old["date"]).replace(tzinfo=UTC)


def test_list_text_is_joined_and_entities_keep_their_offsets(tmp_path):
    posts, _ = read_all(rich_channel(tmp_path / "export"))
    post = posts[3]
    assert post.text == "تابعونا @sabereen_test وموقعنا https://example.org/b عاجل #الانتقام_قادم"
    by_type = {e["type"]: e for e in post.entities}
    assert set(by_type) == {"mention", "text_link", "link", "bold", "hashtag"}
    for entity in post.entities:
        assert post.text[entity["offset"] : entity["offset"] + entity["length"]] == entity["text"]
    assert by_type["text_link"]["href"] == "https://example.org/a"
    assert by_type["hashtag"]["text"] == "#الانتقام_قادم"
    assert posts[2].entities == []  # a plain string carries none
    assert posts[15].text == "#باقي_٥٩_يوما على الموعد"
    assert posts[15].entities[0]["offset"] == 0


def test_entities_only_in_text_entities_are_kept(tmp_path):
    msg = message(1, "#وعد_الله قادم")
    msg["text_entities"] = [{"type": "hashtag", "text": "#وعد_الله"}, {"type": "plain", "text": " قادم"}]
    posts, _ = read_all(write_single(tmp_path / "e", [msg]))
    assert posts[1].entities == [{"type": "hashtag", "text": "#وعد_الله", "offset": 0, "length": 9}]


def test_forwards_replies_and_authors(tmp_path):
    posts, _ = read_all(rich_channel(tmp_path / "export"))
    assert posts[5].fwd_from_name == "قناة أخرى"
    assert posts[6].reply_to == 2
    assert posts[2].fwd_from_name is None and posts[2].reply_to is None
    assert posts[2].author == CHANNEL_NAME


def test_media_photos_documents_placeholders_and_missing_files(tmp_path):
    folder = rich_channel(tmp_path / "export")
    posts, _ = read_all(folder)
    (jpeg,) = posts[7].media
    assert (jpeg.kind, jpeg.is_image, jpeg.mime_type) == ("photo", True, "image/jpeg")
    assert jpeg.path == (folder / "photos" / "photo_1@04-11-2021_12-00-00.jpg").resolve()
    assert jpeg.width == 64 and jpeg.height == 48 and jpeg.size == jpeg.path.stat().st_size
    (placeholder,) = posts[8].media
    assert placeholder.path is None
    assert (
        placeholder.missing_reason
        == "not included in export (the export's settings left this kind of file out)"
    )
    (gone,) = posts[9].media
    assert gone.path is None and "photos/photo_9_gone.jpg" in gone.missing_reason
    (webp,) = posts[10].media
    assert (webp.kind, webp.is_image, webp.mime_type) == ("sticker", True, "image/webp")
    (video,) = posts[11].media
    assert (video.kind, video.is_image, video.mime_type) == ("video_file", False, "video/mp4")
    assert video.path is not None
    assert posts[12].media[0].is_image and posts[12].media[0].path.suffix == ".png"
    assert posts[2].media == []


def test_a_path_outside_the_export_folder_is_not_read(tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    posts, _ = read_all(write_single(tmp_path / "e", [message(1, "x", photo="../secret.jpg")]))
    (item,) = posts[1].media
    assert item.path is None and "outside" in item.missing_reason


def test_full_account_export_reads_chats_and_left_chats(tmp_path):
    folder = write_account(
        tmp_path / "account",
        chats=[
            chat("قناة أولى", 111, [message(1, "الأولى"), service(2), message(3, "الثالثة")]),
            chat("Second channel", 222, [message(1, "second one")], chat_type="private_channel"),
        ],
        left_chats=[chat("قناة مغادرة", 333, [message(5, "غادرنا")], chat_type="public_supergroup")],
    )
    items = list(iter_export(locate_export(folder)))
    posts = [i for i in items if not isinstance(i, str)]
    assert [(p.channel.id, p.message_id) for p in posts] == [(111, 1), (111, 3), (222, 1), (333, 5)]
    assert [p.channel.title for p in posts] == ["قناة أولى", "قناة أولى", "Second channel", "قناة مغادرة"]
    assert items.count("service") == 1


def test_full_account_export_skips_personal_chats(tmp_path):
    folder = write_account(
        tmp_path / "account",
        chats=[
            chat("Saved Messages", 42, [message(1, "my own note")], chat_type="saved_messages"),
            chat("A friend", 77, [message(1, "private talk")], chat_type="personal_chat"),
            chat("قناة", 111, [message(1, "منشور")]),
            chat("Bot", 88, [message(1, "bot says")], chat_type="bot_chat"),
        ],
    )
    items = list(iter_export(locate_export(folder)))
    posts = [i for i in items if isinstance(i, Post)]
    assert [(p.channel.id, p.text) for p in posts] == [(111, "منشور")]
    skipped = [i for i in items if isinstance(i, SkippedChat)]
    assert [(c.name, c.type, c.messages) for c in skipped] == [
        ("Saved Messages", "saved_messages", 1),
        ("A friend", "personal_chat", 1),
        ("Bot", "bot_chat", 1),
    ]


def test_the_username_option_makes_public_links(tmp_path):
    posts, _ = read_all(rich_channel(tmp_path / "export"), username="@sabereen_test")
    assert posts[2].channel.username == "sabereen_test"
    assert posts[2].url == "https://t.me/sabereen_test/2"


def test_locate_export_accepts_the_folder_or_the_file(tmp_path):
    folder = write_single(tmp_path / "e", [message(1, "x")])
    assert locate_export(folder) == folder / "result.json"
    assert locate_export(folder / "result.json") == folder / "result.json"
    with pytest.raises(ExportError, match=r"holds no result\.json"):
        locate_export(tmp_path)
    with pytest.raises(ExportError, match="does not exist"):
        locate_export(tmp_path / "nowhere")


# --- importing --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_import_then_import_again(archive, tmp_path):
    folder = rich_channel(tmp_path / "export")
    first = await import_export(folder, Pipeline(archive))
    assert first.to_json() == {
        "chats": 1,
        "messages": 15,
        "posts_new": 13,
        "posts_updated": 0,
        "posts_skipped": 0,
        "service_messages": 2,
        "messages_rejected": 0,
        "rejected_reasons": [],
        "media_stored": 4,
        "media_already_stored": 0,
        "media_missing": 2,
        "ocr_done": 0,
        "ocr_failed": 0,
        "alerts": 0,
        "missing_files": first.missing_files,
        "media_folders_absent": [],
        "local_dates": 0,
        "local_dates_read_as": None,
        "skipped_chats": [],
    }
    assert len(first.missing_files) == 2
    stats = await archive.stats()
    assert (stats["posts"], stats["images"], stats["media_missing"]) == (13, 3, 2)
    rows_before = await archive.fetchall("SELECT id, updated_at FROM posts ORDER BY id")

    again = await import_export(folder / "result.json", Pipeline(archive))
    assert again.new == 0 and again.updated == 0 and again.unchanged == 13
    assert (again.media_stored, again.media_known) == (0, 4)  # nothing stored twice
    assert (await archive.stats())["posts"] == 13
    assert [tuple(r) for r in await archive.fetchall("SELECT id, updated_at FROM posts ORDER BY id")] == [
        tuple(r) for r in rows_before
    ]
    assert (await archive.fetchone("SELECT count(*) FROM media"))[0] == 4
    assert (await archive.fetchone("SELECT count(*) FROM post_versions"))[0] == 0


@pytest.mark.asyncio
async def test_imported_posts_are_stored_in_utc_with_their_details(archive, tmp_path):
    await import_export(rich_channel(tmp_path / "export"), Pipeline(archive), username="sabereen_test")
    record = await archive.post(CHANNEL_ID, 2)
    assert record.date == datetime(2021, 11, 2, 22, 30, tzinfo=UTC)
    row = await archive.fetchone("SELECT date, source, raw FROM posts WHERE message_id = 2")
    assert row["date"] == "2021-11-02T22:30:00+00:00"
    assert row["source"] == "import"
    assert json.loads(row["raw"])["date_unixtime"] == str(int(record.date.timestamp()))
    assert (await archive.post(CHANNEL_ID, 4)).text == EDITED_TEXT
    assert (await archive.post(CHANNEL_ID, 5)).fwd_from_name == "قناة أخرى"
    assert (await archive.post(CHANNEL_ID, 6)).reply_to == 2
    assert (await archive.post(CHANNEL_ID, 1)) is None  # a service message is not a post
    assert record.url == "https://t.me/sabereen_test/2"
    media = await archive.post_media((await archive.post(CHANNEL_ID, 7)).id)
    assert media[0]["sha256"] and media[0]["ocr_status"] == "pending"


@pytest.mark.asyncio
async def test_a_newer_export_with_an_edit_keeps_the_old_text(archive, tmp_path):
    await import_export(write_single(tmp_path / "v1", [message(1, "النص الأصلي")]), Pipeline(archive))
    newer = [message(1, "النص بعد التعديل", edited=when(3)), message(2, "جديد")]
    summary = await import_export(write_single(tmp_path / "v2", newer), Pipeline(archive))
    assert (summary.new, summary.updated, summary.unchanged) == (1, 1, 0)
    record = await archive.post(CHANNEL_ID, 1)
    assert record.text == "النص بعد التعديل"
    assert [v["text"] for v in await archive.versions(record.id)] == ["النص الأصلي"]


@pytest.mark.asyncio
async def test_the_same_poster_in_two_exports_is_stored_once(archive, tmp_path):
    a = write_single(tmp_path / "a", [message(1, "ملصق", **photo_fields(tmp_path / "a", "p.jpg"))])
    b = write_single(
        tmp_path / "b",
        [message(9, "نفس الملصق", **photo_fields(tmp_path / "b", "other-name.jpg"))],
        chat_id=999,
    )
    await import_export(a, Pipeline(archive))
    await import_export(b, Pipeline(archive))
    assert (await archive.fetchone("SELECT count(*) FROM media"))[0] == 1
    assert (await archive.fetchone("SELECT count(DISTINCT sha256) FROM post_media"))[0] == 1
    assert (await archive.stats())["channels"] == 2


@pytest.mark.asyncio
async def test_a_full_account_export_imports(archive, tmp_path):
    folder = write_account(
        tmp_path / "account",
        chats=[chat("قناة أولى", 111, [message(1, "الانتقام قادم")])],
        left_chats=[chat("قناة مغادرة", 333, [message(5, "والانتقام آت")], chat_type="private_channel")],
    )
    summary = await import_export(folder, Pipeline(archive))
    assert (summary.chats, summary.new) == (2, 2)
    assert {h.post.channel_id for h in await archive.search("الانتقام")} == {111, 333}


@pytest.mark.asyncio
async def test_the_progress_callback_sees_the_whole_file(archive, tmp_path):
    folder = rich_channel(tmp_path / "export")
    seen: list[int] = []
    await import_export(folder, Pipeline(archive), on_bytes=seen.append, batch_size=3)
    assert sum(seen) == (folder / "result.json").stat().st_size
    assert (await archive.stats())["posts"] == 13


@pytest.mark.asyncio
async def test_the_bundled_sample_imports_cleanly(archive):
    summary = await import_export(SAMPLE, Pipeline(archive))
    assert summary.new > 0 and summary.media_stored > 0
    assert all("not included" in line for line in summary.missing_files)  # only placeholders
    assert (await archive.stats())["images"] >= 1


# --- malformed exports ------------------------------------------------------------------------


def many(n: int) -> list[dict]:
    return [message(i, f"رسالة رقم {i} #تجربة") for i in range(1, n + 1)]


def corrupt(folder: Path, before: str, insert: str) -> int:
    """Insert ``insert`` before the first ``before`` in result.json; return that line's number."""
    path = folder / "result.json"
    text = path.read_text(encoding="utf-8")
    at = text.index(before)
    path.write_text(text[:at] + insert + text[at:], encoding="utf-8")
    return text[:at].count("\n") + 1


async def import_error(folder: Path, archive: Archive) -> str:
    with pytest.raises(ExportError) as exc:
        await import_export(folder, Pipeline(archive), batch_size=7)
    message_text = str(exc.value)
    assert "\n" not in message_text
    assert str(folder / "result.json") in message_text
    return message_text


@pytest.mark.asyncio
async def test_a_bad_token_in_the_middle(archive, tmp_path):
    folder = write_single(tmp_path / "e", many(50))
    line = corrupt(folder, '"id": 30,', "@@@ ")
    message_text = await import_error(folder, archive)
    assert f"line {line}, column" in message_text
    ids = [r[0] for r in await archive.fetchall("SELECT message_id FROM posts ORDER BY message_id")]
    assert ids == list(range(1, 30))  # everything before the bad spot is kept
    # Fixing the file and importing again resumes: nothing duplicated, the rest added.
    (folder / "result.json").write_text(
        (folder / "result.json").read_text(encoding="utf-8").replace("@@@ ", ""), encoding="utf-8"
    )
    summary = await import_export(folder, Pipeline(archive))
    assert (summary.new, summary.unchanged) == (21, 29)
    assert (await archive.stats())["posts"] == 50


@pytest.mark.asyncio
async def test_a_truncated_file(archive, tmp_path):
    folder = write_single(tmp_path / "e", many(40))
    path = folder / "result.json"
    text = path.read_text(encoding="utf-8")
    cut = text[: text.index('"id": 35,') + 12]
    path.write_text(cut, encoding="utf-8")
    message_text = await import_error(folder, archive)
    assert f"line {cut.count(chr(10)) + 1}, column" in message_text
    assert (await archive.stats())["posts"] == 34


@pytest.mark.asyncio
async def test_a_truncated_full_account_export(archive, tmp_path):
    folder = write_account(
        tmp_path / "account", chats=[chat("أ", 111, many(10)), chat("ب", 222, many(10))], left_chats=[]
    )
    path = folder / "result.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.rindex('"id": 5,')], encoding="utf-8")
    await import_error(folder, archive)
    assert (await archive.stats())["posts"] == 14


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"   \n", "not valid JSON"),
        (b"[1, 2, 3]", "not a Telegram Desktop export"),
        (b'{"name": "x", "id": 1}', "not a Telegram Desktop export"),
        (b'{"name": "x", "type": "public_channel", "id": 5, "messages": [', "not valid JSON"),
        (b'{"name": "x", "messages": [', "no 'id'"),
        (b'{"name": "x", "type": "public_channel", "messages": []}', "no 'id'"),
        (b"\xff\xfe{ not json", "result.json"),
        (
            '{"name": "x", "id": 5, "messages": [{"id": 1, "type": "message", "text": "\udcff"}]}'.encode(
                "utf-8", "surrogatepass"
            ),
            "line 1 (bytes that are not UTF-8",
        ),
    ],
)
@pytest.mark.asyncio
async def test_hostile_files_give_one_export_error(archive, tmp_path, content, expected):
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "result.json").write_bytes(content)
    assert expected in await import_error(folder, archive)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"id": "seven", "type": "message", "date_unixtime": "1635845400", "text": "x"}, "no valid 'id'"),
        ({"id": 7, "type": "message", "text": "x"}, "no 'date_unixtime' or 'date'"),
        ({"id": 7, "type": "message", "date_unixtime": "soon", "text": "x"}, "not a Unix time"),
        ({"id": 7, "type": "message", "date_unixtime": "1635845400", "text": 12}, "'text' must be"),
        ({"id": 7, "type": "message", "date_unixtime": "1635845400", "text": [3]}, "'text' holds"),
        ("just a string", "is not an object"),
    ],
)
@pytest.mark.asyncio
async def test_a_message_with_wrong_fields_is_named(archive, tmp_path, bad, expected):
    folder = write_single(tmp_path / "e", [message(1, "قبل"), bad, message(9, "بعد")])
    message_text = await import_error(folder, archive)
    assert expected in message_text
    assert (await archive.stats())["posts"] == 1  # the post before it is kept


@pytest.mark.asyncio
async def test_placeholders_everywhere_are_not_fatal(archive, tmp_path):
    messages = [message(i, f"صورة {i}", photo=NOT_INCLUDED) for i in range(1, 6)]
    messages.append(message(6, "ملف", file=NOT_INCLUDED, mime_type="image/png", file_name="x.png"))
    summary = await import_export(write_single(tmp_path / "e", messages), Pipeline(archive))
    assert (summary.new, summary.media_stored, summary.media_missing) == (6, 0, 6)
    assert (await archive.stats())["media_missing"] == 6


@pytest.mark.asyncio
async def test_a_large_full_account_export_streams_across_buffers(archive, tmp_path):
    # Well beyond ijson's read buffer, so chats and messages straddle chunk boundaries.
    chats = [
        chat(f"قناة {n}", 1000 + n, [message(i, f"منشور {n}-{i} " + "نص " * 20) for i in range(1, 401)])
        for n in range(3)
    ]
    folder = write_account(tmp_path / "account", chats=chats[:2], left_chats=chats[2:])
    assert (folder / "result.json").stat().st_size > 300_000
    summary = await import_export(folder, Pipeline(archive), batch_size=250)
    assert (summary.chats, summary.new) == (3, 1200)
    rows = await archive.fetchall(
        "SELECT channel_id, count(*), max(message_id) FROM posts GROUP BY channel_id"
    )
    assert [tuple(r) for r in rows] == [(1000, 400, 400), (1001, 400, 400), (1002, 400, 400)]
    record = await archive.post(1001, 77)
    assert record.text.startswith("منشور 1-77 ")


@pytest.mark.asyncio
async def test_an_error_late_in_a_large_file_keeps_everything_before_it(archive, tmp_path):
    folder = write_single(tmp_path / "e", [message(i, "نص طويل " * 30) for i in range(1, 1501)])
    line = corrupt(folder, '"id": 1400,', "@@@ ")
    message_text = await import_error(folder, archive)
    assert f"line {line}," in message_text
    assert (await archive.stats())["posts"] == 1399


_PART = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda kind, text: {"type": kind, "text": text},
        st.sampled_from(["bold", "hashtag", "mention", "italic", "code"]),
        st.text(min_size=1, max_size=15),
    ),
    st.builds(
        lambda text: {"type": "text_link", "text": text, "href": "https://example.org/x"},
        st.text(min_size=1, max_size=10),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.one_of(st.text(max_size=40), st.lists(_PART, max_size=6)), min_size=1, max_size=8))
def test_any_text_round_trips_through_an_export(tmp_path_factory, texts):
    folder = write_single(
        tmp_path_factory.mktemp("prop"), [message(i, text) for i, text in enumerate(texts, 1)]
    )
    posts, _ = read_all(folder)
    assert sorted(posts) == list(range(1, len(texts) + 1))
    for i, text in enumerate(texts, 1):
        parts = [text] if isinstance(text, str) else text
        assert posts[i].text == "".join(p if isinstance(p, str) else p["text"] for p in parts)
        for entity in posts[i].entities:  # offsets in UTF-16 code units, as Telegram counts them
            assert entity_text(posts[i].text, entity) == entity["text"]
