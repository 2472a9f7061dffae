"""A channel's page: posts and alerts per day (an SVG chart drawn here), top hashtags, and the
collection status the archive keeps for it."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from monitor.core.text import normalize
from monitor.web.charts import bar_chart
from monitor.web.desk import DESK, Desk
from monitor.web.render import render

DAYS = 90
HASHTAG_POSTS = 1000  # hashtags are counted over the channel's latest posts
HASHTAG = re.compile(r"#(\w+)")


async def channel_page(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    channel_id = int(request.match_info["channel_id"])
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    data = await desk.reads.get(
        ("channel", channel_id, start), lambda: _read_channel(desk, channel_id, start)
    )
    if data is None:
        raise web.HTTPNotFound(text=f"no archived channel {channel_id}")
    return render(request, "channel.html", **data)


async def _read_channel(desk: Desk, channel_id: int, start: datetime) -> dict[str, Any] | None:
    """What the channel page shows (shared while the archive is unchanged), or None: no such channel."""
    store = desk.archive.desk
    row = await store.channel(channel_id)
    if row is None:
        return None
    posts = {
        datetime.fromtimestamp(day * 86400, UTC).date().isoformat(): n
        for day, n in await store.posts_per_day(channel_id, int(start.timestamp()))
    }
    alerts = dict(await store.alerts_per_day(channel_id, start.isoformat()))
    days = [(start + timedelta(days=i)).date().isoformat() for i in range(DAYS)]
    tags: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for text in await store.recent_texts(channel_id, HASHTAG_POSTS):
        for tag in HASHTAG.findall(text):
            key = normalize(tag)  # one count for #الانتقام and #الانتِقام
            tags[key] += 1
            shown.setdefault(key, tag)
    total_posts, total_alerts = await store.channel_counts(channel_id)
    status = {k: row[k] for k in row.keys() if k != "access_hash"}  # noqa: SIM118 (a Row iterates values)
    return {
        "channel": status,
        "chart": bar_chart(
            days, [("posts", [posts.get(d, 0) for d in days]), ("alerts", [alerts.get(d, 0) for d in days])]
        ),
        "hashtags": [(shown[k], n) for k, n in tags.most_common(20)],
        "total_posts": total_posts,
        "total_alerts": total_alerts,
        "days": DAYS,
    }
