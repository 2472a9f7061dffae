"""Import a Telegram Desktop export through the pipeline, then read its posters.

Two roads, one result:

* **Blocks** (single-chat exports, the usual case): the ``messages`` array is cut into blocks of
  whole messages (:func:`handlers.export.iter_message_blocks`, a byte scan) that are parsed with
  orjson, converted, saved and detected block by block. With ``workers`` (large exports, see
  :class:`ParallelImport`) each block goes to a worker process that runs its own pipeline on the
  same archive: parsing, text folding and detection are Python work, and one process would spend
  the whole import holding the GIL while SQLite's own work waits its turn.
* **Events** (full-account exports, and any block that does not parse as plain messages): the
  file is streamed event by event with ijson, which also names the exact line and column of a
  malformed file. Posts read before such an error are saved before the :class:`ExportError` is
  raised.

Saving is idempotent, so an interrupted import is resumed by importing again. Once every post
is in, the export's images are read by the OCR pool and the posts that carry them are detected
again with the poster text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from handlers.export import (
    BlockError,
    ExportSummary,
    MessageBlock,
    SkippedChat,
    convert_block,
    iter_export,
    iter_message_blocks,
    locate_export,
    single_chat_channel,
)
from handlers.export_messages import FILE_MISSING, Rejected, has_local_date
from handlers.pipeline import Pipeline
from monitor.core.errors import ExportError, MonitorError
from monitor.core.lifeline import die_with_parent, parent_alive
from monitor.core.models import Channel, Post

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]

WORKER_POLL_SECONDS = 1.0
"""How often a waiting import worker checks that the import that started it is still there."""

PARALLEL_FROM_BYTES = 8 << 20
"""Exports smaller than this are imported in-process: starting workers costs about a second."""


@dataclass
class ParallelImport:
    """How to import with worker processes: each opens its own pipeline on the same archive.

    ``recipe(*args, write_gate=lock)`` must be a module-level async context manager factory that
    yields a :class:`Pipeline` (``monitor.app.open_import_pipeline``); it is called in each worker.
    The ``write_gate`` lock hands the archive's write transactions from worker to worker.
    """

    recipe: Callable[..., Any]
    args: tuple[Any, ...]
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    from_bytes: int = PARALLEL_FROM_BYTES


async def import_export(
    path: Path,
    pipeline: Pipeline,
    *,
    username: str | None = None,
    batch_size: int = 2000,
    on_bytes: ProgressCallback | None = None,
    on_ocr_total: ProgressCallback | None = None,
    on_ocr_done: ProgressCallback | None = None,
    parallel: ParallelImport | None = None,
    block_size: int = 1 << 20,
    local_tz: tzinfo = UTC,
) -> ExportSummary:
    """Import the export at ``path`` (folder or ``result.json``) and return what happened.

    ``local_tz`` is the zone the dates of an old export (local time only, no ``date_unixtime``)
    are read in: the exporting machine's, when the analyst knows it; UTC otherwise."""
    result_json = locate_export(path)
    summary = ExportSummary(timezone=str(local_tz))
    chats: set[int] = set()
    channel = single_chat_channel(result_json, username)
    if channel is None:  # a full-account export: the event road for everything
        await _import_events(
            result_json, pipeline, summary, chats, username, batch_size, on_bytes, None, local_tz
        )
    else:
        size = result_json.stat().st_size
        blocks = iter_message_blocks(result_json, block_size=block_size)
        if parallel is not None and parallel.workers > 1 and size >= parallel.from_bytes:
            redo = await _import_blocks_in_workers(
                blocks, channel, result_json, parallel, summary, on_bytes, local_tz
            )
        else:
            redo = await _import_blocks(
                blocks, channel, result_json, pipeline, summary, batch_size, on_bytes, local_tz
            )
        if channel.id is not None and summary.new + summary.updated + summary.unchanged:
            chats.add(channel.id)
        if redo is not None:
            first = redo.first if isinstance(redo, _From) else min(redo)  # type: ignore[type-var]
            log.info("import %s: messages from #%s read again event by event", result_json, first)
            await _import_events(
                result_json, pipeline, summary, chats, username, batch_size, None, redo, local_tz
            )
        if on_bytes:
            on_bytes(max(0, size - summary.bytes_done))
    summary.chats = len(chats)
    # The folders that missing files were to be in, and that the export does not hold at all:
    # "exported without media" (or the folder moved), said once rather than file by file.
    base = result_json.parent
    summary.media_folders_absent = {f for f in summary.media_folders_absent if not (base / f).is_dir()}

    if pipeline.ocr_pool is not None:
        await read_pending_images(pipeline, summary, on_total=on_ocr_total, on_done=on_ocr_done)
    return summary


