"""The daemon as a real process: SIGTERM in a burst loses nothing; kill -9 loses and duplicates nothing.

The process is ``python -m tests.support.daemon_entry`` (a test-only entry point that runs the real
Daemon with the fake Telegram inside it). The archive is read from this process with sqlite3 while
the daemon writes (WAL).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.daemon_entry import post_text

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def start(state: Path, name: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(state / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.daemon_entry", "--state", str(state), *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log_file = log  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 60) -> int:
    try:
        return proc.wait(timeout)
    finally:
        proc.log_file.close()  # type: ignore[attr-defined]


def wait_until(
    check: Callable[[], bool], proc: subprocess.Popen, timeout: float = 60, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited early ({proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []  # schema not created yet
    finally:
        conn.close()


def archived(db: Path) -> int:
    rows = query(db, "SELECT count(*) FROM posts")
    return rows[0][0] if rows else 0


def check_complete(state: Path, posted: int) -> None:
    """Every post on the server is archived exactly once, with its content and image, no extra versions."""
    db = state / "archive.db"
    rows = query(db, "SELECT message_id, text FROM posts ORDER BY message_id")
    assert [r[0] for r in rows] == list(range(1, posted + 1))
    assert all(text == post_text(mid) for mid, text in rows)
    assert query(db, "SELECT count(*) FROM post_versions")[0][0] == 0
    assert query(db, "SELECT count(*) FROM post_media")[0][0] == posted // 10
    assert query(db, "SELECT count(*) FROM media")[0][0] == posted // 10


def restart_and_fill(state: Path, posted: int) -> None:
    proc = start(state, "second", "--history", str(posted), "--exit-when-idle")
    assert finish(proc) == 0, (state / "second.log").read_text()
    check_complete(state, posted)


def test_sigterm_during_a_burst_loses_nothing(tmp_path):
    db = tmp_path / "archive.db"
    proc = start(tmp_path, "first", "--burst", "800")
    wait_until(lambda: archived(db) >= 100, proc, what="100 posts archived")
    proc.send_signal(signal.SIGTERM)
    code = finish(proc)
    log = (tmp_path / "first.log").read_text()
    assert code == 0, log[-3000:]
    assert "stopped: every in-flight post archived" in log
    posted = int((tmp_path / "posted").read_text())
    assert posted < 800  # the signal really came mid-burst
    mark = int(query(db, "SELECT value FROM meta WHERE key = 'watermark:1001'")[0][0])
    ids = [r[0] for r in query(db, "SELECT message_id FROM posts ORDER BY message_id")]
    assert ids == list(range(1, mark + 1))  # what it took in, it archived: no hole below the mark
    restart_and_fill(tmp_path, posted)


def test_kill_9_mid_burst_then_restart_loses_and_duplicates_nothing(tmp_path):
    db = tmp_path / "archive.db"
    proc = start(tmp_path, "first", "--burst", "800")
    wait_until(lambda: archived(db) >= 150, proc, what="150 posts archived")
    proc.send_signal(signal.SIGKILL)
    assert finish(proc) == -signal.SIGKILL
    posted = int((tmp_path / "posted").read_text())
    assert posted < 800
    restart_and_fill(tmp_path, posted)
