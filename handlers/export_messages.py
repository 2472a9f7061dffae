"""One message of a Telegram Desktop export turned into a :class:`Post`, or rejected on its own.

``handlers/export.py`` reads the file (blocks, events, headers); this module reads one message's
fields: its dates, text and entities, media references, and the checks that keep one hostile
message (an id of 0 or beyond SQLite's 64 bits, JSON nested too deep) from costing the rest
of its batch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

from handlers.polls import PollAnswer, poll_text, with_poll
from monitor.core.entities import utf16_len
from monitor.core.errors import ExportError
from monitor.core.models import IMAGE_MIME_TYPES, Channel, MediaItem, Post

log = logging.getLogger(__name__)

NOT_INCLUDED = "(File not included"

PLACEHOLDERS = {
    "(File not included. Change data exporting settings to download.)": (
        "not included in export (the export's settings left this kind of file out)"
    ),
    "(File exceeds maximum size. Change data exporting settings to download.)": (
        "not included in export (larger than the export's size limit)"
    ),
    "(File unavailable, please try again later)": (
        "unavailable when exported (Telegram did not give the file to Telegram Desktop)"
    ),
}
"""What Telegram Desktop writes instead of a file's path (its ``SkipReason``s, optionally after
the file's name and a space), and the reason recorded for each. Any other ``(File ...)`` text is
taken for a placeholder of a newer Desktop, recorded with its own words, never as a path."""

FILE_MISSING = "file missing: "
"""The start of the reason of a file the export names but its folder does not hold."""

INT64 = 1 << 63
"""SQLite's integers are signed 64-bit: ids, sizes and dimensions at or beyond this are refused."""
MAX_DEPTH = 254
"""How deeply a message's JSON may nest (Telegram writes 4 levels). Deeper is refused: the raw
message is stored as JSON, by orjson, which stops there (and ``json``, its fallback, at Python's
recursion limit)."""


class Rejected(str):
    """A message refused on its own (an id of 0 or beyond 64 bits, JSON nested too deep): the
    reason, naming the file, the message id and its position. A ``str`` like the ``"service"``
    mark, so it is "not a post" wherever posts are picked out; :class:`ExportSummary` counts it."""

    __slots__ = ()


def repeated(result_json: Path, message_id: Any, index: int, first_index: int) -> Rejected:
    """A message whose id an earlier message of the same chat already had: the first copy is the
    one imported (every import of the file then keeps the same one, so re-imports change nothing)."""
    return Rejected(
        f"{_Where(result_json, message_id, index)}: the id repeats message #{first_index}'s, whose "
        "copy was imported; this message was not imported"
    )


class _Refused(Exception):
    """Raised by the readers of one message's fields; :func:`convert_message` makes it a :class:`Rejected`."""


def convert_message(
    message: Any, channel: Channel, base: Path, result_json: Path, index: int, local_tz: tzinfo = UTC
) -> Post | str:
    """One message as a :class:`Post`, ``"service"``, or a :class:`Rejected` reason.

    ``local_tz`` is the zone of the exporting machine, for old exports whose dates carry only
    its local time (no ``date_unixtime``)."""
    if not isinstance(message, dict):
        raise ExportError(f"{result_json}: message #{index} is not an object")
    if message.get("type", "message") != "message":
        return "service"
    message_id = message.get("id")
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise ExportError(f"{result_json}: message #{index} has no valid 'id' (got {message_id!r})")
    # The "where" of an error message is built only when there is an error: this runs per message.
    where = _Where(result_json, message_id, index)
    try:
        # Negative ids are real: a migrated supergroup's messages from before the migration
        # (Desktop writes them so); their link is the chat's (models.message_link).
        if message_id == 0 or not -INT64 < message_id < INT64:
            raise _Refused(f"the id {message_id} is not a message id (nonzero, within 64 bits)")
        _check_depth(message)
        return _post_of(message, message_id, channel, base, where, local_tz)
    except _Refused as refused:
        return Rejected(f"{where}: {refused}; this message was not imported")


