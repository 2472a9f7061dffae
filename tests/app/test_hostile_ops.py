"""Hostile operations (issue 20, items 11, 12 and 17): a receiver that never stops talking,
``import --alerts`` against receivers that fail, and an import killed or stopped midway.

Real parts only: local aiohttp servers, real archives in tmp_path, ``tgmonitor import`` as a
subprocess with its real worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerts.sinks import OutgoingAlert, WebhookSink
from handlers.importer import PARALLEL_FROM_BYTES
from monitor.core.config import SinkConfig
from monitor.core.errors import DeliveryError
from ocr.tesseract import _cpu_used
from tests.support.alerts import WebhookServer
from tests.support.export import message, write_single

# --- item 17: a webhook receiver that streams an endless body -----------------------------------

CHUNK = b"x" * 65536
STREAM_CAP = 512 << 20  # the "endless" body stops here, so that a regression fails instead of swapping


def rss_bytes() -> int:
    """This process's resident memory, from /proc (no psutil)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def _endless(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=int(request.query.get("status", "200")))
    await response.prepare(request)
    sent = 0
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while sent < STREAM_CAP:
            await response.write(CHUNK)
            sent += len(CHUNK)
    return response


async def _silent_body(request: web.Request) -> web.StreamResponse:
    """Headers at once, then a body that never comes."""
    response = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
    await response.prepare(request)
    await asyncio.sleep(3600)
    return response


async def _no_answer(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(3600)
    return web.Response(status=200)


@contextlib.asynccontextmanager
async def hostile_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/endless", _endless)
    app.router.add_post("/silent", _silent_body)
    app.router.add_post("/never", _no_answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _alert() -> OutgoingAlert:
    return OutgoingAlert(1, 1, "post", "high", {"text": "الانتقام قادم"}, "tgm-test-1")


async def _send_measured(url: str, timeout: float) -> tuple[BaseException | None, float, int]:
    """Send one alert; return (its error, seconds taken, highest RSS growth seen meanwhile)."""
    sink = WebhookSink(SinkConfig(type="webhook", url=url, timeout=timeout))
    base = rss_bytes()
    peak = base
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    error: BaseException | None = None
    try:
        await sink.send(_alert())
    except DeliveryError as exc:
        error = exc
    finally:
        elapsed = time.monotonic() - started
        peak = max(peak, rss_bytes())
        done.set()
        await sampler
        await sink.close()
    return error, elapsed, peak - base


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "fails"), [(200, False), (500, True)])
async def test_an_endless_answer_reads_a_few_kb_and_finishes(status, fails):
    async with hostile_server() as base:
        error, elapsed, growth = await _send_measured(f"{base}/endless?status={status}", timeout=5)
    assert (error is not None) == fails, error
    if fails:
        assert "HTTP 500" in str(error) and not error.permanent
    assert elapsed < 4, elapsed
    assert growth < 50 << 20, f"RSS grew {growth / 2**20:.0f} MB"


@pytest.mark.asyncio
async def test_a_body_that_never_comes_does_not_hold_a_2xx():
    async with hostile_server() as base:
        error, elapsed, _ = await _send_measured(f"{base}/silent", timeout=5)
    assert error is None  # the receiver said 200: delivered
    assert elapsed < 4, elapsed


@pytest.mark.asyncio
async def test_no_answer_fails_within_the_timeout():
    async with hostile_server() as base:
        error, elapsed, _ = await _send_measured(f"{base}/never", timeout=1)
    assert isinstance(error, DeliveryError) and "no answer within 1 s" in str(error)
    assert not error.permanent
    assert elapsed < 3, elapsed


# --- item 12: import --alerts says what really happened to each sink ---------------------------

REPO = Path(__file__).resolve().parents[2]
THREATS = [f"الانتقام قادم يا أعداء الله رقم {n}" for n in range(1, 11)]