# --- saving posts ---------------------------------------------------------------------------


async def save_items(
    pipeline: Pipeline, items: Sequence[Post | str | SkippedChat], summary: ExportSummary
) -> None:
    """Save and detect converted messages (posts and ``"service"`` marks), counting into ``summary``;
    a :class:`SkippedChat` (a full-account export's chat left out) is only noted."""
    if any(isinstance(item, SkippedChat) for item in items):
        summary.skipped_chats.extend(item for item in items if isinstance(item, SkippedChat))
        items = [item for item in items if not isinstance(item, SkippedChat)]
    posts = [item for item in items if isinstance(item, Post)]
    rejected = [item for item in items if isinstance(item, Rejected)]  # refused one by one
    summary.messages += len(items)
    summary.service += len(items) - len(posts) - len(rejected)
    summary.rejected += len(rejected)
    summary.rejected_messages.extend(rejected[: max(0, 20 - len(summary.rejected_messages))])
    if not posts:
        return
    results = await pipeline.import_batch(posts)
    for post, result in zip(posts, results, strict=True):
        setattr(summary, result.status, getattr(summary, result.status) + 1)
        summary.alerts += len(result.alerts)
        if has_local_date(post.raw):
            summary.local_dates += 1
        # Stored = newly linked to its post now (a file added to the export folder since the last
        # import counts here too); already there = linked by an earlier import.
        summary.media_stored += result.new_files
        for item in post.media:
            if item.sha256 is not None:
                continue
            summary.media_missing += 1
            reason = item.missing_reason or ""
            if reason.startswith(FILE_MISSING) and "/" in reason:
                summary.media_folders_absent.add(reason[len(FILE_MISSING) :].split("/", 1)[0])
            if reason and len(summary.missing_files) < 20:
                summary.missing_files.append(f"message {post.message_id}: {reason}")
        summary.media_known += sum(1 for item in post.media if item.sha256 is not None) - result.new_files


def merge_summary(into: ExportSummary, part: ExportSummary) -> None:
    """Add the counts of ``part`` to ``into`` (the worker processes each count their own blocks)."""
    for f in fields(ExportSummary):
        mine, theirs = getattr(into, f.name), getattr(part, f.name)
        if isinstance(mine, int):
            setattr(into, f.name, mine + theirs)
        elif isinstance(mine, set):
            mine |= theirs
        elif isinstance(mine, list):
            mine.extend(theirs[: max(0, 20 - len(mine))])


# --- the block road, in this process ------------------------------------------------------


async def _import_blocks(
    blocks: Iterable[MessageBlock],
    channel: Channel,
    result_json: Path,
    pipeline: Pipeline,
    summary: ExportSummary,
    batch_size: int,
    on_bytes: ProgressCallback | None,
    local_tz: tzinfo,
) -> Container[int] | None:
    """Import block by block; returns the message positions to read again by events (or None)."""
    iterator = iter(blocks)
    done = object()

    def next_block() -> MessageBlock | object:
        return next(iterator, done)

    try:
        while (block := await asyncio.to_thread(next_block)) is not done:
            assert isinstance(block, MessageBlock)
            try:
                items = await asyncio.to_thread(convert_block, block, channel, result_json, local_tz)
            except (BlockError, ExportError) as exc:
                # From here on the event road reads the file: it stops at a malformed spot, as an
                # import always has, so nothing after a bad message is saved.
                log.debug("block at message #%d onwards read by events: %s", block.first_index, exc)
                return _From(block.first_index)
            for start in range(0, len(items), batch_size):
                await save_items(pipeline, items[start : start + batch_size], summary)
            summary.bytes_done += len(block.data)
            if on_bytes:
                on_bytes(len(block.data))
    except BlockError as exc:  # the array itself was not where it should be
        log.debug("%s: no blocks (%s), reading it event by event", result_json, exc)
        return _From(1)
    return None


