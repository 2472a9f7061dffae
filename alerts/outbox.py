"""The outbox: alerts written with their deliveries in one transaction, then sent per sink.

Writing (:meth:`Outbox.record`): a detection that alerts becomes one ``alerts`` row plus one
``deliveries`` row per configured sink, in the transaction that also links the alert to a
campaign (:mod:`alerts.campaigns`). An alert is unique per post and detection result: it carries
only the (rule, term) pairs and the countdown that no earlier alert of the same post carried, and
its fingerprint is made of them, so re-processing or re-importing a post adds nothing and an edit
that adds a match adds one alert with just the new match.

Sending (:meth:`Outbox.run`, :meth:`Outbox.deliver_pending`) is :mod:`alerts.dispatch`'s: one
task per sink, at most once but for the one alert in flight at a crash, retries with backoff,
bursts folded into digests; its docstring states the guarantees. The rows themselves are the
store's (:mod:`monitor.core.store.alerts`, ``.deliveries``, ``.campaigns``): this module decides
what to write, never how.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts import format as fmt
from alerts.campaigns import Campaigns, content_keys, pair_key
from alerts.dispatch import RETRY_BASE_SECONDS, Dispatcher, backoff_delay
from alerts.sinks import Sink
from alerts.writer import AlertWriter, dumps
from monitor.core.config import AlertsConfig
from monitor.core.detection import Countdown, Detection, Match, severity_rank
from monitor.core.store import Archive, PostRecord, Tx
from monitor.core.store.alerts import NumberedAlert, PostAlertContext
from monitor.core.times import iso, now_utc, utc

__all__ = ["COUNTDOWN_RULE", "AlertDrafts", "Outbox", "backoff_delay", "countdown_dict", "match_dict"]

COUNTDOWN_RULE = "countdown"
"""The name a mute gives the countdown detector (it is not a rule of the rules file)."""

_NO_CONTEXT = PostAlertContext([], [])  # a post stored by this very transaction without images


def match_dict(match: Match | Mapping[str, Any]) -> dict[str, Any]:
    """A match as alert bodies store it (a mapping is taken as stored already: replays, benches)."""
    if isinstance(match, Mapping):
        return dict(match)
    return {
        "rule": match.rule,
        "term": match.term,
        "category": match.category,
        "severity": match.severity,
        "source": match.source,
        "start": match.start,
        "end": match.end,
    }


def countdown_dict(countdown: Countdown | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A countdown as alert bodies store it (a mapping is taken as stored already)."""
    if countdown is None:
        return None
    if isinstance(countdown, Mapping):
        return dict(countdown)
    deadline = countdown.deadline
    return {
        "value": countdown.value,
        "unit": countdown.unit,
        "deadline": iso(deadline) if isinstance(deadline, datetime) else deadline,
        "alertable": countdown.alertable,
    }


def _countdown_key(countdown: dict[str, Any]) -> str:
    return f"countdown:{countdown.get('value')}:{countdown.get('unit')}"


def _covered(bodies: Iterable[str]) -> set[str]:
    """The (rule, term) pairs and countdowns that earlier alerts of a post already carried."""
    covered: set[str] = set()
    for raw in bodies:
        body = json.loads(raw)
        covered.update(body.get("covers") or [])
        covered.update(pair_key(m) for m in body.get("matches") or [])
        if body.get("countdown"):
            covered.add(_countdown_key(body["countdown"]))
    return covered


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

    # (post, detection, its draft or None: worked out inside the transaction)
    items: list[tuple[PostRecord, Detection, _Draft | None]]
    deliver: bool
    now: datetime
    nothing: list[int] = field(default_factory=list)  # fresh posts whose alert came to nothing


