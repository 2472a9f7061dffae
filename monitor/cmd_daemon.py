"""Daemon commands: ``login``, ``run``, ``backfill``."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from monitor.cli_context import AppContext, parse_when, pass_app, run_async
from monitor.core.config import AccountConfig, Config, read_secret
from monitor.core.errors import ConfigError, TelegramSetupError


def session_file(path: Path) -> Path:
    """The file Telethon's SQLiteSession really uses (it appends ``.session`` when missing)."""
    path = Path(path).expanduser()
    return path if path.name.endswith(".session") else path.with_name(path.name + ".session")


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Every file created inside (session, its journal) is 0600: the umask is set before Telethon runs."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def prepare_session_file(path: Path) -> Path:
    """Create the session file empty with mode 0600 (and its directory 0700) before Telethon opens it."""
    target = session_file(path)
    with private_files():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    os.chmod(target, 0o600)
    return target


def _api_credentials(config: Config) -> tuple[int, str]:
    raw = read_secret(config.telegram.api_id_env) or ""
    if not raw.isdigit():
        raise ConfigError(f"{config.telegram.api_id_env} must be the numeric api_id from my.telegram.org")
    api_hash = read_secret(config.telegram.api_hash_env) or ""
    if not re.fullmatch(r"[0-9a-fA-F]{32}", api_hash):
        raise ConfigError(
            f"{config.telegram.api_hash_env} must be the 32-character api_hash from my.telegram.org"
        )
    return int(raw), api_hash


def _daemon_logging(verbose: int) -> None:
    """``run`` logs one line per post and alert at INFO by default; Telethon stays quiet unless -vv."""
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    if verbose < 2:
        logging.getLogger("telethon").setLevel(logging.WARNING)
        # On a blocked network Telethon warns dozens of times a second; the daemon logs one line per attempt.
        logging.getLogger("telethon.network").setLevel(logging.ERROR)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


@click.command("login")
@click.option(
    "--string",
    "as_string",
    is_flag=True,
    help="Print a session string (for TG_SESSION) instead of writing the session file.",
)
@click.option("--phone", help="Phone number in international format (asked for when missing).")
@click.option(
    "--account", "account_name", help="Log in one [[telegram.account]] of the pool (its own session)."
)
@pass_app
def login_command(app: AppContext, as_string: bool, phone: str | None, account_name: str | None) -> None:
    """Log in to Telegram interactively: phone, code, and the 2FA password if set.

    The session file is created with mode 0600 and is never logged. With --string, the session is
    printed to stdout once, for containers: keep it in a secret store and pass it as TG_SESSION.

    With --account NAME, one account of the pool is logged in: its session file is its own
    (``session``, or NAME.session beside telegram.session); with --string, keep the printed
    session in its variable (``session_env``, or TG_SESSION_NAME).

    Example: TG_API_ID=123 TG_API_HASH=... tgmonitor login
    """
    from telethon import TelegramClient  # why: Telethon (~0.7 s) loads only in the commands that use it
    from telethon.sessions import StringSession

    config = app.config()
    account = AccountConfig.find(config.telegram, account_name) if account_name else None
    api_id, api_hash = _api_credentials(config)
    path = account.session_file(config.telegram) if account else config.telegram.session
    session: Any
    session = StringSession() if as_string else str(prepare_session_file(path))

    async def go() -> None:
        with private_files():
            client = TelegramClient(session, api_id, api_hash)
            me = await login_client(
                client,
                phone=lambda: phone or click.prompt("Phone number (international format, e.g. +964...)"),
                code=lambda: click.prompt("Login code Telegram sent you"),
                password=lambda: click.prompt("Two-step verification password", hide_input=True),
            )
            if as_string:
                click.echo(StringSession.save(client.session))
            click.echo(f"logged in as {me.first_name or ''} (id {me.id})", err=True)

    run_async(go())


async def login_client(client: Any, *, phone: Any, code: Any, password: Any) -> Any:
    """Telethon's interactive login (phone, code, 2FA) with our errors; disconnects afterwards."""
    from telethon import errors  # why: Telethon (~0.7 s) loads only in the commands that use it

    try:
        await client.start(phone=phone, code_callback=code, password=password, max_attempts=3)
        return await client.get_me()
    except (
        errors.PhoneNumberInvalidError,
        errors.PhoneCodeInvalidError,
        errors.PasswordHashInvalidError,
    ) as exc:
        raise TelegramSetupError(f"login failed: {exc.__class__.__name__.removesuffix('Error')}") from None
    except RuntimeError:  # Telethon's "3 consecutive sign-in attempts failed"
        raise TelegramSetupError(
            "login failed: the code was wrong three times; run tgmonitor login again"
        ) from None
    except OSError as exc:
        raise TelegramSetupError(f"cannot reach Telegram: {exc}") from None
    finally:
        await client.disconnect()


@click.command("run")
@click.option("--no-ocr", is_flag=True, help="Archive images without reading them (resumed later).")
@click.pass_context
def run_command(ctx: click.Context, no_ocr: bool) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    Connects, gap-fills every configured channel, then archives, reads and checks every new
    post. SIGHUP reloads the config and rules. Logs one line per post and per alert.

    Example: tgmonitor --config ~/.config/tgmonitor/config.toml run
    """
    from monitor.daemon import Daemon  # why: Telethon and the whole pipeline (~1 s) load only to run

    app: AppContext = ctx.find_object(AppContext)
    _daemon_logging(app.verbose)
    config = app.config()
    daemon = Daemon(config, app.db_path(), app.media_dir(), ocr=not no_ocr)
    run_async(daemon.run())


@click.command("backfill")
@click.argument("channel")
@click.option("--since", help="Stop at posts older than this (2021-11-02, ISO 8601, or 30d).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many messages, newest first.")
@click.option("--no-ocr", is_flag=True, help="Archive images without reading them now.")
@click.option(
    "--alerts", "deliver", is_flag=True, help="Also deliver the alerts it raises (default: only record them)."
)
@pass_app
def backfill_command(
    app: AppContext, channel: str, since: str | None, limit: int | None, no_ocr: bool, deliver: bool
) -> None:
    """Pull a channel's history through the pipeline. Running it again is harmless.

    Example: tgmonitor backfill @some_channel --since 2024-01-01 --limit 5000
    """
    from monitor.daemon import backfill_channel  # why: Telethon and the pipeline (~1 s) load only to run

    when = parse_when(since) if since else None
    config = app.config()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"backfill {channel}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        counts = run_async(
            backfill_channel(
                config,
                app.db_path(),
                app.media_dir(),
                channel,
                since=when,
                limit=limit,
                ocr=not no_ocr,
                deliver=deliver,
                on_progress=progress,
            )
        )
    click.echo(
        f"backfill {channel}: {counts['seen']} messages, {counts.get('new', 0)} new, "
        f"{counts.get('updated', 0)} updated, {counts['skipped'] + counts.get('unchanged', 0)} already archived, "
        f"{counts['failed']} failed"
    )


commands: list[click.Command] = [login_command, run_command, backfill_command]
