"""Telethon at the edge: TL messages become :class:`~monitor.core.models.Post` records, and live events
are handed to the intake.

The conversion functions are pure (no I/O, no client): everything downstream sees our ``Post``,
never a Telethon object. Media are *described* here (kind, size, mime type, dimensions); their
bytes are fetched by :mod:`handlers.downloads` on the intake's worker, not in the event handler.

Albums: Telegram sends each image of an album as its own message sharing a ``grouped_id``. We
turn a group into ONE post (the first message id, the caption, every image). Telethon's
``events.Album`` does this with an untracked 0.5 s timer task per album; we use our own bounded
grouping in :mod:`handlers.intake` instead, because its pending parts are visible to shutdown
(flushed, not dropped) and the same grouping serves gap-fill and back-fill.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from telethon import TelegramClient, events, utils
from telethon.tl import types

from handlers.polls import PollAnswer, poll_text, with_poll
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.times import utc

log = logging.getLogger(__name__)

IMAGE_DOCUMENT_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp"})
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")

# ---- pure conversion ------------------------------------------------------------------------


def channel_from_entity(entity: Any) -> Channel:
    """Our :class:`Channel` for a TL ``Channel`` (bare id, username, title, access hash)."""
    return Channel(
        id=entity.id,
        username=getattr(entity, "username", None),
        title=getattr(entity, "title", None),
        access_hash=getattr(entity, "access_hash", None),
    )


def input_peer(channel: Channel) -> types.InputPeerChannel:
    """The input peer for a channel whose access hash we keep in the archive (no resolve needed)."""
    return types.InputPeerChannel(channel.id, channel.access_hash or 0)


def message_channel_id(message: Any) -> int | None:
    peer = getattr(message, "peer_id", None)
    return peer.channel_id if isinstance(peer, types.PeerChannel) else None


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Make ``message.to_dict()`` output JSON-safe: bytes -> base64, datetimes -> ISO 8601 UTC.

    Dispatches on exact types first: it runs for every live post, and this is 4x faster than a
    chain of ``isinstance`` checks.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {
            k if type(k) is str else str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float):  # subclasses (enums and the like)
        return value
    if isinstance(value, dict):
        return jsonable(dict(value))
    if isinstance(value, list | tuple):
        return jsonable(list(value))
    if isinstance(value, bytes | bytearray):
        return jsonable(bytes(value))
    return str(value)


def message_json(message: Any) -> dict[str, Any]:
    """The whole message as JSON-safe data, for evidence (no session data is ever part of it)."""
    return jsonable(message.to_dict())


def entities_json(message: Any) -> list[dict[str, Any]]:
    """Formatting entities as small dicts: ``{"type": "hashtag", "offset": 0, "length": 7, ...}``."""
    out = []
    for entity in getattr(message, "entities", None) or []:
        name = type(entity).__name__.removeprefix("MessageEntity")
        item: dict[str, Any] = {"type": _snake(name), "offset": entity.offset, "length": entity.length}
        for extra in ("url", "language", "user_id", "document_id"):
            value = getattr(entity, extra, None)
            if value is not None:
                item[extra] = value
        out.append(item)
    return out


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _largest_photo_size(photo: types.Photo) -> tuple[int | None, int | None, int | None]:
    """(width, height, bytes) of the largest real size of a photo (stripped/path sizes skipped)."""
    best: tuple[int | None, int | None, int | None] = (None, None, None)
    best_area = -1
    for size in photo.sizes or []:
        if isinstance(size, types.PhotoSize):
            nbytes = size.size
        elif isinstance(size, types.PhotoSizeProgressive):
            nbytes = max(size.sizes) if size.sizes else None
        elif isinstance(size, types.PhotoCachedSize):
            nbytes = len(size.bytes)
        else:
            continue
        area = size.w * size.h
        if area > best_area:
            best_area = area
            best = (size.w, size.h, nbytes)
    return best


def _document_kind(doc: types.Document, media: Any) -> tuple[str, str | None, int | None, int | None]:
    """(kind, file name, width, height) of a document from its attributes."""
    kind = "document"
    name = width = height = None
    for attr in doc.attributes or []:
        if isinstance(attr, types.DocumentAttributeFilename):
            name = attr.file_name
        elif isinstance(attr, types.DocumentAttributeSticker):
            kind = "sticker"
        elif isinstance(attr, types.DocumentAttributeAnimated):
            kind = "animation"
        elif isinstance(attr, types.DocumentAttributeVideo):
            kind = (
                "video_message"
                if attr.round_message
                else ("animation" if kind == "animation" else "video_file")
            )
            width, height = attr.w, attr.h
        elif isinstance(attr, types.DocumentAttributeAudio):
            kind = "voice_message" if attr.voice else "audio_file"
        elif isinstance(attr, types.DocumentAttributeImageSize):
            width, height = attr.w, attr.h
    if getattr(media, "round", None):
        kind = "video_message"
    return kind, name, width, height


def is_image_document(doc: types.Document) -> bool:
    """A document that is really a poster: a png/webp/jpg file (not a sticker or animation)."""
    kind, name, _, _ = _document_kind(doc, None)
    if kind != "document":
        return False
    mime = (doc.mime_type or "").lower()
    return mime in IMAGE_DOCUMENT_MIME_TYPES or bool(name and name.lower().endswith(IMAGE_EXTENSIONS))


def media_items(message: Any) -> list[MediaItem]:
    """Describe a message's media (no bytes yet): photos and image documents are images."""
    media = getattr(message, "media", None)
    if media is None or isinstance(media, types.MessageMediaEmpty | types.MessageMediaPoll):
        return []  # a poll is no file: its question and answers are the post's text (message_text)
    if isinstance(media, types.MessageMediaPhoto):
        if not isinstance(media.photo, types.Photo):
            return [MediaItem(kind="photo", is_image=True, missing_reason="photo no longer available")]
        width, height, size = _largest_photo_size(media.photo)
        return [
            MediaItem(
                kind="photo", is_image=True, mime_type="image/jpeg", size=size, width=width, height=height
            )
        ]
    if isinstance(media, types.MessageMediaDocument):
        doc = media.document
        if not isinstance(doc, types.Document):
            return [MediaItem(kind="document", missing_reason="document no longer available")]
        kind, name, width, height = _document_kind(doc, media)
        image = is_image_document(doc)
        mime = (doc.mime_type or "").lower() or None
        if mime == "image/jpg":
            mime = "image/jpeg"
        return [
            MediaItem(
                kind="photo_document" if image else kind,
                is_image=image,
                file_name=name,
                mime_type=mime,
                size=doc.size,
                width=width,
                height=height,
            )
        ]
    name = type(media).__name__.removeprefix("MessageMedia")
    return [MediaItem(kind=_snake(name), missing_reason="not downloaded")]


