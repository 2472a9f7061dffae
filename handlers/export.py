"""Telegram Desktop exports (``result.json`` + media folders) turned into posts.

Both shapes are read: the single-chat export (``{"name", "type", "id", "messages": [...]}``) and
the full-account export (``{"chats": {"list": [...]}, "left_chats": {"list": [...]}, ...}``).
The JSON is streamed with ijson (its C backend when available) so a 200,000-message export
never sits in memory whole. Dates come from ``date_unixtime`` (``date`` is the exporting
machine's local time, without an offset; old exports have only that, read in the zone the
import is given, UTC by default). Service messages are not posts. A full-account export's
personal chats, saved messages and bots are the analyst's own, not channel posts: they are
skipped, and the summary names them (:class:`SkippedChat`).

A malformed file raises :class:`ExportError` naming the file and the line/column (or the
message) where it broke; everything imported before that point stays in the archive, and
importing again resumes harmlessly because saving is idempotent.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from handlers.export_messages import INT64, convert_message, repeated
from monitor.core.errors import ExportError
from monitor.core.models import Channel, Post

log = logging.getLogger(__name__)

CHANNEL_TYPES = {
    "public_channel",
    "private_channel",
    "public_supergroup",
    "private_supergroup",
    "private_group",
}


@dataclass(frozen=True)
class SkippedChat:
    """A chat of a full-account export that is not imported, and why (its type says it)."""

    name: str | None
    type: str
    messages: int  # of type "message"

    @property
    def reason(self) -> str:
        return SKIPPED_KINDS.get(self.type, f"a chat of type {self.type!r}, not a channel or group")


SKIPPED_KINDS = {
    "personal_chat": "a personal chat (the analyst's own)",
    "saved_messages": "saved messages (the analyst's own)",
    "bot_chat": "a chat with a bot (the analyst's own)",
}


@dataclass
class ExportSummary:
    """What an import did, for the closing report."""

    chats: int = 0
    messages: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    service: int = 0
    media_stored: int = 0
    media_known: int = 0  # files of posts imported before
    media_missing: int = 0
    alerts: int = 0
    ocr_done: int = 0
    ocr_failed: int = 0
    missing_files: list[str] = field(default_factory=list)
    rejected: int = 0  # messages refused one by one (see Rejected), the others imported
    rejected_messages: list[str] = field(default_factory=list)  # the first 20 reasons
    bytes_done: int = 0  # of result.json, for the progress bar (not reported)
    skipped_chats: list[SkippedChat] = field(default_factory=list)  # full-account export: not imported
    local_dates: int = 0  # messages whose date is the exporting machine's local time only
    timezone: str = "UTC"  # the zone those were read in
    media_folders_absent: set[str] = field(default_factory=set)  # referenced folders the export lacks

    def to_json(self) -> dict[str, Any]:
        return {
            "chats": self.chats,
            "messages": self.messages,
            "posts_new": self.new,
            "posts_updated": self.updated,
            "posts_skipped": self.unchanged,
            "service_messages": self.service,
            "messages_rejected": self.rejected,
            "rejected_reasons": self.rejected_messages,  # the first 20
            "media_stored": self.media_stored,
            "media_already_stored": self.media_known,
            "media_missing": self.media_missing,
            "ocr_done": self.ocr_done,
            "ocr_failed": self.ocr_failed,
            "alerts": self.alerts,
            "missing_files": self.missing_files,
            "media_folders_absent": sorted(self.media_folders_absent),
            "local_dates": self.local_dates,
            "local_dates_read_as": self.timezone if self.local_dates else None,
            "skipped_chats": [
                {"name": c.name, "type": c.type, "messages": c.messages, "reason": c.reason}
                for c in self.skipped_chats
            ],
        }


def locate_export(path: Path) -> Path:
    """``result.json`` itself, or the folder that holds it."""
    path = path.expanduser()
    if path.is_dir():
        candidate = path / "result.json"
        if not candidate.is_file():
            raise ExportError(
                f"{path} holds no result.json: point at a Telegram Desktop export folder or its result.json"
            )
        return candidate
    if not path.exists():
        raise ExportError(f"{path} does not exist")
    return path


class _CountingReader:
    """A binary file wrapper that counts bytes read, for the progress bar."""

    def __init__(self, handle: IO[bytes], on_read: Callable[[int], None] | None):
        self._handle = handle
        self._on_read = on_read
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.position += len(data)
        if self._on_read is not None:
            self._on_read(len(data))
        return data


def iter_export(
    result_json: Path,
    *,
    username: str | None = None,
    on_read: Callable[[int], None] | None = None,
    select: Container[int] | None = None,
    local_tz: tzinfo = UTC,
) -> Iterator[Post | str | SkippedChat]:
    """Yield the export's posts in order; service messages yield the string ``"service"``.

    ``username`` sets the channel's public username (exports do not carry it) for t.me links.
    ``select`` keeps only the messages at these 1-based positions (the others are parsed, to
    find the spot of any error, but not converted). ``local_tz`` reads the dates of old exports
    (see :func:`handlers.export_messages.convert_message`). A full-account export's chats that
    are not imported yield a :class:`SkippedChat` each.

    ijson's C backend (yajl) gives up on valid JSON in two cases: an integer beyond 64 bits
    ("integer overflow") and a lone UTF-16 surrogate escape (``"\\udc00"``, which it turns into
    bytes that are not UTF-8). From that message on, the file is read again by ijson's Python
    backend (slower, any integer, any escape): such a message is refused on its own (see
    :class:`Rejected`), lone surrogates are stored as U+FFFD (and a warning says how many).
    """
    state = _Progress()
    try:
        yield from _iter_export(result_json, ijson, username, on_read, select, state, local_tz)
    except _YajlGaveUp as exc:
        log.info("%s: message #%d: %s: read on by ijson's Python backend", result_json, state.index + 1, exc)
        later = _After(state.index, select)
        slow = _Progress()
        yield from _iter_export(
            result_json, ijson.get_backend("python"), username, None, later, slow, local_tz, state.skipped
        )
        if slow.surrogates:
            log.warning(
                "%s holds %d lone UTF-16 surrogates (\\ud800-\\udfff escapes that are no character): "
                "stored as U+FFFD",
                result_json,
                slow.surrogates,
            )


@dataclass
class _Progress:
    index: int = 0  # messages read whole so far
    surrogates: int = 0  # lone surrogates replaced (by the Python backend's pass)
    skipped: int = 0  # chats not imported, reported so far (a second pass reports only the later ones)


class _YajlGaveUp(Exception):
    """yajl met valid JSON it cannot read: an integer beyond 64 bits or a lone surrogate escape."""


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(message: Any, state: _Progress) -> Any:
    """``message`` with every lone surrogate in its strings replaced by U+FFFD (in place; no
    recursion). Only strings from ijson's Python backend can hold them (a pair decodes whole)."""

    def clean(text: str) -> str:
        fixed, count = _LONE_SURROGATE.subn("\ufffd", text)
        state.surrogates += count
        return fixed

    if isinstance(message, str):
        return clean(message)
    stack = [message]
    while stack:
        value = stack.pop()
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in list(pairs):
            if isinstance(child, str):
                if _LONE_SURROGATE.search(child):
                    value[key] = clean(child)
            elif isinstance(child, dict | list):
                stack.append(child)
    return message


