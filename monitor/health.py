"""Collection health: problems raised once, cleared once, through the same outbox and sinks.

A problem has a key (``silence:<channel id>``, ``status:<channel id>``, ``account:<name>``); the
archive's ``health`` table says whether it is open, so a problem is alerted once however often it
is seen, and its recovery is alerted once when it clears (a restart does not repeat either).
Alerts have their own kind, ``health``, so sinks and ``alerts list`` can tell them from
detections.

Silence is learned per channel, not a fixed number: the 90th percentile of the gaps between its
last 200 posts, times ``silence_factor``, and never less than ``silence_min_hours``. A channel
that posts every ten minutes is silent after an hour or two; one that posts twice a week is not
silent after a day.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.core.config import TelegramConfig
from monitor.core.models import Channel

if TYPE_CHECKING:  # why: stats and doctor read the heartbeat without loading the alert side
    from alerts.outbox import Outbox
    from monitor.core.store import Archive

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "daemon:heartbeat"
HEARTBEAT_STALE_SECONDS = 180.0  # doctor and stats call a daemon whose heartbeat is older "down or stuck"
MIN_POSTS_TO_LEARN = 8  # fewer posts say nothing about a channel's usual gap


def heartbeat_state(stamp: str | None, now: datetime | None = None) -> dict[str, Any] | None:
    """What ``stats`` and ``doctor`` say of the daemon's heartbeat (None: no daemon ever ran here)."""
    if not stamp:
        return None
    age = ((now or datetime.now(UTC)) - datetime.fromisoformat(stamp)).total_seconds()
    alive = age <= HEARTBEAT_STALE_SECONDS
    says = (
        f"alive ({age:.0f} s ago)"
        if alive
        else f"{_span(age)} old: the daemon is down or stuck (systemctl status tgmonitor)"
    )
    return {"at": stamp, "age_s": round(age, 1), "alive": alive, "says": says}


def channel_name(channel: Channel) -> str:
    return f"@{channel.username}" if channel.username else (channel.title or str(channel.id))


def usual_gap(dates: list[str]) -> float | None:
    """The 90th percentile of the gaps (seconds) between posts, newest-first ISO dates; None if too few."""
    if len(dates) < MIN_POSTS_TO_LEARN:
        return None
    moments = sorted(datetime.fromisoformat(d) for d in dates)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(moments)]
    gaps = [g for g in gaps if g > 0] or [1.0]
    if len(gaps) < 2:
        return gaps[0]
    return statistics.quantiles(gaps, n=10, method="inclusive")[-1]


def silence_threshold(dates: list[str], settings: TelegramConfig) -> float | None:
    """Seconds of silence after which the channel is called silent (None: not learned yet)."""
    gap = usual_gap(dates)
    if gap is None:
        return None
    return max(settings.silence_min_hours * 3600.0, settings.silence_factor * gap)


class Health:
    """Raises and clears collection problems (see the module docstring)."""

    def __init__(self, archive: Archive, outbox: Outbox | None, settings: TelegramConfig):
        self.archive = archive
        self.outbox = outbox
        self.settings = settings

    async def problem(
        self, key: str, subject: str, text: str, *, severity: str = "high", channel_id: int | None = None
    ) -> bool:
        """Raise a problem; True when it is new (then one alert is recorded)."""
        raised = await self.archive.raise_health(key, subject, text)
        if raised is None:
            return False
        log.warning("health: %s", text)
        await self._alert(f"health:{key}:{raised}", text, severity, "problem", subject, channel_id)
        return True

    async def recovered(
        self, key: str, text: str, *, severity: str = "high", channel_id: int | None = None
    ) -> bool:
        """Clear a problem; True when one was open (then one "recovered" alert is recorded)."""
        row = await self.archive.clear_health(key)
        if row is None:
            return False
        log.info("health: %s", text)
        await self._alert(
            f"health-clear:{key}:{row['raised_at']}", text, severity, "recovered", row["subject"], channel_id
        )
        return True

    async def event(
        self, key: str, subject: str, text: str, *, severity: str = "medium", channel_id: int | None = None
    ) -> bool:
        """Something to say once that has no recovery (a rename): raised and closed at once."""
        new = await self.problem(key, subject, text, severity=severity, channel_id=channel_id)
        await self.archive.clear_health(key)
        return new

    async def _alert(
        self, fingerprint: str, text: str, severity: str, state: str, subject: str, channel_id: int | None
    ) -> None:
        if self.outbox is None:
            return
        body: dict[str, Any] = {
            "kind": "health",
            "severity": severity,
            "state": state,
            "subject": subject,
            "text": text,
            "date": datetime.now(UTC).isoformat(),
        }
        await self.outbox.record_alert("health", fingerprint, body, severity, channel_id=channel_id)

    # -- the checks ------------------------------------------------------------------------------
    async def channel_status(self, channel: Channel, status: str | None) -> None:
        """A channel turned private/banned/invalid/renamed away (status), or is readable again (None)."""
        key = f"status:{channel.id}"
        name = channel_name(channel)
        if status is None:
            await self.recovered(key, f"channel {name} can be read again", channel_id=channel.id)
        else:
            await self.problem(key, name, f"channel {name} is {status}: not collected", channel_id=channel.id)

    async def renamed(self, channel: Channel, old: str | None) -> None:
        text = f"channel @{old or '-'} renamed itself to @{channel.username or '-'} (followed by id {channel.id})"
        await self.event(
            f"renamed:{channel.id}:{channel.username}", channel_name(channel), text, channel_id=channel.id
        )

    async def account_lost(self, account: str, reason: str) -> None:
        await self.problem(
            f"account:{account}", account, f"account {account} lost ({reason}): its channels moved"
        )

    async def account_back(self, account: str) -> None:
        await self.recovered(f"account:{account}", f"account {account} collects again")

    async def check_silence(self, channels: list[Channel], now: datetime | None = None) -> int:
        """Raise or clear ``silence:<id>`` for each channel; how many are silent now."""
        now = now or datetime.now(UTC)
        silent = 0
        for channel in channels:
            dates = await self.archive.recent_post_dates(channel.id)
            limit = silence_threshold(dates, self.settings)
            if limit is None:
                continue
            quiet = (now - datetime.fromisoformat(dates[0])).total_seconds()
            key = f"silence:{channel.id}"
            name = channel_name(channel)
            if quiet > limit:
                silent += 1
                await self.problem(
                    key,
                    name,
                    f"channel {name} silent for {_span(quiet)} (its usual gap is under {_span(limit / self.settings.silence_factor)})",
                    severity="medium",
                    channel_id=channel.id,
                )
            else:
                await self.recovered(
                    key, f"channel {name} posts again", severity="medium", channel_id=channel.id
                )
        return silent


def _span(seconds: float) -> str:
    delta = timedelta(seconds=int(seconds))
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    if delta >= timedelta(hours=2):
        return f"{delta.total_seconds() / 3600:.0f} h"
    return f"{max(1, round(delta.total_seconds() / 60))} min"
