"""Channel references, resolving them once, and which channels can be read right now.

Telegram rate-limits resolving a username hard, so a channel is resolved once and its access hash
kept in the archive: a restart builds ``InputPeerChannel`` from there and makes no resolve calls.
A channel that turns private, banned or invalid is marked in the archive and skipped (said once in
the log), and marked ``ok`` again when it can be read.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable

from telethon import TelegramClient, errors
from telethon.tl import types

from handlers.telegram import channel_from_entity
from monitor.core.errors import ChannelRefError, TelegramSetupError
from monitor.core.models import Channel
from monitor.core.refs import parse_ref
from monitor.core.store import Archive

log = logging.getLogger(__name__)

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
    """The status recorded for a channel that raised ``exc`` (``error`` when it is not a known one)."""
    for cls, status in CHANNEL_ERRORS.items():
        if isinstance(exc, cls):
            return status
    return "error"


def ref_key(ref: str | int) -> str:
    """The stable key of a reference (lower-case username, bare id, ``+hash``) the archive keeps
    the channel id under, so a channel that renames itself is still found by id."""
    try:
        return parse_ref(ref).key
    except ChannelRefError:
        return str(parse_channel_ref(ref)).lower()


def is_invite(ref: str | int) -> bool:
    try:
        return parse_ref(ref).private
    except ChannelRefError:
        return False


REF_META = "channel_ref:{}"


def parse_channel_ref(ref: str | int) -> str | int:
    """``@name``, ``t.me/name``, ``https://t.me/s/name/123`` -> ``name``; ``-100123``/``123`` -> 123."""
    if isinstance(ref, int):
        return int(str(ref).removeprefix("-100")) if ref < 0 else ref
    text = ref.strip()
    if re.fullmatch(r"-?\d+", text):
        return parse_channel_ref(int(text))
    text = re.sub(r"^(https?://)?(www\.)?(t\.me|telegram\.me|telegram\.dog)/(s/)?", "", text)
    return text.lstrip("@").split("/")[0].split("?")[0]


async def resolve_one(client: TelegramClient, archive: Archive, ref: str) -> Channel:
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