class _After:
    """Message positions after ``index`` that ``select`` keeps (all of them when it is None)."""

    def __init__(self, index: int, select: Container[int] | None):
        self.index, self.select = index, select

    def __contains__(self, position: object) -> bool:
        return (
            isinstance(position, int)
            and position > self.index
            and (self.select is None or position in self.select)
        )


def _iter_export(
    result_json: Path,
    backend: Any,
    username: str | None,
    on_read: Callable[[int], None] | None,
    select: Container[int] | None,
    state: _Progress,
    local_tz: tzinfo,
    reported: int = 0,
) -> Iterator[Post | str | SkippedChat]:
    base = result_json.parent
    try:
        handle = open(result_json, "rb")  # noqa: SIM115 - closed in finally, generator lifetime
    except OSError as exc:
        raise ExportError(f"{result_json}: cannot be read ({exc.strerror})") from None
    reader = _CountingReader(handle, on_read)
    slow = backend is not ijson  # the Python backend: strings may hold lone surrogates
    index = 0
    last_id: Any = None
    try:
        head = handle.read(1)
        if not head:
            raise ExportError(f"{result_json} is empty")
        handle.seek(0)
        kind = _export_kind(result_json)
        if kind == "single":
            chat = _read_chat_header(result_json)
            channel = _channel_for(chat, username, result_json)
            first_seen: dict[Any, int] = {}  # every message's, selected or not: as the block road
            for message in backend.items(reader, "messages.item", use_float=True):
                index += 1
                state.index = index
                last_id = message.get("id") if isinstance(message, dict) else None
                first = _first_position(first_seen, last_id, index)
                if select is None or index in select:
                    if first != index:
                        yield repeated(result_json, last_id, index, first)
                        continue
                    if slow:
                        message = _without_surrogates(message, state)
                    yield convert_message(message, channel, base, result_json, index, local_tz)
        else:
            for chat, messages in _iter_account_chats(reader, backend, _imported):
                if isinstance(messages, int):
                    # The analyst's own chats (personal, saved, bots) are not channel posts: their
                    # messages are counted (not built), and the summary says what was left out.
                    state.skipped += 1
                    if state.skipped > reported:
                        name = chat.get("name")
                        yield SkippedChat(
                            name if isinstance(name, str) else None, str(chat.get("type")), messages
                        )
                    continue
                channel = _channel_for(chat, None, result_json)
                first_seen = {}  # ids repeat only within one chat
                for message in messages:
                    index += 1
                    state.index = index
                    last_id = message.get("id") if isinstance(message, dict) else None
                    first = _first_position(first_seen, last_id, index)
                    if select is None or index in select:
                        if first != index:
                            yield repeated(result_json, last_id, index, first)
                            continue
                        if slow:
                            message = _without_surrogates(message, state)
                        yield convert_message(message, channel, base, result_json, index, local_tz)
    except (ijson.JSONError, UnicodeDecodeError) as exc:  # yajl lets bad UTF-8 through as the latter
        if backend is ijson and _yajl_gave_up(exc):
            raise _YajlGaveUp(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        raise ExportError(_describe_json_error(result_json, exc, index, last_id)) from None
    finally:
        handle.close()


def _first_position(first_seen: dict[Any, int], message_id: Any, index: int) -> int:
    """The position of the first message with this id (``index`` itself when it is the first);
    ids that are not plain integers are left to :func:`convert_message` to refuse."""
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        return index
    return first_seen.setdefault(message_id, index)


# --- the fast road: blocks of whole messages, parsed with orjson ------------------------------
#
# A single-chat export is one big ``messages`` array. Parsing it event by event is the slow part
# of an import, and it cannot be shared between processes. So the array is cut into blocks of
# whole messages, which worker processes parse with orjson on their own. A message is where
# ``{"id":`` begins an object: in valid JSON that text cannot sit inside a string (a quote in a
# string is escaped), and Telegram Desktop writes ``id`` first in messages and nowhere else. A
# block that does not parse as messages (a nested object that starts with ``id``, a malformed
# file) is read again by the event-by-event road, which names the exact spot of any error.

_MESSAGE_START = re.compile(rb'\{\s*"id"\s*:\s*(-?[0-9]{1,25})?')  # the id, when it is a plain number
_MESSAGES_KEY = re.compile(rb'"messages"\s*:\s*\[')
_ARRAY_END = re.compile(rb"\s*\]\s*\}\s*\Z")


@dataclass
class MessageBlock:
    """Whole messages of the ``messages`` array: ``data[0]`` starts the first of ``count`` messages."""

    first_index: int  # 1-based position of its first message in the export
    count: int
    data: bytes
    last: bool  # the final block: the array's closing ``]`` and ``}`` follow its last message
    offset: int = 0  # where ``data`` starts in the file
    size: int = -1  # len(data), kept when the bytes are left behind (see ``hollow``)
    repeats: tuple[tuple[int, int], ...] = ()  # (position, first position) of messages whose id came before

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.data)

    def hollow(self) -> MessageBlock:
        """The same block without its bytes, for a process that reads them from the file itself
        (sending a megabyte through a pipe costs the sender more than reading it costs the reader)."""
        return MessageBlock(
            self.first_index, self.count, b"", self.last, self.offset, self.size, self.repeats
        )

    def filled(self, handle: IO[bytes]) -> MessageBlock:
        """The block with its bytes read again from ``handle`` (the export file)."""
        if self.data or not self.size:
            return self
        handle.seek(self.offset)
        data = handle.read(self.size)
        if len(data) != self.size:
            raise BlockError(f"block at message #{self.first_index}: the file changed under the import")
        return MessageBlock(
            self.first_index, self.count, data, self.last, self.offset, self.size, self.repeats
        )


