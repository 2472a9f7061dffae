"""``tgmonitor import``, ``search`` and ``stats`` end to end: real exports, a real archive file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.core.store import Archive
from tests.support.export import CHANNEL_ID, message, rich_channel, write_single

SEARCH_KEYS = ["channel", "channel_id", "message_id", "date", "text", "ocr_text", "url", "snippet"]
STATS_KEYS = {"channels", "posts", "images", "ocr_done", "ocr_failed", "alerts", "pending_deliveries"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(no_user_config):
    """A clean home: no user config, no TGMONITOR_DB; returns the temporary directory."""
    return no_user_config


def run(*args: str, ok: bool = True, **kw):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True, **kw)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def imported(env: Path, *extra: str) -> Path:
    db = env / "archive.db"
    export = rich_channel(env / "export")
    run("--db", db, "import", export, "--no-ocr", "--json", *extra)
    return db


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory) -> Path:
    """One imported archive (with --username) that read-only tests share: an import takes a second."""
    home = tmp_path_factory.mktemp("shared")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
        patch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
        patch.delenv("TGMONITOR_CONFIG", raising=False)
        patch.delenv("TGMONITOR_DB", raising=False)
        return imported(home, "--username", "sabereen_test")


# --- import -----------------------------------------------------------------------------------


def test_import_json_summary_then_again(env):
    db = env / "archive.db"
    export = rich_channel(env / "export")
    first = run("--db", db, "import", export, "--no-ocr", "--json")
    summary = json.loads(first.stdout)
    assert summary["posts_new"] == 13
    assert summary["service_messages"] == 2
    assert summary["media_stored"] == 4 and summary["media_missing"] == 2
    for key in ("posts_updated", "posts_skipped", "ocr_done", "ocr_failed", "alerts", "chats", "messages"):
        assert key in summary
    again = json.loads(run("--db", db, "import", export / "result.json", "--no-ocr", "--json").stdout)
    assert (again["posts_new"], again["posts_updated"], again["posts_skipped"]) == (0, 0, 13)
    assert db.exists() and (env / "media").is_dir()


def test_import_human_summary(env):
    result = run("--db", env / "a.db", "import", rich_channel(env / "export"), "--no-ocr")
    assert "13 new" in result.stdout
    assert "2 missing" in result.stdout
    assert "missing:" in result.stderr  # the missing files are named


def _old_export(folder: Path) -> Path:
    """An export from before date_unixtime: the exporting machine's local time only."""
    old = message(1, "بيان قديم عن الانتقام")
    del old["date_unixtime"]
    old["date"] = "2021-03-01T12:00:00"
    return write_single(folder, [old])


def test_import_says_local_times_were_read_as_utc_then_in_the_zone_given(env):
    result = run("--db", env / "a.db", "import", _old_export(env / "old"), "--no-ocr")
    assert "1 messages carry only the exporting machine's local time" in result.stderr
    assert "read as UTC (--timezone ZONE" in result.stderr
    data = json.loads(
        run(
            "--db", env / "b.db", "import", env / "old", "--no-ocr", "--json", "--timezone", "Asia/Baghdad"
        ).stdout
    )
    assert (data["local_dates"], data["local_dates_read_as"]) == (1, "Asia/Baghdad")
    hits = json.loads(run("--db", env / "b.db", "search", "الانتقام", "--json").stdout)
    assert [h["date"] for h in hits] == ["2021-03-01T09:00:00+00:00"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "+25:00", "Asia", "../../etc/passwd"])
def test_import_refuses_an_unknown_timezone_in_one_line(env, zone):
    result = run("--db", env / "a.db", "import", _old_export(env / "old"), "--timezone", zone, ok=False)
    assert result.exit_code == 2
    assert_one_line_error(result, "--timezone", "nothing was imported")
    assert not (env / "a.db").exists()


def test_import_a_missing_path(env):
    result = run("--db", env / "a.db", "import", env / "nowhere", "--no-ocr", ok=False)
    assert_one_line_error(result, "nowhere", "does not exist")
    assert not (env / "a.db").exists()


def test_import_a_folder_without_result_json(env):
    (env / "empty").mkdir()
    result = run("--db", env / "a.db", "import", env / "empty", "--no-ocr", ok=False)
    assert_one_line_error(result, "result.json")


