"""What the pages and the API both read: filters taken from a query string, and the data of an
alert list, a search, a post and the stats, in the CLI's JSON shapes (keys added, never renamed)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from alerts.listing import STATES, list_alerts
from monitor.core.errors import MonitorError
from monitor.core.store import SearchHit
from monitor.core.times import iso
from monitor.web.desk import Desk

SEVERITIES = ("low", "medium", "high")
PAGE = 50  # alerts or hits per page
MAX_OFFSET = 10_000


def when(value: str | None, *, end_of_day: bool = False) -> datetime | None:
    """A date filter (``2021-11-02``, ISO 8601, ``7d``): the CLI's own parser, our error."""
    if not value:
        return None
    import click

    from monitor.cli_context import parse_when

    try:
        return parse_when(value, end_of_day=end_of_day)
    except click.BadParameter as exc:
        raise MonitorError(exc.message) from None


def number(
    query: MultiMapping[str], key: str, default: int | None = None, *, low: int = 0, high: int = 10**12
) -> int | None:
    value = query.get(key)
    if value in (None, ""):
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise MonitorError(f"{key} must be a whole number, got {value[:40]!r}") from None
    if not low <= parsed <= high:
        raise MonitorError(f"{key} must be between {low} and {high}, got {parsed}")
    return parsed


def flag(query: MultiMapping[str], key: str) -> bool:
    return query.get(key, "") in ("1", "on", "true", "yes")


def alert_filters(query: MultiMapping[str]) -> dict[str, Any]:
    """The alert filters a query string gives (``severity``, ``channel``, ``category``, ``state``,
    ``since``, ``after``, ``before``); bad values are one sentence."""
    severity = query.get("severity") or None
    if severity is not None and severity not in SEVERITIES:
        raise MonitorError(f"severity must be one of {', '.join(SEVERITIES)}")
    state = query.get("state") or None
    if state is not None and state not in STATES:
        raise MonitorError(f"state must be one of {', '.join(STATES)}")
    return {
        "severity": severity,
        "channel": query.get("channel") or None,
        "category": query.get("category") or None,
        "state": state,
        "since": when(query.get("since")),
        "after_id": number(query, "after"),
        "before_id": number(query, "before"),
    }


def _key(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(values.items()))


async def alert_rows(desk: Desk, filters: dict[str, Any], limit: int = PAGE) -> list[dict[str, Any]]:
    """``tgmonitor alerts --json``'s rows for these filters (shared while the archive is unchanged)."""
    return await desk.reads.get(
        ("alerts", _key(filters), limit), lambda: list_alerts(desk.archive, limit=limit, **filters)
    )


def search_params(query: MultiMapping[str]) -> dict[str, Any]:
    """The search filters of a query string: ``q``, ``channel``, ``since``, ``until``, ``image``,
    ``alert``, ``sort``, ``page``/``offset``, ``limit``."""
    sort = query.get("sort") or "date"
    if sort not in ("date", "relevance"):
        raise MonitorError("sort must be date or relevance")
    limit = number(query, "limit", PAGE, low=1, high=1000) or PAGE
    page = number(query, "page", 1, low=1, high=MAX_OFFSET) or 1
    offset = number(query, "offset", (page - 1) * limit, low=0, high=MAX_OFFSET) or 0
    return {
        "q": (query.get("q") or "").strip(),
        "channel": query.get("channel") or None,
        "since": when(query.get("since")),
        "until": when(query.get("until"), end_of_day=True),
        "with_image": flag(query, "image"),
        "with_alert": flag(query, "alert"),
        "sort": sort,
        "limit": limit,
        "offset": offset,
    }


async def run_search(desk: Desk, params: dict[str, Any], *, extra: int = 0) -> list[SearchHit]:
    """The archive's search (its time budget stops only its own statement, so requests share the
    desk's connection); ``extra`` more hits than the limit tell whether a next page exists."""
    if not params["q"]:
        return []

    async def search() -> list[SearchHit]:
        return await desk.archive.search(
            params["q"],
            channel=params["channel"],
            since=params["since"],
            until=params["until"],
            limit=params["limit"] + extra,
            sort=params["sort"],
            with_image=params["with_image"],
            with_alert=params["with_alert"],
            offset=params["offset"],
        )

    return await desk.reads.get(("search", _key(params), extra), search)


