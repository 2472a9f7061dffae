"""The ``rules`` commands: backtest a rules file, report the analysts' verdicts per rule, and show
the channel signatures that keep a channel's own identity from alerting.

A thin layer: the counting is in :mod:`alerts.backtest` and :mod:`alerts.feedback`, the spreading
over processes in :mod:`monitor.backtests`, the signatures in :mod:`alerts.signatures`. Archive
text reaches the terminal only through :func:`for_terminal` (as Rich ``Text``, never markup).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from alerts.rules import DEFAULT_RULES, RuleSet, default_rules_text, load_rules
from monitor.cli_context import AppContext, parse_when, pass_app, run_async
from monitor.core.errors import ArchiveError, RulesError
from monitor.core.escape import dumps_json, for_terminal, terminal_spans
from monitor.core.store import Archive

_SEVERITY_STYLE = {"high": "bold white on red", "medium": "black on yellow", "low": "black on cyan"}
_SHOWN_RULES = 40  # rules with examples shown in the readable output (all in --json)


def _console(err: bool = False) -> Console:
    return Console(highlight=False, soft_wrap=True, stderr=err)


@click.group("rules")
def rules_group() -> None:
    """Tune detection: backtest rules over the archive, see the analysts' verdicts per rule,
    and the channel signatures that keep a channel's own name from alerting.

    Example: tgmonitor rules test my-rules.toml --since 30d
    """


def _rules_text(path: Path | None, configured: Path | None) -> tuple[RuleSet, str, str]:
    """The rule set, its text and its source label (checked: a bad file is one sentence)."""
    chosen = path if path is not None else configured
    ruleset = load_rules(chosen)  # raises RulesError naming the file and rule
    if chosen is None:
        return ruleset, default_rules_text(), ruleset.source
    try:
        text = Path(chosen).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"rules file {chosen} cannot be read ({exc})") from None
    return ruleset, text, ruleset.source


async def _channel_id(archive: Archive, ref: str | None) -> int | None:
    if ref is None:
        return None
    row = await archive.find_channel(ref)
    if row is None:
        raise ArchiveError(f"no channel {ref!r} in the archive (give its @username, id or t.me link)")
    return int(row["id"])


async def _channel_names(archive: Archive) -> dict[int, str]:
    return {
        int(r["id"]): f"@{r['username']}" if r["username"] else (r["title"] or str(r["id"]))
        for r in await archive.channels()
    }


# --- rules test ------------------------------------------------------------------------------


@rules_group.command("test")
@click.argument("rules_path", metavar="[RULES.toml]", required=False, type=click.Path(path_type=Path))
@click.option("--since", help="Only posts from this date on (2021-11-02, ISO 8601, or 30d / 12h ago).")
@click.option("--channel", "channel_ref", help="Only this channel (@username, id or t.me link).")
@click.option(
    "--min-severity",
    type=click.Choice(["low", "medium", "high"]),
    help="Lowest match severity that alerts (default: the config's, else medium).",
)
@click.option(
    "--no-signatures", is_flag=True, help="Ignore the channel signatures (alert on channels' own names)."
)
@click.option(
    "--workers", type=click.IntRange(1, 16), help="Worker processes (default: the cores, at most 4)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def test_command(
    app: AppContext,
    rules_path: Path | None,
    since: str | None,
    channel_ref: str | None,
    min_severity: str | None,
    no_signatures: bool,
    workers: int | None,
    as_json: bool,
) -> None:
    """Run RULES.toml (default: the rules in force) over the archive's posts and poster text.

    Sends nothing and writes nothing. Per rule: how many posts would alert, in which channels,
    example posts with the matched words highlighted; and the difference from the rules in force
    (posts that would alert and do not today: gained; that alert today and would not: lost).

    Example: tgmonitor rules test my-rules.toml --since 30d --channel @sada_althar_sample
    """
    from alerts.signatures import (
        learn_book,  # why: the detector (~0.2 s) loads only in the commands that detect
    )
    from monitor.backtests import Plan, run_backtest

    config = app.config()
    tested, tested_text, tested_source = _rules_text(rules_path, None if rules_path else config.alerts.rules)
    in_force_text = None
    in_force_source = ""
    if rules_path is not None:
        _, in_force_text, in_force_source = _rules_text(None, config.alerts.rules)
    when = parse_when(since) if since else None
    db = app.existing_db()

    async def go() -> tuple[Any, float, dict[int, str], int]:
        async with await Archive.open(db, app.media_dir(), readonly=True) as archive:
            channel_id = await _channel_id(archive, channel_ref)
            book = None if no_signatures else await learn_book(archive, channel_id=channel_id)
            plan = Plan(
                db_path=db,
                tested_text=tested_text,
                tested_source=tested_source,
                in_force_text=in_force_text,
                in_force_source=in_force_source or f"default rules ({DEFAULT_RULES})",
                min_severity=min_severity or config.alerts.min_severity,
                since=when,
                channel_id=channel_id,
                signatures=book,
            )
            progress = Progress(
                TextColumn("detecting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("posts"),
                TimeRemainingColumn(),
                console=_console(err=True),
                disable=as_json,
                transient=True,
            )
            with progress:
                task = progress.add_task("detecting", total=None)
                result, seconds = await run_backtest(
                    archive,
                    plan,
                    workers=workers,
                    on_total=lambda n: progress.update(task, total=n),
                    on_done=lambda n: progress.advance(task, n),
                )
            return result, seconds, await _channel_names(archive), len(book.channel_ids()) if book else 0

    result, seconds, names, learned = run_async(go())
    scope = _scope(since, channel_ref)
    if as_json:
        click.echo(
            dumps_json(_test_json(result, tested, tested_source, in_force_source, seconds, names), indent=2)
        )
        return
    out = _console()
    if not result.posts:
        out.print(Text(for_terminal(f"the archive has no posts{scope}: nothing to test"), style="bold"))
        return
    _show_test(out, result, tested, tested_source, in_force_source, seconds, names, scope, learned)


def _scope(since: str | None, channel: str | None) -> str:
    parts = []
    if channel:
        parts.append(f" in {channel}")
    if since:
        parts.append(f" since {since}")
    return "".join(parts)


def _test_json(
    result: Any, tested: RuleSet, source: str, in_force: str, seconds: float, names: dict[int, str]
) -> dict[str, Any]:
    def examples(items: list[Any]) -> list[dict[str, Any]]:
        return [{**e.to_json(), "channel": names.get(e.channel_id, str(e.channel_id))} for e in items]

    rules = []
    for tally in result.rules.values():
        rules.append(
            {
                "rule": tally.name,
                "severity": tally.severity,
                "category": tally.category,
                "posts": tally.posts,
                "posts_in_force": tally.in_force if in_force else tally.posts,
                "channels": [
                    {"channel_id": c, "channel": names.get(c, str(c)), "posts": n}
                    for c, n in tally.channels.most_common()
                ],
                "examples": examples(tally.examples),
            }
        )
    return {
        "rules": source,
        "compared_with": in_force or None,
        "posts": result.posts,
        "alerts": result.alerts,
        "alerts_in_force": result.in_force_alerts,
        "gained": result.gained,
        "lost": result.lost,
        "gained_examples": examples(result.gained_examples),
        "lost_examples": examples(result.lost_examples),
        "kept_quiet_by_signatures": result.silenced,
        "per_rule": sorted(rules, key=lambda r: (-r["posts"], r["rule"])),
        "never_fired": [
            r.name for r in tested.rules if not result.rules.get(r.name) or not result.rules[r.name].posts
        ],
        "seconds": round(seconds, 2),
    }


def _show_test(
    out: Console,
    result: Any,
    tested: RuleSet,
    source: str,
    in_force: str,
    seconds: float,
    names: dict[int, str],
    scope: str,
    learned: int,
) -> None:
    t = for_terminal
    out.print(Text(t(f"rules: {source}; {result.posts:,} posts{scope} in {seconds:.1f} s"), style="dim"))
    line = Text(f"{result.alerts:,} posts would alert")
    if in_force:
        line.append(t(f"; {result.in_force_alerts:,} with the rules in force ({in_force}): "))
        line.append(f"+{result.gained:,} gained", style="bold green" if result.gained else "")
        line.append(", ")
        line.append(f"-{result.lost:,} lost", style="bold red" if result.lost else "")
    out.print(line)
    if learned:
        out.print(
            Text(
                f"{result.silenced:,} kept quiet by channel signatures (learned for {learned} channels; "
                "--no-signatures to see them)",
                style="dim",
            )
        )
    fired = sorted(
        (r for r in result.rules.values() if r.posts or r.in_force), key=lambda r: (-r.posts, r.name)
    )
    if fired:
        table = Table(title="per rule", title_justify="left")
        for column in ("rule", "severity", "posts", "in force" if in_force else None, "channels"):
            if column:
                table.add_column(column, justify="right" if column in ("posts", "in force") else "left")
        for tally in fired:
            channels = ", ".join(f"{names.get(c, c)} ({n})" for c, n in tally.channels.most_common(3))
            more = len(tally.channels) - 3
            if more > 0:
                channels += f" +{more}"
            cells = [
                Text(t(tally.name)),
                Text(f" {tally.severity} ", style=_SEVERITY_STYLE.get(tally.severity, "")),
            ]
            cells.append(Text(f"{tally.posts:,}"))
            if in_force:
                delta = tally.posts - tally.in_force
                cells.append(Text(f"{tally.in_force:,} ({delta:+,})" if delta else f"{tally.in_force:,}"))
            cells.append(Text(t(channels)))
            table.add_row(*cells)
        out.print(table)
        for tally in [r for r in fired if r.examples][:_SHOWN_RULES]:
            out.print(Text(t(f"{tally.name}:"), style="bold"))
            for example in tally.examples:
                _show_example(out, example, names, tally.severity)
    for label, items in (("gained", result.gained_examples), ("lost", result.lost_examples)):
        if items:
            out.print(Text(f"{label} (examples):", style="bold"))
            for example in items:
                _show_example(out, example, names, "medium")
    never = [r.name for r in tested.rules if not result.rules.get(r.name) or not result.rules[r.name].posts]
    if never:
        out.print(Text(t(f"{len(never)} rules would raise nothing: {', '.join(never)}"), style="dim"))


def _show_example(out: Console, example: Any, names: dict[int, str], severity: str) -> None:
    """One example post, its matched words in the severity's colour (spans move with the escaping)."""
    escaped, moved = terminal_spans(example.body, example.spans)
    shown = Text("    " + ("…" if example.cut_left else ""))
    offset = len(shown.plain)
    shown.append(escaped)
    for start, end in moved:
        shown.stylize(_SEVERITY_STYLE.get(severity, "bold"), offset + start, offset + end)
    if example.cut_right:
        shown.append("…")
    channel = names.get(example.channel_id, str(example.channel_id))
    head = f"  {channel} #{example.message_id} {example.date[:16]}" + (
        " (poster)" if example.source == "ocr" else ""
    )
    out.print(Text(for_terminal(head), style="dim"))
    out.print(shown)


