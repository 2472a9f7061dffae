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
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from alerts.sinks import OutgoingAlert, WebhookSink
from monitor.core.config import SinkConfig
from monitor.core.errors import DeliveryError
from tests.alerts_support import WebhookServer
from tests.export_support import message, write_single

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

REPO = Path(__file__).resolve().parent.parent
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
