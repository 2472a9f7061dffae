"""The web desk's speed: every page and API call at archive scale, and what 50 busy analysts cost
the daemon's archive. Ratios against baselines measured in the same run.

1. An archive of ``--posts`` posts in 20 channels (the archive's own schema and index rows),
   ``--alerts`` alerts with realistic bodies (some acknowledged), ``--images`` images (real PNG
   files behind them), countdown points and campaigns.
2. ``tgmonitor serve`` on it, in its own process (as an analyst runs it). Each page and API call
   is requested ``--repeat`` times; p50/p95 are printed with their ratio to the baseline, the
   desk's own static CSS (the cost of the HTTP round trip and the middlewares, no archive work).
   Targets (issue 14): pages p95 < 100 ms, API p95 < 50 ms.
3. A writer saves posts through ``Archive.save_posts`` at ``--rate`` posts/s (the daemon's archive
   path, the archive opened as the daemon opens it) while ``--clients`` clients (another process)
   request pages without pause, in both set-ups of issue 14: ``tgmonitor serve`` beside the
   daemon (the desk process above) and the desk inside the daemon (its process and event loop,
   ``tgmonitor run`` with ``[web] enabled``). Idle and busy windows alternate ``--rounds`` times
   (the clients paused and resumed), so the machine's other load weighs on both alike; the load
   average is printed with the result. Target: the write p99 with the busy desk within 20% of
   the idle desk's. The clients' own throughput and latency are printed beside it.

    .venv/bin/python bench/web_speed.py [--posts 1000000] [--alerts 10000] [--images 100000]
        [--repeat 40] [--clients 50] [--rate 500] [--seconds 30] [--rounds 6]
        [--setup serve,daemon] [--db /tmp/tgm-web.db]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import aiohttp
from PIL import Image

from bench.corpus import post_text
from monitor.core.models import Channel, Post
from monitor.core.store import ID_SLOTS, INDEX_VERSION, MIGRATIONS, Archive
from monitor.core.store.schema import split_sql
from monitor.core.store.search import fts_row

CHANNELS = 20
START = 1_700_000_000
STEP = 30  # seconds between posts


def stamp(unix: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(unix))


def build(path: Path, media: Path, posts: int, alerts: int, images: int) -> dict:
    """Write the archive; returns what the pages will be asked about."""
    media.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(50):  # 50 real PNG files behind the image rows (a desk serves them by sha256)
        out = io.BytesIO()
        Image.new("RGB", (320, 240), (i * 5 % 255, 40, 90)).save(out, "PNG")
        name = f"bench{i}.png"
        (media / name).write_bytes(out.getvalue())
        files.append(name)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    for i, step in enumerate(MIGRATIONS):
        for statement in split_sql(step):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {i + 1}")
    now = stamp(int(time.time()))
    conn.executemany(
        "INSERT INTO channels (id, username, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(1000 + c, f"bench{c}", f"قناة {c}", now, now) for c in range(CHANNELS)],
    )
    rng = random.Random(7)
    image_every = max(1, posts // max(1, images))
    alert_every = max(1, posts // max(1, alerts))
    # the newest posts are dated up to now, so the channel page's 90 days have activity
    start = int(time.time()) - posts * STEP
    batch = 20_000
    sample = {}
    for offset in range(0, posts, batch):
        rows, fts, pm, md, al, cd = [], [], [], [], [], []
        for i in range(offset, min(posts, offset + batch)):
            text = post_text(rng)
            when = start + i * STEP
            post_id = when * ID_SLOTS
            channel = 1000 + i % CHANNELS
            rows.append((post_id, channel, i + 1, stamp(when), text, now, now, now))
            fts.append((post_id, *fts_row(text, None)))
            sha = None
            if rng.random() < 1 / image_every:
                sha = hashlib.sha256(f"image{i}".encode()).hexdigest()
                phash = f"{rng.getrandbits(64):016x}"
                md.append(
                    (
                        sha,
                        files[i % len(files)],
                        1000,
                        320,
                        240,
                        "image/png",
                        1,
                        "done",
                        "الانتقام قادم",
                        phash,
                        now,
                    )
                )
                pm.append((post_id, 0, sha, "photo", "image/png", 1000))
                sample.setdefault("post", (channel, i + 1))
            if rng.random() < 1 / alert_every:
                body = {
                    "kind": "post",
                    "severity": "high",
                    "channel": f"bench{i % CHANNELS}",
                    "channel_title": f"قناة {i % CHANNELS}",
                    "channel_id": channel,
                    "message_id": i + 1,
                    "url": f"https://t.me/bench{i % CHANNELS}/{i + 1}",
                    "date": stamp(when),
                    "text": text,
                    "matches": [
                        {
                            "rule": "revenge",
                            "term": "الانتقام",
                            "category": "revenge",
                            "severity": "high",
                            "source": "text",
                            "start": 0,
                            "end": 4,
                        }
                    ],
                    "countdown": None,
                    "ocr_excerpt": None,
                    "ocr_highlights": [],
                    "image_sha256": sha,
                    "channels": [
                        {"channel_id": channel, "title": f"قناة {i % CHANNELS}", "message_id": i + 1}
                    ],
                }
                al.append(
                    (
                        post_id,
                        f"fp{i}",
                        "high" if i % 3 else "medium",
                        stamp(when),
                        json.dumps(body, ensure_ascii=False),
                        channel,
                    )
                )
            if i % 5000 == 0:
                cd.append(
                    (post_id, channel, stamp(when), 30 - (i // 5000) % 30, "day", stamp(when + 30 * 86400))
                )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO posts (id, channel_id, message_id, date, text, first_seen_at, updated_at, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany("INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)", fts)
        conn.executemany(
            "INSERT INTO media (sha256, path, size, width, height, mime_type, is_image, ocr_status, ocr_text, phash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            md,
        )
        conn.executemany(
            "INSERT INTO post_media (post_id, position, sha256, kind, mime_type, size) VALUES (?, ?, ?, ?, ?, ?)",
            pm,
        )
        conn.executemany(
            "INSERT INTO alerts (kind, post_id, fingerprint, severity, created_at, body, channel_id) VALUES ('post', ?, ?, ?, ?, ?, ?)",
            al,
        )
        conn.executemany(
            "INSERT INTO countdowns (post_id, channel_id, date, value, unit, deadline) VALUES (?, ?, ?, ?, ?, ?)",
            cd,
        )
        conn.execute("COMMIT")
        print(f"\r  built {min(posts, offset + batch):,} posts", end="", file=sys.stderr, flush=True)
    conn.execute(
        "INSERT INTO alert_decisions (alert_id, kind, value, actor, desk, decided_at) "
        "SELECT id, 'ack', 'ack', 'bench', 'web', created_at FROM alerts WHERE id % 3 = 0"
    )
    conn.execute("UPDATE alerts SET acked_at = created_at WHERE id % 3 = 0")
    conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")
    conn.execute("INSERT INTO meta (key, value) VALUES ('index_version', ?)", (INDEX_VERSION,))
    conn.execute("ANALYZE")
    conn.close()
    print(file=sys.stderr)
    return sample


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_desk(db: Path, media: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "TGMONITOR_CONFIG": "", "XDG_CONFIG_HOME": tempfile.mkdtemp()}
    desk = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--db", str(db), "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert desk.stderr is not None
    line = desk.stderr.readline()  # "desk on http://..." once it listens
    if "desk on" not in line:
        raise SystemExit(f"the desk did not start: {line}{desk.stderr.read()}")
    return desk


def pages(sample: dict) -> dict[str, tuple[str, str]]:
    channel, message = sample["post"]
    return {
        "static css (baseline)": ("base", "/static/desk.css"),
        "alerts queue /": ("page", "/"),
        "alerts, high, new": ("page", "/?severity=high&state=new"),
        "alerts, one channel": ("page", f"/?channel={channel}"),
        "search ar": ("page", "/search?q=الانتقام"),
        "search en, with image": ("page", "/search?q=vengeance&image=1"),
        "post with image": ("page", f"/post/{channel}/{message}"),
        "channel": ("page", f"/channel/{channel}"),
        "countdowns": ("page", "/countdowns"),
        "campaigns": ("page", "/campaigns"),
        "api search": ("api", "/api/search?q=الانتقام"),
        "api alerts": ("api", "/api/alerts"),
        "api alerts after id": ("api", "/api/alerts?after=1"),
        "api post": ("api", f"/api/posts/{channel}/{message}"),
        "api stats": ("api", "/api/stats"),
    }


async def measure_pages(url: str, sample: dict, repeat: int) -> None:
    async with aiohttp.ClientSession() as session:
        results = {}
        for name, (kind, path) in pages(sample).items():
            times = []
            for _ in range(repeat + 2):
                t0 = time.perf_counter()
                async with session.get(url + path) as response:
                    await response.read()
                    assert response.status == 200, (path, response.status)
                times.append((time.perf_counter() - t0) * 1000)
            results[name] = (kind, times[2:])  # the first two warm the caches
    base = pct(results["static css (baseline)"][1], 95)
    print(f"{'request':28} {'p50 ms':>8} {'p95 ms':>8} {'x static':>9}  target")
    for name, (kind, times) in results.items():
        p95 = pct(times, 95)
        target = {"page": 100, "api": 50}.get(kind)
        verdict = "" if target is None else (f"< {target} ms " + ("ok" if p95 < target else "MISSED"))
        print(f"{name:28} {statistics.median(times):8.1f} {p95:8.1f} {p95 / base:9.1f}  {verdict}")


def load(url: str, clients: int, seconds: float, channel: int, message: int) -> None:
    """The busy desk: ``clients`` clients requesting pages without pause (run in its own process).

    SIGUSR1 pauses them (each finishes the request it is in; "paused" is printed once none is left
    at the desk), SIGUSR2 sets them going again: the
    writer's idle and busy windows alternate, so the other users of the machine weigh on both
    alike. SIGTERM ends them. Prints what the desk answered while they were busy: requests, their
    rate, p50/p95."""
    paths = [
        "/",
        "/?severity=high",
        "/search?q=الانتقام",
        f"/post/{channel}/{message}",
        f"/channel/{channel}",
        "/api/alerts",
        "/api/search?q=iraq",
    ]
    ending: list[bool] = []
    inflight = [0]

    async def client(i: int, stop: float, going: asyncio.Event, times: list[float], bad: list[int]) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            n = i
            while time.monotonic() < stop and not ending:
                await going.wait()
                if ending:
                    break
                t0 = time.perf_counter()
                inflight[0] += 1
                try:
                    async with session.get(url + paths[n % len(paths)]) as response:
                        await response.read()
                    if response.status == 200:
                        times.append((time.perf_counter() - t0) * 1000)
                    else:
                        bad[0] += 1
                except (aiohttp.ClientError, TimeoutError):
                    bad[0] += 1
                finally:
                    inflight[0] -= 1
                    if not inflight[0] and not going.is_set():
                        print("paused", flush=True)  # the desk has nothing of theirs left to answer
                n += 1

    async def main() -> None:
        import signal

        going = asyncio.Event()
        busy = [0.0, 0.0]  # busy seconds so far, since when busy now

        def pause() -> None:
            if going.is_set():
                busy[0] += time.monotonic() - busy[1]
                going.clear()
            if not inflight[0]:
                print("paused", flush=True)

        def resume() -> None:
            if not going.is_set():
                busy[1] = time.monotonic()
                going.set()

        def end() -> None:
            pause()
            ending.append(True)
            going.set()  # the paused clients wake to see it

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, pause)
        loop.add_signal_handler(signal.SIGUSR2, resume)
        loop.add_signal_handler(signal.SIGTERM, end)
        print("ready", flush=True)
        times: list[float] = []
        bad = [0]
        stop = time.monotonic() + seconds
        await asyncio.gather(*(client(i, stop, going, times, bad) for i in range(clients)))
        if not ending:
            pause()
        rate = len(times) / busy[0] if busy[0] else 0.0
        print(
            f"clients {len(times)} {rate:.1f} {statistics.median(times) if times else 0:.1f} "
            f"{pct(times, 95) if times else 0:.1f} {bad[0]}",
            flush=True,
        )

    asyncio.run(main())


async def write_posts(
    db: Path, media: Path, rate: float, windows: list[tuple[str, float]], first_id: int, switch
) -> dict[str, list[float]]:
    """Save posts at ``rate``/s in batches of a tenth of a second through ``Archive.save_posts``
    (the daemon's archive path, its archive opened as the daemon opens it), through ``windows``
    of (label, seconds); ``switch(label)`` is called as each begins. Each batch's save time (ms) by
    label; a window's first second is not counted (the desk settles into its new state; an idle
    window begins once the clients have had every answer)."""
    archive = await Archive.open(db, media, verify=False, quiet_checkpoints=True)
    rng = random.Random(first_id)
    channel = Channel(id=1000, username="bench0", title="قناة 0")
    per_batch = max(1, int(rate / 10))
    latencies: dict[str, list[float]] = {}
    message = first_id
    try:
        for label, seconds in windows:
            await switch(label)
            counted = time.monotonic() + SETTLE_S
            stop = time.monotonic() + SETTLE_S + seconds
            next_at = time.monotonic()
            while time.monotonic() < stop:
                batch = []
                for _ in range(per_batch):
                    message += 1
                    batch.append(
                        Post(
                            channel=channel,
                            message_id=message,
                            date=datetime.now(UTC),
                            text=post_text(rng),
                            source="live",
                        )
                    )
                t0 = time.perf_counter()
                await archive.save_posts(batch)
                if t0 >= counted:
                    latencies.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
                next_at += 0.1
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await switch("end")
    finally:
        await archive.close()
    return latencies


SETTLE_S = 1.0


def start_clients(url: str, clients: int, seconds: float, sample: dict, nice: int) -> subprocess.Popen:
    channel, message = sample["post"]
    proc = subprocess.Popen(
        [
            *(sys.executable, __file__, "--load", url, "--clients", str(clients)),
            *("--seconds", str(seconds), "--post", f"{channel}/{message}", "--clients-nice", str(nice)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the busy clients did not start")
    return proc


def measure_writes(
    setup: str, url: str, db: Path, media: Path, args: argparse.Namespace, sample: dict, first: int
):
    """One set-up's idle and busy windows, alternated ``--rounds`` times; prints the ratio."""
    window = args.seconds / args.rounds
    windows = [w for _ in range(args.rounds) for w in (("idle", window), ("busy", window))]
    total = len(windows) * (window + SETTLE_S) + 30
    clients = start_clients(url, args.clients, total, sample, args.clients_nice)
    loads: list[float] = []

    async def switch(label: str) -> None:
        if label != "end":
            loads.append(os.getloadavg()[0])
        if label == "busy":
            clients.send_signal(signal.SIGUSR2)
            return
        clients.send_signal(signal.SIGUSR1)
        # An idle window starts once the desk has answered every request of theirs (at 50
        # clients a request waits seconds there): the writes meanwhile are not counted.
        assert clients.stdout is not None
        while (await asyncio.to_thread(clients.stdout.readline)).strip() not in ("paused", ""):
            pass

    async def run() -> dict[str, list[float]]:
        if setup == "serve":
            return await write_posts(db, media, args.rate, windows, first, switch)
        from monitor.core.config import Config, WebConfig
        from monitor.web import open_desk, run_desk
        from monitor.web.desk import DESK_NICE
        from monitor.web.process import DeskProcess

        host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
        if setup == "daemon":  # as the daemon starts its desk
            desk = DeskProcess(Config(web=WebConfig(port=port)), db, media, nice=DESK_NICE)
            await desk.start()
            try:
                return await write_posts(db, media, args.rate, windows, first, switch)
            finally:
                await desk.stop()
        # inloop: the desk in the writer's own event loop (how the daemon ran it before: for comparison)
        async with open_desk(Config(), db, media, host=host, verify=False) as in_loop:
            runner = await run_desk(in_loop, host, port)
            try:
                return await write_posts(db, media, args.rate, windows, first, switch)
            finally:
                await runner.cleanup()

    try:
        latencies = asyncio.run(run())
    finally:
        clients.terminate()  # they stop, and print what they were answered
    out, _ = clients.communicate(timeout=60)
    _, served, rate, p50, p95, bad = next(
        line for line in out.splitlines() if line.startswith("clients")
    ).split()
    idle, busy = latencies["idle"], latencies["busy"]
    print(f"\n-- {SETUPS[setup]}: {args.rounds} rounds of {window:g} s idle then {window:g} s busy")
    print(
        f"  busy desk: {int(served):,} answers to {args.clients} clients ({float(rate):.0f}/s while busy), "
        f"p50 {float(p50):.0f} ms, p95 {float(p95):.0f} ms; {bad} failed or timed out"
    )
    for label, values in (("idle desk", idle), ("busy desk", busy)):
        print(
            f"  writes, {label}: {len(values)} batches of {max(1, int(args.rate / 10))} posts, "
            f"p50 {statistics.median(values):.1f} ms, p99 {pct(values, 99):.1f} ms per batch"
        )
    ratio = pct(busy, 99) / pct(idle, 99)
    print(
        f"  write p99 busy / idle: {ratio:.2f} (target <= 1.20: {'ok' if ratio <= 1.2 else 'MISSED'}); "
        f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
    )


