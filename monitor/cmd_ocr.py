"""Commands of the OCR area: ``ocr`` (pending images, the archive read again, or files), ``similar``
and ``doctor``."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from monitor.cli_context import AppContext, parse_when, pass_app, run_async
from monitor.core.errors import ConfigError, ImageError, MonitorError, OcrError
from monitor.core.escape import for_terminal
from monitor.core.store import Archive
from monitor.core.times import iso, now_iso
from monitor.health import HEARTBEAT_KEY, heartbeat_state

T = TypeVar("T")


def _console(err: bool = False) -> Console:
    return Console(stderr=err, highlight=False)


@click.command("ocr")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--pending", is_flag=True, help="Read every archived image still waiting for OCR.")
@click.option(
    "--again",
    is_flag=True,
    help="Read again the archived images and clips already read (or failed), with the OCR as it is now.",
)
@click.option(
    "--read-before",
    "read_before_text",
    metavar="DATE",
    help="With --again: only those read before DATE (default: when the command starts); to resume a run.",
)
@click.option("--limit", type=click.IntRange(min=1), help="With --pending or --again: at most N images.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_app
def ocr_command(
    app: AppContext,
    files: tuple[Path, ...],
    pending: bool,
    again: bool,
    read_before_text: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Read posters and clips: the archive's pending ones (--pending), all it has read again
    (--again), or the FILES given (images, or videos read at their key frames, each line led by
    its time).

    --pending finishes what a crash or `import --no-ocr` left: each image is read once in the
    worker pool, its text stored and its posts run through detection (alerts are archived).

    --again reads what an older version (or older rules) read, with the OCR as it is now: the
    new text replaces the old in search, and the posts whose text changed run through detection
    again (new alerts are archived, not sent; alerts raised before stay). A read that fails
    keeps the earlier reading. A run cut short resumes with the --read-before it printed.

    Example: tgmonitor ocr --pending --limit 500
    """
    if (pending + again + bool(files)) != 1:
        raise click.UsageError("give --pending, --again or one or more image or video FILES (one of them)")
    if read_before_text is not None and not again:
        raise click.UsageError("--read-before goes with --again")
    config = app.config()
    if files:
        _ocr_files(config, files, as_json)
        return
    if again:
        _ocr_again(app, config, read_before_text, limit, as_json)
        return

    done, failed = _with_the_pipeline(
        app,
        config,
        "reading posters",
        quiet=as_json,
        read=lambda posters, on_total, on_done: posters.read_pending(
            on_total=on_total, on_done=on_done, limit=limit
        ),
    )
    if as_json:
        click.echo(json.dumps({"ocr_done": done, "ocr_failed": failed}))
    else:
        click.echo(f"posters read: {done}, failed: {failed}")


def _ocr_again(
    app: AppContext, config: Any, read_before_text: str | None, limit: int | None, as_json: bool
) -> None:
    """``ocr --again``: the archive's readings older than the cut-off, read again (see ``ocr_command``)."""
    read_before = iso(parse_when(read_before_text)) if read_before_text is not None else now_iso()
    if not as_json:
        click.echo(
            f"reading again what was read before {read_before} (to resume: --read-before {read_before})",
            err=True,
        )
    done, failed, kept = _with_the_pipeline(
        app,
        config,
        "reading again",
        quiet=as_json,
        read=lambda posters, on_total, on_done: posters.read_again(
            read_before, on_total=on_total, on_done=on_done, limit=limit
        ),
    )
    if as_json:
        click.echo(
            json.dumps({"read_before": read_before, "ocr_done": done, "ocr_failed": failed, "kept": kept})
        )
    else:
        click.echo(f"read again: {done}, failed: {failed}; {kept} kept their earlier reading")