async def run_cli(env_dir: Path, *args: object, timeout: float = 120) -> tuple[int, str, str]:
    """``python -m monitor ARGS`` in a clean home; the test's loop keeps serving meanwhile."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(env_dir / "xdg-config"),
        "XDG_DATA_HOME": str(env_dir / "xdg-data"),
        "OMP_THREAD_LIMIT": "1",
    }
    env.pop("TGMONITOR_DB", None)
    env.pop("TGMONITOR_CONFIG", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *[str(a) for a in args],
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def webhook_config(tmp_path: Path, servers: dict[str, WebhookServer]) -> Path:
    path = tmp_path / "config.toml"
    sinks = "".join(
        f'[[alerts.sink]]\ntype = "webhook"\nname = "{name}"\nurl = "{server.url}"\ntimeout = 2\n\n'
        for name, server in servers.items()
    )
    path.write_text('[alerts]\nmin_severity = "low"\n\n' + sinks, encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def webhook_servers(**defaults: str) -> AsyncIterator[dict[str, WebhookServer]]:
    servers = {name: await WebhookServer(default=action).start() for name, action in defaults.items()}
    try:
        yield servers
    finally:
        for server in servers.values():
            await server.stop()


@pytest.mark.asyncio
async def test_import_alerts_reports_each_sink_and_fails_on_a_permanent_failure(tmp_path):
    export = write_single(tmp_path / "export", [message(n, text) for n, text in enumerate(THREATS, 1)])
    async with webhook_servers(good="ok", busy="500", moved="302") as servers:
        config = webhook_config(tmp_path, servers)
        code, out, err = await run_cli(
            tmp_path, "--config", config, "--db", tmp_path / "a.db", "import", export, "--alerts", "--no-ocr"
        )
        assert len(servers["good"].accepted) == 10
    assert code == 1, (out, err)
    assert "(delivered)" not in out
    assert "alerts 10" in out
    assert "alerts to good: 10 delivered\n" in out
    assert "alerts to busy: 0 delivered, 10 pending, will be retried by `tgmonitor run`\n" in out
    assert "alerts to moved: 0 delivered, 10 failed for good" in out
    lines = [
        line for line in err.splitlines() if line.strip() and "WARNING" not in line and "ERROR" not in line
    ]
    assert lines == [
        "error: 10 alert deliveries failed for good: `tgmonitor alerts` shows why (the posts and alerts are archived)"
    ]
    rows = sqlite3.connect(tmp_path / "a.db").execute(
        "SELECT sink, status, count(*) FROM deliveries GROUP BY 1, 2"
    )
    assert sorted(rows) == [("busy", "pending", 10), ("good", "delivered", 10), ("moved", "failed", 10)]


@pytest.mark.asyncio
async def test_import_alerts_with_only_retryable_failures_says_pending_and_exits_0(tmp_path):
    export = write_single(tmp_path / "export", [message(n, text) for n, text in enumerate(THREATS[:3], 1)])
    async with webhook_servers(limited="429") as servers:
        config = webhook_config(tmp_path, servers)
        code, out, err = await run_cli(
            tmp_path, "--config", config, "--db", tmp_path / "a.db", "import", export, "--alerts", "--json"
        )
        assert servers["limited"].received  # it was tried
    assert code == 0, (out, err)
    data = json.loads(out)
    assert data["alerts"] == 3
    assert data["deliveries"] == {"limited": {"delivered": 0, "pending": 3, "failed": 0}}


# --- item 11: the import's workers die with it; SIGTERM and SIGHUP stop it cleanly ---------------

BIG_MESSAGES = 8000  # ~9 MB: above PARALLEL_FROM_BYTES, so the import runs in worker processes
WORDS = "الانتقام قادم يا أعداء الله المقاومة الإسلامية بيان عاجل الجبهة news statement brigade".split()


@pytest.fixture(scope="module")
def big_export(tmp_path_factory) -> Path:
    rng = random.Random(11)
    folder = tmp_path_factory.mktemp("big") / "export"
    texts = (" ".join(rng.choice(WORDS) for _ in range(45)) for _ in range(BIG_MESSAGES))
    write_single(folder, [message(n, text) for n, text in enumerate(texts, 1)])
    assert (folder / "result.json").stat().st_size >= PARALLEL_FROM_BYTES
    return folder


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_after_name = raw.rsplit(")", 1)[1].split()
    return fields_after_name[0], int(fields_after_name[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has stopped running


def workers_of(parent: int) -> list[int]:
    """The parent's multiprocessing children (spawned workers, not the resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[1] != parent:
            continue
        with contextlib.suppress(OSError):
            if b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return value


def posts_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def start_import(tmp_path: Path, export: Path, db: Path) -> subprocess.Popen:
    config = tmp_path / "config.toml"
    config.write_text("[archive]\nimport_workers = 2\n", encoding="utf-8")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMP_THREAD_LIMIT": "1",
    }
    command = [sys.executable, "-m", "monitor", "--config", str(config), "--db", str(db)]
    with open(tmp_path / "out.txt", "wb") as out, open(tmp_path / "err.txt", "wb") as err:
        return subprocess.Popen(
            [*command, "import", str(export), "--no-ocr"], cwd=REPO, env=env, stdout=out, stderr=err
        )


def finish_import(tmp_path: Path, export: Path, db: Path) -> str:
    process = start_import(tmp_path, export, db)
    assert process.wait(timeout=180) == 0, (tmp_path / "err.txt").read_text()
    return (tmp_path / "out.txt").read_text()