# --- rules report ----------------------------------------------------------------------------


@rules_group.command("report")
@click.option("--since", help="Only alerts raised from this date on (2021-11-02, ISO 8601, or 30d).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def report_command(app: AppContext, since: str | None, as_json: bool) -> None:
    """Per rule: alerts raised, marked true/false positive, precision, the terms and channels
    behind most false positives, and the rules in force that never fired.

    Verdicts come from `tgmonitor alerts mark ID tp|fp` and the desks' buttons.

    Example: tgmonitor rules report --since 30d
    """
    from alerts.feedback import build_report

    config = app.config()
    ruleset = load_rules(config.alerts.rules)
    when = parse_when(since) if since else None

    async def go() -> tuple[Any, dict[int, str]]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            rows = await archive.decisions.post_alerts_with_verdicts(when)
            return build_report(rows, [(r.name, r.severity) for r in ruleset.rules]), await _channel_names(
                archive
            )

    report, names = run_async(go())
    if as_json:
        click.echo(dumps_json(report.to_json(names), indent=2))
        return
    out = _console()
    t = for_terminal
    marked = report.tp + report.fp
    precision = f"{report.tp / marked:.0%}" if marked else "n/a"
    out.print(
        Text(
            t(
                f"{report.alerts:,} alerts{' since ' + since if since else ''}; marked {marked:,} "
                f"({report.tp:,} true, {report.fp:,} false positives); precision {precision}"
            )
        )
    )
    if report.rules:
        table = Table(title="per rule (most false positives first)", title_justify="left")
        for column in ("rule", "severity", "alerts", "tp", "fp", "precision", "FP terms", "FP channels"):
            table.add_column(
                column, justify="right" if column in ("alerts", "tp", "fp", "precision") else "left"
            )
        for r in report.rules:
            table.add_row(
                Text(t(r.rule)),
                Text(f" {r.severity} ", style=_SEVERITY_STYLE.get(r.severity, ""))
                if r.severity
                else Text(""),
                f"{r.raised:,}",
                f"{r.tp:,}",
                Text(f"{r.fp:,}", style="bold red" if r.fp else ""),
                "n/a" if r.precision is None else f"{r.precision:.0%}",
                Text(t(", ".join(f"{term} ({n})" for term, n in r.fp_terms.most_common(3)))),
                Text(t(", ".join(f"{names.get(c, c)} ({n})" for c, n in r.fp_channels.most_common(3)))),
            )
        out.print(table)
    else:
        out.print(Text("no alerts in that period", style="dim"))
    if report.never_fired:
        out.print(
            Text(
                t(f"{len(report.never_fired)} rules never fired: {', '.join(report.never_fired)}"),
                style="dim",
            )
        )


# --- rules signatures ------------------------------------------------------------------------


@rules_group.command("signatures")
@click.option("--channel", "channel_ref", help="Only this channel (@username, id or t.me link).")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path),
    help="Rules file whose [[signature]] overrides apply.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the signatures as JSON.")
