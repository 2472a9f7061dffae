"""Hostile inputs through the CLI (issue 20, items 5, 6, 9, 10): huge integers, deep nesting,
duplicate ids, dates out of range, lone surrogates, a ``messages`` that is not a list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.support.export import (
    CHANNEL_ID,
    CHANNEL_NAME,
    chat,
    message,
    photo_fields,
    write_account,
    write_single,
)


@pytest.fixture
def env(no_user_config):
    return no_user_config


def run(*args: object, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def imported(env: Path, messages: list[dict], **chat) -> Path:
    db = env / "archive.db"
    run("--db", db, "import", write_single(env / "export", messages, **chat), "--no-ocr", "--json")
    return db


# --- 9: dates out of range ------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ("--since", "1000000d"),
        ("--since", "99999999999999999999d"),
        ("--until", "9999-12-31"),
        ("--since", "0001-01-01T00:00+05:00"),
        ("--until", "9999-12-31T23:00-05:00"),
    ],
)
def test_dates_out_of_range_mean_no_bound(env, option):
    db = imported(env, [message(1, "الانتقام قادم"), message(2, "شيء آخر")])
    found = json.loads(run("--db", db, "search", "الانتقام", *option, "--json").output)
    assert [row["message_id"] for row in found] == [1]
    run("--db", db, "alerts", "--since", "1000000d", "--json")


# --- 5 and 10: numbers beyond 64 bits, JSON nested too deep, ids of 0 (negative ids are kept) -------------------------

BIG = 1 << 63
DEEP = "@@deep@@"


def hostile_messages(folder: Path) -> tuple[list[dict], dict[int, str]]:
    """Good messages -5 (a migrated group's, kept), 1, 20 and 21 around hostile ones; the hostile ones' ids and what is wrong."""
    photo = photo_fields(folder, "orphan.jpg")
    messages = [
        message(1, "الانتقام قادم أول"),
        message(2, "id beyond 64 bits") | {"id": BIG},
        message(2, "الانتقام قادم قبل الترحيل") | {"id": -5},  # a migrated group's old message
        message(2, "zero id") | {"id": 0},
        message(3, "reply beyond", reply_to_message_id=BIG),
        message(4, "photo too big", **{**photo, "photo_file_size": BIG}),
        message(5, "photo too wide", **{**photo, "width": 1 << 70}),
        message(6, "forward beyond", forwarded_from="x", forwarded_from_id=f"channel{1 << 70}"),
        message(7, "deep entities") | {"text_entities": [{"type": "bold", "text": "deep"}, DEEP]},
        message(20, "الانتقام قادم ثان"),
        message(21, "الانتقام قادم ثالث"),
    ]
    why = {
        BIG: "not a message id",
        0: "not a message id",
        3: "'reply_to_message_id'",
        4: "size",
        5: "width",
        6: "'forwarded_from_id'",
        7: "nests deeper than",
    }
    return messages, why


def write_hostile(folder: Path, road: str) -> tuple[Path, dict[int, str]]:
    messages, why = hostile_messages(folder)
    if road == "blocks":
        write_single(folder, messages)
    else:  # the event road: a full-account export
        write_account(folder, [chat(CHANNEL_NAME, CHANNEL_ID, messages)])
    result = folder / "result.json"
    deep = "[" * 2500 + '{"type": "bold", "text": "x"}' + "]" * 2500
    result.write_text(result.read_text(encoding="utf-8").replace(f'"{DEEP}"', deep), encoding="utf-8")
    return folder, why


@pytest.mark.parametrize("road", ["blocks", "events"])
def test_hostile_numbers_and_nesting_reject_one_message_and_keep_the_rest(env, road):
    export, why = write_hostile(env / "export", road)
    db = env / "archive.db"
    first = run("--db", db, "import", export, "--no-ocr")
    rejected = [line for line in first.stderr.splitlines() if line.startswith("  rejected: ")]
    assert len(rejected) == 5 and f"{len(why)} messages rejected" in first.stderr, first.stderr
    for line in rejected:
        assert str(export / "result.json") in line and "not imported" in line
    assert any(f"message id {BIG} (#2)" in line and why[BIG] in line for line in rejected)
    summary = json.loads(run("--db", env / "other.db", "import", export, "--no-ocr", "--json").output)
    assert summary["messages_rejected"] == len(why) and summary["posts_new"] == 4
    summary = json.loads(run("--db", db, "import", export, "--no-ocr", "--json").output)
    assert summary["messages_rejected"] == len(why)
    assert (summary["posts_new"], summary["posts_updated"], summary["posts_skipped"]) == (0, 0, 4)
    found = json.loads(run("--db", db, "search", "الانتقام", "--json").output)
    assert sorted(row["message_id"] for row in found) == [-5, 1, 20, 21]
    # a message from before a migration has no link of its own: none rather than a broken one
    assert {row["message_id"]: row["url"] for row in found}[-5] is None
    assert not any((row["url"] or "").endswith(("/-5", "/0")) for row in found)
    media = db.parent / "media"
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]  # no orphan file


def test_a_chat_id_beyond_64_bits_is_one_sentence(env):
    export = write_single(env / "export", [message(1, "x")], chat_id=1 << 70)
    result = run("--db", env / "a.db", "import", export, "--no-ocr", ok=False)
    assert result.exit_code != 0
    assert str(export / "result.json") in result.stderr and "chat id" in result.stderr


# --- 10: lone surrogates, a "messages" that is not a list ----------------------------------------


@pytest.mark.parametrize("road", ["blocks", "events"])
def test_lone_surrogates_are_stored_as_replacement_characters_and_said(env, road, caplog):
    messages = [message(1, "الانتقام \ud83d قادم"), message(2, "سالم \U0001f600 تماما"), message(3, "\udc00")]
    data: dict = {"name": "قناة \udc00 مكسورة", "type": "public_channel", "id": 77, "messages": messages}
    if road == "events":
        data = {"chats": {"list": [data]}, "left_chats": {"list": []}}
    export = env / "export"
    export.mkdir()
    # ensure_ascii: the JSON is valid, the surrogates are \u escapes (as any encoder may write them)
    (export / "result.json").write_text(json.dumps(data, ensure_ascii=True), encoding="utf-8")
    db = env / "archive.db"
    with caplog.at_level("WARNING"):
        summary = json.loads(run("--db", db, "import", export, "--no-ocr", "--json").output)
    assert summary["posts_new"] == 3
    assert "lone UTF-16 surrogates" in caplog.text and "not valid JSON" not in caplog.text
    found = {
        row["message_id"]: row for row in json.loads(run("--db", db, "search", "الانتقام", "--json").output)
    }
    assert found[1]["text"] == "الانتقام \ufffd قادم"
    assert found[1]["channel"] == "قناة \ufffd مكسورة"
    assert (
        json.loads(run("--db", db, "search", "سالم", "--json").output)[0]["text"] == "سالم \U0001f600 تماما"
    )
    again = json.loads(run("--db", db, "import", export, "--no-ocr", "--json").output)
    assert (again["posts_new"], again["posts_updated"], again["posts_skipped"]) == (0, 0, 3)


@pytest.mark.parametrize("messages", ["{}", '"none"', "null", "3"])
def test_messages_that_are_not_a_list_are_an_error_naming_the_file(env, messages):
    export = env / "export"
    export.mkdir()
    result_json = export / "result.json"
    result_json.write_text(f'{{"name": "x", "type": "public_channel", "id": 5, "messages": {messages}}}')
    result = run("--db", env / "a.db", "import", export, "--no-ocr", ok=False)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(result_json) in lines[0] and "not a list" in lines[0], result.stderr


# --- 6: the same message id twice in one export ---------------------------------------------------


@pytest.mark.parametrize("road", ["blocks", "events"])
def test_duplicate_message_ids_import_idempotently(env, road):
    photo = photo_fields(env / "export", "first.jpg")
    messages = [
        message(5, "الانتقام النسخة الأولى", **photo),
        message(6, "رسالة أخرى"),
        message(5, "الانتقام النسخة الثانية"),
        message(6, "رسالة أخرى"),
    ]
    if road == "blocks":
        export = write_single(env / "export", messages)
    else:
        export = write_account(env / "export", [chat(CHANNEL_NAME, CHANNEL_ID, messages)])
    db = env / "archive.db"
    first = json.loads(run("--db", db, "import", export, "--no-ocr", "--json").output)
    assert (first["posts_new"], first["posts_updated"], first["messages_rejected"]) == (2, 0, 2)
    reasons = first["rejected_reasons"]
    assert len(reasons) == 2 and "message id 5 (#3): the id repeats message #1's" in reasons[0]
    for _ in range(4):
        again = json.loads(run("--db", db, "import", export, "--no-ocr", "--json").output)
        assert (again["posts_new"], again["posts_updated"], again["posts_skipped"]) == (0, 0, 2)
    stats = json.loads(run("--db", db, "stats", "--json").output)
    assert stats["posts"] == 2 and stats["edited_versions"] == 0
    found = json.loads(run("--db", db, "search", "الانتقام", "--json").output)
    assert [row["text"] for row in found] == ["الانتقام النسخة الأولى"]  # the first copy is kept
    media = [p for p in (db.parent / "media").rglob("*") if p.is_file()]
    assert len(media) == 1  # its photo with it
