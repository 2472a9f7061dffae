"""Issue 19 on real Telegram Desktop exports that other people made and published.

They live in ``../shared/real_exports`` beside the project (see its SOURCES.md), never in it;
``TGMONITOR_REAL_EXPORTS`` names another folder. Without them every test here is skipped with
that reason; ``test_export_gaps.py`` covers the same gaps on the project's own exports.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from alerts.detect import Detector
from alerts.rules import load_rules
from handlers.export_messages import PLACEHOLDERS
from handlers.importer import import_export
from handlers.pipeline import Pipeline
from monitor.core.entities import entity_text
from monitor.core.store import Archive

REAL = Path(
    os.environ.get("TGMONITOR_REAL_EXPORTS")
    or Path(__file__).resolve().parents[3] / "shared" / "real_exports"
)

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(
        not (REAL / "SOURCES.md").is_file(), reason=f"no real exports at {REAL} (../shared/real_exports)"
    ),
]


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        yield archive
    finally:
        await archive.close()


def case(name: str) -> Path:
    return REAL / name


def messages_of(folder: Path) -> dict[int, dict]:
    data = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    return {m["id"]: m for m in data["messages"] if m.get("type") == "message"}


def channel_id(folder: Path) -> int:
    return int(json.loads((folder / "result.json").read_text(encoding="utf-8"))["id"])


async def test_polls_are_found_by_their_question(archive):
    folder = case("anon_public_channel_poll_2021")
    await import_export(folder, Pipeline(archive))
    hits = await archive.search("question")
    (hit,) = [h for h in hits if h.post.message_id == 5]
    assert hit.post.text == "Poll: Poll question\n- option 1 (1 vote)\n- option 2 (0 votes)\n1 voter"
    assert 6 in [h.post.message_id for h in await archive.search("quiz")]  # 7 is "reply to quiz"


async def test_a_chinese_poll_and_its_newer_results(archive):
    folder = case("zh_trantor_channel_2023")
    await import_export(folder / "older", Pipeline(archive))
    cid = channel_id(folder)
    before = await archive.post(cid, 1010)
    assert before.text.startswith("Poll: 请问你是否在频道内看到过广告？\n- 有 (40 votes)")
    assert before.text.endswith("108 voters")
    summary = await import_export(folder, Pipeline(archive))
    after = await archive.post(cid, 1010)
    assert after.text.endswith("109 voters")  # the re-export's results win...
    assert [v["text"] for v in await archive.versions(after.id)] == [before.text]  # ...the older stay
    assert summary.new == len(messages_of(folder)) - len(messages_of(folder / "older"))


async def test_placeholders_are_reasons_not_file_names(archive):
    folder = case("anon_saved_messages_2020")
    await import_export(folder, Pipeline(archive))
    reasons = [
        row[0]
        for row in await archive.fetchall(
            "SELECT missing_reason FROM post_media WHERE missing_reason IS NOT NULL"
        )
    ]
    assert PLACEHOLDERS["(File exceeds maximum size. Change data exporting settings to download.)"] in reasons
    assert not [r for r in reasons if "(File" in r]


async def test_a_re_export_takes_the_newer_edit_date_and_file_reasons(archive):
    folder = case("zh_cat_channel_with_photos_2023")
    older, newer = messages_of(folder / "older"), messages_of(folder)
    moved = [i for i in older if i in newer and older[i].get("edited") != newer[i].get("edited")]
    assert moved  # the case: one post's edit date is older in the older export
    await import_export(folder / "older", Pipeline(archive))
    await import_export(folder, Pipeline(archive))
    cid = channel_id(folder)
    for message_id in moved:
        stored = await archive.post(cid, message_id)
        assert stored.edit_date == datetime.fromtimestamp(int(newer[message_id]["edited_unixtime"]), UTC)


async def test_a_file_unavailable_in_the_older_export_takes_the_newer_facts(archive):
    folder = case("zh_trantor_channel_2023")
    older = messages_of(folder / "older")
    (mid,) = [i for i, m in older.items() if m.get("file") == "(File unavailable, please try again later)"]
    await import_export(folder / "older", Pipeline(archive))
    await import_export(folder, Pipeline(archive))
    (media,) = await archive.post_media((await archive.post(channel_id(folder), mid)).id)
    newer = messages_of(folder)[mid]
    assert media["missing_reason"] == f"file missing: {newer['file']}"  # the folder is not kept here


async def test_an_old_export_is_read_in_the_zone_given(archive):
    folder = case("fa_cuda_supergroup_2021")
    summary = await import_export(folder, Pipeline(archive), local_tz=ZoneInfo("Asia/Tehran"))
    file = messages_of(folder)
    assert summary.local_dates == len(file)
    assert summary.to_json()["local_dates_read_as"] == "Asia/Tehran"
    first = min(file)
    local = datetime.fromisoformat(file[first]["date"]).replace(tzinfo=ZoneInfo("Asia/Tehran"))
    assert (await archive.post(channel_id(folder), first)).date == local.astimezone(UTC)


async def test_the_media_folder_added_later_is_counted_as_stored(archive, tmp_path):
    folder = case("zh_cat_channel_with_photos_2023")
    alone = tmp_path / "json-only"
    alone.mkdir()
    shutil.copy(folder / "result.json", alone / "result.json")
    first = await import_export(alone, Pipeline(archive))
    assert {"photos"} <= first.media_folders_absent
    second = await import_export(folder, Pipeline(archive))
    present = sum(
        1
        for m in messages_of(folder).values()
        for key in ("photo", "file")
        if isinstance(m.get(key), str) and (folder / m[key]).is_file()
    )
    assert (second.media_stored, second.media_known) == (present, 0)
    assert second.media_folders_absent == set()


async def test_entity_offsets_are_utf16_and_cover_their_text(archive):
    folder = case("ar_salaf_channel_2025")
    await import_export(folder, Pipeline(archive))
    rows = await archive.fetchall("SELECT text, entities FROM posts")
    checked = 0
    for text, entities in rows:
        for entity in json.loads(entities):
            if "text" in entity:
                assert entity_text(text, entity) == entity["text"]
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("name", "linked"),
    [
        ("ar_salaf_channel_2025", True),
        ("anon_saved_messages_2020", False),
        ("anon_supergroup_migrated_2021", False),  # its messages are from before the migration
        ("en_private_group_2024", False),
        ("anon_bot_chat_2020", False),
    ],
)
async def test_links_only_where_a_link_reaches_the_message(archive, name, linked):
    folder = case(name)
    await import_export(folder, Pipeline(archive))
    mid = max(messages_of(folder))
    url = (await archive.post(channel_id(folder), mid)).url
    assert (url == f"https://t.me/c/{channel_id(folder)}/{mid}") if linked else url is None


async def test_the_anime_title_does_not_raise_a_revenge_alert():
    text = next(
        "".join(
            p if isinstance(p, str) else p["text"]
            for p in (m["text"] if isinstance(m["text"], list) else [m["text"]])
        )
        for m in messages_of(case("zh_trantor_channel_2023")).values()
        if "ZOMBIE LAND SAGA Revenge" in json.dumps(m["text"], ensure_ascii=False)
    )
    detection = Detector(load_rules()).detect(text, date=datetime(2024, 1, 1, tzinfo=UTC))
    assert not detection.alert, detection.reasons()
