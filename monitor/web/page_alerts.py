"""The alerts queue (the home page): filters, cards, decisions, and the cards that arrived since."""

from __future__ import annotations

from aiohttp import web

from alerts.decisions import decide, describe
from monitor.web.desk import DESK, Desk
from monitor.web.render import render
from monitor.web.security import caller, safe_next
from monitor.web.views import PAGE, alert_filters, alert_rows

FILTER_KEYS = ("severity", "channel", "category", "state", "since")


async def alerts_page(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    filters = alert_filters(request.query)
    rows = await alert_rows(desk, filters)
    channels = await desk.reads.get("channel titles", desk.archive.desk.alert_channel_titles)
    params = {k: request.query.get(k, "") for k in FILTER_KEYS}
    return render(
        request,
        "alerts.html",
        rows=rows,
        params=params,
        channels=channels,
        categories=desk.categories(),
        newest=max((r["alert_id"] for r in rows), default=filters["after_id"] or 0),
        older=rows[-1]["alert_id"] if len(rows) == PAGE else None,
        flash=_take_flash(request),
    )


async def alert_cards(request: web.Request) -> web.Response:
    """The cards of alerts newer than ``after`` (the queue's poll), as HTML made by the same template."""
    desk: Desk = request.app[DESK]
    filters = alert_filters(request.query)
    filters["before_id"] = None
    rows = await alert_rows(desk, filters)
    response = render(request, "cards.html", rows=rows)
    if rows:
        response.headers["X-Newest-Alert"] = str(max(r["alert_id"] for r in rows))
    return response


async def decide_alert(request: web.Request) -> web.StreamResponse:
    """Acknowledge, or mark a true/false positive with a note: recorded once, with who and when."""
    desk: Desk = request.app[DESK]
    form = await request.post()
    alert_id = int(request.match_info["alert_id"])
    action = str(form.get("action", ""))
    note = str(form.get("note", "")) or None
    outcome = await decide(
        desk.archive,
        alert_id,
        action,
        actor=caller(request).user or "unknown",
        desk="web",
        note=note,
        replace=form.get("change") == "1",
    )
    said = describe(outcome.decision)
    message = f"alert {alert_id}: {said}" if outcome.recorded else f"alert {alert_id} was already: {said}"
    session = caller(request).session
    if session is not None:
        session.flash = message
    back = safe_next(str(form.get("next", "/")))
    raise web.HTTPSeeOther(f"{back}#alert-{alert_id}")


def _take_flash(request: web.Request) -> str | None:
    session = caller(request).session
    if session is None or not session.flash:
        return None
    message, session.flash = session.flash, None
    return message