def _post_of(
    message: dict[str, Any], message_id: int, channel: Channel, base: Path, where: _Where, local_tz: tzinfo
) -> Post:
    date = _read_date(message, "date", where, local_tz)
    if date is None:
        raise ExportError(f"{where} has no 'date_unixtime' or 'date'")
    text, entities = _read_text(message, where)
    poll = message.get("poll")
    if isinstance(poll, dict):
        text = with_poll(text, _poll_of(poll, where))
    reply_to = message.get("reply_to_message_id")
    if isinstance(reply_to, int | float) and not -INT64 <= reply_to < INT64:  # orjson: a float past u64
        raise _Refused(f"'reply_to_message_id' {reply_to} is beyond 64 bits")
    get = message.get
    return Post(
        channel=channel,
        message_id=message_id,
        date=date,
        text=text,
        entities=entities,
        fwd_from_name=_str_or_none(get("forwarded_from")),
        fwd_from_id=_peer_id(get("forwarded_from_id")),
        reply_to=reply_to if isinstance(reply_to, int) else None,
        edit_date=_read_date(message, "edited", where, local_tz)
        if "edited" in message or "edited_unixtime" in message
        else None,
        author=_str_or_none(get("author")) or _str_or_none(get("from")),
        media=_read_media(message, base) if "photo" in message or "file" in message else [],
        raw=message,
        source="import",
    )


class _Where:
    """``<file>: message id <id> (#<index>)``, formatted only if an error message needs it."""

    __slots__ = ("index", "message_id", "result_json")

    def __init__(self, result_json: Path, message_id: int, index: int):
        self.result_json, self.message_id, self.index = result_json, message_id, index

    def __str__(self) -> str:
        return f"{self.result_json}: message id {self.message_id} (#{self.index})"


