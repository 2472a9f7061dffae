"""Import a Telegram Desktop export through the pipeline, in batches, then read its posters.

Posts are saved and detected in batches of ``batch_size`` (text only at first); once every post
is in, the export's images are read by the OCR pool and the posts that carry them are detected
again with the poster text. A malformed export stops with an :class:`ExportError`, but only after
the posts read before the bad spot are saved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from handlers.export import ExportSummary, iter_export, locate_export
from handlers.pipeline import Pipeline
from monitor.errors import ExportError
from monitor.models import Post

ProgressCallback = Callable[[int], None]


async def import_export(
    path: Path,
    pipeline: Pipeline,
    *,
    username: str | None = None,
    batch_size: int = 2000,
    on_bytes: ProgressCallback | None = None,
    on_ocr_total: ProgressCallback | None = None,
    on_ocr_done: ProgressCallback | None = None,
) -> ExportSummary:
    """Import the export at ``path`` (folder or ``result.json``) and return what happened."""
    result_json = locate_export(path)
    summary = ExportSummary()
    chats: set[int] = set()

    async def flush(batch: list[Post]) -> None:
        if not batch:
            return
        results = await pipeline.process_batch(batch, ocr=False)
        for post, result in zip(batch, results, strict=True):
            chats.add(post.channel.id)
            setattr(summary, result.status, getattr(summary, result.status) + 1)
            summary.alerts += len(result.alerts)
            for item in post.media:
                if item.sha256 is not None and result.status == "unchanged":
                    summary.media_known += 1  # imported before: nothing new stored
                elif item.sha256 is not None:
                    summary.media_stored += 1
                else:
                    summary.media_missing += 1
                    if item.missing_reason and len(summary.missing_files) < 20:
                        summary.missing_files.append(f"message {post.message_id}: {item.missing_reason}")

    reader = iter_export(result_json, username=username, on_read=on_bytes)

    def read_batch() -> tuple[list[Post], ExportError | None, bool]:
        """The next batch of posts (blocking file I/O and JSON parsing: run in a thread)."""
        batch: list[Post] = []
        try:
            for item in reader:
                summary.messages += 1
                if isinstance(item, str):
                    summary.service += 1
                    continue
                batch.append(item)
                if len(batch) >= batch_size:
                    return batch, None, False
        except ExportError as exc:
            return batch, exc, True
        return batch, None, True

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
    summary.chats = len(chats)

    if pipeline.ocr_pool is not None:
        await read_pending_images(pipeline, summary, on_total=on_ocr_total, on_done=on_ocr_done)
    return summary


async def read_pending_images(
    pipeline: Pipeline,
    summary: ExportSummary | None = None,
    *,
    on_total: ProgressCallback | None = None,
    on_done: ProgressCallback | None = None,
    limit: int | None = None,
) -> tuple[int, int]:
    """OCR every image still pending and detect the posts that carry it. Returns (done, failed)."""
    done = failed = 0
    stats = await pipeline.archive.stats()
    total = stats["ocr_pending"] if limit is None else min(limit, stats["ocr_pending"])
    if on_total:
        on_total(total)
    alerts_before = (await pipeline.archive.stats())["alerts"]
    seen: set[str] = set()
    while (limit is None or done + failed < limit) and (pending := await pipeline.archive.pending_ocr(64)):
        pending = [m for m in pending if m.sha256 not in seen]
        if not pending:
            break
        seen.update(m.sha256 for m in pending)

        async def one(sha: str) -> None:
            nonlocal done, failed
            ok = await pipeline.read_image(sha)
            if ok:
                done += 1
            else:
                failed += 1
            if on_done:
                on_done(1)

        await asyncio.gather(*(one(m.sha256) for m in pending))
    # Detect the posts whose images are now read (text-only detection already happened).
    await pipeline.resume()
    if summary is not None:
        summary.ocr_done += done
        summary.ocr_failed += failed
        summary.alerts += (await pipeline.archive.stats())["alerts"] - alerts_before
    return done, failed
