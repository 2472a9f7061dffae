"""The ``tgmonitor`` command line: a thin click layer over the library.

Each area keeps its commands in its own module (``cmd_*.py``); this module builds the group,
the shared options (``--db``, ``--config``, ``-v``) and turns every :class:`MonitorError` into
one sentence on stderr and a non-zero exit code, never a traceback.

The shared options are accepted before the command's name (``tgmonitor --db a.db search X``) and
after it (``tgmonitor search X --db a.db``), for every command and sub-command: each command gets
copies of them (:func:`add_global_options`) that write into the same :class:`AppContext`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from monitor.cli_context import AppContext, declare_console_script, quick_exit_asked
from monitor.core.errors import MonitorError
from monitor.core.escape import for_terminal

COMMAND_MODULES = {
    "demo": "cmd_demo",
    "import": "cmd_archive",
    "search": "cmd_archive",
    "stats": "cmd_archive",
    "check": "cmd_check",
    "ocr": "cmd_ocr",
    "similar": "cmd_ocr",
    "doctor": "cmd_ocr",
    "login": "cmd_daemon",
    "run": "cmd_daemon",
    "backfill": "cmd_daemon",
    "alerts": "cmd_alerts",
    "verify": "cmd_evidence",
    "export": "cmd_evidence",
    "rules": "cmd_rules",
    "bot": "cmd_bot",
    "serve": "cmd_web",
    "users": "cmd_web",
    "channels": "cmd_channels",
}
"""Each command's module (``monitor.cmd_*``), imported only when the command is asked for: all of
them together (Telethon, the web desk, the OCR engine) took 1.9 s to import, paid by every run of
every command; ``tgmonitor check`` now imports only what checking needs."""


class MonitorGroup(click.Group):
    """A group that loads each command's module on first use, and prints our errors as one
    sentence instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            _register(COMMAND_MODULES[cmd_name])
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            click.echo(for_terminal(f"error: {exc}"), err=True)  # errors quote paths, values, titles
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", type=click.Path(path_type=Path), help="Archive file (default: $TGMONITOR_DB, the config, XDG)."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file (default: $TGMONITOR_CONFIG, XDG).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="tgmonitor")
@click.pass_context
def main(ctx: click.Context, db: Path | None, config_path: Path | None, verbose: int) -> None:
    """Watch Telegram propaganda channels: archive, OCR, search and alert.

    Example: tgmonitor import ./ChannelExport && tgmonitor search "الانتقام قادم"
    """
    logging.basicConfig(
        level=_log_level(verbose), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.obj = AppContext(
        db_option=db.expanduser() if db else None, config_option=config_path, verbose=verbose
    )


def entry(prog_name: str | None = None) -> None:
    """The ``tgmonitor`` console script: :func:`main`, and for a command that asked for it
    (:func:`monitor.cli_context.end_without_teardown`) an exit without the interpreter's
    teardown, once the logs and the output are flushed. In-process callers (tests, the desks)
    call :func:`main` and never end this way."""
    declare_console_script()
    try:
        main(prog_name=prog_name)
    except SystemExit as done:
        if not quick_exit_asked():
            raise
        _exit_now(done.code)


def _exit_now(code: object) -> None:
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: Python's own exit says 120
            status = status or 120
    os._exit(status)


def _log_level(verbose: int) -> int:
    return logging.WARNING - 10 * min(verbose, 2)


def _late_db(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).db_option = value.expanduser()


def _late_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).config_option = value  # no command has read the config yet


def _late_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        app = ctx.ensure_object(AppContext)
        app.verbose += value
        # The group's basicConfig has run already (and only sets the level once): set it here.
        logging.getLogger().setLevel(_log_level(app.verbose))


def add_global_options(command: click.Command) -> None:
    """Give ``command`` (and its sub-commands) the group's ``--db``, ``--config`` and ``-v``."""
    command.params.extend(
        [
            click.Option(
                ["--db"],
                type=click.Path(path_type=Path),
                expose_value=False,
                callback=_late_db,
                help="Archive file (as before the command's name).",
            ),
            click.Option(
                ["--config"],
                type=click.Path(path_type=Path),
                expose_value=False,
                callback=_late_config,
                help="Config file (as before the command's name).",
            ),
            click.Option(
                ["-v", "--verbose"],
                count=True,
                expose_value=False,
                callback=_late_verbose,
                help="More logging (as before the command's name).",
            ),
        ]
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)


def _register(module_name: str) -> None:
    """Import ``monitor.<module_name>`` and add its commands, with the shared options."""
    module = importlib.import_module(f"monitor.{module_name}")
    for command in module.commands:
        if command.name not in main.commands:
            add_global_options(command)
            main.add_command(command)


def every_command(
    group: click.Group | None = None, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and sub-command under ``group`` (default: ``tgmonitor`` itself, each module
    imported), with the words that reach it."""
    group = group or main
    ctx = click.Context(group)
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None:
            continue
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(every_command(command, (*path, name)))
    return found