class ChannelBook:
    """The channels watched, the configured ones not resolved yet, and those failing now.

    ``on_watch`` is awaited for each channel as it starts being watched (the daemon sets its
    watermark there). ``channels`` is shared by reference with the intake and the handlers.
    """

    def __init__(
        self,
        on_watch: Callable[[Channel], Awaitable[None]],
        on_status: Callable[[Channel, str | None], Awaitable[None]] | None = None,
    ):
        self.on_watch = on_watch
        self.on_status = on_status  # a channel failing (its status) or readable again (None)
        self.refs: dict[str, int] = {}  # reference key -> channel id, once resolved
        self.channels: dict[int, Channel] = {}
        self.unresolved: dict[str, str] = {}  # configured ref -> why it is not watched yet
        self.failing: dict[int, str] = {}  # channel id -> status, while a channel cannot be read
        self.next_resolve = 0.0  # monotonic time before which unresolved channels are not retried

    async def watch(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        await self.on_watch(channel)

    async def known(self, archive: Archive, ref: str | int) -> Channel | None:
        """The channel a reference named when it was resolved (by id: renames are followed), or
        the archive's channel of that name; ``None`` without an access hash."""
        mark = await archive.get_meta(REF_META.format(ref_key(ref)))
        row = await archive.find_channel(int(mark)) if mark else None
        if row is None and not is_invite(ref):
            row = await archive.find_channel(parse_channel_ref(ref))
        if row is None or not row["access_hash"]:
            return None
        return Channel(row["id"], row["username"], row["title"], row["access_hash"])

    async def remember(self, archive: Archive, ref: str | int, channel: Channel) -> None:
        """Keep which channel a reference names, by id."""
        self.refs[ref_key(ref)] = channel.id
        await archive.set_meta(REF_META.format(ref_key(ref)), str(channel.id))

    async def load_known(self, archive: Archive, refs: Iterable[str | int]) -> None:
        """Watch the configured channels the archive knows with an access hash; the rest wait."""
        self.unresolved = {}
        for ref in refs:
            channel = await self.known(archive, ref)
            if channel is not None:
                self.refs[ref_key(ref)] = channel.id
                await self.watch(channel)
            else:
                self.unresolved[str(ref)] = "not resolved yet"

    def unwatch(self, channel_id: int) -> Channel | None:
        """Stop watching a channel (removed from the list): its updates are ignored from now on."""
        self.failing.pop(channel_id, None)
        return self.channels.pop(channel_id, None)

    def find(self, ref: str | int) -> list[Channel]:
        """The watched channels a configured reference names (by id once resolved)."""
        cid = self.refs.get(ref_key(ref))
        if cid is not None and cid in self.channels:
            return [self.channels[cid]]
        target = parse_channel_ref(ref)
        return [c for c in list(self.channels.values()) if target in (c.id, c.username)]

    async def resolve(self, client: TelegramClient, archive: Archive) -> None:
        """Resolve configured channels the archive has no access hash for (once, then kept)."""
        for ref in list(self.unresolved):
            if is_invite(ref):
                continue  # a private invite link is resolved by joining it (handlers.joiner)
            target = parse_channel_ref(ref)
            try:
                if isinstance(target, int):
                    entity = await client.get_entity(types.PeerChannel(target))
                else:
                    entity = await client.get_entity(target)
            except CHANNEL_ERROR_TYPES as exc:
                status = channel_status_for(exc)
                self.unresolved[ref] = status
                log.error("channel %s cannot be resolved: %s (%s)", ref, status, type(exc).__name__)
                if isinstance(target, int):
                    await archive.upsert_channel(Channel(target), status=status)
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
                    row = await archive.find_channel(target)
                    if row is not None:
                        await archive.set_channel_status(row["id"], "renamed", reason="username not occupied")
                continue
            except errors.FloodWaitError as exc:
                # Resolving is the most rate-limited call: do not hold up the channels we have.
                self.next_resolve = time.monotonic() + exc.seconds
                log.warning(
                    "flood wait %s s while resolving %s: the rest are resolved later", exc.seconds, ref
                )
                break
            if not isinstance(entity, types.Channel):
                self.unresolved[ref] = "not a channel"
                log.error("%s is not a channel", ref)
                continue
            channel = channel_from_entity(entity)
            await archive.upsert_channel(channel, status="ok")
            await self.remember(archive, ref, channel)
            await self.watch(channel)
            del self.unresolved[ref]
            log.info("channel resolved ref=%s id=%s", ref, channel.id)

    async def failed(self, archive: Archive, channel: Channel, exc: Exception) -> None:
        """A channel cannot be read: mark it in the archive and say so once."""
        status = channel_status_for(exc)
        if self.failing.get(channel.id) == status:
            log.debug("channel %s still %s", channel.id, status)
            return  # said once already; the next rounds keep trying quietly
        self.failing[channel.id] = status
        log.error(
            "channel @%s id=%s is now %s (%s): skipped until it recovers",
            channel.username or "-",
            channel.id,
            status,
            type(exc).__name__,
        )
        await archive.set_channel_status(channel.id, status, reason=type(exc).__name__)
        if self.on_status is not None:
            await self.on_status(channel, status)

    async def readable(self, archive: Archive, channel: Channel) -> None:
        """A channel was read: if it was failing, mark it ``ok`` again."""
        if channel.id in self.failing:
            status = self.failing.pop(channel.id)
            log.info("channel @%s id=%s readable again (was %s)", channel.username or "-", channel.id, status)
            await archive.set_channel_status(channel.id, "ok")
            if self.on_status is not None:
                await self.on_status(channel, None)
