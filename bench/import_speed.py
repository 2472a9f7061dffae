"""Import speed: ``tgmonitor import`` of a generated 200,000-message export vs the raw limit.

The raw limit, measured in the same run on the same file: ``json.load`` of the whole file plus a
plain ``sqlite3`` ``executemany`` of the same rows into a bare table, twice: with the columns the
archive keeps of a post (text, entities and the raw message as JSON for evidence, views,
forwards, forwarded-from, edit date: the rows the issue names) and with three columns only (id,
date, text: the floor of what any import costs). Each side runs in its own process; peak RSS is sampled over its whole process tree (the import's worker processes count).
``tgmonitor import`` runs twice more: with ``import_workers = 1`` (one process) and again on the
same archive (nothing new: the re-import).

Targets (issue 2): at least 20,000 messages/s end to end (a third of the raw limit) and peak RSS
under 300 MB.

    .venv/bin/python bench/import_speed.py [--messages 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import write_export

RAW = r"""
import json, resource, sqlite3, sys, time
t = time.perf_counter()
data = json.load(open(sys.argv[1], encoding="utf-8"))
db = sqlite3.connect(sys.argv[2])
db.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, date TEXT, text TEXT)")
def text(m):
    t = m.get("text", "")
    return t if isinstance(t, str) else "".join(p if isinstance(p, str) else p.get("text", "") for p in t)
with db:
    db.executemany("INSERT INTO posts VALUES (?, ?, ?)", ((m["id"], m["date_unixtime"], text(m)) for m in data["messages"]))
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

RAW_SAME_ROWS = r"""
import json, resource, sqlite3, sys, time
t = time.perf_counter()
data = json.load(open(sys.argv[1], encoding="utf-8"))
db = sqlite3.connect(sys.argv[2])
db.execute(
    "CREATE TABLE posts (id INTEGER PRIMARY KEY, channel_id INTEGER, message_id INTEGER, date TEXT, text TEXT, "
    "entities TEXT, views INTEGER, forwards INTEGER, fwd_from_name TEXT, edit_date TEXT, raw TEXT)"
)
def text(m):
    t = m.get("text", "")
    return t if isinstance(t, str) else "".join(p if isinstance(p, str) else p.get("text", "") for p in t)
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
channel = data.get("id")
rows = (
    (m["id"], channel, m["id"], m["date_unixtime"], text(m), dumps(m.get("text_entities", [])), m.get("views"),
     m.get("forwards"), m.get("forwarded_from"), m.get("edited_unixtime"), dumps(m))
    for m in data["messages"]
)
with db:
    db.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

OURS = r"""
import resource, sys, time
from monitor.cli import main
t = time.perf_counter()
try:
    main(["--db", sys.argv[2], "import", sys.argv[1], "--no-ocr", "--json"], standalone_mode=False)
finally:
    print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


ARCHIVE_ONLY = r"""
import asyncio, resource, sys, time
from handlers.importer import import_export
from handlers.pipeline import Pipeline
from monitor.core.store import Archive
async def go():
    archive = await Archive.open(sys.argv[2])
    from pathlib import Path
    await import_export(Path(sys.argv[1]), Pipeline(archive))
    await archive.close()
t = time.perf_counter()
asyncio.run(go())
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the import workers), in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def run(code: str, export: Path, db: Path, config: str = "") -> tuple[float, float, str]:
    """Run one side in its own process; seconds, peak RSS of its whole process tree, stdout."""
    env = dict(os.environ, TGMONITOR_CONFIG=config, XDG_CONFIG_HOME=str(db.parent / "xdg"))
    with subprocess.Popen(
        [sys.executable, "-c", code, str(export), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(proc.pid))
            time.sleep(0.05)
        out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"benchmark side failed:\n{err}")
    stats = (err if code is OURS else out).strip().splitlines()[-1].split()
    return float(stats[0]), max(peak, int(stats[1]) / 1024), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export = write_export(folder / "export", args.messages)
        size_mb = export.stat().st_size / 1e6
        raw_s, raw_mb, _ = run(RAW, export, folder / "raw.db")
        same_s, same_mb, _ = run(RAW_SAME_ROWS, export, folder / "raw-same-rows.db")
        bare_s, bare_mb, _ = run(ARCHIVE_ONLY, export, folder / "bare.db")
        one = folder / "one-process.toml"
        one.write_text("[archive]\nimport_workers = 1\n", encoding="utf-8")
        single_s, single_mb, _ = run(OURS, export, folder / "single.db", str(one))
        ours_s, ours_mb, out = run(OURS, export, folder / "ours.db")
        again_s, _, out2 = run(OURS, export, folder / "ours.db")
        summary = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        n = args.messages
        print(f"export: {n} messages, {size_mb:.1f} MB")
        print(f"{'':32}{'msg/s':>10}{'seconds':>10}{'peak RSS MB':>14}")
        print(f"{'raw, three columns':32}{n / raw_s:>10.0f}{raw_s:>10.2f}{raw_mb:>14.0f}")
        print(f"{'raw, same rows (archive columns)':32}{n / same_s:>10.0f}{same_s:>10.2f}{same_mb:>14.0f}")
        print(f"{'archive + index only (no detect)':32}{n / bare_s:>10.0f}{bare_s:>10.2f}{bare_mb:>14.0f}")
        print(f"{'tgmonitor import, one process':32}{n / single_s:>10.0f}{single_s:>10.2f}{single_mb:>14.0f}")
        print(f"{'tgmonitor import (end to end)':32}{n / ours_s:>10.0f}{ours_s:>10.2f}{ours_mb:>14.0f}")
        print(f"{'tgmonitor import again (no-op)':32}{n / again_s:>10.0f}{again_s:>10.2f}")
        print(
            f"ratio ours/raw speed: {same_s / ours_s:.2f} against the same rows, {raw_s / ours_s:.2f} against three "
            "columns (target >= 0.33 and >= 20,000 msg/s); peak RSS target < 300 MB"
        )
        print(f"summary: {summary}")
        print(f"second import: {json.loads(out2.strip().splitlines()[-1]) if out2.strip() else {}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
