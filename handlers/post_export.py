"""``tgmonitor export posts``: one record per post with its OCR text and alerts, as NDJSON or CSV.

The columns (README, "Exports") are :data:`COLUMNS`; NDJSON objects carry the same keys, with
``alerts`` a list of objects instead of the CSV's flattened ``alert_*`` columns. CSV cells go
through :func:`~monitor.core.escape.for_csv` (no formula, no control character reaches a
spreadsheet); NDJSON through :func:`~monitor.core.escape.dumps_json`. Posts stream a page at a
time, oldest first.
"""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator
from typing import IO, Any

from monitor.core.detection import severity_rank
from monitor.core.escape import dumps_json, for_csv
from monitor.core.store import Archive, PostRecord
from monitor.core.store.evidence import Selection
from monitor.core.times import iso

COLUMNS = [
    "id", "channel", "channel_id", "message_id", "url", "date", "text", "ocr_text", "hashtags", "views",
    "forwards", "fwd_from_id", "fwd_from_name", "reply_to", "edit_date", "author", "deleted", "source",
    "alert_count", "alert_severity", "alert_rules",
]  # fmt: skip
"""The CSV header, in order (the NDJSON keys are the same, ``alerts`` instead of ``alert_*``)."""

HASHTAG = re.compile(r"#[\w\u0600-\u06FF]+")


def hashtags(text: str) -> list[str]:
    """The hashtags of a text, in order, once each (Arabic ones too)."""
    return list(dict.fromkeys(HASHTAG.findall(text or "")))


def post_row(post: PostRecord, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """One post as an NDJSON object."""
    return {
        "id": post.id,
        "channel": post.channel_username or post.channel_title,
        "channel_id": post.channel_id,
        "message_id": post.message_id,
        "url": post.url,
        "date": iso(post.date),
        "text": post.text,
        "ocr_text": post.ocr_text,
        "hashtags": hashtags(f"{post.text}\n{post.ocr_text or ''}"),
        "views": post.views,
        "forwards": post.forwards,
        "fwd_from_id": post.fwd_from_id,
        "fwd_from_name": post.fwd_from_name,
        "reply_to": post.reply_to,
        "edit_date": iso(post.edit_date),
        "author": post.author,
        "deleted": post.deleted,
        "source": post.source,
        "alerts": [
            {
                "id": a["id"],
                "severity": a["severity"],
                "created_at": a["created_at"],
                "rules": _rules(a),
            }
            for a in alerts
        ],
    }


def _rules(alert: dict[str, Any]) -> list[str]:
    matches = alert["body"].get("matches") or []
    return list(dict.fromkeys(str(m.get("rule")) for m in matches if isinstance(m, dict) and m.get("rule")))


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """An NDJSON object flattened to :data:`COLUMNS`, every cell through ``for_csv``."""
    alerts = row["alerts"]
    severities = [a["severity"] for a in alerts if a["severity"]]
    flat = {key: row[key] for key in COLUMNS if key in row}
    flat["hashtags"] = " ".join(row["hashtags"])
    flat["deleted"] = int(row["deleted"])
    flat["alert_count"] = len(alerts)
    flat["alert_severity"] = max(severities, key=severity_rank) if severities else None
    flat["alert_rules"] = ";".join(dict.fromkeys(r for a in alerts for r in a["rules"]))
    return {key: for_csv(flat.get(key)) for key in COLUMNS}


async def post_rows(archive: Archive, selection: Selection) -> AsyncIterator[dict[str, Any]]:
    async for page in archive.evidence.posts(selection):
        alerts = await archive.evidence.alerts_of([p.id for p in page])
        for post in page:
            yield post_row(post, alerts.get(post.id, []))


async def export_posts(archive: Archive, selection: Selection, out: IO[str], fmt: str) -> int:
    """Write the selected posts to ``out`` as ``ndjson`` or ``csv``; returns how many."""
    count = 0
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
    async for row in post_rows(archive, selection):
        if writer is not None:
            writer.writerow(csv_row(row))
        else:
            out.write(dumps_json(row) + "\n")
        count += 1
    return count
