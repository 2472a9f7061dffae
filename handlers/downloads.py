"""Fetch the bytes of a post's media from Telegram, on the intake worker (never in a handler).

Photos (largest size) and image documents are always fetched: they are what OCR reads. Clips
(videos, video stickers, GIFs as MP4, round video notes, animated stickers) are fetched up to
``max_video_bytes`` (``[ocr] video_max_bytes``) and read at their key frames; a bigger one is
recorded with its size as not downloaded. Other documents are fetched only when
``max_document_bytes`` allows it. A file reference that expired
between receiving the message and downloading it (common for gap-filled or retried posts) is
renewed by re-fetching the message once, as Telegram documents; Telethon does this itself only
for documents, not photos.
"""

from __future__ import annotations

import logging
from typing import Any

from telethon import TelegramClient, errors

from monitor.core.models import MediaItem, file_size

log = logging.getLogger(__name__)

_REFERENCE_ERRORS = (errors.FileReferenceExpiredError, errors.FilerefUpgradeNeededError)


def wants_download(item: MediaItem, max_document_bytes: int, max_video_bytes: int = 0) -> bool:
    if item.missing_reason is not None:
        return False
    if item.is_image:
        return True
    if item.is_clip and item.size is not None and item.size <= max_video_bytes:
        return True
    return bool(max_document_bytes) and item.size is not None and item.size <= max_document_bytes


def not_downloaded_reason(item: MediaItem, max_video_bytes: int) -> str:
    """Why a file was left on Telegram: a clip over the video cap says its size."""
    if item.is_clip and item.size is not None and item.size > max_video_bytes:
        if not max_video_bytes:
            return "video not downloaded: videos are not read ([ocr] video_max_bytes = 0)"
        return (
            f"video of {file_size(item.size)} not downloaded: over the {file_size(max_video_bytes)} "
            "cap ([ocr] video_max_bytes)"
        )
    return "not downloaded"


async def download_bytes(client: TelegramClient, message: Any) -> bytes:
    """The media of ``message`` as bytes; refetch the message once if its file reference expired."""
    try:
        data = await client.download_media(message, file=bytes)
    except _REFERENCE_ERRORS:
        log.info(
            "file reference expired channel=%s id=%s: refetching the message", message.chat_id, message.id
        )
        fresh = await client.get_messages(message.peer_id, ids=message.id)
        if fresh is None or fresh.media is None:
            raise
        data = await client.download_media(fresh, file=bytes)
    if not isinstance(data, bytes):
        raise ValueError("download returned no bytes")
    return data


async def fill_media(
    client: TelegramClient,
    messages: list[Any],
    items: list[MediaItem],
    max_document_bytes: int = 0,
    max_video_bytes: int = 0,
) -> None:
    """Download into ``items`` (one per message, as :func:`handlers.telegram.media_items` made them).

    A failed download is recorded on the item (``missing_reason``) instead of failing the post:
    the post text is archived now, the image is lost only if Telegram no longer has it.
    """
    for message, item in zip(messages, items, strict=True):
        if not wants_download(item, max_document_bytes, max_video_bytes):
            if item.missing_reason is None and not item.is_image:
                item.missing_reason = not_downloaded_reason(item, max_video_bytes)
            continue
        try:
            item.content = await download_bytes(client, message)
            item.size = len(item.content)
        except (errors.RPCError, ValueError) as exc:
            log.warning("media download failed channel=%s id=%s: %s", message.chat_id, message.id, exc)
            item.missing_reason = f"download failed: {type(exc).__name__}"
