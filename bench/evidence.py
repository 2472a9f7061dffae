"""What the evidence side costs (issue 16): the chain on the save path, ``verify``, a big bundle.

1. **Chain cost per archived post**, as a ratio to the save itself: the same batches of posts
   (2,000 a batch, as an import writes them; each post with a ~1 KB raw message, some edited in
   a second round) saved into two fresh archives, one with the chain and one with the chain's
   hook switched off, alternately, same run. Printed: the time spent inside the chain's hook over
   the whole save (target < 10%), wall and CPU (the process's CPU seconds, both threads: on a
   shared machine the CPU ratio moves less with the others' load), the CPU of Python's garbage
   collector inside the hook and in the whole save (a full collection lands in whichever code
   crosses its threshold: it moves a round's share by several points), and the difference of the
   two archives' save times.
2. **verify** of an archive of ``--verify-posts`` posts (default 1,000,000; each with its chain
   records), with 1 and 2 processes: wall seconds, CPU seconds (this process and its workers)
   and the load average around the run (the cores are shared: CPU seconds say what an idle
   machine would take). A smaller ``--verify-posts`` prints the linear extrapolation to 1 M,
   marked as such. ``--db PATH`` keeps the built archive there (building 1 M posts takes minutes)
   and reuses it on the next run; keep it under /tmp.
3. **A bundle of ``--bundle-posts`` posts** (default 100,000) written by a child process: its
   peak RSS, next to its peak once it had opened the archive and selected the ids (the
   baseline: SQLite's page cache is full by then), and the same for a tenth as many posts
   (bounded memory: what the bundle adds should not grow tenfold).

    .venv/bin/python -m bench.evidence [--posts 20000] [--verify-posts 1000000] [--bundle-posts 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import post_text
from monitor.core.models import Channel, Post
from monitor.core.store import Archive
from monitor.core.store import posts as posts_module
from monitor.core.store.verify import verify_archive

CHANNELS = [Channel(id=1000 + i, username=f"bench_channel_{i}", title=f"قناة {i}") for i in range(20)]
T0 = datetime(2021, 1, 1, tzinfo=UTC)


def make_posts(n: int, seed: int, edit: bool = False) -> list[Post]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = post_text(rng)
        if edit:
            text += " (مُعدَّل)"
        channel = CHANNELS[i % len(CHANNELS)]
        raw = {
            "_": "Message",
            "id": i + 1,
            "peer_id": {"_": "PeerChannel", "channel_id": channel.id},
            "date": (T0 + timedelta(seconds=37 * i)).isoformat(),
            "message": text,
            "entities": [],
            "views": rng.randrange(100, 100000),
            "forwards": rng.randrange(0, 500),
            "post_author": None,
            "fwd_from": None,
            "reply_to": None,
            "media": None,
            "reactions": {"results": [{"emoticon": "👍", "count": rng.randrange(1, 999)}] * 6},
            "restriction_reason": [],
            "ttl_period": None,
            "padding": "x" * 500,
        }
        out.append(
            Post(
                channel=channel,
                message_id=i + 1,
                date=T0 + timedelta(seconds=37 * i),
                text=text,
                raw=raw,
                source="import",
                views=raw["views"],
            )
        )
    return out


class _Collections:
    """CPU seconds of the process spent in Python's cyclic garbage collector (``gc.callbacks``).

    A full collection walks every object the process holds, so it costs several milliseconds
    here, and it runs inside whichever code's allocations cross the collector's threshold: in
    the chain's hook on some batches and not on others. Printed apart, so a round's share can be
    told from where a collection happened to land (it stays counted in the share)."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            self.spent += time.process_time() - self._began


