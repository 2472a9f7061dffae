"""Where alerts go: Telegram, a webhook, a JSON Lines file, the console.

A sink sends one alert (:meth:`Sink.send`) or a digest of many (:meth:`Sink.send_digest`) and
says how it failed by raising :class:`~monitor.core.errors.DeliveryError`:

* ``permanent=False`` (the default): try again later (timeouts, 5xx, 408/429, flood waits,
  connection errors); ``retry_after`` carries the server's own wish when it gave one.
* ``permanent=True``: this alert will never go through this way (a 400 for this payload).
* :class:`SinkUnavailable` (permanent): the sink itself is unusable (bad bot token, chat not
  found, a webhook answering 401/403/404/410): the outbox stops using it until restart.

Sinks are driven by the outbox one alert at a time per sink, so each keeps no queue of its own.
Each gets an idempotency key per delivery: the webhook sends it as ``Idempotency-Key``, Telegram
turns it into the message's ``random_id`` (Telegram drops a repeated one), the JSON Lines sink
looks for it in the file's tail before appending a retried alert.

``human`` sinks (Telegram, console, Slack/Discord webhooks) are rate controlled by the outbox:
a burst is folded into a digest. Machine sinks (JSON webhook, JSON Lines) get every alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import hmac
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from alerts import format as fmt
from monitor.core.config import SinkConfig, read_secret

if TYPE_CHECKING:
    import aiohttp
from monitor.core.detection import severity_rank
from monitor.core.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)


class SinkUnavailable(DeliveryError):
    """The sink itself cannot be used (bad token, unknown chat, webhook gone): stop using it."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


@dataclass
class OutgoingAlert:
    """One delivery as a sink sees it."""

    delivery_id: int
    alert_id: int
    kind: str
    severity: str | None
    body: dict[str, Any]
    key: str  # idempotency key, stable across retries and restarts
    attempts: int = 0  # attempts made before this one (> 0: it may have gone out already)
    image: Path | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sink_name(config: SinkConfig) -> str:
    """The sink's name in the archive (``deliveries.sink``): never a secret.

    A webhook URL often *is* a secret (Slack and Discord put the token in the path), so a webhook
    is named by its host and a short hash of the full URL.
    """
    if config.name:
        return config.name
    if config.type == "webhook" and config.url:
        digest = hashlib.sha256(config.url.encode()).hexdigest()[:8]
        return f"webhook:{urlsplit(config.url).hostname or '?'}#{digest}"
    if config.type == "telegram":
        return f"telegram:{config.chat}"
    if config.type == "jsonl":
        return f"jsonl:{config.path}"
    return config.type


class Sink:
    """Base of every sink."""

    kind: ClassVar[str] = "sink"
    human: bool = True

    def __init__(self, name: str, min_severity: str | None = None):
        self.name = name
        self.min_severity = min_severity

    def wants(self, severity: str | None) -> bool:
        """Whether an alert of ``severity`` goes to this sink at all."""
        if self.min_severity is None:
            return True
        return severity_rank(severity) >= severity_rank(self.min_severity)

    async def open(self) -> None:
        """Connect or log in (called before the first send; must be cheap when already open)."""

    async def send(self, alert: OutgoingAlert) -> None:
        raise NotImplementedError

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        """Send many alerts as one message (human sinks override this)."""
        for alert in alerts:
            await self.send(alert)

    async def close(self) -> None:
        """Release connections (idempotent)."""


# --- Telegram -----------------------------------------------------------------------------


