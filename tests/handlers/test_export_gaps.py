"""Issue 19, on the project's own exports (CI has no real ones): what an import used to lose.

Polls as text, every Desktop placeholder, re-exports merged, local times with ``--timezone``,
skipped chats reported, file counts on a re-import with files added, UTF-16 entity offsets and
no t.me link for chats that are not channels. ``test_export_real.py`` runs the same gaps on
real exports when ``../shared/real_exports`` is there.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from alerts.detect import Detector
from alerts.outbox import Outbox
from alerts.rules import load_rules
from handlers.export import iter_export, locate_export
from handlers.export_messages import PLACEHOLDERS
from handlers.importer import import_export
from handlers.pipeline import Pipeline
from monitor.core.config import Config
from monitor.core.entities import entity_text
from monitor.core.models import Post
from monitor.core.store import Archive
from tests.support.export import chat, message, photo_fields, when, write_account, write_single

POLL = {
    "question": "هل يجب استهداف سفارة المحتل؟",
    "closed": False,
    "total_voters": 109,
    "answers": [
        {"text": "نعم، إن شاء الله", "voters": 72, "chosen": False},
        {"text": "لا", "voters": 37, "chosen": True},
    ],
}


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    try:
        yield archive
    finally:
        await archive.close()


def posts_of(folder: Path, **kw) -> dict[int, Post]:
    return {i.message_id: i for i in iter_export(locate_export(folder), **kw) if isinstance(i, Post)}


# --- 1. polls -------------------------------------------------------------------------------


def test_a_poll_is_the_posts_text_with_its_results(tmp_path):
    folder = write_single(tmp_path / "e", [message(1, "", poll=POLL)])
    post = posts_of(folder)[1]
    assert post.text == (
        "Poll: هل يجب استهداف سفارة المحتل؟\n- نعم، إن شاء الله (72 votes)\n- لا (37 votes)\n109 voters"
    )
    assert post.media == []


@pytest.mark.asyncio
async def test_a_poll_question_is_searched_and_alerted_on(archive, tmp_path):
    folder = write_single(
        tmp_path / "e", [message(1, "", poll={**POLL, "question": "السفارة الأمريكية هدف مشروع لصواريخنا"})]
    )
    outbox = Outbox(archive, [], Config().alerts)
    pipeline = Pipeline(archive, Detector(load_rules()), outbox=outbox, deliver=False)
    summary = await import_export(folder, pipeline)
    assert summary.new == 1 and summary.alerts == 1
    # the question's words, written with other alef variants and diacritics, find it
    hits = await archive.search("الامريكيه")
    assert [h.post.message_id for h in hits] == [1]


def test_a_poll_with_text_and_a_poll_without_results(tmp_path):
    bare = {"question": "Closed one?", "closed": True, "answers": [{"text": "yes"}, {"text": "no"}]}
    folder = write_single(tmp_path / "e", [message(1, "caption", poll=bare)])
    assert posts_of(folder)[1].text == "caption\n\nPoll (closed): Closed one?\n- yes\n- no"


# --- 2. placeholders ------------------------------------------------------------------------


@pytest.mark.parametrize("sentence", sorted(PLACEHOLDERS))
def test_every_desktop_placeholder_has_its_reason(tmp_path, sentence):
    folder = write_single(
        tmp_path / "e",
        [
            message(1, "صورة", photo=sentence),
            message(
                2, "ملف", file=f"report.pdf {sentence}", file_name="report.pdf", mime_type="application/pdf"
            ),
        ],
    )
    posts = posts_of(folder)
    for post in posts.values():
        (item,) = post.media
        assert item.path is None
        assert item.missing_reason == PLACEHOLDERS[sentence]
        assert "(File" not in item.missing_reason  # the reason, not the sentence as a file name


def test_an_unknown_placeholder_is_not_a_file_path(tmp_path):
    folder = write_single(tmp_path / "e", [message(1, "x", photo="(File skipped by a newer Desktop)")])
    (item,) = posts_of(folder)[1].media
    assert item.missing_reason == "not in export: Telegram Desktop wrote '(File skipped by a newer Desktop)'"


# --- 3. re-exports --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_re_export_takes_the_newer_edit_date_and_the_file_now_there(archive, tmp_path):
    older = write_single(
        tmp_path / "old",
        [
            message(1, "بيان", date=when(2), edited=when(3)),
            message(2, "ملصق", photo=next(iter(sorted(PLACEHOLDERS))), date=when(2, 13)),
            message(3, "نص قديم", date=when(2, 14)),
        ],
    )
    first = await import_export(older, Pipeline(archive))
    assert (first.new, first.media_missing) == (3, 1)
    newer_folder = tmp_path / "new"
    newer = write_single(
        newer_folder,
        [
            message(1, "بيان", date=when(2), edited=when(5)),  # only the edit date changed
            message(2, "ملصق", date=when(2, 13), **photo_fields(newer_folder, "p.jpg")),
            message(3, "نص جديد", date=when(2, 14), edited=when(4)),
        ],
    )
    second = await import_export(newer, Pipeline(archive))
    assert (second.new, second.updated, second.unchanged) == (0, 2, 1)
    assert (second.media_stored, second.media_missing) == (1, 0)
    one = await archive.post(1234567890, 1)
    assert one.edit_date == when(5) and one.text == "بيان"
    # Same text: the older facts are kept as a version (its raw message is evidence too) ...
    assert [(v["text"], v["edit_date"]) for v in await archive.versions(one.id)] == [
        ("بيان", when(3).isoformat())
    ]
    three = await archive.post(1234567890, 3)
    assert [v["text"] for v in await archive.versions(three.id)] == ["نص قديم"]  # text edits stay versions
    (media,) = await archive.post_media((await archive.post(1234567890, 2)).id)
    assert media["sha256"] is not None and media["missing_reason"] is None
    report = await archive.evidence.verify(workers=1)  # ... and the hash chain proves every state
    assert report.ok, [str(f) for f in report.findings]
    again = await import_export(newer, Pipeline(archive))
    assert (again.new, again.updated, again.media_stored, again.media_known) == (0, 0, 0, 1)


@pytest.mark.asyncio
async def test_an_older_export_after_a_newer_one_keeps_the_newer_edit_date(archive, tmp_path):
    await import_export(write_single(tmp_path / "new", [message(1, "نص", edited=when(9))]), Pipeline(archive))
    again = await import_export(
        write_single(tmp_path / "old", [message(1, "نص", edited=when(3))]), Pipeline(archive)
    )
    assert again.updated == 0
    assert (await archive.post(1234567890, 1)).edit_date == when(9)


@pytest.mark.asyncio
async def test_an_older_export_after_a_newer_one_does_not_bring_back_the_older_text(archive, tmp_path):
    newer = write_single(tmp_path / "new", [message(1, "النص المعدل", edited=when(9))])
    older = write_single(tmp_path / "old", [message(1, "النص الأول", edited=when(3))])
    await import_export(newer, Pipeline(archive))
    again = await import_export(older, Pipeline(archive))
    assert (again.updated, again.unchanged) == (0, 1)
    post = await archive.post(1234567890, 1)
    assert (post.text, post.edit_date, await archive.versions(post.id)) == ("النص المعدل", when(9), [])


@pytest.mark.asyncio
async def test_a_still_missing_file_takes_the_newer_reason(archive, tmp_path):
    unavailable = "(File unavailable, please try again later)"
    await import_export(
        write_single(tmp_path / "old", [message(1, "x", photo=unavailable)]), Pipeline(archive)
    )
    await import_export(
        write_single(tmp_path / "new", [message(1, "x", photo="photos/p.jpg")]), Pipeline(archive)
    )
    (media,) = await archive.post_media((await archive.post(1234567890, 1)).id)
    assert media["missing_reason"] == "file missing: photos/p.jpg"


# --- 4. local times -------------------------------------------------------------------------


def _local_only(message_id: int, local: str) -> dict:
    out = message(message_id, "منشور قديم ٣")
    del out["date_unixtime"]
    out["date"] = local
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (UTC, datetime(2021, 3, 1, 12, 0, tzinfo=UTC)),
        (ZoneInfo("Asia/Tehran"), datetime(2021, 3, 1, 8, 30, tzinfo=UTC)),  # +03:30 in winter
        (timezone(timedelta(hours=-5)), datetime(2021, 3, 1, 17, 0, tzinfo=UTC)),
    ],
)
async def test_old_exports_are_read_in_the_zone_given(archive, tmp_path, zone, expected):
    folder = write_single(tmp_path / "e", [_local_only(1, "2021-03-01T12:00:00"), message(2, "حديث")])
    summary = await import_export(folder, Pipeline(archive), local_tz=zone)
    assert (await archive.post(1234567890, 1)).date == expected
    assert (await archive.post(1234567890, 2)).date == when(2, 12, 2)  # date_unixtime wins
    assert summary.local_dates == 1
    assert summary.to_json()["local_dates_read_as"] == str(zone)


def test_daylight_saving_is_followed_date_by_date(tmp_path):
    folder = write_single(
        tmp_path / "e", [_local_only(1, "2021-01-10T12:00:00"), _local_only(2, "2021-07-10T12:00:00")]
    )
    posts = posts_of(folder, local_tz=ZoneInfo("Asia/Tehran"))
    assert posts[1].date == datetime(2021, 1, 10, 8, 30, tzinfo=UTC)  # +03:30
    assert posts[2].date == datetime(2021, 7, 10, 7, 30, tzinfo=UTC)  # +04:30 (Iran's summer time then)


# --- 5. skipped chats -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_full_account_export_says_what_it_skipped(archive, tmp_path):
    folder = write_account(
        tmp_path / "account",
        chats=[
            chat(
                "Saved Messages", 42, [message(1, "ملاحظتي"), message(2, "أخرى")], chat_type="saved_messages"
            ),
            chat("صديق", 77, [message(1, "حديث خاص")], chat_type="personal_chat"),
            chat("قناة", 111, [message(1, "منشور")]),
            chat("Bot", 88, [message(1, "bot says")], chat_type="bot_chat"),
        ],
    )
    summary = await import_export(folder, Pipeline(archive))
    assert summary.new == 1
    assert summary.to_json()["skipped_chats"] == [
        {
            "name": "Saved Messages",
            "type": "saved_messages",
            "messages": 2,
            "reason": "saved messages (the analyst's own)",
        },
        {
            "name": "صديق",
            "type": "personal_chat",
            "messages": 1,
            "reason": "a personal chat (the analyst's own)",
        },
        {"name": "Bot", "type": "bot_chat", "messages": 1, "reason": "a chat with a bot (the analyst's own)"},
    ]


def test_the_human_summary_names_the_skipped_chats_escaped():
    from handlers.export import ExportSummary, SkippedChat
    from monitor.cmd_archive import notes_of
    from monitor.core.escape import for_terminal

    summary = ExportSummary(
        skipped_chats=[
            SkippedChat("صديق\x1b[31m", "personal_chat", 3),
            SkippedChat(None, "saved_messages", 2),
        ]
    )
    lines = [for_terminal(line) for line in notes_of(summary)]
    assert lines[0].startswith("  skipped 2 chats of this full-account export")
    assert "personal_chat 'صديق" in lines[1] and "3 messages, a personal chat (the analyst's own)" in lines[1]
    assert "\x1b" not in "".join(lines)  # a hostile name's escape is shown, never run
    assert lines[2] == "    saved_messages: 2 messages, saved messages (the analyst's own)"


# --- 6. file counts -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_files_added_after_a_first_import_count_as_stored(archive, tmp_path):
    full = tmp_path / "full"
    write_single(
        full,
        [
            message(i, f"ملصق {i}", **photo_fields(full, f"p{i}.jpg", color=(i * 20, 0, 0)))
            for i in range(1, 8)
        ],
    )
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(full / "result.json", alone / "result.json")
    first = await import_export(alone, Pipeline(archive))
    assert (first.media_stored, first.media_missing) == (0, 7)
    assert first.media_folders_absent == {"photos"}
    second = await import_export(full, Pipeline(archive))
    assert (second.media_stored, second.media_known, second.media_missing) == (7, 0, 0)
    assert second.media_folders_absent == set()
    third = await import_export(full, Pipeline(archive))
    assert (third.media_stored, third.media_known) == (0, 7)


def test_the_summary_says_how_many_more_files_are_missing(tmp_path):
    from handlers.export import ExportSummary
    from monitor.cmd_archive import notes_of

    summary = ExportSummary(
        media_missing=507, missing_files=[f"message {i}: file missing: photos/{i}.jpg" for i in range(20)]
    )
    summary.media_folders_absent = {"photos"}
    lines = notes_of(summary)
    assert lines[0].startswith("  the export folder holds no photos/ folder: exported without media")
    assert sum(line.startswith("  missing: ") for line in lines) == 5
    assert lines[-1] == "  and 502 more files missing"


# --- 7. entity offsets and links ------------------------------------------------------------


def test_export_entity_offsets_count_utf16_units_as_telegram_does(tmp_path):
    text = ["🔥🔥 ", {"type": "bold", "text": "عاجل 🚀"}, " و", {"type": "hashtag", "text": "#الانتقام_قادم"}]
    folder = write_single(tmp_path / "e", [message(1, text)])
    post = posts_of(folder)[1]
    bold, tag = post.entities
    assert (bold["offset"], bold["length"]) == (5, 7)  # each 🔥 is two UTF-16 units
    assert (tag["offset"], tag["length"]) == (14, 14)
    assert [entity_text(post.text, e) for e in post.entities] == ["عاجل 🚀", "#الانتقام_قادم"]


@pytest.mark.asyncio
async def test_an_archive_imported_with_code_point_offsets_is_fixed_keeping_the_old_as_a_version(
    archive, tmp_path
):
    folder = write_single(tmp_path / "e", [message(1, ["🔥 ", {"type": "bold", "text": "عاجل"}])])
    await import_export(folder, Pipeline(archive))
    post = await archive.post(1234567890, 1)
    # what an earlier tgmonitor stored: offsets in code points
    old = json.dumps(
        [{"type": "bold", "offset": 2, "length": 4, "text": "عاجل"}],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    async with archive.transaction() as tx:
        await tx.execute("UPDATE posts SET entities = ? WHERE id = ?", (old, post.id))
    again = await import_export(folder, Pipeline(archive))
    assert (again.updated, again.unchanged) == (0, 1)
    assert (await archive.post(1234567890, 1)).entities[0]["offset"] == 3
    # the stored offsets are kept as a version: nothing stored is rewritten without a trace
    assert [json.loads(v["entities"])[0]["offset"] for v in await archive.versions(post.id)] == [2]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("chat_type", "message_id", "linked"),
    [
        ("public_channel", 5, True),
        ("private_supergroup", 5, True),
        ("public_supergroup", -5, False),  # from the basic group before the migration
        ("private_group", 5, False),
        ("personal_chat", 5, False),
        ("saved_messages", 5, False),
        ("bot_chat", 5, False),
    ],
)
async def test_only_channel_messages_get_a_t_me_link(archive, tmp_path, chat_type, message_id, linked):
    folder = write_single(tmp_path / "e", [message(message_id, "رسالة")], chat_type=chat_type)
    await import_export(folder, Pipeline(archive))
    record = await archive.post(1234567890, message_id)
    assert record.url == (f"https://t.me/c/1234567890/{message_id}" if linked else None)
    (hit,) = await archive.search("رسالة")
    assert hit.to_json()["url"] == record.url