@pass_app
def signatures_command(
    app: AppContext, channel_ref: str | None, rules_path: Path | None, as_json: bool
) -> None:
    """Show each channel's signature: the names, recurring lines and hashtags (learned from its
    latest 200 posts) and the rules file's overrides, which do not raise alerts for that channel.

    Override per channel in the rules file with a [[signature]] table (channel, add, remove, learn).

    Example: tgmonitor rules signatures --channel @sada_althar_sample
    """
    from alerts.signatures import learn_book

    config = app.config()
    ruleset = load_rules(rules_path if rules_path is not None else config.alerts.rules)

    async def go() -> tuple[list[Any], dict[int, str]]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            channel_id = await _channel_id(archive, channel_ref)
            book = await learn_book(archive, ruleset.signatures, channel_id=channel_id)
            return [book.get(i) for i in book.channel_ids()], await _channel_names(archive)

    signatures, names = run_async(go())
    if as_json:
        click.echo(
            dumps_json([{**s.to_json(), "channel": names.get(s.channel_id)} for s in signatures], indent=2)
        )
        return
    out = _console()
    if not signatures:
        out.print(Text("no channels in the archive", style="dim"))
    for signature in signatures:
        out.print(
            Text(for_terminal(names.get(signature.channel_id, str(signature.channel_id))), style="bold")
        )
        for line in signature_lines(signature):
            out.print(Text("  " + line))


