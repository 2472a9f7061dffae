"""The live daemon's wiring: connect, listen, gap-fill, survive, stop cleanly.

Lifecycle of :meth:`Daemon.run`:

1. Config and secrets are checked before anything connects (a bad one is one sentence).
2. The archive and pipeline open (:func:`monitor.app.open_app`); the intake starts its workers.
3. Connect. Channels are resolved once (:class:`handlers.channels.ChannelBook`): access hashes
   live in the archive, so a restart makes no resolve calls (Telegram rate-limits them hard).
4. Handlers are registered and every channel is gap-filled from its watermark through the same
   pipeline (:class:`handlers.gapfill.GapFiller`); the scheduler gap-fills again every few
   minutes (updates can be dropped silently) and resumes unread posters
   (:class:`handlers.posters.PosterReader`).
5. A disconnect that outlives Telethon's own retries is noticed here: reconnect with backoff,
   forever, and gap-fill after. ``FloodWaitError`` above Telethon's threshold is waited out for
   that channel only. A channel that turns private, banned or invalid is marked in the archive
   and skipped; the rest keeps running.
6. SIGTERM/SIGINT: stop taking updates, finish in-flight posts (bounded wait), save watermarks,
   disconnect, close. SIGHUP: reload config and rules (a bad reload keeps the old ones).
7. After the first gap-fill, :class:`monitor.collector.Collector` takes over how each channel is
   collected (issue 13): one client per account of the pool (the first is the one this loop
   connects), pollers and joiners per account, the channel list read again when it changes, and
   an account lost handing its channels over. A heartbeat goes into the archive (and to systemd's
   watchdog) every ``heartbeat_interval`` seconds; learned silences are checked every
   ``health_interval`` (:mod:`monitor.health`).
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

from alerts import reminders
from alerts.signatures import learn_book
from alerts.sinks import OutgoingAlert
from handlers.channels import ChannelBook, is_invite
from handlers.gapfill import GapFiller, backfill
from handlers.intake import WATERMARK_KEY, Intake
from handlers.poller import ACCOUNT_LOST_ERRORS
from handlers.posters import PosterReader
from handlers.telegram import register_handlers, unregister_handlers
from monitor import sdnotify
from monitor.app import App, build_detector, open_app
from monitor.bot.runner import run_in_daemon
from monitor.collector import Collector
from monitor.core.config import AccountConfig, Config, load_config, read_secret
from monitor.core.errors import ConfigError, MonitorError, RulesError, TelegramSetupError
from monitor.core.models import Channel
from monitor.core.times import iso, now_iso, stamp
from monitor.evidence_head import record_daily_head
from monitor.health import HEARTBEAT_KEY
from monitor.health import Health as HealthChecks
from monitor.ocr_settings import configured_rules
from monitor.scheduler import Hooks, build_scheduler

log = logging.getLogger(__name__)

HEALTH_KEY = "daemon:health"
RESOLVE_RETRY_SECONDS = 3600.0  # unresolved channels are retried hourly (resolves are rate-limited)


def make_client(config: Config, account: AccountConfig | None = None) -> TelegramClient:
    """A TelegramClient from the environment's secrets (checked here, before any connection).

    ``account`` is one of an account pool's (``[[telegram.account]]``): its own session file or
    session variable, the pool's shared api id and hash.
    """
    tg = config.telegram
    session_env = tg.session_env
    session_path = Path(tg.session)
    if account is not None:
        session_env = account.session_variable(tg)
        session_path = account.session_file(tg)
    raw_id = read_secret(tg.api_id_env)
    try:
        api_id = int(raw_id or "")
    except ValueError:
        raise ConfigError(f"{tg.api_id_env} must be the numeric api_id from my.telegram.org") from None
    api_hash = read_secret(tg.api_hash_env) or ""
    if not re.fullmatch(r"[0-9a-fA-F]{32}", api_hash):
        raise ConfigError(f"{tg.api_hash_env} must be the 32-character api_hash from my.telegram.org")
    session_string = read_secret(session_env, required=False)
    session: Any
    login = f"tgmonitor login --account {account.name}" if account is not None else "tgmonitor login"
    if session_string:
        try:
            session = StringSession(session_string)
        except ValueError:
            raise TelegramSetupError(
                f"{session_env} is not a valid session string: run {login} --string"
            ) from None
    else:
        path = session_path.expanduser()
        if not path.exists() and not Path(f"{path}.session").exists():
            raise TelegramSetupError(f"no Telegram session at {path}: run {login} first")
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


DESK_CHECK_S = 2.0  # how often the daemon looks whether its desk's process still runs
DESK_RESTART_MIN_S = 5.0
DESK_RESTART_MAX_S = 300.0


@dataclass
class Health:
    """What ``stats`` and the logs say about the connection (saved in archive meta)."""

    state: str = "starting"  # starting | connected | reconnecting | stopping | stopped
    since: str | None = field(default_factory=lambda: iso(datetime.now(UTC)))
    reconnects: int = 0
    last_error: str | None = None
    channels: int = 0
    in_flight: int = 0
    accounts: dict[str, Any] = field(default_factory=dict)  # requests per minute against the budget


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
        account_client_factory: Callable[[Config, AccountConfig], TelegramClient] = make_client,
        health_interval: float = 300.0,
        heartbeat_interval: float = 10.0,
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
        self.account_client_factory = account_client_factory
        self.health_interval = health_interval
        self.heartbeat_interval = heartbeat_interval
        self.health = Health()
        self.book = ChannelBook(on_watch=self._start_watermark, on_status=self._on_status)
        self.client: TelegramClient | None = None
        self.clients: dict[str, tuple[TelegramClient, bool]] = {}
        self.collector: Collector | None = None
        self.checks: HealthChecks | None = None
        self.app: App | None = None
        self.intake: Intake | None = None
        self.gapfiller: GapFiller | None = None
        self.scheduler: Any = None
        self.started = asyncio.Event()  # connected and first gap-fill pass done
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._handlers: list[Any] = []
        self._saved_marks: dict[int, int] = {}
        self.desk: Any = None  # the web desk, when [web] enabled

    # -- public control ---------------------------------------------------------------------
    @property
    def channels(self) -> dict[int, Channel]:
        """The channels watched now, by id."""
        return self.book.channels

    @property
    def unresolved(self) -> dict[str, str]:
        """Configured channels not watched yet, and why."""
        return self.book.unresolved

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stop requested: finishing in-flight posts")
            self._stop.set()

    async def run(self) -> None:
        """Run until :meth:`request_stop` (SIGTERM/SIGINT). Raises MonitorError on setup problems."""
        self.clients = self._make_clients()  # secrets checked before anything opens
        self.client = next(iter(self.clients.values()))[0]
        async with open_app(
            self.config,
            self.db_path,
            self.media_dir,
            ocr=self.ocr,
            detect=self.detect,
            deliver=self.deliver,
            telegram_client=self.client,
            live=True,
        ) as app:
            self.app = app
            self.intake = Intake(
                self.client,
                app.pipeline,
                self.channels,
                workers=self.workers,
                max_document_bytes=self.config.telegram.download_documents_max_bytes,
                max_video_bytes=self.config.ocr.video_max_bytes,
                ocr_concurrency=max(2, self.config.ocr.workers * 2),
            )
            self.gapfiller = GapFiller(
                self.client,
                app.archive,
                self.intake,
                self.book,
                sleep=self._sleep,
                stopping=self._stop.is_set,
                initial_history=self.initial_history,
                recheck_recent=self.recheck_recent,
                client_for=self._client_for,
            )
            self.checks = HealthChecks(app.archive, app.outbox, self.config.telegram)
            self.collector = Collector(
                self.config.telegram,
                app.archive,
                self.intake,
                self.book,
                self.gapfiller,
                self.checks,
                self.clients,
                sleep=self._sleep,
                stopping=self._stop.is_set,
            )
            refs = await self.collector.load()
            await self.book.load_known(app.archive, [r for r in refs if not is_invite(r)])
            self.intake.start()
            self._handlers = [
                (
                    client,
                    register_handlers(
                        client,
                        on_message=self.intake.on_message,
                        on_deleted=self.intake.on_deleted,
                        watched=self.channels.__contains__,
                    ),
                )
                for client, _ in self.clients.values()
            ]
            self._install_signals()
            self._spawn(self._watermark_loop(), "watermarks")  # also the heartbeat and systemd's watchdog
            sdnotify.notify("READY=1")
            outbox_stop = asyncio.Event()
            outbox_task = None
            if app.outbox is not None:
                # Deliveries run beside the intake and stop after it, so alerts raised by the
                # last in-flight posts are still sent (the outbox keeps anything unsent for later).
                outbox_task = asyncio.create_task(app.outbox.run(outbox_stop), name="outbox")
            self._spawn(run_in_daemon(app, self.config, self._stop), "bot-desk")  # [bot] enabled: the desk
            async with contextlib.AsyncExitStack() as desk_stack:
                try:
                    if self.config.web.enabled:
                        await self._start_desk(desk_stack)
                    if self.schedule:
                        self._start_scheduler()
                    await self._connection_loop()
                finally:
                    await self._shutdown()
                    if outbox_task is not None:
                        outbox_stop.set()
                        with contextlib.suppress(asyncio.CancelledError):
                            await outbox_task

    async def _start_desk(self, stack: contextlib.AsyncExitStack) -> None:
        """The web desk (``[web] enabled``) in a process of its own at a lower OS priority, so 50
        busy analysts never slow collection (:mod:`monitor.web.process` says what was measured)."""
        from monitor.web.desk import DESK_NICE
        from monitor.web.process import DeskProcess

        desk = DeskProcess(self.config, self.db_path, self.media_dir, nice=DESK_NICE)
        await desk.start()
        stack.push_async_callback(desk.stop)
        log.info("web desk on http://%s:%d/ (its own process)", self.config.web.host, self.config.web.port)
        self.desk = desk
        self._spawn(self._watch_desk(desk), "desk-watch")

    async def _watch_desk(self, desk: Any) -> None:
        """Restart the desk's process if it ends while the daemon runs (killed by the OOM killer,
        a crash in a library): said once as a health problem, cleared when it serves again;
        restarts back off from 5 s to 5 minutes while it keeps failing."""
        delay = DESK_RESTART_MIN_S
        down = False
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), DESK_CHECK_S)
            if self._stop.is_set():
                return
            ended = desk.ended
            if ended is None:
                continue
            where = f"http://{self.config.web.host}:{self.config.web.port}/"
            if not down and self.checks is not None:
                await self.checks.problem(
                    "web-desk",
                    "web desk",
                    f"the web desk's process ended ({ended}): restarting it at {where}",
                )
            down = True
            await desk.stop()
            try:
                await desk.start()
            except MonitorError as exc:
                log.warning("%s; trying again in %.0f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, DESK_RESTART_MAX_S)
                continue
            log.info("web desk restarted on %s", where)
            delay, down = DESK_RESTART_MIN_S, False
            if self.checks is not None:
                await self.checks.recovered("web-desk", f"the web desk serves again at {where}")

    def _make_clients(self) -> dict[str, tuple[TelegramClient, bool]]:
        """One client per account of the pool; one account (``main``) without ``[[telegram.account]]``."""
        accounts = self.config.telegram.account
        if not accounts:
            return {"main": (self.client_factory(self.config), False)}
        return {a.name: (self.account_client_factory(self.config, a), a.standby) for a in accounts}

    def _client_for(self, channel: Channel) -> TelegramClient:
        if self.collector is None:
            assert self.client is not None
            return self.client
        return self.collector.client_for(channel)

    async def _on_status(self, channel: Channel, status: str | None) -> None:
        if self.checks is not None:
            await self.checks.channel_status(channel, status)

    async def _connect_others(self) -> None:
        """Connect the pool's other accounts; one that cannot log in is lost (its channels move)."""
        assert self.collector is not None
        for name, (client, _) in list(self.clients.items())[1:]:
            account = self.collector.accounts[name]
            try:
                await asyncio.wait_for(client.connect(), self.connect_timeout)
                if not await client.is_user_authorized():
                    await self.collector.lose(account, "session not logged in")
            except ACCOUNT_LOST_ERRORS as exc:
                await self.collector.lose(account, type(exc).__name__.removesuffix("Error"))
            except (OSError, ConnectionError, TimeoutError, errors.ServerError) as exc:
                log.warning("account %s cannot connect (%s): its channels wait", name, exc)

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
            if not self.channels or self.unresolved:
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
        if self.app is not None:  # who captures what this daemon saves, for the evidence chain
            me = await self.client.get_me(input_peer=True)
            self.app.archive.capture_account = f"telegram:{me.user_id}" if me is not None else None

    async def _first_gapfill(self) -> None:
        await self.gapfill_all()
        if not self.started.is_set() and self.collector is not None:
            await self._connect_others()
            await self.collector.sync()
            self.collector.start(self._spawn)
            self._spawn(self._health_loop(), "health")
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
        if self.collector is not None:
            self.health.accounts = self.collector.budget_report()
        await self.app.archive.set_meta(HEALTH_KEY, json.dumps(asdict(self.health)))

    # -- channels and gap-filling ------------------------------------------------------------
    async def _start_watermark(self, channel: Channel) -> None:
        """A channel starts being watched: its watermark comes from the archive."""
        assert self.app is not None and self.intake is not None
        archive = self.app.archive
        mark = await archive.get_meta(WATERMARK_KEY.format(channel.id))
        if mark is not None:
            base = int(mark)
        else:
            # First time watched: what an import or an older version archived is the floor. Saved
            # at once, so a crash before the first periodic save cannot skip past in-flight posts.
            base = await archive.last_message_id(channel.id) or 0
            await archive.set_meta(WATERMARK_KEY.format(channel.id), str(base))
        self.intake.progress.set_base(channel.id, base)
        self._saved_marks[channel.id] = base

    async def resolve_channels(self) -> None:
        """Resolve configured channels the archive has no access hash for (once, then kept)."""
        assert self.client is not None and self.app is not None
        await self.book.resolve(self.client, self.app.archive)

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
        """Fetch what is newer than the channel's watermark and send it through the intake.

        An account found banned or logged out here is lost: its channels move (and are
        gap-filled by their new account)."""
        assert self.gapfiller is not None
        try:
            return await self.gapfiller.gapfill(channel, source=source)
        except ACCOUNT_LOST_ERRORS as exc:
            if self.collector is None:
                raise
            name = self.collector.assigned.get(channel.id) or next(iter(self.collector.accounts))
            await self.collector.lose(self.collector.accounts[name], type(exc).__name__.removesuffix("Error"))
            return 0

    async def retry_failed(self) -> int:
        """Refetch and resubmit posts whose processing failed (their ids hold the watermark)."""
        assert self.gapfiller is not None
        return await self.gapfiller.retry_failed()

    async def _scheduled_gapfill(self) -> None:
        if self.client is None or not self.client.is_connected():
            return
        if self.unresolved and time.monotonic() >= self.book.next_resolve:
            self.book.next_resolve = time.monotonic() + RESOLVE_RETRY_SECONDS
            await self.resolve_channels()
        await self.gapfill_all()

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
        beat = 0.0
        while True:
            await asyncio.sleep(self.watermark_interval)
            try:
                await self.save_watermarks()
                if time.monotonic() - beat >= self.heartbeat_interval:
                    beat = time.monotonic()
                    await self.heartbeat()
            except MonitorError as exc:
                log.error("saving watermarks failed: %s", exc)

    async def heartbeat(self) -> None:
        """The daemon is alive and its loop turns: ``doctor``/``stats`` read it, systemd's watchdog too."""
        assert self.app is not None
        await self.app.archive.set_meta(HEARTBEAT_KEY, now_iso())
        if self.collector is not None:
            await self.collector.save()
        sdnotify.notify("WATCHDOG=1")

    async def _health_loop(self) -> None:
        """Learned silences, checked every ``health_interval`` seconds."""
        while not self._stop.is_set():
            if self.checks is not None:
                try:
                    await self.checks.check_silence(list(self.channels.values()))
                except MonitorError as exc:
                    log.error("health check failed: %s", exc)
            await self._sleep(self.health_interval)

    # -- scheduler --------------------------------------------------------------------------
    def _start_scheduler(self) -> None:
        app = self.app
        assert app is not None
        hooks = Hooks(
            gapfill=self._scheduled_gapfill,
            retry_failed=self.retry_failed,
            resume_pending=self.resume_pending,
            # Deliveries need no polling job: the outbox runs its own senders (``Outbox.run``).
            optimize=app.archive.optimize_index,
            reminders=lambda: reminders.compute_reminders(app.archive, self.config.alerts),
            fire_reminder=lambda reminder: reminders.fire_reminder(app.archive, app.outbox, reminder),
            digest=self.daily_digest if app.outbox is not None else None,
            chain_head=lambda: record_daily_head(
                app.archive, self.config.evidence, app.outbox.sinks if app.outbox is not None else None
            ),
        )
        self.scheduler = build_scheduler(self.config.schedule, hooks)
        self.scheduler.start()

    @property
    def posters(self) -> PosterReader:
        """The intake's poster reader: an image the live path is reading now is not read twice."""
        assert self.intake is not None
        return self.intake.posters

    async def resume_pending(self, batch: int = 200) -> int:
        """Finish what a crash left: unread images, then posts never detected (one batch of each)."""
        handled = await self.posters.resume_batch(batch)
        if handled:
            log.info("resumed %d pending images and posts", handled)
        return handled

    async def daily_digest(self, now: datetime | None = None) -> int:
        """Send the last 24 hours of alerts as one digest to each human sink (once per day).

        Machine sinks (webhook, JSON Lines) already received every alert one by one; a digest
        there would only duplicate them. Returns how many alerts the digest held.
        """
        assert self.app is not None
        archive, outbox = self.app.archive, self.app.outbox
        now = now or datetime.now(UTC)
        day = now.date().isoformat()
        if outbox is None or await archive.get_meta("digest:last_day") == day:
            return 0
        rows = await archive.alerts.created_since(stamp(now - timedelta(hours=24)))
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
                if not sink.human:
                    continue
                try:
                    await sink.open()
                    await sink.send_digest(alerts, key=f"daily-digest:{day}")
                except MonitorError as exc:
                    log.warning("daily digest to %s failed: %s", sink.name, exc)
            log.info("daily digest day=%s alerts=%d", day, len(alerts))
        await archive.set_meta("digest:last_day", day)
        return len(alerts)

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
        assert self.app is not None
        try:
            config = load_config(self.config.source) if self.config.source else self.config
            detector = build_detector(config) if self.app.detector is not None else None
        except (ConfigError, RulesError, OSError) as exc:
            log.error("reload failed, keeping the old config and rules: %s", exc)
            return False
        if detector is not None:
            # the channel signatures are learned again from the channels' latest posts
            detector.signatures = await learn_book(self.app.archive, detector.ruleset.signatures)
            self.app.pipeline.detector = detector
            self.app.detector = detector
        if self.app.ocr_pool is not None:  # the OCR's known words are the rules' (monitor.ocr_settings)
            rules = detector.ruleset if detector is not None else configured_rules(config)
            if rules is not None:
                self.app.ocr_pool.use_words(rules.vocabulary)
        added = [
            str(ref)
            for ref in config.telegram.channels
            if str(ref) not in map(str, self.config.telegram.channels)
        ]
        self.config = config
        self.app.config = config
        if self.collector is not None:
            self.collector.settings = config.telegram
            await self.collector.load()
            if self.client is not None and self.client.is_connected():
                await self.collector.sync()
        for ref in added:
            if not self.book.find(ref) and not is_invite(ref):
                self.unresolved[ref] = "added by reload"
        if added and self.client is not None and self.client.is_connected():
            await self.resolve_channels()
            for ref in added:
                for channel in self.book.find(ref):
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
        sdnotify.notify("STOPPING=1")
        for client, handlers in self._handlers:
            unregister_handlers(client, handlers)  # stop taking updates
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
        if self.collector is not None:
            with contextlib.suppress(MonitorError):
                await self.collector.save()
        for client, _ in self.clients.values():
            await client.disconnect()
        self._remove_signals()
        await self._set_state("stopped")


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
    """``tgmonitor backfill``: open the app, log in, and pull a channel's history (:func:`handlers.gapfill.backfill`).

    Alerts are recorded; ``deliver`` also sends them. Safe to run again.
    """
    client = client_factory(config)
    async with open_app(
        config, db_path, media_dir, ocr=ocr, detect=detect, deliver=deliver, telegram_client=client
    ) as app:
        await client.connect()
        try:
            if not await client.is_user_authorized():
                raise TelegramSetupError("the Telegram session is not logged in: run tgmonitor login")
            return await backfill(
                client,
                app.pipeline,
                ref,
                since=since,
                limit=limit,
                max_document_bytes=config.telegram.download_documents_max_bytes,
                max_video_bytes=config.ocr.video_max_bytes,
                on_progress=on_progress,
            )
        finally:
            await client.disconnect()