def test_import_a_malformed_export_keeps_what_was_read(env):
    folder = write_single(env / "export", [message(i, f"رسالة {i}") for i in range(1, 31)])
    path = folder / "result.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('"id": 21,') + 5], encoding="utf-8")
    result = run("--db", env / "a.db", "import", folder, "--no-ocr", ok=False)
    line = assert_one_line_error(result, str(path), "line ")
    assert "not valid JSON" in line
    stats = json.loads(run("--db", env / "a.db", "stats", "--json").stdout)
    assert stats["posts"] == 20


def test_a_bad_config_is_one_line(env):
    config = env / "config.toml"
    config.write_text("[ocr]\nworkerz = 3\n", encoding="utf-8")
    result = run("--config", config, "--db", env / "a.db", "stats", ok=False)
    assert_one_line_error(result, "ocr.workerz", str(config))
    config.write_text("[ocr\n", encoding="utf-8")
    result = run("--config", config, "--db", env / "a.db", "import", env, "--no-ocr", ok=False)
    assert_one_line_error(result, str(config), "not valid TOML")
    config.write_text("[ocr]\nworkers = 'many'\n", encoding="utf-8")
    result = run("--config", config, "--db", env / "a.db", "import", env, "--no-ocr", ok=False)
    assert_one_line_error(result, "ocr.workers")


def test_an_archive_path_that_is_a_directory(env):
    assert_one_line_error(run("--db", env, "stats", ok=False), "cannot open the archive")


def test_an_unwritable_media_store(env):
    (env / "blocker").write_bytes(b"not a directory")
    config = env / "config.toml"
    config.write_text('[archive]\nmedia_dir = "blocker"\n', encoding="utf-8")
    result = run(
        "--config", config, "--db", env / "a.db", "import", rich_channel(env / "e"), "--no-ocr", ok=False
    )
    assert_one_line_error(result, "cannot write to the media store")


def test_a_missing_config_named_by_the_environment(env):
    result = run("--db", env / "a.db", "stats", ok=False, env={"TGMONITOR_CONFIG": str(env / "none.toml")})
    assert_one_line_error(result, "none.toml")


def test_an_archive_from_a_newer_tgmonitor(env):
    db = env / "a.db"
    asyncio.run(_create_archive(db))
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    conn.close()
    assert_one_line_error(run("--db", db, "stats", ok=False), "newer tgmonitor")
    assert_one_line_error(run("--db", db, "search", "x", ok=False), "newer tgmonitor")


# --- where the archive lives ---------------------------------------------------------------


def test_db_from_the_environment_then_the_config(env):
    export = rich_channel(env / "export")
    run("import", export, "--no-ocr", "--json", env={"TGMONITOR_DB": str(env / "from-env.db")})
    assert (env / "from-env.db").exists()
    config = env / "conf" / "config.toml"
    config.parent.mkdir()
    config.write_text('[archive]\npath = "data/from-config.db"\nmedia_dir = "files"\n', encoding="utf-8")
    run("--config", config, "import", export, "--no-ocr", "--json")
    assert (env / "conf" / "data" / "from-config.db").exists()
    assert any((env / "conf" / "files").rglob("*.jpg"))
    # The --db option wins over both.
    run(
        "--config",
        config,
        "--db",
        env / "opt.db",
        "import",
        export,
        "--no-ocr",
        "--json",
        env={"TGMONITOR_DB": str(env / "from-env.db")},
    )
    assert (env / "opt.db").exists()


def test_the_xdg_default(env):
    run("import", rich_channel(env / "export"), "--no-ocr", "--json")
    assert (env / "xdg-data" / "tgmonitor" / "archive.db").exists()


# --- search -----------------------------------------------------------------------------------


def test_search_json_shape_with_username(env, shared_db):
    db = shared_db
    rows = json.loads(run("--db", db, "search", "الانتقام", "--json").stdout)
    assert [r["message_id"] for r in rows] == [6, 3, 2]
    for row in rows:
        assert list(row) == SEARCH_KEYS
        assert row["channel_id"] == CHANNEL_ID
        assert row["url"] == f"https://t.me/sabereen_test/{row['message_id']}"
        assert row["date"].endswith("+00:00")
    by_id = {r["message_id"]: r for r in rows}
    assert by_id[2]["date"] == "2021-11-02T22:30:00+00:00"
    assert by_id[2]["text"] == "الانْتِقَامُ قادم لا محالة"
    assert by_id[2]["ocr_text"] is None
    assert by_id[2]["channel"] == "sabereen_test"
    assert "الانْتِقَامُ" in by_id[2]["snippet"]