async def channel_signature_lines(
    archive: Archive, channel_id: int, ruleset: RuleSet | None = None
) -> list[str]:
    """The hook for a channel listing (``channels list``): one channel's signature, learned from
    its latest posts under ``ruleset``'s overrides (default: none), as escaped lines to print."""
    from alerts.signatures import learn_book

    book = await learn_book(archive, ruleset.signatures if ruleset else (), channel_id=channel_id)
    signature = book.get(channel_id)
    return signature_lines(signature) if signature is not None else []


def signature_lines(signature: Any) -> list[str]:
    """A channel's signature as plain lines, escaped for the terminal: the one hook a channel
    listing (``channels list``) calls to show it."""
    t = for_terminal
    out = [t("names: " + (" | ".join(signature.names) or "-"))]
    if signature.lines:
        out.append(t("recurring lines: " + " | ".join(signature.lines)))
    if signature.tags:
        out.append(
            t("recurring hashtags: " + " ".join("#" + tag.replace(" ", "_") for tag in signature.tags))
        )
    if signature.added:
        out.append(t("added by the rules file: " + " | ".join(signature.added)))
    if signature.removed:
        out.append(t("never identity (rules file): " + " | ".join(signature.removed)))
    if signature.learned_from:
        out.append(f"learned from the latest {signature.learned_from} posts")
    else:
        out.append("learned nothing (too few posts, or learning switched off)")
    return out


commands: list[click.Command] = [rules_group]

__all__ = ["channel_signature_lines", "commands", "rules_group", "signature_lines"]
