"""The readable page of one post in an evidence bundle (and the bundle's index page).

Every piece of archive text goes through :func:`monitor.core.escape.for_html`; the page runs no
script and loads nothing from outside (a Content-Security-Policy says so to the browser), and
each text block has ``dir="auto"`` so Arabic reads right to left and English left to right.
"""

from __future__ import annotations

import json
from typing import Any

from monitor.core.escape import for_html
from monitor.core.store.evidence import EvidenceItem
from monitor.core.times import iso

_HEAD = """<!DOCTYPE html>
<html lang="ar" dir="auto">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: 'Noto Naskh Arabic', 'DejaVu Sans', sans-serif; max-width: 52rem; margin: 2rem auto; line-height: 1.6; }}
.text {{ white-space: pre-wrap; border: 1px solid #ccc; padding: .75rem; border-radius: .3rem; }}
.deleted {{ color: #b00; font-weight: bold; }}
.version {{ background: #f6f6f6; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; font-size: .8rem; }}
td, th {{ border: 1px solid #ddd; padding: .2rem .4rem; font-family: monospace; word-break: break-all; }}
</style>
</head>
<body>
"""


def _text_block(text: str, css: str = "text") -> str:
    return f'<div class="{css}" dir="auto">{for_html(text)}</div>\n'


def post_page(item: EvidenceItem, media_names: dict[str, str]) -> str:
    """The HTML page of a post: text, edits, deletion, images, OCR, alerts and chain records.

    ``media_names`` maps a file's sha256 to its name in the bundle (``media/<sha256>.jpg``).
    """
    post = item.post
    channel = post.channel_username or post.channel_title or str(post.channel_id)
    title = f"{channel} / {post.message_id}"
    parts = [_HEAD.format(title=for_html(title))]
    parts.append(f'<h1 dir="auto">{for_html(title)}</h1>\n<p>')
    parts.append(f'channel: <span dir="auto">{for_html(channel)}</span> (id {post.channel_id})<br>')
    parts.append(f"date (UTC): {for_html(iso(post.date) or '')}<br>")
    parts.append(
        f"first captured: {for_html(item.first_seen_at)} by {for_html(post.source or 'unknown')}<br>"
    )
    parts.append(f"link: {for_html(post.url)}</p>\n")
    if item.deleted_at:
        parts.append(f'<p class="deleted">deleted from the channel (seen {for_html(item.deleted_at)})</p>\n')
    parts.append("<h2>text</h2>\n")
    parts.append(_text_block(post.text or ""))
    if item.versions:
        parts.append(f"<h2>earlier versions ({len(item.versions)}, oldest first)</h2>\n")
        for number, version in enumerate(item.versions):
            parts.append(
                f"<h3>version {number} (edited {for_html(version['edit_date'] or '-')}, "
                f"replaced when seen at {for_html(version['replaced_at'])})</h3>\n"
            )
            parts.append(_text_block(version["text"], "text version"))
    if item.media:
        parts.append("<h2>media</h2>\n")
        for media in item.media:
            name = media_names.get(media["sha256"] or "")
            if name and (media["mime_type"] or "").startswith("image/"):
                parts.append(f'<p><img src="../{for_html(name)}" alt="image {media["position"]}"></p>\n')
            elif name:
                parts.append(f'<p>file: <a href="../{for_html(name)}">{for_html(name)}</a></p>\n')
            else:
                parts.append(f"<p>file not archived: {for_html(media['missing_reason'] or 'unknown')}</p>\n")
            if media["sha256"]:
                parts.append(f"<p>sha256: <code>{for_html(media['sha256'])}</code></p>\n")
            if media["ocr_text"]:
                parts.append("<h3>text read from the image (OCR)</h3>\n")
                parts.append(_text_block(media["ocr_text"]))
    if item.alerts:
        parts.append("<h2>alerts</h2>\n<ul>\n")
        for alert in item.alerts:
            matches = ", ".join(
                f"{m.get('rule')}: {m.get('term')}"
                for m in alert["body"].get("matches", [])
                if isinstance(m, dict)
            )
            parts.append(
                f'<li dir="auto">#{alert["id"]} {for_html(alert["severity"] or "")} '
                f"{for_html(alert['created_at'])}: {for_html(matches)}</li>\n"
            )
        parts.append("</ul>\n")
    parts.append("<h2>chain records (proof)</h2>\n<table>\n")
    parts.append("<tr><th>seq</th><th>kind</th><th>item</th><th>recorded</th><th>by</th><th>hash</th></tr>\n")
    for record in item.records:
        cells = (
            record["seq"],
            record["kind"],
            record["item"],
            record["recorded_at"],
            record["account"],
            f"block {record['block']}: {record['hash']}" if "block" in record else record["hash"],
        )
        parts.append("<tr>" + "".join(f"<td>{for_html(str(c))}</td>" for c in cells) + "</tr>\n")
    parts.append("</table>\n</body>\n</html>\n")
    return "".join(parts)


def index_head(manifest: dict[str, Any]) -> str:
    """The start of the bundle's first page: what it holds; a line per post follows."""
    parts = [_HEAD.format(title="evidence bundle")]
    parts.append("<h1>evidence bundle</h1>\n<pre>")
    summary = {k: manifest[k] for k in ("tool", "tool_version", "created_at", "selection")}
    parts.append(for_html(json.dumps(summary, ensure_ascii=False, indent=2)))
    parts.append(
        "</pre>\n<p>Check every file with: <code>sha256sum -c SHA256SUMS</code> (see README.txt).</p>\n<ul>\n"
    )
    return "".join(parts)


def index_line(page: str, date: str, title: str) -> str:
    return f'<li dir="auto"><a href="{for_html(page)}">{for_html(date)} {for_html(title)}</a></li>\n'


INDEX_TAIL = "</ul>\n</body>\n</html>\n"