class BlockError(Exception):
    """A block that does not parse as messages: the event-by-event road reads it instead."""


def iter_message_blocks(
    result_json: Path, *, block_size: int = 1 << 20, on_read: Callable[[int], None] | None = None
) -> Iterator[MessageBlock]:
    """Cut a single-chat export's ``messages`` array into blocks of whole messages, in order.

    Only raw bytes are scanned here (a regex in C), so one process can feed several parsers.
    The scan also notes each message's id: a message whose id an earlier one had is marked in its
    block's ``repeats`` (the first copy is imported, as on the event road), so a repeated id in
    blocks handled by different worker processes is decided the same way on every import.
    Raises :class:`BlockError` if the array cannot be found.
    """
    first_seen: dict[int, int] = {}
    with open(result_json, "rb") as handle:
        buffer = b""
        while (found := _MESSAGES_KEY.search(buffer)) is None:
            chunk = handle.read(block_size)
            if not chunk or len(buffer) > (64 << 20):
                raise BlockError("no messages array at the start of the file")
            if on_read:
                on_read(len(chunk))
            buffer += chunk
        buffer = buffer[found.end() :]
        base = found.end()  # where buffer[0] is in the file
        index = 1
        eof = False
        while not eof:
            chunk = handle.read(block_size)
            if on_read and chunk:
                on_read(len(chunk))
            eof = not chunk
            buffer += chunk
            if eof:
                cut = len(buffer)
            else:
                # The last message start in the buffer: everything before it is whole messages.
                cut = -1
                tail = max(0, len(buffer) - (256 << 10))
                while cut < 0:
                    for match in _MESSAGE_START.finditer(buffer, tail):
                        cut = match.start()
                    if cut < 0 and tail == 0:
                        break
                    tail = 0
                if cut <= 0:
                    continue  # one message larger than the buffer: read on
            data, buffer = buffer[:cut], buffer[cut:]
            repeats = []
            count = 0
            for count, match in enumerate(_MESSAGE_START.finditer(data), 1):
                if match.group(1) is not None:
                    first = first_seen.setdefault(int(match.group(1)), index + count - 1)
                    if first != index + count - 1:
                        repeats.append((index + count - 1, first))
            if count or eof:
                yield MessageBlock(index, count, data, eof, base, repeats=tuple(repeats))
            base += cut
            index += count


