"""Wiring: build the archive, detector, OCR pool, outbox and pipeline from the config.

The commands (``import``, ``demo``, ``ocr``, ``run``) all need the same parts put together the
same way; this module is the one place that does it, so the CLI stays a thin layer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerts.detect import Detector, load_detector
from alerts.outbox import Outbox
from alerts.signatures import learn_book
from alerts.sinks import Sink
from alerts.sinks import build_sinks as _build_sinks
from handlers.importer import ParallelImport
from handlers.pipeline import Pipeline
from monitor.core.config import Config
from monitor.core.store import Archive
from monitor.ocr_settings import ocr_settings

if TYPE_CHECKING:
    from ocr import OcrPool


@dataclass
class App:
    """The parts of a running tgmonitor, for one command or the daemon."""

    config: Config
    archive: Archive
    pipeline: Pipeline
    detector: Detector | None = None
    ocr_pool: OcrPool | None = None
    outbox: Outbox | None = None


def build_detector(config: Config, rules: Path | None = None, min_severity: str | None = None) -> Detector:
    """The detector of the configured rules (``rules`` and ``min_severity`` override them)."""
    return load_detector(config, rules=rules, min_severity=min_severity)


def build_sinks(config: Config, telegram_client: Any = None) -> list[Sink]:
    """The configured alert sinks (a Telegram sink sends through ``telegram_client``)."""
    return _build_sinks(config, telegram_client=telegram_client)


@contextlib.asynccontextmanager
async def open_app(
    config: Config,
    db_path: Path,
    media_dir: Path | None = None,
    *,
    ocr: bool = True,
    detect: bool = True,
    deliver: bool = True,
    sinks: list[Sink] | None = None,
    telegram_client: Any = None,
    write_gate: Any = None,
    live: bool = False,
) -> AsyncIterator[App]:
    """Open everything the pipeline needs; close it all on the way out, whatever happens.

    ``deliver=False`` records alerts in the archive without sending them (an import without
    ``--alerts``). ``sinks`` overrides the configured sinks (``demo`` prints to the console).
    ``live`` is the daemon's: small batches as posts come, the WAL checkpointed between them.
    """
    # An import's workers (write_gate) open an archive their command has just checked.
    archive = await Archive.open(
        db_path, media_dir, write_gate=write_gate, verify=write_gate is None, quiet_checkpoints=live
    )
    ocr_pool = None
    reader = None  # the pool, with clips read at their key frames (ocr.clips.MediaReader)
    outbox = None
    try:
        detector = build_detector(config) if detect else None
        if detector is not None:  # channel signatures: learned from each channel's latest posts
            detector.signatures = await learn_book(archive, detector.ruleset.signatures)
        if ocr and config.ocr.enabled:
            from ocr import OcrPool  # why: ~0.8 s, loaded only when posters are read
            from ocr.clips import MediaReader
            from ocr.video import VideoSettings

            ocr_pool = OcrPool(
                ocr_settings(config, detector.ruleset if detector is not None else None),
                workers=config.ocr.workers,
                queue_size=config.ocr.queue_size,
            )
            await ocr_pool.start()
            reader = MediaReader(ocr_pool, VideoSettings.from_config(config.ocr))
        if detect:
            chosen = sinks if sinks is not None else build_sinks(config, telegram_client)
            outbox = Outbox(archive, chosen, config.alerts)
            outbox.dispatcher.desk_url = config.web.base_url  # messages link to the post's page on the desk
        pipeline = Pipeline(archive, detector=detector, ocr_pool=reader, outbox=outbox, deliver=deliver)
        yield App(config, archive, pipeline, detector, ocr_pool, outbox)
    finally:
        if ocr_pool is not None:
            await ocr_pool.close()
        if outbox is not None:
            await outbox.close()
        await archive.close()


@contextlib.asynccontextmanager
async def open_import_pipeline(
    config: Config, db_path: Path, media_dir: Path | None, deliver: bool, *, write_gate: Any = None
) -> AsyncIterator[Pipeline]:
    """The pipeline of an import worker process (``handlers.importer.ParallelImport``).

    The same parts as the ``import`` command itself, without OCR: the posters are read once
    every post is in, by the command's own pool.
    """
    async with open_app(config, db_path, media_dir, ocr=False, deliver=deliver, write_gate=write_gate) as app:
        yield app.pipeline


def parallel_import(config: Config, db_path: Path, media_dir: Path | None, deliver: bool) -> ParallelImport:
    """How ``import`` spreads a large export over worker processes (``[archive] import_workers``)."""
    workers = config.archive.import_workers or max(1, min(4, os.cpu_count() or 1))
    return ParallelImport(open_import_pipeline, (config, db_path, media_dir, deliver), workers=workers)
