"""``tgmonitor export misp``: alerts as MISP events (the MISP core format, as its REST API returns
a search: ``{"response": [{"Event": {...}}, ...]}``), for import into a MISP instance.

One event per post alert: the post's link, channel, text and hashtags, the SHA-256 of its images
as attributes; the rule, its category, the severity and the hashtags as tags. Event and
attribute UUIDs are derived from the archive's alert id and content (UUID 5), so exporting the
same alert again gives the same event and MISP updates it instead of duplicating it.

Written by hand rather than through PyMISP: the format is a few plain JSON objects, and PyMISP
would bring an HTTP client and its dependencies into the tool for that; the tests load every
event with PyMISP to hold the output to what MISP reads.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import IO, Any

from handlers.post_export import hashtags
from monitor.core.store import Archive
from monitor.core.store.evidence import Selection

NAMESPACE = uuid.UUID("6f0c1b7e-3b1a-5d55-9f5e-7467606d6f6e")
"""tgmonitor's UUID 5 namespace for MISP events and attributes."""

THREAT_LEVEL = {"high": "1", "medium": "2", "low": "3"}
"""MISP's threat_level_id: 1 high, 2 medium, 3 low, 4 undefined."""


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _tag(name: str) -> dict[str, str]:
    return {"name": name}


def _attribute(event_uuid: str, kind: str, category: str, value: str, comment: str = "") -> dict[str, Any]:
    return {
        "uuid": _uuid(event_uuid, kind, value),
        "type": kind,
        "category": category,
        "value": value,
        "comment": comment,
        "to_ids": False,
        "distribution": "5",  # inherit the event's
    }


def alert_event(alert: dict[str, Any], archive_name: str) -> dict[str, Any]:
    """One post alert (:meth:`EvidenceStore.alert_rows`) as a MISP event object."""
    body = alert["body"]
    created = datetime.fromisoformat(alert["created_at"].replace("Z", "+00:00"))
    event_uuid = _uuid(archive_name, "alert", alert["id"])
    matches = [m for m in body.get("matches") or [] if isinstance(m, dict)]
    rules = list(dict.fromkeys(str(m["rule"]) for m in matches if m.get("rule")))
    channel = body.get("channel") or str(body.get("channel_id") or "")
    text = body.get("text") or ""
    tags = [_tag("tlp:amber"), _tag("tgmonitor:alert")]
    tags += [_tag(f'tgmonitor:rule="{rule}"') for rule in rules]
    tags += [
        _tag(f'tgmonitor:category="{c}"')
        for c in dict.fromkeys(str(m.get("category")) for m in matches if m.get("category"))
    ]
    countdown = body.get("countdown")
    if isinstance(countdown, dict) and countdown.get("value") is not None:
        tags.append(_tag(f'tgmonitor:countdown="{countdown.get("value")} {countdown.get("unit")}"'))
    if alert["severity"]:
        tags.append(_tag(f'tgmonitor:severity="{alert["severity"]}"'))
    tags += [_tag(f'tgmonitor:hashtag="{h}"') for h in hashtags(text)]
    attributes = []
    if body.get("url"):
        attributes.append(
            _attribute(event_uuid, "link", "External analysis", body["url"], "the post on Telegram")
        )
    if channel:
        attributes.append(_attribute(event_uuid, "text", "Other", channel, "channel"))
    if text:
        attributes.append(_attribute(event_uuid, "text", "Other", text, "post text"))
    for tag in hashtags(text):
        attributes.append(_attribute(event_uuid, "text", "Other", tag, "hashtag"))
    for sha256 in alert.get("images", []):
        attributes.append(_attribute(event_uuid, "sha256", "External analysis", sha256, "image of the post"))
    for match in matches:
        if match.get("term"):
            attributes.append(
                _attribute(
                    event_uuid,
                    "text",
                    "Other",
                    str(match["term"]),
                    f"matched term of rule {match.get('rule')}",
                )
            )
    return {
        "Event": {
            "uuid": event_uuid,
            "info": f"tgmonitor alert {alert['id']}: {', '.join(rules) or alert['kind']} in {channel}",
            "date": created.date().isoformat(),
            "timestamp": str(int(created.timestamp())),
            "threat_level_id": THREAT_LEVEL.get(alert["severity"] or "", "4"),
            "analysis": "0",
            "distribution": "0",
            "published": False,
            "Attribute": attributes,
            "Tag": tags,
        }
    }


async def export_misp(archive: Archive, selection: Selection, out: IO[str]) -> int:
    """Write the selected post alerts as MISP events to ``out``; returns how many."""
    alerts = await archive.evidence.alert_rows(selection)
    events = [alert_event(alert, archive.path.name) for alert in alerts]
    json.dump({"response": events}, out, ensure_ascii=False, indent=1)
    out.write("\n")
    return len(events)