HUGE_MESSAGE = 1 << 20
"""A message larger than this (bytes) is parsed by the standard library: orjson's peak is about
13 times a long text (267 MB for one 20 MB message), ``json``'s about 3 times."""
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _loads(piece: bytes) -> Any:
    """One message's JSON. What orjson refuses and ``json`` would take (a surrogate escape, NaN) is
    left to orjson, so a huge message is refused (and read by the event road) like a small one."""
    if len(piece) < HUGE_MESSAGE or _SURROGATE_ESCAPE.search(piece):
        return orjson.loads(piece)
    return json.loads(piece, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def parse_block(block: MessageBlock) -> list[Any]:
    """The messages of a block as JSON values (the parser behind ``ijson.items``, but orjson).

    Raises :class:`BlockError` when the block is not exactly ``count`` messages separated by
    commas (and, for the last block, the end of the array and of the file).
    """
    data = block.data
    starts = [m.start() for m in _MESSAGE_START.finditer(data)]
    if (
        len(starts) != block.count
        or (starts and data[: starts[0]].strip())
        or (not starts and not block.last)
    ):
        raise BlockError(f"block at message #{block.first_index} does not start with a message")
    messages: list[Any] = []
    bounds = [*starts, len(data)]
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        piece = data[start:end].rstrip()
        final = block.last and number == len(starts) - 1
        if final:
            tail = _ARRAY_END.search(piece)
            if tail is None or tail.end() != len(piece):
                raise BlockError("the messages array does not close the file")
            piece = piece[: tail.start()]
        elif piece.endswith(b","):
            piece = piece[:-1]
        else:
            raise BlockError(f"message #{block.first_index + number} is not followed by a comma")
        try:
            messages.append(_loads(piece))
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError) as exc:
            raise BlockError(f"message #{block.first_index + number}: {exc}") from None
    if block.last and not starts and not _ARRAY_END.fullmatch(data):
        raise BlockError("the messages array does not close the file")
    return messages


