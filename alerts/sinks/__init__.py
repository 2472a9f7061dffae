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

One module per sink (:mod:`.telegram`, :mod:`.webhook`, :mod:`.jsonl`, :mod:`.console`) over
the shared :mod:`.base`; this front door exports them and builds the configured ones
(:func:`build_sinks`).
"""

from __future__ import annotations

from typing import Any

from alerts.sinks.base import OutgoingAlert, Sink, SinkUnavailable, random_id_for, sink_name
from alerts.sinks.console import ConsoleSink, render_rich
from alerts.sinks.jsonl import JsonlSink
from alerts.sinks.telegram import TelegramSink
from alerts.sinks.webhook import WebhookSink, parse_retry_after, sign
from monitor.core.config import AlertsConfig, Config, bot_token_env
from monitor.core.errors import ConfigError

__all__ = [
    "ConsoleSink",
    "JsonlSink",
    "OutgoingAlert",
    "Sink",
    "SinkUnavailable",
    "TelegramSink",
    "WebhookSink",
    "build_sinks",
    "parse_retry_after",
    "random_id_for",
    "render_rich",
    "sign",
    "sink_name",
]


def build_sinks(
    config: Config | AlertsConfig,
    *,
    telegram_client: Any | None = None,
    client: Any | None = None,
    console: Any | None = None,
) -> list[Sink]:
    """The sinks of ``[[alerts.sink]]`` (``config`` is the whole ``Config`` or its ``alerts``).

    ``telegram_client`` is the daemon's connected TelegramClient, used by Telegram sinks without
    a ``bot_token_env``. With ``[bot] enabled``, the sink that logs in with the bot desk's token
    puts the desk's buttons under each alert and takes updates (the desk answers on its client). Raises :class:`ConfigError` for a sink that cannot be built (e.g. a
    missing webhook secret); two sinks with the same name are refused because deliveries are
    keyed by name.
    """
    alerts = config.alerts if isinstance(config, Config) else config
    # The sink that logs in as the bot desk's bot puts the desk's buttons under its alerts.
    desk_token = bot_token_env(config) if isinstance(config, Config) and config.bot.enabled else None
    client = telegram_client if telegram_client is not None else client
    sinks: list[Sink] = []
    for sink_config in alerts.sink:
        if sink_config.type == "telegram":
            desk = desk_token is not None and sink_config.bot_token_env == desk_token
            sinks.append(
                TelegramSink(
                    sink_config,
                    client=client if not sink_config.bot_token_env else None,
                    buttons=desk,
                    receive_updates=desk,
                )
            )
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
