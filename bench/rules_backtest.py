"""``tgmonitor rules test`` on a large archive: the whole command against one process doing the same work.

Run: ``.venv/bin/python -m bench.rules_backtest [--posts 1000000] [--workers 2]``

Builds an archive of generated posts (``bench/corpus.py``: ~120 characters, 3% with a threat
phrase, 10 channels) with the archive's own schema, then in the same run:

* **one process**: the backtest's own counting (:func:`alerts.backtest.tally_rows`, both rule
  sets and the channel signatures) over the first ``--sample`` posts, read from the archive in this
  process, projected to the whole archive;
* **the command**: ``tgmonitor rules test NEW.toml --json`` (the default rules plus one rule, so
  both rule sets run) as a subprocess with ``--workers``, timed end to end (interpreter start,
  reading, detection, merging).

Target (issue 17): under 120 s at 1,000,000 posts on 2 cores. The ratio (projected one process /
command) says how much the spreading over processes gives on this machine at this load; the
command's CPU seconds (its own and its workers') say what it costs whatever the load, and over
the cores what it takes on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.backtest import Detectors, tally_rows
from alerts.detect import Detector
from alerts.rules import default_rules_text, parse_rules
from alerts.signatures import learn_book
from bench.corpus import post_text
from monitor.core.store import ID_SLOTS, INDEX_VERSION, MIGRATIONS, Archive
from monitor.core.store.schema import split_sql

EXTRA_RULE = """

[[rule]]
name = "bench-extra"
severity = "medium"
category = "threat"
near = [["قوات الاحتلال", "vengeance"], ["اليوم", "غدا", "meeting"]]
within = 3
"""


def build(path: Path, n: int, channels: int = 10) -> None:
    """``n`` posts in ``channels`` channels, written with the archive's schema (no search index rows:
    a backtest does not read them)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    for i, step in enumerate(MIGRATIONS):
        for statement in split_sql(step):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {i + 1}")
    for c in range(channels):
        conn.execute(
            "INSERT INTO channels (id, username, title, created_at, updated_at) VALUES (?, ?, ?, 'x', 'x')",
            (1000 + c, f"bench{c}", f"قناة الاختبار {c} | Bench {c}"),
        )
    rng = random.Random(7)
    start = 1_500_000_000
    batch = 50_000
    for offset in range(0, n, batch):
        rows = []
        for i in range(offset, min(n, offset + batch)):
            when = start + i * 30
            rows.append(
                (
                    when * ID_SLOTS,
                    1000 + i % channels,
                    i + 1,
                    time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(when)),
                    post_text(rng),
                )
            )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO posts (id, channel_id, message_id, date, text, first_seen_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'x', 'x')",
            rows,
        )
        conn.execute("COMMIT")
        print(f"\r  built {min(n, offset + batch):,} posts", end="", file=sys.stderr, flush=True)
    conn.execute("INSERT INTO meta (key, value) VALUES ('index_version', ?)", (INDEX_VERSION,))
    conn.close()
    print(file=sys.stderr)


async def one_process(db: Path, sample: int) -> tuple[int, float]:
    """Posts and seconds of the backtest's counting in this process over the first ``sample`` posts."""
    async with await Archive.open(db, readonly=True) as archive:
        book = await learn_book(archive)
        _, starts = await archive.scans.chunk_starts(step=sample)
        started = time.perf_counter()
        rows = await archive.scans.posts_between(starts[0], starts[1] if len(starts) > 1 else None)
        tested = Detector(parse_rules(default_rules_text() + EXTRA_RULE, "new"), signatures=book)
        in_force = Detector(parse_rules(default_rules_text(), "default"), signatures=book)
        tally_rows(rows, Detectors(tested, in_force, book))
        return len(rows), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=20_000, help="posts the one-process baseline counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tgm-backtest-") as work:
        folder = Path(work)
        db = folder / "archive.db"
        rules = folder / "new.toml"
        rules.write_text(default_rules_text() + EXTRA_RULE, encoding="utf-8")
        started = time.perf_counter()
        build(db, args.posts)
        print(f"archive of {args.posts:,} posts built in {time.perf_counter() - started:.0f} s")

        sampled, seconds = asyncio.run(one_process(db, args.sample))
        projected = seconds * args.posts / max(1, sampled)
        print(
            f"one process: {sampled:,} posts in {seconds:.1f} s ({sampled / seconds:,.0f} posts/s); "
            f"projected to {args.posts:,} posts: {projected:.0f} s"
        )

        config = folder / "config.toml"
        config.write_text("", encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "monitor",
            "--db",
            str(db),
            "--config",
            str(config),
            "rules",
            "test",
            str(rules),
            "--json",
            "--workers",
            str(args.workers),
        ]
        loads: list[float] = []  # others share the cores: the load average says how much
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(2):
                loads.append(os.getloadavg()[0])

        threading.Thread(target=sample, daemon=True).start()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent
        )
        elapsed = time.perf_counter() - started
        stop.set()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            print(done.stderr)
            raise SystemExit(done.returncode)
        result = json.loads(done.stdout)
        print(
            f"rules test ({args.workers} workers): {result['posts']:,} posts in {elapsed:.1f} s end to end "
            f"({result['posts'] / elapsed:,.0f} posts/s); {result['alerts']:,} would alert, "
            f"+{result['gained']:,} gained, -{result['lost']:,} lost"
        )
        per_million = elapsed * 1_000_000 / max(1, result["posts"])
        print(
            f"ratio one process (projected) / command: {projected / elapsed:.2f}x; "
            f"at 1,000,000 posts: {per_million:.0f} s (target < 120 s)"
        )
        # CPU seconds do not depend on how many others share the cores: on an idle machine the
        # command's wall time is about its CPU time over the cores it spreads on.
        cpu_million = cpu * 1_000_000 / max(1, result["posts"])
        print(
            f"CPU time of the command and its workers: {cpu:.0f} s; per 1,000,000 posts {cpu_million:.0f} s, "
            f"i.e. about {cpu_million / args.workers:.0f} s of wall time on {args.workers} idle cores"
        )
        if loads:
            print(
                f"load average during the command: mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f}"
            )


if __name__ == "__main__":
    main()