class Outbox:
    """Alerts in, deliveries out. One per process; see the module docstring for the guarantees."""

    def __init__(
        self,
        archive: Archive,
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
        self.alerts = archive.alerts
        self.writer = AlertWriter(archive, self.sinks)
        self.campaigns = Campaigns(archive, config, self.writer)
        self.dispatcher = Dispatcher(archive, self.sinks, config, retry_base=retry_base, rng=rng)

    @property
    def disabled(self) -> dict[str, str]:
        """Sinks switched off until restart, with the reason."""
        return self.dispatcher.disabled

    # --- sending: the dispatcher's ----------------------------------------------------------

    def wake(self) -> None:
        """Tell every sink task that new deliveries may be due."""
        self.dispatcher.wake()

    async def recover(self) -> int:
        """Put deliveries left ``sending`` by a dead process back to ``pending``."""
        return await self.dispatcher.recover()

    async def deliver_pending(self, *, flush: bool = False) -> int:
        """Send everything due now to every sink; ``flush`` also sends campaign alerts in their hold."""
        return await self.dispatcher.deliver_pending(flush=flush)

    async def run(self, stop: asyncio.Event, *, grace: float = 10.0) -> None:
        """Deliver until ``stop`` is set: one task per sink. A send in flight may finish (``grace``)."""
        await self.dispatcher.run(stop, grace=grace)

    async def close(self) -> None:
        await self.dispatcher.close()

    async def status(self) -> dict[str, Any]:
        """Per sink: pending, failed, delivered counts and why a sink is switched off (for health)."""
        return await self.dispatcher.status()

    # --- writing alerts ---------------------------------------------------------------------

    async def record(self, post: PostRecord, detection: Detection, *, deliver: bool = True) -> list[int]:
        """Archive what ``detection`` found in ``post``; return the new alert ids.

        ``deliver=False`` (``import`` without ``--alerts``) archives the alerts with their
        deliveries marked ``skipped``: they are never sent, and because the post's alerts now
        exist, importing the same posts again later (even with ``--alerts``) sends nothing.
        """
        async with self.archive.transaction() as tx:
            ids = await self._record_in(tx, post, detection, deliver, now_utc())
        if ids:
            self.wake()
        return ids

    async def record_many(
        self, items: Sequence[tuple[PostRecord, Detection]], *, deliver: bool = True
    ) -> dict[int, list[int]]:
        """:meth:`record` for many ``(post, detection)`` pairs in one transaction (imports).

        Returns the new alert ids per post id. One transaction instead of one per alerting post:
        an import of a busy channel raises thousands of alerts.
        """
        out: dict[int, list[int]] = {}
        alerting = [(post, detection) for post, detection in items if detection.alert]
        if not alerting:
            return out
        async with self.archive.transaction() as tx:
            out = await self.record_in(tx, alerting, deliver=deliver)
        if any(out.values()):
            self.wake()
        return out

    async def record_in(
        self,
        tx: Tx,
        items: Sequence[tuple[PostRecord, Detection]],
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
        return await self.record_drafts(tx, self.draft_records(items, deliver=deliver, fresh=fresh))

    def draft_records(
        self,
        items: Sequence[tuple[PostRecord, Detection]],
        *,
        deliver: bool = True,
        fresh: Container[int] = (),
    ) -> AlertDrafts:
        """The part of :meth:`record_in` that needs no database, done before the transaction.

        An alert of a ``fresh`` post (see :meth:`record_in`) is worked out whole here: it has no
        images and no earlier alerts. Other posts are left to :meth:`record_drafts`.
        """
        now = now_utc()
        drafts: list[tuple[PostRecord, Detection, _Draft | None]] = []
        nothing: list[int] = []
        for post, detection in items:
            if not detection.alert:
                continue
            if post.id not in fresh:
                drafts.append((post, detection, None))
            elif (draft := self._draft(post, detection, deliver, now, _NO_CONTEXT)) is not None:
                drafts.append((post, detection, draft))
            else:  # below every floor once worked out: as one by one, nothing to write
                nothing.append(post.id)
        return AlertDrafts(drafts, deliver, now, nothing)

    async def record_drafts(self, tx: Tx, drafts: AlertDrafts) -> dict[int, list[int]]:
        """Write what :meth:`draft_records` prepared, inside the caller's transaction.

        Alerts in post order, as one by one: a drafted alert whose content keys meet no other
        alert in the campaign window (stored, or earlier in this batch) and whose fingerprint is
        new cannot join a campaign, so it is written with the others like it in a few
        ``executemany`` calls; anything else takes the one-by-one road.
        """
        out: dict[int, list[int]] = {post_id: [] for post_id in drafts.nothing}
        muted = await self.archive.mutes.muted_channels(tx, iso(drafts.now) or "")
        if muted:  # a draft worked out without the mutes is worked out again, one by one
            drafts.items = [(p, det, None if p.channel_id in muted else d) for p, det, d in drafts.items]
        ready = [d for _, _, d in drafts.items if d is not None]
        exact = sorted({key for d in ready for key, kind in d.keys if kind != "phash"})
        stored = await self.alerts.key_dates(tx, exact)
        taken = await self.alerts.taken_fingerprints(tx, [d.fingerprint for d in ready])
        window = timedelta(hours=self.config.campaign_window_hours)
        pending: list[tuple[int, _Draft]] = []
        next_id: int | None = None
        for post, detection, draft in drafts.items:
            if draft is None or draft.fingerprint in taken or not self._alone(draft, post, stored, window):
                await self._flush_drafts(tx, pending, drafts)
                pending, next_id = [], None
                if draft is None:
                    out[post.id] = await self._record_in(tx, post, detection, drafts.deliver, drafts.now)
                    stored = await self.alerts.key_dates(tx, exact)  # it may have added keys
                else:
                    out[post.id] = await self._commit_draft(tx, post, draft, drafts.deliver, drafts.now)
            else:
                if next_id is None:
                    next_id = await self.alerts.next_id(tx)
                pending.append((next_id, draft))
                out[post.id] = [next_id]
                next_id += 1
            if draft is not None:
                taken.add(draft.fingerprint)
                for key, _kind in draft.keys:
                    stored.setdefault(key, []).append(iso(post.date))  # type: ignore[arg-type]
        await self._flush_drafts(tx, pending, drafts)
        return out

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
        async with self.archive.transaction() as tx:
            alert_id = await self.writer.write(
                tx,
                kind,
                fingerprint,
                severity,
                body,
                now,
                post_id=post_id,
                channel_id=channel_id,
                deliver=deliver,
            )
        if alert_id is not None:
            self.wake()
        return alert_id

    # --- one post's alert -------------------------------------------------------------------

    @staticmethod
    def _alone(draft: _Draft, post: PostRecord, stored: dict[str, list[str]], window: timedelta) -> bool:
        """No other alert shares a content key within the campaign window (so no campaign)."""
        if any(kind == "phash" for _, kind in draft.keys):
            return False
        date = utc(post.date)
        low, high = iso(date - window), iso(date + window)
        return not any(low <= when <= high for key, _ in draft.keys for when in stored.get(key, ()))  # type: ignore[operator]

    async def _flush_drafts(self, tx: Tx, pending: list[tuple[int, _Draft]], drafts: AlertDrafts) -> None:
        """Write drafted alerts that join no campaign, with the ids SQLite would give them."""
        if not pending:
            return
        created = iso(drafts.now)
        assert created is not None
        rows: list[NumberedAlert] = [
            (i, d.post_id, d.fingerprint, d.severity, created, d.body, d.channel_id) for i, d in pending
        ]
        await self.alerts.insert_numbered(tx, rows)
        deliveries = [
            row for i, d in pending for row in self.writer.delivery_rows(i, d.severity, drafts.deliver, None)
        ]
        if deliveries:
            await self.writer.deliveries.insert(tx, deliveries)
        await self.alerts.insert_keys(
            tx, [(i, key, kind, d.channel_id, d.date) for i, d in pending for key, kind in d.keys]
        )

    async def _record_in(
        self, tx: Tx, post: PostRecord, detection: Detection, deliver: bool, now: datetime
    ) -> list[int]:
        """The body of :meth:`record`, inside the caller's transaction."""
        if not detection.alert:
            return []
        # One read for both: the post's images and what its earlier alerts covered.
        context = await self.alerts.post_context(tx, post.id)
        muted = await self.archive.mutes.active_in(tx, post.channel_id, iso(now) or "")
        draft = self._draft(post, detection, deliver, now, context, muted)
        if draft is None:
            return []
        return await self._commit_draft(tx, post, draft, deliver, now)

    def _draft(
        self,
        post: PostRecord,
        detection: Detection,
        deliver: bool,
        now: datetime,
        context: PostAlertContext,
        muted: Container[str] = (),
    ) -> _Draft | None:
        """The alert a post's detection makes, given its images and earlier alerts (``context``).

        ``muted`` rules (:data:`COUNTDOWN_RULE` for the countdown) are muted in the post's
        channel: their matches are left out as if they had not matched.
        """
        matches = [match_dict(m) for m in detection.matches or [] if match_dict(m).get("rule") not in muted]
        countdown = None if COUNTDOWN_RULE in muted else countdown_dict(detection.countdown)
        ocr_text = detection.ocr_text or post.ocr_text
        media = context.images
        keys = content_keys(post, media)
        covered = _covered(context.bodies)
        fresh: dict[str, dict[str, Any]] = {}
        for match in matches:
            if pair_key(match) not in covered:
                fresh.setdefault(pair_key(match), match)
        new_matches = list(fresh.values())
        new_countdown = (
            countdown
            if countdown and countdown.get("alertable", True) and _countdown_key(countdown) not in covered
            else None
        )
        floor = severity_rank(detection.min_severity or self.config.min_severity)
        if not new_countdown and not any(severity_rank(m.get("severity")) >= floor for m in new_matches):
            return None
        ranked = [m.get("severity") for m in new_matches if m.get("severity")]
        if new_countdown:  # a countdown alerts on its own; the detector says how loud
            ranked.append(detection.severity or "high")
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
            body=dumps({**body, "alert_id": None, "created_at": iso(now)}),
            keys=keys,
        )

    async def _commit_draft(
        self, tx: Tx, post: PostRecord, draft: _Draft, deliver: bool, now: datetime
    ) -> list[int]:
        """Write one drafted alert with its deliveries and content keys; join or start its campaign."""
        alert_id = await self.alerts.insert(
            tx,
            kind="post",
            post_id=draft.post_id,
            fingerprint=draft.fingerprint,
            severity=draft.severity,
            created_at=now,
            body=draft.body,
            channel_id=draft.channel_id,
        )
        if alert_id is None:
            return []
        ids = [alert_id]
        await self.writer.write_deliveries(tx, alert_id, draft.severity, deliver)
        await self.alerts.insert_keys(
            tx, [(alert_id, key, kind, draft.channel_id, draft.date) for key, kind in draft.keys]
        )
        campaign_alert = await self.campaigns.join(tx, alert_id, post, draft.keys, deliver, now)
        if campaign_alert is not None:
            ids.append(campaign_alert)
        return ids
