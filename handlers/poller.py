"""Polling channels with ``updates.getChannelDifference``, inside a per-account request budget.

Telegram pushes a channel's updates only to accounts that joined it (core.telegram.org/api/updates,
"subscribing to updates of channels/supergroups"): for a channel it only views, a client must ask
``updates.getChannelDifference`` itself. So every channel the daemon collects has an entry here:

- ``watch`` mode (never joined): polled at an adaptive interval, halved after a poll that found
  new posts and stretched by a quarter after an empty one, between ``poll_min_seconds`` and
  ``poll_max_seconds``: busy channels often, quiet ones rarely.
- ``join`` mode: the pushed updates do the work; the poller still checks the channel's pts every
  ``join_check_seconds``, so a joined channel whose updates silently stop (Telethon issue 4345)
  is caught up within that time.

Every request of an account takes a token from its :class:`Budget` (``requests_per_minute``), so
thousands of channels cost a bounded number of requests: when the channels ask for more than the
budget (planned at 85 % of it, so the queue of due polls does not grow), each one's interval
is stretched by the same factor, and :meth:`Poller.expected_delay` says by how much
(``channels list`` shows it).

What a poll finds goes through the intake like a live message (:class:`handlers.intake.Unit`),
so saving stays idempotent and the watermark honest; messages the archive already holds unchanged
are not resubmitted. The pts is kept in the archive; a lost pts (``ChannelDifferenceTooLong``, or
the first poll) falls back to a gap-fill from the watermark, so nothing is lost in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from telethon import TelegramClient, errors, utils
from telethon.tl import functions, types

from handlers.channels import CHANNEL_ERROR_TYPES, ChannelBook
from handlers.intake import Intake, Unit
from handlers.telegram import group_messages
from monitor.core.config import TelegramConfig
from monitor.core.models import Channel
from monitor.core.store import Archive
from monitor.core.times import iso

log = logging.getLogger(__name__)

GROWTH = 1.25  # an empty poll stretches a watched channel's interval by a quarter
UTILISATION = 0.85  # polls are planned for this share of the budget: a full queue would only grow
DIFF_LIMIT = 100  # messages per getChannelDifference answer (Telegram allows up to 100 for users)

ACCOUNT_LOST_ERRORS: tuple[type[Exception], ...] = (
    errors.AuthKeyUnregisteredError,
    errors.UserDeactivatedBanError,
    errors.UserDeactivatedError,
    errors.SessionRevokedError,
    errors.AuthKeyDuplicatedError,
)
"""Errors that say an account cannot be used any more: its channels go to another account."""


class Budget:
    """A token bucket without bursts: at most ``per_minute`` requests in any minute.

    ``sent`` keeps the times of the last minute's requests, for ``stats`` and the bench.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = 1.0  # no bursts: requests are spaced 60 / per_minute seconds apart
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.sent: list[float] = []
        self.total = 0

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is free (0 when one is)."""
        self._refill()
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1.0
        now = self.clock()
        self.sent.append(now)
        self.total += 1
        if len(self.sent) > 4 * self.per_minute:
            self.sent = [t for t in self.sent if t > now - 60.0]

    def last_minute(self) -> int:
        now = self.clock()
        return sum(1 for t in self.sent if t > now - 60.0)


@dataclass
class Entry:
    """One polled channel: how, how often, and where it stands."""

    channel: Channel
    mode: str  # join | watch
    pts: int | None = None
    interval: float = 10.0
    due: float = 0.0  # monotonic time of the next poll
    joined: bool = False
    last_poll_at: str | None = None
    found: int = 0  # new posts found by polling (for the log and the bench)


class AccountLost(Exception):
    """The account behind a poller is banned, deauthorised or flood-waited for long."""

    def __init__(self, account: str, reason: str, *, wait: float | None = None):
        super().__init__(f"account {account}: {reason}")
        self.account = account
        self.reason = reason
        self.wait = wait


class Poller:
    """Polls one account's channels, one request at a time, in the order they fall due."""

    def __init__(
        self,
        account: str,
        client: TelegramClient,
        archive: Archive,
        intake: Intake,
        book: ChannelBook,
        settings: TelegramConfig,
        *,
        gapfill: Callable[[Channel], Awaitable[int]],
        sleep: Callable[[float], Awaitable[None]],
        stopping: Callable[[], bool],
        on_renamed: Callable[[Channel, str | None], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.account = account
        self.client = client
        self.archive = archive
        self.intake = intake
        self.book = book
        self.settings = settings
        self.gapfill = gapfill
        self.sleep = sleep
        self.stopping = stopping
        self.on_renamed = on_renamed
        self.clock = clock
        self.budget = Budget(settings.requests_per_minute, clock=clock)
        self.entries: dict[int, Entry] = {}
        self.dirty: set[int] = set()
        self._wake = asyncio.Event()

    # -- the channels -----------------------------------------------------------------------
    def add(self, channel: Channel, mode: str, *, pts: int | None = None, joined: bool = False) -> Entry:
        """Start polling ``channel`` (at once: its first poll takes its pts or catches it up)."""
        entry = self.entries.get(channel.id)
        if entry is None:
            entry = Entry(channel, mode, pts=pts, joined=joined, due=self.clock())
            self.entries[channel.id] = entry
        entry.mode, entry.joined, entry.channel = mode, joined or entry.joined, channel
        entry.interval = self._base_interval(entry)
        self.dirty.add(channel.id)
        self._wake.set()
        return entry

    def remove(self, channel_id: int) -> Entry | None:
        self.dirty.discard(channel_id)
        return self.entries.pop(channel_id, None)

    def _base_interval(self, entry: Entry) -> float:
        if entry.mode == "join" and entry.joined:
            return self.settings.join_check_seconds
        return self.settings.poll_min_seconds

    def stretch(self) -> float:
        """How much the budget stretches every interval: 1 when the channels ask for less than it."""
        demand = sum(60.0 / e.interval for e in self.entries.values())
        return max(1.0, demand / (UTILISATION * self.budget.per_minute))

    def expected_delay(self, entry: Entry) -> float:
        """Seconds a new post may wait before a poll archives it (joined: pushed at once)."""
        if entry.mode == "join" and entry.joined:
            return 1.0
        # The next poll is planned already, behind the polls due before it (one token each). A
        # post that a poll just missed waits for the one after, whose interval may have grown by
        # a quarter (that poll found nothing).
        spacing = 60.0 / self.budget.per_minute
        ahead = sum(1 for e in self.entries.values() if e.due <= entry.due)
        next_poll = max(entry.due - self.clock(), ahead * spacing)
        after = min(self.settings.poll_max_seconds, entry.interval * GROWTH) * self.stretch()
        return max(next_poll, after) + spacing

    def state(self, channel_id: int) -> dict[str, Any]:
        """What the archive keeps of one entry (``collection`` row)."""
        e = self.entries[channel_id]
        return {
            "channel_id": channel_id,
            "mode": e.mode,
            "account": self.account,
            "joined": e.joined,
            "pts": e.pts,
            "interval": round(e.interval, 2),
            "expected_delay": round(self.expected_delay(e), 2),
            "last_poll_at": e.last_poll_at,
        }

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll until the daemon stops; raises :class:`AccountLost` when the account is gone."""
        while not self.stopping():
            if not self.entries:
                await self._idle(1.0)
                continue
            entry = min(self.entries.values(), key=lambda e: e.due)
            wait = max(entry.due - self.clock(), self.budget.wait_time())
            if wait > 0:
                await self._idle(min(wait, 1.0))
                continue
            await self.poll(entry)

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def poll(self, entry: Entry) -> int:
        """One poll of one channel (a few requests when it has more than a page); new posts found."""
        channel = entry.channel
        found = 0
        # Only a channel failing before this poll is readable again after it: a gap-fill inside
        # the poll may have found it private just now, and that must stand.
        was_failing = channel.id in self.book.failing
        try:
            if entry.pts is None:
                found = await self._start(entry)
            else:
                found = await self._difference(entry)
        except errors.FloodWaitError as exc:
            if exc.seconds >= self.settings.long_flood_wait_seconds:
                raise AccountLost(self.account, f"flood wait of {exc.seconds} s", wait=exc.seconds) from None
            log.warning(
                "flood wait %s s polling @%s: the account waits", exc.seconds, channel.username or channel.id
            )
            entry.due = self.clock() + exc.seconds
            await self.sleep(exc.seconds)
            return 0
        except ACCOUNT_LOST_ERRORS as exc:
            raise AccountLost(self.account, type(exc).__name__.removesuffix("Error")) from None
        except CHANNEL_ERROR_TYPES as exc:
            await self.book.failed(self.archive, channel, exc)
            entry.due = self.clock() + self.settings.poll_max_seconds
            return 0
        except (ConnectionError, OSError) as exc:
            log.warning("poll of @%s failed (%s): retried later", channel.username or channel.id, exc)
            entry.due = self.clock() + entry.interval
            await self._reconnect()
            return 0
        if was_failing:
            await self.book.readable(self.archive, channel)
        entry.last_poll_at = iso(datetime.now(UTC))
        entry.found += found
        if entry.mode == "watch" or not entry.joined:
            low, high = self.settings.poll_min_seconds, self.settings.poll_max_seconds
            entry.interval = max(low, entry.interval / 2) if found else min(high, entry.interval * GROWTH)
        else:
            entry.interval = self.settings.join_check_seconds
            if found:
                log.warning(
                    "joined channel @%s: %d posts found by the pts check (pushed updates stopped?)",
                    channel.username or channel.id,
                    found,
                )
        entry.due = self.clock() + entry.interval * self.stretch()
        self.dirty.add(channel.id)
        return found

    async def _reconnect(self) -> None:
        """A pool account's link died past Telethon's retries: connect again (the daemon's own
        connection loop looks after the first account only)."""
        if self.client.is_connected():
            return
        try:
            await self.client.connect()
        except (ConnectionError, OSError) as exc:
            log.warning("account %s cannot reconnect yet (%s)", self.account, exc)

    async def _call(self, request: Any) -> Any:
        wait = self.budget.wait_time()
        if wait > 0:
            await self.sleep(wait)
        self.budget.take()
        return await self.client(request)

    def _input_channel(self, channel: Channel) -> types.InputChannel:
        return types.InputChannel(channel.id, channel.access_hash or 0)

    async def _start(self, entry: Entry) -> int:
        """First poll: take the channel's pts; a watched channel is then gap-filled from its
        watermark, so what came out before the pts is not lost."""
        channel = entry.channel
        page = await self._call(
            functions.messages.GetHistoryRequest(
                peer=types.InputPeerChannel(channel.id, channel.access_hash or 0),
                offset_id=0,
                offset_date=None,
                add_offset=0,
                limit=1,
                max_id=0,
                min_id=0,
                hash=0,
            )
        )
        entry.pts = getattr(page, "pts", None) or 1
        await self._follow_names(channel, getattr(page, "chats", []))
        if entry.mode == "join":
            return 0  # pushed updates and the daemon's gap-fill cover what came before
        return await self.gapfill(channel)

    async def _difference(self, entry: Entry) -> int:
        channel = entry.channel
        found = 0
        while True:
            diff = await self._call(
                functions.updates.GetChannelDifferenceRequest(
                    channel=self._input_channel(channel),
                    filter=types.ChannelMessagesFilterEmpty(),
                    pts=entry.pts or 1,
                    limit=DIFF_LIMIT,
                    force=True,
                )
            )
            if isinstance(diff, types.updates.ChannelDifferenceEmpty):
                entry.pts = diff.pts
                return found
            channel = await self._follow_names(channel, diff.chats)
            if isinstance(diff, types.updates.ChannelDifferenceTooLong):
                # Too far behind for a difference: the history from the watermark has it all.
                entry.pts = getattr(diff.dialog, "pts", None) or entry.pts
                return found + await self.gapfill(channel)
            found += await self._apply(channel, diff)
            entry.pts = diff.pts
            if diff.final or self.stopping():
                return found

    async def _apply(self, channel: Channel, diff: Any) -> int:
        """Send a difference's new messages, edits and deletions through the intake."""
        entities = {utils.get_peer_id(c): c for c in [*diff.chats, *diff.users]}
        messages = sorted((m for m in diff.new_messages if isinstance(m, types.Message)), key=lambda m: m.id)
        for message in messages:
            message._finish_init(self.client, entities, None)
        found = 0
        if messages:
            known = await self.archive.message_states(channel.id, between=(messages[0].id, messages[-1].id))
            in_flight = self.intake.progress.of(channel.id).pending
            for group in group_messages(messages):
                if group[0].id in known or group[0].id in in_flight:
                    continue  # archived or on its way already (pushed, or gap-filled): not twice
                await self.intake.submit(Unit(channel.id, group, "new", "poll"))
                found += 1
        for update in diff.other_updates:
            if isinstance(update, types.UpdateEditChannelMessage) and isinstance(
                update.message, types.Message
            ):
                update.message._finish_init(self.client, entities, None)
                await self.intake.submit(Unit(channel.id, [update.message], "edit", "poll"))
            elif isinstance(update, types.UpdateDeleteChannelMessages):
                await self.intake.on_deleted(channel.id, list(update.messages))
        return found

    async def _follow_names(self, channel: Channel, chats: list[Any]) -> Channel:
        """A channel renamed itself: it is followed by id, and its new name kept everywhere."""
        for chat in chats:
            if not (isinstance(chat, types.Channel) and chat.id == channel.id):
                continue
            old = channel.username
            renamed = (chat.username or None) != (old or None)
            if not renamed and not (chat.title and chat.title != channel.title):
                return channel
            fresh = replace(
                channel,
                username=chat.username or None,
                title=chat.title or channel.title,
                access_hash=chat.access_hash or channel.access_hash,
            )
            await self.archive.upsert_channel(fresh)
            if channel.id in self.book.channels:
                self.book.channels[channel.id] = fresh  # the intake names posts by it
            if channel.id in self.entries:
                self.entries[channel.id].channel = fresh
            if renamed:
                log.warning(
                    "channel id=%s renamed: @%s -> @%s", channel.id, old or "-", fresh.username or "-"
                )
                if self.on_renamed is not None:
                    await self.on_renamed(fresh, old)
            return fresh
        return channel
