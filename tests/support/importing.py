"""Recipes for import worker processes that fail on purpose (imported by name in the workers)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from monitor.app import open_import_pipeline
from monitor.core.errors import ArchiveError


@contextlib.asynccontextmanager
async def refusing_pipeline(db: Path, *, write_gate: Any = None) -> AsyncIterator[Any]:
    """A worker whose archive cannot be written: the error must reach the user as it is."""
    raise ArchiveError(f"cannot write to the media store {db.parent / 'media'}: Read-only file system")
    yield  # pragma: no cover


class _Dying:
    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    async def import_batch(self, posts: Any) -> Any:
        os._exit(3)  # the worker process vanishes, as under the OOM killer


@contextlib.asynccontextmanager
async def dying_pipeline(config: Any, db: Path, *, write_gate: Any = None) -> AsyncIterator[Any]:
    """A worker that dies on its first block, without a word."""
    async with open_import_pipeline(
        config, db, db.parent / "media", False, write_gate=write_gate
    ) as pipeline:
        yield _Dying(pipeline)
