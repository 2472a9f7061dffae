"""The search page: the archive's Arabic-aware search with its filters, highlighted snippets,
pages, and the results as CSV or JSON (the CLI's ``search --csv``/``--json`` columns)."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from monitor.core.escape import dumps_json, for_csv
from monitor.web.desk import DESK, Desk
from monitor.web.render import render
from monitor.web.views import MAX_OFFSET, run_search, search_params

FIELDS = ["channel", "channel_id", "message_id", "date", "text", "ocr_text", "url", "snippet"]
EXPORT_LIMIT = 10_000  # the CLI's own --limit ceiling


async def search_page(request: web.Request) -> web.StreamResponse:
    desk: Desk = request.app[DESK]
    params = search_params(request.query)
    form = {k: request.query.get(k, "") for k in ("q", "channel", "since", "until", "sort", "image", "alert")}
    wanted = request.query.get("format")
    if wanted in ("csv", "json"):
        params.update(limit=EXPORT_LIMIT, offset=0)
        rows = [hit.to_json() for hit in await run_search(desk, params)]
        name = "tgmonitor-search." + wanted
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if wanted == "json":
            return web.Response(
                text=dumps_json(rows, indent=2), content_type="application/json", headers=headers
            )
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({key: for_csv(row.get(key)) for key in FIELDS} for row in rows)
        return web.Response(text=out.getvalue(), content_type="text/csv", headers=headers)
    hits = await run_search(desk, params, extra=1)
    more = len(hits) > params["limit"]
    hits = hits[: params["limit"]]
    page = params["offset"] // params["limit"] + 1
    return render(
        request,
        "search.html",
        form=form,
        hits=hits,
        page=page,
        next_page=page + 1 if more and params["offset"] + params["limit"] <= MAX_OFFSET else None,
        searched=bool(params["q"]),
    )
