"""``tgmonitor demo``: the whole pipeline on the bundled sample channel, no Telegram account needed."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from handlers.importer import import_export
from monitor.cli_context import AppContext, pass_app, run_async
from monitor.core.config import Config, SinkConfig
from monitor.core.detection import CountdownPoint
from monitor.core.escape import for_terminal, terminal_spans

SAMPLE = Path(__file__).resolve().parent / "sample" / "ChannelExport"
SAMPLE_USERNAME = "sada_althar_sample"
DEMO_QUERIES = ("الانتقام", "الامريكي", "#59daysleft", "vengeance coming", "باقي 58")


@click.command("demo")
@click.option(
    "--dir",
    "work_dir",
    type=click.Path(path_type=Path),
    help="Keep the demo archive here (default: a new temp dir).",
)
@click.option("--no-ocr", is_flag=True, help="Skip reading the posters.")
@pass_app
def demo_command(app: AppContext, work_dir: Path | None, no_ocr: bool) -> None:
    """Run the whole pipeline on the bundled sample channel: import, OCR, detect, alert, search.

    The sample is a Telegram Desktop export of a fictional channel (Arabic and English posts,
    a countdown series, posters, a forward, an edit, benign look-alikes that must not alert).
    Alerts go to the console and to alerts.jsonl in the demo directory. Nothing is sent anywhere.

    Example: tgmonitor demo --dir /tmp/tgmonitor-demo
    """
    from alerts.sinks import ConsoleSink, JsonlSink  # why: sinks and pipeline (~0.3 s) load only for the demo
    from monitor.app import open_app  # why: as above

    console = Console(highlight=False)
    folder = (work_dir or Path(tempfile.mkdtemp(prefix="tgmonitor-demo-"))).expanduser()
    if not folder.exists():  # the archive's folder is the analyst's only, as the store makes its own
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is masked by the umask
    db = folder / "archive.db"
    jsonl = folder / "alerts.jsonl"
    config = Config()  # the demo runs on the shipped defaults, whatever the user's config says
    config.archive.path = db

    async def go() -> dict[str, Any]:
        sinks = [
            ConsoleSink(console=console),
            JsonlSink(SinkConfig(type="jsonl", name="demo-jsonl", path=jsonl)),
        ]
        console.print(Rule("1. Import the sample channel (Telegram Desktop export)"))
        console.print(Text(for_terminal(f"export: {SAMPLE}\narchive: {db}\n")))
        console.print(Rule("2. Alerts, as an analyst would receive them"))
        async with open_app(config, db, folder / "media", ocr=not no_ocr, deliver=True, sinks=sinks) as parts:
            summary = await import_export(SAMPLE, parts.pipeline, username=SAMPLE_USERNAME)
            await parts.outbox.deliver_pending(flush=True)
            archive = parts.archive
            console.print(Rule("3. What was imported"))
            data = summary.to_json()
            console.print(
                f"{data['posts_new']} new posts ({data['posts_skipped']} already there, {data['service_messages']} service "
                f"messages skipped); {data['media_stored']} images stored, {data['media_missing']} not in the export; "
                f"{data['ocr_done']} posters read, {data['ocr_failed']} failed; {data['alerts']} alerts raised."
            )
            console.print(Rule("4. Search the archive (Arabic-aware, posters included)"))
            for query in DEMO_QUERIES:
                hits = await archive.search(query, limit=5)
                table = Table(title=f"search {query!r}: {len(hits)} posts", title_justify="left", expand=True)
                table.add_column("date (UTC)", no_wrap=True)
                table.add_column("post", ratio=1)
                table.add_column("link", no_wrap=True)
                for hit in hits:
                    shown, spans = terminal_spans(hit.snippet, hit.highlights)
                    snippet = Text(shown)
                    for start, end in spans:
                        snippet.stylize("bold reverse", start, end)
                    link = Text(for_terminal(hit.post.url or "", newlines=False))
                    table.add_row(hit.post.date.strftime("%Y-%m-%d %H:%M"), snippet, link)
                console.print(table)
            console.print(Rule("5. The countdown series"))
            await _show_series(archive, console)
            return await archive.stats()

    stats = run_async(go())
    console.print(Rule("6. Archive"))
    counts = json.dumps({k: v for k, v in stats.items() if k != "per_channel"}, ensure_ascii=False)
    console.print(Text(for_terminal(counts)))
    console.print(
        Text(
            for_terminal(
                f"\nThe demo archive stays in {folder}. Try:\n"
                f"  tgmonitor --db {db} search الانتقام\n"
                f"  tgmonitor --db {db} alerts\n"
                f'  tgmonitor check "#باقي_٥٩_يوما الانتقام قادم" --date 2021-11-02\n'
                f"  cat {jsonl}"
            )
        )
    )
    console.print(
        Text(
            for_terminal(
                "\nOpen the analyst's desk on the demo archive (alerts, search, posters, countdowns) in a browser:\n"
                f"  tgmonitor --db {db} serve     # then open http://127.0.0.1:8750/"
            ),
            style="bold",
        )
    )


async def _show_series(archive: Any, console: Console) -> None:
    from alerts.countdown import series_deadline  # why: its patterns compile in ~0.1 s, for the demo only

    rows = await archive.countdown_posts()
    table = Table(title="countdown posts", title_justify="left")
    for column in ("date (UTC)", "message", "value", "unit"):
        table.add_column(column)
    points = []
    for row in rows:
        table.add_row(row[0][:16], str(row[3]), str(row[1]), Text(for_terminal(str(row[2]))))
        points.append(CountdownPoint(datetime.fromisoformat(row[0]), int(row[1]), row[2]))
    console.print(table)
    deadline = series_deadline(points)
    if deadline is not None:
        console.print(
            f"The values fall in step with the days between posts: one series, deadline {deadline.isoformat()} (UTC). "
            "The daemon schedules reminders 24 h before and at the deadline."
        )
    else:
        console.print("No countdown series found.")


commands: list[click.Command] = [demo_command]
