"""What every command shares: where the config and the archive live."""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from monitor.core.config import Config, load_config


@dataclass
class AppContext:
    """What every command needs: where the config and the archive are."""

    db_option: Path | None = None
    config_option: Path | None = None
    verbose: int = 0  # -v count, before and after the command's name
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


def parse_when(value: str, *, end_of_day: bool = False) -> datetime:
    """A date for ``--since``/``--until``: ``2021-11-02``, ISO 8601 (UTC unless it says), or ``7d``/``12h`` ago."""
    text = value.strip()
    relative = re.fullmatch(r"(\d+)\s*([dhm])", text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        span = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[
            unit
        ]
        return datetime.now(UTC) - span
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use 2021-11-02, 2021-11-02T10:00 or 7d") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        parsed = parsed + timedelta(days=1) - timedelta(seconds=1)
    return parsed.astimezone(UTC)


def run_async(coro: Any) -> Any:
    """Run a command's coroutine on a fresh event loop.

    The result is handed out through a box, not as the main task's result: ``asyncio.run``
    restores the SIGINT handler through ``signal.signal``, which formats the old handler (that
    holds the task, and so its result) with ``repr``; a search hit of a 10 MB post took a second.
    """
    box: list[Any] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
