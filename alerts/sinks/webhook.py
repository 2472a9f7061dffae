"""The webhook sink: a JSON POST per alert (or Slack/Discord-compatible text), signed.

aiohttp is imported when a webhook is first used: it builds its TLS contexts at import
(0.16 s), which every process that only archives alerts (the import workers) would pay for
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alerts import format as fmt
from alerts.sinks.base import OutgoingAlert, Sink, SinkUnavailable, sink_name
from monitor.core.config import SinkConfig, read_secret
from monitor.core.errors import ConfigError, DeliveryError

if TYPE_CHECKING:
    import aiohttp


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


RESPONSE_READ_BYTES = 8192
"""At most this much of a receiver's answer is read: the status says what happened, and a
receiver that streams an endless body must not fill the memory (it once reached 1.6 GB in 3 s)."""

RESPONSE_READ_SECONDS = 1.0


async def _drain_a_little(response: aiohttp.ClientResponse) -> None:
    """Read a few KB of the body, briefly (a small answer frees the connection for reuse).

    The status is already known: a body that never comes, or never ends, changes nothing. What
    is not read is dropped with the connection when the response is released.
    """
    # why: aiohttp's TLS contexts cost 0.16 s at import; only a used webhook pays it
    import aiohttp

    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(RESPONSE_READ_SECONDS):
            await response.content.read(RESPONSE_READ_BYTES)


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
        # why: aiohttp's TLS contexts cost 0.16 s at import; only a used webhook pays it
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
        # why: aiohttp's TLS contexts cost 0.16 s at import; only a used webhook pays it
        import aiohttp

        await self.open()
        assert self._session is not None
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key}
        if self._secret:
            headers["X-Tgmonitor-Signature"] = sign(self._secret, data)
        try:
            # why: one deadline over the whole attempt, whatever the session's own timeouts are
            async with (
                asyncio.timeout(self.timeout) as deadline,
                self._session.post(
                    self.url,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as response,
            ):
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                deadline.reschedule(None)  # answered: the body's read has its own short bound
                await _drain_a_little(response)
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
