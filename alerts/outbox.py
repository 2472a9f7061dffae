"""The outbox: alerts written with their deliveries in one transaction, then sent per sink.

Writing (:meth:`Outbox.record`): a detection that alerts becomes one ``alerts`` row plus one
``deliveries`` row per configured sink, in the transaction that also links the alert to a
campaign. An alert is unique per post and detection result: it carries only the (rule, term)
pairs and the countdown that no earlier alert of the same post carried, and its fingerprint is
made of them, so re-processing or re-importing a post adds nothing and an edit that adds a match
adds one alert with just the new match.

Campaigns: the same poster (same sha256, or a perceptual hash within :data:`PHASH_DISTANCE`
bits) or the same normalised text (:func:`monitor.core.text.normalize`, at least
:data:`MIN_CAMPAIGN_TEXT` characters) in two or more channels within
``alerts.campaign_window_hours`` of post date is a campaign. Its members' not-yet-sent
deliveries are ``folded`` and ONE campaign alert names every channel with first/last seen; it
waits ``campaign_hold_seconds`` for more channels before going out, is rewritten in place while
unsent, and is announced again only when the number of channels has doubled. Single-channel
alerts are always archived.

Sending (:meth:`Outbox.run`, :meth:`Outbox.deliver_pending`): one task per sink, so a slow or
dead sink never holds up another or the pipeline (which only writes rows). Per delivery::

    pending --claim (commit)--> sending --sink.send()--> delivered (commit)
                                   |--transient error--> pending, next_attempt_at = now + backoff
                                   '--permanent error--> failed, last_error = reason

Transient errors are retried forever with exponential backoff and jitter (``2 s * 2^n``, capped
at ``alerts.retry_max_seconds``, drawn uniformly from the upper half), or after the sink's own
``Retry-After``/flood wait. A sink that is unusable (bad token, chat not found, webhook gone)
fails the delivery that found out and is switched off until restart; its other deliveries stay
pending. Each sink sends one alert at a time.

At most once, and the one duplicate: a delivery is claimed (``sending``, with this process's
id) and committed before the sink is called, and marked ``delivered`` right after the sink
returns. If the process dies (kill -9, OOM, power cut) after the sink accepted the alert and
before ``delivered`` was committed, the restarted outbox finds the delivery still ``sending``
by a dead process and sends it once more, with the same idempotency key: that sink may show
that one alert twice. Only the one alert (or digest) in flight per sink at the moment of the
crash can repeat; a crash at any other point repeats nothing. The JSON Lines sink looks the key
up in its file and never repeats; Telegram drops a message whose ``random_id`` it has already
seen; a webhook receives the same ``Idempotency-Key`` header. (The archive runs with
``synchronous = NORMAL``: after an OS crash or power loss, rather than a process crash, the
last few commits may be lost, and with them the marks of the last few deliveries.)

Rate control: a human-read sink (Telegram, console, Slack/Discord) gets at most
``alerts.burst_limit`` single alerts per ``alerts.burst_window_seconds``; the rest are folded
into one digest message per window. Nothing is dropped: every alert stays in the archive and
each folded delivery is marked ``delivered`` with the digest's key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from alerts import format as fmt
from alerts.sinks import OutgoingAlert, Sink, SinkUnavailable
from monitor.core.config import AlertsConfig
from monitor.core.detection import severity_rank
from monitor.core.errors import DeliveryError
from monitor.core.text import normalize
from monitor.core.times import iso, now_utc, stamp, utc

log = logging.getLogger(__name__)

PHASH_DISTANCE = 8  # of 64 bits: the same poster re-encoded, resized or lightly cropped
MIN_CAMPAIGN_TEXT = 20  # normalised characters; shorter texts ("عاجل") are not a campaign
BATCH = 500
RETRY_BASE_SECONDS = 2.0
CLAIM_LEASE = timedelta(minutes=15)  # a 'sending' claim older than this is stale whoever holds it
IDLE_POLL_SECONDS = 30.0
COALESCE_SECONDS = 0.01  # after a wake-up, let a burst of alerts gather before reading them  # also notice deliveries written by another process (import --alerts)


def backoff_delay(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, jittered in the upper half."""
    raw = min(cap, base * (2 ** max(0, attempts - 1)))
    return rng.uniform(raw / 2, raw)


def match_dict(match: Any) -> dict[str, Any]:
    if isinstance(match, dict):
        return dict(match)
    return {
        "rule": getattr(match, "rule", None),
        "term": getattr(match, "term", None),
        "category": getattr(match, "category", None),
        "severity": getattr(match, "severity", None),
        "source": getattr(match, "source", "text"),
        "start": getattr(match, "start", None),
        "end": getattr(match, "end", None),
    }


def countdown_dict(countdown: Any) -> dict[str, Any] | None:
    if countdown is None:
        return None
    if isinstance(countdown, dict):
        return dict(countdown)
    deadline = getattr(countdown, "deadline", None)
    return {
        "value": getattr(countdown, "value", None),
        "unit": getattr(countdown, "unit", None),
        "deadline": iso(deadline) if isinstance(deadline, datetime) else deadline,
        "alertable": getattr(countdown, "alertable", True),
    }


def _pair(match: dict[str, Any]) -> str:
    return f"match:{match.get('rule')}\x1f{match.get('term')}"