def test_search_json_without_username_links_by_id(env):
    db = imported(env)
    rows = json.loads(run("--db", db, "search", "امريكا", "--json").stdout)
    assert [r["message_id"] for r in rows] == [5]
    assert rows[0]["url"] == f"https://t.me/c/{CHANNEL_ID}/5"
    assert rows[0]["channel"] == "قناة الاختبار"


def test_search_words_from_several_arguments(env, shared_db):
    db = shared_db
    rows = json.loads(run("--db", db, "search", "الانتقام", "قادم", "--json").stdout)
    assert {r["message_id"] for r in rows} == {2, 3}
    rows = json.loads(run("--db", db, "search", "59", "--json").stdout)
    assert [r["message_id"] for r in rows] == [15]


def test_search_filters(env, shared_db):
    db = shared_db

    def found(*args: str) -> list[int]:
        return [r["message_id"] for r in json.loads(run("--db", db, "search", *args, "--json").stdout)]

    assert found("الانتقام") == [6, 3, 2]
    assert found("الانتقام", "--limit", "1") == [6]
    assert found("الانتقام", "--since", "2021-11-03") == [6, 3]
    assert found("الانتقام", "--until", "2021-11-02") == [2]  # the whole day, inclusive
    assert found("الانتقام", "--since", "2021-11-03T10:00:00Z", "--until", "2021-11-03T13:00") == [6]
    assert found("الانتقام", "--channel", str(CHANNEL_ID)) == [6, 3, 2]
    assert found("الانتقام", "--channel", f"-100{CHANNEL_ID}") == [6, 3, 2]
    assert found("الانتقام", "--channel", "@nobody") == []
    assert set(found("الانتقام", "--sort", "relevance")) == {6, 3, 2}


