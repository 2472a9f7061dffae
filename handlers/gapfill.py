"""Gap-fill and back-fill: fetch from a channel's history what the live updates did not bring.

Updates can be dropped silently (a disconnect, a channel difference Telethon skips), so the daemon
gap-fills every channel from its watermark at each connection and every few minutes: usually ONE
request, the newest page of history, which also shows missed edits and deletions. A message is
sent through the intake like a live one, so saving stays idempotent and the watermark honest.

Back-fill pulls a channel's older history (newest first) through the same pipeline, skipping what
is archived and not edited since, so running it again costs only the history pages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telethon import TelegramClient, errors

from handlers.channels import CHANNEL_ERROR_TYPES, ChannelBook, channel_status_for, resolve_one
from handlers.intake import Intake, Unit
from handlers.pipeline import Pipeline
from handlers.telegram import group_messages, input_peer
from monitor.core.errors import TelegramSetupError
from monitor.core.models import Channel
from monitor.core.store import Archive
from monitor.core.times import iso

log = logging.getLogger(__name__)


class GapFiller:
    """Gap-fills watched channels through the intake and retries the posts that failed.

    ``sleep`` waits out a flood wait (returning early when the daemon stops) and ``stopping``
    says whether it does: both come from the daemon, which owns the stop event.
    """

    def __init__(
        self,
        client: TelegramClient,
        archive: Archive,
        intake: Intake,
        book: ChannelBook,
        *,
        sleep: Callable[[float], Awaitable[None]],
        stopping: Callable[[], bool],
        initial_history: int = 20,
        recheck_recent: int = 20,
        client_for: Callable[[Channel], TelegramClient] | None = None,
    ):
        self.client = client
        # An account pool reads each channel through the account it is assigned to.
        self.client_for = client_for or (lambda _channel: self.client)
        self.archive = archive
        self.intake = intake
        self.book = book
        self.sleep = sleep
        self.stopping = stopping
        self.initial_history = initial_history
        self.recheck_recent = recheck_recent
        self._locks: dict[int, asyncio.Lock] = {}
        self._rechecked: dict[tuple[int, int], str] = {}

    async def gapfill(self, channel: Channel, *, source: str = "gapfill") -> int:
        """Fetch what is newer than the channel's watermark and send it through the intake."""
        lock = self._locks.setdefault(channel.id, asyncio.Lock())
        async with lock:
            return await self._gapfill(channel, source)

    async def _gapfill(self, channel: Channel, source: str) -> int:
        """One round for one channel, usually ONE request: the newest page of history.

        That page holds everything newer than the watermark unless more than a page was missed
        (then the rest is iterated from the watermark), and it is also where missed edits and
        deletions of recent posts show (see :meth:`_recheck`).
        """
        client = self.client_for(channel)
        progress = self.intake.progress.of(channel.id)
        last = progress.safe()
        peer = input_peer(channel)
        existing = await self._archived_since(channel.id, last)
        first_sight = last == 0 and not existing
        limit = max(self.recheck_recent, self.initial_history, 1)
        queued = 0
        top = last
        page: list[Any] = []
        while True:
            try:
                page = [m for m in await client.get_messages(peer, limit=limit) if m is not None]
                ids = [m.id for m in page]
                if first_sight:
                    # First sight of a channel: its recent history, not all of it (that is backfill).
                    fresh = sorted(page[: self.initial_history], key=lambda m: m.id)
                    queued += await self._submit_messages(channel, fresh, existing, source)
                    top = max([top, *ids])
                elif len(page) < limit or (ids and min(ids) <= top + 1):
                    fresh = sorted((m for m in page if m.id > top), key=lambda m: m.id)
                    queued += await self._submit_messages(channel, fresh, existing, source)
                    top = max([top, *ids])
                else:  # more than a page missed: walk up from the watermark
                    batch: list[Any] = []
                    async for message in client.iter_messages(peer, min_id=top, reverse=True):
                        if message.id <= top:  # reverse iteration emulates min_id and does not filter
                            continue
                        batch.append(message)
                        if len(batch) >= 100 and getattr(message, "grouped_id", None) is None:
                            queued += await self._submit_messages(channel, batch, existing, source)
                            top = batch[-1].id
                            batch = []
                    if batch:
                        queued += await self._submit_messages(channel, batch, existing, source)
                        top = batch[-1].id
                break
            except errors.FloodWaitError as exc:
                log.warning(
                    "flood wait %s s on gap-fill channel=@%s: waiting it out",
                    exc.seconds,
                    channel.username or channel.id,
                )
                await self.sleep(exc.seconds)
                if self.stopping():
                    return queued
            except CHANNEL_ERROR_TYPES as exc:
                await self.book.failed(self.archive, channel, exc)
                return queued
        self.intake.progress.synced(channel.id, top)
        if self.recheck_recent and not first_sight:
            await self._recheck(channel, [m for m in page if m.id <= last])
        await self.book.readable(self.archive, channel)
        await self.archive.set_gapfill_time(channel.id)
        if queued:
            log.info("gap-fill channel=@%s queued=%d up_to=%d", channel.username or channel.id, queued, top)
        return queued

    async def _recheck(self, channel: Channel, messages: list[Any]) -> None:
        """Find edits and deletions of archived posts whose updates never arrived.

        Telethon drops edits and deletions that come inside a channel difference (it moves the
        pts before applying them), and Telegram does not always send them at all. The newest
        page of history shows both: a changed ``edit_date``, or an archived id missing from a
        range Telegram returned whole.
        """
        if not messages:
            return
        ids = {m.id for m in messages}
        known = await self.archive.message_states(channel.id, between=(min(ids), max(ids)))
        for group in group_messages(sorted(messages, key=lambda m: m.id)):
            first = group[0]
            edits = [m.edit_date for m in group if getattr(m, "edit_date", None)]
            edit = iso(max(edits)) if edits else None
            key = (channel.id, first.id)
            if (
                first.id in known
                and edit is not None
                and known[first.id][0] != edit
                and self._rechecked.get(key) != edit
            ):
                if len(self._rechecked) > 100_000:
                    self._rechecked.clear()
                self._rechecked[key] = edit  # an edit that changes nothing we keep is resubmitted once only
                await self.intake.submit(Unit(channel.id, group, "edit", "gapfill"))
        gone = [mid for mid, (_, deleted_at) in known.items() if mid not in ids and deleted_at is None]
        if gone:
            await self.intake.submit(Unit(channel.id, [], "delete", "gapfill", deleted_ids=gone))

    async def _archived_since(self, channel_id: int, last: int) -> dict[int, str | None]:
        states = await self.archive.message_states(channel_id, above=last)
        return {message_id: edit_date for message_id, (edit_date, _) in states.items()}

    async def _submit_messages(
        self, channel: Channel, messages: list[Any], existing: dict[int, str | None], source: str
    ) -> int:
        count = 0
        for group in group_messages(messages):
            first = group[0]
            if first.id in existing and existing[first.id] == iso(getattr(first, "edit_date", None)):
                continue  # archived already and not edited since
            await self.intake.submit(Unit(channel.id, group, "new", source))
            count += 1
        return count

    async def retry_failed(self) -> int:
        """Refetch and resubmit posts whose processing failed (their ids hold the watermark)."""
        channels = self.book.channels
        count = 0
        for cid, progress in self.intake.progress.channels.items():
            if not progress.failed or cid not in channels:
                continue
            ids = sorted(progress.failed)
            try:
                messages = await self.client_for(channels[cid]).get_messages(
                    input_peer(channels[cid]), ids=ids
                )
            except CHANNEL_ERROR_TYPES as exc:
                await self.book.failed(self.archive, channels[cid], exc)
                continue
            except errors.FloodWaitError as exc:
                log.warning("flood wait %s s on retry: later", exc.seconds)
                continue
            found = [m for m in messages if m is not None]
            gone = set(ids) - {m.id for m in found}
            if gone:  # deleted meanwhile: nothing to archive, stop holding the watermark
                progress.failed.difference_update(gone)
            for group in group_messages(sorted(found, key=lambda m: m.id)):
                progress.failed.difference_update(m.id for m in group)
                await self.intake.submit(Unit(cid, group, "new", "retry"))
                count += 1
        if count:
            log.info("retrying %d failed posts", count)
        return count