def assert_sound(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_kill_9_of_an_import_takes_its_workers_down(tmp_path, big_export):
    db = tmp_path / "a.db"
    process = start_import(tmp_path, big_export, db)
    try:
        workers = wait_for(
            lambda: len(workers_of(process.pid)) >= 2 and workers_of(process.pid), 60, "workers"
        )
        process.kill()
        process.wait(timeout=10)
        started = time.monotonic()
        wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers gone after kill -9")
        gone_in = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    assert gone_in < 10
    assert_sound(db)
    out = finish_import(tmp_path, big_export, db)  # the resumed import completes it
    assert posts_in(db) == BIG_MESSAGES, out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_stops_an_import_cleanly_and_it_resumes(tmp_path, big_export, sig):
    db = tmp_path / "a.db"
    process = start_import(tmp_path, big_export, db)
    try:
        workers = wait_for(
            lambda: len(workers_of(process.pid)) >= 2 and workers_of(process.pid), 60, "workers"
        )
        saved_before = wait_for(lambda: posts_in(db), 60, "the first posts committed")
        assert saved_before < BIG_MESSAGES, "the import finished before the signal: make the export bigger"
        process.send_signal(sig)
        code = process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    err = (tmp_path / "err.txt").read_text()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        f"error: import interrupted ({sig.name}): what was saved stays and the workers are stopped; "
        "import again to resume"
    ]
    wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers gone after the signal")
    assert_sound(db)
    saved = posts_in(db)
    assert saved_before <= saved < BIG_MESSAGES
    out = finish_import(tmp_path, big_export, db)
    assert f": {BIG_MESSAGES - saved} new, 0 updated, {saved} unchanged posts" in out
    assert posts_in(db) == BIG_MESSAGES


def test_a_worker_whose_parent_is_already_gone_leaves_at_once():
    """The gap before the death signal is armed: the worker checks who its parent is."""
    import multiprocessing

    from handlers.importer import run_import_worker

    context = multiprocessing.get_context("spawn")
    not_my_parent = 1 if os.getpid() != 1 else 2
    worker = context.Process(
        target=run_import_worker, args=(None, (), None, None, None, None, None, not_my_parent)
    )
    worker.start()
    worker.join(timeout=30)
    assert worker.exitcode == 1


def test_a_parent_has_stopped_when_it_is_no_longer_this_process_s_parent():
    """``parent_stopped``: the running parent of this process has not stopped (after a short
    wait), one that is not (or no longer) the parent has. The moment between, a dying parent
    whose other threads still hold this process, is the kill -9 test below."""
    from monitor.core.lifeline import parent_stopped

    assert not parent_stopped(os.getppid(), within=0.05)
    assert parent_stopped(os.getpid())


def ocr_workers_under(root: int, mark: bytes = b"ocr.worker") -> list[int]:
    """OCR worker processes (``-m ocr.worker``), or others by their command line, among the
    descendants of ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            with contextlib.suppress(OSError):
                if mark in (Path("/proc") / str(child) / "cmdline").read_bytes():
                    found.append(child)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["library", "command"])
def test_kill_9_of_an_import_takes_its_ocr_workers_down_mid_poster(tmp_path, engine):
    """The OCR workers (and their Tesseract) die with the import, not after their poster, and
    leave none of the pool's temp folders behind (their own, and the job folder with the planes)."""
    from PIL import Image

    folder = tmp_path / "export"
    messages = []
    noise = random.Random(7)
    for n in range(1, 4):
        # grain of 5 px cells: letter-sized specks to the page layout (the plane passes take blobs
        # under 10 px for noise, so fine grain is read in a second), about ten CPU seconds per
        # Tesseract pass here, with no per-pass limit
        path = folder / "photos" / f"grain{n}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cells = Image.frombytes("L", (320, 320), noise.randbytes(320 * 320))
        cells.resize((1600, 1600), Image.Resampling.NEAREST).save(path)
        messages.append(message(n, f"ملصق {n}", photo=f"photos/{path.name}", width=1600, height=1600))
    export = write_single(folder, messages)
    config = tmp_path / "config.toml"
    config.write_text(f'[ocr]\nworkers = 2\npass_timeout = 600\ntesseract = "{engine}"\n', encoding="utf-8")
    db = tmp_path / "a.db"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "TMPDIR": str(temp),
    }
    command = [
        sys.executable,
        "-m",
        "monitor",
        "--config",
        str(config),
        "--db",
        str(db),
        "import",
        str(export),
    ]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        workers = wait_for(
            lambda: len(ocr_workers_under(process.pid)) >= 2 and ocr_workers_under(process.pid),
            90,
            "OCR workers",
        )
        if engine == "command":
            wait_for(
                lambda: ocr_workers_under(process.pid, b"tesseract\x00"), 120, "a Tesseract pass under way"
            )
        else:  # Tesseract runs inside the worker: a worker busy for seconds is reading a poster
            wait_for(lambda: max(map(_cpu_used, workers)) > 5, 120, "a worker reading a poster")
        process.kill()
        process.wait(timeout=10)
        # Without the lifeline a worker reads on to the end of its pass (about ten seconds here).
        wait_for(lambda: not any(alive(w) for w in workers), 5, "the OCR workers gone after kill -9")
        pool_folders = sorted(p.name for p in temp.glob("tgmonitor-ocr-*"))
        assert pool_folders == [], f"left in TMPDIR after kill -9: {pool_folders}"
    finally:
        process.kill()
        process.wait()
        for worker in workers:  # nothing left behind if the test failed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker, signal.SIGKILL)