def _with_the_pipeline(
    app: AppContext,
    config: Any,
    description: str,
    *,
    quiet: bool,
    read: Callable[[Any, Any, Any], Awaitable[T]],
) -> T:
    """``read(poster_reader, on_total, on_done)`` run on the archive's pipeline, behind a progress
    bar on a terminal: OCR on even where the config turns it off (the command asks to read), and
    alerts archived, not sent."""
    from monitor.app import open_app  # why: the pipeline's parts (~0.3 s) load only to read the archive

    db_path = app.existing_db()  # a mistyped --db must not create an archive
    forced = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, enabled=True))

    async def go() -> T:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_console(err=True),
            disable=quiet or not sys.stderr.isatty(),
            transient=True,
        )
        with progress:
            task = progress.add_task(description, total=None)
            async with open_app(forced, db_path, app.media_dir(), ocr=True, deliver=False) as parts:
                return await read(
                    parts.pipeline.posters,
                    lambda n: progress.update(task, total=n),
                    lambda n: progress.advance(task, n),
                )

    return run_async(go())


def _ocr_files(config: Any, files: tuple[Path, ...], as_json: bool) -> None:
    from monitor.ocr_settings import ocr_settings
    from ocr.first_passes import FirstPasses  # why: the OCR engine (~0.8 s) loads only to read images

    settings = ocr_settings(config)
    first = FirstPasses(files[0], settings) if files else None  # read begun before the engine is imported

    from ocr.clips import read_media_file  # why: after the first file's passes are started
    from ocr.video import VideoSettings

    video = VideoSettings.from_config(config.ocr)
    results = []
    for index, path in enumerate(files):
        outcome = read_media_file(path, settings, video, started_early=first if index == 0 else None)
        results.append({"file": str(path), **outcome.to_dict()})
        if not as_json:
            if outcome.status == "done":
                # a poster's reading is channel text: shown, never obeyed by the terminal
                click.echo(
                    for_terminal(f"== {path} ({outcome.width}x{outcome.height}, {outcome.seconds:.1f}s)")
                )
                click.echo(for_terminal(outcome.text or "(no text found)"))
            else:
                # failed (a bad file) or skipped (a clip over the cap, sound alone): said as it is
                click.echo(for_terminal(f"== {path}: {outcome.status}: {outcome.reason}"))
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))


@click.command("similar")
@click.argument("image", type=click.Path(path_type=Path))
@click.option(
    "--max-distance",
    type=click.IntRange(0, 64),
    default=None,
    help="Largest Hamming distance of the 64-bit perceptual hash (default 10).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the matches as JSON.")
@pass_app
def similar_command(app: AppContext, image: Path, max_distance: int | None, as_json: bool) -> None:
    """Archived images that look like IMAGE (resized, recompressed, slightly cropped), and their posts.

    Example: tgmonitor similar poster.jpg --max-distance 6
    """
    from ocr import SIMILAR_DISTANCE, OcrSettings, load_image, nearest, perceptual_hash  # why: as in ocr

    settings = OcrSettings.from_config(app.config().ocr)
    limit = SIMILAR_DISTANCE if max_distance is None else max_distance
    try:
        loaded = load_image(
            image, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
        )
    except ImageError as exc:
        raise ImageError(f"cannot read {image}: {exc}") from None
    wanted = perceptual_hash(loaded.frames[0])
    db_path = app.existing_db()

    async def go() -> list[dict[str, Any]]:
        async with await Archive.open(db_path, app.media_dir(), readonly=True) as archive:
            found = nearest(wanted, await archive.media_by_phash(), limit)
            matches = []
            for distance, sha, phash in found:
                posts = await archive.posts_with_media(sha)
                matches.append(
                    {
                        "sha256": sha,
                        "phash": phash,
                        "distance": distance,
                        "posts": [
                            {
                                "channel": p.channel_username or p.channel_title or str(p.channel_id),
                                "channel_id": p.channel_id,
                                "message_id": p.message_id,
                                "date": p.date.isoformat(),
                                "url": p.url,
                            }
                            for p in posts
                        ],
                    }
                )
            return matches

    matches = run_async(go())
    if as_json:
        click.echo(json.dumps({"phash": wanted, "matches": matches}, ensure_ascii=False, indent=2))
        return
    if not matches:
        click.echo(f"no archived image within distance {limit} of {image} (phash {wanted})")
        return
    table = Table(title=Text(for_terminal(f"images like {image} (phash {wanted})")))
    for column in ("distance", "sha256", "posts"):
        table.add_column(column)
    for match in matches:
        links = "\n".join(
            for_terminal(p["url"] or str(p.get("message_id", "")), newlines=False) for p in match["posts"]
        )
        links = links or "(no post)"
        table.add_row(str(match["distance"]), match["sha256"][:16], Text(links))
    _console().print(table)