def convert_block(
    block: MessageBlock, channel: Channel, result_json: Path, local_tz: tzinfo = UTC
) -> list[Post | str]:
    """Posts (and ``"service"`` marks) of a block; :class:`BlockError` or :class:`ExportError`."""
    base = result_json.parent
    repeats = dict(block.repeats)
    items: list[Post | str] = []
    for number, message in enumerate(parse_block(block)):
        index = block.first_index + number
        if index in repeats and isinstance(message, dict):
            items.append(repeated(result_json, message.get("id"), index, repeats[index]))
        else:
            items.append(convert_message(message, channel, base, result_json, index, local_tz))
    return items


def single_chat_channel(result_json: Path, username: str | None) -> Channel | None:
    """The channel of a single-chat export (the fast road), or None for a full-account export."""
    try:
        empty = result_json.stat().st_size == 0
    except OSError as exc:
        raise ExportError(f"{result_json}: cannot be read ({exc.strerror})") from None
    if empty:
        raise ExportError(f"{result_json} is empty")
    if _export_kind(result_json) != "single":
        return None
    return _channel_for(_read_chat_header(result_json), username, result_json)


def _export_kind(result_json: Path) -> str:
    """``single`` (one chat) or ``account`` (full-account export), from the top-level keys."""
    for backend in (ijson, ijson.get_backend("python")):  # the latter: integers beyond 64 bits
        with open(result_json, "rb") as handle:
            try:
                for prefix, event, value in backend.parse(handle):
                    if prefix == "" and event == "map_key":
                        if value == "messages":
                            return "single"
                        if value == "chats":
                            return "account"
                    elif prefix == "" and event not in ("start_map", "map_key"):
                        break
                break
            except (ijson.JSONError, UnicodeDecodeError) as exc:
                if backend is ijson and _yajl_gave_up(exc):
                    continue
                raise ExportError(_describe_json_error(result_json, exc, 0, None)) from None
    raise ExportError(
        f"{result_json}: not a Telegram Desktop export (no top-level 'messages' or 'chats'); "
        "export a channel's history as JSON from Telegram Desktop"
    )


def _yajl_gave_up(exc: Exception) -> bool:
    """Whether ijson's C backend stopped where its Python backend reads on (see :func:`iter_export`);
    bytes that really are not UTF-8 stop the Python backend too, where the error is reported."""
    return isinstance(exc, UnicodeDecodeError) or "integer overflow" in str(exc)


def _read_chat_header(result_json: Path) -> dict[str, Any]:
    """A single-chat export's name, type and id; refuses a ``messages`` that is not a list.
    Read by ijson's Python backend: a few events, and an id of any size is read, to be refused."""
    header: dict[str, Any] = {}
    with open(result_json, "rb") as handle:
        try:
            for prefix, event, value in ijson.get_backend("python").parse(handle):
                if prefix in ("name", "type", "id") and event in ("string", "number"):
                    header[prefix] = value
                elif prefix == "messages":
                    if event != "start_array":
                        raise ExportError(
                            f"{result_json}: 'messages' is {_JSON_KINDS.get(event, event)}, not a list of "
                            "messages: not a Telegram Desktop export; export the channel again as JSON"
                        )
                    break
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise ExportError(_describe_json_error(result_json, exc, 0, None)) from None
    return header


_JSON_KINDS = {"start_map": "an object", "string": "a string", "number": "a number", "null": "null",
               "boolean": "true or false"}  # fmt: skip


def _imported(chat: dict[str, Any]) -> bool:
    """Whether a full-account export's chat is imported: channels and groups, not the analyst's own."""
    return chat.get("type") in CHANNEL_TYPES


