"""The live daemon: connect, resolve, listen, gap-fill, survive, stop cleanly.

Lifecycle of :meth:`Daemon.run`:

1. Config and secrets are checked before anything connects (a bad one is one sentence).
2. The archive and pipeline open (:func:`monitor.app.open_app`); the intake starts its workers.
3. Connect. Channels are resolved once: access hashes live in the archive, so a restart builds
   ``InputPeerChannel`` from there and makes no resolve calls (Telegram rate-limits them hard).
4. Handlers are registered and every channel is gap-filled from its watermark through the same
   pipeline; the scheduler gap-fills again every few minutes (updates can be dropped silently).
5. A disconnect that outlives Telethon's own retries is noticed here: reconnect with backoff,
   forever, and gap-fill after. ``FloodWaitError`` above Telethon's threshold is waited out for
   that channel only. A channel that turns private, banned or invalid is marked in the archive
   and skipped; the rest keeps running.
6. SIGTERM/SIGINT: stop taking updates, finish in-flight posts (bounded wait), save watermarks,
   disconnect, close. SIGHUP: reload config and rules (a bad reload keeps the old ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telethon import TelegramClient, errors
from telethon.sessions import StringSession
from telethon.tl import types

from handlers.intake import WATERMARK_KEY, Intake, Unit
from handlers.telegram import (
    channel_from_entity,
    group_messages,
    input_peer,
    register_handlers,
    unregister_handlers,
)
from monitor.core.config import Config, load_config, read_secret
from monitor.core.errors import ConfigError, MonitorError, RulesError, TelegramSetupError
from monitor.core.models import Channel
from monitor.core.times import iso, stamp

log = logging.getLogger(__name__)

HEALTH_KEY = "daemon:health"
RESOLVE_RETRY_SECONDS = 3600.0  # unresolved channels are retried hourly (resolves are rate-limited)
# Errors that say a channel cannot be read any more, and the status we record for each.
CHANNEL_ERRORS: dict[type[Exception], str] = {
    errors.ChannelPrivateError: "private",
    errors.ChannelBannedError: "banned",
    errors.UserBannedInChannelError: "banned",
    errors.ChannelInvalidError: "invalid",
    errors.ChannelPublicGroupNaError: "invalid",
    errors.UsernameNotOccupiedError: "renamed",
    errors.UsernameInvalidError: "renamed",
}
CHANNEL_ERROR_TYPES = tuple(CHANNEL_ERRORS)


def channel_status_for(exc: Exception) -> str:
    for cls, status in CHANNEL_ERRORS.items():
        if isinstance(exc, cls):
            return status
    return "error"


def parse_channel_ref(ref: str | int) -> str | int:
    """``@name``, ``t.me/name``, ``https://t.me/s/name/123`` -> ``name``; ``-100123``/``123`` -> 123."""
    if isinstance(ref, int):
        return int(str(ref).removeprefix("-100")) if ref < 0 else ref
    text = ref.strip()
    if re.fullmatch(r"-?\d+", text):
        return parse_channel_ref(int(text))
    text = re.sub(r"^(https?://)?(www\.)?(t\.me|telegram\.me|telegram\.dog)/(s/)?", "", text)
    return text.lstrip("@").split("/")[0].split("?")[0]


def make_client(config: Config) -> TelegramClient:
    """A TelegramClient from the environment's secrets (checked here, before any connection)."""
    tg = config.telegram
    raw_id = read_secret(tg.api_id_env)
    try:
        api_id = int(raw_id or "")
    except ValueError:
        raise ConfigError(f"{tg.api_id_env} must be the numeric api_id from my.telegram.org") from None
    api_hash = read_secret(tg.api_hash_env) or ""
    if not re.fullmatch(r"[0-9a-fA-F]{32}", api_hash):
        raise ConfigError(f"{tg.api_hash_env} must be the 32-character api_hash from my.telegram.org")
    session_string = read_secret(tg.session_env, required=False)
    session: Any
    if session_string:
        try:
            session = StringSession(session_string)
        except ValueError:
            raise TelegramSetupError(
                f"{tg.session_env} is not a valid session string: run tgmonitor login --string"
            ) from None
    else:
        path = Path(tg.session).expanduser()
        if not path.exists() and not Path(f"{path}.session").exists():
            raise TelegramSetupError(f"no Telegram session at {path}: run tgmonitor login first")
        session = str(path)
    return TelegramClient(
        session,
        api_id,
        api_hash,
        flood_sleep_threshold=tg.flood_sleep_threshold,
        connection_retries=tg.connection_retries,
        auto_reconnect=True,
        catch_up=False,
        receive_updates=True,
    )


