"""The Telegram sink: alerts as HTML messages in a chat, group or channel, poster attached.

Telethon is imported inside the methods: it costs 0.5 s at import, which every process that
only archives alerts (the import workers, ``tgmonitor import`` without ``--alerts``) would pay
for a sink it never opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from alerts import format as fmt
from alerts.buttons import alert_keyboard
from alerts.sinks.base import OutgoingAlert, Sink, SinkUnavailable, random_id_for, sink_name
from monitor.core.config import SinkConfig, read_secret
from monitor.core.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

_PEER_ERRORS = {
    "PEER_ID_INVALID",
    "CHANNEL_PRIVATE",
    "CHANNEL_INVALID",
    "CHAT_ID_INVALID",
    "CHAT_WRITE_FORBIDDEN",
    "CHAT_ADMIN_REQUIRED",
    "USER_IS_BLOCKED",
    "USER_IS_BOT",
    "INPUT_USER_DEACTIVATED",
    "USERNAME_NOT_OCCUPIED",
    "USERNAME_INVALID",
    "CHAT_RESTRICTED",
    "USER_BANNED_IN_CHANNEL",
}
_PHOTO_ERRORS = {
    "PHOTO_INVALID_DIMENSIONS",
    "PHOTO_EXT_INVALID",
    "PHOTO_SAVE_FILE_INVALID",
    "IMAGE_PROCESS_FAILED",
    "MEDIA_INVALID",
    "PHOTO_INVALID",
    "FILE_PARTS_INVALID",
}


class TelegramSink(Sink):
    """Alerts as HTML messages in a chat, group or channel, with the poster attached.

    Sends through the daemon's own :class:`TelegramClient` when given one, else logs in as a
    bot with the token from ``$bot_token_env`` (and ``TG_API_ID``/``TG_API_HASH``). The bot's
    session lives in memory: a bot login is one request, and a session file would be locked by
    the daemon while ``tgmonitor import --alerts`` wants it too.
    """

    kind = "telegram"
    human = True

    def __init__(
        self,
        config: SinkConfig,
        client: Any | None = None,
        *,
        client_factory: Callable[[], Any] | None = None,
        api_id_env: str = "TG_API_ID",
        api_hash_env: str = "TG_API_HASH",
        max_inline_wait: float = 60.0,
        buttons: bool = False,
        receive_updates: bool = False,
    ):
        super().__init__(sink_name(config), config.min_severity)
        self.chat = config.chat
        self.bot_token_env = config.bot_token_env
        self._client = client
        self._own_client = client is None
        self._factory = client_factory
        self._api_id_env = api_id_env
        self._api_hash_env = api_hash_env
        self._peer: Any = None
        self.max_inline_wait = max_inline_wait
        # The bot desk (monitor.bot) answers presses of these buttons on this bot's own client,
        # which then must take updates (a sink alone never reads any).
        self.buttons = buttons
        self.receive_updates = receive_updates
        self._connecting = asyncio.Lock()

    async def open(self) -> None:
        # why: telethon costs ~0.5 s at import; only a process that opens this sink pays it
        from telethon import errors

        await self.connect_client()
        if self._peer is None:
            chat: Any = self.chat
            if isinstance(chat, str) and re.fullmatch(r"-?\d+", chat.strip()):
                chat = int(chat)
            try:
                self._peer = await self._client.get_input_entity(chat)
            except ValueError:
                raise SinkUnavailable(f"{self.name}: chat {self.chat} not found") from None
            except errors.FloodWaitError as exc:
                raise DeliveryError(
                    f"{self.name}: flood wait {exc.seconds} s", retry_after=exc.seconds
                ) from None
            except errors.RPCError as exc:
                raise self._classify(exc) from None

    async def connect_client(self) -> Any:
        """The sink's client, logged in and connected (the bot desk shares it with the sink).

        Under a lock: the outbox's first send and the bot desk may ask at once, and two logins
        would make two clients of one bot (Telegram gives a bot's updates to one of them).
        """
        async with self._connecting:
            return await self._connect_client()

    async def _connect_client(self) -> Any:
        if self._client is None:
            self._client = await self._login()
        elif self._own_client and not self._client.is_connected():
            try:
                await self._client.connect()
            except (OSError, ConnectionError) as exc:
                raise DeliveryError(f"{self.name}: cannot reach Telegram ({exc})") from None
        return self._client

    def _markup(self, alert: OutgoingAlert, caption: bool) -> Any:
        """The alert's inline buttons (:mod:`alerts.buttons`), when the bot desk answers them."""
        if not self.buttons or alert.alert_id <= 0:
            return None
        from telethon import Button, TelegramClient  # why: as in open()

        rows = alert_keyboard(alert.alert_id, alert.kind, caption)
        # Telethon builds the markup of the layer it speaks (inline buttons changed shape in 2025)
        return TelegramClient.build_reply_markup(
            [[Button.inline(label, data) for label, data in row] for row in rows]
        )

    async def _login(self) -> Any:
        # why: telethon costs ~0.5 s at import; only a process that opens this sink pays it
        from telethon import TelegramClient, errors
        from telethon.sessions import StringSession

        if not self.bot_token_env:
            raise SinkUnavailable(f"{self.name}: needs the daemon's Telegram client or bot_token_env")
        try:
            token = read_secret(self.bot_token_env)
        except ConfigError as exc:
            raise SinkUnavailable(f"{self.name}: {exc}") from None
        if self._factory is not None:
            client = self._factory()
        else:
            try:
                raw_id = read_secret(self._api_id_env) or ""
                api_hash = read_secret(self._api_hash_env) or ""
            except ConfigError as exc:
                raise SinkUnavailable(
                    f"{self.name}: bot login needs {self._api_id_env} and {self._api_hash_env} ({exc})"
                ) from None
            if not raw_id.isdigit():  # why: int()'s own message would quote the value into last_error
                raise SinkUnavailable(f"{self.name}: {self._api_id_env} must be the numeric api_id")
            api_id = int(raw_id)
            client = TelegramClient(StringSession(), api_id, api_hash, receive_updates=self.receive_updates)
        try:
            await client.start(bot_token=token)
        except (
            errors.AccessTokenInvalidError,
            errors.AccessTokenExpiredError,
            errors.UnauthorizedError,
        ) as exc:
            await client.disconnect()
            raise SinkUnavailable(
                f"{self.name}: Telegram refused the bot token in ${self.bot_token_env} ({type(exc).__name__})"
            ) from None
        except errors.FloodWaitError as exc:
            await client.disconnect()
            raise DeliveryError(
                f"{self.name}: bot login flood wait {exc.seconds} s", retry_after=exc.seconds
            ) from None
        except (OSError, ConnectionError) as exc:
            await client.disconnect()
            raise DeliveryError(f"{self.name}: cannot reach Telegram ({exc})") from None
        return client

    def _classify(self, exc: Any) -> DeliveryError:
        # why: telethon costs ~0.5 s at import; only a process that opens this sink pays it
        from telethon import errors

        message = getattr(exc, "message", None) or type(exc).__name__
        code = getattr(exc, "code", None)
        if message in _PEER_ERRORS or isinstance(exc, errors.UnauthorizedError | errors.ForbiddenError):
            return SinkUnavailable(f"{self.name}: Telegram refused the chat {self.chat} ({message})")
        if code == 400:
            return DeliveryError(f"{self.name}: Telegram rejected the message ({message})", permanent=True)
        return DeliveryError(f"{self.name}: Telegram error {code} {message}")

    async def _call(self, request: Any) -> None:
        """Invoke ``request``, sleeping out short flood waits; a repeated random_id means sent."""
        # why: telethon costs ~0.5 s at import; only a process that opens this sink pays it
        from telethon import errors

        for _ in range(3):
            try:
                await self._client(request)
                return
            except (errors.FloodWaitError, errors.SlowModeWaitError) as exc:
                if exc.seconds > self.max_inline_wait:
                    raise DeliveryError(
                        f"{self.name}: flood wait {exc.seconds} s", retry_after=exc.seconds
                    ) from None
                log.info("%s: flood wait %d s, waiting", self.name, exc.seconds)
                await asyncio.sleep(exc.seconds)
            except errors.RandomIdDuplicateError:
                log.info("%s: Telegram already has this message (random_id repeated): delivered", self.name)
                return
            except errors.RPCError as exc:
                raise self._classify(exc) from None
            except (TimeoutError, OSError, ConnectionError) as exc:
                raise DeliveryError(f"{self.name}: connection to Telegram failed ({exc})") from None
        raise DeliveryError(f"{self.name}: still flood-limited after three waits")

    async def send(self, alert: OutgoingAlert) -> None:
        # why: telethon costs ~0.5 s at import; only a process that opens this sink pays it
        from telethon import errors
        from telethon.extensions import html as tl_html
        from telethon.tl import functions, types

        await self.open()
        rid = random_id_for(alert.key)
        if alert.image is not None and alert.image.is_file():
            text, entities = tl_html.parse(fmt.render_html(alert.body, fmt.CAPTION_LIMIT))
            try:
                uploaded = await self._client.upload_file(alert.image)
                await self._call(
                    functions.messages.SendMediaRequest(
                        peer=self._peer,
                        media=types.InputMediaUploadedPhoto(file=uploaded),
                        message=text,
                        random_id=rid,
                        entities=entities or None,
                        reply_markup=self._markup(alert, caption=True),
                    )
                )
                return
            except DeliveryError as exc:
                if not any(name in str(exc) for name in _PHOTO_ERRORS):
                    raise
                log.warning(
                    "%s: Telegram refused the poster of alert %s; sending text only",
                    self.name,
                    alert.alert_id,
                )
            except errors.RPCError as exc:  # from upload_file
                if exc.message not in _PHOTO_ERRORS:
                    raise self._classify(exc) from None
            except OSError as exc:
                log.warning(
                    "%s: cannot read the poster %s (%s); sending text only", self.name, alert.image, exc
                )
        text, entities = tl_html.parse(fmt.render_html(alert.body, fmt.MESSAGE_LIMIT))
        await self._call(
            functions.messages.SendMessageRequest(
                peer=self._peer,
                message=text,
                random_id=rid,
                no_webpage=True,
                entities=entities or None,
                reply_markup=self._markup(alert, caption=False),
            )
        )

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        # why: telethon costs ~0.5 s at import; only a process that opens this sink pays it
        from telethon.extensions import html as tl_html
        from telethon.tl import functions

        await self.open()
        text, entities = tl_html.parse(fmt.render_digest_html([a.body for a in alerts]))
        await self._call(
            functions.messages.SendMessageRequest(
                peer=self._peer,
                message=text,
                random_id=random_id_for(key),
                no_webpage=True,
                entities=entities or None,
            )
        )

    async def close(self) -> None:
        if self._own_client and self._client is not None:
            with contextlib.suppress(OSError, ConnectionError):
                await self._client.disconnect()
            self._client = None
            self._peer = None