# --- doctor -----------------------------------------------------------------------------------


def _check_tesseract(config: Any) -> list[tuple[str, str, str]]:
    # why: the OCR engine (~0.8 s) loads only here
    from ocr import install_command, library_mismatch, tesseract_info

    languages = config.ocr.languages if config is not None else "ara+eng"
    try:
        info = tesseract_info()
    except OcrError as exc:
        return [("fail", "tesseract", str(exc))]
    rows = [("ok", "tesseract", f"{info['version']} at {info['path']}")]
    if config is None or config.ocr.tesseract == "library":
        mismatch = library_mismatch()
        rows.append(
            ("warn", "tesserocr", mismatch)
            if mismatch
            else (
                "ok",
                "tesserocr",
                f"runs Tesseract {info['version']}, the command's own: passes read in process",
            )
        )
    installed = set(info["languages"])
    missing = [lang for lang in languages.split("+") if lang and lang not in installed]
    if missing:
        rows.append(
            (
                "fail",
                "languages",
                f"missing {', '.join(missing)} (have {', '.join(sorted(installed))}): run `{install_command(languages)}`",
            )
        )
    else:
        rows.append(("ok", "languages", f"{languages} (installed: {', '.join(sorted(installed))})"))
    if "Arabic" not in installed:
        rows.append(
            (
                "warn",
                "eastern digits",
                "the Arabic script model is missing, Eastern Arabic digits (٢-٩) will be lost: "
                "run `apt-get install -y tesseract-ocr-script-arab`",
            )
        )
    else:
        rows.append(("ok", "eastern digits", "Arabic script model installed (reads ٢-٩)"))
    reading = config.ocr.reading if config is not None else "thorough"
    rows.append(("ok", "reading", _READINGS[reading]))
    return rows


_READINGS = {
    "thorough": "thorough: every plane and mask of a poster ([ocr] reading)",
    "quick": "quick: no blue plane, the rows re-read from grey alone; a sixth less time, "
    "a few flame and flag posters' words fewer ([ocr] reading)",
}
"""What ``doctor`` says of each ``[ocr] reading`` (README, "Poster text you can trust")."""


def _check_clips(config: Any) -> list[tuple[str, str, str]]:
    """Whether video clips (FFmpeg) and animated stickers (rlottie) can be read here."""
    # why: the clip readers load only here
    from ocr.lottie import renderer_problem
    from ocr.video import ffmpeg_info

    if config is not None and not config.ocr.video_max_bytes:
        return [("ok", "video", "clips and animated stickers are not read ([ocr] video_max_bytes = 0)")]
    rows = []
    ffmpeg = ffmpeg_info()
    if ffmpeg is None:
        rows.append(
            ("warn", "video", "ffmpeg is not installed, clips are not read: run `apt-get install -y ffmpeg`")
        )
    else:
        version, path, alpha = ffmpeg
        found = f"ffmpeg {version} at {path}"
        if alpha:
            rows.append(("ok", "video", f"{found} (libvpx: video stickers keep their transparency)"))
        else:
            rows.append(("warn", "video", f"{found} has no libvpx: dark text on a video sticker is lost"))
    problem = renderer_problem()
    if problem is None:
        rows.append(("ok", "stickers", "rlottie draws animated stickers (.tgs)"))
    else:
        rows.append(("warn", "stickers", f"animated stickers (.tgs) cannot be read: {problem}"))
    return rows


