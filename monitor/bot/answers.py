"""What the bot desk says, as Telegram HTML: every piece of archive text escaped, cut cleanly.

Channel text is the adversary's: it reaches the chat only through :func:`monitor.core.escape.for_html`
(the medium's one escaping function: tags, entities, control and bidi characters shown, not
obeyed). Arabic is left as it is; Telegram lays each line out right-to-left by its first strong
letter, so every line we build starts with our own (left-to-right) label and the archive text
goes on a line or into a quote block of its own. Answers are cut on what Telegram counts
(UTF-16 units of the visible text: 4,096 for a message, 1,024 for a caption) by
:func:`alerts.format.truncate_html`, never inside a tag or an entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts import format as fmt
from alerts.decisions import describe
from monitor.core.escape import for_html
from monitor.core.store.decisions import DecisionRow
from monitor.core.store.mutes import MuteRow

MESSAGE_LIMIT = fmt.MESSAGE_LIMIT
CAPTION_LIMIT = fmt.CAPTION_LIMIT
SNIPPET_CHARS = 300  # a search hit's snippet, at most


@dataclass
class Answer:
    """One message of the bot: HTML (already cut), buttons ``[(label, data)]`` rows, a photo."""

    html: str
    buttons: list[list[tuple[str, bytes]]] = field(default_factory=list)
    photo: Path | None = None


def e(text: Any) -> str:
    return for_html(str(text))


def cut(markup: str, limit: int = MESSAGE_LIMIT) -> str:
    """``markup`` within Telegram's ``limit`` (visible UTF-16 units), well formed."""
    return fmt.truncate_html(markup, limit)


def link(url: str | None, label: str) -> str:
    """An HTML link whose label is archive text (escaped); the URL is ours (t.me), escaped too."""
    return f'<a href="{e(url)}">{e(label)}</a>' if url else e(label)


def when(value: datetime | str | None) -> str:
    return fmt.format_date(value.isoformat() if isinstance(value, datetime) else value)


def quote(text: str, budget: int) -> str:
    """Archive text in a quote block, at most ``budget`` characters (cut at a word)."""
    if len(text) > budget:
        text = text[:budget].rsplit(" ", 1)[0] + fmt.ELLIPSIS
    return f"<blockquote>{e(text)}</blockquote>"


def short(text: str, budget: int) -> str:
    """Plain text (a user's query echoed back) cut to ``budget`` characters."""
    return text if len(text) <= budget else text[: budget - 1] + fmt.ELLIPSIS


# --- alerts and their decisions ------------------------------------------------------------


def decision_lines(decisions: Sequence[DecisionRow], mutes: Sequence[MuteRow] = ()) -> list[str]:
    """The footer of an alert message once analysts acted: who, what, where, when."""
    lines = [f"☑️ {e(describe(d))}" for d in decisions]
    lines += [f"🔕 rule {e(m.rule)} muted here until {e(when(m.until))} by {e(m.by)}" for m in mutes]
    return lines


def alert_message(body: dict[str, Any], footer: Sequence[str], limit: int) -> str:
    """An alert as the sink sent it, with the decisions below: the alert is cut, never the footer."""
    tail = "\n".join(footer)
    room = limit - (fmt.ulen(fmt.visible_text(tail)) + 1 if tail else 0)
    head = fmt.render_html(body, max(200, room))
    return cut(head + ("\n" + tail if tail else ""), limit)


def alert_line(alert: dict[str, Any]) -> str:
    """One alert of ``/alerts``: severity, id, state, channel, terms, link."""
    mark = fmt.SEVERITY_MARK.get(alert.get("severity") or "", "⚪")
    terms = ", ".join(t for t, _ in fmt.terms_summary(alert.get("matches") or [], 3))
    kind = fmt.KIND_LABEL.get(alert.get("kind") or "", alert.get("kind") or "alert")
    who = link(alert.get("url"), fmt.channel_label(alert))
    line = f"{mark} <b>#{e(alert.get('alert_id'))}</b> {e(kind)} · {e(alert.get('state') or 'new')} · {who}"
    line += f" · {e(when(alert.get('created_at')))}"
    if terms:
        line += f"\n   matched: {e(terms)}"
    return line


# --- search ----------------------------------------------------------------------------------


def search_page(query: str, hits: Sequence[Any], page: int, size: int, more: bool) -> str:
    """One page of ``/search``: each hit's date, channel, link and snippet with the words in bold."""
    first = page * size + 1
    shown = hits[page * size : (page + 1) * size]
    title = f"🔎 <b>{e(short(query, 200))}</b>"
    if not shown:
        return title + "\nno archived post matches" + (" on this page" if page else "")
    lines = [f"{title}\nresults {first}–{first + len(shown) - 1}{' (more on the next page)' if more else ''}"]
    budget = (MESSAGE_LIMIT - 400) // max(1, len(shown))
    for hit in shown:
        post = hit.post
        name = (
            (post.channel_username and "@" + post.channel_username)
            or post.channel_title
            or str(post.channel_id)
        )
        pieces = fmt.excerpt_pieces(hit.snippet, hit.highlights, min(SNIPPET_CHARS, budget))
        deleted = " <i>(deleted)</i>" if post.deleted else ""
        lines.append(
            f"\n{e(when(post.date))} · {link(post.url, name)}{deleted}\n<blockquote>{fmt.pieces_html(pieces)}</blockquote>"
        )
    return cut("\n".join(lines))


HELP = """<b>tgmonitor bot</b>: the archive and its alerts, from this chat.
/search QUERY: search the archive (Arabic-aware: diacritics, letter variants, hashtags)
/post @channel/123: a post with its poster, what OCR read and its alerts
/alerts [N]: the last N alerts (5 by default, at most 20) and what was decided
/countdowns: countdowns running now and their deadlines
/stats: what the archive holds
/health: how collection is going, channel by channel
/similar: with a photo, or in reply to one: what it says, whether it alerts, and archived look-alikes
/help: this list
Buttons under an alert: acknowledge, true/false positive, mute its rule in its channel for 24 h, similar posters."""
