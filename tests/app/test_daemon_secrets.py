"""Secrets from the environment reach Telethon and nothing else: not the logs, not the archive."""

from __future__ import annotations

import logging
import os

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from monitor.core.errors import ConfigError, TelegramSetupError
from monitor.daemon import make_client
from tests.support.daemon import (
    CHANNEL_ID,
    eventually,
    make_config,
    make_server,
    posts_at_least,
    running_daemon,
)
from tests.support.fake_telegram import API_HASH


def session_string() -> str:
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(os.urandom(256))
    return session.save()


@pytest.mark.asyncio
async def test_session_and_api_hash_never_logged_nor_archived(tmp_path, monkeypatch, caplog):
    secret = session_string()
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    monkeypatch.setenv("TG_SESSION", secret)
    server = make_server()
    config = make_config(tmp_path)

    def factory(cfg):
        client = make_client(cfg)  # the product's own factory reads the secrets
        server.install(client)
        return client

    with caplog.at_level(logging.DEBUG):
        async with running_daemon(server, config, client_factory=factory) as daemon:
            server.post(CHANNEL_ID, "منشور عادي")
            await eventually(posts_at_least(daemon, 1))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "post channel=militia_news id=1 status=new" in logged  # the logs were captured
    data = b"".join(p.read_bytes() for p in tmp_path.glob("archive.db*"))
    for value in (secret, API_HASH, secret[:40]):
        assert value not in logged
        assert value.encode() not in data


def test_bad_secrets_fail_before_connecting(tmp_path, monkeypatch):
    config = make_config(tmp_path, session=str(tmp_path / "absent.session"))
    monkeypatch.setenv("TG_API_ID", "not-a-number")
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    with pytest.raises(ConfigError, match="TG_API_ID"):
        make_client(config)
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", "short")
    with pytest.raises(ConfigError, match="TG_API_HASH"):
        make_client(config)
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    monkeypatch.setenv("TG_SESSION", "garbage")
    with pytest.raises(TelegramSetupError, match="TG_SESSION"):
        make_client(config)
    monkeypatch.delenv("TG_SESSION")
    with pytest.raises(TelegramSetupError, match="tgmonitor login"):
        make_client(config)  # no session file either