def test_search_csv(env, shared_db):
    db = shared_db
    result = run("--db", db, "search", "الانتقام", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == SEARCH_KEYS
    assert [int(r["message_id"]) for r in rows] == [6, 3, 2]
    assert rows[2]["url"] == "https://t.me/sabereen_test/2"
    assert rows[2]["text"] == "الانْتِقَامُ قادم لا محالة"


def test_search_table_shows_snippet_and_link(env, shared_db):
    db = shared_db
    result = run("--db", db, "search", "امريكا")
    assert "https://t.me/sabereen_test/5" in result.stdout
    assert "أمريكا" in result.stdout
    assert "2021-11-03 12:00" in result.stdout


def test_search_table_keeps_the_post_readable_on_a_narrow_terminal(env, shared_db, monkeypatch):
    # 80 columns: the link goes under the post, whole, and the post keeps most of the width
    # (beside a link column of its own it was squeezed to a few letters a line)
    monkeypatch.setenv("COLUMNS", "80")
    narrow = run("--db", shared_db, "search", "امريكا").stdout
    lines = narrow.splitlines()
    assert "1 post for 'امريكا'" in narrow and "link" not in lines[2]  # one post, no link column
    assert "https://t.me/sabereen_test/5" in narrow
    assert any("America will pay أمريكا" in line for line in lines), narrow
    monkeypatch.setenv("COLUMNS", "140")  # a wide one gives the link its column
    wide = run("--db", shared_db, "search", "امريكا").stdout
    assert "link" in wide.splitlines()[2] and "https://t.me/sabereen_test/5" in wide


def test_stats_keeps_each_channel_whole_on_a_narrow_terminal(env, shared_db, monkeypatch):
    # nine columns in 80: the handle and the last post's date fold onto the next lines, whole,
    # instead of being cut to "@sabe…" and "2021-1…"
    monkeypatch.setenv("COLUMNS", "80")
    out = run("--db", shared_db, "stats").stdout
    body = out[out.rindex("channels") :]  # the per-channel table, after the counts
    rows = [line.split("│") for line in body.splitlines() if line.startswith("│")]
    assert "@sabereen_test" in "".join(cells[1].strip() for cells in rows) and "…" not in body, out


def test_search_without_hits(env, shared_db):
    db = shared_db
    assert json.loads(run("--db", db, "search", "غير_موجود", "--json").stdout) == []
    result = run("--db", db, "search", "غير_موجود")
    assert result.stdout == ""
    assert "no posts match" in result.stderr
    result = run("--db", db, "search", "غير_موجود", "--csv")
    assert result.stdout.strip().split(",") == SEARCH_KEYS  # the same header as with hits


@pytest.mark.parametrize(
    "query", ['"', "AND OR (", "*", "NEAR(", "body:", "col:x", "\x01\x02", "--", "((", '" OR "', "-x"]
)
def test_search_hostile_queries_exit_zero(env, shared_db, query):
    db = shared_db
    result = run("--db", db, "search", "--json", "--", query)
    assert isinstance(json.loads(result.stdout), list)


def test_search_a_bad_date(env, shared_db):
    db = shared_db
    result = run("--db", db, "search", "x", "--since", "last tuesday", ok=False)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert "last tuesday" in result.stderr


# --- stats ------------------------------------------------------------------------------------


def test_stats_json(env, shared_db):
    db = shared_db
    data = json.loads(run("--db", db, "stats", "--json").stdout)
    assert set(data) >= STATS_KEYS
    assert (data["channels"], data["posts"], data["images"]) == (1, 13, 3)
    assert (data["ocr_done"], data["ocr_failed"]) == (0, 0)
    assert data["alerts"] >= 1  # the export's threats and countdown, archived ...
    assert data["pending_deliveries"] == 0  # ... and not delivered without --alerts
    assert data["per_channel"][0]["channel_id"] == CHANNEL_ID


def test_stats_table(env, shared_db):
    db = shared_db
    result = run("--db", db, "stats")
    assert "posts" in result.stdout and "13" in result.stdout


def test_stats_of_an_empty_archive(env):
    asyncio.run(_create_archive(env / "new.db"))
    data = json.loads(run("--db", env / "new.db", "stats", "--json").stdout)
    assert {k: data[k] for k in STATS_KEYS} == dict.fromkeys(STATS_KEYS, 0)


async def _create_archive(path: Path) -> None:
    await (await Archive.open(path)).close()


@pytest.mark.parametrize("command", [["stats"], ["search", "x"], ["search", "x", "--json"]])
def test_reading_a_missing_archive_is_an_error(env, command):
    # A mistyped --db must not look like an empty result (nor create a stray archive).
    result = run("--db", env / "typo.db", *command, ok=False)
    assert_one_line_error(result, "no archive at", "typo.db")
    assert not (env / "typo.db").exists()


# --- a real process -------------------------------------------------------------------------


def test_python_dash_m_monitor(env):
    export = rich_channel(env / "export")
    db = env / "proc.db"
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("TGMONITOR_")}
    clean_env.update(XDG_CONFIG_HOME=str(env / "xdg-config"), XDG_DATA_HOME=str(env / "xdg-data"))

    def tgmonitor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", "--db", str(db), *map(str, args)],
            capture_output=True,
            text=True,
            env=clean_env,
            cwd=REPO,
            timeout=120,
        )

    done = tgmonitor("import", export, "--no-ocr", "--json", "--username", "sabereen_test")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["posts_new"] == 13
    found = tgmonitor("search", "#الانتقام_قادم", "--json")
    assert found.returncode == 0, found.stderr
    assert [r["url"] for r in json.loads(found.stdout)] == [
        "https://t.me/sabereen_test/3",
        "https://t.me/sabereen_test/2",
    ]
    for failed in (
        tgmonitor("import", env / "nowhere"),
        subprocess.run(  # an archive path that is a directory: aiosqlite's thread must not print
            [sys.executable, "-m", "monitor", "--db", str(env), "stats"],
            capture_output=True,
            text=True,
            env=clean_env,
            cwd=REPO,
            timeout=120,
        ),
    ):
        assert failed.returncode != 0
        assert failed.stderr.strip().startswith("error: ")
        assert "Traceback" not in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1


def test_the_readme_search_examples_on_the_bundled_sample(env):
    sample = REPO / "monitor" / "sample" / "ChannelExport"
    db = env / "sample.db"
    run("--db", db, "import", sample, "--no-ocr", "--json", "--username", "sada_althar_sample")

    def found(*args: str) -> list[int]:
        return [r["message_id"] for r in json.loads(run("--db", db, "search", *args, "--json").stdout)]

    assert 5 in found("الانتقام")  # الانْتِقَامُ قَادِمٌ #الانتقام_قادم
    assert 3 in found("59daysleft")  # #59daysleft
    assert 8 in found('"قوات الاحتلال"', "--channel", "@sada_althar_sample")
    csv_out = run("--db", db, "search", '"قوات الاحتلال"', "--csv").stdout
    assert "https://t.me/sada_althar_sample/8" in csv_out
