"""How an alert reads: the JSON body of DESIGN.md, Telegram HTML, plain text and digests.

Every sink renders from the same body dict (what the archive stores in ``alerts.body``), so a
webhook consumer, a JSON Lines reader and the analyst's phone see the same facts. Channel text is
never trusted as markup: every piece of it goes through the one escaping function of its medium
(:mod:`monitor.core.escape`: HTML for Telegram, the Slack and Discord ways for webhooks, plain
text otherwise), which also shows control characters and bidi overrides instead of obeying them.

Telegram counts message limits in UTF-16 code units after the HTML is parsed (4096 for a
message, 1024 for a photo caption). :func:`truncate_html` cuts on that visible length, never
inside a tag or an entity, closes the tags it leaves open, and prefers to cut at a space.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from monitor.core import escape as esc
from monitor.core.detection import severity_rank
from monitor.core.models import media_text_label
from monitor.core.times import iso

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
SEVERITY_MARK = {"high": "🔴", "medium": "🟠", "low": "🟡"}
KIND_LABEL = {
    "post": "alert",
    "campaign": "campaign",
    "reminder": "countdown reminder",
    "health": "collection health",  # monitor.health: a channel or account problem, or its recovery
}
ELLIPSIS = "…"


def ulen(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


# --- highlighting -------------------------------------------------------------------------


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def excerpt_pieces(
    text: str, spans: Sequence[tuple[int, int]], budget: int, context: int = 80
) -> list[tuple[str, bool]]:
    """Pieces ``(text, highlighted)`` of ``text`` around ``spans``, within about ``budget`` chars.

    The whole text when it fits; otherwise windows of ``context`` characters around each span,
    merged when they touch, separated by an ellipsis piece. Spans are clamped to the text.
    """
    size = len(text)
    spans = merge_spans((max(0, s), min(size, e)) for s, e in spans)
    if size <= budget or not spans:
        if size > budget:
            return [(text[:budget].rstrip() + ELLIPSIS, False)]
        return _split(text, spans, 0, size)
    windows = merge_spans((max(0, s - context), min(size, e + context)) for s, e in spans)
    pieces: list[tuple[str, bool]] = []
    used = 0
    for start, end in windows:
        if used >= budget:
            break
        end = min(end, start + (budget - used))
        start, end = _word_bounds(text, start, end)
        if start > 0 or pieces:
            pieces.append((ELLIPSIS, False))
        pieces.extend(_split(text, spans, start, end))
        used += end - start
    if (windows and windows[-1][1] < size) or used >= budget:
        pieces.append((ELLIPSIS, False))
    return pieces


def _word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Move a window's edges out of the middle of a word when a space is near."""
    if start > 0:
        space = text.rfind(" ", max(0, start - 15), start)
        if space != -1:
            start = space + 1
    if end < len(text):
        space = text.find(" ", end, min(len(text), end + 15))
        if space != -1:
            end = space
    return start, end


