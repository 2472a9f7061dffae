"""The ports: what the pipeline needs from detection, OCR and the outbox, typed.

``handlers/`` builds every post's road out of these three without importing ``alerts/`` or
``ocr/``; the app (``monitor/app.py``) plugs the real ones in (``alerts.detect.Detector``,
``ocr.pool.OcrPool``, ``alerts.outbox.Outbox``). Tests may plug in their own: a Protocol checks
the shape, not the class.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from monitor.core.detection import Detection
from monitor.core.models import OcrOutcome
from monitor.core.store import PostRecord, Tx


class DetectorPort(Protocol):
    """Rules and countdowns over a post's text and the text read from its images."""

    def detect(
        self,
        text: str,
        ocr_text: str | None = None,
        date: datetime | None = None,
        *,
        explain: bool = True,
        channel: Any = None,  # the post's Channel: its signature keeps its own identity quiet
    ) -> Detection: ...


class OcrReaderPort(Protocol):
    """Reads one stored image off the event loop (a pool of worker processes)."""

    similar_distance: int  # pHash bits within which a read image may lend its reading (``similar``)

    async def recognize(self, path: Path | str) -> OcrOutcome: ...

    async def fingerprint(self, path: Path | str) -> str | None:
        """The image's perceptual hash (16 hex digits), or None when it cannot be loaded."""
        ...

    async def same_picture(self, path: Path | str, other: Path | str) -> bool:
        """Whether two images are one picture at another size or compression (reuse its reading)."""
        ...


class OutboxPort(Protocol):
    """Turns detections into alerts and deliveries; the senders run on their own."""

    async def record_many(
        self, items: Sequence[tuple[PostRecord, Detection]], *, deliver: bool = True
    ) -> dict[int, list[int]]:
        """Alerts of many posts in one transaction; the new alert ids per post id."""
        ...

    def draft_records(
        self,
        items: Sequence[tuple[PostRecord, Detection]],
        *,
        deliver: bool = True,
        fresh: Container[int] = (),
    ) -> Any:
        """The part of recording that needs no database, done before the transaction."""
        ...

    async def record_drafts(self, tx: Tx, drafts: Any) -> dict[int, list[int]]:
        """Write what :meth:`draft_records` prepared, inside the caller's unit of work."""
        ...

    def wake(self) -> None:
        """Tell the senders that new deliveries were committed."""
        ...
