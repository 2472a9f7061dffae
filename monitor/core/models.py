"""The vocabulary every room shares: a channel, a post and its media, as plain records.

Everything that enters tgmonitor (live updates, gap-fill, back-fill, exports, ``check``) becomes
a :class:`Post` first, so nothing downstream of ``handlers/`` ever sees a Telethon object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})

CLIP_MIME_TYPES = frozenset(
    {
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "video/x-matroska",
        "video/3gpp",
        "application/x-tgsticker",
    }
)
"""Clips read at their key frames (issue 18): videos, round video notes, GIFs Telegram turned into
MP4, video stickers (WebM) and animated stickers (Lottie ``.tgs``, drawn by rlottie: ``ocr.lottie``)."""

LINKABLE_KINDS = frozenset({"public_channel", "private_channel", "public_supergroup", "private_supergroup"})
"""Desktop's chat types whose messages t.me links reach (channels and supergroups)."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A watched (or imported) channel. ``id`` is the bare channel id, without the -100 prefix.

    ``kind`` is the chat type an export gives (``public_channel``, ``private_group``,
    ``personal_chat``...); None for a channel watched live, which is always one. Only channels
    and supergroups have message links."""

    id: int
    username: str | None = None
    title: str | None = None
    access_hash: int | None = None
    kind: str | None = None

    @property
    def linkable(self) -> bool:
        """Whether t.me links reach its messages: not for a basic group, a personal or bot chat,
        or saved messages, whose ids are no channel's (a link would open the wrong chat or none)."""
        return self.kind is None or self.kind in LINKABLE_KINDS

    @property
    def link_name(self) -> str:
        """What goes into ``https://t.me/<link_name>/<message id>``."""
        return self.username or f"c/{self.id}"


@dataclass(slots=True)
class MediaItem:
    """One attachment of a post.

    Either ``path`` (a file on disk, e.g. from an export) or ``content`` (bytes downloaded from
    Telegram) holds the data; both are ``None`` when the file is not available, and
    ``missing_reason`` says why (``"not included in export"``, ``"file missing"``, ...).
    """

    kind: str  # "photo", "document", "sticker", "video_file", ...
    is_image: bool = False
    path: Path | None = None
    content: bytes | None = None
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    missing_reason: str | None = None
    sha256: str | None = None  # set once stored in the archive

    @property
    def is_clip(self) -> bool:
        """A video or animated sticker, read at its key frames (``ocr.clips``) like a poster."""
        return not self.is_image and (self.mime_type or "").lower() in CLIP_MIME_TYPES


VIDEO_LINE_PREFIX = "[video "
"""How a line of a clip's stored text starts (``[video 0:17] ...``): written by ``ocr.video``,
read by the alert formats to call that text what it is."""


def media_text_label(text: str) -> str:
    """``Video text``, ``Poster text`` or both, by the lines of a media excerpt: an analyst
    looking for the words goes to the clip's time, not to an image."""
    lines = [line for line in text.splitlines() if line.strip()]
    video = sum(line.lstrip().startswith(VIDEO_LINE_PREFIX) for line in lines)
    if video and video == len(lines):
        return "Video text"
    return "Poster and video text" if video else "Poster text"


@dataclass(slots=True)
class Post:
    """A channel post as we keep it, whatever road it came by."""

    channel: Channel
    message_id: int
    date: datetime  # UTC, timezone-aware
    text: str = ""
    entities: list[dict[str, Any]] = field(default_factory=list)
    views: int | None = None
    forwards: int | None = None
    fwd_from_id: int | None = None
    fwd_from_name: str | None = None
    reply_to: int | None = None
    grouped_id: int | None = None
    edit_date: datetime | None = None
    author: str | None = None
    media: list[MediaItem] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = "live"  # live | gapfill | backfill | import | check

    @property
    def url(self) -> str | None:
        return message_link(self.channel, self.message_id)


def message_link(channel: Channel, message_id: int) -> str | None:
    """The t.me link of a message, or None where no link reaches it: a chat that is not a channel
    (see :attr:`Channel.linkable`), or a negative id (a migrated supergroup's message from before
    the migration, kept from the basic group it was in)."""
    if message_id < 1 or not channel.linkable:
        return None
    return f"https://t.me/{channel.link_name}/{message_id}"


@dataclass
class OcrOutcome:
    """The result of reading one image: ``done`` with its text, or ``failed`` with a reason
    (a clip, ``ocr.clips``, may also be ``skipped`` with a reason: over the video cap)."""

    status: str  # "done" | "failed" | "skipped"
    text: str = ""  # the lines read with evidence: searched and matched
    reason: str | None = None
    sha256: str | None = None
    phash: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0
    format: str | None = None
    frames: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    doubtful: str = ""  # lines read without the evidence to be trusted: kept for debugging only

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OcrOutcome:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def file_size(size: int) -> str:
    """A file size for a person (``23.4 MB``, ``109 KB``, ``512 bytes``): the one wording of the
    video cap's messages on both roads (``handlers.downloads``, ``ocr.clips``)."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} bytes"