async def fill(
    db: Path, n: int, *, chain: bool = True, batch: int = 2000, edits: float = 0.1
) -> tuple[float, float, float, float, float, float]:
    """Save ``n`` posts (and edit a share of them) into a fresh archive; returns save seconds,
    seconds inside the chain's hook, the same two in CPU seconds of the process, and the CPU
    seconds of garbage collection inside the hook and in the whole save."""
    spent = [0.0, 0.0, 0.0]
    original = posts_module.chain_saved_rows
    collections = _Collections()

    async def timed(*args, **kw):
        began, cpu, collected = time.perf_counter(), time.process_time(), collections.spent
        await original(*args, **kw)
        spent[0] += time.perf_counter() - began
        spent[1] += time.process_time() - cpu
        spent[2] += collections.spent - collected

    async def skipped(*args, **kw):
        return None

    posts_module.chain_saved_rows = timed if chain else skipped  # type: ignore[assignment]
    gc.callbacks.append(collections)
    try:
        async with await Archive.open(db, db.parent / "media") as archive:
            total = cpu = collected = 0.0
            for start in range(0, n, batch):
                page = _slice(n, start, batch)
                began, cpu_began, gc_began = time.perf_counter(), time.process_time(), collections.spent
                await archive.save_posts(page)
                total += time.perf_counter() - began
                cpu += time.process_time() - cpu_began
                collected += collections.spent - gc_began
            edited = int(n * edits)
            for start in range(0, edited, batch):
                page = _slice(n, start, min(batch, edited - start), edit=True)
                began, cpu_began, gc_began = time.perf_counter(), time.process_time(), collections.spent
                await archive.save_posts(page)
                total += time.perf_counter() - began
                cpu += time.process_time() - cpu_began
                collected += collections.spent - gc_began
        return total, spent[0], cpu, spent[1], spent[2], collected
    finally:
        gc.callbacks.remove(collections)
        posts_module.chain_saved_rows = original  # type: ignore[assignment]


_CACHE: dict[tuple[int, bool], list[Post]] = {}


def _slice(n: int, start: int, size: int, edit: bool = False) -> list[Post]:
    key = (n, edit)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = make_posts(n, 1, edit=edit)
    return _CACHE[key][start : start + size]


