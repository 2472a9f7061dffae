"""The shipped example config and systemd unit, and the login session file's permissions."""

from __future__ import annotations

import dataclasses
import stat
import tomllib
from pathlib import Path

from monitor.cmd_daemon import prepare_session_file, session_file
from monitor.config import Config, SinkConfig, load_config

ROOT = Path(__file__).resolve().parent.parent


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