def _split(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> list[tuple[str, bool]]:
    pieces: list[tuple[str, bool]] = []
    cursor = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        if s > cursor:
            pieces.append((text[cursor:s], False))
        pieces.append((text[s:e], True))
        cursor = e
    if cursor < end:
        pieces.append((text[cursor:end], False))
    return pieces


def pieces_html(pieces: Iterable[tuple[str, bool]]) -> str:
    return "".join(f"<b>{esc.for_html(t)}</b>" if hot else esc.for_html(t) for t, hot in pieces)


def pieces_plain(pieces: Iterable[tuple[str, bool]], mark: str = "**") -> str:
    return "".join(f"{mark}{t}{mark}" if hot and mark else t for t, hot in pieces)


def text_spans(body: dict[str, Any], source: str) -> list[tuple[int, int]]:
    """Spans of the body's matches in the post text (``text``) or the OCR excerpt (``ocr``)."""
    if source == "ocr":
        return [tuple(s) for s in body.get("ocr_highlights") or []]  # type: ignore[misc]
    return [
        (int(m["start"]), int(m["end"]))
        for m in body.get("matches") or []
        if m.get("source", "text") == "text" and m.get("start") is not None and m.get("end") is not None
    ]


# --- small helpers ------------------------------------------------------------------------


def format_date(value: str | None) -> str:
    """``2026-11-22T01:00:00+00:00`` -> ``2026-11-22 01:00 UTC``."""
    if not value:
        return "?"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    return dt.strftime("%Y-%m-%d %H:%M UTC")


def channel_label(body: dict[str, Any]) -> str:
    title = body.get("channel_title") or body.get("channel") or str(body.get("channel_id") or "?")
    return str(title)


def countdown_line(countdown: dict[str, Any] | None) -> str | None:
    if not countdown:
        return None
    value, unit = countdown.get("value"), countdown.get("unit") or "day"
    words = f"{value} {unit}{'' if value == 1 else 's'}"
    deadline = countdown.get("deadline")
    return f"{words} left, deadline {format_date(deadline)}" if deadline else f"{words} left"


def terms_summary(matches: Sequence[dict[str, Any]], limit: int = 8) -> list[tuple[str, str]]:
    """Distinct ``(term, rule)`` pairs in order of first appearance."""
    seen: dict[tuple[str, str], None] = {}
    for m in matches:
        seen.setdefault((str(m.get("term", "")), str(m.get("rule", ""))), None)
    return list(seen)[:limit]


def headline(body: dict[str, Any]) -> str:
    severity = body.get("severity") or "info"
    kind = body.get("kind", "post")
    label = KIND_LABEL.get(kind, kind)
    if kind == "campaign":
        label = f"campaign in {len(body.get('channels') or [])} channels"
    elif kind == "reminder":
        offset = body.get("offset_hours")
        label = "countdown deadline now" if not offset else f"countdown: {offset:g} h to the deadline"
    categories = sorted({str(m.get("category")) for m in body.get("matches") or [] if m.get("category")})
    extra = f" · {', '.join(categories)}" if categories and kind != "reminder" else ""
    return f"{SEVERITY_MARK.get(severity, '⚪')} {severity.upper()} · {label}{extra}"


# --- Telegram HTML ------------------------------------------------------------------------


def render_html(body: dict[str, Any], limit: int = MESSAGE_LIMIT) -> str:
    """The Telegram HTML of one alert, at most ``limit`` visible characters."""
    e = esc.for_html
    compact = limit <= CAPTION_LIMIT
    lines = [f"<b>{e(headline(body))}</b>"]
    url = body.get("url")
    title = e(channel_label(body))
    username = body.get("channel")
    who = f'<a href="{e(url)}">{title}</a>' if url else title
    if username and username != body.get("channel_title"):
        who += f" (@{e(str(username))})"
    lines.append(f"{who} · {e(format_date(body.get('date')))}")
    terms = terms_summary(body.get("matches") or [])
    if terms:
        lines.append("Matched: " + ", ".join(f"<b>{e(t)}</b> ({e(r)})" for t, r in terms))
    countdown = countdown_line(body.get("countdown"))
    if countdown:
        lines.append(f"⏳ {e(countdown)}")
    if body.get("kind") == "campaign":
        lines.append(
            f"First seen {e(format_date(body.get('first_seen')))}, last seen {e(format_date(body.get('last_seen')))}"
        )
        for item in (body.get("channels") or [])[: 6 if compact else 30]:
            name = e(str(item.get("title") or item.get("channel") or item.get("channel_id")))
            link = item.get("url")
            named = f'<a href="{e(link)}">{name}</a>' if link else name
            lines.append(f"• {named} · {e(format_date(item.get('date')))}")
        more = len(body.get("channels") or []) - (6 if compact else 30)
        if more > 0:
            lines.append(f"• and {more} more")
    text = body.get("text") or ""
    if text:
        pieces = excerpt_pieces(text, text_spans(body, "text"), 350 if compact else 1800)
        lines.append(f"<blockquote>{pieces_html(pieces)}</blockquote>")
    ocr = body.get("ocr_excerpt")
    if ocr:
        pieces = excerpt_pieces(ocr, text_spans(body, "ocr"), 250 if compact else 900)
        lines.append(f"🖼 {media_text_label(ocr)}:\n<blockquote>{pieces_html(pieces)}</blockquote>")
    desk = body.get("desk_url")
    if desk:
        lines.append(f'<a href="{e(str(desk))}">Open in the desk</a>')
    if body.get("alert_id") is not None:
        lines.append(
            f"<i>alert #{e(str(body['alert_id']))} · tgmonitor alerts ack {e(str(body['alert_id']))}</i>"
        )
    return truncate_html("\n".join(lines), limit)


def render_digest_html(bodies: Sequence[dict[str, Any]], limit: int = MESSAGE_LIMIT) -> str:
    """One message for a burst of alerts, most severe first, cut cleanly at ``limit``."""
    e = esc.for_html
    ordered = sorted(bodies, key=lambda b: (-severity_rank(b.get("severity")), b.get("alert_id") or 0))
    counts = {s: sum(1 for b in bodies if b.get("severity") == s) for s in ("high", "medium", "low")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"<b>📋 Digest: {len(bodies)} alerts</b> ({e(summary)})"]
    footer = "<i>Full list: tgmonitor alerts --since " + e(_digest_since(bodies)) + "</i>"
    budget = limit - ulen(visible_text(footer)) - 40
    shown = 0
    for body in ordered:
        terms = ", ".join(t for t, _ in terms_summary(body.get("matches") or [], 3))
        snippet = (body.get("text") or body.get("ocr_excerpt") or "").replace("\n", " ")
        snippet = snippet[:80] + (ELLIPSIS if len(snippet) > 80 else "")
        name = e(channel_label(body))
        link = body.get("url")
        named = f'<a href="{e(link)}">{name}</a>' if link else name
        line = (
            f"{SEVERITY_MARK.get(body.get('severity') or '', '⚪')} #{body.get('alert_id')} {named} "
            f"· {e(format_date(body.get('date')))}"
            + (f" · <b>{e(terms)}</b>" if terms else "")
            + f"\n  {e(snippet)}"
        )
        if ulen(visible_text("\n".join([*lines, line]))) > budget:
            break
        lines.append(line)
        shown += 1
    if shown < len(bodies):
        lines.append(f"… and {len(bodies) - shown} more")
    lines.append(footer)
    return truncate_html("\n".join(lines), limit)


def _digest_since(bodies: Sequence[dict[str, Any]]) -> str:
    dates = sorted(str(b.get("created_at") or b.get("date") or "") for b in bodies)
    return dates[0][:19] if dates and dates[0] else "today"


# --- plain text (console, Slack, Discord) -------------------------------------------------


def render_text(
    body: dict[str, Any],
    *,
    mark: str = "**",
    limit: int | None = None,
    escape: Callable[[str], str] = esc.for_terminal,
) -> str:
    """Plain text of one alert; ``mark`` wraps matched terms (``*`` for Slack, ``**`` Discord).

    ``escape`` is applied to every piece that comes from a channel (text, titles, terms), so
    the marks we add stay markup and the channel's own characters stay text.
    """
    e = escape
    lines = [headline(body)]
    lines.append(f"{e(channel_label(body))} · {format_date(body.get('date'))}")
    if body.get("url"):
        lines.append(str(body["url"]))
    terms = terms_summary(body.get("matches") or [])
    if terms:
        lines.append("Matched: " + ", ".join(f"{mark}{e(t)}{mark} ({e(r)})" for t, r in terms))
    countdown = countdown_line(body.get("countdown"))
    if countdown:
        lines.append(f"⏳ {countdown}")
    if body.get("kind") == "campaign":
        lines.append(
            f"First seen {format_date(body.get('first_seen'))}, last seen {format_date(body.get('last_seen'))}"
        )
        for item in (body.get("channels") or [])[:30]:
            name = e(str(item.get("title") or item.get("channel")))
            lines.append(f"• {name} {item.get('url') or ''}".rstrip())
    for key, label, budget in (("text", "» ", 1200), ("ocr_excerpt", "", 600)):
        value = body.get(key)
        if value:
            label = label or f"{media_text_label(value)}: "
            source = "text" if key == "text" else "ocr"
            pieces = [(e(t), hot) for t, hot in excerpt_pieces(value, text_spans(body, source), budget)]
            lines.append(label + pieces_plain(pieces, mark))
    if body.get("desk_url"):
        lines.append(f"desk: {body['desk_url']}")
    if body.get("alert_id") is not None:
        lines.append(f"alert #{body['alert_id']}")
    return _cut_plain("\n".join(lines), limit)


def render_digest_text(
    bodies: Sequence[dict[str, Any]],
    *,
    limit: int | None = None,
    escape: Callable[[str], str] = esc.for_terminal,
) -> str:
    ordered = sorted(bodies, key=lambda b: (-severity_rank(b.get("severity")), b.get("alert_id") or 0))
    lines = [f"📋 Digest: {len(bodies)} alerts"]
    for body in ordered:
        snippet = (body.get("text") or body.get("ocr_excerpt") or "").replace("\n", " ")[:80]
        lines.append(
            f"{SEVERITY_MARK.get(body.get('severity') or '', '⚪')} #{body.get('alert_id')} "
            f"{escape(channel_label(body))} {body.get('url') or ''} {escape(snippet)}".rstrip()
        )
    lines.append(f"Full list: tgmonitor alerts --since {_digest_since(bodies)}")
    return _cut_plain("\n".join(lines), limit)


_PARTIAL_ESCAPE = re.compile(r"(&[A-Za-z#0-9]*|\\)$")


def _cut_plain(text: str, limit: int | None) -> str:
    """Cut plain text to ``limit`` characters, never leaving half an ``&amp;`` or a lone backslash."""
    if limit is None or len(text) <= limit:
        return text
    cut = _PARTIAL_ESCAPE.sub("", text[: limit - 1]).rstrip()
    return cut + ELLIPSIS


slack_escape = esc.for_slack
discord_escape = esc.for_discord


def slack_payload(body: dict[str, Any] | None, text: str) -> dict[str, Any]:
    return {"text": text, "unfurl_links": False, "unfurl_media": False}


def discord_payload(text: str) -> dict[str, Any]:
    # Mentions in channel text must never ping anyone in the analysts' server.
    return {"content": text[:2000], "allowed_mentions": {"parse": []}}


# --- HTML truncation ----------------------------------------------------------------------

_TOKENS = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")


def visible_text(markup: str) -> str:
    """What Telegram shows for ``markup``: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


def truncate_html(markup: str, limit: int) -> str:
    """Cut ``markup`` to at most ``limit`` visible UTF-16 units, keeping it well formed."""
    if ulen(visible_text(markup)) <= limit:
        return markup
    budget = max(0, limit - ulen(ELLIPSIS))
    out: list[str] = []
    stack: list[str] = []
    used = 0
    for match in _TOKENS.finditer(markup):
        token = match.group(0)
        if token.startswith("<") and token.endswith(">") and len(token) > 2:
            name_match = _TAG_NAME.match(token)
            name = name_match.group(1).lower() if name_match else ""
            if token.startswith("</"):
                if stack and stack[-1] == name:
                    stack.pop()
                out.append(token)
            elif token.endswith("/>") or name == "br":
                out.append(token)
            else:
                stack.append(name)
                out.append(token)
            continue
        shown = html.unescape(token) if token.startswith("&") else token
        size = ulen(shown)
        if used + size <= budget:
            out.append(token)
            used += size
            continue
        if not token.startswith("&") and token not in ("<", "&"):
            room = budget - used
            piece = _cut_units(token, room)
            space = piece.rfind(" ")
            if space > len(piece) - 25 and space > 0:
                piece = piece[:space]
            out.append(piece.rstrip())
        break
    out.append(ELLIPSIS)
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


def _cut_units(text: str, units: int) -> str:
    """The longest prefix of ``text`` within ``units`` UTF-16 units (never half a surrogate pair)."""
    total = 0
    for index, char in enumerate(text):
        total += 2 if ord(char) > 0xFFFF else 1
        if total > units:
            return text[:index]
    return text


# --- building bodies ----------------------------------------------------------------------

OCR_EXCERPT_CHARS = 600


def ocr_excerpt(ocr_text: str | None, spans: Sequence[tuple[int, int]]) -> tuple[str | None, list[list[int]]]:
    """The poster lines that hold a match, and the matches' spans inside them.

    Poster text is many readings, one per line (``ocr.engine``), and most lines are what the
    passes made of flames and flags: an analyst is shown the lines that matched, in the order
    they were read, not a window of characters around them (up to ``OCR_EXCERPT_CHARS``; a
    single longer line is cut around its matches).
    """
    if not ocr_text or not spans:
        return None, []
    spans = merge_spans(spans)
    pieces: list[str] = []
    highlights: list[list[int]] = []
    length = 0
    line_start = 0
    for line in ocr_text.split("\n"):
        line_end = line_start + len(line)
        inside = [(max(s, line_start), min(e, line_end)) for s, e in spans if s < line_end and e > line_start]
        if inside:
            base = line_start
            if len(line) > OCR_EXCERPT_CHARS:  # one long line: the window around its matches
                start = max(line_start, inside[0][0] - 150)
                end = min(line_end, max(inside[-1][1] + 150, start + 200), start + OCR_EXCERPT_CHARS)
                start, end = _word_bounds(ocr_text, start, end)
                line, base = ocr_text[start:end], start
                inside = [(s, e) for s, e in inside if s >= start and e <= end]
            joined = length + (1 if pieces else 0)
            if pieces and joined + len(line) > OCR_EXCERPT_CHARS:
                break
            highlights += [[joined + s - base, joined + e - base] for s, e in inside]
            pieces.append(line)
            length = joined + len(line)
        line_start = line_end + 1
    if not pieces:
        return None, []
    return "\n".join(pieces), highlights


def _first_lines(text: str, budget: int) -> str:
    """Whole lines from the start of ``text`` within ``budget`` characters (poster text gives
    the lines most passes agree on first); at least the start of the first line."""
    kept: list[str] = []
    length = 0
    for line in text.split("\n"):
        if kept and length + 1 + len(line) > budget:
            break
        kept.append(line[:budget] if not kept else line)
        length += len(kept[-1]) + (1 if len(kept) > 1 else 0)
    return "\n".join(kept)


def post_body(
    post: Any,
    *,
    kind: str,
    severity: str | None,
    matches: Sequence[dict[str, Any]],
    countdown: dict[str, Any] | None,
    ocr_text: str | None,
    image_sha256: str | None = None,
) -> dict[str, Any]:
    """The alert body of DESIGN.md for one post (``alert_id`` is added once the row exists).

    ``post`` is an archive ``PostRecord`` (or anything with the same attributes).
    """

    ocr_spans = [(int(m["start"]), int(m["end"])) for m in matches if m.get("source") == "ocr"]
    if countdown and countdown.get("source") == "ocr" and countdown.get("end"):
        # the poster or video line of the countdown too (a clip's line says its frame time)
        ocr_spans.append((int(countdown.get("start") or 0), int(countdown["end"])))
    excerpt, highlights = ocr_excerpt(ocr_text, ocr_spans)
    if excerpt is None and ocr_text and not (post.text or "").strip():
        excerpt, highlights = _first_lines(ocr_text, 300), []
    channel = {
        "channel": post.channel_username,
        "channel_title": post.channel_title,
        "channel_id": post.channel_id,
        "message_id": post.message_id,
        "url": post.url,
        "date": iso(post.date),
    }
    return {
        "alert_id": None,
        "kind": kind,
        "severity": severity,
        **channel,
        "text": post.text or "",
        "matches": list(matches),
        "countdown": countdown,
        "ocr_excerpt": excerpt,
        "ocr_highlights": highlights,
        "image_sha256": image_sha256,
        "channels": [{**channel, "title": post.channel_title}],
    }