async def build_large(db: Path, n: int) -> None:
    """An archive of ``n`` chained posts, built in slices so memory stays small."""
    async with await Archive.open(db, db.parent / "media", verify=False) as archive:
        step = 20_000
        for offset in range(0, n, step):
            posts = make_posts(min(step, n - offset), offset + 7)
            for i, p in enumerate(posts):
                p.message_id = offset + i + 1
                p.date = T0 + timedelta(seconds=11 * (offset + i))
            for start in range(0, len(posts), 2000):
                await archive.save_posts(posts[start : start + 2000])
            print(f"  built {offset + len(posts):,} posts", file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended (verify's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_verify(db: Path, workers: int) -> tuple[float, float, int, bool]:
    """``verify`` of the whole archive with ``workers`` processes (1: all in this one): wall
    seconds, CPU seconds (with the workers'), posts, clean."""
    began, cpu = time.perf_counter(), cpu_seconds()
    report = verify_archive(db, db.parent / "media", workers=workers, parallel_from=1)
    return time.perf_counter() - began, cpu_seconds() - cpu, report.posts, report.ok


CHILD = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from monitor.core.store import Archive
from monitor.core.store.evidence import Selection
from handlers.bundle import write_bundle

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

async def main(db, out, limit):
    async with await Archive.open(db, Path(db).parent / "media", readonly=True) as archive:
        ids = await archive.evidence.select_ids(Selection())
        before = peak()
        keep = set(ids[:limit])
        original = archive.evidence.select_ids
        async def limited(selection):
            return [i for i in await original(selection) if i in keep]
        archive.evidence.select_ids = limited
        await write_bundle(archive, Selection(), Path(out))
        print(before, peak())

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""
# The child's peak once it has opened the archive and selected the ids (SQLite's page cache is
# full by then) is the baseline; the bundle's own cost is what writing it adds to that peak.


def child_rss(db: Path, out: Path, limit: int) -> tuple[int, int, float]:
    """(peak kB before writing, peak kB after, seconds) of a child writing a bundle of ``limit`` posts."""
    code = CHILD.format(root=str(Path(__file__).resolve().parent.parent))
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(db), str(out), str(limit)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = (int(x) for x in done.stdout.split()[-2:])
    return before, after, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="posts of the chain-cost runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verify-posts", type=int, default=1_000_000)
    parser.add_argument("--bundle-posts", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None, help="reuse this large archive for 2 and 3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tgm-evidence-") as tmp:
        folder = Path(tmp)
        print(
            f"1. chain cost, {args.posts:,} posts + 10% edited, batches of 2,000, {args.rounds} rounds each"
        )
        print(f"   load average before: {os.getloadavg()[0]:.2f}")
        with_chain: list[float] = []
        without: list[float] = []
        inside: list[float] = []
        cpu_with: list[float] = []
        cpu_inside: list[float] = []
        gc_inside: list[float] = []
        gc_save: list[float] = []
        for r in range(args.rounds):
            total, spent, cpu, cpu_spent, gc_spent, gc_all = asyncio.run(
                fill(folder / f"chain{r}.db", args.posts, chain=True)
            )
            with_chain.append(total)
            inside.append(spent)
            cpu_with.append(cpu)
            cpu_inside.append(cpu_spent)
            gc_inside.append(gc_spent)
            gc_save.append(gc_all)
            total, *_ = asyncio.run(fill(folder / f"plain{r}.db", args.posts, chain=False))
            without.append(total)
        best = min(range(args.rounds), key=lambda i: with_chain[i])
        print(
            f"   save with chain    {min(with_chain):7.2f} s  ({min(with_chain) / args.posts * 1e6:6.1f} µs/post)"
        )
        print(
            f"   save without chain {min(without):7.2f} s  ({min(without) / args.posts * 1e6:6.1f} µs/post)"
        )
        print(
            f"   inside the chain's hook: {inside[best]:.2f} s = {inside[best] / with_chain[best]:.1%} of the save (target < 10%)"
        )
        shares = sorted(cpu_inside[i] / cpu_with[i] for i in range(args.rounds))
        print(
            f"   in CPU seconds: {cpu_inside[best] / args.posts * 1e6:.1f} of {cpu_with[best] / args.posts * 1e6:.1f} µs/post"
            f" = {cpu_inside[best] / cpu_with[best]:.1%} of the save (rounds: {', '.join(f'{x:.1%}' for x in shares)})"
        )
        per_post = args.posts / 1e6  # as above: per post saved (its edits included)
        print(
            f"   of which garbage collection (rounds): inside the hook "
            f"{', '.join(f'{gc_inside[i] / per_post:.1f}' for i in range(args.rounds))} µs/post, in the whole save "
            f"{', '.join(f'{gc_save[i] / per_post:.1f}' for i in range(args.rounds))} µs/post"
        )
        print(f"   load average after: {os.getloadavg()[0]:.2f}")
        print(
            f"   difference of the two: {(min(with_chain) - min(without)) / min(without):+.1%} (noisy on a shared machine)"
        )

        db = args.db or folder / "large.db"
        if args.db is None or not db.exists():
            print(f"2. building an archive of {args.verify_posts:,} posts ...", flush=True)
            began = time.perf_counter()
            asyncio.run(build_large(db, args.verify_posts))
            print(f"   built in {time.perf_counter() - began:.0f} s ({db.stat().st_size / 1e6:.0f} MB)")
        for workers in (1, 2):
            load = os.getloadavg()[0]
            seconds, cpu, posts, ok = run_verify(db, workers)
            rate = posts / seconds if seconds else 0
            print(
                f"   verify, {workers} process(es): {posts:,} posts in {seconds:.1f} s wall, {cpu:.1f} s CPU "
                f"({rate:,.0f} posts/s), clean: {ok}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after"
            )
            if posts < 1_000_000:
                print(
                    f"   EXTRAPOLATED (linear) to 1,000,000 posts: {1_000_000 / rate:.0f} s (target < 60 s)"
                )
        print(f"3. bundle of {args.bundle_posts:,} posts, peak RSS of a child process")
        for limit in (args.bundle_posts // 10, args.bundle_posts):
            before, after, took = child_rss(db, folder / f"b{limit}.zip", limit)
            size = (folder / f"b{limit}.zip").stat().st_size / 1e6
            print(
                f"   {limit:>9,} posts: peak {after / 1024:5.0f} MB; after opening and selecting (baseline) "
                f"{before / 1024:5.0f} MB; the bundle adds {(after - before) / 1024:+4.0f} MB ({took:.0f} s, {size:.0f} MB zip)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
