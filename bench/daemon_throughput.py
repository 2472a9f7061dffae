"""Daemon throughput, latency, loop lag and memory, through the fake Telegram (tests/support/fake_telegram.py).

Everything above the network is real: Telethon's update loop and pts checks, our handlers, the
intake, the pipeline, the SQLite archive. Each update is serialised and parsed as on the wire.

    .venv/bin/python -m bench.daemon_throughput            # all scenarios
    .venv/bin/python -m bench.daemon_throughput --quick    # smaller counts

Scenarios (targets from issue 5):
  baseline      pipeline.process_batch alone, no Telegram (the ceiling; ratios are against it)
  flood         N text posts pushed at once: posts/s end to end             (>= 500/s)
  sustained     text posts at a fixed offered rate: median/p99 update -> archived (p99 < 100 ms)
  images        one image per ten posts (download + media store): posts/s and p99
  ocr_lag       event-loop lag p99 while OCR reads posters (if the OCR pool exists) (< 50 ms)
  rss           RSS with 500 configured channels, after resolve + gap-fill (< 200 MB)

The machine is shared and noisy: compare ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.core.config import parse_config
from monitor.core.models import Channel, Post
from monitor.daemon import Daemon
from tests.support.fake_telegram import FakeTelegram, png_bytes

CHANNEL_ID = 1001


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def config_for(tmp: Path, channels: list[str], ocr: bool = False) -> Any:
    return parse_config(
        {
            "telegram": {"channels": channels},
            "archive": {"path": str(tmp / "archive.db"), "media_dir": str(tmp / "media")},
            "ocr": {"enabled": ocr, "workers": 1},
        }
    )


class Run:
    """A daemon on a fake server, with arrival -> archived latency per message id."""

    def __init__(self, tmp: Path, channels: int = 1, ocr: bool = False, detect: bool = False):
        self.server = FakeTelegram()
        names = []
        for i in range(channels):
            username = "militia_news" if i == 0 else f"chan_{i}"
            self.server.add_channel(CHANNEL_ID + i, username, f"قناة {i}")
            names.append(f"@{username}")
        self.config = config_for(tmp, names, ocr)
        self.daemon = Daemon(
            self.config,
            self.config.archive.path,
            self.config.archive.media_dir,
            client_factory=lambda cfg: self.server.client(),
            ocr=ocr,
            detect=detect,
            install_signals=False,
            schedule=False,
            initial_history=0,
        )
        self.pushed: dict[int, float] = {}
        self.latency: list[float] = []
        self.archived = 0
        self.all_done = asyncio.Event()
        self.expected = 0

    def on_archived(self, unit: Any, result: Any) -> None:
        now = time.perf_counter()
        for mid in unit.ids[:1]:
            start = self.pushed.pop(mid, None)
            if start is not None:
                self.latency.append((now - start) * 1000)
        self.archived += 1
        if self.archived >= self.expected:
            self.all_done.set()

    async def __aenter__(self) -> Run:
        self.task = asyncio.create_task(self.daemon.run())
        started = asyncio.create_task(self.daemon.started.wait())
        await asyncio.wait({self.task, started}, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        self.daemon.intake.on_archived = self.on_archived
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.daemon.request_stop()
        await self.task

    def post(self, i: int, image: bool = False) -> None:
        text = f"منشور {i}: الانتقامُ قادمٌ خلال ٣ أيام #عاجل"
        msg = self.server.post(
            CHANNEL_ID, text, photo=png_bytes(f"p{i}", (320, 240)) if image else None, push=False
        )
        self.pushed[msg.id] = time.perf_counter()
        state = self.server.channels[CHANNEL_ID]
        self.server.push(state.events[-1][1], CHANNEL_ID)


async def bench_baseline(tmp: Path, n: int) -> dict[str, float]:
    from monitor.app import open_app

    config = config_for(tmp, [])
    channel = Channel(CHANNEL_ID, "militia_news", "قناة", 1)
    posts = [
        Post(channel, i, datetime.now(UTC), text=f"منشور {i}: الانتقامُ قادمٌ خلال ٣ أيام #عاجل")
        for i in range(1, n + 1)
    ]
    async with open_app(config, config.archive.path, ocr=False, detect=False) as app:
        start = time.perf_counter()
        for k in range(0, n, 64):
            await app.pipeline.process_batch(posts[k : k + 64])
        elapsed = time.perf_counter() - start
    return {"posts_per_s": n / elapsed}


async def bench_flood(tmp: Path, n: int, image_every: int = 0) -> dict[str, float]:
    async with Run(tmp) as run:
        run.expected = n
        start = time.perf_counter()
        for i in range(1, n + 1):
            run.post(i, image=bool(image_every) and i % image_every == 0)
            if i % 50 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(run.all_done.wait(), 300)
        elapsed = time.perf_counter() - start
    return {"posts_per_s": n / elapsed, "p50_ms": pct(run.latency, 0.5), "p99_ms": pct(run.latency, 0.99)}


async def bench_sustained(tmp: Path, rate: float, seconds: float, image_every: int = 0) -> dict[str, float]:
    n = int(rate * seconds)
    async with Run(tmp) as run:
        run.expected = n
        start = time.perf_counter()
        for i in range(1, n + 1):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            run.post(i, image=bool(image_every) and i % image_every == 0)
        await asyncio.wait_for(run.all_done.wait(), 300)
        elapsed = time.perf_counter() - start
    return {
        "offered_per_s": rate,
        "achieved_per_s": n / elapsed,
        "p50_ms": statistics.median(run.latency) if run.latency else float("nan"),
        "p99_ms": pct(run.latency, 0.99),
    }


async def lag_sampler(samples: list[float], stop: asyncio.Event, interval: float = 0.01) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(interval)
        samples.append((time.perf_counter() - before - interval) * 1000)


def poster_bytes(i: int) -> bytes:
    """A real poster (scripts/posters.py from the OCR work), varied per ``i`` so each is read once."""
    import io

    from scripts.posters import render_poster

    image = render_poster([f"الانتقام قادم {i}", "#عاجل"], "fire" if i % 2 else "flag", 800, seed=i)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


async def bench_ocr_lag(tmp: Path, posters: int) -> dict[str, Any]:
    try:
        from ocr import OcrPool  # noqa: F401
    except ImportError:
        return {"skipped": "the OCR pool (ocr.OcrPool) is not available"}
    images = [poster_bytes(i) for i in range(posters)]
    samples: list[float] = []
    stop = asyncio.Event()
    async with Run(tmp, ocr=True) as run:
        run.expected = posters * 5
        sampler = asyncio.create_task(lag_sampler(samples, stop))
        for i in range(1, posters * 5 + 1):
            image = images[i // 5 - 1] if i % 5 == 0 else None
            msg = run.server.post(CHANNEL_ID, f"نص {i}", photo=image, push=False)
            run.pushed[msg.id] = time.perf_counter()
            run.server.push(run.server.channels[CHANNEL_ID].events[-1][1], CHANNEL_ID)
            await asyncio.sleep(0.005)
        await asyncio.wait_for(run.all_done.wait(), 600)
        # OCR may still be running after the posts are archived: keep sampling until the pool is idle.
        await run.daemon.app.pipeline.resume()
        stop.set()
        await sampler
    return {
        "posters": posters,
        "lag_p50_ms": pct(samples, 0.5),
        "lag_p99_ms": pct(samples, 0.99),
        "lag_max_ms": max(samples) if samples else float("nan"),
        "p99_archive_ms": pct(run.latency, 0.99),
    }


async def bench_rss(tmp: Path, channels: int) -> dict[str, float]:
    gc.collect()
    before = rss_mb()
    async with Run(tmp, channels=channels) as run:
        run.expected = channels
        for i in range(channels):
            run.server.post(CHANNEL_ID + i, f"منشور في القناة {i}")
        await asyncio.wait_for(run.all_done.wait(), 120)
        gc.collect()
        during = rss_mb()
        watched = len(run.daemon.channels)
    return {"rss_before_mb": before, "rss_with_channels_mb": during, "channels_watched": watched}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    scale = 0.25 if args.quick else 1.0
    out: dict[str, Any] = {}

    def tmpdir() -> Path:
        return Path(tempfile.mkdtemp(prefix="tgm-bench-"))

    chosen = args.only or ["baseline", "flood", "sustained", "images", "ocr_lag", "rss"]
    if "rss" in chosen:  # first, before other scenarios grow the heap
        out["rss"] = await bench_rss(tmpdir(), 500)
    if "baseline" in chosen:
        out["baseline"] = await bench_baseline(tmpdir(), int(4000 * scale))
    if "flood" in chosen:
        out["flood_text"] = await bench_flood(tmpdir(), int(4000 * scale))
    if "sustained" in chosen:
        out["sustained_text"] = await bench_sustained(tmpdir(), 500, 6 * scale)
    if "images" in chosen:
        out["flood_images"] = await bench_flood(tmpdir(), int(2000 * scale), image_every=10)
        out["sustained_images"] = await bench_sustained(tmpdir(), 300, 6 * scale, image_every=10)
    if "ocr_lag" in chosen:
        out["ocr_lag"] = await bench_ocr_lag(tmpdir(), int(20 * scale) or 5)
    if "baseline" in out and "flood_text" in out:
        out["ratio_flood_vs_pipeline_only"] = (
            out["flood_text"]["posts_per_s"] / out["baseline"]["posts_per_s"]
        )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*")
    result = asyncio.run(main(parser.parse_args()))
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()