def message_text(message: Any) -> str:
    """The post's text: the message's own, followed by its poll when it carries one."""
    text = getattr(message, "message", None) or ""
    media = getattr(message, "media", None)
    if isinstance(media, types.MessageMediaPoll) and isinstance(media.poll, types.Poll):
        text = with_poll(text, _poll_text(media.poll, media.results))
    return text


def _plain(value: Any) -> str:
    """A poll's question or answer: ``TextWithEntities`` in current layers, a string in old ones."""
    return value.text if isinstance(value, types.TextWithEntities) else str(value or "")


def _poll_text(poll: types.Poll, results: Any) -> str:
    """A TL poll with its results (when Telegram gives them: not before one's own vote in a poll
    that hides them) as the post text both roads share (:mod:`handlers.polls`)."""
    counts: dict[bytes, Any] = {}
    total = None
    if isinstance(results, types.PollResults):
        counts = {r.option: r for r in results.results or []}
        total = results.total_voters
    answers = []
    for answer in poll.answers or []:
        result = counts.get(answer.option)
        answers.append(
            PollAnswer(
                _plain(answer.text),
                getattr(result, "voters", None),
                correct=bool(getattr(result, "correct", False)),
            )
        )
    return poll_text(
        _plain(poll.question), answers, total_voters=total, closed=bool(poll.closed), quiz=bool(poll.quiz)
    )


def _fwd_from(message: Any) -> tuple[int | None, str | None]:
    fwd = getattr(message, "fwd_from", None)
    if fwd is None:
        return None, None
    peer = fwd.from_id
    fwd_id = None
    if isinstance(peer, types.PeerChannel):
        fwd_id = peer.channel_id
    elif peer is not None:
        fwd_id = utils.get_peer_id(peer, add_mark=False)
    name = fwd.from_name
    if name is None:
        # Telethon's custom Message resolves the source chat from the update's entities.
        chat = getattr(getattr(message, "forward", None), "chat", None)
        name = getattr(chat, "title", None)
    return fwd_id, name