def random_id_for(key: str) -> int:
    """A message ``random_id`` derived from the idempotency key: a resend reuses it."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


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

    async def open(self) -> None:
        from telethon import errors

        if self._client is None:
            self._client = await self._login()
        elif self._own_client and not self._client.is_connected():
            try:
                await self._client.connect()
            except (OSError, ConnectionError) as exc:
                raise DeliveryError(f"{self.name}: cannot reach Telegram ({exc})") from None
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

    async def _login(self) -> Any:
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
                api_id = int(read_secret(self._api_id_env) or "")
                api_hash = read_secret(self._api_hash_env) or ""
            except (ConfigError, ValueError) as exc:
                raise SinkUnavailable(
                    f"{self.name}: bot login needs {self._api_id_env} and {self._api_hash_env} ({exc})"
                ) from None
            client = TelegramClient(StringSession(), api_id, api_hash, receive_updates=False)
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
                peer=self._peer, message=text, random_id=rid, no_webpage=True, entities=entities or None
            )
        )

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
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


# --- webhook ------------------------------------------------------------------------------


def sign(secret: str, data: bytes) -> str:
    """The ``X-Tgmonitor-Signature`` value: ``sha256=`` + HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class WebhookSink(Sink):
    """A JSON POST per alert (the body of DESIGN.md), or Slack/Discord-compatible text.

    Headers: ``Content-Type: application/json``, ``Idempotency-Key`` (same on every retry),
    ``X-Tgmonitor-Signature: sha256=<hex>`` (HMAC-SHA256 of the body with ``$secret_env``) when
    a secret is configured. 2xx is success; 408, 429, 5xx, timeouts and connection errors are
    retried (honouring ``Retry-After``); 401/403/404/410 stop the sink; other 4xx and 3xx fail
    this alert. The URL never appears in logs or the archive (see :func:`sink_name`).
    """

    kind = "webhook"

    def __init__(self, config: SinkConfig, *, session: aiohttp.ClientSession | None = None):
        super().__init__(sink_name(config), config.min_severity)
        if not config.url:
            raise ConfigError("a webhook sink needs a url")
        self.url = config.url
        self.timeout = config.timeout
        self.format = config.format
        self.human = config.format != "json"
        self._secret = read_secret(config.secret_env) if config.secret_env else None
        self._session = session
        self._own_session = session is None

    async def open(self) -> None:
        # aiohttp is imported on first use: it builds its TLS contexts at import (0.16 s), which
        # every process that only archives alerts (the import workers) would pay for nothing.
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "tgmonitor"},
            )

    def payload(self, alert: OutgoingAlert) -> dict[str, Any]:
        body = alert.body
        if self.format == "slack":
            return fmt.slack_payload(
                body, fmt.render_text(body, mark="*", limit=3000, escape=fmt.slack_escape)
            )
        if self.format == "discord":
            return fmt.discord_payload(
                fmt.render_text(body, mark="**", limit=2000, escape=fmt.discord_escape)
            )
        return body

    async def send(self, alert: OutgoingAlert) -> None:
        await self._post(self.payload(alert), alert.key)

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        bodies = [a.body for a in alerts]
        if self.format == "slack":
            payload = fmt.slack_payload(
                None, fmt.render_digest_text(bodies, limit=3000, escape=fmt.slack_escape)
            )
        elif self.format == "discord":
            payload = fmt.discord_payload(
                fmt.render_digest_text(bodies, limit=2000, escape=fmt.discord_escape)
            )
        else:
            payload = {"kind": "digest", "alerts": bodies}
        await self._post(payload, key)

    async def _post(self, payload: dict[str, Any], key: str) -> None:
        import aiohttp

        await self.open()
        assert self._session is not None
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key}
        if self._secret:
            headers["X-Tgmonitor-Signature"] = sign(self._secret, data)
        try:
            async with self._session.post(
                self.url,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                await response.read()
        except TimeoutError:
            raise DeliveryError(f"{self.name}: no answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{self.name}: connection failed ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise DeliveryError(f"{self.name}: HTTP {status}", retry_after=retry_after)
        if status in (401, 403, 404, 410):
            raise SinkUnavailable(f"{self.name}: HTTP {status} (check the URL and the secret)")
        raise DeliveryError(f"{self.name}: HTTP {status}", permanent=True)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None


# --- JSON Lines ---------------------------------------------------------------------------


class JsonlSink(Sink):
    """One alert per line, appended and fsynced (``delivery_key`` added to the body).

    A retried alert (one that may already have been written before a crash) is looked up in the
    last 256 KiB of the file first, so this sink never writes an alert twice.
    """

    kind = "jsonl"
    human = False
    TAIL_BYTES = 256 * 1024

    def __init__(self, config: SinkConfig):
        super().__init__(sink_name(config), config.min_severity)
        if config.path is None:
            raise ConfigError("a jsonl sink needs a path")
        self.path = Path(config.path).expanduser()

    async def send(self, alert: OutgoingAlert) -> None:
        record = {**alert.body, "delivery_key": alert.key}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        await self._append([line], [alert.key] if alert.attempts else [])

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        lines = [
            json.dumps({**a.body, "delivery_key": a.key}, ensure_ascii=False, separators=(",", ":")) + "\n"
            for a in alerts
        ]
        await self._append(lines, [a.key for a in alerts if a.attempts])

    async def _append(self, lines: list[str], check: list[str]) -> None:
        try:
            await asyncio.to_thread(self._write, lines, check)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise SinkUnavailable(f"{self.name}: cannot write {self.path} ({exc.strerror})") from None
        except OSError as exc:
            raise DeliveryError(f"{self.name}: cannot write {self.path} ({exc.strerror})") from None

    def _write(self, lines: list[str], check: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if check and self.path.exists():
            with open(self.path, "rb") as handle:
                handle.seek(max(0, self.path.stat().st_size - self.TAIL_BYTES))
                tail = handle.read().decode("utf-8", "replace")
            present = {k for k in check if f'"delivery_key":"{k}"' in tail}
            lines = [line for line in lines if not any(f'"delivery_key":"{k}"' in line for k in present)]
            if not lines:
                return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)


# --- console ------------------------------------------------------------------------------


class ConsoleSink(Sink):
    """Alerts printed with rich (what ``tgmonitor demo`` shows). Channel text is never markup."""

    kind = "console"
    human = True

    def __init__(self, config: SinkConfig | None = None, console: Any | None = None):
        config = config or SinkConfig(type="console")
        super().__init__(sink_name(config), config.min_severity)
        self._console = console

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=sys.stdout)
        return self._console

    async def send(self, alert: OutgoingAlert) -> None:
        self.console.print(render_rich(alert.body))

    async def send_digest(self, alerts: Sequence[OutgoingAlert], key: str) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Digest: {len(alerts)} alerts", show_lines=False, expand=True)
        for column in ("#", "severity", "channel", "date", "matched", "text"):
            table.add_column(column, overflow="fold")
        ordered = sorted(alerts, key=lambda a: (-severity_rank(a.severity), a.alert_id))
        for alert in ordered:
            body = alert.body
            terms = ", ".join(t for t, _ in fmt.terms_summary(body.get("matches") or [], 3))
            snippet = (body.get("text") or body.get("ocr_excerpt") or "").replace("\n", " ")[:80]
            table.add_row(
                str(alert.alert_id),
                Text(alert.severity or "-", style=_SEVERITY_STYLE.get(alert.severity or "", "")),
                Text(fmt.channel_label(body)),
                fmt.format_date(body.get("date")),
                Text(terms, style="bold"),
                Text(snippet),
            )
        self.console.print(table)


_SEVERITY_STYLE = {"high": "bold red", "medium": "bold yellow", "low": "cyan"}


def render_rich(body: dict[str, Any]) -> Any:
    """A rich Panel for one alert: headline, channel and link, terms in context, poster text."""
    from rich.panel import Panel
    from rich.text import Text

    style = _SEVERITY_STYLE.get(body.get("severity") or "", "")
    out = Text()
    out.append(f"{fmt.channel_label(body)}", style="bold")
    out.append(f"  {fmt.format_date(body.get('date'))}\n", style="dim")
    if body.get("url"):
        out.append(str(body["url"]) + "\n", style="blue underline")
    terms = fmt.terms_summary(body.get("matches") or [])
    if terms:
        out.append("Matched: ")
        for i, (term, rule) in enumerate(terms):
            out.append("" if i == 0 else ", ")
            out.append(term, style="bold reverse")
            out.append(f" ({rule})", style="dim")
        out.append("\n")
    countdown = fmt.countdown_line(body.get("countdown"))
    if countdown:
        out.append(f"⏳ {countdown}\n", style="bold magenta")
    if body.get("kind") == "campaign":
        out.append(
            f"First seen {fmt.format_date(body.get('first_seen'))}, last seen {fmt.format_date(body.get('last_seen'))}\n"
        )
        for item in (body.get("channels") or [])[:30]:
            out.append(f"  • {item.get('title') or item.get('channel')} {item.get('url') or ''}\n")
    for source, label in (("text", ""), ("ocr", "Poster text: ")):
        value = body.get("text") if source == "text" else body.get("ocr_excerpt")
        if not value:
            continue
        out.append(label, style="italic")
        for piece, hot in fmt.excerpt_pieces(value, fmt.text_spans(body, source), 600):
            if source == "ocr":  # poster lines run together in a terminal: keep them apart, on one line
                piece = piece.replace("\n", " / ")
            out.append(piece, style="bold reverse" if hot else "")
        out.append("\n")
    title = Text(fmt.headline(body), style=style)
    subtitle = f"alert #{body.get('alert_id')}" if body.get("alert_id") is not None else None
    out.rstrip()
    return Panel(
        out if out.plain else Text("-"),
        title=title,
        subtitle=subtitle,
        border_style=style or "white",
        expand=True,
    )


# --- building -----------------------------------------------------------------------------


def build_sinks(
    config: Any,
    *,
    telegram_client: Any | None = None,
    client: Any | None = None,
    console: Any | None = None,
) -> list[Sink]:
    """The sinks of ``[[alerts.sink]]`` (``config`` is the whole ``Config`` or its ``alerts``).

    ``telegram_client`` is the daemon's connected TelegramClient, used by Telegram sinks without
    a ``bot_token_env``. Raises :class:`ConfigError` for a sink that cannot be built (e.g. a
    missing webhook secret); two sinks with the same name are refused because deliveries are
    keyed by name.
    """
    config = getattr(config, "alerts", config)
    client = telegram_client if telegram_client is not None else client
    sinks: list[Sink] = []
    for sink_config in config.sink:
        if sink_config.type == "telegram":
            sinks.append(TelegramSink(sink_config, client=client if not sink_config.bot_token_env else None))
        elif sink_config.type == "webhook":
            sinks.append(WebhookSink(sink_config))
        elif sink_config.type == "jsonl":
            sinks.append(JsonlSink(sink_config))
        else:
            sinks.append(ConsoleSink(sink_config, console=console))
    names = [s.name for s in sinks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"two alert sinks share the name {duplicates[0]!r}: give one a distinct 'name'")
    return sinks
