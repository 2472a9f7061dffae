"""Which channels are collected, how, and by which account: the daemon's collection plan.

The channels come from the config file (``telegram.channels`` and ``[[telegram.channel]]``) and
from the archive's channel list (``tgmonitor channels add``), read again whenever the list
changes (one small read every ``LIST_CHECK_SECONDS``), so a running daemon picks an added or
removed channel up within seconds.

Each channel is assigned to one account of the pool and kept there (the ``collection`` table):
a channel that asks for an account gets it; otherwise the least loaded active account under
``channels_per_account``. Standby accounts take channels only when an active one is lost. An
account lost (banned, deauthorised, session revoked, flood-waited for long) hands its channels to
the others, each gap-filled at once through its new account, so the hole closes: the watermark
did not move past what was archived, and the store keeps one row per message.

Each account runs one :class:`handlers.poller.Poller` (watch mode, and the pts check of joined
channels) and one :class:`handlers.joiner.Joiner` (join mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from telethon import TelegramClient, errors

from handlers.channels import CHANNEL_ERROR_TYPES, ChannelBook, is_invite, ref_key
from handlers.gapfill import GapFiller
from handlers.intake import Intake
from handlers.joiner import AccountFull, InviteInvalid, Joiner
from handlers.poller import ACCOUNT_LOST_ERRORS, AccountLost, Poller
from handlers.telegram import channel_from_entity
from monitor.core.config import TelegramConfig
from monitor.core.models import Channel
from monitor.core.refs import parse_ref
from monitor.core.store import Archive
from monitor.health import Health

log = logging.getLogger(__name__)

LIST_CHECK_SECONDS = 2.0


@dataclass
class Want:
    """One channel asked for: the reference, the mode and account it asks for, and where from."""

    ref: str
    mode: str
    account: str | None
    origin: str  # config | list

    @property
    def key(self) -> str:
        return ref_key(self.ref)


@dataclass
class Account:
    """One account of the pool at run time."""

    name: str
    client: TelegramClient
    poller: Poller
    joiner: Joiner
    standby: bool = False
    lost: str | None = None  # why, while the account cannot be used
    task: asyncio.Task | None = None
    join_queue: list[tuple[Want, Channel | None]] = field(default_factory=list)
    join_wake: asyncio.Event = field(default_factory=asyncio.Event)


def wants_from(settings: TelegramConfig, listed: list[Any]) -> list[Want]:
    """Every channel asked for, the config's first; a reference given twice counts once."""
    out: dict[str, Want] = {}
    for ref in settings.channels:
        want = Want(str(ref), settings.mode, None, "config")
        out.setdefault(want.key, want)
    for entry in settings.channel:
        want = Want(str(entry.ref), entry.mode or settings.mode, entry.account, "config")
        out[want.key] = want
    for row in listed:
        want = Want(row["text"], row["mode"] or settings.mode, row["account"], "list")
        out.setdefault(want.key, want)
    return list(out.values())


