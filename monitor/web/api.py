"""The JSON API under ``/api/``, for the analysts' own scripts: the CLI's JSON shapes.

- ``GET /api/search?q=…`` (``channel``, ``since``, ``until``, ``image``, ``alert``, ``sort``,
  ``limit``, ``offset``): ``tgmonitor search --json``'s list.
- ``GET /api/alerts`` (``severity``, ``channel``, ``category``, ``state``, ``since``, ``after``,
  ``before``, ``limit``): ``tgmonitor alerts --json``'s list, newest first.
- ``GET /api/posts/<channel_id>/<message_id>``: the post (the search row's keys and more).
- ``GET /api/stats``: ``tgmonitor stats --json``.
- ``POST /api/alerts/<id>/decide`` (``action`` ack|tp|fp, ``note``, ``change``): a decision.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alerts.decisions import decide as record_decision
from alerts.decisions import describe
from monitor.core.errors import MonitorError
from monitor.core.escape import dumps_json
from monitor.web.desk import DESK, Desk
from monitor.web.security import caller
from monitor.web.views import (
    alert_filters,
    alert_rows,
    number,
    post_data,
    run_search,
    search_params,
    stats_data,
)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps_json)


async def search(request: web.Request) -> web.Response:
    params = search_params(request.query)
    if not params["q"]:
        raise MonitorError("give a query: /api/search?q=WORDS")
    hits = await run_search(request.app[DESK], params)
    return _json([hit.to_json() for hit in hits])


async def alerts(request: web.Request) -> web.Response:
    limit = number(request.query, "limit", 50, low=1, high=1000) or 50
    return _json(await alert_rows(request.app[DESK], alert_filters(request.query), limit))


async def post(request: web.Request) -> web.Response:
    data = await post_data(
        request.app[DESK], int(request.match_info["channel_id"]), int(request.match_info["message_id"])
    )
    return _json({k: v for k, v in data.items() if k != "_post_id"})  # data is shared: not popped


async def stats(request: web.Request) -> web.Response:
    return _json(await stats_data(request.app[DESK]))


async def decide(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise MonitorError('send a JSON object: {"action": "ack"|"tp"|"fp", "note": "..."}')
    else:
        body = dict(await request.post())
    outcome = await record_decision(
        desk.archive,
        int(request.match_info["alert_id"]),
        str(body.get("action", "")),
        actor=caller(request).user or "unknown",
        desk="web",
        note=str(body["note"]) if body.get("note") else None,
        replace=body.get("change") in (True, "1", "true"),
    )
    d = outcome.decision
    return _json(
        {
            "alert_id": d.alert_id,
            "recorded": outcome.recorded,
            "decision": {
                "action": d.value,
                "by": d.actor,
                "desk": d.desk,
                "note": d.note,
                "at": d.decided_at,
            },
            "said": describe(d),
        }
    )
