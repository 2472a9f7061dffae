"""What opening the archive costs: read-only, to write (with ``PRAGMA quick_check``), and the
same write open without the check, same run, same file.

Opening to write checks the file is intact (issue 20, item 7: SQLite writes into a damaged file
and spreads the damage), at the price of reading every page once. Reading commands open
read-only and check nothing (a damaged page they meet is reported when met). Target: the check
costs little next to what the writing commands then do (an import of the same posts takes
minutes), and nothing for the reading ones.

    .venv/bin/python bench/archive_open.py [--posts 200000] [--db /tmp/tgm-open.db]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.search_speed import build
from monitor.core.store import Archive


async def _open(path: Path, *, readonly: bool, check: bool) -> float:
    original = Archive.check_intact

    async def skip(self: Archive) -> None:
        return None

    if not check:
        Archive.check_intact = skip  # type: ignore[method-assign]
    try:
        began = time.perf_counter()
        archive = await Archive.open(path, readonly=readonly)
        took = time.perf_counter() - began
        await archive.close()
        return took
    finally:
        Archive.check_intact = original  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/tgmonitor-bench-open.db"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.db.exists():
        build(args.db, args.posts)
    size = args.db.stat().st_size / 1e6
    cases = {
        "read-only": (True, False),
        "write, no check": (False, False),
        "write + quick_check": (False, True),
    }
    times = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, (readonly, check) in cases.items():
            times[name].append(asyncio.run(_open(args.db, readonly=readonly, check=check)))
    base = statistics.median(times["write, no check"])
    print(f"archive {args.db}: {size:.0f} MB")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:22} median {median * 1000:8.1f} ms  ({median / base:5.2f}x the unchecked write open)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
