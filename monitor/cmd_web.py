"""The web desk's commands: ``serve`` and ``users`` (add, list, remove, token)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from monitor.cli_context import AppContext, pass_app, run_async
from monitor.core.escape import for_terminal
from monitor.core.store import Archive


@click.command("serve")
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8750).")
@click.option(
    "--nice",
    type=click.IntRange(0, 19),
    default=10,
    show_default=True,
    help="Lower the desk's OS priority by this much, so a busy desk never slows the daemon (0 keeps it).",
)
@pass_app
def serve_command(app: AppContext, host: str | None, port: int | None, nice: int) -> None:
    """The analyst's desk in a browser: alerts, search, posts, channels, countdowns, campaigns.

    Listens on 127.0.0.1 unless told otherwise; any other address needs users (tgmonitor users
    add NAME), who then log in. Reads the same archive as a running daemon, at a lower OS
    priority (--nice) so that collection comes first. Stops on Ctrl-C.

    Example: tgmonitor serve --port 8750   (then open http://127.0.0.1:8750/)
    """
    from monitor.web import open_desk, run_desk  # why: aiohttp's web and Jinja2 load only to serve

    config = app.config()
    host = host or config.web.host
    port = port or config.web.port
    db_path = app.existing_db()

    async def go() -> None:
        async with open_desk(config, db_path, app.media_dir(), host=host, nice=nice) as desk:
            runner = await run_desk(desk, host, port)
            if nice:  # once it serves (a refused start leaves the caller's priority alone)
                from monitor.web.desk import lower_priority

                lower_priority(nice)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            shown = f"[{host}]" if ":" in host else host
            click.echo(
                for_terminal(
                    f"desk on http://{shown}:{port}/ "
                    f"({'log in as a desk user' if desk.require_login else 'this machine only, no login'}); Ctrl-C stops it"
                ),
                err=True,
            )
            try:
                await stop.wait()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                await runner.cleanup()

    run_async(go())


@click.group("users")
def users_group() -> None:
    """The web desk's users: needed to serve beyond this machine (passwords hashed with argon2).

    Example: tgmonitor users add alice
    """


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_app
def users_add(app: AppContext, name: str, password_stdin: bool) -> None:
    """Add a desk user, or set a new password for one.

    Example: tgmonitor users add alice
    """
    from monitor.web.auth import add_user, check_name

    check_name(name)
    password = _read_password(password_stdin)

    async def go() -> bool:
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            return await add_user(archive, name, password)

    new = run_async(go())
    click.echo(for_terminal(f"{'added user' if new else 'new password for'} {name}"))


@users_group.command("list")
@pass_app
def users_list(app: AppContext) -> None:
    """The desk's users.

    Example: tgmonitor users list
    """

    async def go() -> list[str]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            return await archive.users.names()

    names = run_async(go())
    click.echo(for_terminal("\n".join(names)) if names else "no users (the desk serves 127.0.0.1 only)")


@users_group.command("remove")
@click.argument("name")
@pass_app
def users_remove(app: AppContext, name: str) -> None:
    """Remove a desk user and their API tokens (a running desk keeps their open sessions until restarted).

    Example: tgmonitor users remove alice
    """

    async def go() -> bool:
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            return await archive.users.remove(name)

    if not run_async(go()):
        raise click.ClickException(f"there is no user {name!r}")
    click.echo(for_terminal(f"removed {name}"))


@users_group.command("token")
@click.argument("name")
@pass_app
def users_token(app: AppContext, name: str) -> None:
    """Print a new API token for NAME's scripts (shown once; send it as Authorization: Bearer TOKEN).

    Example: tgmonitor users token alice
    """
    from monitor.web.auth import new_token

    async def go() -> str:
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            return await new_token(archive, name)

    click.echo(run_async(go()))


commands: list[click.Command] = [serve_command, users_group]
