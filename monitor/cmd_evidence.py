"""Evidence commands: ``verify`` (the archive's hash chain, or a bundle) and the ``export`` group
(``bundle``, ``posts``, ``network``, ``misp``)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from handlers.bundle import write_bundle
from handlers.bundle_check import verify_bundle
from handlers.misp_export import export_misp
from handlers.network_export import build_network, summary, write_network
from handlers.post_export import export_posts
from monitor.cli_context import AppContext, parse_when, pass_app, run_async
from monitor.core.errors import MonitorError
from monitor.core.escape import dumps_json, for_terminal
from monitor.core.store import Archive
from monitor.core.store.evidence import Selection


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True, highlight=False),
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    )


def _say(line: str, err: bool = False) -> None:
    click.echo(for_terminal(line), err=err)


@click.command("verify")
@click.argument("bundle", required=False, type=click.Path(path_type=Path))
@click.option("--since", help="Only what was recorded or written from this date (2021-11-02, ISO 8601, 7d).")
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Processes checking the posts of a large archive (1 on a machine whose cores are busy).",
)
@pass_app
def verify_command(
    app: AppContext, bundle: Path | None, since: str | None, as_json: bool, workers: int
) -> None:
    """Check the archive's hash chain, its rows and its files; or an evidence bundle (a .zip).

    Names every post, version, deletion mark or file changed, removed or inserted after capture,
    and exits with 1 if there is any. A bundle is checked offline, without an archive, and never
    unpacked.

    Example: tgmonitor verify --since 7d; tgmonitor verify case.zip
    """
    if bundle is not None:
        if since:
            raise click.UsageError("--since is for the archive; a bundle is always checked whole")
        report = verify_bundle(bundle)
        if as_json:
            click.echo(
                dumps_json(
                    {
                        "bundle": str(bundle),
                        "ok": report.ok,
                        "files": report.files,
                        "problems": report.problems,
                    },
                    indent=2,
                )
            )
        else:
            for problem in report.problems:
                _say(f"FAILED {problem}")
            verdict = "OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)"
            _say(f"{bundle}: {verdict} ({report.files} files, {report.posts} posts checked)")
        sys.exit(0 if report.ok else 1)
    since_dt = parse_when(since) if since else None
    quiet = as_json

    async def go() -> Any:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            with _progress(quiet) as progress:
                tasks: dict[str, Any] = {}

                def on_progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = progress.add_task(f"checking {stage}", total=total)
                    progress.update(tasks[stage], completed=done, total=total)

                return await archive.evidence.verify(since=since_dt, progress=on_progress, workers=workers)

    report = run_async(go())
    if as_json:
        data = {
            "ok": report.ok,
            "records": report.records,
            "posts": report.posts,
            "files": report.files,
            "genesis_at": report.genesis_at,
            "head": {"seq": report.head[0], "hash": report.head[1]} if report.head else None,
            "findings": [
                {"subject": f.subject, "problem": f.problem, "detail": f.detail} for f in report.findings
            ],
        }
        click.echo(dumps_json(data, indent=2))
    else:
        for finding in report.findings:
            _say(f"{finding.problem.upper()} {finding}")
        head = f"; head {report.head[0]} {report.head[1]}" if report.head else ""
        verdict = "OK" if report.ok else f"FAILED: {len(report.findings)} finding(s)"
        _say(
            f"{verdict}: {report.records} chain records, {report.posts} posts, {report.files} files checked"
            f" (chained since {report.genesis_at or 'never'}; rows from before that are proven from then){head}"
        )
    sys.exit(0 if report.ok else 1)


@click.group("export")
def export_group() -> None:
    """Take posts out of the archive: evidence bundles, NDJSON/CSV, networks, MISP events.

    Example: tgmonitor export bundle --channel @sabereen --since 2021-11-01 --out case.zip
    """


def _selection_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--channel", help="Only this channel (@username, title or id)."),
            click.option("--since", help="From this date (2021-11-02, ISO 8601, or 7d ago)."),
            click.option("--until", help="Up to this date (inclusive)."),
        ]
    ):
        command = option(command)
    return command


async def _selection(
    archive: Archive, channel: str | None, since: str | None, until: str | None, **kw: Any
) -> Selection:
    channel_id = None
    if channel is not None:
        row = await archive.find_channel(channel)
        if row is None:
            raise MonitorError(f"there is no channel {channel!r} in the archive: tgmonitor stats lists them")
        channel_id = int(row["id"])
    return Selection(
        channel_id=channel_id,
        since=parse_when(since) if since else None,
        until=parse_when(until, end_of_day=True) if until else None,
        **kw,
    )


def _check_target(out: Path | None, force: bool) -> None:
    if out is not None and out.exists() and not force:
        raise MonitorError(f"{out} exists already: use --force to replace it, or choose another --out")
    if out is not None and out.is_dir():
        raise MonitorError(f"{out} is a folder: --out names the file to write")


@contextlib.contextmanager
def _output(out: Path | None, binary: bool = False) -> Iterator[IO[Any]]:
    """Standard output, or a file written beside ``out`` and moved into place when complete."""
    if out is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(
            fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})
        ) as handle:
            yield handle
        os.replace(partial, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


_OUT = click.option(
    "--out", "-o", type=click.Path(path_type=Path), help="Write to this file (default: standard output)."
)
_FORCE = click.option("--force", is_flag=True, help="Replace --out if it exists.")


@export_group.command("bundle")
@_selection_options
@click.option("--query", help="Only posts matching this search (as tgmonitor search).")
@click.option("--alerts-only", is_flag=True, help="Only posts that raised an alert.")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), required=True, help="The zip to write (case.zip)."
)
@_FORCE
@pass_app
def bundle_command(
    app: AppContext, channel: str | None, since: str | None, until: str | None, query: str | None,
    alerts_only: bool, out: Path, force: bool,
) -> None:  # fmt: skip
    """An evidence bundle: posts as JSON and HTML, their files, OCR, alerts, chain records, hashes.

    Checkable with `sha256sum -c SHA256SUMS` once unzipped, or `tgmonitor verify case.zip`.

    Example: tgmonitor export bundle --channel @sabereen --query "الانتقام" --out case.zip
    """
    _check_target(out, force)

    async def go() -> Any:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            selection = await _selection(archive, channel, since, until, query=query, alerts_only=alerts_only)
            with _progress(False) as progress:
                task = progress.add_task("writing bundle", total=None)
                return await write_bundle(
                    archive,
                    selection,
                    out,
                    on_total=lambda n: progress.update(task, total=n),
                    on_posts=lambda n: progress.advance(task, n),
                )

    result = run_async(go())
    _say(
        f"wrote {result.path}: {result.posts} posts, {result.media} media files, {result.files} files, {result.bytes:,} bytes"
    )


@export_group.command("posts")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv"]),
    default="ndjson",
    show_default=True,
    help="One JSON object per line, or CSV (columns in the README).",
)
@_selection_options
@_OUT
@_FORCE
@pass_app
def posts_command(
    app: AppContext,
    fmt: str,
    channel: str | None,
    since: str | None,
    until: str | None,
    out: Path | None,
    force: bool,
) -> None:
    """Posts with their OCR text and alerts, as NDJSON or CSV, oldest first.

    Example: tgmonitor export posts --format csv --since 30d --out posts.csv
    """
    _check_target(out, force)

    async def go() -> int:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            selection = await _selection(archive, channel, since, until)
            with _output(out) as handle:
                return await export_posts(archive, selection, handle, fmt)

    count = run_async(go())
    if out is not None:
        _say(f"wrote {count} posts to {out}", err=True)


@export_group.command("network")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["gexf", "graphml"]),
    default="gexf",
    show_default=True,
    help="GEXF (Gephi) or GraphML.",
)
@_selection_options
@_OUT
@_FORCE
@pass_app
def network_command(
    app: AppContext,
    fmt: str,
    channel: str | None,
    since: str | None,
    until: str | None,
    out: Path | None,
    force: bool,
) -> None:
    """Channels as nodes; forwards and mentions as weighted, dated edges (Gephi, networkx).

    Example: tgmonitor export network --format gexf --since 2021-11-01 --out network.gexf
    """
    _check_target(out, force)

    async def go() -> dict[str, Any]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            graph = await build_network(archive, await _selection(archive, channel, since, until))
        with _output(out, binary=True) as handle:
            write_network(graph, handle, fmt)
        return summary(graph)

    counts = run_async(go())
    if out is not None:
        _say(f"wrote {counts['nodes']} channels and {counts['edges']} edges to {out}", err=True)


@export_group.command("misp")
@_selection_options
@_OUT
@_FORCE
@pass_app
def misp_command(
    app: AppContext, channel: str | None, since: str | None, until: str | None, out: Path | None, force: bool
) -> None:
    """Post alerts as MISP events (link, hashtags, image hashes; the rule and severity as tags).

    Example: tgmonitor export misp --since 7d --out events.json
    """
    _check_target(out, force)

    async def go() -> int:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            selection = await _selection(archive, channel, since, until)
            with _output(out) as handle:
                return await export_misp(archive, selection, handle)

    count = run_async(go())
    if out is not None:
        _say(f"wrote {count} events to {out}", err=True)


commands: list[click.Command] = [verify_command, export_group]
