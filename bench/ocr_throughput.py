"""OCR throughput: 1 vs 2 workers, pool overhead vs bare Tesseract, event-loop lag while reading.

Run: ``.venv/bin/python -m bench.ocr_throughput [--n 24] [--lag-n 50]``

All in one run on the same posters (``scripts/posters.py``), so ratios hold on a shared machine:
  * ``speed-up``: images/s with 2 workers over images/s with 1 worker (target >= 1.7x on 2 free
    cores; other work on the machine lowers it);
  * ``1 poster speed-up``: the time to read the largest poster alone with 1 worker over 2 workers
    (its passes are spread over the workers: the latency of a single poster's alert);
  * ``overhead``: seconds per image through ``OcrPool`` (1 worker, the first-phase passes: nine
    planes at psm 11 and the stack of line crops at psm 6 in each language; no row re-read, no
    digits) over the same passes run as bare ``tesseract PLANE - --oem 1 --psm N -l LANGS tsv``
    commands on the same planes, one after the other, with the same per-pass CPU limit (target
    <= 1.2x). It covers loading, hashing, plane splitting, finding the lines, the plane files,
    the merge and the pipe to the worker;
  * ``lag p99``: how late a 10 ms timer fires on the event loop while ``--lag-n`` posters are
    read by 2 workers (target < 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ocr import OcrPool, OcrSettings, load_image
from ocr.settings import NOISE_VARIABLE


async def read_all(paths: list[Path], settings: OcrSettings, workers: int) -> float:
    async with OcrPool(settings, workers=workers, queue_size=8) as pool:
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(pool.recognize(p) for p in paths))
        elapsed = time.perf_counter() - started
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        print(f"  {len(failed)} failed: {failed[0].reason}", file=sys.stderr)
    return elapsed


async def read_alone(warm: Path, poster: Path, settings: OcrSettings, workers: int) -> float:
    """Best of 3 times to read ``poster`` alone, in a pool warmed up on another poster first."""
    times = []
    async with OcrPool(settings, workers=workers, queue_size=8, cache_size=0) as pool:
        await asyncio.gather(*(pool.recognize(warm) for _ in range(workers)))
        for _ in range(3):
            started = time.perf_counter()
            outcome = await pool.recognize(poster)
            times.append(time.perf_counter() - started)
            if outcome.status != "done":
                print(f"  {poster.name} failed: {outcome.reason}", file=sys.stderr)
    return min(times)


def bare_tesseract(paths: list[Path], settings: OcrSettings, folder: Path) -> float:
    """The same Tesseract runs as plain ``tesseract`` commands: every plane pass at the pipeline's
    psm, languages and noise height, the stack of line crops at psm 6 once per language; planes
    made beforehand (by the pipeline's own code, so the two sides read the very same pixels)."""
    from ocr.pass_plan import pass_timeout
    from ocr.planes import LINES_PREFIX, is_pass, plane_sets

    jobs: list[tuple[Path, list[str]]] = []
    for i, path in enumerate(paths):
        frame = load_image(path, max_side=settings.max_side).frames[0]
        written: dict[int, Path] = {}
        for name, plane in plane_sets([frame], settings)[0].items():
            if not is_pass(name):
                continue
            target = written.get(id(plane))
            if target is None:
                target = written[id(plane)] = folder / f"{i}-{name.replace(':', '-')}.png"
                plane.save(target)
            if name.startswith(LINES_PREFIX):
                options = ["--psm", "6", "-l", name[len(LINES_PREFIX) :]]
            else:
                options = ["--psm", str(settings.psm), "-l", settings.languages]
                options += ["-c", f"{NOISE_VARIABLE}={settings.plane_noise_height}"]
            jobs.append((target, options))

    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    # The same per-pass limit as the pipeline (CPU seconds, ``ocr.tesseract._run_tesseract``), or
    # a bogged-down pass would count on one side only.
    cpu = max(1, math.ceil(pass_timeout(settings)))
    started = time.perf_counter()
    for target, options in jobs:
        with subprocess.Popen(
            ["tesseract", str(target), "-", "--oem", "1", *options, "tsv"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        ) as process:
            with contextlib.suppress(ProcessLookupError, OSError):
                resource.prlimit(process.pid, resource.RLIMIT_CPU, (cpu, cpu + 1))
            process.communicate()
    return time.perf_counter() - started


async def loop_lag(paths: list[Path], settings: OcrSettings) -> tuple[float, float, int]:
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        interval = 0.01
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(interval)
            lags.append(time.perf_counter() - before - interval)

    async with OcrPool(settings, workers=2, queue_size=8) as pool:
        task = asyncio.create_task(ticker())
        await asyncio.gather(*(pool.recognize(p) for p in paths))
        done.set()
        await task
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else 0.0
    return p99, max(lags, default=0.0), len(lags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=24, help="posters for the speed-up and overhead runs")
    parser.add_argument(
        "--lag-n", type=int, default=50, help="posters read while the loop lag is measured (0: skip)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from scripts.posters import make_poster_set

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tgm-throughput-") as tmp:
        folder = Path(tmp)
        truth = make_poster_set(folder / "posters", max(args.n, args.lag_n), seed=1)
        paths = [folder / "posters" / e["file"] for e in truth]
        ours = OcrSettings()
        # first-phase passes only: the second ones (row re-read, script digits) depend on them
        planes_only = OcrSettings(digits_pass=False, glyph_digits=False, row_pass=False)

        one = asyncio.run(read_all(paths[: args.n], ours, 1))
        two = asyncio.run(read_all(paths[: args.n], ours, 2))
        results["1 worker img/s"] = args.n / one
        results["2 workers img/s"] = args.n / two
        results["speed-up"] = one / two

        # One poster alone (the alert latency): its passes spread over both workers or not.
        # The largest poster of the set, read 3 times each way, best time kept.
        biggest = max(paths[: args.n], key=lambda p: p.stat().st_size)
        alone_one = asyncio.run(read_alone(paths[0], biggest, ours, 1))
        alone_two = asyncio.run(read_alone(paths[0], biggest, ours, 2))
        results["1 poster s, 1 worker"] = alone_one
        results["1 poster s, 2 workers"] = alone_two
        results["1 poster speed-up"] = alone_one / alone_two

        pool_one = asyncio.run(read_all(paths[: args.n], planes_only, 1))
        (folder / "planes").mkdir()
        bare = bare_tesseract(paths[: args.n], planes_only, folder / "planes")
        results["pool s/img (plane passes)"] = pool_one / args.n
        results["bare tesseract s/img (same passes)"] = bare / args.n
        results["overhead"] = pool_one / bare

        if args.lag_n:
            p99, worst, ticks = asyncio.run(loop_lag(paths[: args.lag_n], ours))
            results["lag p99 ms"] = p99 * 1000
            results["lag max ms"] = worst * 1000
            results["lag samples"] = ticks

    if args.json:
        print(json.dumps(results))
    print(f"cores: {os.cpu_count()}, load average at the end: {os.getloadavg()[0]:.1f}")
    for key, value in results.items():
        print(f"{key:<34} {value:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
