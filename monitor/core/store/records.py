"""The records the store hands out (posts, media, search hits, save results) and the rows they come from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.core.detection import Countdown
from monitor.core.models import Channel, message_link
from monitor.core.times import iso


@dataclass(slots=True)  # not frozen: one per saved post, and a frozen __init__ costs five times more
class SaveResult:
    """What saving did to one post."""

    post_id: int
    status: str  # new | updated | unchanged
    new_media: list[str] = field(default_factory=list)
    previous_text: str | None = None
    needs_detection: bool = True  # new, changed, new images, or never detected (a crash)
    new_files: int = 0  # files (any kind) linked to the post by this save: stored now, not before


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """A stored file and what OCR made of it."""

    sha256: str
    path: Path
    size: int
    width: int | None
    height: int | None
    mime_type: str | None
    is_image: bool
    ocr_status: str
    ocr_text: str | None
    ocr_reason: str | None
    phash: str | None


@dataclass(frozen=True, slots=True)
class PostRecord:
    """A post as the archive holds it, with its channel's name."""

    id: int
    channel_id: int
    message_id: int
    date: datetime
    text: str
    entities: list[dict[str, Any]]
    ocr_text: str | None
    channel_username: str | None
    channel_title: str | None
    views: int | None = None
    forwards: int | None = None
    fwd_from_id: int | None = None
    fwd_from_name: str | None = None
    reply_to: int | None = None
    grouped_id: int | None = None
    edit_date: datetime | None = None
    author: str | None = None
    deleted: bool = False
    source: str | None = None
    channel_kind: str | None = None

    @property
    def channel(self) -> Channel:
        return Channel(
            id=self.channel_id,
            username=self.channel_username,
            title=self.channel_title,
            kind=self.channel_kind,
        )

    @property
    def url(self) -> str | None:
        return message_link(self.channel, self.message_id)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: the post and a snippet of it around the query's words."""

    post: PostRecord
    snippet: str
    highlights: list[tuple[int, int]]  # spans in ``snippet`` to emphasise

    def to_json(self) -> dict[str, Any]:
        p = self.post
        return {
            "channel": p.channel_username or p.channel_title,
            "channel_id": p.channel_id,
            "message_id": p.message_id,
            "date": iso(p.date),
            "text": p.text,
            "ocr_text": p.ocr_text,
            "url": p.url,
            "snippet": self.snippet,
        }


POST_COLUMNS = (
    "p.id, p.channel_id, p.message_id, p.date, p.text, p.entities, p.ocr_text, c.username, c.title, "
    "p.views, p.forwards, p.fwd_from_id, p.fwd_from_name, p.reply_to, p.grouped_id, p.edit_date, "
    "p.author, p.deleted_at, p.source, c.kind"
)


def post_record(row: Sequence[Any]) -> PostRecord:
    """A :class:`PostRecord` from a row of :data:`POST_COLUMNS`."""
    return PostRecord(
        id=row[0],
        channel_id=row[1],
        message_id=row[2],
        date=datetime.fromisoformat(row[3]),
        text=row[4],
        entities=json.loads(row[5] or "[]"),
        ocr_text=row[6],
        channel_username=row[7],
        channel_title=row[8],
        views=row[9],
        forwards=row[10],
        fwd_from_id=row[11],
        fwd_from_name=row[12],
        reply_to=row[13],
        grouped_id=row[14],
        edit_date=datetime.fromisoformat(row[15]) if row[15] else None,
        author=row[16],
        deleted=row[17] is not None,
        source=row[18],
        channel_kind=row[19],
    )


MEDIA_COLUMNS = (
    "sha256, path, size, width, height, mime_type, is_image, ocr_status, ocr_text, ocr_reason, phash"
)


def media_record(row: Sequence[Any], media_dir: Path) -> MediaRecord:
    """A :class:`MediaRecord` from a row of :data:`MEDIA_COLUMNS` (``path`` relative to ``media_dir``)."""
    return MediaRecord(
        sha256=row[0],
        path=media_dir / row[1],
        size=row[2],
        width=row[3],
        height=row[4],
        mime_type=row[5],
        is_image=bool(row[6]),
        ocr_status=row[7],
        ocr_text=row[8],
        ocr_reason=row[9],
        phash=row[10],
    )


CountdownRow = tuple[int, int, str, int, str, str | None]
"""A ``countdowns`` row: ``(post_id, channel_id, date, value, unit, deadline)``."""


def countdown_row(post_id: int, channel_id: int, date: datetime, countdown: Countdown) -> CountdownRow:
    """The ``countdowns`` row of a countdown found in a post of this channel and date."""
    return (
        post_id,
        channel_id,
        iso(date) or "",
        int(countdown.value),
        str(countdown.unit),
        iso(countdown.deadline) if countdown.deadline else None,
    )