class _From:
    """Message positions from ``first`` on (a ``select`` for :func:`iter_export`)."""

    def __init__(self, first: int):
        self.first = first

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and index >= self.first


# --- the block road, in worker processes --------------------------------------------------


async def _import_blocks_in_workers(
    blocks: Iterable[MessageBlock],
    channel: Channel,
    result_json: Path,
    parallel: ParallelImport,
    summary: ExportSummary,
    on_bytes: ProgressCallback | None,
    local_tz: tzinfo,
) -> Container[int] | None:
    """Feed blocks to ``parallel.workers`` processes; merge their summaries as blocks finish."""
    context = multiprocessing.get_context("spawn")  # never fork a process with threads and a loop
    tasks = context.Queue(maxsize=parallel.workers * 2)  # bounded: memory stays flat
    results = context.Queue()
    gate = context.Lock()
    processes = [
        context.Process(
            target=run_import_worker,
            args=(
                parallel.recipe,
                parallel.args,
                gate,
                channel,
                result_json,
                tasks,
                results,
                os.getpid(),
                local_tz,
            ),
            name=f"tgmonitor-import-{n}",
            daemon=True,
        )
        for n in range(parallel.workers)
    ]
    for process in processes:
        process.start()
    redo: set[int] = set()
    sent = 0
    feeding_done = asyncio.Event()
    feed_error: list[BaseException] = []
    stop = False

    def feed() -> None:
        nonlocal sent
        try:
            for block in blocks:
                while True:
                    if stop or not all(p.is_alive() for p in processes):
                        return
                    try:
                        tasks.put(block.hollow(), timeout=0.5)  # the worker reads the bytes itself
                        break
                    except queue.Full:
                        continue
                sent += 1
        except BaseException as exc:  # BlockError for a file without a messages array, OSError
            feed_error.append(exc)
        finally:
            for _ in processes:  # one "no more blocks" per worker, unless they are gone
                while not stop and all(p.is_alive() for p in processes):
                    try:
                        tasks.put(None, timeout=0.5)
                        break
                    except queue.Full:
                        continue

    feeder = asyncio.get_running_loop().run_in_executor(None, feed)
    feeder.add_done_callback(lambda _: feeding_done.set())
    received = 0
    failure: BaseException | None = None
    finished = False
    try:
        while not (feeding_done.is_set() and received >= sent):
            try:
                message = await asyncio.to_thread(results.get, True, 0.5)
            except queue.Empty:
                dead = [p for p in processes if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise MonitorError(
                        f"an import worker stopped unexpectedly (exit code {dead[0].exitcode}); "
                        "what was saved before stays: import again to resume"
                    ) from None
                continue
            kind = message[0]
            if kind == "error":
                failure = message[1]
                break
            received += 1
            if kind == "redo":
                _, first, count, reason = message
                log.debug("block at message #%d read again: %s", first, reason)
                redo.update(range(first, first + max(1, count)))
            else:
                _, part, nbytes = message
                merge_summary(summary, part)
                if on_bytes:
                    on_bytes(nbytes)
        finished = failure is None
    finally:
        stop = True
        with contextlib.suppress(Exception):
            await feeder
        for process in processes:
            process.join(timeout=30 if finished else 0)  # done: they are leaving; failed: stop them
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        # Blocks still buffered for a worker that is gone must not hold this process at exit.
        tasks.cancel_join_thread()
        tasks.close()
        results.close()
    if failure is not None:
        raise failure
    if feed_error:
        if isinstance(feed_error[0], BlockError):
            return _From(1)
        raise feed_error[0]
    return redo or None


def run_import_worker(
    recipe: Callable[..., Any],
    args: tuple[Any, ...],
    gate: Any,
    channel: Channel,
    result_json: Path,
    tasks: Any,
    results: Any,
    parent_pid: int,
    local_tz: tzinfo = UTC,
) -> None:
    """A worker process: convert, save and detect the blocks it is given, report each one.

    It dies with ``parent_pid`` (the import): an orphaned worker would hold the archive's WAL.
    """
    die_with_parent(parent_pid)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(
            _serve_blocks(recipe, args, gate, channel, result_json, tasks, results, parent_pid, local_tz)
        )
    except BaseException as exc:
        error = exc if isinstance(exc, MonitorError) else MonitorError(f"import worker failed: {exc!r}")
        results.put(("error", error))


async def _serve_blocks(
    recipe: Callable[..., Any],
    args: tuple[Any, ...],
    gate: Any,
    channel: Channel,
    result_json: Path,
    tasks: Any,
    results: Any,
    parent_pid: int,
    local_tz: tzinfo,
) -> None:
    def next_block() -> MessageBlock | None:
        # why: a bounded wait, so an orphan notices its parent is gone (where no death signal exists)
        while True:
            try:
                return tasks.get(timeout=WORKER_POLL_SECONDS)
            except queue.Empty:
                if not parent_alive(parent_pid):
                    raise MonitorError("the import stopped: this worker leaves too") from None

    async with recipe(*args, write_gate=gate) as pipeline:
        with open(result_json, "rb") as export:
            while (block := await asyncio.to_thread(next_block)) is not None:
                try:
                    items = convert_block(block.filled(export), channel, result_json, local_tz)
                except (BlockError, ExportError) as exc:
                    results.put(("redo", block.first_index, block.count, str(exc)))
                    continue
                part = ExportSummary(bytes_done=block.size)
                await save_items(pipeline, items, part)
                results.put(("done", part, block.size))


# --- the event road -------------------------------------------------------------------------


async def _import_events(
    result_json: Path,
    pipeline: Pipeline,
    summary: ExportSummary,
    chats: set[int],
    username: str | None,
    batch_size: int,
    on_bytes: ProgressCallback | None,
    only: Container[int] | None,
    local_tz: tzinfo,
) -> None:
    """Stream the export event by event (all of it, or only the message positions in ``only``)."""
    reader = iter_export(result_json, username=username, on_read=on_bytes, select=only, local_tz=local_tz)

    def read_batch() -> tuple[list[Post | str | SkippedChat], ExportError | None, bool]:
        """The next batch (blocking file I/O and JSON parsing: run in a thread)."""
        batch: list[Post | str | SkippedChat] = []
        try:
            for item in reader:
                batch.append(item)
                if len(batch) >= batch_size:
                    return batch, None, False
        except ExportError as exc:
            return batch, exc, True
        return batch, None, True

    async def flush(batch: list[Post | str | SkippedChat]) -> None:
        await save_items(pipeline, batch, summary)
        chats.update(item.channel.id for item in batch if isinstance(item, Post))

    # Read batch N+1 in a thread while batch N is saved: parsing overlaps with SQLite's work.
    saving: asyncio.Task[None] | None = None
    while True:
        batch, error, finished = await asyncio.to_thread(read_batch)
        if saving is not None:
            await saving
        saving = asyncio.create_task(flush(batch))
        if error is not None:
            await saving  # keep what was read before the bad spot
            raise error
        if finished:
            break
    await saving


# --- posters --------------------------------------------------------------------------------


async def read_pending_images(
    pipeline: Pipeline,
    summary: ExportSummary,
    *,
    on_total: ProgressCallback | None = None,
    on_done: ProgressCallback | None = None,
) -> None:
    """Read the posters the import stored (:class:`handlers.posters.PosterReader`), count into ``summary``."""
    alerts_before = (await pipeline.archive.stats())["alerts"]
    done, failed = await pipeline.posters.read_pending(on_total=on_total, on_done=on_done)
    summary.ocr_done += done
    summary.ocr_failed += failed
    summary.alerts += (await pipeline.archive.stats())["alerts"] - alerts_before
