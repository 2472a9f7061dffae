"""The bot desk's commands: each takes the words after it and returns the answer to send.

No Telegram here (the desk, :mod:`monitor.bot.desk`, reads messages and sends answers): each
command is the archive's own code called as the CLI calls it (search, a post, the alerts
listing, countdown series, stats) and its answer formatted by :mod:`monitor.bot.answers`. A
problem with the input (an empty or oversized query, a post that is not archived, a number that
is not one) is a short sentence back; nothing here writes to the archive.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts import format as fmt
from alerts.buttons import page_data
from alerts.listing import list_alerts
from alerts.reminders import countdown_series
from monitor.bot import answers as say
from monitor.bot.answers import Answer, e, link, when
from monitor.bot.posters import PosterReader, detect_poster, look_alikes
from monitor.core.errors import MonitorError
from monitor.core.store import SEARCH_BUDGET_S, Archive
from monitor.core.times import now_utc

MAX_PAGES = 20  # a search is paged through its first MAX_PAGES pages (then: narrow it)
ALERTS_DEFAULT, ALERTS_MAX = 5, 20
QUERY_MAX = 500  # characters: a chat search is a few words (the archive itself takes 10,000)
_POST_REF = re.compile(
    r"(?:https?://)?(?:t\.me/|telegram\.me/)?(?:(c)/(\d{1,20})|@?([A-Za-z][A-Za-z0-9_]{3,31}))/(\d{1,19})/?"
)


@dataclass
class Photo:
    """The photo a ``/similar`` came with: its bytes, or why there are none."""

    data: bytes | None
    problem: str | None = None


class Searches:
    """Searches in progress, by a short token (a button carries 64 bytes: never the query itself).

    Kept in memory, the latest :attr:`size`: an older page button says the search has expired.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def add(self, query: str, chat_id: int) -> str:
        token = secrets.token_hex(4)
        self._items[token] = (query, chat_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return token

    def get(self, token: str, chat_id: int) -> str | None:
        """The query of ``token``, only in the chat it was asked in."""
        item = self._items.get(token)
        return item[0] if item is not None and item[1] == chat_id else None


class Commands:
    """The commands, over one archive. ``detector`` is read on each use (a reload replaces it)."""

    def __init__(
        self,
        archive: Archive,
        *,
        detector: Callable[[], Any],
        reader: PosterReader,
        page_size: int = 5,
    ) -> None:
        self.archive = archive
        self.detector = detector
        self.reader = reader
        self.page_size = page_size
        self.searches = Searches()

    # --- /search ---------------------------------------------------------------------------

    async def search(self, args: str, chat_id: int) -> Answer:
        query = args.strip()
        if not query:
            return Answer("usage: /search QUERY, e.g. <code>/search الانتقام قادم</code>")
        if len(query) > QUERY_MAX:
            return Answer(
                f"search refused: the query is {len(query):,} characters long: at most {QUERY_MAX}; "
                "search for its key words"
            )
        token = self.searches.add(query, chat_id)
        return await self.search_page(query, token, 0)

    async def search_page(self, query: str, token: str, page: int) -> Answer:
        """One page of a search; its buttons turn the page (the archive is asked again: it may grow)."""
        page = max(0, min(page, MAX_PAGES - 1))
        size = self.page_size
        try:
            hits = await self.archive.search(query, limit=(page + 1) * size + 1, time_budget=SEARCH_BUDGET_S)
        except MonitorError as exc:  # too long, too many terms, over the time budget
            return Answer(f"search refused: {e(exc)}")
        more = len(hits) > (page + 1) * size and page + 1 < MAX_PAGES
        row = []
        if page > 0:
            row.append(("◀ previous", page_data(token, page - 1)))
        if more:
            row.append(("next ▶", page_data(token, page + 1)))
        return Answer(say.search_page(query, hits, page, size, more), [row] if row else [])

    # --- /post -----------------------------------------------------------------------------

    async def post(self, args: str) -> list[Answer]:
        ref = args.strip()
        match = _POST_REF.fullmatch(ref)
        if not match:
            return [Answer("usage: /post @channel/123 (or a t.me link to the post)")]
        channel_ref: str | int = int(match.group(2)) if match.group(1) else match.group(3)
        message_id = int(match.group(4))
        channel = await self.archive.find_channel(channel_ref)
        post = await self.archive.post(channel["id"], message_id) if channel is not None else None
        if post is None:
            return [Answer(f"no archived post {e(say.short(ref, 100))}: /search finds posts by their words")]
        name = (
            (post.channel_username and "@" + post.channel_username)
            or post.channel_title
            or str(post.channel_id)
        )
        head = f"📄 {link(post.url, name)} · {e(when(post.date))}" + (
            " <i>(deleted)</i>" if post.deleted else ""
        )
        lines = [head]
        if post.text:
            lines.append(say.quote(post.text, 1800))
        media = await self.archive.post_media(post.id)
        readings = [m["ocr_text"] for m in media if m["ocr_text"]]
        if readings:
            lines.append("🖼 Poster text (OCR):\n" + say.quote("\n".join(readings), 900))
        alerts = await self.archive.alerts.for_post(post.id, limit=5)
        decided = await self.archive.decisions.current_for([r["id"] for r in alerts]) if alerts else {}
        for row in alerts:
            body = json.loads(row["body"])
            terms = ", ".join(t for t, _ in fmt.terms_summary(body.get("matches") or [], 3))
            state = "; ".join(say.decision_lines(decided.get(row["id"], []))) or "new"
            lines.append(f"🚨 alert #{row['id']} {e(row['severity'] or '')} {e(terms)} · {state}")
        if not alerts:
            lines.append("no alert on this post")
        out = []
        for row in media:
            record = await self.archive.media(row["sha256"]) if row["sha256"] else None
            if record is not None and record.is_image and record.path.is_file():
                out.append(Answer(say.cut(head, say.CAPTION_LIMIT), photo=record.path))
                break
        out.append(Answer(say.cut("\n".join(lines))))
        return out

    # --- /alerts, /countdowns, /stats, /health ---------------------------------------------

    async def alerts(self, args: str) -> Answer:
        text = args.strip()
        count = ALERTS_DEFAULT
        if text:
            digits = text.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))
            if not digits.isdigit() or not 1 <= int(digits) <= ALERTS_MAX:
                return Answer(f"usage: /alerts [N], N from 1 to {ALERTS_MAX}")
            count = int(digits)
        rows = await list_alerts(self.archive, limit=count)
        if not rows:
            return Answer("no alert has been raised yet")
        lines = [f"<b>the last {len(rows)} alerts</b>"] + [say.alert_line(r) for r in rows]
        return Answer(say.cut("\n".join(lines)))

    async def countdowns(self) -> Answer:
        now = now_utc()
        series = await countdown_series(self.archive, now)
        if not series:
            return Answer("no countdown is running")
        channels = {row["id"]: row for row in await self.archive.channels()}
        lines = [f"<b>{len(series)} countdowns running</b>"]
        for item in sorted(series, key=lambda s: s.deadline)[:30]:
            chan = channels.get(item.channel_id)
            name = (chan and ((chan["username"] and "@" + chan["username"]) or chan["title"])) or str(
                item.channel_id
            )
            latest = await self.archive.post_by_id(item.latest_post_id)
            left = _left(item.deadline, now)
            point = item.points[-1] if item.points else {}
            step = f"{point.get('value')} {point.get('unit')}(s) left when posted" if point else ""
            lines.append(
                f"⏳ {link(latest.url if latest else None, name)} · deadline {e(when(item.deadline))} "
                f"({e(left)}) · {e(step)} · {len(item.points)} posts"
            )
        return Answer(say.cut("\n".join(lines)))

    async def stats(self) -> Answer:
        data = await self.archive.stats()
        lines = ["<b>the archive</b>"]
        for key, value in data.items():
            if key != "per_channel":
                lines.append(f"{e(key.replace('_', ' '))}: {e(value)}")
        return Answer(say.cut("\n".join(lines)))

    async def health(self) -> Answer:
        """Collection health: the daemon's state and each channel's (until collection health exists)."""
        raw = await self.archive.get_meta("daemon:health")
        lines = ["<b>collection</b>"]
        if raw:
            try:
                daemon = json.loads(raw)
            except ValueError:
                daemon = {}
            lines.append(
                f"daemon: {e(daemon.get('state'))} since {e(when(daemon.get('since')))}, "
                f"{e(daemon.get('reconnects', 0))} reconnects"
                + (f", last error: {e(daemon['last_error'])}" if daemon.get("last_error") else "")
            )
        else:
            lines.append("daemon: never ran on this archive")
        for row in (await self.archive.stats())["per_channel"]:
            name = (row["username"] and "@" + row["username"]) or row["title"] or str(row["channel_id"])
            mark = "🟢" if row["status"] == "active" else "🔴"
            reason = f" ({e(row['status_reason'])})" if row["status_reason"] else ""
            lines.append(
                f"{mark} {e(name)}: {e(row['status'])}{reason} · last post {e(when(row['last_post_date']))}"
                f" · {e(row['posts'])} posts · gap-filled {e(when(row['last_gapfill_at']))}"
            )
        return Answer(say.cut("\n".join(lines)))

    # --- /similar --------------------------------------------------------------------------

    async def similar(self, photo: Photo, caption: str) -> Answer:
        if photo.data is None:
            return Answer(photo.problem or "send /similar with a photo, or in reply to one")
        outcome = await self.reader(photo.data)
        if outcome.status != "done" or not outcome.phash:
            return Answer(f"cannot read that image: {e(outcome.reason or 'not an image')}")
        lines = ["<b>this poster</b>"]
        if outcome.text:
            lines.append("🖼 text (OCR):\n" + say.quote(outcome.text, 900))
        else:
            lines.append("no text found on it")
        detection = detect_poster(self.detector(), caption, outcome, now_utc())
        if detection.alert:
            terms = ", ".join(f"{m.term} ({m.rule})" for m in detection.matches[:5])
            lines.append(f"🚨 would alert ({e(detection.severity)}): {e(terms)}")
        else:
            lines.append("no alert by the rules")
        lines.extend(similar_lines(await look_alikes(self.archive, outcome.phash)))
        return Answer(say.cut("\n".join(lines)))


def similar_lines(found: list[Any]) -> list[str]:
    if not found:
        return ["no archived look-alike"]
    lines = [f"<b>{len(found)} archived look-alikes</b>"]
    for item in found:
        posts = ", ".join(
            link(
                p.url,
                f"{(p.channel_username and '@' + p.channel_username) or p.channel_title}/{p.message_id}",
            )
            for p in item.posts[:5]
        )
        lines.append(f"• distance {item.distance}: {posts} ({e(when(item.posts[0].date))})")
    return lines


def _left(deadline: datetime, now: datetime) -> str:
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        return "passed"
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h left" if days else f"{rest // 3600} h {rest % 3600 // 60} min left"