def _iter_account_chats(
    reader: _CountingReader, backend: Any, wanted: Callable[[dict[str, Any]], bool]
) -> Iterator[tuple[dict[str, Any], Iterator[dict[str, Any]] | int]]:
    """Stream (chat header, messages) from a full-account export without loading a chat whole;
    a chat that is not ``wanted`` comes with the number of its messages of type "message" instead
    (Desktop writes a chat's name, type and id before its messages)."""
    events = backend.parse(reader, use_float=True)
    chat_prefixes = ("chats.list.item", "left_chats.list.item")
    for prefix, event, _value in events:
        if prefix in chat_prefixes and event == "start_map":
            header: dict[str, Any] = {}
            chat_prefix = prefix
            for p, e, v in events:
                if p == f"{chat_prefix}.messages" and e == "start_array":
                    item = f"{chat_prefix}.messages.item"
                    if wanted(header):
                        yield header, _iter_messages(events, item)
                    else:
                        yield header, _count_messages(events, item)
                    continue
                if p == chat_prefix and e == "end_map":
                    break
                if p in (f"{chat_prefix}.name", f"{chat_prefix}.type", f"{chat_prefix}.id") and e in (
                    "string",
                    "number",
                ):
                    header[p.rsplit(".", 1)[1]] = v


def _count_messages(events: Iterator[tuple[str, str, Any]], item_prefix: str) -> int:
    """Read past a messages array, counting its messages of type "message" (no objects built)."""
    array_prefix = item_prefix.rsplit(".", 1)[0]
    type_prefix = f"{item_prefix}.type"
    items = others = 0
    for prefix, event, value in events:
        if prefix == array_prefix and event == "end_array":
            break
        if prefix == item_prefix and event == "start_map":
            items += 1
        elif prefix == type_prefix and event == "string" and value != "message":
            others += 1
    return items - others


def _iter_messages(events: Iterator[tuple[str, str, Any]], item_prefix: str) -> Iterator[dict[str, Any]]:
    array_prefix = item_prefix.rsplit(".", 1)[0]
    builder: ijson.ObjectBuilder | None = None
    for prefix, event, value in events:
        if prefix == array_prefix and event == "end_array":
            return
        if builder is None:
            if prefix == item_prefix and event == "start_map":
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
            continue
        builder.event(event, value)
        if prefix == item_prefix and event == "end_map":
            yield builder.value
            builder = None


def _channel_for(chat: dict[str, Any], username: str | None, result_json: Path) -> Channel:
    raw_id = chat.get("id")
    if raw_id is None:
        raise ExportError(f"{result_json}: the chat has no 'id'")
    try:
        chat_id = int(raw_id)
    except (TypeError, ValueError):
        raise ExportError(f"{result_json}: chat id {raw_id!r} is not a number") from None
    if chat_id < 0:  # a -100 prefixed id from another tool
        chat_id = int(str(chat_id).removeprefix("-100").removeprefix("-"))
    if not chat_id or chat_id >= INT64:
        raise ExportError(
            f"{result_json}: chat id {raw_id} is not a Telegram chat id (1 to 2^63-1): nothing was imported "
            "from this chat; export it again from Telegram Desktop"
        )
    title = chat.get("name")
    if isinstance(title, str) and _LONE_SURROGATE.search(title):
        title = _without_surrogates(title, _Progress())
        log.warning("%s: the chat's name holds lone UTF-16 surrogates: stored as U+FFFD", result_json)
    kind = chat.get("type")
    return Channel(
        id=chat_id,
        username=username.lstrip("@") if username else None,
        title=title,
        kind=kind if isinstance(kind, str) and kind else None,
    )


def _describe_json_error(result_json: Path, exc: Exception, index: int, last_id: Any) -> str:
    """One sentence naming the file and where the JSON broke (line and column when we can)."""
    where = ""
    data = b""
    try:
        data = result_json.read_bytes()
        json.loads(data.decode("utf-8"))  # strict: json.loads(bytes) would let bad surrogates pass
    except json.JSONDecodeError as decode_error:
        where = f" at line {decode_error.lineno}, column {decode_error.colno} ({decode_error.msg})"
    except UnicodeDecodeError as bad_bytes:
        line = data[: bad_bytes.start].count(b"\n") + 1
        where = f" at line {line} (bytes that are not UTF-8 at offset {bad_bytes.start})"
    except (OSError, MemoryError, RecursionError):  # RecursionError: a value nested thousands deep
        where = ""
    after = f"; {index} messages were read before it (last id {last_id})" if index else ""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{result_json} is not valid JSON{where or ': ' + reason}{after}. Posts read before the error are kept."
