"""The shipped example config and systemd unit, and the login session file's permissions."""

from __future__ import annotations

import dataclasses
import stat
import tomllib
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession

from monitor.cmd_daemon import login_client, prepare_session_file, private_files, session_file
from monitor.core.config import Config, SinkConfig, load_config
from monitor.core.errors import TelegramSetupError
from tests.support.fake_telegram import API_HASH, API_ID, FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_names_every_key():
    config = load_config(ROOT / "examples" / "config.toml")
    assert config.telegram.channels and config.alerts.sink
    data = tomllib.loads((ROOT / "examples" / "config.toml").read_text(encoding="utf-8"))
    text = (ROOT / "examples" / "config.toml").read_text(encoding="utf-8")
    for section in dataclasses.fields(Config):
        if section.name == "source":
            continue
        assert section.name in data, section.name
        for key in dataclasses.fields(
            section.type if isinstance(section.type, type) else type(getattr(config, section.name))
        ):
            if key.name == "sink":
                continue
            # commented-out keys count: they are documented
            assert f"{key.name} =" in text, f"{section.name}.{key.name} missing from examples/config.toml"
    for key in dataclasses.fields(SinkConfig):
        assert f"{key.name} =" in text, f"alerts.sink.{key.name} missing"


def test_systemd_unit_is_sandboxed():
    unit = (ROOT / "contrib" / "tgmonitor.service").read_text()
    for line in (
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "ProtectHome=true",
        "ReadWritePaths=/var/lib/tgmonitor",
        "EnvironmentFile=/etc/tgmonitor/secrets.env",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert line in unit, line


def test_session_file_is_created_private(tmp_path):
    target = prepare_session_file(tmp_path / "state" / "tgmonitor")
    assert target == session_file(tmp_path / "state" / "tgmonitor.session")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    target.chmod(0o644)  # an existing file that was too open is fixed
    prepare_session_file(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.asyncio
async def test_login_with_code_writes_a_private_session_file(tmp_path):
    server = FakeTelegram()
    server.authorized = False
    target = prepare_session_file(tmp_path / "tgmonitor")
    with private_files():
        client = TelegramClient(str(target), API_ID, API_HASH)
        server.install(client)
        me = await login_client(
            client, phone=lambda: "+9647700000000", code=lambda: "12345", password=lambda: ""
        )
    assert me.id == server.me.id
    for path in tmp_path.iterdir():  # the session and anything SQLite made beside it
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert target.stat().st_size > 0  # Telethon wrote the auth key there


@pytest.mark.asyncio
async def test_login_string_session_and_wrong_code(tmp_path, capsys):
    server = FakeTelegram()
    server.authorized = False
    client = server.client()
    await login_client(client, phone=lambda: "+9647700000000", code=lambda: "12345", password=lambda: "")
    text = StringSession.save(client.session)
    assert StringSession(text).auth_key.key == server.senders[0].auth_key.key
    server.authorized = False
    other = server.client()
    with pytest.raises(TelegramSetupError, match="wrong three times"):
        await login_client(other, phone=lambda: "+9647700000000", code=lambda: "00000", password=lambda: "")
    assert "12345" not in capsys.readouterr().err
