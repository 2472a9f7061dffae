"""Campaigns: the same poster or text in several channels becomes one alert naming them all.

The same poster (same sha256, or a perceptual hash within :data:`PHASH_DISTANCE` bits) or the
same normalised text (:func:`monitor.core.text.normalize`, at least :data:`MIN_CAMPAIGN_TEXT`
characters) in two or more channels within ``alerts.campaign_window_hours`` of post date is a
campaign. Its members' not-yet-sent deliveries are ``folded`` and ONE campaign alert names every
channel with first/last seen; it waits ``campaign_hold_seconds`` for more channels before going
out, is rewritten in place while unsent, and is announced again only when the number of
channels has doubled. Single-channel alerts are always archived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from alerts.writer import AlertWriter, dumps
from monitor.core.config import AlertsConfig
from monitor.core.detection import severity_rank
from monitor.core.phash import nearest
from monitor.core.store import Archive, PostRecord, Tx
from monitor.core.text import normalize
from monitor.core.times import iso, utc

PHASH_DISTANCE = 8  # of 64 bits: the same poster re-encoded, resized or lightly cropped
MIN_CAMPAIGN_TEXT = 20  # normalised characters; shorter texts ("عاجل") are not a campaign


def pair_key(match: dict[str, Any]) -> str:
    """A match's (rule, term) pair as alert bodies' ``covers`` list it."""
    return f"match:{match.get('rule')}\x1f{match.get('term')}"


def content_keys(post: PostRecord, images: Sequence[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """``(key, kind)`` by which a post's alert meets other channels' alerts: its images' sha256
    and perceptual hashes, and its normalised text when long enough."""
    keys: list[tuple[str, str]] = []
    for sha, phash in images:
        keys.append((f"sha:{sha}", "sha"))
        if phash:
            keys.append((f"phash:{phash}", "phash"))
    text = normalize(post.text or "")
    if len(text) >= MIN_CAMPAIGN_TEXT:
        keys.append((f"text:{hashlib.sha1(text.encode()).hexdigest()}", "text"))
    return list(dict.fromkeys(keys))


def campaign_body(campaign_id: int, members: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The body of a campaign alert from its members' post alert bodies (earliest first)."""
    ordered = sorted(members, key=lambda b: (b.get("date") or "", b.get("alert_id") or 0))
    first = ordered[0]
    channels: dict[Any, dict[str, Any]] = {}
    for body in ordered:
        channels.setdefault(
            body.get("channel_id"),
            {
                "channel": body.get("channel"),
                "title": body.get("channel_title"),
                "channel_id": body.get("channel_id"),
                "message_id": body.get("message_id"),
                "url": body.get("url"),
                "date": body.get("date"),
            },
        )
    matches = list(first.get("matches") or [])
    seen = {pair_key(m) for m in matches}
    for body in ordered[1:]:
        for m in body.get("matches") or []:
            if pair_key(m) not in seen:
                seen.add(pair_key(m))
                matches.append({**m, "start": None, "end": None})
    severities = [b.get("severity") for b in ordered if b.get("severity")]
    excerpt_from = next((b for b in ordered if b.get("ocr_excerpt")), first)
    return {
        **first,
        "alert_id": None,
        "kind": "campaign",
        "campaign_id": campaign_id,
        "severity": max(severities, key=severity_rank) if severities else first.get("severity"),
        "matches": matches,
        "ocr_excerpt": excerpt_from.get("ocr_excerpt"),
        "ocr_highlights": excerpt_from.get("ocr_highlights") or [],
        "image_sha256": next((b.get("image_sha256") for b in ordered if b.get("image_sha256")), None),
        "channels": list(channels.values()),
        "posts": len(ordered),
        "first_seen": ordered[0].get("date"),
        "last_seen": ordered[-1].get("date"),
        "members": [b.get("alert_id") for b in ordered],
    }