def _countdown_key(countdown: dict[str, Any]) -> str:
    return f"countdown:{countdown.get('value')}:{countdown.get('unit')}"


def _hamming(a: str, b: str) -> int | None:
    if len(a) != len(b):
        return None
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:
        return None


def _covered(bodies: Iterable[str]) -> set[str]:
    """The (rule, term) pairs and countdowns that earlier alerts of a post already carried."""
    covered: set[str] = set()
    for raw in bodies:
        body = json.loads(raw)
        covered.update(body.get("covers") or [])
        covered.update(_pair(m) for m in body.get("matches") or [])
        if body.get("countdown"):
            covered.add(_countdown_key(body["countdown"]))
    return covered


def _claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_stale(claimed_by: str | None, claimed_at: str | None, now: datetime) -> bool:
    """True when the process that claimed a delivery is gone (or the claim is very old)."""
    if claimed_at is None or claimed_by is None:
        return True
    try:
        if now - datetime.fromisoformat(claimed_at) > CLAIM_LEASE:
            return True
    except ValueError:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: trust the lease only
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_INSERT_DELIVERY = "INSERT OR IGNORE INTO deliveries (alert_id, sink, status, next_attempt_at, last_error) VALUES (?, ?, ?, ?, ?)"
_INSERT_KEY = (
    "INSERT OR IGNORE INTO alert_keys (alert_id, key, kind, channel_id, date) VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class _Draft:
    """A post alert worked out before its transaction: the row, less its id."""

    post_id: int
    channel_id: int
    date: str | None  # the post's, ISO 8601 UTC
    fingerprint: str
    severity: str
    body: str  # JSON, as stored
    keys: list[tuple[str, str]]  # content keys (key, kind) for campaigns


@dataclass
class AlertDrafts:
    """What :meth:`Outbox.draft_records` prepared for :meth:`Outbox.record_drafts`."""

    items: list[tuple[Any, Any, _Draft | None]]  # (post, detection, its draft or None: worked out inside)
    deliver: bool
    now: datetime
    nothing: list[int] = field(default_factory=list)  # fresh posts whose alert came to nothing


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Due:
    id: int
    alert_id: int
    attempts: int
    kind: str
    severity: str | None
    body: dict[str, Any]
    fingerprint: str
    created_at: str


class Outbox:
    """Alerts in, deliveries out. One per process; see the module docstring for the guarantees."""

    def __init__(
        self,
        archive: Any,
        sinks: Sequence[Sink],
        config: AlertsConfig,
        *,
        retry_base: float = RETRY_BASE_SECONDS,
        rng: random.Random | None = None,
    ):
        self.archive = archive
        self.sinks: dict[str, Sink] = {}
        for sink in sinks:
            if sink.name in self.sinks:
                raise ValueError(f"two sinks named {sink.name!r}")
            self.sinks[sink.name] = sink
        self.config = config
        self.retry_base = retry_base
        self.rng = rng or random.Random()
        self.disabled: dict[str, str] = {}
        self._wake: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.sinks}
        self._gate: dict[str, float] = {}  # epoch seconds before which a sink sends nothing
        self._recent: dict[str, deque[float]] = {}  # epoch seconds of messages sent, per sink
        self._last_digest: dict[str, float] = {}
        self._sink_locks: dict[str, asyncio.Lock] = {}
        self._recovered = False
        self._claimant = _claimant()

    # --- writing alerts ---------------------------------------------------------------------

    async def record(self, post: Any, detection: Any, *, deliver: bool = True) -> list[int]:
        """Archive what ``detection`` found in ``post`` (a ``PostRecord``); return new alert ids.

        ``deliver=False`` (``import`` without ``--alerts``) archives the alerts with their
        deliveries marked ``skipped``: they are never sent, and because the post's alerts now
        exist, importing the same posts again later (even with ``--alerts``) sends nothing.
        """
        async with self.archive.transaction() as conn:
            ids = await self._record_in(conn, post, detection, deliver, now_utc())
        if ids:
            self.wake()
        return ids

    async def record_many(
        self, items: Sequence[tuple[Any, Any]], *, deliver: bool = True
    ) -> dict[int, list[int]]:
        """:meth:`record` for many ``(post, detection)`` pairs in one transaction (imports).

        Returns the new alert ids per post id. One transaction instead of one per alerting post:
        an import of a busy channel raises thousands of alerts.
        """
        out: dict[int, list[int]] = {}
        alerting = [(post, detection) for post, detection in items if getattr(detection, "alert", False)]
        if not alerting:
            return out
        async with self.archive.transaction() as conn:
            out = await self.record_in(conn, alerting, deliver=deliver)
        if any(out.values()):
            self.wake()
        return out

    async def record_in(
        self,
        conn: aiosqlite.Connection,
        items: Sequence[tuple[Any, Any]],
        *,
        deliver: bool = True,
        fresh: Container[int] = (),
    ) -> dict[int, list[int]]:
        """:meth:`record_many` inside the caller's transaction (an import's batch of posts).

        The caller calls :meth:`wake` once the transaction has committed: the senders read on
        the same connection and must not see (and send) alerts that may still roll back.
        ``fresh`` are posts stored by this very transaction without images: they cannot have
        images or earlier alerts to look up.
        """
        return await self.record_drafts(conn, self.draft_records(items, deliver=deliver, fresh=fresh))

    def draft_records(
        self, items: Sequence[tuple[Any, Any]], *, deliver: bool = True, fresh: Container[int] = ()
    ) -> AlertDrafts:
        """The part of :meth:`record_in` that needs no database, done before the transaction.

        An alert of a ``fresh`` post (see :meth:`record_in`) is worked out whole here: it has no
        images and no earlier alerts. Other posts are left to :meth:`record_drafts`.
        """
        now = now_utc()
        drafts: list[tuple[Any, Any, _Draft | None]] = []
        nothing: list[int] = []
        for post, detection in items:
            if not getattr(detection, "alert", False):
                continue
            if post.id not in fresh:
                drafts.append((post, detection, None))
            elif (draft := self._draft(post, detection, deliver, now, [])) is not None:
                drafts.append((post, detection, draft))
            else:  # below every floor once worked out: as one by one, nothing to write
                nothing.append(post.id)
        return AlertDrafts(drafts, deliver, now, nothing)

    async def record_drafts(self, conn: aiosqlite.Connection, drafts: AlertDrafts) -> dict[int, list[int]]:
        """Write what :meth:`draft_records` prepared, inside the caller's transaction.

        Alerts in post order, as one by one: a drafted alert whose content keys meet no other
        alert in the campaign window (stored, or earlier in this batch) and whose fingerprint is
        new cannot join a campaign, so it is written with the others like it in a few
        ``executemany`` calls; anything else takes the one-by-one road.
        """
        out: dict[int, list[int]] = {post_id: [] for post_id in drafts.nothing}
        ready = [d for _, _, d in drafts.items if d is not None]
        exact = sorted({key for d in ready for key, kind in d.keys if kind != "phash"})
        stored = await self._stored_keys(conn, exact)
        taken: set[str] = set()
        prints = [d.fingerprint for d in ready]
        for chunk in _chunks(prints, 500):
            marks = ",".join("?" * len(chunk))
            taken.update(
                r[0]
                for r in await conn.execute_fetchall(
                    f"SELECT fingerprint FROM alerts WHERE fingerprint IN ({marks})", tuple(chunk)
                )
            )
        window = timedelta(hours=self.config.campaign_window_hours)
        pending: list[tuple[int, _Draft]] = []
        next_id: int | None = None
        for post, detection, draft in drafts.items:
            if draft is None or draft.fingerprint in taken or not self._alone(draft, post, stored, window):
                await self._flush_drafts(conn, pending, drafts)
                pending, next_id = [], None
                if draft is None:
                    out[post.id] = await self._record_in(conn, post, detection, drafts.deliver, drafts.now)
                    stored = await self._stored_keys(conn, exact)  # it may have added keys
                else:
                    out[post.id] = await self._commit_draft(conn, post, draft, drafts.deliver, drafts.now)
            else:
                if next_id is None:
                    ((top,),) = await conn.execute_fetchall("SELECT coalesce(max(id), 0) FROM alerts")
                    next_id = int(top) + 1
                pending.append((next_id, draft))
                out[post.id] = [next_id]
                next_id += 1
            if draft is not None:
                taken.add(draft.fingerprint)
                for key, _kind in draft.keys:
                    stored.setdefault(key, []).append(iso(post.date))
        await self._flush_drafts(conn, pending, drafts)
        return out

    @staticmethod
    async def _stored_keys(conn: aiosqlite.Connection, keys: Sequence[str]) -> dict[str, list[str]]:
        """The post dates of the stored alerts that carry each of these content keys."""
        stored: dict[str, list[str]] = {}
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            for key, date in await conn.execute_fetchall(
                f"SELECT key, date FROM alert_keys WHERE key IN ({marks})", tuple(chunk)
            ):
                stored.setdefault(key, []).append(date)
        return stored

    @staticmethod
    def _alone(draft: _Draft, post: Any, stored: dict[str, list[str]], window: timedelta) -> bool:
        """No other alert shares a content key within the campaign window (so no campaign)."""
        if any(kind == "phash" for _, kind in draft.keys):
            return False
        date = utc(post.date)
        low, high = iso(date - window), iso(date + window)
        return not any(low <= when <= high for key, _ in draft.keys for when in stored.get(key, ()))  # type: ignore[operator]

    async def _flush_drafts(
        self, conn: aiosqlite.Connection, pending: list[tuple[int, _Draft]], drafts: AlertDrafts
    ) -> None:
        """Write drafted alerts that join no campaign, with the ids SQLite would give them."""
        if not pending:
            return
        created = iso(drafts.now)
        await conn.executemany(
            "INSERT INTO alerts (id, kind, post_id, fingerprint, severity, created_at, body, channel_id) "
            "VALUES (?, 'post', ?, ?, ?, ?, ?, ?)",
            [(i, d.post_id, d.fingerprint, d.severity, created, d.body, d.channel_id) for i, d in pending],
        )
        rows = [row for i, d in pending for row in self._delivery_rows(i, d.severity, drafts.deliver, None)]
        if rows:
            await conn.executemany(_INSERT_DELIVERY, rows)
        await conn.executemany(
            _INSERT_KEY, [(i, key, kind, d.channel_id, d.date) for i, d in pending for key, kind in d.keys]
        )

    async def _record_in(
        self,
        conn: aiosqlite.Connection,
        post: Any,
        detection: Any,
        deliver: bool,
        now: datetime,
        *,
        fresh: bool = False,
    ) -> list[int]:
        """The body of :meth:`record`, inside the caller's transaction."""
        if not getattr(detection, "alert", False):
            return []
        # One read for both: the post's images and what its earlier alerts covered.
        rows = (
            []
            if fresh
            else await conn.execute_fetchall(
                "SELECT 'image', pm.sha256, m.phash FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
                "WHERE pm.post_id = ? AND m.is_image = 1 "
                "UNION ALL SELECT 'alert', body, NULL FROM alerts WHERE post_id = ? AND kind = 'post'",
                (post.id, post.id),
            )
        )
        draft = self._draft(post, detection, deliver, now, rows)
        if draft is None:
            return []
        return await self._commit_draft(conn, post, draft, deliver, now)

    def _draft(
        self, post: Any, detection: Any, deliver: bool, now: datetime, rows: Sequence[Any]
    ) -> _Draft | None:
        """The alert a post's detection makes, given its images and earlier alerts (``rows``)."""
        matches = [match_dict(m) for m in getattr(detection, "matches", None) or []]
        countdown = countdown_dict(getattr(detection, "countdown", None))
        ocr_text = getattr(detection, "ocr_text", None) or getattr(post, "ocr_text", None)
        media = [(r[1], r[2]) for r in rows if r[0] == "image"]
        keys = self._content_keys(post, media)
        covered = _covered([r[1] for r in rows if r[0] == "alert"])
        fresh: dict[str, dict[str, Any]] = {}
        for match in matches:
            if _pair(match) not in covered:
                fresh.setdefault(_pair(match), match)
        new_matches = list(fresh.values())
        new_countdown = (
            countdown
            if countdown and countdown.get("alertable", True) and _countdown_key(countdown) not in covered
            else None
        )
        floor = severity_rank(getattr(detection, "min_severity", None) or self.config.min_severity)
        if not new_countdown and not any(severity_rank(m.get("severity")) >= floor for m in new_matches):
            return None
        ranked = [m.get("severity") for m in new_matches if m.get("severity")]
        if new_countdown:  # a countdown alerts on its own; the detector says how loud
            ranked.append(getattr(detection, "severity", None) or "high")
        severity = max(ranked, key=severity_rank)
        parts = sorted(fresh) + ([_countdown_key(new_countdown)] if new_countdown else [])
        fingerprint = f"post:{post.id}:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
        body = fmt.post_body(
            post,
            kind="post",
            severity=severity,
            matches=new_matches,
            countdown=new_countdown,
            ocr_text=ocr_text,
            image_sha256=media[0][0] if media else None,
        )
        body["covers"] = parts
        return _Draft(
            post_id=post.id,
            channel_id=post.channel_id,
            date=iso(post.date),
            fingerprint=fingerprint,
            severity=severity,
            body=_dumps({**body, "alert_id": None, "created_at": iso(now)}),
            keys=keys,
        )

    async def _commit_draft(
        self, conn: aiosqlite.Connection, post: Any, draft: _Draft, deliver: bool, now: datetime
    ) -> list[int]:
        """Write one drafted alert with its deliveries and content keys; join or start its campaign."""
        cur = await conn.execute(
            "INSERT INTO alerts (kind, post_id, fingerprint, severity, created_at, body, channel_id) "
            "VALUES ('post', ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
            (draft.post_id, draft.fingerprint, draft.severity, iso(now), draft.body, draft.channel_id),
        )
        if cur.rowcount != 1 or cur.lastrowid is None:
            return []
        alert_id = cur.lastrowid
        ids = [alert_id]
        await self._insert_deliveries(conn, alert_id, draft.severity, deliver, now)
        await conn.executemany(
            _INSERT_KEY, [(alert_id, key, kind, draft.channel_id, draft.date) for key, kind in draft.keys]
        )
        campaign_alert = await self._campaign(conn, alert_id, post, draft.keys, deliver, now)
        if campaign_alert is not None:
            ids.append(campaign_alert)
        return ids

    async def record_alert(
        self,
        kind: str,
        fingerprint: str,
        body: dict[str, Any],
        severity: str | None,
        *,
        post_id: int | None = None,
        channel_id: int | None = None,
        deliver: bool = True,
    ) -> int | None:
        """Archive one ready-made alert (reminders use this); ``None`` if the fingerprint exists."""
        now = now_utc()
        async with self.archive.transaction() as conn:
            alert_id = await self._insert_alert(
                conn, kind, fingerprint, severity, body, now, post_id=post_id, channel_id=channel_id
            )
            if alert_id is not None:
                await self._insert_deliveries(conn, alert_id, severity, deliver, now)
        if alert_id is not None:
            self.wake()
        return alert_id

    @staticmethod
    def _content_keys(post: Any, media: Sequence[Any]) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for row in media:
            keys.append((f"sha:{row[0]}", "sha"))
            if row[1]:
                keys.append((f"phash:{row[1]}", "phash"))
        text = normalize(post.text or "")
        if len(text) >= MIN_CAMPAIGN_TEXT:
            keys.append((f"text:{hashlib.sha1(text.encode()).hexdigest()}", "text"))
        return list(dict.fromkeys(keys))

    @staticmethod
    async def _insert_alert(
        conn: aiosqlite.Connection,
        kind: str,
        fingerprint: str,
        severity: str | None,
        body: dict[str, Any],
        now: datetime,
        *,
        post_id: int | None,
        channel_id: int | None,
    ) -> int | None:
        body = {**body, "alert_id": None, "created_at": iso(now)}
        cur = await conn.execute(
            "INSERT INTO alerts (kind, post_id, fingerprint, severity, created_at, body, channel_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
            (kind, post_id, fingerprint, severity, iso(now), _dumps(body), channel_id),
        )
        if cur.rowcount != 1:
            return None
        return cur.lastrowid

    async def _insert_deliveries(
        self,
        conn: aiosqlite.Connection,
        alert_id: int,
        severity: str | None,
        deliver: bool,
        now: datetime,
        hold_until: datetime | None = None,
    ) -> None:
        rows = self._delivery_rows(alert_id, severity, deliver, hold_until)
        if not rows:  # no sinks configured: the alert is archived, nothing to deliver
            return
        await conn.executemany(_INSERT_DELIVERY, rows)

    def _delivery_rows(
        self, alert_id: int, severity: str | None, deliver: bool, hold_until: datetime | None
    ) -> list[tuple[Any, ...]]:
        """One ``deliveries`` row per sink: pending, or skipped with the reason."""
        rows: list[tuple[Any, ...]] = []
        for sink in self.sinks.values():
            if not deliver:
                rows.append((alert_id, sink.name, "skipped", None, "archived without notification"))
            elif not sink.wants(severity):
                rows.append(
                    (alert_id, sink.name, "skipped", None, f"below the sink's minimum ({sink.min_severity})")
                )
            else:
                rows.append((alert_id, sink.name, "pending", stamp(hold_until) if hold_until else None, None))
        return rows

    # --- campaigns --------------------------------------------------------------------------

    async def _campaign(
        self,
        conn: aiosqlite.Connection,
        alert_id: int,
        post: Any,
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
        matched: set[int] = set()
        exact = [k for k, kind in keys if kind != "phash"]
        if exact:
            marks = ",".join("?" * len(exact))
            matched.update(
                r[0]
                for r in await conn.execute_fetchall(
                    f"SELECT DISTINCT alert_id FROM alert_keys WHERE key IN ({marks}) AND date BETWEEN ? AND ? AND alert_id != ?",
                    (*exact, low, high, alert_id),
                )
            )
        hashes = [k.split(":", 1)[1] for k, kind in keys if kind == "phash"]
        if hashes:
            for other, key in await conn.execute_fetchall(
                "SELECT alert_id, key FROM alert_keys WHERE kind = 'phash' AND date BETWEEN ? AND ? AND alert_id != ?",
                (low, high, alert_id),
            ):
                theirs = key.split(":", 1)[1]
                for mine in hashes:
                    distance = _hamming(mine, theirs)
                    if distance is not None and distance <= PHASH_DISTANCE * len(mine) // 16:
                        matched.add(other)
                        break
        if not matched:
            return None
        marks = ",".join("?" * len(matched))
        members = list(
            await conn.execute_fetchall(
                f"SELECT id, channel_id, campaign_id FROM alerts WHERE id IN ({marks}) AND kind = 'post'",
                tuple(matched),
            )
        )
        campaign_ids = sorted({r[2] for r in members if r[2] is not None})
        if campaign_ids:
            campaign_id = campaign_ids[0]
        else:
            if len({r[1] for r in members} | {post.channel_id}) < 2:
                return None  # the same poster again in the same channel: not a campaign
            cur = await conn.execute(
                "INSERT INTO campaigns (first_seen, last_seen, created_at) VALUES (?, ?, ?)",
                (iso(date), iso(date), iso(now)),
            )
            campaign_id = cur.lastrowid
        join = [r[0] for r in members if r[2] is None] + [alert_id]
        await conn.executemany(
            "UPDATE alerts SET campaign_id = ? WHERE id = ?", [(campaign_id, i) for i in join]
        )

        member_rows = list(
            await conn.execute_fetchall(
                "SELECT id, body, post_id FROM alerts WHERE campaign_id = ? AND kind = 'post' ORDER BY id",
                (campaign_id,),
            )
        )
        bodies = [{**json.loads(r[1]), "alert_id": r[0]} for r in member_rows]
        first_post = min(member_rows, key=lambda r: (json.loads(r[1]).get("date") or "", r[0]))[2]
        body = campaign_body(campaign_id, bodies)
        channels = len(body["channels"])
        if channels < 2:
            return None
        member_ids = [b["alert_id"] for b in bodies]
        marks = ",".join("?" * len(member_ids))
        await conn.execute(
            f"UPDATE deliveries SET status = 'folded', last_error = ? WHERE alert_id IN ({marks}) "
            "AND status = 'pending' AND attempts = 0",
            (f"folded into campaign {campaign_id}", *member_ids),
        )
        (row,) = await conn.execute_fetchall(
            "SELECT alert_id, announced FROM campaigns WHERE id = ?", (campaign_id,)
        )
        assert row is not None
        current, announced = row
        await conn.execute(
            "UPDATE campaigns SET first_seen = ?, last_seen = ?, channels = ? WHERE id = ?",
            (body["first_seen"], body["last_seen"], channels, campaign_id),
        )
        if current is not None:
            ((started,),) = await conn.execute_fetchall(
                "SELECT count(*) FROM deliveries WHERE alert_id = ? "
                "AND (attempts > 0 OR status NOT IN ('pending', 'skipped'))",
                (current,),
            )
            if not started:
                body["alert_id"] = None
                await conn.execute(
                    "UPDATE alerts SET body = ?, severity = ? WHERE id = ?",
                    (_dumps({**body, "created_at": iso(now)}), body["severity"], current),
                )
                await conn.execute("UPDATE campaigns SET announced = ? WHERE id = ?", (channels, campaign_id))
                return None
            if channels < 2 * announced:
                return None  # announced already; the archive has the new member
        hold = now + timedelta(seconds=self.config.campaign_hold_seconds)
        new_id = await self._insert_alert(
            conn,
            "campaign",
            f"campaign:{campaign_id}:{channels}",
            body["severity"],
            body,
            now,
            post_id=first_post,
            channel_id=body.get("channel_id"),
        )
        if new_id is None:
            return None
        await self._insert_deliveries(conn, new_id, body["severity"], deliver, now, hold_until=hold)
        if current is not None:  # an older announcement still failing somewhere is superseded
            await conn.execute(
                "UPDATE deliveries SET status = 'folded', last_error = ? WHERE alert_id = ? AND status = 'pending'",
                (f"superseded by alert {new_id}", current),
            )
        await conn.execute("UPDATE alerts SET campaign_id = ? WHERE id = ?", (campaign_id, new_id))
        await conn.execute(
            "UPDATE campaigns SET alert_id = ?, announced = ? WHERE id = ?", (new_id, channels, campaign_id)
        )
        return new_id

    # --- sending ----------------------------------------------------------------------------

    def wake(self) -> None:
        """Tell every sink task that new deliveries may be due."""
        for event in self._wake.values():
            event.set()

    async def recover(self) -> int:
        """Put deliveries left ``sending`` by a dead process back to ``pending`` (see the docstring)."""
        now = now_utc()
        rows = await self.archive.fetchall(
            "SELECT id, claimed_by, claimed_at FROM deliveries WHERE status = 'sending'"
        )
        stale = [r[0] for r in rows if _claim_is_stale(r[1], r[2], now)]
        if stale:
            async with self.archive.transaction() as conn:
                await conn.executemany(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, claimed_by = NULL, "
                    "last_error = 'interrupted while sending: may have been delivered once already' "
                    "WHERE id = ? AND status = 'sending'",
                    [(i,) for i in stale],
                )
            log.warning(
                "outbox: %d deliveries were interrupted by a crash and will be sent again", len(stale)
            )
        self._recovered = True
        return len(stale)

    async def deliver_pending(self, *, flush: bool = False) -> int:
        """Send everything due now to every sink (concurrently); return how many were delivered.

        ``flush`` also sends campaign alerts still in their hold, for one-shot commands
        (``import --alerts``, ``demo``) that exit afterwards.
        """
        if not self._recovered:
            await self.recover()
        names = [n for n in self.sinks if n not in self.disabled]
        counts = await asyncio.gather(*(self._drain(name, flush=flush) for name in names))
        return sum(counts)

    async def run(self, stop: asyncio.Event, *, grace: float = 10.0) -> None:
        """Deliver until ``stop`` is set: one task per sink. A send in flight may finish (``grace``)."""
        if not self._recovered:
            await self.recover()
        tasks = [
            asyncio.create_task(self._sink_loop(name, stop), name=f"outbox:{name}") for name in self.sinks
        ]
        try:
            await stop.wait()
        finally:
            self.wake()
            _, late = await asyncio.wait(tasks, timeout=grace) if tasks else (set(), set())
            for task in late:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*late, return_exceptions=True)
            if late:  # sends cut short: unknown whether they went out, like a crash
                async with self.archive.transaction() as conn:
                    await conn.execute(
                        "UPDATE deliveries SET status = 'pending', claimed_by = NULL, last_error = "
                        "'interrupted while sending: may have been delivered once already' "
                        "WHERE status = 'sending' AND claimed_by = ?",
                        (self._claimant,),
                    )

    async def close(self) -> None:
        for sink in self.sinks.values():
            try:
                await sink.close()
            except (OSError, DeliveryError) as exc:
                log.warning("closing sink %s: %s", sink.name, exc)

    async def _sink_loop(self, name: str, stop: asyncio.Event) -> None:
        wake = self._wake[name]
        while not stop.is_set() and name not in self.disabled:
            wake.clear()
            try:
                await self._drain(name, stop=stop)
            except (aiosqlite.Error, OSError) as exc:
                log.error("outbox: sink %s: %s; retrying in 5 s", name, exc)
                await _wait_any(wake, stop, 5.0)
                continue
            if name in self.disabled or stop.is_set():
                break
            if wake.is_set():
                # More alerts arrived while sending. Micro-batching: let the burst gather, so it
                # is read and claimed in one transaction.
                await asyncio.sleep(COALESCE_SECONDS)
                continue
            delay = await self._next_due_in(name)
            await _wait_any(wake, stop, IDLE_POLL_SECONDS if delay is None else min(delay, IDLE_POLL_SECONDS))
            if wake.is_set() and not stop.is_set():
                # Micro-batching: alerts recorded in a burst are fetched and claimed together.
                await asyncio.sleep(COALESCE_SECONDS)

    async def _next_due_in(self, name: str) -> float | None:
        row = await self.archive.fetchone(
            "SELECT min(next_attempt_at), sum(next_attempt_at IS NULL) FROM deliveries WHERE sink = ? AND status = 'pending'",
            (name,),
        )
        gate = self._gate.get(name, 0.0) - time.time()
        if row is None or (row[0] is None and not row[1]):
            return None
        if row[1]:
            return max(0.0, gate)
        wait = (datetime.fromisoformat(row[0]) - now_utc()).total_seconds()
        return max(0.0, wait, gate)

    async def _take(self, name: str, flush: bool) -> list[_Due]:
        """Claim the deliveries due now for one sink (``sending`` by this process) and read them.

        One transaction: whatever this returns is ours to send; another process running an
        outbox on the same archive (``import --alerts`` beside the daemon) gets the others.
        """
        if time.time() < self._gate.get(name, 0.0):
            return []
        now = stamp(now_utc())
        async with self.archive.transaction() as conn:
            claimed = await conn.execute_fetchall(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, claimed_by = ?, "
                "claimed_at = ?, digest_key = NULL WHERE id IN (SELECT id FROM deliveries "
                "WHERE sink = ? AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ? "
                "OR (? AND attempts = 0)) ORDER BY id LIMIT ?) RETURNING id, alert_id, attempts",
                (self._claimant, now, name, now, int(flush), BATCH),
            )
            if not claimed:
                return []
            alert_ids = sorted({r[1] for r in claimed})
            alerts = {
                r[0]: r
                for r in await conn.execute_fetchall(
                    f"SELECT id, kind, severity, body, fingerprint, created_at FROM alerts "
                    f"WHERE id IN ({','.join('?' * len(alert_ids))})",
                    alert_ids,
                )
            }
        out = []
        for delivery_id, alert_id, attempts in sorted((tuple(r) for r in claimed), key=lambda r: r[0]):
            _, kind, severity, raw, fingerprint, created_at = alerts[alert_id]
            body = json.loads(raw)
            body.pop("covers", None)  # bookkeeping for idempotency, not for readers
            body["alert_id"] = alert_id
            out.append(
                _Due(delivery_id, alert_id, attempts - 1, kind, severity, body, fingerprint, created_at)
            )
        return out

    async def _drain(self, name: str, *, flush: bool = False, stop: asyncio.Event | None = None) -> int:
        # One sender per sink in this process, whoever calls (run()'s task or deliver_pending()):
        # that is what bounds a crash to one repeated alert per sink.
        async with self._sink_locks.setdefault(name, asyncio.Lock()):
            return await self._drain_locked(name, flush=flush, stop=stop)

    async def _drain_locked(self, name: str, *, flush: bool, stop: asyncio.Event | None) -> int:
        sent = 0
        while name not in self.disabled and not (stop and stop.is_set()):
            due = await self._take(name, flush)
            if not due:
                break
            count, blocked = await self._send_batch(self.sinks[name], due, stop)
            sent += count
            if blocked or len(due) < BATCH:  # newer alerts set the wake event: the loop comes back
                break
        return sent

    async def _send_batch(self, sink: Sink, due: list[_Due], stop: asyncio.Event | None) -> tuple[int, bool]:
        """Send claimed deliveries; returns (delivered, blocked: the sink must wait).

        Whatever is not tried is given back (``pending``) before returning. The marks stay one
        by one, so a crash repeats at most the one alert whose send had completed.
        """
        single, folded = due, []
        if sink.human:
            recent = await self._recent_sends(sink.name)
            room = max(0, self.config.burst_limit - len(recent))
            if len(due) > room:
                single, folded = due[:room], due[room:]
        sent = 0
        for index, item in enumerate(single):
            if stop is not None and stop.is_set():
                await self._release([i.id for i in [*single[index:], *folded]])
                return sent, True
            outcome = await self._deliver(sink, [item])
            if outcome is None:
                await self._release([i.id for i in [*single[index + 1 :], *folded]])
                return sent, True
            sent += outcome
        if folded:
            window = self.config.burst_window_seconds
            last = self._last_digest.get(sink.name, 0.0)
            if time.time() - last < window or (stop is not None and stop.is_set()):
                await self._release([i.id for i in folded])
                self._gate[sink.name] = last + window
                return sent, True
            ids = [i.id for i in folded]
            digest_key = "digest-" + hashlib.sha256(f"{sink.name}|{ids}".encode()).hexdigest()[:24]
            async with self.archive.transaction() as conn:  # a resend after a crash reuses the key
                await conn.executemany(
                    "UPDATE deliveries SET digest_key = ? WHERE id = ?", [(digest_key, i) for i in ids]
                )
            outcome = await self._deliver(sink, folded, digest_key)
            if outcome is None:
                return sent, True
            sent += outcome
        return sent, False

    async def _release(self, ids: list[int]) -> None:
        """Give back claimed deliveries that were not tried (shutdown, the sink backing off)."""
        if not ids:
            return
        async with self.archive.transaction() as conn:
            await conn.executemany(
                "UPDATE deliveries SET status = 'pending', attempts = attempts - 1, claimed_by = NULL, "
                "digest_key = NULL WHERE id = ? AND status = 'sending'",
                [(i,) for i in ids],
            )

    async def _recent_sends(self, name: str) -> deque[float]:
        window = self.config.burst_window_seconds
        recent = self._recent.get(name)
        if recent is None:  # after a restart the window is read back from the archive
            since = stamp(now_utc() - timedelta(seconds=window))
            rows = await self.archive.fetchall(
                "SELECT sent_at, digest_key FROM deliveries WHERE sink = ? AND status = 'delivered' AND sent_at >= ?",
                (name, since),
            )
            seen: set[str] = set()
            recent = deque()
            for sent_at, digest in sorted(rows):
                if digest:
                    if digest in seen:
                        continue
                    seen.add(digest)
                    self._last_digest[name] = max(
                        self._last_digest.get(name, 0.0), datetime.fromisoformat(sent_at).timestamp()
                    )
                    continue
                recent.append(datetime.fromisoformat(sent_at).timestamp())
            self._recent[name] = recent
        cutoff = time.time() - window
        while recent and recent[0] < cutoff:
            recent.popleft()
        return recent

    async def _deliver(self, sink: Sink, items: list[_Due], digest_key: str | None = None) -> int | None:
        """Send claimed deliveries (one alert, or a digest); mark them. ``None``: the sink must wait."""
        ids = [i.id for i in items]
        outgoing = [await self._outgoing(sink, item) for item in items]
        try:
            if digest_key is not None:
                await sink.send_digest(outgoing, digest_key)
            else:
                await sink.send(outgoing[0])
        except SinkUnavailable as exc:
            await self._mark(ids, "failed", error=str(exc))
            self.disabled[sink.name] = str(exc)
            log.error("outbox: sink %s switched off until restart: %s", sink.name, exc)
            return None
        except DeliveryError as exc:
            if exc.permanent:
                await self._mark(ids, "failed", error=str(exc))
                log.error(
                    "outbox: alert %s to %s failed for good: %s", [i.alert_id for i in items], sink.name, exc
                )
                return 0
            return await self._retry_later(sink, items, str(exc), exc.retry_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a sink must not stop delivery to the others
            log.exception("outbox: sink %s raised unexpectedly", sink.name)
            return await self._retry_later(sink, items, f"{type(exc).__name__}: {exc}", None)
        await self._mark(ids, "delivered")
        when = time.time()
        if digest_key is not None:
            self._last_digest[sink.name] = when
        else:
            self._recent.setdefault(sink.name, deque()).append(when)
        self._gate.pop(sink.name, None)
        return len(ids)

    async def _retry_later(
        self, sink: Sink, items: list[_Due], error: str, retry_after: float | None
    ) -> None:
        attempts = max(i.attempts for i in items) + 1
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), 86400.0)
        else:
            delay = backoff_delay(attempts, self.retry_base, self.config.retry_max_seconds, self.rng)
        when = now_utc() + timedelta(seconds=delay)
        await self._mark([i.id for i in items], "pending", error=error, next_attempt=when)
        self._gate[sink.name] = when.timestamp()
        log.warning("outbox: %s: %s; attempt %d, next in %.1f s", sink.name, error, attempts, delay)
        return None

    async def _mark(
        self,
        ids: Iterable[int],
        status: str,
        *,
        error: str | None = None,
        next_attempt: datetime | None = None,
    ) -> None:
        now = stamp(now_utc())
        async with self.archive.transaction() as conn:
            await conn.executemany(
                "UPDATE deliveries SET status = ?, last_error = ?, next_attempt_at = ?, claimed_by = NULL, "
                "sent_at = CASE WHEN ? = 'delivered' THEN ? ELSE sent_at END WHERE id = ?",
                [(status, error, stamp(next_attempt) if next_attempt else None, status, now, i) for i in ids],
            )

    async def _outgoing(self, sink: Sink, item: _Due) -> OutgoingAlert:
        key = hashlib.sha256(f"{item.fingerprint}|{item.created_at}|{sink.name}".encode()).hexdigest()[:32]
        image: Path | None = None
        sha = item.body.get("image_sha256")
        if sha:
            media = await self.archive.media(sha)
            if media is not None and media.path.is_file():
                image = media.path
        return OutgoingAlert(
            delivery_id=item.id,
            alert_id=item.alert_id,
            kind=item.kind,
            severity=item.severity,
            body=item.body,
            key=f"tgm-{key}",
            attempts=item.attempts,
            image=image,
            created_at=item.created_at,
        )

    # --- reading ----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """Per sink: pending, failed, delivered counts and why a sink is switched off (for health)."""
        rows = await self.archive.fetchall(
            "SELECT sink, status, count(*) FROM deliveries GROUP BY sink, status"
        )
        out: dict[str, Any] = {name: {"disabled": self.disabled.get(name)} for name in self.sinks}
        for sink, status, count in rows:
            out.setdefault(sink, {"disabled": None})[status] = count
        return out


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
    seen = {_pair(m) for m in matches}
    for body in ordered[1:]:
        for m in body.get("matches") or []:
            if _pair(m) not in seen:
                seen.add(_pair(m))
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


async def _wait_any(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
