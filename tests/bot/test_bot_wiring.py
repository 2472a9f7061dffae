"""Where the desk runs and how it is configured: the daemon's one call, the sinks, [bot], the CLI."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from alerts.sinks import TelegramSink, build_sinks
from monitor.app import open_app
from monitor.bot.runner import desk_sink, run_in_daemon
from monitor.cli import main
from monitor.core.config import parse_config
from monitor.core.errors import ConfigError
from tests.support.bot import ALICE, GROUP, ROOM, TOKEN_ENV, desk_config
from tests.support.fake_bot import BOT_TOKEN, FakeBotTelegram


def test_the_desks_sink_carries_buttons_and_takes_updates(tmp_path):
    config = parse_config(
        {
            "alerts": {
                "sink": [
                    {"type": "telegram", "chat": "@a", "bot_token_env": "DESK_TOKEN", "name": "desk"},
                    {"type": "telegram", "chat": "@b", "bot_token_env": "OTHER_TOKEN", "name": "other"},
                    {"type": "telegram", "chat": "@c", "name": "user-client"},
                ]
            },
            "bot": {"enabled": True, "allowed_users": [ALICE]},
        }
    )
    sinks = {s.name: s for s in build_sinks(config)}
    assert isinstance(sinks["desk"], TelegramSink) and sinks["desk"].buttons and sinks["desk"].receive_updates
    assert not sinks["other"].buttons and not sinks["user-client"].buttons
    assert desk_sink(sinks.values()) is sinks["desk"]
    config.bot.enabled = False
    assert desk_sink(build_sinks(config)) is None  # no desk: no buttons nobody would answer


@pytest.mark.parametrize(
    ("bot", "message"),
    [
        ({"enabled": True, "token_env": "T"}, "both empty"),
        ({"enabled": True, "allowed_users": [1]}, "has no token"),
        ({"allowed_chats": ["<b>room</b>"]}, "'bot.allowed_chats[0]' must be a numeric id or an @username"),
        ({"page_size": 50}, "'bot.page_size' must be between 1 and 10"),
        ({"token_env": "123:secret-token"}, "must name an environment variable"),
        ({"allowed": [1]}, "unknown key 'bot.allowed'"),
    ],
)
def test_bot_config_is_checked(bot, message):
    with pytest.raises(ConfigError) as info:
        parse_config({"bot": bot})
    assert message in str(info.value) and "secret-token" not in str(info.value)


def test_tgmonitor_bot_refuses_to_start_when_off(tmp_path, no_user_config):
    config = tmp_path / "config.toml"
    config.write_text('[bot]\nallowed_users = ["@alice"]\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "bot"])
    assert result.exit_code == 2 and "the bot desk is off" in result.output
    assert "Traceback" not in result.output


@pytest.mark.asyncio
async def test_the_daemon_starts_the_desk_on_its_sinks_bot_client(tmp_path, monkeypatch):
    """``Daemon.run`` spawns :func:`run_in_daemon` with its app: the desk answers on the sink's client."""
    monkeypatch.setenv(TOKEN_ENV, BOT_TOKEN)
    server = FakeBotTelegram()
    server.add_channel(ROOM, "analyst_room", "Analysts")
    server.add_user(ALICE, "alice", "Alice")
    server.add_chat(GROUP, "غرفة المحللين")
    config = desk_config(tmp_path)
    sink = TelegramSink(
        config.alerts.sink[0], client_factory=lambda: server.client(), buttons=True, receive_updates=True
    )
    stop = asyncio.Event()
    async with open_app(config, tmp_path / "a.db", tmp_path / "media", ocr=False, sinks=[sink]) as app:
        task = asyncio.create_task(run_in_daemon(app, config, stop))
        await server.wait_for(lambda: server.authorized, 10)
        for _ in range(50):  # the desk registers its handlers once the bot is logged in
            if sink._client is not None and sink._client.list_event_handlers():
                break
            await asyncio.sleep(0.1)
        message = server.user_message(ALICE, "/stats", chat_id=GROUP)
        await server.wait_for(
            lambda: any(getattr(r.reply_to, "reply_to_msg_id", 0) == message.id for r in server.sent)
        )
        stop.set()
        await asyncio.wait_for(task, 10)
        await sink.close()
    assert "posts: 0" in server.sent[-1].message