class Campaigns:
    """Joins new post alerts to campaigns and keeps each campaign's one alert up to date."""

    def __init__(self, archive: Archive, config: AlertsConfig, writer: AlertWriter) -> None:
        self.config = config
        self.writer = writer
        self.alerts = archive.alerts
        self.campaigns = archive.campaigns
        self.deliveries = archive.deliveries

    async def join(
        self,
        tx: Tx,
        alert_id: int,
        post: PostRecord,
        keys: Sequence[tuple[str, str]],
        deliver: bool,
        now: datetime,
    ) -> int | None:
        """Join or start a campaign for a new post alert; returns a new campaign alert id, if any."""
        if not keys:
            return None
        window = timedelta(hours=self.config.campaign_window_hours)
        date = utc(post.date)
        low, high = iso(date - window), iso(date + window)
        assert low is not None and high is not None
        matched = await self._matching(tx, alert_id, keys, low, high)
        if not matched:
            return None
        members = await self.campaigns.post_alerts(tx, tuple(matched))
        campaign_ids = sorted({r[2] for r in members if r[2] is not None})
        if campaign_ids:
            campaign_id = campaign_ids[0]
        else:
            if len({r[1] for r in members} | {post.channel_id}) < 2:
                return None  # the same poster again in the same channel: not a campaign
            campaign_id = await self.campaigns.create(tx, date, date, now)
        await self.campaigns.join(tx, campaign_id, [r[0] for r in members if r[2] is None] + [alert_id])

        member_rows = await self.campaigns.members(tx, campaign_id)
        bodies = [{**json.loads(r[1]), "alert_id": r[0]} for r in member_rows]
        first_post = min(member_rows, key=lambda r: (json.loads(r[1]).get("date") or "", r[0]))[2]
        body = campaign_body(campaign_id, bodies)
        channels = len(body["channels"])
        if channels < 2:
            return None
        await self.deliveries.fold_unsent(
            tx, [b["alert_id"] for b in bodies], f"folded into campaign {campaign_id}"
        )
        current, announced = await self.campaigns.announcement(tx, campaign_id)
        await self.campaigns.set_span(tx, campaign_id, body["first_seen"], body["last_seen"], channels)
        if current is not None:
            if not await self.deliveries.any_started(tx, current):
                body["alert_id"] = None
                await self.alerts.rewrite(
                    tx, current, dumps({**body, "created_at": iso(now)}), body["severity"]
                )
                await self.campaigns.set_announced(tx, campaign_id, channels)
                return None
            if channels < 2 * announced:
                return None  # announced already; the archive has the new member
        new_id = await self.writer.write(
            tx,
            "campaign",
            f"campaign:{campaign_id}:{channels}",
            body["severity"],
            body,
            now,
            post_id=first_post,
            channel_id=body.get("channel_id"),
            deliver=deliver,
            hold_until=now + timedelta(seconds=self.config.campaign_hold_seconds),
        )
        if new_id is None:
            return None
        if current is not None:  # an older announcement still failing somewhere is superseded
            await self.deliveries.supersede(tx, current, f"superseded by alert {new_id}")
        await self.campaigns.link(tx, campaign_id, new_id)
        await self.campaigns.announce(tx, campaign_id, new_id, channels)
        return new_id

    async def _matching(
        self, tx: Tx, alert_id: int, keys: Sequence[tuple[str, str]], low: str, high: str
    ) -> set[int]:
        """Other alerts of posts dated ``low``..``high`` sharing a key (a near-equal perceptual hash)."""
        matched: set[int] = set()
        exact = [k for k, kind in keys if kind != "phash"]
        if exact:
            matched.update(await self.campaigns.alerts_sharing(tx, exact, low, high, alert_id))
        hashes = [k.split(":", 1)[1] for k, kind in keys if kind == "phash"]
        if hashes:
            theirs = [
                (other, key.split(":", 1)[1])
                for other, key in await self.campaigns.phash_keys(tx, low, high, alert_id)
            ]
            for mine in hashes:
                matched.update(
                    other for _, other, _ in nearest(mine, theirs, PHASH_DISTANCE * len(mine) // 16)
                )
        return matched
