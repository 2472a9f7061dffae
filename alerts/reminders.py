"""Countdown reminders: "3 days left" becomes reminders before and at the deadline.

A channel counting down posts a series ("5 days", "4 days", ...). The pipeline stores every
countdown it detects in the ``countdowns`` table with its computed deadline; here the points of
one channel whose deadlines agree (within :data:`SERIES_TOLERANCE`) form one series, dated by its
latest point. For each series and each offset in ``alerts.reminder_offsets_hours`` (default 24
and 0) a reminder alert is due at ``deadline - offset``.

Reminders are alerts like any other (kind ``reminder``) and go through the outbox, so they are
delivered with the same guarantees. Their fingerprint is the series' first post and the offset,
so however often :func:`check_reminders` runs, and across restarts, each is raised once. When the
daemon was down past several reminder times only the latest one is raised, and one more than
:data:`LATE_LIMIT` late is not raised at all (an analyst does not need a "24 h left" the day after).

Wiring (the daemon's APScheduler): ``await schedule_reminders(archive, scheduler, outbox)`` at
start; it raises what is due, then re-arms a ``date`` job at the next reminder time. Calling it
again (after a new countdown, or from an interval job) is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts import format as fmt
from alerts.countdown import series_deadline
from alerts.outbox import Outbox
from monitor.core.config import AlertsConfig
from monitor.core.detection import CountdownPoint
from monitor.core.store import Archive
from monitor.core.times import iso, utc

log = logging.getLogger(__name__)

SERIES_TOLERANCE = {"day": timedelta(hours=36), "hour": timedelta(hours=3)}
LATE_LIMIT = timedelta(hours=6)
JOB_ID = "tgmonitor-countdown-reminders"


@dataclass
class Series:
    channel_id: int
    first_post_id: int
    latest_post_id: int
    deadline: datetime
    points: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Reminder:
    series: Series
    offset_hours: float
    due_at: datetime

    @property
    def fingerprint(self) -> str:
        return f"reminder:{self.series.first_post_id}:{self.offset_hours:g}"

    # what the daemon's scheduler reads (monitor.scheduler.ReminderLike)
    @property
    def key(self) -> str:
        return self.fingerprint

    @property
    def at(self) -> datetime:
        return self.due_at


def _deadline_of(points: list[dict[str, Any]]) -> datetime:
    """The series deadline: :func:`alerts.countdown.series_deadline` when the points are in step,
    else the deadline the pipeline computed for the latest point."""
    steps = [CountdownPoint(date=p["date"], value=p["value"], unit=p["unit"]) for p in points]
    common = series_deadline(steps) if len(steps) >= 2 else None
    return utc(common) if common is not None else points[-1]["deadline"]


async def countdown_series(archive: Archive, since: datetime) -> list[Series]:
    """Series with a deadline at or after ``since``, from the ``countdowns`` table."""
    rows = await archive.alerts.countdown_points()
    series: list[Series] = []
    open_by_channel: dict[int, list[list[dict[str, Any]]]] = {}
    for post_id, channel_id, date, value, unit, deadline in rows:
        point = {
            "post_id": post_id,
            "channel_id": channel_id,
            "date": datetime.fromisoformat(date),
            "value": value,
            "unit": unit,
            "deadline": utc(datetime.fromisoformat(deadline)),
        }
        tolerance = SERIES_TOLERANCE.get(unit, SERIES_TOLERANCE["day"])
        groups = open_by_channel.setdefault(channel_id, [])
        for group in groups:
            if abs(group[-1]["deadline"] - point["deadline"]) <= tolerance:
                group.append(point)
                break
        else:
            groups.append([point])
    for channel_id, groups in open_by_channel.items():
        for group in groups:
            deadline = _deadline_of(group)
            if deadline < since:
                continue
            series.append(Series(channel_id, group[0]["post_id"], group[-1]["post_id"], deadline, group))
    return series


def _offsets(config: AlertsConfig) -> list[float]:
    return sorted({float(o) for o in config.reminder_offsets_hours}, reverse=True)


async def due_reminders(
    archive: Archive, now: datetime, offsets: list[float] | None = None
) -> list[Reminder]:
    """Reminders due at ``now`` that have not been raised yet (at most one per series)."""
    offsets = sorted(offsets if offsets is not None else [24.0, 0.0], reverse=True)
    now = utc(now)
    out: list[Reminder] = []
    alerts = archive.alerts
    for series in await countdown_series(archive, now - LATE_LIMIT):
        passed = [o for o in offsets if series.deadline - timedelta(hours=o) <= now]
        if not passed:
            continue
        latest = min(passed)  # the one closest to the deadline
        reminder = Reminder(series, latest, series.deadline - timedelta(hours=latest))
        if now - reminder.due_at > LATE_LIMIT:
            continue
        if await alerts.has_fingerprint(reminder.fingerprint):
            continue
        out.append(reminder)
    return out


async def next_reminder_at(
    archive: Archive, now: datetime, offsets: list[float] | None = None
) -> datetime | None:
    """When the next reminder falls due after ``now`` (for the scheduler), or ``None``."""
    offsets = offsets if offsets is not None else [24.0, 0.0]
    now = utc(now)
    times = [
        series.deadline - timedelta(hours=o)
        for series in await countdown_series(archive, now)
        for o in offsets
        if series.deadline - timedelta(hours=o) > now
    ]
    return min(times) if times else None


async def reminder_body(archive: Archive, reminder: Reminder) -> dict[str, Any]:
    post = await archive.post_by_id(reminder.series.latest_post_id)
    latest = reminder.series.points[-1]
    countdown = {"value": latest["value"], "unit": latest["unit"], "deadline": iso(reminder.series.deadline)}
    if post is not None:
        body = fmt.post_body(
            post, kind="reminder", severity="high", matches=[], countdown=countdown, ocr_text=None
        )
    else:
        body = {
            "kind": "reminder",
            "severity": "high",
            "channel_id": reminder.series.channel_id,
            "matches": [],
        }
        body["countdown"] = countdown
    body["offset_hours"] = reminder.offset_hours
    body["deadline"] = iso(reminder.series.deadline)
    body["series"] = [
        {"post_id": p["post_id"], "date": iso(p["date"]), "value": p["value"], "unit": p["unit"]}
        for p in reminder.series.points
    ]
    return body


async def check_reminders(archive: Archive, outbox: Outbox, now: datetime | None = None) -> list[int]:
    """Raise every reminder due at ``now`` through ``outbox``; returns the new alert ids."""
    now = utc(now or datetime.now(UTC))
    ids = []
    for reminder in await due_reminders(archive, now, _offsets(outbox.config)):
        body = await reminder_body(archive, reminder)
        alert_id = await outbox.record_alert(
            "reminder",
            reminder.fingerprint,
            body,
            "high",
            post_id=reminder.series.latest_post_id,
            channel_id=reminder.series.channel_id,
        )
        if alert_id is not None:
            log.info(
                "reminder alert=%s channel=%s deadline=%s offset=%gh",
                alert_id,
                reminder.series.channel_id,
                iso(reminder.series.deadline),
                reminder.offset_hours,
            )
            ids.append(alert_id)
    return ids


async def schedule_reminders(
    archive: Archive, scheduler: Any, outbox: Outbox, *, job_id: str = JOB_ID
) -> list[int]:
    """Raise due reminders now, then (re)arm one APScheduler ``date`` job for the next one."""
    ids = await check_reminders(archive, outbox)
    when = await next_reminder_at(archive, datetime.now(UTC), _offsets(outbox.config))
    if when is not None:
        scheduler.add_job(
            schedule_reminders,
            "date",
            run_date=when,
            args=[archive, scheduler, outbox],
            kwargs={"job_id": job_id},
            id=job_id,
            replace_existing=True,
            misfire_grace_time=int(LATE_LIMIT.total_seconds()),
        )
    else:
        job = scheduler.get_job(job_id)
        if job is not None:
            job.remove()
    return ids


# --- the daemon's scheduler hooks (monitor.daemon: Hooks.reminders, Hooks.fire_reminder) ------


async def compute_reminders(archive: Archive, config: AlertsConfig) -> list[Reminder]:
    """Every reminder not raised yet: those due now (the latest per series) and all future ones.

    The daemon makes one APScheduler ``date`` job per item (``.key``, ``.at``); each job calls
    :func:`fire_reminder`. Keys are the alert fingerprints, so rebuilding never duplicates.
    """
    offsets = _offsets(config)
    now = datetime.now(UTC)
    out = list(await due_reminders(archive, now, offsets))
    for series in await countdown_series(archive, now):
        for offset in offsets:
            at = series.deadline - timedelta(hours=offset)
            if at > now:
                out.append(Reminder(series, offset, at))
    return out


async def fire_reminder(
    archive: Archive, outbox: Outbox | None, reminder: Reminder | None = None
) -> list[int]:
    """Raise whatever reminders are due now (this one included) through ``outbox`` (none: nothing)."""
    if outbox is None:
        return []
    return await check_reminders(archive, outbox)
