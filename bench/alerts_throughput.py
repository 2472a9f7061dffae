"""Alert delivery: alerts/s through the outbox to a local webhook, and latency post archived -> received.

    .venv/bin/python -m bench.alerts_throughput            # N = 2000
    .venv/bin/python -m bench.alerts_throughput --quick    # N = 300

The receiver is a real aiohttp server on 127.0.0.1 in its own thread and event loop (as an
external service would be); the outbox, its sink and the SQLite archive are the real ones.

Scenarios (targets from issue 6):
  baseline   the same JSON bodies POSTed one after another with aiohttp, no archive (the ceiling)
  flood      N alerts recorded as fast as possible while Outbox.run delivers: alerts/s  (>= 200/s)
  latency    posts saved and their alert recorded at a steady offered rate: p50/p99 from the
             post archived to the webhook receiving its alert                        (p99 < 500 ms)

The machine is shared and noisy: compare ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from alerts.outbox import Outbox
from alerts.sinks import WebhookSink
from monitor.core.config import AlertsConfig, SinkConfig
from monitor.core.models import Channel, Post
from monitor.core.store import Archive

TEXT = "الانتقامُ قادمٌ يا أعداءَ الله — بيان رقم {i} & <b>تحذير</b> خلال ٣ أيام"
TERM = "الانتقامُ قادمٌ"


class Receiver:
    """A webhook receiver in its own thread; records perf_counter() at each alert's arrival."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.count = 0
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._setup())
        self._ready.set()
        self._loop.run_forever()

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrivals.setdefault(int(body.get("alert_id") or -1), time.perf_counter())
        self.count += 1
        return web.Response(text="ok")

    def reset(self) -> None:
        self.arrivals = {}
        self.count = 0

    def stop(self) -> None:
        if self._loop is None:
            return

        async def down() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Det:
    alert = True
    severity = "high"
    countdown = None
    ocr_text = None
    min_severity = "medium"

    def __init__(self, text: str) -> None:
        start = text.find(TERM)
        self.matches = [
            {
                "rule": "revenge",
                "term": TERM,
                "category": "revenge",
                "severity": "high",
                "source": "text",
                "start": start,
                "end": start + len(TERM),
            }
        ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def baseline(receiver: Receiver, n: int) -> dict[str, Any]:
    receiver.reset()
    bodies = [
        json.dumps({"alert_id": i, "text": TEXT.format(i=i)}, ensure_ascii=False).encode() for i in range(n)
    ]
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        cpu = time.process_time()
        for data in bodies:
            async with session.post(
                receiver.url, data=data, headers={"Content-Type": "application/json"}
            ) as r:
                await r.read()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return {
        "n": n,
        "seconds": round(elapsed, 3),
        "per_second": round(n / elapsed, 1),
        "cpu_ms_per_alert": round(1000 * cpu / n, 2),
    }


async def flood(receiver: Receiver, n: int, workdir: Path) -> dict[str, Any]:
    receiver.reset()
    archive = await Archive.open(workdir / "flood.db")
    channel = Channel(id=1001, username="bench_channel", title="قناة")
    base = datetime(2026, 11, 1, tzinfo=UTC)
    posts = [
        Post(channel=channel, message_id=i + 1, date=base + timedelta(seconds=i), text=TEXT.format(i=i))
        for i in range(n)
    ]
    await archive.save_posts(posts)
    records = [await archive.post(channel.id, i + 1) for i in range(n)]
    outbox = Outbox(
        archive, [WebhookSink(SinkConfig(type="webhook", url=receiver.url, name="hook"))], AlertsConfig()
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop))
    start = time.perf_counter()
    cpu = time.process_time()
    for record in records:
        await outbox.record(record, Det(record.text))
    recorded = time.perf_counter() - start
    deadline = time.perf_counter() + 300
    while receiver.count < n and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    elapsed = (max(receiver.arrivals.values()) if receiver.arrivals else time.perf_counter()) - start
    cpu = time.process_time() - cpu  # this process: outbox, SQLite thread and the receiver thread
    stop.set()
    await runner
    await outbox.close()
    await archive.close()
    return {
        "n": n,
        "received": receiver.count,
        "record_per_second": round(n / recorded, 1),
        "seconds": round(elapsed, 3),
        "per_second": round(receiver.count / elapsed, 1),
        "cpu_ms_per_alert": round(1000 * cpu / n, 2),
    }


async def latency(receiver: Receiver, n: int, rate: float, workdir: Path) -> dict[str, Any]:
    receiver.reset()
    archive = await Archive.open(workdir / "latency.db")
    channel = Channel(id=1002, username="bench_live", title="قناة")
    outbox = Outbox(
        archive, [WebhookSink(SinkConfig(type="webhook", url=receiver.url, name="hook"))], AlertsConfig()
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop))
    archived_at: dict[int, float] = {}
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        post = Post(
            channel=channel,
            message_id=i + 1,
            date=datetime.now(UTC).replace(microsecond=0),
            text=TEXT.format(i=i),
        )
        await archive.save_post(post)
        t_archived = time.perf_counter()
        record = await archive.post(channel.id, i + 1)
        (alert_id,) = await outbox.record(record, Det(post.text))
        archived_at[alert_id] = t_archived
    deadline = time.perf_counter() + 60
    while receiver.count < n and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    stop.set()
    await runner
    await outbox.close()
    await archive.close()
    lat = [(receiver.arrivals[a] - t) * 1000 for a, t in archived_at.items() if a in receiver.arrivals]
    return {
        "n": n,
        "offered_per_second": rate,
        "received": len(lat),
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p99_ms": round(pct(lat, 0.99), 1),
        "max_ms": round(max(lat), 1) if lat else None,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    n = 300 if args.quick else args.n
    receiver = Receiver().start()
    try:
        with tempfile.TemporaryDirectory(prefix="tgm-bench-alerts-") as tmp:
            work = Path(tmp)
            base = await baseline(receiver, n)
            print(f"baseline  {base}", file=sys.stderr)
            fl = await flood(receiver, n, work)
            print(f"flood     {fl}", file=sys.stderr)
            lat = await latency(receiver, max(100, n // 4), args.rate, work)
            print(f"latency   {lat}", file=sys.stderr)
    finally:
        receiver.stop()
    return {
        "baseline": base,
        "flood": fl,
        "latency": lat,
        "flood_vs_baseline": round(fl["per_second"] / base["per_second"], 3),
        "targets": {
            "flood_per_second>=200": fl["per_second"] >= 200,
            "p99_ms<500": (lat["p99_ms"] or 1e9) < 500,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="300 alerts instead of --n")
    parser.add_argument("--n", type=int, default=2000, help="alerts in the flood (default 2000)")
    parser.add_argument("--rate", type=float, default=50.0, help="offered posts/s in the latency run")
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result, indent=2))