def _check_session(config: Any) -> list[tuple[str, str, str]]:
    rows = []
    tg = config.telegram
    for label, name in (("api id", tg.api_id_env), ("api hash", tg.api_hash_env)):
        present = bool(os.environ.get(name) or os.environ.get(f"{name}_FILE"))
        rows.append(
            ("ok" if present else "warn", label, f"${name} is set" if present else f"${name} is not set")
        )
    if os.environ.get(tg.session_env):
        rows.append(("ok", "session", f"${tg.session_env} is set (string session)"))
    elif tg.session.exists():
        mode = stat.S_IMODE(tg.session.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            rows.append(
                ("warn", "session", f"{tg.session} is readable by others: run chmod 600 {tg.session}")
            )
        else:
            rows.append(("ok", "session", f"{tg.session} (0600)"))
    else:
        rows.append(("warn", "session", f"no session at {tg.session}: run `tgmonitor login`"))
    channels = len(tg.channels)
    rows.append(("ok" if channels else "warn", "channels", f"{channels} configured"))
    return rows


def _check_archive(app: AppContext) -> list[tuple[str, str, str]]:
    db_path = app.db_path()
    if not db_path.exists():
        return [("ok", "archive", f"{db_path} not created yet (import or run creates it)")]

    async def go() -> dict[str, Any]:
        async with await Archive.open(db_path, app.media_dir(), readonly=True) as archive:
            await archive.check_intact()  # the doctor reads every page: a damaged one is found here
            stats = await archive.stats()
            stats["heartbeat"] = heartbeat_state(await archive.get_meta(HEARTBEAT_KEY))
            stats["open_problems"] = [r["problem"] for r in await archive.open_health()]
            return stats

    try:
        stats = run_async(go())
    except MonitorError as exc:
        return [("fail", "archive", str(exc))]
    summary = ", ".join(
        f"{stats[k]} {k.replace('_', ' ')}"
        for k in ("posts", "images", "ocr_done", "ocr_failed")
        if k in stats
    )
    rows = [("ok", "archive", f"{db_path}: {summary}")]
    beat = stats.get("heartbeat")
    if beat is not None:
        rows.append(("ok" if beat["alive"] else "warn", "daemon", f"heartbeat {beat['says']}"))
    for problem in stats.get("open_problems") or []:
        rows.append(("warn", "collection", problem))
    if stats.get("ocr_pending"):
        rows.append(
            ("warn", "ocr pending", f"{stats['ocr_pending']} images or clips: run `tgmonitor ocr --pending`")
        )
    return rows


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def doctor_command(app: AppContext, as_json: bool) -> None:
    """Check Tesseract and its languages, the clip readers, the config, the Telegram session and
    the archive.

    Each problem comes with what to do about it; secrets are never printed. Exits non-zero
    when something is broken (warnings alone do not fail).

    Example: tgmonitor doctor
    """
    rows: list[tuple[str, str, str]] = []
    config = None
    try:
        config = app.config()
        rows.append(("ok", "config", str(config.source) if config.source else "no file, defaults in use"))
    except ConfigError as exc:
        rows.append(("fail", "config", str(exc)))
    rows += _check_tesseract(config)
    rows += _check_clips(config)
    if config is not None:
        rows += _check_session(config)
        rows += _check_archive(app)
    failed = any(level == "fail" for level, _, _ in rows)
    if as_json:
        click.echo(
            json.dumps(
                {"ok": not failed, "checks": [{"level": lv, "check": n, "detail": d} for lv, n, d in rows]},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        table = Table(show_header=False, box=None)
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for level, name, detail in rows:  # details quote config values and paths: Text, never markup
            table.add_row(Text(level, style=style[level]), Text(name), Text(for_terminal(detail)))
        _console().print(table)
    if failed:
        sys.exit(1)


commands: list[click.Command] = [ocr_command, similar_command, doctor_command]