def message_to_post(
    message: Any,
    channel: Channel,
    *,
    source: str = "live",
    fwd_names: dict[int, str] | None = None,
) -> Post:
    """Convert one TL ``Message`` into a :class:`Post` (media described, not downloaded).

    ``fwd_names`` maps channel ids to titles (from the update's or response's entities) so a
    forward from a channel records its name, not just its id.
    """
    fwd_id, fwd_name = _fwd_from(message)
    if fwd_name is None and fwd_id is not None and fwd_names:
        fwd_name = fwd_names.get(fwd_id)
    reply = getattr(message, "reply_to", None)
    return Post(
        channel=channel,
        message_id=message.id,
        date=utc(message.date),
        text=message_text(message),
        entities=entities_json(message),
        views=getattr(message, "views", None),
        forwards=getattr(message, "forwards", None),
        fwd_from_id=fwd_id,
        fwd_from_name=fwd_name,
        reply_to=getattr(reply, "reply_to_msg_id", None),
        grouped_id=getattr(message, "grouped_id", None),
        edit_date=utc(message.edit_date) if getattr(message, "edit_date", None) else None,
        author=getattr(message, "post_author", None),
        media=media_items(message),
        raw=message_json(message),
        source=source,
    )


def album_to_post(
    messages: Sequence[Any],
    channel: Channel,
    *,
    source: str = "live",
    fwd_names: dict[int, str] | None = None,
) -> Post:
    """One post for a grouped album: the first message id, the caption, every image in order."""
    ordered = sorted(
        {m.id: m for m in messages}.values(), key=lambda m: m.id
    )  # a part seen twice counts once
    first = ordered[0]
    caption_msg = next((m for m in ordered if getattr(m, "message", None)), first)
    post = message_to_post(caption_msg, channel, source=source, fwd_names=fwd_names)
    post.message_id = first.id
    post.date = utc(first.date)
    post.media = [item for m in ordered for item in media_items(m)]
    post.entities = entities_json(caption_msg)
    edits = [m.edit_date for m in ordered if getattr(m, "edit_date", None)]
    post.edit_date = utc(max(edits)) if edits else None
    post.raw = {"album": [message_json(m) for m in ordered], "message_ids": [m.id for m in ordered]}
    return post


def group_messages(messages: Iterable[Any]) -> list[list[Any]]:
    """Split messages (ascending ids) into posts: album parts sharing a ``grouped_id`` go together."""
    groups: list[list[Any]] = []
    by_group: dict[tuple[int | None, int], list[Any]] = {}
    for message in messages:
        gid = getattr(message, "grouped_id", None)
        if gid is None:
            groups.append([message])
            continue
        key = (message_channel_id(message), gid)
        if key in by_group:
            by_group[key].append(message)
        else:
            by_group[key] = [message]
            groups.append(by_group[key])
    return groups


def chat_names(entities: Iterable[Any]) -> dict[int, str]:
    """Channel id -> title from the chats that came with an update or a history page."""
    return {e.id: e.title for e in entities if isinstance(e, types.Channel | types.Chat) and e.title}


# ---- event handler registration -------------------------------------------------------------

NewCallback = Callable[[Any, str], Awaitable[None]]
DeletedCallback = Callable[[int, list[int]], Awaitable[None]]


def register_handlers(
    client: TelegramClient,
    *,
    on_message: NewCallback,
    on_deleted: DeletedCallback,
    watched: Callable[[int], bool],
) -> list[Any]:
    """Register NewMessage / MessageEdited / MessageDeleted handlers; returns them for removal.

    Handlers only hand the TL message to the intake (``on_message(message, kind)``), so a slow
    archive or OCR never holds Telethon's update loop. Channels not watched are ignored here
    rather than with Telethon's ``chats=`` filter, which would need a resolve per channel.
    """

    async def new_message(event: events.NewMessage.Event) -> None:
        cid = message_channel_id(event.message)
        if cid is not None and watched(cid):
            await on_message(event.message, "new")

    async def edited_message(event: events.MessageEdited.Event) -> None:
        cid = message_channel_id(event.message)
        if cid is not None and watched(cid):
            await on_message(event.message, "edit")

    async def deleted_message(event: events.MessageDeleted.Event) -> None:
        # Channel deletions carry the channel id; deletions in private chats do not and are ignored.
        cid = event.original_update.channel_id if hasattr(event.original_update, "channel_id") else None
        if cid is not None and watched(cid):
            await on_deleted(cid, list(event.deleted_ids))

    pairs = [
        (new_message, events.NewMessage()),
        (edited_message, events.MessageEdited()),
        (deleted_message, events.MessageDeleted()),
    ]
    for callback, builder in pairs:
        client.add_event_handler(callback, builder)
    return [callback for callback, _ in pairs]


def unregister_handlers(client: TelegramClient, callbacks: Iterable[Any]) -> None:
    for callback in callbacks:
        client.remove_event_handler(callback)
