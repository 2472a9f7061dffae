"""The ``tgmonitor`` command line: a thin click layer over the library.

Each area keeps its commands in its own module (``cmd_*.py``); this module builds the group,
the shared options (``--db``, ``--config``, ``-v``) and turns every :class:`MonitorError` into
one sentence on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from monitor import cmd_alerts, cmd_archive, cmd_check, cmd_daemon, cmd_demo, cmd_ocr
from monitor.cli_context import AppContext
from monitor.core.errors import MonitorError


class MonitorGroup(click.Group):
    """A group that prints our errors as one sentence instead of a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            click.echo(f"error: {exc}", err=True)
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
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.obj = AppContext(db_option=db.expanduser() if db else None, config_option=config_path)


def _register() -> None:
    for module in (cmd_demo, cmd_archive, cmd_check, cmd_ocr, cmd_daemon, cmd_alerts):
        for command in module.commands:
            main.add_command(command)


_register()