class Collector:
    """Keeps the pollers and joiners of every account in line with the channels asked for."""

    def __init__(
        self,
        settings: TelegramConfig,
        archive: Archive,
        intake: Intake,
        book: ChannelBook,
        gapfiller: GapFiller,
        health: Health,
        clients: dict[str, tuple[TelegramClient, bool]],
        *,
        sleep: Callable[[float], Awaitable[None]],
        stopping: Callable[[], bool],
    ):
        self.settings = settings
        self.archive = archive
        self.intake = intake
        self.book = book
        self.gapfiller = gapfiller
        self.health = health
        self.sleep = sleep
        self.stopping = stopping
        self.accounts: dict[str, Account] = {}
        for name, (client, standby) in clients.items():
            poller = Poller(
                name,
                client,
                archive,
                intake,
                book,
                settings,
                gapfill=gapfiller.gapfill,
                sleep=sleep,
                stopping=stopping,
                on_renamed=health.renamed,
            )
            joiner = Joiner(name, client, settings, sleep=sleep)
            self.accounts[name] = Account(name, client, poller, joiner, standby=standby)
        self.wants: dict[str, Want] = {}
        self.assigned: dict[int, str] = {}  # channel id -> account name
        self.modes: dict[int, str] = {}
        self.version: str | None = None
        self._sync_lock = asyncio.Lock()
        self._spawn: Callable[[Any, str], asyncio.Task] | None = None

    # -- reading --------------------------------------------------------------------------------
    def client_for(self, channel: Channel) -> TelegramClient:
        """The client of the account a channel is assigned to (the first account before that)."""
        name = self.assigned.get(channel.id)
        account = self.accounts.get(name) if name else None
        if account is None or account.lost:
            account = next(
                (a for a in self.accounts.values() if not a.lost), next(iter(self.accounts.values()))
            )
        return account.client

    @property
    def first_client(self) -> TelegramClient:
        """The client that resolves new references: the first account not lost."""
        live = [a for a in self.accounts.values() if not a.lost] or list(self.accounts.values())
        return live[0].client

    def entry_state(self, channel_id: int) -> dict[str, Any] | None:
        name = self.assigned.get(channel_id)
        account = self.accounts.get(name) if name else None
        if account is None or channel_id not in account.poller.entries:
            return None
        return account.poller.state(channel_id)

    def budget_report(self) -> dict[str, dict[str, Any]]:
        """Requests per account in the last minute against the budget (``stats``, the bench)."""
        return {
            name: {
                "requests_last_minute": a.poller.budget.last_minute(),
                "budget_per_minute": a.poller.budget.per_minute,
                "channels": len(a.poller.entries),
                "lost": a.lost,
            }
            for name, a in self.accounts.items()
        }

    # -- the plan ---------------------------------------------------------------------------------
    async def load(self) -> list[str]:
        """Read the channel list; the references to watch (for :meth:`ChannelBook.load_known`)."""
        self.version = await self.archive.list_version()
        wants = wants_from(self.settings, await self.archive.list_channels())
        self.wants = {w.key: w for w in wants}
        return [w.ref for w in wants]

    async def sync(self) -> None:
        """Resolve what is new, assign and start what is watched, stop what was removed."""
        async with self._sync_lock:
            await self._sync()

    async def _sync(self) -> None:
        book = self.book
        for want in self.wants.values():
            if book.find(want.ref) or want.ref in book.unresolved:
                continue
            channel = await book.known(self.archive, want.ref)
            if channel is not None:
                book.refs[want.key] = channel.id
                await book.watch(channel)
            else:
                book.unresolved[want.ref] = "not resolved yet"
        fresh = [r for r, why in book.unresolved.items() if why == "not resolved yet" and not is_invite(r)]
        if fresh and time.monotonic() >= book.next_resolve and not self.stopping():
            # Only references never tried: a failed one waits for the daemon's hourly retry
            # (resolving is the most rate-limited call).
            failed = {r: why for r, why in book.unresolved.items() if r not in fresh}
            book.unresolved = {r: book.unresolved[r] for r in fresh}
            try:
                await book.resolve(self.first_client, self.archive)
            finally:
                book.unresolved.update(failed)
        rows = await self.archive.collection_rows()
        wanted: set[int] = set()
        for want in self.wants.values():
            found = book.find(want.ref)
            if not found:
                if is_invite(want.ref) and want.mode == "join":
                    self._queue_join(want, None, rows)
                continue
            channel = found[0]
            wanted.add(channel.id)
            if want.origin == "list":
                await self.archive.set_listed_channel_id(want.key, channel.id)
            await self._place(want, channel, rows.get(channel.id))
        for cid in [c for c in list(book.channels) if c not in wanted]:
            self._stop(cid)
        await self.save()

    def _pick(self, want: Want, row: Any) -> Account | None:
        alive = {n: a for n, a in self.accounts.items() if not a.lost}
        if want.account and want.account in alive:
            return alive[want.account]
        if row is not None and row["account"] in alive:
            return alive[row["account"]]
        cap = self.settings.channels_per_account
        for standby in (False, True):
            pool = [a for a in alive.values() if a.standby is standby and len(a.poller.entries) < cap]
            if pool:
                return min(pool, key=lambda a: len(a.poller.entries))
        return None

    async def _place(self, want: Want, channel: Channel, row: Any) -> None:
        current = self.assigned.get(channel.id)
        if current is not None and current in self.accounts and not self.accounts[current].lost:
            account = self.accounts[current]
            if self.modes.get(channel.id) == want.mode:
                return
        else:
            picked = self._pick(want, row)
            if picked is None:
                log.error("no account can take channel %s: the pool is full or lost", want.ref)
                return
            account = picked
        self.assigned[channel.id] = account.name
        self.modes[channel.id] = want.mode
        joined = bool(row is not None and row["joined"] and row["account"] == account.name)
        pts = row["pts"] if row is not None else None
        account.poller.add(channel, want.mode, pts=pts, joined=joined)
        if want.mode == "join" and not joined:
            self._queue_join(want, channel, None)

    def _queue_join(self, want: Want, channel: Channel | None, rows: Any) -> None:
        if channel is None:  # an invite link: the account that joins it is picked now
            if any(w.key == want.key for a in self.accounts.values() for w, _ in a.join_queue):
                return
            account = self._pick(want, None)
        else:
            account = self.accounts[self.assigned[channel.id]]
        if account is None:
            return
        if not any(w.key == want.key for w, _ in account.join_queue):
            account.join_queue.append((want, channel))
            account.join_wake.set()

    def _stop(self, channel_id: int) -> None:
        channel = self.book.unwatch(channel_id)
        name = self.assigned.pop(channel_id, None)
        self.modes.pop(channel_id, None)
        entry = self.accounts[name].poller.remove(channel_id) if name is not None else None
        if channel is not None:
            log.info("channel @%s id=%s removed: no longer collected", channel.username or "-", channel_id)
        if entry is not None and entry.joined and name is not None and self._spawn is not None:
            self._spawn(self._leave(self.accounts[name], entry.channel), f"leave-{channel_id}")

    async def _leave(self, account: Account, channel: Channel) -> None:
        try:
            await account.joiner.leave(channel)
        except (errors.RPCError, ConnectionError, OSError) as exc:
            log.warning(
                "leaving @%s failed (%s): the account stays a member", channel.username or channel.id, exc
            )
        await self.archive.drop_collection([channel.id])

    async def save(self) -> None:
        """Keep each channel's mode, account, pts and interval in the archive."""
        rows = []
        for account in self.accounts.values():
            for cid in list(account.poller.dirty):
                if cid in account.poller.entries:
                    rows.append(account.poller.state(cid))
            account.poller.dirty.clear()
        await self.archive.save_collection(rows)

    # -- running ----------------------------------------------------------------------------------
    def start(self, spawn: Callable[[Any, str], asyncio.Task]) -> None:
        self._spawn = spawn
        for account in self.accounts.values():
            self._start_account(account)
        spawn(self._list_loop(), "channel-list")

    def _start_account(self, account: Account) -> None:
        assert self._spawn is not None
        account.task = self._spawn(self._run_account(account), f"poller-{account.name}")
        self._spawn(self._join_loop(account), f"joiner-{account.name}")

    async def _list_loop(self) -> None:
        while not self.stopping():
            await self.sleep(LIST_CHECK_SECONDS)
            if self.stopping():
                return
            try:
                version = await self.archive.list_version()
                if version != self.version:
                    await self.load()
                    log.info("channel list changed: %d channels asked for", len(self.wants))
                    await self.sync()
                else:
                    await self.save()
            except (errors.RPCError, ConnectionError, OSError) as exc:
                log.warning("applying the channel list failed (%s): retried", exc)

    async def _run_account(self, account: Account) -> None:
        while not self.stopping():
            try:
                await account.poller.run()
            except AccountLost as exc:
                await self.lose(account, exc.reason, wait=exc.wait)
                return
            except Exception:  # one bad poll never stops collection: logged, then polling goes on
                log.exception("poller of account %s failed: restarted in 5 s", account.name)
                await self.sleep(5.0)

    async def _join_loop(self, account: Account) -> None:
        while not self.stopping() and not account.lost:
            if not account.join_queue:
                account.join_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(account.join_wake.wait(), 5.0)
                continue
            want, channel = account.join_queue.pop(0)
            try:
                await self._join(account, want, channel)
            except AccountLost as exc:
                await self.lose(account, exc.reason, wait=exc.wait)
                return
            except AccountFull as exc:
                log.error("%s: channel %s stays polled without joining", exc, want.ref)
                if channel is not None:
                    await self.health.problem(
                        f"join:{channel.id}",
                        want.ref,
                        f"channel {want.ref} cannot be joined ({exc}): it is polled instead",
                        severity="medium",
                        channel_id=channel.id,
                    )
            except InviteInvalid as exc:
                log.error("%s", exc)
                self.book.unresolved[want.ref] = "invite link expired"
            except CHANNEL_ERROR_TYPES as exc:
                if channel is not None:
                    await self.book.failed(self.archive, channel, exc)
            except (errors.RPCError, ConnectionError, OSError) as exc:
                log.warning("join of %s failed (%s): retried later", want.ref, exc)
                await self.sleep(self.settings.join_interval_seconds)
                account.join_queue.append((want, channel))

    async def _join(self, account: Account, want: Want, channel: Channel | None) -> None:
        if channel is None:
            channel = await account.joiner.join_invite(parse_ref(want.ref).value)  # type: ignore[arg-type]
            await self.archive.upsert_channel(channel, status="ok")
            await self.book.remember(self.archive, want.ref, channel)
            self.book.unresolved.pop(want.ref, None)
            await self.book.watch(channel)
            if want.origin == "list":
                await self.archive.set_listed_channel_id(want.key, channel.id)
        else:
            await account.joiner.join(channel)
        self.assigned[channel.id] = account.name
        self.modes[channel.id] = want.mode
        account.poller.add(channel, "join", joined=True)
        await self.save()

    async def lose(self, account: Account, reason: str, *, wait: float | None = None) -> None:
        """An account cannot collect: its channels go to the others and are gap-filled there.

        A flood-waited account (``wait`` seconds) comes back after the wait and takes new
        channels again; a banned or logged-out one stays lost until the daemon restarts."""
        if account.lost:
            return
        account.lost = reason
        if wait is not None and self._spawn is not None:
            self._spawn(self._recover(account, wait), f"recover-{account.name}")
        log.error(
            "account %s lost (%s): moving its %d channels", account.name, reason, len(account.poller.entries)
        )
        await self.health.account_lost(account.name, reason)
        moved = list(account.poller.entries.values())
        account.poller.entries.clear()
        queued_invites = [w for w, c in account.join_queue if c is None]
        account.join_queue.clear()
        for entry in moved:
            channel = entry.channel
            self.assigned.pop(channel.id, None)
            want = next((w for w in self.wants.values() if self.book.refs.get(w.key) == channel.id), None)
            mode = want.mode if want else entry.mode
            target = self._pick(Want(str(channel.id), mode, None, "move"), None)
            if target is None:
                log.error("no account left for channel @%s id=%s", channel.username or "-", channel.id)
                continue
            channel = await self._rehash(target, channel)
            self.assigned[channel.id] = target.name
            self.modes[channel.id] = mode
            target.poller.add(channel, mode, pts=entry.pts)
            if mode == "join":
                # A private channel is joined again through its invite (the old account's access
                # hash means nothing to the new one); a public one by the hash just resolved.
                again = None if want is not None and is_invite(want.ref) else channel
                target.join_queue.append((want or Want(str(channel.id), mode, None, "move"), again))
                target.join_wake.set()
            try:
                await self.gapfiller.gapfill(channel)  # closes the hole the lost account left
            except ACCOUNT_LOST_ERRORS as exc:
                await self.lose(target, type(exc).__name__.removesuffix("Error"))
        for want in queued_invites:
            self._queue_join(want, None, None)
        await self.save()

    async def _recover(self, account: Account, wait: float) -> None:
        await self.sleep(wait)
        if self.stopping():
            return
        account.lost = None
        log.info("account %s waited out its flood wait: it collects again", account.name)
        await self.health.account_back(account.name)
        self._start_account(account)

    async def _rehash(self, account: Account, channel: Channel) -> Channel:
        """Access hashes belong to an account: the new one resolves a public channel once."""
        if not channel.username:
            return channel
        try:
            entity = await account.client.get_entity(channel.username)
        except (ValueError, errors.RPCError) as exc:
            log.warning(
                "account %s cannot resolve @%s (%s): kept as it was", account.name, channel.username, exc
            )
            return channel
        fresh = channel_from_entity(entity)
        if fresh.id != channel.id or not fresh.access_hash:
            return channel  # the name is someone else's now: keep following by id
        moved = replace(channel, access_hash=fresh.access_hash)
        await self.archive.upsert_channel(moved)
        if channel.id in self.book.channels:
            self.book.channels[channel.id] = moved
        return moved
