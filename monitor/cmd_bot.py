"""``tgmonitor bot``: the bot desk alone, for a machine that only serves analysts."""

from __future__ import annotations

import asyncio
import signal

import click

from monitor.cli_context import AppContext, pass_app, run_async
from monitor.core.config import SinkConfig, bot_token_env
from monitor.core.errors import ConfigError


@click.command("bot")
@pass_app
def bot_command(app: AppContext) -> None:
    """Answer the analysts in Telegram until SIGTERM or Ctrl-C: commands and alert buttons.

    Needs [bot] enabled, allowed_chats or allowed_users, and the bot's token in the variable
    [bot] token_env names (or the Telegram sink's bot_token_env), with TG_API_ID and TG_API_HASH.
    `tgmonitor run` answers the same way on its own when [bot] is enabled: run this one only
    where the daemon does not (a bot's updates go to one connection).

    Example: TGM_BOT_TOKEN=123:abc tgmonitor bot --config ~/.config/tgmonitor/config.toml
    """
    from alerts.sinks import TelegramSink  # why: Telethon and the detector (~1 s) load only to run
    from monitor.app import build_detector
    from monitor.bot.runner import run_desk
    from monitor.cmd_daemon import _daemon_logging
    from monitor.core.store import Archive

    config = app.config()
    if not config.bot.enabled:
        raise ConfigError("the bot desk is off: set enabled = true under [bot] in the config")
    token_env = bot_token_env(config)
    _daemon_logging(app.verbose)
    detector = build_detector(config)
    sink = TelegramSink(
        SinkConfig(type="telegram", name="bot-desk", bot_token_env=token_env),
        api_id_env=config.telegram.api_id_env,
        api_hash_env=config.telegram.api_hash_env,
        receive_updates=True,
    )

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            try:
                await run_desk(archive, config, sink, stop, detector=lambda: detector)
            finally:
                await sink.close()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    run_async(go())


commands: list[click.Command] = [bot_command]
