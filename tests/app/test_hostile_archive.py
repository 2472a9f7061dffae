"""Hostile archives through the CLI (issue 20, items 7, 8, 13, 15): a damaged file, a read-only
(immutable) one, a mistyped --db, and the modes of what the archive creates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.core.store import Archive
from tests.support.export import make_image, message, photo_fields, write_single

RECOVER = "sqlite3 {db} '.recover' | sqlite3 recovered.db"


@pytest.fixture
def env(no_user_config):
    return no_user_config


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(*args: object):
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def one_sentence(result, *fragments: str) -> str:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def export_of(folder: Path, n: int, *, first: int = 1, photo: bool = False) -> Path:
    messages = [
        message(i, f"الانتقام قادم رقم {i} " + "نص طويل للتعبئة " * 20) for i in range(first, first + n)
    ]
    if photo:
        messages[0].update(photo_fields(folder, "poster.jpg"))
    return write_single(folder, messages)


def imported(env: Path, n: int = 20, **kw) -> Path:
    db = env / "archive.db"
    ok("--db", db, "import", export_of(env / "export", n, **kw), "--no-ocr", "--json")
    return db


# --- 7: a damaged archive -------------------------------------------------------------------


@pytest.fixture
def damaged(env) -> Path:
    """A real archive of 3,000 posts with 256 KB of garbage written into its middle."""
    db = imported(env, 3000)
    size = db.stat().st_size
    assert size > 1 << 20
    with open(db, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(os.urandom(256 << 10))
    return db


def test_a_damaged_archive_is_named_with_the_recovery_steps(env, damaged):
    before = damaged.read_bytes()
    recover = RECOVER.format(db=damaged)
    for args in (
        ["stats"],
        ["stats", "--json"],
        ["doctor", "--json"],
        ["import", export_of(env / "more", 10, first=5000), "--no-ocr"],
    ):
        result = run("--db", damaged, *args)
        if args[0] == "doctor":
            assert result.exit_code != 0
            checks = {c["check"]: c for c in json.loads(result.output)["checks"]}
            assert checks["archive"]["level"] == "fail"
            assert f"the archive {damaged} is damaged" in checks["archive"]["detail"]
            assert recover in checks["archive"]["detail"]
        else:
            one_sentence(result, f"the archive {damaged} is damaged", recover)
    assert damaged.read_bytes() == before  # the import refused to write into it


def test_reading_commands_never_trace_back_on_a_damaged_archive(env, damaged):
    # A query that does not reach the damaged pages answers; one that does says so.
    for args in (
        ["search", "الانتقام"],
        ["search", "الانتقام", "--limit", "1000"],
        ["alerts"],
        ["alerts", "--json"],
    ):
        result = run("--db", damaged, *args)
        if result.exit_code:
            one_sentence(result, "is damaged", RECOVER.format(db=damaged))


def _pages_of(db: Path, table: str) -> list[int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [
            r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,))
        ]


@pytest.mark.parametrize("table", ["posts", "posts_fts_data"])
def test_reading_commands_on_damaged_pages_they_need_say_so(env, table):
    """Garbage exactly on the pages ``search`` and ``alerts`` read: each says the archive is
    damaged, with the recovery steps, in one sentence (the commands used to end in a traceback)."""
    db = imported(env, 3000)
    page_size = 4096
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = _pages_of(db, table)
    assert len(pages) > 20
    garbage = random.Random(table).randbytes(page_size)
    with open(db, "r+b") as handle:
        for page in pages[len(pages) // 4 :]:  # the interior pages stay; most leaves are noise
            handle.seek((page - 1) * page_size)
            handle.write(garbage)
    for args in (["search", "الانتقام", "--limit", "1000"], ["search", "قادم", "--json", "--limit", "1000"]):
        one_sentence(run("--db", db, *args), f"the archive {db} is damaged", RECOVER.format(db=db))


# --- 8: a read-only archive -----------------------------------------------------------------


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``chattr +i``: nobody, root included, may change these (as on a read-only mount)."""
    done: list[Path] = []
    try:
        for path in paths:
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
                pytest.skip("chattr +i is not available here")
            done.append(path)
        yield
    finally:
        for path in reversed(done):
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_archive_is_read_and_writes_are_refused_in_one_sentence(env):
    db = imported(env, 5, photo=True)
    ok("--db", db, "alerts", "--json")  # nothing raised without rules: ack needs an id anyway
    image = make_image(env / "probe.jpg")
    more = export_of(env / "more", 3, first=100)
    for leftover in db.parent.glob("archive.db-*"):  # as on a copy: the file alone
        leftover.unlink()
    with immutable(db, db.parent):
        stats = json.loads(ok("--db", db, "stats", "--json").output)
        assert stats["posts"] == 5
        found = json.loads(ok("--db", db, "search", "الانتقام", "--json").output)
        assert len(found) == 5
        ok("--db", db, "alerts")
        ok("--db", db, "similar", image, "--json")
        doctor = run("--db", db, "doctor", "--json")
        checks = {c["check"]: c for c in json.loads(doctor.output)["checks"]}
        assert checks["archive"]["level"] == "ok", checks["archive"]
        refused = f"the archive {db} is read-only"
        one_sentence(run("--db", db, "alerts", "ack", "1"), refused)
        one_sentence(run("--db", db, "import", more, "--no-ocr"), refused)
    assert json.loads(ok("--db", db, "stats", "--json").output)["posts"] == 5


# --- 13: a mistyped --db creates nothing -------------------------------------------------------


def test_a_missing_archive_is_refused_and_not_created(env):
    missing = env / "typo" / "archve.db"
    image = make_image(env / "probe.jpg")
    for args in (
        ["alerts"],
        ["alerts", "--json"],
        ["alerts", "ack", "3"],
        ["ocr", "--pending"],
        ["similar", image],
    ):
        one_sentence(run("--db", missing, *args), f"there is no archive at {missing}")
    assert not missing.exists() and not missing.parent.exists()


# --- 15: the archive and its folders are the analyst's only --------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_archive_files_and_folders_are_private_under_umask_022(env):
    previous = os.umask(0o022)
    try:
        db = env / "new" / "deeper" / "archive.db"
        ok("--db", db, "import", export_of(env / "export", 3, photo=True), "--no-ocr", "--json")

        async def wal_modes() -> list[int]:
            async with await Archive.open(db) as archive:
                await archive.set_meta("probe", "1")
                return [_mode(Path(f"{db}{suffix}")) for suffix in ("-wal", "-shm")]

        assert asyncio.run(wal_modes()) == [0o600, 0o600]
    finally:
        os.umask(previous)
    assert _mode(db) == 0o600
    assert _mode(db.parent) == 0o700 and _mode(db.parent.parent) == 0o700
    media = db.parent / "media"
    stored = [p for p in media.rglob("*") if p.is_file()]
    assert stored, "the photo was stored"
    for folder in [media, *(p for p in media.rglob("*") if p.is_dir())]:
        assert _mode(folder) == 0o700, folder
    for file in stored:
        assert _mode(file) == 0o600, file
