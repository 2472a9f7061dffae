"""The ``channels`` command group: add, remove, list and suggest the channels collected.

The channel list lives in the archive (not the config file), so a running daemon picks changes up
within seconds (:mod:`monitor.collector`); channels in the config file keep working beside it.
Every check runs before the archive is touched: a bad reference, an unknown account, a private
link in watch mode, a duplicate or a full pool is one sentence and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from handlers.channels import REF_META
from handlers.discovery import suggest
from monitor.cli_context import AppContext, pass_app, run_async
from monitor.collector import Want, wants_from
from monitor.core.config import COLLECTION_MODES, Config
from monitor.core.errors import ChannelRefError, ConfigError
from monitor.core.escape import dumps_json, for_terminal
from monitor.core.refs import ChannelRef, parse_ref
from monitor.core.store import Archive

RECENT_DAYS = 7  # posts per day are counted over this many days


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def account_names(config: Config) -> list[str]:
    return [a.name for a in config.telegram.account] or ["main"]


def check_add(config: Config, ref: ChannelRef, mode: str | None, account: str | None) -> str:
    """The mode a new channel gets, or the one sentence that says why it cannot be added."""
    effective = mode or config.telegram.mode
    if ref.private and effective == "watch":
        raise ChannelRefError(
            f"{ref.text} is a private invite link: only join mode can collect it (add --mode join)"
        )
    names = account_names(config)
    if account is not None and account not in names:
        raise ConfigError(f"unknown account {account!r}: the config has {', '.join(names)}")
    return effective


async def _resolved_id(archive: Archive, want: Want) -> int | None:
    mark = await archive.get_meta(REF_META.format(want.key))
    if mark:
        return int(mark)
    try:
        ref = parse_ref(want.ref)
    except ChannelRefError:
        return None
    if ref.private:
        return None
    row = await archive.find_channel(ref.value)
    return row["id"] if row is not None else None


async def _wants(config: Config, archive: Archive) -> list[Want]:
    return wants_from(config.telegram, await archive.list_channels())


@click.group("channels")
def channels_group() -> None:
    """The channels collected: add, remove, list, suggest (kept in the archive).

    Example: tgmonitor channels add @some_channel --mode watch
    """


@channels_group.command("add")
@click.argument("ref")
@click.option("--mode", type=click.Choice(COLLECTION_MODES), help="join or watch (default: telegram.mode).")
@click.option("--account", help="The [[telegram.account]] that collects it (default: the least loaded).")
@pass_app
def add_command(app: AppContext, ref: str, mode: str | None, account: str | None) -> None:
    """Collect one more channel: @username, t.me link, -100 id, or a t.me/+ invite (join mode).

    A running daemon starts collecting it within seconds. The archive is created if missing.

    Example: tgmonitor channels add https://t.me/+AbCdEfGh1234 --mode join
    """
    config = app.config()
    parsed = parse_ref(ref)
    effective = check_add(config, parsed, mode, account)

    async def go() -> None:
        async with await Archive.open(app.db_path(), app.media_dir()) as archive:
            wants = await _wants(config, archive)
            for want in wants:
                if want.key == parsed.key:
                    where = "the config file" if want.origin == "config" else "the channel list"
                    raise ChannelRefError(f"{parsed.text} is collected already (in {where})")
            if not parsed.private:
                row = await archive.find_channel(parsed.value)
                if parsed.kind == "id" and (row is None or not row["access_hash"]):
                    raise ChannelRefError(
                        f"{parsed.text}: a numeric id works only for a channel this archive has read "
                        "(Telegram needs its access hash): add it by @username or t.me link"
                    )
                if row is not None:
                    for want in wants:
                        if await _resolved_id(archive, want) == row["id"]:
                            raise ChannelRefError(f"{parsed.text} is collected already (as {want.ref})")
            active = [a for a in config.telegram.account if not a.standby] or [None]
            capacity = len(active) * config.telegram.channels_per_account
            if len(wants) + 1 > capacity:
                raise ConfigError(
                    f"the pool is full: {len(wants)} channels for {len(active)} account(s) x "
                    f"{config.telegram.channels_per_account} channels_per_account; add an account"
                )
            await archive.add_listed_channel(parsed.key, ref.strip(), mode, account)

    run_async(go())
    click.echo(
        for_terminal(f"added {parsed.text} ({effective} mode): a running daemon collects it within seconds")
    )


@channels_group.command("remove")
@click.argument("ref")
@pass_app
def remove_command(app: AppContext, ref: str) -> None:
    """Stop collecting a channel added with ``channels add`` (its posts stay in the archive).

    Example: tgmonitor channels remove @some_channel
    """
    config = app.config()
    parsed = parse_ref(ref)

    async def go() -> None:
        async with await Archive.open(app.existing_db(), app.media_dir()) as archive:
            row = None if parsed.private else await archive.find_channel(parsed.value)
            channel_id = row["id"] if row is not None else None
            for want in await _wants(config, archive):
                same = want.key == parsed.key or (
                    channel_id is not None and await _resolved_id(archive, want) == channel_id
                )
                if same and want.origin == "config":
                    source = config.source or "the config file"
                    raise ChannelRefError(
                        f"{parsed.text} is in {source}: remove it there (then SIGHUP the daemon)"
                    )
            if not await archive.remove_listed_channel(parsed.key, channel_id):
                raise ChannelRefError(f"{parsed.text} is not in the channel list (tgmonitor channels list)")

    run_async(go())
    click.echo(for_terminal(f"removed {parsed.text}: a running daemon stops collecting it within seconds"))


async def channel_rows(config: Config, archive: Archive) -> list[dict[str, Any]]:
    """One row per channel asked for: names, mode, account, state, rates, delays, health."""
    now = datetime.now(UTC)
    overview = {r["id"]: r for r in await archive.collection_overview(now - timedelta(days=RECENT_DAYS))}
    problems: dict[int, list[str]] = {}
    for row in await archive.open_health():
        key = row["key"]
        if key.split(":")[0] in ("silence", "status", "join") and key.split(":")[1].isdigit():
            problems.setdefault(int(key.split(":")[1]), []).append(row["problem"])
    rows = []
    for want in await _wants(config, archive):
        cid = await _resolved_id(archive, want)
        info = overview.get(cid) if cid is not None else None
        if info is None:
            rows.append(
                {"ref": want.ref, "origin": want.origin, "title": None, "username": None, "id": cid,
                 "mode": want.mode, "account": want.account, "state": "not resolved yet", "joined": False,
                 "posts_per_day": None, "last_post": None, "last_gapfill": None, "expected_delay_s": None,
                 "health": []}
            )  # fmt: skip
            continue
        rows.append(
            {
                "ref": want.ref,
                "origin": want.origin,
                "title": info["title"],
                "username": info["username"],
                "id": info["id"],
                "mode": info["mode"] or want.mode,
                "account": info["account"] or want.account,
                "state": info["status"] + (f" ({info['status_reason']})" if info["status_reason"] else ""),
                "joined": bool(info["joined"]),
                "posts_per_day": round(info["recent"] / RECENT_DAYS, 1),
                "last_post": info["last_post"],
                "last_gapfill": info["last_gapfill_at"],
                "expected_delay_s": info["expected_delay"],
                "health": problems.get(info["id"], []),
            }
        )
    return rows


@channels_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the channels as JSON.")
@pass_app
def list_command(app: AppContext, as_json: bool) -> None:
    """The channels collected: title, username, id, mode, account, state, posts/day, last post,
    last gap-fill, expected delay and open health problems.

    Example: tgmonitor channels list --json
    """
    config = app.config()

    async def go() -> list[dict[str, Any]]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            return await channel_rows(config, archive)

    rows = run_async(go())
    if as_json:
        click.echo(dumps_json(rows, indent=2))
        return
    if not rows:
        click.echo("no channels: add one with tgmonitor channels add @username")
        return
    table = Table()
    columns = (
        "channel",
        "id",
        "mode",
        "account",
        "state",
        "posts/day",
        "last post",
        "last gap-fill",
        "delay",
        "health",
    )
    for column in columns:
        table.add_column(column)
    for r in rows:
        name = f"@{r['username']}" if r["username"] else (r["title"] or r["ref"])
        if r["title"] and r["username"]:
            name = f"{r['title']} (@{r['username']})"
        delay = f"{r['expected_delay_s']:.0f} s" if r["expected_delay_s"] is not None else "-"
        mode = r["mode"] + (" (joined)" if r["joined"] else "")
        cells = [name, str(r["id"] or "-"), mode, r["account"] or "-", r["state"],
                 "-" if r["posts_per_day"] is None else f"{r['posts_per_day']:g}",
                 (r["last_post"] or "-")[:16], (r["last_gapfill"] or "never")[:16], delay,
                 "; ".join(r["health"]) or "ok"]  # fmt: skip
        # Titles, names and problems come from channels: Text through for_terminal, never markup.
        table.add_row(*(Text(for_terminal(str(c), newlines=False)) for c in cells))
    _console().print(table)


@channels_group.command("suggest")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestions as JSON.")
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True, help="At most this many.")
@pass_app
def suggest_command(app: AppContext, as_json: bool, limit: int) -> None:
    """Channels the collected ones forward from, link to or mention, best first, with the
    command that adds each. Works on imported exports too.

    Example: tgmonitor channels suggest --limit 10
    """
    config = app.config()

    async def go() -> list[dict[str, Any]]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            wants = await _wants(config, archive)
            ids = {cid for want in wants if (cid := await _resolved_id(archive, want)) is not None}
            if not wants:  # nothing configured (an archive of imports): every channel in it counts
                ids = {row["id"] for row in await archive.channels()}
            names = {str(parse_ref(w.ref).value) for w in wants if not parse_ref(w.ref).private}
            return [s.as_dict() for s in (await suggest(archive, ids, names))[:limit]]

    rows = run_async(go())
    if as_json:
        click.echo(dumps_json(rows, indent=2))
        return
    if not rows:
        click.echo("no suggestions: the collected channels point to no channel outside them")
        return
    table = Table()
    for column in ("channel", "pointed to by", "how", "last seen", "to add it"):
        table.add_column(column)
    for r in rows:
        name = f"{r['title']} ({r['ref']})" if r["title"] else r["ref"]
        add = r["add"] or "find its @username first (known by id only)"
        cells = [name, str(r["pointed_by"]), ", ".join(r["how"]), (r["last_seen"] or "-")[:16], add]
        table.add_row(*(Text(for_terminal(str(c), newlines=False)) for c in cells))
    _console().print(table)


commands: list[click.Command] = [channels_group]
