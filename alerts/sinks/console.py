"""The console sink: alerts drawn with rich in the terminal (what ``tgmonitor demo`` shows).

Channel text reaches rich only as ``Text`` (never parsed as markup) and only through
:func:`monitor.core.escape.for_terminal` (control characters and bidi overrides shown, not obeyed).
rich is imported on first draw: its console, panel and table modules cost tens of milliseconds
at import, which the daemon and the import workers (no console sink) would pay for nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from alerts import format as fmt
from alerts.sinks.base import OutgoingAlert, Sink, sink_name
from monitor.core.config import SinkConfig
from monitor.core.detection import severity_rank
from monitor.core.escape import for_terminal
from monitor.core.models import media_text_label

_SEVERITY_STYLE = {"high": "bold red", "medium": "bold yellow", "low": "cyan"}


class ConsoleSink(Sink):
    """Alerts printed with rich (what ``tgmonitor demo`` shows). Channel text is never markup."""

    kind = "console"
    human = True

    def __init__(self, config: SinkConfig | None = None, console: Any | None = None):
        config = config or SinkConfig(type="console")
        super().__init__(sink_name(config), config.min_severity)
        self._console = console

    @property
    def console(self) -> Any:
        if self._console is None:
            # why: rich costs tens of ms at import; only the console sink (demo) draws with it
            from rich.console import Console

            self._console = Console(file=sys.stdout)
        return self._console

    async def send(self, alert: OutgoingAlert) -> None:
        self.console.print(render_rich(alert.body))

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        # why: rich costs tens of ms at import; only the console sink (demo) draws with it
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Digest: {len(alerts)} alerts", show_lines=False, expand=True)
        for column in ("#", "severity", "channel", "date", "matched", "text"):
            table.add_column(column, overflow="fold")
        ordered = sorted(alerts, key=lambda a: (-severity_rank(a.severity), a.alert_id))
        for alert in ordered:
            body = alert.body
            terms = ", ".join(t for t, _ in fmt.terms_summary(body.get("matches") or [], 3))
            snippet = (body.get("text") or body.get("ocr_excerpt") or "").replace("\n", " ")[:80]
            terms, snippet = for_terminal(terms, newlines=False), for_terminal(snippet, newlines=False)
            table.add_row(
                str(alert.alert_id),
                Text(alert.severity or "-", style=_SEVERITY_STYLE.get(alert.severity or "", "")),
                Text(for_terminal(fmt.channel_label(body), newlines=False)),
                fmt.format_date(body.get("date")),
                Text(terms, style="bold"),
                Text(snippet),
            )
        self.console.print(table)


def render_rich(body: dict[str, Any]) -> Any:
    """A rich Panel for one alert: headline, channel and link, terms in context, poster text."""
    # why: rich costs tens of ms at import; only the console sink (demo) draws with it
    from rich.panel import Panel
    from rich.text import Text

    style = _SEVERITY_STYLE.get(body.get("severity") or "", "")
    out = Text()
    out.append(for_terminal(fmt.channel_label(body), newlines=False), style="bold")
    out.append(f"  {fmt.format_date(body.get('date'))}\n", style="dim")
    if body.get("url"):
        out.append(for_terminal(str(body["url"]), newlines=False) + "\n", style="blue underline")
    terms = fmt.terms_summary(body.get("matches") or [])
    if terms:
        out.append("Matched: ")
        for i, (term, rule) in enumerate(terms):
            out.append("" if i == 0 else ", ")
            out.append(for_terminal(term, newlines=False), style="bold reverse")
            out.append(f" ({for_terminal(rule, newlines=False)})", style="dim")
        out.append("\n")
    countdown = fmt.countdown_line(body.get("countdown"))
    if countdown:
        out.append(f"⏳ {countdown}\n", style="bold magenta")
    if body.get("kind") == "campaign":
        out.append(
            f"First seen {fmt.format_date(body.get('first_seen'))}, last seen {fmt.format_date(body.get('last_seen'))}\n"
        )
        for item in (body.get("channels") or [])[:30]:
            name = f"{item.get('title') or item.get('channel')} {item.get('url') or ''}"
            out.append(f"  • {for_terminal(name, newlines=False)}\n")
    for source in ("text", "ocr"):
        value = body.get("text") if source == "text" else body.get("ocr_excerpt")
        if not value:
            continue
        label = f"{media_text_label(value)}: " if source == "ocr" else ""
        out.append(label, style="italic")
        for piece, hot in fmt.excerpt_pieces(value, fmt.text_spans(body, source), 600):
            if source == "ocr":  # poster lines run together in a terminal: keep them apart, on one line
                piece = piece.replace("\n", " / ")
            out.append(for_terminal(piece), style="bold reverse" if hot else "")
        out.append("\n")
    title = Text(fmt.headline(body), style=style)
    subtitle = f"alert #{body.get('alert_id')}" if body.get("alert_id") is not None else None
    out.rstrip()
    return Panel(
        out if out.plain else Text("-"),
        title=title,
        subtitle=subtitle,
        border_style=style or "white",
        expand=True,
    )