SETUPS = {
    "serve": "tgmonitor serve beside the daemon (its own process)",
    "daemon": "the desk of the daemon (tgmonitor run, [web] enabled: its own process)",
    "inloop": "the desk in the daemon's event loop (before issue 14's fix, for comparison)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=None, help="default: posts / 100")
    parser.add_argument("--images", type=int, default=None, help="default: posts / 10")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument(
        "--seconds", type=float, default=30, help="busy seconds (and as many idle) per set-up"
    )
    parser.add_argument("--rounds", type=int, default=6, help="idle/busy alternations per set-up")
    parser.add_argument(
        "--setup", default="serve,daemon", help="serve (beside the daemon), daemon (inside it)"
    )
    parser.add_argument("--db", type=Path, help="keep the archive here (built if missing)")
    parser.add_argument(
        "--clients-nice",
        type=int,
        default=0,
        help="the clients' OS priority (default 0, as the daemon's): they stand in for browsers on other machines",
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: the busy clients' process
    parser.add_argument("--post", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        if args.clients_nice:
            os.nice(args.clients_nice)  # before any thread: they all inherit it
        channel, message = map(int, args.post.split("/"))
        load(args.load, args.clients, args.seconds, channel, message)
        return 0
    alerts = args.alerts if args.alerts is not None else args.posts // 100
    images = args.images if args.images is not None else args.posts // 10
    work = Path(tempfile.mkdtemp(prefix="tgm-web-"))
    db = args.db or work / "archive.db"
    media = db.parent / "media"
    sample_file = db.with_suffix(".sample.json")
    if not db.exists():
        print(f"building {args.posts:,} posts, {alerts:,} alerts, {images:,} images in {db}", file=sys.stderr)
        t0 = time.perf_counter()
        sample = build(db, media, args.posts, alerts, images)
        sample_file.write_text(json.dumps(sample))
        print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    sample = json.loads(sample_file.read_text())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    desk = start_desk(db, media, port)
    try:
        print(
            f"\n== pages and API at {args.posts:,} posts, {alerts:,} alerts, {images:,} images ({args.repeat} requests each)"
        )
        asyncio.run(measure_pages(url, sample, args.repeat))

        print(
            f"\n== the daemon's archive writes at {args.rate:g} posts/s, desk idle vs {args.clients} busy clients"
            + (f" (clients at nice {args.clients_nice})" if args.clients_nice else "")
        )
        first = int(time.time()) * 10  # message ids no earlier run used
        for setup in args.setup.split(","):
            if setup != "serve":
                port = free_port()  # the serving process keeps its own port
            measure_writes(setup, f"http://127.0.0.1:{port}", db, media, args, sample, first)
            first += 10_000_000
    finally:
        desk.terminate()  # it finishes the requests in flight first
        try:
            desk.wait(90)
        except subprocess.TimeoutExpired:
            desk.kill()
            desk.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
