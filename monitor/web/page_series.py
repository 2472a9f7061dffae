"""Countdowns (each active series, its deadline, value against date) and campaigns (the same
poster or text across channels, on a timeline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from alerts.reminders import countdown_series
from monitor.core.times import iso
from monitor.web.charts import line_chart
from monitor.web.desk import DESK, Desk
from monitor.web.render import render

RECENTLY_PAST = timedelta(days=7)  # a series whose deadline passed this recently is still active
PAST_SHOWN = 20  # series whose deadline has passed, latest first, below the active ones


async def countdowns_page(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    now = datetime.now(UTC)
    every = await countdown_series(desk.archive, datetime.min.replace(tzinfo=UTC))
    active = sorted((s for s in every if s.deadline >= now - RECENTLY_PAST), key=lambda s: s.deadline)
    past = sorted((s for s in every if s.deadline < now - RECENTLY_PAST), key=lambda s: s.deadline)
    series = active + past[::-1][:PAST_SHOWN]
    ids = {p["post_id"] for s in series for p in s.points}
    posts = await desk.archive.posts_by_ids(sorted(ids))
    shown = []
    for s in series:
        latest = posts.get(s.latest_post_id)
        shown.append(
            {
                "deadline": iso(s.deadline),
                "passed": s.deadline < now,
                "active": s.deadline >= now - RECENTLY_PAST,
                "channel_id": s.channel_id,
                "channel": (latest.channel_username or latest.channel_title) if latest else str(s.channel_id),
                "points": [
                    {
                        "date": iso(p["date"]),
                        "value": p["value"],
                        "unit": p["unit"],
                        "message_id": posts[p["post_id"]].message_id if p["post_id"] in posts else None,
                    }
                    for p in s.points
                ],
                "chart": line_chart([(p["date"], p["value"]) for p in s.points], s.deadline),
            }
        )
    return render(
        request,
        "countdowns.html",
        active=[s for s in shown if s["active"]],
        past=[s for s in shown if not s["active"]],
    )


async def campaigns_page(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    campaigns = await desk.archive.desk.campaigns()
    members = await desk.archive.desk.campaign_members([c["id"] for c in campaigns])
    by_campaign: dict[int, list[dict]] = {}
    for m in members:
        by_campaign.setdefault(m[0], []).append(
            {
                "alert_id": m[1],
                "channel_id": m[2],
                "message_id": m[3],
                "date": m[4],
                "channel": m[5] or m[6] or str(m[2]),
                "severity": m[7],
            }
        )
    shown = []
    for c in campaigns:
        items = by_campaign.get(c["id"], [])
        first = datetime.fromisoformat(c["first_seen"])
        last = datetime.fromisoformat(c["last_seen"])
        span = max(1.0, (last - first).total_seconds())
        for item in items:  # where on the campaign's timeline (0-100 %) each channel posted
            item["at"] = round(100 * (datetime.fromisoformat(item["date"]) - first).total_seconds() / span, 1)
        shown.append(
            {
                "id": c["id"],
                "first_seen": c["first_seen"],
                "last_seen": c["last_seen"],
                "channels": c["channels"],
                "alert_id": c["alert_id"],
                "members": items,
            }
        )
    return render(request, "campaigns.html", campaigns=shown)
