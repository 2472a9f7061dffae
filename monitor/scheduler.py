"""Periodic work of the daemon, on APScheduler 3.x's ``AsyncIOScheduler`` in the daemon's own loop.

Jobs: gap-fill every channel, retry failed posts, resume pending OCR/detection and pending
deliveries, countdown-deadline reminders, a daily digest, FTS5 ``optimize``, and the evidence
chain's daily head (hourly: the first run of a day records it, later ones retry what failed). Nothing lives
in a persistent job store: every job is rebuilt from the config and the archive at each start
(reminders from the archive's countdowns), so a crash or an upgrade never leaves stale jobs.

The daemon passes its work in as :class:`Hooks` (plain async callables), so this module knows
nothing about Telegram nor about the alerts side: a reminder is anything with a ``key`` and an
``at`` (:class:`ReminderLike`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.core.config import ScheduleConfig

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]


class ReminderLike(Protocol):
    """What the scheduler reads of a reminder (``alerts.reminders.Reminder`` is one).

    ``at`` is when to fire (UTC); ``key`` is stable, so rebuilding never duplicates a job.
    """

    @property
    def key(self) -> str: ...

    @property
    def at(self) -> datetime: ...


@dataclass
class Hooks:
    gapfill: Job | None = None
    retry_failed: Job | None = None
    resume_pending: Job | None = None  # pending OCR and undetected posts
    deliver_pending: Job | None = None
    reminders: Callable[[], Awaitable[Sequence[ReminderLike]]] | None = None
    fire_reminder: Callable[[ReminderLike], Awaitable[Any]] | None = None
    digest: Job | None = None
    optimize: Job | None = None
    chain_head: Job | None = None  # the evidence chain's daily head (once a day, retried hourly)


def _guarded(name: str, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    """A failing job is logged and runs again next time; it never takes the scheduler down."""

    async def run(*args: Any) -> None:
        try:
            await job(*args)
        except Exception:  # a job's failure must not stop the daemon: log it with its traceback
            log.exception("scheduled job %s failed", name)

    run.__name__ = f"job_{name}"
    return run


def build_scheduler(schedule: ScheduleConfig, hooks: Hooks) -> AsyncIOScheduler:
    """The scheduler with every periodic job; call ``start()`` inside the running loop."""
    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    now = datetime.now(UTC)

    def every(name: str, job: Job | None, seconds: float, first_in: float | None = None) -> None:
        if job is None or seconds <= 0:
            return
        start = now + timedelta(seconds=first_in if first_in is not None else seconds)
        scheduler.add_job(
            _guarded(name, job),
            IntervalTrigger(seconds=seconds, start_date=start, timezone=UTC),
            id=name,
            name=name,
            misfire_grace_time=max(30, int(seconds)),
        )

    every("gapfill", hooks.gapfill, schedule.gapfill_minutes * 60)
    every("retry_failed", hooks.retry_failed, schedule.pending_minutes * 60)
    every("resume_pending", hooks.resume_pending, schedule.pending_minutes * 60, first_in=1)
    every("deliver_pending", hooks.deliver_pending, schedule.pending_minutes * 60, first_in=2)
    every("optimize", hooks.optimize, schedule.fts_optimize_hours * 3600)
    every("chain_head", hooks.chain_head, 3600, first_in=5)
    if hooks.reminders is not None and hooks.fire_reminder is not None:
        every(
            "reminders",
            lambda: rebuild_reminders(scheduler, hooks),
            schedule.pending_minutes * 60,
            first_in=0.5,
        )
    if hooks.digest is not None:
        scheduler.add_job(
            _guarded("digest", hooks.digest),
            CronTrigger(hour=schedule.digest_hour_utc, minute=0, timezone=UTC),
            id="digest",
            name="digest",
            misfire_grace_time=3600,
        )
    return scheduler


async def rebuild_reminders(scheduler: AsyncIOScheduler, hooks: Hooks) -> int:
    """(Re)create one date job per future reminder computed from the archive; returns how many."""
    if hooks.reminders is None or hooks.fire_reminder is None:
        return 0
    reminders = await hooks.reminders()
    now = datetime.now(UTC)
    wanted = set()
    fire = _guarded("reminder", hooks.fire_reminder)
    for reminder in reminders:
        job_id = f"reminder:{reminder.key}"
        wanted.add(job_id)
        at = reminder.at if reminder.at > now else now + timedelta(seconds=1)
        if scheduler.get_job(job_id) is not None:
            continue
        scheduler.add_job(
            fire,
            DateTrigger(run_date=at, timezone=UTC),
            args=[reminder],
            id=job_id,
            name=job_id,
            misfire_grace_time=3600,
        )
    for job in scheduler.get_jobs():
        if job.id.startswith("reminder:") and job.id not in wanted:
            job.remove()
    return len(wanted)
