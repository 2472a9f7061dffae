"""``tgmonitor alerts``: list the alerts raised; ``alerts ack ID`` and ``alerts mark ID tp|fp``:
record what an analyst decided (the same records the web desk and the alert chat's buttons write)."""

from __future__ import annotations

import getpass
from typing import Any

import click
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from alerts.decisions import decide, describe
from alerts.format import excerpt_pieces, terms_summary, text_spans
from alerts.listing import STATES, ack_alerts, list_alerts
from monitor.cli_context import AppContext, parse_when, pass_app, run_async
from monitor.core.escape import dumps_json, for_terminal
from monitor.core.store import Archive

_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}
_STATUS_MARK = {
    "delivered": "✓",
    "pending": "…",
    "sending": "…",
    "failed": "✗",
    "skipped": "-",
    "folded": "⤷",
}


@click.group("alerts", invoke_without_command=True)
@click.option("--since", help="Raised since this date (2021-11-02, ISO 8601, or 24h / 7d ago).")
@click.option("--severity", type=click.Choice(["low", "medium", "high"]), help="This severity or higher.")
@click.option("--channel", help="Only this channel (@username, id, t.me link or title), campaigns included.")
@click.option("--unacked", is_flag=True, help="Only alerts nobody has acknowledged yet.")
@click.option(
    "--state",
    type=click.Choice(STATES),
    help="Only alerts in this state (tp/fp: marked true/false positive).",
)
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of alert bodies with their deliveries.")
@click.pass_context
def alerts_group(
    ctx: click.Context,
    since: str | None,
    severity: str | None,
    channel: str | None,
    unacked: bool,
    state: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The alerts raised, newest first, with where each was delivered.

    Example: tgmonitor alerts --since 24h --severity high
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    since_dt = parse_when(since) if since else None

    async def go() -> list[dict[str, Any]]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            return await list_alerts(
                archive,
                since=since_dt,
                severity=severity,
                channel=channel,
                unacked=unacked,
                state=state,
                limit=limit,
            )

    rows = run_async(go())
    if as_json:
        click.echo(dumps_json(rows, indent=2))
        return
    if not rows:
        click.echo("no alerts", err=True)
        return
    Console(highlight=False).print(_table(rows))


def _table(rows: list[dict[str, Any]]) -> Table:
    """The alerts as a rich table; channel text enters only as Text, through for_terminal."""
    table = Table(title=f"{len(rows)} alerts (newest first)", show_lines=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("raised (UTC)", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("channel")
    table.add_column("what", ratio=1)
    # a sink's label can be a long path (``jsonl:/var/lib/...``): folded in a column of its own
    # width, it no longer squeezes the others to nothing
    table.add_column("delivered", max_width=24, overflow="fold")
    for row in rows:
        kind = row.get("kind")
        if kind == "campaign":
            who = Text(f"campaign: {len(row.get('channels') or [])} channels\n", style="bold")
            names = ", ".join(str(c.get("title") or c.get("channel")) for c in row.get("channels") or [])
            who.append(for_terminal(names, newlines=False))
        else:
            name = str(row.get("channel_title") or row.get("channel") or row.get("channel_id"))
            who = Text(for_terminal(name, newlines=False))
        channel: Text | Group = who
        if row.get("url"):  # whole: a link too long for the column folds, never cut to "…"
            channel = Group(
                who, Text(for_terminal(str(row["url"]), newlines=False), style="cyan", overflow="fold")
            )
        what = Text()
        terms = terms_summary(row.get("matches") or [], 4)
        if terms:
            what.append(for_terminal(", ".join(t for t, _ in terms), newlines=False) + "\n", style="bold")
        countdown = row.get("countdown")
        if countdown:
            what.append(f"⏳ {countdown.get('value')} {countdown.get('unit')}(s)", style="magenta")
            if countdown.get("deadline"):
                what.append(f" → {str(countdown['deadline'])[:16]}", style="magenta")
            what.append("\n")
        source = "text" if row.get("text") else "ocr"
        value = row.get("text") or row.get("ocr_excerpt") or ""
        for piece, hot in excerpt_pieces(value.replace("\n", " "), text_spans(row, source), 160, context=50):
            what.append(for_terminal(piece, newlines=False), style="bold reverse" if hot else "")
        deliveries = row.get("deliveries") or []
        status = Text()
        for d in deliveries:
            status.append(
                f"{_STATUS_MARK.get(d['status'], '?')} {for_terminal(str(d['sink']), newlines=False)}\n"
            )
        for decision in row.get("decisions") or []:
            label = {"ack": "acked", "tp": "true positive", "fp": "false positive"}.get(
                decision["action"], "?"
            )
            status.append(f"{label}\n", style="green" if decision["action"] != "fp" else "dim")
            status.append(for_terminal(f"by {decision['by']}", newlines=False) + "\n", style="dim")
        status.rstrip()
        sev = row.get("severity") or "-"
        table.add_row(
            str(row["alert_id"]),
            str(row.get("created_at") or "")[:16].replace("T", " "),
            Text(sev + ("" if kind == "post" else f"\n{kind}"), style=_SEVERITY_STYLE.get(sev, "")),
            channel,
            what,
            status if status.plain.strip() else Text("-"),
        )
    return table


def _who(by: str | None) -> str:
    """Who is deciding: ``--by``, else the system user running the command."""
    return (by or getpass.getuser()).strip()


@alerts_group.command("ack")
@click.argument("alert_ids", nargs=-1, type=int, required=True)
@click.option("--by", help="Who acknowledges (default: your system user name).")
@pass_app
def ack_command(app: AppContext, alert_ids: tuple[int, ...], by: str | None) -> None:
    """Mark alerts handled (they stay in the archive; --unacked hides them).

    Example: tgmonitor alerts ack 42
    """

    async def go() -> list[int]:
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            return await ack_alerts(archive, list(alert_ids), actor=_who(by))

    fresh = run_async(go())
    already = [i for i in alert_ids if i not in fresh]
    if fresh:
        click.echo(f"acknowledged {', '.join(map(str, fresh))}")
    if already:
        click.echo(f"already acknowledged: {', '.join(map(str, already))}")


@alerts_group.command("mark")
@click.argument("alert_id", type=int)
@click.argument("verdict", type=click.Choice(["tp", "fp"]))
@click.option("--note", help="Why (kept with the mark; the rules report shows it).")
@click.option("--by", help="Who marks (default: your system user name).")
@click.option(
    "--change", is_flag=True, help="Replace an earlier, different verdict (the old one stays as history)."
)
@pass_app
def mark_command(
    app: AppContext, alert_id: int, verdict: str, note: str | None, by: str | None, change: bool
) -> None:
    """Mark an alert a true positive (tp) or a false positive (fp); it counts as handled.

    The first verdict stands: marking again says who marked it first, unless --change.

    Example: tgmonitor alerts mark 42 fp --note "a sermon quoting the verse"
    """

    async def go():
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            return await decide(
                archive, alert_id, verdict, actor=_who(by), desk="cli", note=note, replace=change
            )

    outcome = run_async(go())
    line = describe(outcome.decision)
    if outcome.recorded:
        click.echo(for_terminal(f"alert {alert_id}: {line}"))
    else:
        click.echo(for_terminal(f"alert {alert_id} was already marked: {line} (--change to replace it)"))


commands: list[click.Command] = [alerts_group]