@dataclass
class Health:
    """What ``stats`` and the logs say about the connection (saved in archive meta)."""

    state: str = "starting"  # starting | connected | reconnecting | stopping | stopped
    since: str | None = field(default_factory=lambda: iso(datetime.now(UTC)))
    reconnects: int = 0
    last_error: str | None = None
    channels: int = 0
    in_flight: int = 0


class Daemon:
    """``tgmonitor run``: see the module docstring."""

    def __init__(
        self,
        config: Config,
        db_path: Path,
        media_dir: Path | None = None,
        *,
        client_factory: Callable[[Config], TelegramClient] = make_client,
        ocr: bool = True,
        detect: bool = True,
        deliver: bool = True,
        stop_timeout: float = 30.0,
        backoff: tuple[float, float] = (1.0, 300.0),
        connect_timeout: float = 60.0,
        initial_history: int = 20,
        recheck_recent: int = 20,
        workers: int = 4,
        watermark_interval: float = 1.0,
        install_signals: bool = True,
        schedule: bool = True,
    ):
        self.config = config
        self.db_path = db_path
        self.media_dir = media_dir
        self.client_factory = client_factory
        self.ocr = ocr
        self.detect = detect
        self.deliver = deliver
        self.stop_timeout = stop_timeout
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.initial_history = initial_history
        self.recheck_recent = recheck_recent
        self.workers = workers
        self.watermark_interval = watermark_interval
        self.install_signals = install_signals
        self.schedule = schedule
        self.health = Health()
        self.channels: dict[int, Channel] = {}
        self.unresolved: dict[str, str] = {}
        self.client: TelegramClient | None = None
        self.app: Any = None
        self.intake: Intake | None = None
        self.scheduler: Any = None
        self.started = asyncio.Event()  # connected and first gap-fill pass done
        self._stop = asyncio.Event()
        self._gapfill_locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._handlers: list[Any] = []
        self._saved_marks: dict[int, int] = {}
        self._rechecked: dict[tuple[int, int], str] = {}
        self._failing: dict[int, str] = {}  # channel id -> status, while a channel cannot be read
        self._next_resolve = 0.0  # monotonic time before which unresolved channels are not retried

    # -- public control ---------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stop requested: finishing in-flight posts")
            self._stop.set()

    async def run(self) -> None:
        """Run until :meth:`request_stop` (SIGTERM/SIGINT). Raises MonitorError on setup problems."""
        from monitor.app import open_app

        self.client = self.client_factory(self.config)  # secrets checked before anything opens
        async with open_app(
            self.config,
            self.db_path,
            self.media_dir,
            ocr=self.ocr,
            detect=self.detect,
            deliver=self.deliver,
            telegram_client=self.client,
        ) as app:
            self.app = app
            self.intake = Intake(
                self.client,
                app.pipeline,
                self.channels,
                workers=self.workers,
                max_document_bytes=self.config.telegram.download_documents_max_bytes,
                ocr_concurrency=max(2, self.config.ocr.workers * 2),
            )
            await self._load_known_channels()
            self.intake.start()
            self._handlers = register_handlers(
                self.client,
                on_message=self.intake.on_message,
                on_deleted=self.intake.on_deleted,
                watched=self.channels.__contains__,
            )
            self._install_signals()
            self._spawn(self._watermark_loop(), "watermarks")
            outbox_stop = asyncio.Event()
            outbox_task = None
            if callable(getattr(app.outbox, "run", None)):
                # Deliveries run beside the intake and stop after it, so alerts raised by the
                # last in-flight posts are still sent (the outbox keeps anything unsent for later).
                outbox_task = asyncio.create_task(app.outbox.run(outbox_stop), name="outbox")
            try:
                if self.schedule:
                    self._start_scheduler()
                await self._connection_loop()
            finally:
                await self._shutdown()
                if outbox_task is not None:
                    outbox_stop.set()
                    with contextlib.suppress(asyncio.CancelledError):
                        await outbox_task

    # -- connection -------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        assert self.client is not None
        delay = self.backoff[0]
        while not self._stop.is_set():
            try:
                if not await self._connect_once():
                    break  # stop requested while connecting
            except (OSError, ConnectionError, errors.ServerError) as exc:
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                await self._set_state("reconnecting")
                log.warning("connect failed (%s): retrying in %.0f s", type(exc).__name__, delay)
                await self._sleep(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            await self._set_state("connected")
            log.info("connected")
            if not self.channels or self.unresolved_pending():
                await self.resolve_channels()
            gapfill = self._spawn(self._first_gapfill(), "gapfill-start")
            disconnected = asyncio.ensure_future(self.client.disconnected)
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({disconnected, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if disconnected.done():
                exc = disconnected.exception()
                self.health.last_error = f"{type(exc).__name__}: {exc}" if exc else "disconnected"
            else:
                disconnected.cancel()
            if self._stop.is_set():
                gapfill.cancel()
                break
            gapfill.cancel()
            if self.intake is not None:
                self.intake.progress.unsync_all()
            self.health.reconnects += 1
            await self._set_state("reconnecting")
            log.warning("disconnected (%s): reconnecting in %.0f s", self.health.last_error, delay)
            await self._sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _connect_once(self) -> bool:
        """Connect and check the login: bounded in time, and abandoned at once on stop.

        A network that accepts the TCP connection but never speaks MTProto (a captive portal, a
        DPI block) makes Telethon reconnect in a loop inside ``connect()`` without returning;
        the timeout turns that into a normal failed attempt with backoff.
        """
        assert self.client is not None
        attempt = asyncio.ensure_future(self._connect_and_check())
        stopping = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait(
            {attempt, stopping}, timeout=self.connect_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        stopping.cancel()
        if attempt in done:
            attempt.result()  # a connect error or TelegramSetupError is raised here
            return True
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await attempt
        await self.client.disconnect()  # ends Telethon's own reconnect loop
        if self._stop.is_set():
            return False
        raise ConnectionError(
            f"Telegram did not answer within {self.connect_timeout:.0f} s (network blocked?)"
        )

    async def _connect_and_check(self) -> None:
        assert self.client is not None
        await self.client.connect()
        if not await self.client.is_user_authorized():
            raise TelegramSetupError("the Telegram session is not logged in: run tgmonitor login")

    def unresolved_pending(self) -> bool:
        return bool(self.unresolved)

    async def _first_gapfill(self) -> None:
        await self.gapfill_all()
        self.started.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _set_state(self, state: str) -> None:
        self.health.state = state
        self.health.since = iso(datetime.now(UTC))
        await self._save_health()

    async def _save_health(self) -> None:
        if self.app is None:
            return
        self.health.channels = len(self.channels)
        self.health.in_flight = self.intake.progress.in_flight() if self.intake else 0
        await self.app.archive.set_meta(HEALTH_KEY, json.dumps(asdict(self.health)))

    # -- channels ---------------------------------------------------------------------------
    async def _load_known_channels(self) -> None:
        """Channels of the config that the archive already knows with an access hash."""
        archive = self.app.archive
        self.unresolved = {}
        for ref in self.config.telegram.channels:
            row = await archive.find_channel(parse_channel_ref(ref))
            if row is not None and row["access_hash"]:
                channel = Channel(row["id"], row["username"], row["title"], row["access_hash"])
                await self._watch(channel)
            else:
                self.unresolved[str(ref)] = "not resolved yet"

    async def _watch(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        assert self.intake is not None
        mark = await self.app.archive.get_meta(WATERMARK_KEY.format(channel.id))
        if mark is not None:
            base = int(mark)
        else:
            # First time watched: what an import or an older version archived is the floor. Saved
            # at once, so a crash before the first periodic save cannot skip past in-flight posts.
            base = await self.app.archive.last_message_id(channel.id) or 0
            await self.app.archive.set_meta(WATERMARK_KEY.format(channel.id), str(base))
        self.intake.progress.set_base(channel.id, base)
        self._saved_marks[channel.id] = base

    async def resolve_channels(self) -> None:
        """Resolve configured channels the archive has no access hash for (once, then kept)."""
        assert self.client is not None
        for ref in list(self.unresolved):
            target = parse_channel_ref(ref)
            try:
                if isinstance(target, int):
                    entity = await self.client.get_entity(types.PeerChannel(target))
                else:
                    entity = await self.client.get_entity(target)
            except CHANNEL_ERROR_TYPES as exc:
                status = channel_status_for(exc)
                self.unresolved[ref] = status
                log.error("channel %s cannot be resolved: %s (%s)", ref, status, type(exc).__name__)
                if isinstance(target, int):
                    await self.app.archive.upsert_channel(Channel(target), status=status)
                continue
            except ValueError:
                if isinstance(target, int):  # a numeric id Telethon has never seen: no access hash
                    self.unresolved[ref] = "unknown id"
                    log.error(
                        "channel %s cannot be resolved without its access hash: add it once as @username", ref
                    )
                else:  # Telethon turns USERNAME_NOT_OCCUPIED into ValueError
                    self.unresolved[ref] = "renamed"
                    log.error("channel %s: nobody has this username now (renamed or deleted)", ref)
                    row = await self.app.archive.find_channel(target)
                    if row is not None:
                        await self.app.archive.set_channel_status(
                            row["id"], "renamed", reason="username not occupied"
                        )
                continue
            except errors.FloodWaitError as exc:
                # Resolving is the most rate-limited call: do not hold up the channels we have.
                self._next_resolve = time.monotonic() + exc.seconds
                log.warning(
                    "flood wait %s s while resolving %s: the rest are resolved later", exc.seconds, ref
                )
                break
            if not isinstance(entity, types.Channel):
                self.unresolved[ref] = "not a channel"
                log.error("%s is not a channel", ref)
                continue
            channel = channel_from_entity(entity)
            await self.app.archive.upsert_channel(channel, status="ok")
            await self._watch(channel)
            del self.unresolved[ref]
            log.info("channel resolved ref=%s id=%s", ref, channel.id)

    async def _channel_failed(self, channel: Channel, exc: Exception) -> None:
        status = channel_status_for(exc)
        if self._failing.get(channel.id) == status:
            log.debug("channel %s still %s", channel.id, status)
            return  # said once already; the next rounds keep trying quietly
        self._failing[channel.id] = status
        log.error(
            "channel @%s id=%s is now %s (%s): skipped until it recovers",
            channel.username or "-",
            channel.id,
            status,
            type(exc).__name__,
        )
        await self.app.archive.set_channel_status(channel.id, status, reason=type(exc).__name__)

    # -- gap-filling ------------------------------------------------------------------------
    async def gapfill_all(self) -> int:
        """Gap-fill every watched channel, one after the other (bounded load on Telegram)."""
        total = 0
        for channel in list(self.channels.values()):
            if self._stop.is_set() or not (self.client and self.client.is_connected()):
                break
            total += await self.gapfill(channel)
        await self._save_health()
        return total

    async def gapfill(self, channel: Channel, *, source: str = "gapfill") -> int:
        """Fetch what is newer than the channel's watermark and send it through the intake."""
        lock = self._gapfill_locks.setdefault(channel.id, asyncio.Lock())
        async with lock:
            return await self._gapfill(channel, source)

    async def _gapfill(self, channel: Channel, source: str) -> int:
        """One round for one channel, usually ONE request: the newest page of history.

        That page holds everything newer than the watermark unless more than a page was missed
        (then the rest is iterated from the watermark), and it is also where missed edits and
        deletions of recent posts show (see :meth:`_recheck`).
        """
        assert self.client is not None and self.intake is not None
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
                page = [m for m in await self.client.get_messages(peer, limit=limit) if m is not None]
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
                    async for message in self.client.iter_messages(peer, min_id=top, reverse=True):
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
                await self._sleep(exc.seconds)
                if self._stop.is_set():
                    return queued
            except CHANNEL_ERROR_TYPES as exc:
                await self._channel_failed(channel, exc)
                return queued
        self.intake.progress.synced(channel.id, top)
        if self.recheck_recent and not first_sight:
            await self._recheck(channel, [m for m in page if m.id <= last])
        if channel.id in self._failing:
            status = self._failing.pop(channel.id)
            log.info("channel @%s id=%s readable again (was %s)", channel.username or "-", channel.id, status)
            await self.app.archive.set_channel_status(channel.id, "ok")
        await self.app.archive.set_gapfill_time(channel.id)
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
        assert self.intake is not None
        if not messages:
            return
        ids = {m.id for m in messages}
        known = await self.app.archive.message_states(channel.id, between=(min(ids), max(ids)))
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
        states = await self.app.archive.message_states(channel_id, above=last)
        return {message_id: edit_date for message_id, (edit_date, _) in states.items()}

    async def _submit_messages(
        self, channel: Channel, messages: list[Any], existing: dict[int, str | None], source: str
    ) -> int:
        assert self.intake is not None
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
        assert self.client is not None and self.intake is not None
        count = 0
        for cid, progress in self.intake.progress.channels.items():
            if not progress.failed or cid not in self.channels:
                continue
            ids = sorted(progress.failed)
            try:
                messages = await self.client.get_messages(input_peer(self.channels[cid]), ids=ids)
            except CHANNEL_ERROR_TYPES as exc:
                await self._channel_failed(self.channels[cid], exc)
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

    # -- watermarks -------------------------------------------------------------------------
    async def save_watermarks(self) -> None:
        if self.intake is None or self.app is None:
            return
        progress = self.intake.progress
        changed = {}
        for cid in list(progress.dirty):
            mark = progress.of(cid).safe()
            if self._saved_marks.get(cid) != mark:
                changed[cid] = mark
        progress.dirty.clear()
        if not changed:
            return
        await self.app.archive.set_meta_many(
            {WATERMARK_KEY.format(cid): str(mark) for cid, mark in changed.items()}
        )
        self._saved_marks.update(changed)

    async def _watermark_loop(self) -> None:
        while True:
            await asyncio.sleep(self.watermark_interval)
            try:
                await self.save_watermarks()
            except MonitorError as exc:
                log.error("saving watermarks failed: %s", exc)

    # -- scheduler --------------------------------------------------------------------------
    def _start_scheduler(self) -> None:
        from monitor.scheduler import Hooks, build_scheduler

        app = self.app
        outbox = app.outbox
        hooks = Hooks(
            gapfill=self._scheduled_gapfill,
            retry_failed=self.retry_failed,
            resume_pending=self.resume_pending,
            # With a running outbox (``Outbox.run``) deliveries need no polling job.
            deliver_pending=None
            if callable(getattr(outbox, "run", None))
            else _first_attr(outbox, "deliver_pending"),
            optimize=app.archive.optimize_index,
        )
        reminder_hooks = _reminder_hooks(app, self.config)
        if reminder_hooks is not None:
            hooks.reminders, hooks.fire_reminder = reminder_hooks
        hooks.digest = self.daily_digest if outbox is not None else None
        self.scheduler = build_scheduler(self.config.schedule, hooks)
        self.scheduler.start()

    async def resume_pending(self, batch: int = 200) -> int:
        """Finish what a crash left: unread images, then posts never detected.

        Like ``Pipeline.resume``, but images are read through the intake's read-once path, so an
        image the live path is reading right now is not read a second time.
        """
        assert self.intake is not None
        pipeline, archive = self.app.pipeline, self.app.archive
        handled = 0
        if pipeline.ocr_pool is not None:
            shas = [m.sha256 for m in await archive.pending_ocr(batch)]
            await asyncio.gather(*(self.intake.read_once(sha) for sha in shas))
            post_ids = {p.id for sha in shas for p in await archive.posts_with_media(sha)}
            await pipeline.detect_posts(sorted(post_ids))
            handled += len(shas)
        posts = await archive.undetected_posts(batch)
        if posts:
            waiting = await archive.posts_awaiting_ocr([p.id for p in posts]) if pipeline.ocr_pool else set()
            ready = [p.id for p in posts if p.id not in waiting]
            await pipeline.detect_posts(ready)
            handled += len(ready)
        if handled:
            log.info("resumed %d pending images and posts", handled)
        return handled

    async def daily_digest(self, now: datetime | None = None) -> int:
        """Send the last 24 hours of alerts as one digest to each human sink (once per day).

        Machine sinks (webhook, JSON Lines) already received every alert one by one; a digest
        there would only duplicate them. Returns how many alerts the digest held.
        """
        from alerts.sinks import OutgoingAlert

        archive, outbox = self.app.archive, self.app.outbox
        now = now or datetime.now(UTC)
        day = now.date().isoformat()
        if outbox is None or await archive.get_meta("digest:last_day") == day:
            return 0
        rows = await archive.alerts_created_since(stamp(now - timedelta(hours=24)))
        alerts = [
            OutgoingAlert(
                delivery_id=0,
                alert_id=r["id"],
                kind=r["kind"],
                severity=r["severity"],
                body=json.loads(r["body"]),
                key=f"daily:{day}:{r['id']}",
                created_at=r["created_at"],
            )
            for r in rows
        ]
        if alerts:
            for sink in outbox.sinks.values():
                if not getattr(sink, "human", False):
                    continue
                try:
                    await sink.open()
                    await sink.send_digest(alerts, key=f"daily-digest:{day}")
                except MonitorError as exc:
                    log.warning("daily digest to %s failed: %s", sink.name, exc)
            log.info("daily digest day=%s alerts=%d", day, len(alerts))
        await archive.set_meta("digest:last_day", day)
        return len(alerts)

    async def _scheduled_gapfill(self) -> None:
        if self.client is None or not self.client.is_connected():
            return
        if self.unresolved and time.monotonic() >= self._next_resolve:
            self._next_resolve = time.monotonic() + RESOLVE_RETRY_SECONDS
            await self.resolve_channels()
        await self.gapfill_all()

    # -- signals, reload, shutdown ----------------------------------------------------------
    def _install_signals(self) -> None:
        if not self.install_signals:
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload(), "reload"))

    def _remove_signals(self) -> None:
        if not self.install_signals:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    async def reload(self) -> bool:
        """SIGHUP: re-read the config and rules; on any error keep the old ones and say why."""
        from monitor.app import build_detector

        try:
            config = load_config(self.config.source) if self.config.source else self.config
            detector = build_detector(config) if self.app.detector is not None else None
        except (ConfigError, RulesError, OSError) as exc:
            log.error("reload failed, keeping the old config and rules: %s", exc)
            return False
        if detector is not None:
            self.app.pipeline.detector = detector
            self.app.detector = detector
        added = [
            str(ref)
            for ref in config.telegram.channels
            if str(ref) not in map(str, self.config.telegram.channels)
        ]
        self.config = config
        self.app.config = config
        for ref in added:
            self.unresolved[ref] = "added by reload"
        if added and self.client is not None and self.client.is_connected():
            await self.resolve_channels()
            for ref in added:
                target = parse_channel_ref(ref)
                for channel in list(self.channels.values()):
                    if target in (channel.id, channel.username):
                        await self.gapfill(channel)
        log.info("reloaded config and rules (%d new channels)", len(added))
        return True

    def _spawn(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shutdown(self) -> None:
        await self._set_state("stopping")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.client is not None and self._handlers:
            unregister_handlers(self.client, self._handlers)  # stop taking updates
        for task in list(self._tasks):
            if task.get_name() != "watermarks":
                task.cancel()
        finished = await self.intake.stop(self.stop_timeout) if self.intake else True
        left = self.intake.progress.in_flight() if self.intake else 0
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.save_watermarks()
        if finished:
            log.info("stopped: every in-flight post archived")
        else:
            log.warning("stopped with %d posts unfinished: they are gap-filled at the next start", left)
        if self.client is not None:
            await self.client.disconnect()
        self._remove_signals()
        await self._set_state("stopped")


def _first_attr(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None) if obj is not None else None
        if callable(value):
            return value
    return None


def _reminder_hooks(app: Any, config: Config) -> tuple[Any, Any] | None:
    """Countdown reminders come from the alerts side (``alerts.reminders``) when it exists."""
    try:
        from alerts import reminders as mod  # type: ignore[attr-defined]
    except ImportError:
        return None
    compute = _first_attr(mod, "compute_reminders", "due_reminders", "reminders")
    fire = _first_attr(mod, "fire_reminder", "send_reminder")
    if compute is None or fire is None:
        return None
    from monitor.scheduler import Reminder

    async def reminders() -> list[Reminder]:
        out = []
        for item in await compute(app.archive, config):
            at = getattr(item, "at", None) or getattr(item, "when", None)
            key = getattr(item, "key", None) or str(item)
            if at is not None:
                out.append(Reminder(key=str(key), at=at, payload=item))
        return out

    async def fire_one(reminder: Reminder) -> None:
        await fire(app, reminder.payload)

    return reminders, fire_one


async def backfill_channel(
    config: Config,
    db_path: Path,
    media_dir: Path | None,
    ref: str,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    ocr: bool = True,
    detect: bool = True,
    deliver: bool = False,
    client_factory: Callable[[Config], TelegramClient] = make_client,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, int]:
    """Pull a channel's history (newest first) through the pipeline; safe to run again.

    Posts already archived and not edited since are skipped without downloading anything, so a
    second run costs only the history pages. Alerts are recorded; ``deliver`` also sends them.
    """
    from monitor.app import open_app

    client = client_factory(config)
    counts = {"seen": 0, "new": 0, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    async with open_app(
        config, db_path, media_dir, ocr=ocr, detect=detect, deliver=deliver, telegram_client=client
    ) as app:
        await client.connect()
        try:
            if not await client.is_user_authorized():
                raise TelegramSetupError("the Telegram session is not logged in: run tgmonitor login")
            channel = await _resolve_one(client, app.archive, ref)
            intake = Intake(
                client,
                app.pipeline,
                {channel.id: channel},
                max_document_bytes=config.telegram.download_documents_max_bytes,
            )
            peer = input_peer(channel)
            total = (await client.get_messages(peer, limit=0)).total
            expected = min(total, limit) if limit else total
            existing = await _archived_map(app.archive, channel.id)
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
                for result in await app.pipeline.process_batch(posts):
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
            await app.archive.set_gapfill_time(channel.id)
        except CHANNEL_ERROR_TYPES as exc:
            raise TelegramSetupError(f"channel {ref} cannot be read: {channel_status_for(exc)}") from None
        finally:
            await client.disconnect()
    return counts


async def _archived_map(archive: Any, channel_id: int) -> dict[int, str | None]:
    states = await archive.message_states(channel_id)
    return {message_id: edit_date for message_id, (edit_date, _) in states.items()}


async def _resolve_one(client: TelegramClient, archive: Any, ref: str) -> Channel:
    """A channel from the archive's access hash, or resolved once and kept."""
    target = parse_channel_ref(ref)
    row = await archive.find_channel(target)
    if row is not None and row["access_hash"]:
        return Channel(row["id"], row["username"], row["title"], row["access_hash"])
    try:
        entity = await client.get_entity(types.PeerChannel(target) if isinstance(target, int) else target)
    except CHANNEL_ERROR_TYPES as exc:
        raise TelegramSetupError(f"channel {ref} cannot be resolved: {channel_status_for(exc)}") from None
    except ValueError:
        raise TelegramSetupError(f"channel {ref} is unknown: give it as @username or a t.me link") from None
    if not isinstance(entity, types.Channel):
        raise TelegramSetupError(f"{ref} is not a channel")
    channel = channel_from_entity(entity)
    await archive.upsert_channel(channel, status="ok")
    return channel
