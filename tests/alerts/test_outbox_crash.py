"""Crash tests: a real delivery process killed with SIGKILL mid-delivery, then restarted.

Killed after claiming but before sending: after the restart every alert arrives exactly once.
Killed after the sink accepted but before the mark: the alert in flight is sent once more with
the same idempotency key (the documented single duplicate) to the webhook; the JSON Lines sink
finds the key in its file and does not repeat it; every other alert arrives exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
from pathlib import Path

import pytest

from alerts.outbox import Outbox
from alerts.sinks import JsonlSink, WebhookSink
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from tests.support.alerts import WebhookServer, add_post, detection_for, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
CH = Channel(id=3001, username="harbi_media", title="الإعلام الحربي")
N = 5


async def prepare(tmp_path: Path, url: str) -> list[int]:
    archive = await Archive.open(tmp_path / "archive.db")
    sinks = [
        WebhookSink(SinkConfig(type="webhook", url=url, name="hook")),
        JsonlSink(SinkConfig(type="jsonl", path=tmp_path / "alerts.jsonl", name="file")),
    ]
    outbox = Outbox(archive, sinks, AlertsConfig())
    ids = []
    for i in range(N):
        text = f"الانتقامُ قادمٌ — بيان رقم {i + 1}"
        post = await add_post(archive, CH, 500 + i, text)
        ids += await outbox.record(post, detection_for(text, {"الانتقامُ قادمٌ": "revenge"}))
    await outbox.close()
    await archive.close()
    return ids


async def run_child(tmp_path: Path, url: str, mode: str, expect: str, lines: int) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.alerts_crash_child",
        str(tmp_path / "archive.db"),
        url,
        str(tmp_path / "alerts.jsonl"),
        mode,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seen = []
    try:
        while len(seen) < lines:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
            if not line:
                err = (await proc.stderr.read()).decode()
                raise AssertionError(f"child ended early: {err[-2000:]}")
            if line.startswith(expect):
                seen.append(line)
    finally:
        if mode != "deliver":
            proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 30)
    if mode != "deliver":
        assert proc.returncode == -signal.SIGKILL
    return seen


async def delivery_states(tmp_path: Path) -> collections.Counter:
    archive = await Archive.open(tmp_path / "archive.db")
    rows = await archive.fetchall("SELECT status FROM deliveries")
    await archive.close()
    return collections.Counter(r[0] for r in rows)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_killed_between_claim_and_send_delivers_each_alert_once(tmp_path):
    server = await WebhookServer().start()
    try:
        ids = await prepare(tmp_path, server.url)
        hung = await run_child(tmp_path, server.url, "before", "SENDING", 2)
        assert {line.split()[1] for line in hung} == {"hook", "file"}
        assert server.accepted == [] and read_jsonl(tmp_path / "alerts.jsonl") == []
        assert (await delivery_states(tmp_path))["sending"] >= 2  # claimed, none sent
        (done,) = await run_child(tmp_path, server.url, "deliver", "DELIVERED", 1)
        assert done == f"DELIVERED {2 * N}"
        hook = collections.Counter(r.json["alert_id"] for r in server.accepted)
        file = collections.Counter(r["alert_id"] for r in read_jsonl(tmp_path / "alerts.jsonl"))
        assert hook == file == {i: 1 for i in ids}
        assert await delivery_states(tmp_path) == {"delivered": 2 * N}
    finally:
        await server.stop()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_killed_between_send_and_mark_repeats_at_most_the_one_in_flight(tmp_path):
    server = await WebhookServer().start()
    try:
        ids = await prepare(tmp_path, server.url)
        hung = await run_child(tmp_path, server.url, "after", "SENT", 2)
        in_flight = {line.split()[1]: int(line.split()[2]) for line in hung}
        assert len(server.accepted) == 1 and len(read_jsonl(tmp_path / "alerts.jsonl")) == 1
        await run_child(tmp_path, server.url, "deliver", "DELIVERED", 1)
        hook = collections.Counter(r.json["alert_id"] for r in server.accepted)
        expected = {i: 1 for i in ids}
        expected[in_flight["hook"]] = 2  # the one documented duplicate
        assert hook == expected
        keys = [
            r.headers["Idempotency-Key"] for r in server.accepted if r.json["alert_id"] == in_flight["hook"]
        ]
        assert len(set(keys)) == 1  # ... which the receiver can recognise by its key
        file = collections.Counter(r["alert_id"] for r in read_jsonl(tmp_path / "alerts.jsonl"))
        assert file == {i: 1 for i in ids}  # the file sink never repeats
        assert await delivery_states(tmp_path) == {"delivered": 2 * N}
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_recovery_takes_back_only_claims_of_dead_processes(tmp_path):
    """``import --alerts`` running beside the daemon must not resend what the daemon is sending."""
    import socket

    from monitor.core.times import stamp

    ids = await prepare(tmp_path, "http://127.0.0.1:9/hook")
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    host = socket.gethostname()
    archive = await Archive.open(tmp_path / "archive.db")
    from datetime import UTC, datetime

    now = stamp(datetime.now(UTC))
    async with archive.transaction() as conn:
        await conn.execute(
            "UPDATE deliveries SET status = 'sending', claimed_by = ?, claimed_at = ? WHERE alert_id = ?",
            (f"{host}:{os.getppid()}", now, ids[0]),  # a live process (our parent) is sending it
        )
        await conn.execute(
            "UPDATE deliveries SET status = 'sending', claimed_by = ?, claimed_at = ? WHERE alert_id = ?",
            (f"{host}:{dead.pid}", now, ids[1]),  # its sender died
        )
    outbox = Outbox(archive, [], AlertsConfig())
    assert await outbox.recover() == 2  # both sinks of the dead claim
    rows = await archive.fetchall(
        "SELECT alert_id, status, last_error FROM deliveries WHERE alert_id IN (?, ?)", ids[:2]
    )
    state = {(r[0], r[1]) for r in rows}
    assert state == {(ids[0], "sending"), (ids[1], "pending")}
    assert all("interrupted" in r[2] for r in rows if r[0] == ids[1])
    await archive.close()