def _check_depth(message: dict[str, Any]) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH`, without recursion (a 5,000-deep message
    must not raise RecursionError here either).

    orjson encodes a message (what the store does with it later) in a third of the time a walk
    of it takes in Python: its success says the depth is fine; the walk runs only when it fails
    (too deep, or an integer beyond 64 bits that may hide a deep value after it)."""
    try:
        orjson.dumps(message)
        return
    except TypeError as exc:  # orjson.JSONEncodeError
        if "Recursion" in str(exc):
            raise _Refused(f"its JSON nests deeper than {MAX_DEPTH} levels") from None
    stack: list[tuple[Any, int]] = [(message, 1)]
    while stack:
        value, depth = stack.pop()
        for child in value.values() if type(value) is dict else value:
            if type(child) is dict or type(child) is list:  # exact types: what JSON parsers build
                if depth >= MAX_DEPTH:
                    raise _Refused(f"its JSON nests deeper than {MAX_DEPTH} levels")
                stack.append((child, depth + 1))


def _read_date(message: dict[str, Any], key: str, where: object, local_tz: tzinfo = UTC) -> datetime | None:
    unix = message.get(f"{key}_unixtime")
    if unix not in (None, ""):
        try:
            return datetime.fromtimestamp(int(unix), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise ExportError(f"{where}: '{key}_unixtime' is not a Unix time ({unix!r})") from None
    local = message.get(key)
    if local in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(str(local))
    except ValueError:
        raise ExportError(f"{where}: '{key}' is not a date ({local!r})") from None
    # Old exports lack the Unix time: the exporting machine's local time is all there is, read in
    # ``local_tz`` (UTC unless the import says otherwise: ``--timezone``).
    return value.replace(tzinfo=local_tz).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)


def has_local_date(message: dict[str, Any]) -> bool:
    """Whether a message's date is only the exporting machine's local time (no ``date_unixtime``)."""
    return message.get("date_unixtime") in (None, "") and message.get("date") not in (None, "")


def _poll_of(poll: dict[str, Any], where: object) -> str:
    """Desktop's ``"poll"`` object (question, answers with voters, total, closed) as post text."""
    question = poll.get("question")
    if not isinstance(question, str):
        raise ExportError(f"{where}: the poll has no question text")
    answers = []
    for answer in poll.get("answers") or []:
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise ExportError(f"{where}: a poll answer has no text")
        answers.append(PollAnswer(answer["text"], _count_or_none(answer.get("voters"))))
    return poll_text(
        question,
        answers,
        total_voters=_count_or_none(poll.get("total_voters")),
        closed=poll.get("closed") is True,
    )


def _count_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < INT64 else None


def _read_text(message: dict[str, Any], where: object) -> tuple[str, list[dict[str, Any]]]:
    raw = message.get("text", "")
    parts: list[Any]
    if isinstance(raw, str):
        typed = message.get("text_entities")
        if not isinstance(typed, list) or all(
            isinstance(part, dict) and part.get("type", "plain") == "plain" for part in typed
        ):
            return raw, []  # the common case: plain text, nothing to collect
        parts = [raw]
    elif isinstance(raw, list):
        parts = raw
    else:
        raise ExportError(f"{where}: 'text' must be a string or a list (got {type(raw).__name__})")
    # Offsets and lengths count UTF-16 code units, as Telegram's own entities do (the live road
    # keeps those as they come): one convention for the archive whatever the road.
    text_parts: list[str] = []
    entities: list[dict[str, Any]] = []
    offset = 0
    typed = message.get("text_entities")
    for part in parts:
        if isinstance(part, str):
            text_parts.append(part)
            offset += utf16_len(part)
        elif isinstance(part, dict):
            piece = part.get("text", "")
            if not isinstance(piece, str):
                raise ExportError(f"{where}: a text part has a non-string 'text'")
            entity = {k: v for k, v in part.items() if k != "text"}
            entity.setdefault("type", "plain")
            length = utf16_len(piece)
            if entity["type"] != "plain":
                entities.append({**entity, "offset": offset, "length": length, "text": piece})
            text_parts.append(piece)
            offset += length
        else:
            raise ExportError(f"{where}: 'text' holds a {type(part).__name__}, not a string or an entity")
    text = "".join(text_parts)
    if not entities and isinstance(typed, list):  # some exports carry entities only here
        offset = 0
        for part in typed:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                length = utf16_len(part["text"])
                if part.get("type", "plain") != "plain":
                    entities.append({**part, "offset": offset, "length": length})
                offset += length
    return text, entities


def _read_media(message: dict[str, Any], base: Path) -> list[MediaItem]:
    items: list[MediaItem] = []
    photo = message.get("photo")
    if isinstance(photo, str):
        items.append(
            _media_item(
                base,
                photo,
                kind="photo",
                is_image=True,
                mime_type="image/jpeg",
                size=message.get("photo_file_size"),
                width=message.get("width"),
                height=message.get("height"),
            )
        )
    document = message.get("file")
    if isinstance(document, str):
        mime = _str_or_none(message.get("mime_type"))
        media_type = _str_or_none(message.get("media_type")) or "document"
        items.append(
            _media_item(
                base,
                document,
                kind=media_type,
                is_image=mime in IMAGE_MIME_TYPES,
                mime_type=mime,
                size=message.get("file_size"),
                width=message.get("width"),
                height=message.get("height"),
                file_name=_str_or_none(message.get("file_name")),
            )
        )
    return items


def _media_item(base: Path, reference: str, **fields: Any) -> MediaItem:
    for name in ("size", "width", "height"):
        value = fields.get(name)
        if isinstance(value, int | float) and not -INT64 <= value < INT64:  # orjson: a float past u64
            raise _Refused(f"its {fields['kind']}'s {name} {value} is beyond 64 bits")
    item = MediaItem(**{k: v for k, v in fields.items() if k in MediaItem.__slots__})
    if isinstance(item.size, bool) or not isinstance(item.size, int | None):
        item.size = None
    for dimension in ("width", "height"):
        if not isinstance(getattr(item, dimension), int | None):
            setattr(item, dimension, None)
    placeholder = placeholder_reason(reference)
    if placeholder is not None:
        item.missing_reason = placeholder
        return item
    path = (base / reference).resolve()
    if base.resolve() not in path.parents:
        item.missing_reason = f"outside the export folder: {reference}"
    elif not path.is_file():
        item.missing_reason = f"{FILE_MISSING}{reference}"
    else:
        item.path = path
        if item.file_name is None:
            item.file_name = path.name
    return item


def placeholder_reason(reference: str) -> str | None:
    """The reason a Desktop placeholder stands for, or None for a file path.

    Desktop may write the file's name before the placeholder (``"name (File ...)"``)."""
    for sentence, reason in PLACEHOLDERS.items():
        if reference == sentence or reference.endswith(" " + sentence):
            return reason
    if reference.startswith("(File ") and reference.endswith(")"):
        return f"not in export: Telegram Desktop wrote {reference!r}"
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _peer_id(value: Any) -> int | None:
    if isinstance(value, str):
        digits = value.removeprefix("channel").removeprefix("user").removeprefix("chat")
        if digits.isdigit():
            if len(digits) > 18 and int(digits) >= INT64:
                raise _Refused(f"'forwarded_from_id' {value} is beyond 64 bits")
            return int(digits)
    return None