async def post_data(desk: Desk, channel_id: int, message_id: int) -> dict[str, Any]:
    """A post as the desk shows it: the search row's keys plus views, forwards, forwarded-from,
    edits, deletion, images with their OCR text, alerts and the raw message (shared while the
    archive is unchanged: callers copy before changing it)."""
    return await desk.reads.get(
        ("post", channel_id, message_id), lambda: _read_post(desk, channel_id, message_id)
    )


async def _read_post(desk: Desk, channel_id: int, message_id: int) -> dict[str, Any]:
    archive = desk.archive
    record = await archive.post(channel_id, message_id)
    if record is None:
        raise web.HTTPNotFound(text=f"no archived post {message_id} in channel {channel_id}")
    versions = await archive.versions(record.id)
    media = await archive.post_media(record.id)
    alert_ids = await archive.desk.post_alert_ids(record.id)
    raw = await archive.desk.raw_message(record.id)
    data: dict[str, Any] = {
        "channel": record.channel_username or record.channel_title,
        "channel_title": record.channel_title,
        "channel_id": record.channel_id,
        "message_id": record.message_id,
        "date": iso(record.date),
        "text": record.text,
        "ocr_text": record.ocr_text,
        "url": record.url,
        "views": record.views,
        "forwards": record.forwards,
        "forwarded_from": (
            {"id": record.fwd_from_id, "name": record.fwd_from_name}
            if record.fwd_from_id or record.fwd_from_name
            else None
        ),
        "reply_to": record.reply_to,
        "edit_date": iso(record.edit_date) if record.edit_date else None,
        "deleted": record.deleted,
        "author": record.author,
        "source": record.source,
        "versions": [
            {"text": v["text"], "edit_date": v["edit_date"], "replaced_at": v["replaced_at"]}
            for v in versions
        ],
        "media": [
            {
                "position": m["position"],
                "kind": m["kind"],
                "sha256": m["sha256"],
                "mime_type": m["mime_type"],
                "missing_reason": m["missing_reason"],
                "ocr_status": m["ocr_status"],
                "ocr_text": m["ocr_text"],
                "phash": m["phash"],
                "url": f"/media/{m['sha256']}" if m["sha256"] and m["path"] else None,
            }
            for m in media
        ],
        "alerts": await list_alerts(archive, ids=alert_ids, limit=max(1, len(alert_ids)))
        if alert_ids
        else [],
        "raw": json.loads(raw) if raw else None,
        "_post_id": record.id,
    }
    return data


async def similar_images(
    desk: Desk, phash: str, *, exclude: set[str], limit: int = 10
) -> list[dict[str, Any]]:
    """Archived images within the ``similar`` command's distance of ``phash``, with their posts."""
    from ocr import SIMILAR_DISTANCE  # why: the OCR package (~0.8 s) loads on first use

    found = [
        (d, sha)
        for d, sha in await desk.near_images(phash, limit + len(exclude), SIMILAR_DISTANCE)
        if sha not in exclude
    ]
    found = found[:limit]
    rows = await desk.archive.desk.image_posts([sha for _, sha in found])
    posts: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        posts.setdefault(row["sha256"], []).append(
            {
                "channel": row["username"] or row["title"] or str(row["channel_id"]),
                "channel_id": row["channel_id"],
                "message_id": row["message_id"],
                "date": row["date"],
            }
        )
    return [{"sha256": sha, "distance": d, "posts": posts.get(sha, [])} for d, sha in found]


STATS_FOR_S = 10.0
"""``/api/stats`` answers from a copy at most this old: its counts read every row of the archive's
largest tables (hundreds of ms at a million posts), and a script polling it must not make the
desk slow for the analysts."""


async def stats_data(desk: Desk) -> dict[str, Any]:
    """``tgmonitor stats --json`` (at most :data:`STATS_FOR_S` old)."""
    at, data = desk.stats_cache
    if data is None or time.monotonic() - at > STATS_FOR_S:
        data = await desk.archive.stats()
        daemon = await desk.archive.get_meta("daemon:health")
        data["daemon"] = json.loads(daemon) if daemon else None
        desk.stats_cache = (time.monotonic(), data)
    return data
