"""Archive commands: ``import``, ``search``, ``stats``."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from handlers.export import ExportSummary, locate_export
from handlers.importer import import_export
from monitor.cli_context import AppContext, parse_when, pass_app, run_async
from monitor.core.errors import ExportError, MonitorError
from monitor.core.escape import dumps_json, for_csv, for_terminal, terminal_spans
from monitor.core.store import SEARCH_BUDGET_S, Archive
from monitor.core.times import parse_timezone
from monitor.health import HEARTBEAT_KEY, heartbeat_state

_SEARCH_FIELDS = ["channel", "channel_id", "message_id", "date", "text", "ocr_text", "url", "snippet"]
"""The columns of ``search --json``/``--csv`` (DESIGN.md), for a header even when nothing matches."""


def _existing_db(app: AppContext) -> Path:
    """The archive to read; a missing one is an error (a mistyped --db must not look like 0 hits)."""
    return app.existing_db()


def notes_of(summary: ExportSummary, *, listed: int = 5) -> list[str]:
    """What the import's summary line leaves out: what was skipped and why, the files missing (a
    few, then how many more), whole media folders absent, dates read in an assumed zone."""
    lines: list[str] = []
    if summary.skipped_chats:
        lines.append(
            f"  skipped {len(summary.skipped_chats)} chats of this full-account export (personal chats, saved "
            "messages and bots are the analyst's own, not channel posts):"
        )
        for chat in summary.skipped_chats[:listed]:
            name = f" {chat.name!r}" if chat.name else ""
            lines.append(f"    {chat.type}{name}: {chat.messages} messages, {chat.reason}")
        if len(summary.skipped_chats) > listed:
            lines.append(f"    and {len(summary.skipped_chats) - listed} more")
    for folder in sorted(summary.media_folders_absent):
        lines.append(
            f"  the export folder holds no {folder}/ folder: exported without media, or it was moved; "
            "import the folder that holds it to add the files"
        )
    for line in summary.missing_files[:listed]:
        lines.append(f"  missing: {line}")
    shown = min(listed, len(summary.missing_files))
    if summary.media_missing > shown:
        lines.append(f"  and {summary.media_missing - shown} more files missing")
    if summary.local_dates:
        how = (
            "read as UTC (--timezone ZONE reads them in the exporting machine's zone)"
            if summary.timezone == "UTC"
            else f"read in {summary.timezone}"
        )
        lines.append(
            f"  {summary.local_dates} messages carry only the exporting machine's local time (an old export "
            f"without date_unixtime): {how}"
        )
    return lines


_SEARCH_WIDE_COLUMNS = 120
"""Terminal width from which ``search`` gives the link a column of its own (date 16, a channel
about 20, a link 34, the borders 13: the post keeps 40 beside them)."""


def _console(err: bool = False) -> Console:
    return Console(stderr=err, highlight=False, soft_wrap=False)


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--alerts", "deliver", is_flag=True, help="Also deliver the alerts it raises to the configured sinks."
)
@click.option("--no-ocr", is_flag=True, help="Do not read the posters now (later: tgmonitor ocr --pending).")
@click.option("--username", help="The channel's public @username, for t.me links (exports do not carry it).")
@click.option(
    "--timezone",
    "zone",
    metavar="ZONE",
    help="Where an old export (no date_unixtime) was made: an IANA name (Asia/Tehran) or an offset "
    "(+03:30). Its dates are that machine's local time; without this they are read as UTC.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def import_command(
    app: AppContext,
    path: Path,
    deliver: bool,
    no_ocr: bool,
    username: str | None,
    zone: str | None,
    as_json: bool,
) -> None:
    """Import a Telegram Desktop export (its folder or its result.json).

    Idempotent: importing the same export again adds nothing and sends nothing. Without
    --alerts the alerts are archived but not delivered.

    Example: tgmonitor import ~/Downloads/Telegram\\ Desktop/ChatExport_2021-11-02 --username sabereen
    """
    try:
        local_tz = parse_timezone(zone) if zone is not None else UTC
    except ValueError as exc:
        raise ExportError(f"--timezone: {exc}; nothing was imported") from None
    from monitor.app import open_app, parallel_import  # why: detector and outbox (~0.3 s) load only to import

    config = app.config()
    result_json = locate_export(path)
    size = result_json.stat().st_size
    quiet = as_json or not sys.stderr.isatty()

    async def go() -> Any:
        # SIGTERM and SIGHUP stop the import as Ctrl-C would: the task is cancelled, each open
        # transaction rolls back, the workers are stopped, and what was committed stays.
        loop = asyncio.get_running_loop()
        main_task = asyncio.current_task()
        assert main_task is not None
        stopped_by: list[str] = []

        def stop(sig: signal.Signals) -> None:
            if not stopped_by:
                stopped_by.append(sig.name)
                main_task.cancel()

        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop, sig)
        try:
            return await work()
        except asyncio.CancelledError:
            if not stopped_by:
                raise
            raise MonitorError(
                f"import interrupted ({stopped_by[0]}): what was saved stays and the workers are stopped; "
                "import again to resume"
            ) from None
        finally:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def work() -> Any:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=_console(err=True),
            disable=quiet,
            transient=True,
        )
        with progress:
            reading = progress.add_task("reading export", total=size)
            ocr_task = progress.add_task("reading posters", total=0, visible=False)
            async with open_app(
                config, app.db_path(), app.media_dir(), ocr=not no_ocr, deliver=deliver
            ) as parts:
                before = await parts.archive.deliveries.last_id() if deliver else 0
                summary = await import_export(
                    result_json,
                    parts.pipeline,
                    parallel=parallel_import(config, app.db_path(), app.media_dir(), deliver),
                    username=username,
                    local_tz=local_tz,
                    on_bytes=lambda n: progress.advance(reading, n),
                    on_ocr_total=lambda n: progress.update(ocr_task, total=n, visible=n > 0),
                    on_ocr_done=lambda n: progress.advance(ocr_task, n),
                )
                outcome: dict[str, dict[str, int]] = {}
                off: dict[str, str] = {}
                if deliver and parts.outbox is not None:
                    await parts.outbox.deliver_pending(flush=True)
                    # what the deliveries table says, not what was hoped: 500s leave them pending
                    outcome = await parts.archive.deliveries.outcome_after(before)
                    off = dict(parts.outbox.disabled)
                return summary, outcome, off

    summary, outcome, off = run_async(go())
    failed = sum(counts["failed"] for counts in outcome.values())
    data = summary.to_json()
    if as_json:
        if deliver:
            data["deliveries"] = {
                sink: {k: counts[k] for k in ("delivered", "pending", "failed")}
                for sink, counts in outcome.items()
            }
        click.echo(dumps_json(data))
    else:
        note = " (archived, not delivered: use --alerts to send)" if not deliver and data["alerts"] else ""
        if deliver and data["alerts"] and not outcome:
            note = " (archived: no alert sink is configured)"
        click.echo(
            for_terminal(f"imported {result_json}: ")
            + f"{data['posts_new']} new, {data['posts_updated']} updated, "
            f"{data['posts_skipped']} unchanged posts ({data['service_messages']} service messages skipped); "
            f"media {data['media_stored']} stored, {data['media_already_stored']} already there, "
            f"{data['media_missing']} missing; "
            f"posters read {data['ocr_done']}, failed {data['ocr_failed']}; alerts {data['alerts']}{note}"
        )
        for sink, counts in sorted(outcome.items()):
            line = f"  alerts to {sink}: {counts['delivered']} delivered"
            if counts["pending"]:
                line += f", {counts['pending']} pending, will be retried by `tgmonitor run`"
            if counts["failed"]:
                line += f", {counts['failed']} failed for good"
            if sink in off:
                line += f" (sink switched off: {off[sink]})"
            click.echo(for_terminal(line))
        for line in notes_of(summary):
            click.echo(for_terminal(line), err=True)
        for line in summary.rejected_messages[:5]:
            click.echo(for_terminal(f"  rejected: {line}"), err=True)
        if summary.rejected:
            click.echo(f"  {summary.rejected} messages rejected (not imported), the others kept", err=True)
    if failed:
        click.echo(
            f"error: {failed} alert deliver{'y' if failed == 1 else 'ies'} failed for good: "
            "`tgmonitor alerts` shows why (the posts and alerts are archived)",
            err=True,
        )
        sys.exit(1)


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--channel", help="Only this channel (@username, title or id).")
@click.option("--since", help="From this date (2021-11-02, ISO 8601, or 7d ago).")
@click.option("--until", help="Up to this date (inclusive).")
@click.option(
    "--limit", type=click.IntRange(1, 10000), default=20, show_default=True, help="At most this many posts."
)
@click.option(
    "--sort",
    type=click.Choice(["date", "relevance"]),
    default="date",
    show_default=True,
    help="Newest first, or best match first.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="JSON list (channel, channel_id, message_id, date, text, ...)."
)
@click.option("--csv", "as_csv", is_flag=True, help="CSV with the same columns as --json.")
@click.option(
    "--timeout",
    type=click.FloatRange(0, min_open=True),
    default=SEARCH_BUDGET_S,
    show_default=True,
    help="Stop a search that takes longer than this many seconds.",
)
@pass_app
def search_command(
    app: AppContext,
    query: tuple[str, ...],
    channel: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    sort: str,
    as_json: bool,
    as_csv: bool,
    timeout: float,
) -> None:
    """Search the archive, Arabic-aware: diacritics, letter variants, prefixes and hashtags folded.

    Words must all match; "quoted words" match as a phrase; word* matches a prefix; a OR b.

    Example: tgmonitor search الانتقام --since 2021-11-01 --channel @sabereen
    """
    text = " ".join(query)
    since_dt = parse_when(since) if since else None
    until_dt = parse_when(until, end_of_day=True) if until else None

    async def go() -> list[Any]:
        async with await Archive.open(_existing_db(app), app.media_dir(), readonly=True) as archive:
            return await archive.search(
                text,
                channel=channel,
                since=since_dt,
                until=until_dt,
                limit=limit,
                sort=sort,
                time_budget=timeout,
            )

    hits = run_async(go())
    rows = [hit.to_json() for hit in hits]
    if as_json:
        click.echo(dumps_json(rows, indent=2))
        return
    if as_csv:  # channel text is data in a spreadsheet too: never a formula, never a control
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0].keys()) if rows else _SEARCH_FIELDS)
        writer.writeheader()
        writer.writerows({key: for_csv(value) for key, value in row.items()} for row in rows)
        return
    if not hits:
        click.echo(for_terminal(f"no posts match {text!r}"), err=True)
        return
    # Channel text goes to rich only as Text (never markup), through for_terminal.
    console = _console()
    # The link has a column of its own where the post keeps a fair width beside it; on a narrower
    # terminal (80 columns: the post was squeezed to 8) it goes under the post, unbroken.
    wide = console.width >= _SEARCH_WIDE_COLUMNS
    posts = "post" if len(hits) == 1 else "posts"
    table = Table(
        show_lines=True,
        title=Text(
            for_terminal(
                f"{len(hits)} {posts} for {text!r} ({'newest first' if sort == 'date' else 'best first'})"
            )
        ),
    )
    table.add_column("date (UTC)", no_wrap=True)
    table.add_column("channel")
    table.add_column("post", ratio=1)
    if wide:
        table.add_column("link", no_wrap=True, style="cyan")
    for hit in hits:
        shown, spans = terminal_spans(hit.snippet, hit.highlights)
        snippet = Text(shown)
        for start, end in spans:
            snippet.stylize("bold reverse", start, end)
        flag = " [deleted]" if hit.post.deleted else ""
        channel_name = (
            (hit.post.channel_username and "@" + hit.post.channel_username)
            or hit.post.channel_title
            or str(hit.post.channel_id)
        )
        # a link too long for its cell folds onto the next line, whole, never cut to "…"
        url = for_terminal(hit.post.url or "(no link: not a channel)", newlines=False)
        link = Text(url, style="cyan", overflow="fold")
        post = Text.assemble(snippet, (flag, "red"))
        row = [hit.post.date.strftime("%Y-%m-%d %H:%M"), Text(for_terminal(channel_name, newlines=False))]
        if wide:
            table.add_row(*row, post, link)
        else:
            table.add_row(*row, Group(post, link))
    console.print(table)


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Counts as JSON.")
@pass_app
def stats_command(app: AppContext, as_json: bool) -> None:
    """Counts: channels, posts, images, OCR done/failed, alerts, pending deliveries, per channel.

    Example: tgmonitor stats --json
    """

    async def go() -> dict[str, Any]:
        async with await Archive.open(_existing_db(app), app.media_dir(), readonly=True) as archive:
            data = await archive.stats()
            daemon = await archive.get_meta("daemon:health")
            data["daemon"] = json.loads(daemon) if daemon else None
            data["heartbeat"] = heartbeat_state(await archive.get_meta(HEARTBEAT_KEY))
            return data

    data = run_async(go())
    if as_json:
        click.echo(dumps_json(data, indent=2))
        return
    console = _console()
    # Titles, reasons and paths go to rich only as Text (never markup), through for_terminal.
    summary = Table(title=Text(for_terminal(f"archive {app.db_path()}")), show_header=False)
    for key, value in data.items():
        if key not in ("per_channel", "daemon", "heartbeat"):
            summary.add_row(key.replace("_", " "), Text(for_terminal(str(value))))
    console.print(summary)
    if data["per_channel"]:
        table = Table(title="channels")
        columns = (
            "channel",
            "status",
            "posts",
            "last post (UTC)",
            "last id",
            "last gap-fill",
            "mode",
            "account",
            "delay",
        )
        for column in columns:  # folded, not cut: a handle or a date cut to "@sada…" says nothing
            table.add_column(column, overflow="fold")
        for row in data["per_channel"]:
            name = ("@" + row["username"]) if row["username"] else (row["title"] or str(row["channel_id"]))
            status = row["status"] + (f" ({row['status_reason']})" if row["status_reason"] else "")
            table.add_row(
                Text(for_terminal(name, newlines=False)),
                Text(for_terminal(status, newlines=False)),
                str(row["posts"]),
                (row["last_post_date"] or "-")[:16],
                str(row["last_message_id"] or "-"),
                (row["last_gapfill_at"] or "never")[:16],
                row["mode"] or "-",
                Text(for_terminal(row["account"] or "-", newlines=False)),
                f"{row['expected_delay_s']:.0f} s" if row["expected_delay_s"] is not None else "-",
            )
        console.print(table)
    if data.get("heartbeat"):
        console.print(Text(for_terminal(f"daemon heartbeat: {data['heartbeat']['says']}")))
    if data.get("daemon"):
        console.print(Text(for_terminal(f"daemon: {json.dumps(data['daemon'], ensure_ascii=False)}")))


commands: list[click.Command] = [import_command, search_command, stats_command]
