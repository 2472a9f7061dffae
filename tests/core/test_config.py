"""Config: defaults in code, the TOML file overrides them, one clear message for any mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.core.config import Config, load_config, read_secret
from monitor.core.errors import ConfigError

FULL = """
[telegram]
channels = ["@some_channel", "https://t.me/another", -1001234567890]
session = "sessions/tg.session"

[archive]
path = "data/archive.db"
media_dir = "~/tgm-media"

[ocr]
enabled = false
languages = "ara"
workers = 3

[alerts]
rules = "my-rules.toml"
min_severity = "high"

[[alerts.sink]]
type = "telegram"
chat = "@analyst_group"

[[alerts.sink]]
type = "webhook"
url = "https://hooks.example.org/tgmonitor"
secret_env = "TGMONITOR_WEBHOOK_SECRET"

[[alerts.sink]]
type = "jsonl"
path = "alerts.jsonl"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_defaults(no_user_config):
    config = load_config()
    assert isinstance(config, Config)
    assert config.ocr.enabled is True
    assert config.alerts.min_severity == "medium"
    assert config.archive.path == no_user_config / "xdg-data" / "tgmonitor" / "archive.db"
    assert config.source is None


def test_the_design_example_parses(no_user_config):
    path = write(no_user_config, FULL)
    config = load_config(path)
    assert config.telegram.channels == ["@some_channel", "https://t.me/another", -1001234567890]
    assert config.ocr.enabled is False and config.ocr.workers == 3
    assert config.alerts.min_severity == "high"
    assert [s.type for s in config.alerts.sink] == ["telegram", "webhook", "jsonl"]
    assert config.alerts.sink[0].chat == "@analyst_group"
    assert config.source == path


def test_relative_paths_are_resolved_against_the_config_file(no_user_config, monkeypatch):
    folder = no_user_config / "etc"
    folder.mkdir()
    path = write(folder, FULL)
    monkeypatch.chdir(no_user_config)
    config = load_config(path)
    assert config.archive.path == folder / "data" / "archive.db"
    assert config.telegram.session == folder / "sessions" / "tg.session"
    assert config.alerts.rules == folder / "my-rules.toml"
    assert config.alerts.sink[2].path == folder / "alerts.jsonl"
    assert config.archive.media_dir == Path("~/tgm-media").expanduser()


def test_env_var_names_the_file(no_user_config, monkeypatch):
    path = write(no_user_config, '[ocr]\nlanguages = "eng"\n', "env.toml")
    monkeypatch.setenv("TGMONITOR_CONFIG", str(path))
    assert load_config().ocr.languages == "eng"


def test_env_var_naming_a_missing_file_is_an_error(no_user_config, monkeypatch):
    monkeypatch.setenv("TGMONITOR_CONFIG", str(no_user_config / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_config()


def test_xdg_default_file_is_read(no_user_config):
    folder = no_user_config / "xdg-config" / "tgmonitor"
    folder.mkdir(parents=True)
    write(folder, "[ocr]\nworkers = 1\n")
    assert load_config().ocr.workers == 1


def one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[ocr]\nworkerz = 2\n", "ocr.workerz"),
        ("[telegrm]\nchannels = []\n", "telegrm"),
        ("colour = 'red'\n", "colour"),
        ("[[alerts.sink]]\ntype = 'jsonl'\npath = 'a'\nbogus = 1\n", "alerts.sink[0].bogus"),
    ],
)
def test_unknown_key_is_named(no_user_config, text, key):
    path = write(no_user_config, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = one_line(exc)
    assert f"'{key}'" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[ocr]\nworkers = 'two'\n", "ocr.workers"),
        ("[ocr]\nenabled = 1\n", "ocr.enabled"),
        ("[ocr]\nworkers = true\n", "ocr.workers"),
        ("[ocr]\ntimeout = 'slow'\n", "ocr.timeout"),
        ("[telegram]\nchannels = '@one'\n", "telegram.channels"),
        ("[telegram]\nchannels = [1.5]\n", "telegram.channels[0]"),
        ("[archive]\npath = 3\n", "archive.path"),
        ("[alerts]\nmin_severity = 'urgent'\n", "alerts.min_severity"),
        ("[[alerts.sink]]\ntype = 'pigeon'\n", "alerts.sink[0].type"),
        ("[[alerts.sink]]\ntype = 'webhook'\nurl = 'ftp://x'\n", "alerts.sink[0].url"),
        ("[[alerts.sink]]\ntype = 'telegram'\n", "alerts.sink[0].chat"),
    ],
)
def test_wrong_type_or_value_is_named(no_user_config, text, key):
    path = write(no_user_config, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert f"'{key}'" in one_line(exc)


def test_a_section_that_is_not_a_table(no_user_config):
    path = write(no_user_config, "ocr = 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "ocr" in one_line(exc)


def test_bad_toml_names_the_file_and_line(no_user_config):
    path = write(no_user_config, '[ocr]\nenabled = true\nlanguages = "ara\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = one_line(exc)
    assert str(path) in message
    assert "line 3" in message


def test_unreadable_bytes_are_a_config_error(no_user_config):
    path = no_user_config / "config.toml"
    path.write_bytes(b"[ocr]\nlanguages = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_config(path)


# --- secrets -------------------------------------------------------------------------------


def test_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("TGM_TEST_SECRET", " s3cret\n")
    assert read_secret("TGM_TEST_SECRET") == "s3cret"


def test_secret_from_a_private_file(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    os.chmod(secret, 0o600)
    monkeypatch.delenv("TGM_TEST_SECRET", raising=False)
    monkeypatch.setenv("TGM_TEST_SECRET_FILE", str(secret))
    assert read_secret("TGM_TEST_SECRET") == "from-file"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_secret_file_readable_by_others_is_refused(tmp_path, monkeypatch, mode):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    os.chmod(secret, mode)
    monkeypatch.delenv("TGM_TEST_SECRET", raising=False)
    monkeypatch.setenv("TGM_TEST_SECRET_FILE", str(secret))
    with pytest.raises(ConfigError) as exc:
        read_secret("TGM_TEST_SECRET")
    message = one_line(exc)
    assert "chmod 600" in message
    assert "from-file" not in message


def test_missing_secret(monkeypatch):
    monkeypatch.delenv("TGM_TEST_SECRET", raising=False)
    monkeypatch.delenv("TGM_TEST_SECRET_FILE", raising=False)
    assert read_secret("TGM_TEST_SECRET", required=False) is None
    with pytest.raises(ConfigError, match="TGM_TEST_SECRET"):
        read_secret("TGM_TEST_SECRET")


def test_missing_secret_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TGM_TEST_SECRET", raising=False)
    monkeypatch.setenv("TGM_TEST_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="absent"):
        read_secret("TGM_TEST_SECRET")
