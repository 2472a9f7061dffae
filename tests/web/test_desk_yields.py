"""The desk yields to collection (issue 14): fresh shared reads, bounded work, lower priority, its
own process inside the daemon, and the daemon's WAL checkpointed between its batches."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from monitor.core.config import Config, WebConfig
from monitor.core.errors import MonitorError
from monitor.core.store import Archive
from monitor.web import build_app
from monitor.web.desk import DESK_NICE, Desk
from monitor.web.fresh import FreshReads
from monitor.web.process import DeskProcess
from tests.support.alerts import add_post
from tests.web.desk_support import CH1, CH2, build_archive

pytestmark = pytest.mark.asyncio
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


@pytest_asyncio.fixture
async def built(tmp_path):
    return await build_archive(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nice_values(pid: int | str = "self") -> set[int]:
    """The nice value of each thread of a process (``/proc/PID/task/*/stat``, field 19)."""
    values = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values.add(int(fields[16]))
    return values


async def test_a_commit_by_the_daemon_is_on_the_next_answer(built):
    """Identical reads are shared only while nothing is committed: a post the daemon saves (on its
    own connection) is found by the very next identical search, written with other diacritics."""
    daemon = await Archive.open(built.db, built.media)
    archive = await Archive.open(built.db, built.media)
    desk = Desk(archive=archive, config=Config(), require_login=False)
    client = TestClient(TestServer(build_app(desk)))
    await client.start_server()
    try:
        query = {"q": "الانتقام", "channel": str(CH2.id)}
        first = await (await client.get("/api/search", params=query)).json()
        again = await (await client.get("/api/search", params=query)).json()
        assert again == first and desk.reads.shared >= 1  # nothing changed: read once
        assert all(hit["message_id"] != 77 for hit in first)

        when = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        await add_post(daemon, CH2, 77, "وَالإنتِقامُ آتٍ بعد ٣ أيام", date=when)
        fresh = await (await client.get("/api/search", params=query)).json()
        assert fresh[0]["message_id"] == 77  # newest first
        assert fresh[0]["text"] == "وَالإنتِقامُ آتٍ بعد ٣ أيام"
    finally:
        await client.close()
        await archive.close()
        await daemon.close()


async def test_the_desks_own_decision_shows_at_once(built):
    """The desk's own writes move the mark too: an acknowledged alert leaves the 'new' queue."""
    archive = await Archive.open(built.db, built.media)
    desk = Desk(archive=archive, config=Config(), require_login=False)
    client = TestClient(TestServer(build_app(desk)))
    await client.start_server()
    try:
        new = await (await client.get("/api/alerts", params={"state": "new"})).json()
        target = new[0]["alert_id"]
        page = await (await client.get("/")).text()
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = await client.post(
            f"/api/alerts/{target}/decide", json={"action": "ack"}, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status == 200, await answer.text()
        after = await (await client.get("/api/alerts", params={"state": "new"})).json()
        assert target not in [row["alert_id"] for row in after]
        assert len(after) == len(new) - 1
    finally:
        await client.close()
        await archive.close()


async def test_reads_asked_meanwhile_share_the_one_under_way():
    """Ten identical requests while one read runs: one read; a failed read is not kept."""
    mark = [1]
    reads = FreshReads(lambda: mark[0])
    started, release = asyncio.Event(), asyncio.Event()
    calls = []

    async def slow_read() -> list[str]:
        calls.append(1)
        started.set()
        await release.wait()
        return ["أ", "إ", "آ", "ا"]

    first = asyncio.create_task(reads.get("alerts", slow_read))
    await asyncio.wait_for(started.wait(), 5)
    others = [asyncio.create_task(reads.get("alerts", slow_read)) for _ in range(9)]
    release.set()
    answers = await asyncio.gather(first, *others)
    assert len(calls) == 1 and all(a == ["أ", "إ", "آ", "ا"] for a in answers)
    assert reads.shared == 9

    mark[0] = 2  # something was committed: read again
    assert await reads.get("alerts", slow_read) == ["أ", "إ", "آ", "ا"] and len(calls) == 2

    async def failing() -> None:
        raise MonitorError("the search took longer than 2 s")

    with pytest.raises(MonitorError):
        await reads.get("search", failing)
    assert await reads.get("search", slow_read) == ["أ", "إ", "آ", "ا"]  # asked again, not the error


async def test_at_most_a_few_requests_are_worked_on_at_once(built):
    archive = await Archive.open(built.db, built.media)
    desk = Desk(archive=archive, config=Config(), require_login=False)
    client = TestClient(TestServer(build_app(desk)))
    await client.start_server()
    try:
        held = [await desk.slots.acquire() for _ in range(4)]  # every slot busy
        pending = asyncio.create_task(client.get("/api/alerts"))
        static = await client.get("/static/desk.css")  # files never wait for a slot
        assert static.status == 200
        with pytest.raises(TimeoutError):  # the API call waits for a slot (it would take ms)
            await asyncio.wait_for(asyncio.shield(pending), 1.0)
        for _ in held:
            desk.slots.release()
        answer = await asyncio.wait_for(pending, 10)
        assert answer.status == 200
    finally:
        await client.close()
        await archive.close()


@linux_only
async def test_the_desks_sql_thread_runs_at_a_lower_priority(built):
    lower = max(_nice_values()) + 2  # below every thread of this process now
    if lower > 19:
        pytest.skip("this process already runs at the lowest priority")
    archive = await Archive.open(built.db, built.media, nice=lower)
    try:
        assert lower in _nice_values()  # the connection's own thread, not the event loop's
        assert await archive.fetchone("SELECT count(*) FROM posts") is not None
    finally:
        await archive.close()


async def test_the_daemons_desk_is_its_own_lower_priority_process(built):
    port = _free_port()
    desk = DeskProcess(Config(web=WebConfig(port=port)), built.db, built.media, nice=DESK_NICE)
    await desk.start()
    try:
        assert desk.alive and not desk.require_login
        if sys.platform.startswith("linux"):
            assert _nice_values(desk._process.pid) == {DESK_NICE}  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/api/alerts") as answer:
            assert answer.status == 200 and await answer.json()
    finally:
        await desk.stop()
    assert not desk.alive
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/"):
            pass


async def test_a_desk_that_cannot_serve_says_why(built):
    config = Config(web=WebConfig(host="0.0.0.0", port=_free_port()))  # beyond this machine, no users
    desk = DeskProcess(config, built.db, built.media, nice=DESK_NICE)
    with pytest.raises(MonitorError, match="users add"):
        await desk.start()
    assert not desk.alive


async def test_a_live_writer_checkpoints_between_its_batches(tmp_path):
    """The daemon's archive copies its WAL into the archive file beside its batches (at most once
    a second), long before SQLite's own checkpoint at 10,000 pages: a copy of the file alone (no
    ``-wal``) holds the posts. An import's archive leaves it to SQLite."""

    def posts_in_file_alone(db: Path) -> int:
        alone = db.with_suffix(".copy")
        shutil.copyfile(db, alone)
        with contextlib.closing(sqlite3.connect(alone)) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])
            except sqlite3.OperationalError:  # not even the schema is in the file yet
                return 0

    async def saved_into_file(quiet: bool) -> bool:
        db = tmp_path / f"quiet-{quiet}.db"
        archive = await Archive.open(db, tmp_path / "media", quiet_checkpoints=quiet)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3
            message = 0
            while loop.time() < deadline:
                for _ in range(10):
                    message += 1
                    await add_post(archive, CH1, message, f"بيانٌ رقم {message}: إنّ الانتقام آتٍ")
                if archive._checkpoint is not None:
                    await archive._checkpoint
                if posts_in_file_alone(db) > 0:
                    return True
                await asyncio.sleep(0.1)  # the writer's pause between batches
            return False
        finally:
            await archive.close()

    assert await saved_into_file(True)
    assert not await saved_into_file(False)


@linux_only
async def test_serve_runs_at_the_priority_asked(built, tmp_path):
    port = _free_port()
    env = {**os.environ, "TGMONITOR_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    command = ["-m", "monitor", "--db", str(built.db), "serve", "--port", str(port), "--nice", "5"]
    serve = await asyncio.create_subprocess_exec(
        sys.executable, *command, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert serve.stderr is not None
        line = await asyncio.wait_for(serve.stderr.readline(), 60)
        assert b"desk on" in line, line
        assert _nice_values(serve.pid) == {5}  # every thread of it
    finally:
        serve.terminate()
        await asyncio.wait_for(serve.wait(), 60)