async def backfill(
    client: TelegramClient,
    pipeline: Pipeline,
    ref: str,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    max_document_bytes: int = 0,
    max_video_bytes: int = 0,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, int]:
    """Pull a channel's history (newest first) through the pipeline; safe to run again.

    ``client`` is connected and logged in. Posts already archived and not edited since are
    skipped without downloading anything. Returns counts: seen, new, updated, unchanged,
    skipped, failed.
    """
    archive = pipeline.archive
    counts = {"seen": 0, "new": 0, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    try:
        channel = await resolve_one(client, archive, ref)
        intake = Intake(
            client,
            pipeline,
            {channel.id: channel},
            max_document_bytes=max_document_bytes,
            max_video_bytes=max_video_bytes,
        )
        peer = input_peer(channel)
        total = (await client.get_messages(peer, limit=0)).total
        expected = min(total, limit) if limit else total
        states = await archive.message_states(channel.id)
        existing = {message_id: edit_date for message_id, (edit_date, _) in states.items()}
        pending: list[Any] = []

        async def flush(messages: list[Any]) -> None:
            posts = []
            for group in group_messages(sorted(messages, key=lambda m: m.id)):
                first = group[0]
                if first.id in existing and existing[first.id] == iso(getattr(first, "edit_date", None)):
                    counts["skipped"] += 1
                    continue
                try:
                    posts.append(await intake.build_post(Unit(channel.id, group, "new", "backfill")))
                except (errors.RPCError, OSError, ValueError) as exc:
                    counts["failed"] += 1
                    log.error("backfill: message %s failed: %s", first.id, exc)
            for result in await pipeline.process_batch(posts):
                counts[result.status] = counts.get(result.status, 0) + 1

        async for message in client.iter_messages(peer, limit=limit):
            if since is not None and message.date < since:
                break
            counts["seen"] += 1
            pending.append(message)
            # Keep an album together: flush only between groups.
            if len(pending) >= 100 and getattr(message, "grouped_id", None) is None:
                await flush(pending)
                pending = []
            if on_progress is not None:
                on_progress(counts["seen"], expected)
        if pending:
            await flush(pending)
        await archive.set_gapfill_time(channel.id)
    except CHANNEL_ERROR_TYPES as exc:
        raise TelegramSetupError(f"channel {ref} cannot be read: {channel_status_for(exc)}") from None
    return counts
