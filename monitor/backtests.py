"""Run a rules backtest over the archive, spread over worker processes as the import is.

Detection is Python work, so a large archive is spread over worker processes (``spawn``, each
dies with the command, :mod:`handlers.lifeline`): the posts are cut into ranges of ids
(:meth:`ScanStore.chunk_starts`), each worker opens the archive read-only, reads its range and
returns a small :class:`~alerts.backtest.Backtest` that this process merges as they finish (the
progress bar moves per range). An archive of fewer than :data:`PARALLEL_FROM` posts is scanned
in this process: starting workers costs about a second.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.backtest import Backtest, Detectors, tally_rows
from alerts.detect import Detector
from alerts.rules import parse_rules
from alerts.signatures import SignatureBook
from monitor.core.errors import MonitorError
from monitor.core.lifeline import die_with_parent
from monitor.core.store import Archive
from monitor.core.store.scans import ScanRow

__all__ = ["CHUNK", "PARALLEL_FROM", "Plan", "build_detectors", "run_backtest"]

CHUNK = 20_000
"""Posts per range a worker reads and detects at once."""
PARALLEL_FROM = 40_000


@dataclass(frozen=True)
class Plan:
    """What every worker needs to rebuild the detectors and read its ranges (picklable)."""

    db_path: Path
    tested_text: str
    tested_source: str
    in_force_text: str | None
    in_force_source: str
    min_severity: str
    since: datetime | None
    channel_id: int | None
    signatures: SignatureBook | None


def build_detectors(plan: Plan) -> Detectors:
    """Both detectors, each with the learned signatures under its own file's overrides."""
    book = plan.signatures

    def detector(text: str, source: str) -> Detector:
        return Detector(parse_rules(text, source), min_severity=plan.min_severity, signatures=book)

    tested = detector(plan.tested_text, plan.tested_source)
    in_force = detector(plan.in_force_text, plan.in_force_source) if plan.in_force_text is not None else None
    return Detectors(tested, in_force, book)


async def run_backtest(
    archive: Archive,
    plan: Plan,
    *,
    workers: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> tuple[Backtest, float]:
    """Run the backtest of ``plan`` over ``archive``; returns it and the seconds it took."""
    started = time.perf_counter()
    total, starts = await archive.scans.chunk_starts(since=plan.since, channel_id=plan.channel_id, step=CHUNK)
    if on_total:
        on_total(total)
    result = Backtest()
    ranges = [(low, starts[i + 1] if i + 1 < len(starts) else None) for i, low in enumerate(starts)]
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    if total < PARALLEL_FROM or workers < 2:
        detectors = build_detectors(plan)
        for low, high in ranges:
            rows = await archive.scans.posts_between(low, high, since=plan.since, channel_id=plan.channel_id)
            part = await asyncio.to_thread(tally_rows, rows, detectors)
            result.merge(part)
            if on_done:
                on_done(part.posts)
        return result, time.perf_counter() - started
    context = multiprocessing.get_context("spawn")  # never fork a process with threads and a loop
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(plan, os.getpid())
    ) as pool:
        futures = [asyncio.wrap_future(pool.submit(_scan_range, low, high)) for low, high in ranges]
        try:
            for next_done in asyncio.as_completed(futures):
                part = await next_done
                result.merge(part)
                if on_done:
                    on_done(part.posts)
        except BrokenProcessPool:
            raise MonitorError(
                "a backtest worker stopped unexpectedly (out of memory?): run again, or with --workers 1"
            ) from None
    return result, time.perf_counter() - started


_WORKER: dict[str, Any] = {}


def _start_worker(plan: Plan, parent_pid: int) -> None:
    """A worker: dies with the command, builds the detectors once."""
    die_with_parent(parent_pid)
    _WORKER["plan"] = plan
    _WORKER["detectors"] = build_detectors(plan)


def _scan_range(low: int, high: int | None) -> Backtest:
    plan: Plan = _WORKER["plan"]

    async def read() -> list[ScanRow]:
        archive = await Archive.open(plan.db_path, readonly=True)
        try:
            return await archive.scans.posts_between(low, high, since=plan.since, channel_id=plan.channel_id)
        finally:
            await archive.close()

    rows = asyncio.run(read())
    return tally_rows(rows, _WORKER["detectors"])
