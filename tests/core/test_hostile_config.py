"""Hostile config values (issue 20, items 14 and 16): secrets pasted where a variable's name
belongs are refused without being echoed, and every numeric key has a range.

Through the CLI (``doctor``, ``run``, ``import --alerts``) where the analyst meets the message,
and through the sinks whose errors land in ``deliveries.last_error``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.sinks import WebhookSink
from alerts.sinks.base import SinkUnavailable
from alerts.sinks.telegram import TelegramSink
from monitor.cli import main
from monitor.core.config import Config, SinkConfig, load_config, parse_config, read_secret
from monitor.core.errors import ConfigError
from tests.support.export import message, write_single

API_HASH = "0123456789abcdef0123456789abcdef"
BOT_TOKEN = "123456789:AAE-hostileBotTokenValue_0123456789xyz"
WEBHOOK_SECRET = "s3cr3t-hmac-key/with+chars=="


@pytest.fixture
def env(no_user_config):
    return no_user_config


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def write_config(folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- item 14: secrets in *_env keys ------------------------------------------------------------


SECRET_CONFIGS = [
    (f'[telegram]\napi_hash_env = "{API_HASH}"\n', API_HASH, "telegram.api_hash_env"),
    ('[telegram]\napi_id_env = "12345678"\n', "12345678", "telegram.api_id_env"),
    ('[telegram]\nsession_env = "1BVtsOK4Bu3g+ab/cd=="\n', "1BVtsOK4Bu3g+ab/cd==", "telegram.session_env"),
    (
        f'[[alerts.sink]]\ntype = "telegram"\nchat = "@desk"\nbot_token_env = "{BOT_TOKEN}"\n',
        BOT_TOKEN,
        "alerts.sink[0].bot_token_env",
    ),
    (
        f'[[alerts.sink]]\ntype = "webhook"\nurl = "https://example.org/h"\nsecret_env = "{WEBHOOK_SECRET}"\n',
        WEBHOOK_SECRET,
        "alerts.sink[0].secret_env",
    ),
    ("[telegram]\napi_id_env = 12345678\n", "12345678", "telegram.api_id_env"),  # not even a string
]


@pytest.mark.parametrize(("text", "secret", "key"), SECRET_CONFIGS)
@pytest.mark.parametrize("command", [["doctor"], ["run"], ["doctor", "--json"]])
def test_a_secret_in_an_env_key_is_refused_and_never_echoed(env, text, secret, key, command):
    config = write_config(env, text)
    result = invoke("--config", config, "--db", env / "a.db", *command)
    assert result.exit_code != 0
    everything = result.output + result.stderr
    assert secret not in everything
    assert key in everything
    assert "Traceback" not in everything


def test_the_message_says_what_to_do(env):
    config = write_config(env, f'[telegram]\napi_hash_env = "{API_HASH}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message_text = str(caught.value)
    assert "must name an environment variable" in message_text
    assert "not hold the secret itself" in message_text
    assert API_HASH not in message_text


def test_import_alerts_with_a_pasted_bot_token_writes_nothing(env):
    """The token used to end up in deliveries.last_error and ``alerts --json``."""
    config = write_config(
        env, f'[[alerts.sink]]\ntype = "telegram"\nchat = "@desk"\nbot_token_env = "{BOT_TOKEN}"\n'
    )
    export = write_single(env / "export", [message(1, "الانتقام قادم")])
    db = env / "a.db"
    result = invoke("--config", config, "--db", db, "import", export, "--alerts", "--no-ocr")
    assert result.exit_code == 2
    assert BOT_TOKEN not in result.output + result.stderr
    assert "alerts.sink[0].bot_token_env" in result.stderr
    assert not db.exists() or not any(
        BOT_TOKEN in (row[0] or "")
        for row in sqlite3.connect(db).execute("SELECT last_error FROM deliveries").fetchall()
    )


def test_valid_names_still_load(env):
    config = write_config(
        env,
        '[telegram]\napi_hash_env = "MY_HASH"\nsession_env = "tg_session_2"\n'
        '[[alerts.sink]]\ntype = "telegram"\nchat = "@desk"\nbot_token_env = "DESK_BOT"\n',
    )
    loaded = load_config(config)
    assert loaded.telegram.api_hash_env == "MY_HASH"
    assert loaded.alerts.sink[0].bot_token_env == "DESK_BOT"


def test_read_secret_refuses_a_value_without_echoing_it():
    with pytest.raises(ConfigError) as caught:
        read_secret(BOT_TOKEN)
    assert BOT_TOKEN not in str(caught.value)


def test_a_missing_bot_token_names_the_variable_only(monkeypatch):
    """What the telegram sink puts in last_error when its token variable is not set."""
    monkeypatch.delenv("DESK_BOT", raising=False)
    monkeypatch.delenv("DESK_BOT_FILE", raising=False)
    sink = TelegramSink(SinkConfig(type="telegram", chat="@desk", bot_token_env="DESK_BOT"))
    with pytest.raises(SinkUnavailable) as caught:
        asyncio.run(sink.open())
    assert "DESK_BOT" in str(caught.value)


def test_a_bad_api_id_is_not_quoted_into_last_error(monkeypatch):
    monkeypatch.setenv("DESK_BOT", BOT_TOKEN)
    monkeypatch.setenv("TG_API_ID", "not-a-number-" + API_HASH)
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    sink = TelegramSink(SinkConfig(type="telegram", chat="@desk", bot_token_env="DESK_BOT"))
    with pytest.raises(SinkUnavailable) as caught:
        asyncio.run(sink.open())
    text = str(caught.value)
    assert "TG_API_ID" in text
    assert API_HASH not in text and BOT_TOKEN not in text


def test_a_missing_webhook_secret_names_the_variable_only(monkeypatch):
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    monkeypatch.delenv("HOOK_SECRET_FILE", raising=False)
    with pytest.raises(ConfigError) as caught:
        WebhookSink(SinkConfig(type="webhook", url="https://example.org/h", secret_env="HOOK_SECRET"))
    assert "HOOK_SECRET" in str(caught.value)


def test_an_unreadable_secret_file_does_not_quote_its_bytes(tmp_path, monkeypatch):
    path = tmp_path / "secret"
    path.write_bytes(b"\xff\xfe" + BOT_TOKEN.encode())
    path.chmod(0o600)
    monkeypatch.delenv("DESK_BOT", raising=False)
    monkeypatch.setenv("DESK_BOT_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        read_secret("DESK_BOT")
    assert BOT_TOKEN not in str(caught.value) and "DESK_BOT_FILE" in str(caught.value)


# --- item 16: numeric ranges ---------------------------------------------------------------------


def _numeric_keys() -> list[tuple[str, str, type]]:
    """Every numeric key of every config table: (table path, key, int or float)."""
    out = []
    tables = {f.name: f.type for f in fields(Config) if f.name != "source"}
    for table, hint in tables.items():
        cls = typing.get_type_hints(Config)[table]
        assert is_dataclass(cls), hint
        for f in fields(cls):
            kind = typing.get_type_hints(cls)[f.name]
            base = typing.get_args(kind)[0] if typing.get_origin(kind) is list else kind
            if base in (int, float):
                out.append((table, f.name, base))
    for f in fields(SinkConfig):
        kind = typing.get_type_hints(SinkConfig)[f.name]
        if kind in (int, float):
            out.append(("alerts.sink", f.name, kind))
    return out


NUMERIC = _numeric_keys()


def test_every_numeric_key_is_found():
    names = {f"{t}.{k}" for t, k, _ in NUMERIC}
    assert {"ocr.timeout", "ocr.max_bytes", "alerts.burst_limit", "schedule.gapfill_minutes"} <= names
    assert "alerts.sink.timeout" in names and "alerts.reminder_offsets_hours" in names
    assert len(NUMERIC) >= 20


def _data(table: str, key: str, value: object) -> dict:
    if table == "alerts.sink":
        return {"alerts": {"sink": [{"type": "webhook", "url": "https://example.org/h", key: value}]}}
    if key == "reminder_offsets_hours":
        return {table: {key: [24.0, value]}}
    return {table: {key: value}}


@pytest.mark.parametrize(("table", "key", "kind"), NUMERIC, ids=[f"{t}.{k}" for t, k, _ in NUMERIC])
@pytest.mark.parametrize("value", [-1, -(10**9), 10**12])
def test_every_numeric_key_has_a_range(table, key, kind, value):
    with pytest.raises(ConfigError) as caught:
        parse_config(_data(table, key, kind(value)))
    text = str(caught.value)
    shown = "alerts.sink[0]." + key if table == "alerts.sink" else f"{table}.{key}"
    assert f"'{shown}" in text
    assert "must be between" in text


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("[alerts]\nburst_limit = -5\n", "alerts.burst_limit", "between 1 and 10000"),
        ("[ocr]\nmax_bytes = 0\n", "ocr.max_bytes", "between 1024 and"),
        ("[ocr]\ntimeout = 0.001\n", "ocr.timeout", "between 1 and 3600 seconds"),
        ("[schedule]\ngapfill_minutes = -10\n", "schedule.gapfill_minutes", "between 1 and"),
        ("[ocr]\nworkers = 0\n", "ocr.workers", "between 1 and"),
        ("[ocr]\npass_timeout = 0.001\n", "ocr.pass_timeout", "CPU seconds"),
        ("[ocr]\nqueue_size = 0\n", "ocr.queue_size", "between 1 and"),
        ('[ocr]\ntesseract = "tesserocr"\n', "ocr.tesseract", "one of command, library"),
        ('[ocr]\nreading = "fast"\n', "ocr.reading", "one of quick, thorough"),
        ("[alerts]\nretry_max_seconds = 0\n", "alerts.retry_max_seconds", "between 1 and"),
        ("[alerts]\ncampaign_window_hours = -1\n", "alerts.campaign_window_hours", "hours"),
        ("[archive]\nimport_workers = -2\n", "archive.import_workers", "between 0 and 64"),
        ("[schedule]\ndigest_hour_utc = 24\n", "schedule.digest_hour_utc", "between 0 and 23"),
        (
            '[[alerts.sink]]\ntype = "webhook"\nurl = "https://example.org/h"\ntimeout = 0.001\n',
            "alerts.sink[0].timeout",
            "between 1 and 300 seconds",
        ),
    ],
)
def test_nonsense_values_get_one_line_through_doctor(env, text, key, allowed):
    config = write_config(env, text)
    result = invoke("--config", config, "doctor", "--json")
    assert result.exit_code == 1
    checks = json.loads(result.output)["checks"]
    detail = next(c["detail"] for c in checks if c["check"] == "config")
    assert f"'{key}'" in detail and allowed in detail and str(config) in detail
    result = invoke("--config", config, "--db", env / "a.db", "stats")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and key in lines[0] and allowed in lines[0]


def test_defaults_and_edges_are_accepted(env):
    config = Config()
    edges = parse_config(
        {
            "telegram": {
                "flood_sleep_threshold": 0,
                "connection_retries": 0,
                "download_documents_max_bytes": 0,
            },
            "archive": {"import_workers": 0},
            "ocr": {"workers": 1, "timeout": 1, "max_bytes": 1024, "pass_timeout": 0.5, "queue_size": 1},
            "alerts": {"reminder_offsets_hours": [0], "campaign_hold_seconds": 0, "burst_limit": 1},
            "schedule": {"digest_hour_utc": 0, "gapfill_minutes": 1},
        }
    )
    assert edges.ocr.max_bytes == 1024
    assert parse_config({}).ocr.timeout == config.ocr.timeout
