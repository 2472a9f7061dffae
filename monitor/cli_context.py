"""What every command shares: where the config and the archive live."""

from __future__ import annotations

import gc
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from monitor.core.config import Config, load_config
from monitor.core.errors import ArchiveError


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

    def existing_db(self) -> Path:
        """The archive a command reads or changes; a missing one is an error: a mistyped --db must
        neither look like an empty archive ("no alerts", 0 hits) nor create one. Only the commands
        that fill an archive (import, run, backfill, demo) create it."""
        self.config()  # a broken config file is reported first, whatever --db says
        path = self.db_path()
        if not path.exists():
            raise ArchiveError(
                f"there is no archive at {path}: run tgmonitor import PATH first, or point --db at one"
            )
        return path

    def media_dir(self) -> Path:
        configured = self.config().archive.media_dir
        return configured if configured is not None else self.db_path().parent / "media"


pass_app = click.make_pass_decorator(AppContext)


_quick_exit = False
_console_script = False


def declare_console_script() -> None:
    """Say that this process is the ``tgmonitor`` command itself (``monitor.cli.entry``), not a
    caller of :func:`monitor.cli.main` that goes on after it (tests, the desks)."""
    global _console_script
    _console_script = True


def end_without_teardown() -> None:
    """Ask the console script (``monitor.cli.entry``) to end this process without the
    interpreter's teardown once the command is done: a command that loaded the OCR engine in
    process (``check --image``) would spend 0.2 s freeing the Tesseract models and the 290,000
    words of the dictionaries, 8 % of reading a poster, for memory the system takes back anyway.
    Only for commands that leave nothing to clean up: no worker processes, no open archive.

    In the console script the garbage collector stops too: its passes went over the objects of
    every module imported, to free a few cycles the exit frees anyway (3 % of a ``check
    --image``; 15 MB more at the peak, of 450-530 MB)."""
    global _quick_exit
    _quick_exit = True
    if _console_script:
        gc.disable()


def quick_exit_asked() -> bool:
    return _quick_exit


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
"""The range a ``--since``/``--until`` is clamped to: years 1 to 9999, what ``datetime`` can hold."""


def parse_when(value: str, *, end_of_day: bool = False) -> datetime:
    """A date for ``--since``/``--until``: ``2021-11-02``, ISO 8601 (UTC unless it says), or ``7d``/``12h`` ago.

    A moment beyond what a date can hold (``1000000d`` ago, the end of ``9999-12-31``, year 1 in
    a zone east of UTC) is clamped to the first or last moment there is: it means "no bound".
    """
    text = value.strip()
    relative = re.fullmatch(r"(\d+)\s*([dhm])", text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        minutes = amount * {"d": 1440, "h": 60, "m": 1}[unit]
        try:
            return datetime.now(UTC) - timedelta(minutes=minutes)
        except OverflowError:  # further back than year 1 (timedelta itself may overflow too)
            return EARLIEST
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use 2021-11-02, 2021-11-02T10:00 or 7d") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = parsed + timedelta(days=1) - timedelta(seconds=1)
        return parsed.astimezone(UTC)
    except OverflowError:  # past either end of the calendar once moved to UTC
        return EARLIEST if parsed.year < 5000 else LATEST


def run_async(coro: Any) -> Any:
    """Run a command's coroutine on a fresh event loop.

    An SQLite error that means the archive is damaged or read-only, met by any command after the
    archive opened (a query that reaches a malformed page), becomes that one sentence.

    The result is handed out through a box, not as the main task's result: ``asyncio.run``
    restores the SIGINT handler through ``signal.signal``, which formats the old handler (that
    holds the task, and so its result) with ``repr``; a search hit of a 10 MB post took a second.
    """
    # why here: a command that needs no event loop or archive (``check``) starts without
    # asyncio and the store (0.04 s of imports)
    import asyncio
    import sqlite3

    from monitor.core.store import archive_error

    box: list[Any] = []

    async def main() -> None:
        box.append(await coro)

    try:
        asyncio.run(main())
    except sqlite3.DatabaseError as exc:
        ctx = click.get_current_context(silent=True)
        app = ctx.find_object(AppContext) if ctx is not None else None
        error = archive_error(exc, app.db_path()) if app is not None else None
        if error is None:
            raise
        raise error from None
    return box[0]
