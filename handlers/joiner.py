"""Joining channels in ``join`` mode: spaced out, flood-wait aware, private invite links too.

Telegram limits joins hard (a flood wait after a few dozen in a row) and an account holds at most
500 channels (``CHANNELS_TOO_MUCH``). So an account joins one channel at a time, at least
``join_interval_seconds`` apart; a short flood wait is waited out, a long one is the account's
problem (:class:`handlers.poller.AccountLost`), and a full account says so
(:class:`AccountFull`) so the channel goes to another account or stays polled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telethon import TelegramClient, errors
from telethon.tl import functions, types

from handlers.poller import ACCOUNT_LOST_ERRORS, AccountLost
from handlers.telegram import channel_from_entity
from monitor.core.config import TelegramConfig
from monitor.core.models import Channel

log = logging.getLogger(__name__)


class AccountFull(Exception):
    """The account is in as many channels as Telegram allows (``CHANNELS_TOO_MUCH``)."""


class InviteInvalid(Exception):
    """A private invite link expired or never existed."""


class Joiner:
    """Joins channels for one account, one at a time and spaced out."""

    def __init__(
        self,
        account: str,
        client: TelegramClient,
        settings: TelegramConfig,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.account = account
        self.client = client
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.next_join = 0.0
        self.joins = 0

    async def join(self, channel: Channel) -> None:
        """Join a public channel (its access hash is known); raises AccountFull/AccountLost."""
        await self._request(
            functions.channels.JoinChannelRequest(types.InputChannel(channel.id, channel.access_hash or 0)),
            str(channel.username or channel.id),
        )

    async def join_invite(self, invite_hash: str) -> Channel:
        """Join by a private invite link; the channel it leads to (already a member is fine)."""
        try:
            result = await self._request(
                functions.messages.ImportChatInviteRequest(invite_hash), "+" + invite_hash
            )
        except errors.UserAlreadyParticipantError:
            checked = await self.client(functions.messages.CheckChatInviteRequest(invite_hash))
            chat = getattr(checked, "chat", None)
            if not isinstance(chat, types.Channel):
                raise InviteInvalid(f"the invite link +{invite_hash} does not lead to a channel") from None
            return channel_from_entity(chat)
        except (errors.InviteHashExpiredError, errors.InviteHashInvalidError, errors.InviteHashEmptyError):
            raise InviteInvalid(f"the invite link +{invite_hash} expired or is not valid") from None
        chats = [c for c in getattr(result, "chats", []) if isinstance(c, types.Channel)]
        if not chats:
            raise InviteInvalid(f"the invite link +{invite_hash} does not lead to a channel")
        return channel_from_entity(chats[0])

    async def leave(self, channel: Channel) -> None:
        """Leave a channel no longer collected, so it stops counting against the 500."""
        await self.client(
            functions.channels.LeaveChannelRequest(types.InputChannel(channel.id, channel.access_hash or 0))
        )
        log.info("left @%s id=%s (account %s)", channel.username or "-", channel.id, self.account)

    async def _request(self, request: Any, label: str) -> Any:
        wait = self.next_join - self.clock()
        if wait > 0:
            await self.sleep(wait)
        while True:
            self.next_join = self.clock() + self.settings.join_interval_seconds
            try:
                result = await self.client(request)
            except errors.ChannelsTooMuchError:
                raise AccountFull(
                    f"account {self.account} is in as many channels as Telegram allows"
                ) from None
            except errors.FloodWaitError as exc:
                if exc.seconds >= self.settings.long_flood_wait_seconds:
                    raise AccountLost(
                        self.account, f"flood wait of {exc.seconds} s on join", wait=exc.seconds
                    ) from None
                log.warning(
                    "flood wait %s s joining %s (account %s): waiting", exc.seconds, label, self.account
                )
                await self.sleep(exc.seconds)
                continue
            except ACCOUNT_LOST_ERRORS as exc:
                raise AccountLost(self.account, type(exc).__name__.removesuffix("Error")) from None
            self.joins += 1
            log.info("joined %s (account %s)", label, self.account)
            return result
