"""What every command shares: where the config and the archive live."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from monitor.config import Config, load_config


@dataclass
class AppContext:
    """What every command needs: where the config and the archive are."""

    db_option: Path | None = None
    config_option: Path | None = None
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_option)
        return self._config

    def db_path(self) -> Path:
        if self.db_option is not None:
            return self.db_option
        env = os.environ.get("TGMONITOR_DB")
        if env:
            return Path(env).expanduser()
        return self.config().archive.path

    def media_dir(self) -> Path:
        configured = self.config().archive.media_dir
        return configured if configured is not None else self.db_path().parent / "media"


pass_app = click.make_pass_decorator(AppContext)
