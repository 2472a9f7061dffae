"""A fake Telegram server behind Telethon's sender seam, answering real TL requests with real TL objects.

Telegram is unreachable from CI, so integration tests run a real :class:`TelegramClient` whose
``_sender`` (Telethon's ``MTProtoSender``) is replaced, before ``connect()``, by
:class:`FakeSender`. Everything above the sender is Telethon's own code: connect and layer
negotiation, ``get_me``, the update loop with its pts bookkeeping and gap detection
(``GetChannelDifference``), duplicate dropping, ``iter_messages``, ``download_media``,
``send_message``/``send_file`` and flood-wait handling. Every answer is serialised to bytes and read
back through ``request.read_result`` as the real network path does, so a malformed object fails here.

Usage::

    server = FakeTelegram()
    chan = server.add_channel(1001, "militia_news", "أخبار المقاومة")
    client = server.client()                   # TelegramClient(StringSession()) with the fake sender
    await client.connect()                     # real Telethon connect: layer, GetUsers, GetState...
    msg = server.post(1001, "الانتقام قادم", photo=png_bytes)     # stored and pushed as an update
    server.post(1001, "missed", push=False)    # stored, pts advanced, NOT pushed: a gap
    server.edit(1001, msg.id, "new text"); server.delete(1001, [msg.id])
    server.fail(functions.messages.GetHistoryRequest, "FLOOD_WAIT_90", code=420)   # next call only
    server.set_private(1001)                   # CHANNEL_PRIVATE for every request on that channel
    server.drop_connection()                   # the link dies past Telethon's retries
    server.requests                            # every request received, in order (unwrapped)
    server.sent                                # SendMessage / SendMedia requests (e.g. a bot sink)

API (kept small on purpose; the alerts tests use it too):

- ``FakeTelegram(self_id=..., bot=False, roundtrip=True)``; ``client(session=None, **kwargs)``
  builds a real TelegramClient wired to this server; ``install(client)`` wires an existing one
  (call before ``connect()``). ``roundtrip=False`` skips the wire (de)serialisation (faster).
- ``add_channel(id, username, title, access_hash=None) -> types.Channel``;
  ``add_user(id, username, first_name) -> types.User`` (a chat to send alerts to).
- ``post(channel_id, text="", *, photo=None, document=None, mime_type=..., file_name=None,
  media=None, grouped_id=None, fwd_from=None, reply_to=None, entities=None, views=None,
  author=None, push=True, date=None) -> types.Message``; ``album(channel_id, [png, ...], text,
  push=True)`` posts a group in one update batch.
- ``edit(channel_id, id, text, push=True)``; ``delete(channel_id, ids, push=True)``;
  ``push(update, channel_id)`` pushes any raw update (wrapped in ``Updates`` with the channel).
  ``push=False`` stores the change and advances pts without telling the client (a gap).
- ``fail(request_type, message, code=400, times=1, match=None)``: the next ``times`` (None: all)
  requests of that type for which ``match(request)`` holds fail with ``RpcError(code,
  message)``, turned into Telethon's own exception (``FLOOD_WAIT_30`` -> ``FloodWaitError``).
- ``set_private(channel_id, private=True)``; ``expire_file_reference(media_id)`` (next GetFile
  fails once with ``FILE_REFERENCE_EXPIRED`` and a fresh reference is issued);
  ``refuse_connections = n`` (the next n connects fail); ``silent = True`` (requests are never
  answered, like a network that blocks Telegram after the TCP handshake); ``drop_connection()``;
  ``authorized = False`` (a fresh session: ``client.start(bot_token=...)`` logs in a bot, or
  ``client.start(phone=..., code_callback=...)`` a user with code ``FakeTelegram.LOGIN_CODE``).
- What the client did: ``requests`` (every request, unwrapped, in order), ``sent`` (SendMessage /
  SendMedia requests), ``uploaded(file_id) -> bytes`` (a file sent with ``send_file``),
  ``files`` (media id -> bytes served).
- ``await wait_for(predicate, timeout)``: wait until a condition on the server holds.
- ``png_bytes(text, size)``: a small real PNG, distinct per text.

Accounts and membership (issue 13): ``add_account(user_id, first_name) -> types.User`` adds another
user of the same world; ``client(account=user_id)`` is its client. ``add_channel(..., joined=False)``
makes a channel whose updates are pushed only to accounts that joined it (``JoinChannel``,
``ImportChatInvite`` of ``add_invite(hash, channel_id)``), as Telegram does; the default keeps
pushing to every account. ``channel_cap = n``: the (n+1)th join of an account fails with
``CHANNELS_TOO_MUCH``. ``ban(user_id, "USER_DEACTIVATED_BAN")``: every request of that account
fails with that 401 error from now on. ``rename(channel_id, username)``: the old name is free.
``requests_of(user_id)``: the requests one account made.

Answers follow Telegram's rules where Telethon depends on them: ``pts`` per channel and
``GetChannelDifference`` from a pts, ``GetHistory`` with ``offset_id``/``add_offset``/``limit``/
``min_id``/``max_id``, file parts by ``offset``/``limit``, and a bot flag that serialises.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telethon import TelegramClient, utils
from telethon.crypto import AuthKey
from telethon.errors import rpc_message_to_error
from telethon.extensions import BinaryReader
from telethon.sessions import StringSession
from telethon.tl import TLObject, functions, types

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"
SELF_ID = 777000111
DC_ID = 2  # Telethon's DEFAULT_DC_ID: files there are served without an exported sender

_BOOL_TRUE = struct.pack("<I", 0x997275B5)
_BOOL_FALSE = struct.pack("<I", 0xBC799737)
_VECTOR = struct.pack("<I", 0x1CB5C415)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _encode(value: Any) -> bytes:
    """Serialise an answer as Telegram would put it on the wire."""
    if value is True:
        return _BOOL_TRUE
    if value is False:
        return _BOOL_FALSE
    if isinstance(value, list):
        return _VECTOR + struct.pack("<i", len(value)) + b"".join(_encode(v) for v in value)
    return bytes(value)


@dataclass
class _ChannelState:
    channel: types.Channel
    messages: dict[int, types.Message] = field(default_factory=dict)
    events: list[tuple[int, TLObject]] = field(default_factory=list)  # (pts after, update)
    pts: int = 1
    next_id: int = 1
    private: bool = False
    members: set[int] | None = None  # accounts that joined; None: updates go to every account


@dataclass
class _Failure:
    request_type: type
    message: str
    code: int
    times: int | None
    match: Callable[[Any], bool] | None


class FakeTelegram:
    """The server side: channels, their messages and pts, files, and scripted failures."""

    def __init__(self, self_id: int = SELF_ID, *, bot: bool = False, roundtrip: bool = True):
        self.me = types.User(
            id=self_id,
            is_self=True,
            bot=bot or None,
            bot_info_version=1 if bot else None,
            access_hash=self_id * 7 + 3,
            first_name="Analyst",
        )
        self.channels: dict[int, _ChannelState] = {}
        self.users: dict[int, types.User] = {self_id: self.me}
        self.files: dict[int, bytes] = {}  # photo/document id -> content
        self.file_refs: dict[int, bytes] = {}
        self.expired_refs: set[int] = set()
        self.failures: list[_Failure] = []
        self.requests: list[Any] = []
        self.sent: list[Any] = []
        self.uploads: dict[int, dict[int, bytes]] = {}
        self.account_pts = 100
        self.account_messages: dict[int, types.Message] = {}  # private chats and basic groups, by id
        self.refuse_connections = 0
        self.silent = False  # True: connections open but nothing is ever answered (a blocked network)
        self.authorized = True
        self.roundtrip = roundtrip
        self.senders: list[FakeSender] = []
        self.accounts: dict[int, types.User] = {self_id: self.me}
        self.banned: dict[int, str] = {}  # account -> the 401 error every request gets
        self.channel_cap: int | None = None
        self.invites: dict[str, int] = {}
        self.requests_by: list[tuple[int, Any]] = []  # (account, request)
        self.current = self_id  # the account whose request is being answered
        self._ids = itertools.count(5_000_000_000)
        self._changed: asyncio.Event | None = None

    # -- wiring ---------------------------------------------------------------------------------
    def client(
        self, session: StringSession | str | None = None, *, account: int | None = None, **kwargs: Any
    ) -> TelegramClient:
        """A real TelegramClient whose network is this server (as ``account``, default the first)."""
        kwargs.setdefault("receive_updates", True)
        client = TelegramClient(session or StringSession(), API_ID, API_HASH, **kwargs)
        self.install(client, account=account)
        return client

    def install(self, client: TelegramClient, *, account: int | None = None) -> FakeSender:
        """Replace ``client._sender`` (call before ``connect()``)."""
        sender = FakeSender(self, client._updates_queue, account if account is not None else self.me.id)
        client._sender = sender
        self.senders.append(sender)
        return sender

    # -- world building -------------------------------------------------------------------------
    def add_account(self, user_id: int, first_name: str = "Analyst") -> types.User:
        """Another account of the same world (its own client: ``client(account=user_id)``)."""
        user = types.User(id=user_id, is_self=True, access_hash=user_id * 7 + 3, first_name=first_name)
        self.accounts[user_id] = user
        self.users[user_id] = user
        return user

    def ban(self, account: int, error: str = "USER_DEACTIVATED_BAN") -> None:
        """Every request of ``account`` fails with ``error`` (401) from now on."""
        self.banned[account] = error

    def add_invite(self, invite_hash: str, channel_id: int) -> None:
        self.invites[invite_hash] = channel_id

    def rename(self, channel_id: int, username: str | None) -> None:
        self.channels[channel_id].channel.username = username

    def requests_of(self, account: int) -> list[Any]:
        return [r for a, r in self.requests_by if a == account]

    def add_channel(
        self,
        channel_id: int,
        username: str | None,
        title: str,
        access_hash: int | None = None,
        *,
        joined: bool = True,
    ) -> types.Channel:
        chan = types.Channel(
            id=channel_id,
            title=title,
            photo=types.ChatPhotoEmpty(),
            date=_now(),
            broadcast=True,
            access_hash=access_hash if access_hash is not None else channel_id * 31 + 17,
            username=username,
        )
        self.channels[channel_id] = _ChannelState(chan, members=None if joined else set())
        return chan

    def add_user(self, user_id: int, username: str | None = None, first_name: str = "User") -> types.User:
        user = types.User(id=user_id, access_hash=user_id * 13 + 5, username=username, first_name=first_name)
        self.users[user_id] = user
        return user

    def set_private(self, channel_id: int, private: bool = True) -> None:
        self.channels[channel_id].private = private

    def fail(
        self,
        request_type: type,
        message: str,
        code: int = 400,
        times: int | None = 1,
        match: Callable[[Any], bool] | None = None,
    ) -> None:
        """Make the next ``times`` (None: every) matching requests fail with an RPC error."""
        self.failures.append(_Failure(request_type, message, code, times, match))

    def expire_file_reference(self, media_id: int) -> None:
        self.expired_refs.add(media_id)

    # -- content ------------------------------------------------------------------------------------
    def make_photo(self, content: bytes, width: int = 800, height: int = 600) -> types.Photo:
        pid = next(self._ids)
        self.files[pid] = content
        self.file_refs[pid] = os.urandom(8)
        sizes: list[Any] = [
            types.PhotoStrippedSize(type="i", bytes=b"\x01\x28\x1e"),
            types.PhotoSize(type="m", w=width // 4, h=height // 4, size=len(content) // 8 or 1),
            types.PhotoSizeProgressive(type="y", w=width, h=height, sizes=[len(content) // 2, len(content)]),
        ]
        return types.Photo(
            id=pid,
            access_hash=pid * 3 + 1,
            file_reference=self.file_refs[pid],
            date=_now(),
            sizes=sizes,
            dc_id=DC_ID,
        )

    def make_document(
        self, content: bytes, mime_type: str, file_name: str | None = None, attributes: list | None = None
    ) -> types.Document:
        did = next(self._ids)
        self.files[did] = content
        self.file_refs[did] = os.urandom(8)
        attrs = list(attributes or [])
        if file_name:
            attrs.append(types.DocumentAttributeFilename(file_name=file_name))
        return types.Document(
            id=did,
            access_hash=did * 3 + 1,
            file_reference=self.file_refs[did],
            date=_now(),
            mime_type=mime_type,
            size=len(content),
            dc_id=DC_ID,
            attributes=attrs,
        )

    def post(
        self,
        channel_id: int,
        text: str = "",
        *,
        photo: bytes | None = None,
        document: bytes | None = None,
        mime_type: str = "application/octet-stream",
        file_name: str | None = None,
        media: Any = None,
        grouped_id: int | None = None,
        fwd_from: types.MessageFwdHeader | None = None,
        reply_to: int | None = None,
        entities: list | None = None,
        views: int | None = None,
        author: str | None = None,
        push: bool = True,
        date: datetime | None = None,
    ) -> types.Message:
        """Publish a channel post: stored, pts advanced, and pushed as an update unless ``push=False``."""
        state = self.channels[channel_id]
        if photo is not None:
            media = types.MessageMediaPhoto(photo=self.make_photo(photo))
        elif document is not None:
            media = types.MessageMediaDocument(document=self.make_document(document, mime_type, file_name))
        msg = types.Message(
            id=state.next_id,
            peer_id=types.PeerChannel(channel_id),
            date=date or _now(),
            message=text,
            post=True,
            media=media,
            fwd_from=fwd_from,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
            entities=entities,
            views=views if views is not None else 1,
            forwards=0,
            grouped_id=grouped_id,
            post_author=author,
        )
        state.next_id += 1
        state.messages[msg.id] = msg
        self._advance(state, types.UpdateNewChannelMessage(message=msg, pts=0, pts_count=1), push)
        return msg

    def album(
        self, channel_id: int, images: list[bytes], text: str = "", push: bool = True
    ) -> list[types.Message]:
        """Post a grouped album: one message per image, the caption on the first, one update batch."""
        gid = next(self._ids)
        msgs = [
            self.post(channel_id, text if i == 0 else "", photo=img, grouped_id=gid, push=False)
            for i, img in enumerate(images)
        ]
        if push:
            state = self.channels[channel_id]
            ups = [u for _, u in state.events[-len(msgs) :]]
            self._push(types.Updates(updates=ups, users=[], chats=[state.channel], date=_now(), seq=0), state)
        return msgs

    def edit(self, channel_id: int, message_id: int, text: str, push: bool = True) -> types.Message:
        state = self.channels[channel_id]
        old = state.messages[message_id]
        msg = types.Message(**{**_fields(old), "message": text, "edit_date": _now()})
        state.messages[message_id] = msg
        self._advance(state, types.UpdateEditChannelMessage(message=msg, pts=0, pts_count=1), push)
        return msg

    def delete(self, channel_id: int, ids: list[int], push: bool = True) -> None:
        state = self.channels[channel_id]
        for i in ids:
            state.messages.pop(i, None)
        upd = types.UpdateDeleteChannelMessages(
            channel_id=channel_id, messages=list(ids), pts=0, pts_count=len(ids)
        )
        self._advance(state, upd, push)

    def push(self, update: Any, channel_id: int | None = None) -> None:
        chats = [self.channels[channel_id].channel] if channel_id is not None else []
        state = self.channels[channel_id] if channel_id is not None else None
        self._push(types.Updates(updates=[update], users=[], chats=chats, date=_now(), seq=0), state)

    def _advance(self, state: _ChannelState, update: Any, push: bool) -> None:
        state.pts += update.pts_count
        update.pts = state.pts
        state.events.append((state.pts, update))
        if push:
            chats = [state.channel, *self._mentioned_chats(update)]
            self._push(types.Updates(updates=[update], users=[], chats=chats, date=_now(), seq=0), state)
        self._notify()

    def _chats_for(self, state: _ChannelState, messages: list[Any]) -> list[types.Channel]:
        chats = {state.channel.id: state.channel}
        for msg in messages:
            for chat in self._mentioned_chats(types.UpdateNewChannelMessage(message=msg, pts=0, pts_count=0)):
                chats[chat.id] = chat
        return list(chats.values())

    def _mentioned_chats(self, update: Any) -> list[types.Channel]:
        """Chats an update refers to besides its own (a forward's source), sent along as Telegram does."""
        fwd = getattr(getattr(update, "message", None), "fwd_from", None)
        source = getattr(getattr(fwd, "from_id", None), "channel_id", None)
        return [self.channels[source].channel] if source in self.channels else []

    def _push(self, updates: Any, state: _ChannelState | None = None) -> None:
        """Telegram pushes a channel's updates only to the accounts that joined it."""
        members = state.members if state is not None else None
        for sender in self.senders:
            if sender.is_connected() and (members is None or sender.account in members):
                sender.deliver(updates)

    def drop_connection(self) -> None:
        """The connection dies and Telethon's retries are exhausted (the client is disconnected)."""
        for sender in self.senders:
            sender.lose(ConnectionError("fake: connection lost after retries"))

    # -- waiting --------------------------------------------------------------------------------
    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked on every request and post), or fail."""
        if self._changed is None:
            self._changed = asyncio.Event()
        deadline = time.monotonic() + timeout
        while not predicate():
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("fake telegram: condition not reached")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    # -- answering ------------------------------------------------------------------------------
    def answer(self, request: Any, account: int | None = None) -> Any:
        """The TL answer to one request of ``account`` (raises RpcError-derived exceptions)."""
        self.current = account if account is not None else self.me.id
        while isinstance(
            request,
            functions.InvokeWithLayerRequest
            | functions.InitConnectionRequest
            | functions.InvokeWithoutUpdatesRequest
            | functions.InvokeAfterMsgRequest,
        ):
            request = request.query
        self.requests.append(request)
        self.requests_by.append((self.current, request))
        self._notify()
        if self.current in self.banned:
            raise rpc_message_to_error(types.RpcError(401, self.banned[self.current]), request)
        for failure in list(self.failures):
            if isinstance(request, failure.request_type) and (
                failure.match is None or failure.match(request)
            ):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                raise rpc_message_to_error(types.RpcError(failure.code, failure.message), request)
        handler = getattr(self, "_on_" + type(request).__name__, None)
        if handler is None:
            raise rpc_message_to_error(types.RpcError(400, "METHOD_NOT_FAKED"), request)
        return handler(request)

    def _error(self, request: Any, message: str, code: int = 400) -> Exception:
        return rpc_message_to_error(types.RpcError(code, message), request)

    def _channel(self, request: Any, input_channel: Any) -> _ChannelState:
        cid = getattr(input_channel, "channel_id", None)
        state = self.channels.get(cid) if cid is not None else None
        if state is None or input_channel.access_hash != state.channel.access_hash:
            raise self._error(request, "CHANNEL_INVALID")
        if state.private:
            raise self._error(request, "CHANNEL_PRIVATE")
        return state

    def _on_GetConfigRequest(self, request: Any) -> Any:
        return None  # the result of the layer handshake is not read by Telethon

    def _on_GetUsersRequest(self, request: Any) -> list:
        if not self.authorized:
            raise self._error(request, "AUTH_KEY_UNREGISTERED", 401)
        out = []
        for inp in request.id:
            if isinstance(inp, types.InputUserSelf):
                out.append(self.accounts.get(self.current, self.me))
            elif getattr(inp, "user_id", None) in self.users:
                out.append(self.users[inp.user_id])
        return out

    def _on_GetStateRequest(self, request: Any) -> Any:
        if not self.authorized:
            raise self._error(request, "AUTH_KEY_UNREGISTERED", 401)
        return types.updates.State(pts=self.account_pts, qts=0, date=_now(), seq=0, unread_count=0)

    def _on_GetDifferenceRequest(self, request: Any) -> Any:
        return types.updates.DifferenceEmpty(date=_now(), seq=0)

    LOGIN_CODE = "12345"

    def _on_SendCodeRequest(self, request: Any) -> Any:
        return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=5), phone_code_hash="fakehash")

    def _on_SignInRequest(self, request: Any) -> Any:
        if request.phone_code_hash != "fakehash" or request.phone_code != self.LOGIN_CODE:
            raise self._error(request, "PHONE_CODE_INVALID")
        self.authorized = True
        return types.auth.Authorization(user=self.me)

    def _on_ImportBotAuthorizationRequest(self, request: Any) -> Any:
        self.me.bot = True
        self.me.bot_info_version = 1  # Telegram sends both flags together (serialisation checks it)
        self.authorized = True
        return types.auth.Authorization(user=self.me)

    def _on_GetChannelDifferenceRequest(self, request: Any) -> Any:
        state = self._channel(request, request.channel)
        pending = [(pts, u) for pts, u in state.events if pts > request.pts]
        if not pending:
            return types.updates.ChannelDifferenceEmpty(pts=state.pts, final=True)
        chunk = pending[: request.limit]
        final = len(chunk) == len(pending)
        # As Telegram: the messages as they are now (edits applied), none that was deleted since.
        new_messages = [
            state.messages[u.message.id]
            for _, u in chunk
            if isinstance(u, types.UpdateNewChannelMessage) and u.message.id in state.messages
        ]
        others = [u for _, u in chunk if not isinstance(u, types.UpdateNewChannelMessage)]
        return types.updates.ChannelDifference(
            pts=chunk[-1][0],
            new_messages=new_messages,
            other_updates=others,
            chats=self._chats_for(state, new_messages),
            users=[],
            final=final,
        )

    def _on_GetHistoryRequest(self, request: Any) -> Any:
        peer = request.peer
        state = self._channel(request, types.InputChannel(peer.channel_id, peer.access_hash))
        ids = sorted(state.messages, reverse=True)  # Telegram serves newest first
        # Position of the first message older than offset_id, shifted by add_offset (may be negative).
        pos = (
            0
            if not request.offset_id
            else next((i for i, m in enumerate(ids) if m < request.offset_id), len(ids))
        )
        start = pos + request.add_offset
        end = start + request.limit
        chosen = ids[max(start, 0) : max(end, 0)]
        chosen = [m for m in chosen if m > request.min_id and (not request.max_id or m < request.max_id)]
        return types.messages.ChannelMessages(
            pts=state.pts,
            count=len(ids),
            messages=[state.messages[m] for m in chosen],
            topics=[],
            chats=self._chats_for(state, [state.messages[m] for m in chosen]),
            users=[],
        )

    def _on_GetMessagesRequest(self, request: Any) -> Any:  # channels.getMessages
        state = self._channel(request, request.channel)
        out: list[Any] = []
        for inp in request.id:
            msg = state.messages.get(getattr(inp, "id", None))
            out.append(msg if msg is not None else types.MessageEmpty(id=getattr(inp, "id", 0)))
        return types.messages.ChannelMessages(
            pts=state.pts,
            count=len(out),
            messages=out,
            topics=[],
            chats=self._chats_for(state, out),
            users=[],
        )

    def _on_GetChannelsRequest(self, request: Any) -> Any:
        return types.messages.Chats(chats=[self._channel(request, c).channel for c in request.id])

    def _on_ResolveUsernameRequest(self, request: Any) -> Any:
        name = request.username.lower()
        for state in self.channels.values():
            if (state.channel.username or "").lower() == name:
                if state.private:
                    raise self._error(request, "CHANNEL_PRIVATE")
                return types.contacts.ResolvedPeer(
                    peer=types.PeerChannel(state.channel.id), chats=[state.channel], users=[]
                )
        for user in self.users.values():
            if (user.username or "").lower() == name:
                return types.contacts.ResolvedPeer(peer=types.PeerUser(user.id), chats=[], users=[user])
        raise self._error(request, "USERNAME_NOT_OCCUPIED")

    def _on_JoinChannelRequest(self, request: Any) -> Any:
        return self._join(request, self._channel(request, request.channel))

    def _on_ImportChatInviteRequest(self, request: Any) -> Any:
        cid = self.invites.get(request.hash)
        if cid is None:
            raise self._error(request, "INVITE_HASH_EXPIRED")
        state = self.channels[cid]
        if state.members is not None and self.current in state.members:
            raise self._error(request, "USER_ALREADY_PARTICIPANT")
        return self._join(request, state)

    def _on_CheckChatInviteRequest(self, request: Any) -> Any:
        cid = self.invites.get(request.hash)
        members = self.channels[cid].members if cid is not None else None
        if cid is None or (members is not None and self.current not in members):
            raise self._error(request, "INVITE_HASH_EXPIRED")  # only "already a member" is faked
        return types.ChatInviteAlready(chat=self.channels[cid].channel)

    def _on_LeaveChannelRequest(self, request: Any) -> Any:
        state = self._channel(request, request.channel)
        if state.members is not None:
            state.members.discard(self.current)
        return types.Updates(updates=[], users=[], chats=[state.channel], date=_now(), seq=0)

    def _join(self, request: Any, state: _ChannelState) -> Any:
        if state.members is not None and self.current not in state.members:
            if self.channel_cap is not None:
                mine = sum(
                    1 for s in self.channels.values() if s.members is not None and self.current in s.members
                )
                if mine >= self.channel_cap:
                    raise self._error(request, "CHANNELS_TOO_MUCH")
            state.members.add(self.current)
        state.channel.left = None
        return types.Updates(updates=[], users=[], chats=[state.channel], date=_now(), seq=0)

    def _on_GetFileRequest(self, request: Any) -> Any:
        loc = request.location
        fid = getattr(loc, "id", None)
        if fid not in self.files:
            raise self._error(request, "FILE_ID_INVALID")
        if fid in self.expired_refs:
            self.expired_refs.discard(fid)
            self.file_refs[fid] = os.urandom(8)
            self._refresh_reference(fid)
            raise self._error(request, "FILE_REFERENCE_EXPIRED")
        if loc.file_reference != self.file_refs[fid]:
            raise self._error(request, "FILE_REFERENCE_EXPIRED")
        data = self.files[fid][request.offset : request.offset + request.limit]
        return types.upload.File(type=types.storage.FilePartial(), mtime=0, bytes=data)

    def _refresh_reference(self, fid: int) -> None:
        """Messages carry the new file reference from now on (as a refetch would show)."""
        for state in self.channels.values():
            for msg in state.messages.values():
                media = msg.media
                obj = getattr(media, "photo", None) or getattr(media, "document", None)
                if obj is not None and obj.id == fid:
                    obj.file_reference = self.file_refs[fid]

    def _on_SaveFilePartRequest(self, request: Any) -> bool:
        self.uploads.setdefault(request.file_id, {})[request.file_part] = request.bytes
        return True

    def _on_SaveBigFilePartRequest(self, request: Any) -> bool:
        return self._on_SaveFilePartRequest(request)

    def uploaded(self, file_id: int) -> bytes:
        parts = self.uploads.get(file_id, {})
        return b"".join(parts[i] for i in sorted(parts))

    def _on_SendMessageRequest(self, request: Any) -> Any:
        self.sent.append(request)
        return self._sent_message(request, request.message, None)

    def _on_SendMediaRequest(self, request: Any) -> Any:
        self.sent.append(request)
        media: Any = types.MessageMediaEmpty()
        inp = request.media
        if isinstance(inp, types.InputMediaUploadedPhoto):
            media = types.MessageMediaPhoto(photo=self.make_photo(self.uploaded(inp.file.id)))
        elif isinstance(inp, types.InputMediaUploadedDocument):
            media = types.MessageMediaDocument(
                document=self.make_document(
                    self.uploaded(inp.file.id), inp.mime_type, attributes=inp.attributes
                )
            )
        return self._sent_message(request, request.message, media)

    def _sent_message(self, request: Any, text: str, media: Any) -> Any:
        peer = request.peer
        now = _now()
        if isinstance(peer, types.InputPeerChannel):
            state = self._channel(request, types.InputChannel(peer.channel_id, peer.access_hash))
            msg = types.Message(
                id=state.next_id,
                peer_id=types.PeerChannel(peer.channel_id),
                date=now,
                message=text,
                out=True,
                post=True,
                media=media,
                entities=request.entities,
                reply_markup=getattr(request, "reply_markup", None),
            )
            state.next_id += 1
            state.messages[msg.id] = msg
            state.pts += 1
            upd: Any = types.UpdateNewChannelMessage(message=msg, pts=state.pts, pts_count=1)
            state.events.append((state.pts, upd))
            chats = [state.channel]
        else:
            if isinstance(peer, types.InputPeerUser):
                if peer.user_id not in self.users:
                    raise self._error(request, "PEER_ID_INVALID")
                peer_id: Any = types.PeerUser(peer.user_id)
            elif isinstance(peer, types.InputPeerChat):
                peer_id = types.PeerChat(peer.chat_id)
            else:
                peer_id = types.PeerUser(self.me.id)
            self.account_pts += 1
            msg = types.Message(
                id=self.account_pts,
                peer_id=peer_id,
                date=now,
                message=text,
                out=True,
                media=media,
                from_id=types.PeerUser(self.me.id),
                entities=request.entities,
                reply_markup=getattr(request, "reply_markup", None),
            )
            self.account_messages[msg.id] = msg
            upd = types.UpdateNewMessage(message=msg, pts=self.account_pts, pts_count=1)
            chats = []
        return types.Updates(
            updates=[types.UpdateMessageID(id=msg.id, random_id=request.random_id), upd],
            users=list(self.users.values()),
            chats=chats,
            date=now,
            seq=0,
        )


def _fields(obj: TLObject) -> dict[str, Any]:
    d = dict(obj.__dict__)
    d.pop("_", None)
    return {k: v for k, v in d.items() if not k.startswith("_")}


class FakeSender:
    """Stands where Telethon's MTProtoSender stands; requests go to :class:`FakeTelegram`."""

    def __init__(self, server: FakeTelegram, updates_queue: asyncio.Queue, account: int):
        self.server = server
        self.account = account
        self.auth_key = AuthKey(hashlib.sha256(b"fake").digest() * 8)
        self._updates_queue = updates_queue
        self._user_connected = False
        self._disconnected_future: asyncio.Future | None = None
        self._connection = None

    async def connect(self, connection: Any) -> bool:
        if self._user_connected:
            return False
        if self.server.refuse_connections > 0:
            self.server.refuse_connections -= 1
            raise ConnectionError("fake: connection refused")
        self._connection = connection  # never opened: no socket is ever made
        self._user_connected = True
        self._disconnected_future = asyncio.get_running_loop().create_future()
        return True

    def is_connected(self) -> bool:
        return self._user_connected

    def _transport_connected(self) -> bool:
        return self._user_connected

    def _keepalive_ping(self, rnd_id: int) -> None:
        pass

    async def disconnect(self) -> None:
        if self._user_connected:
            self._user_connected = False
            if self._disconnected_future is not None and not self._disconnected_future.done():
                self._disconnected_future.set_result(None)

    def lose(self, error: Exception) -> None:
        if self._user_connected:
            self._user_connected = False
            if self._disconnected_future is not None and not self._disconnected_future.done():
                self._disconnected_future.set_exception(error)

    @property
    def disconnected(self) -> asyncio.Future:
        fut = self._disconnected_future
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            self._disconnected_future = fut
        return asyncio.shield(fut)

    def deliver(self, updates: Any) -> None:
        self._updates_queue.put_nowait(self._copy(updates) if self.server.roundtrip else updates)

    @staticmethod
    def _copy(obj: Any) -> Any:
        with BinaryReader(bytes(obj)) as reader:
            return reader.tgread_object()

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if utils.is_list_like(request):
            return [self._send_one(r) for r in request]
        return self._send_one(request)

    def _send_one(self, request: Any) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if self.server.silent:
            self.server.requests.append(request)
            self.server.requests_by.append((self.account, request))
            self.server._notify()
            return future  # a black hole: the request never gets an answer
        if self.server.roundtrip:
            bytes(request)  # a request Telethon could not serialise fails here, as it would for real
        try:
            result = self.server.answer(request, self.account)
        except Exception as exc:  # an RPC error: delivered through the future as the real sender does
            future.set_exception(exc)
            return future
        if result is not None and self.server.roundtrip:
            data = _encode(result)
            with BinaryReader(data) as reader:
                result = request.read_result(reader)
        self._store_own_updates(result)
        future.set_result(result)
        return future

    def _store_own_updates(self, obj: Any) -> None:
        """Like MTProtoSender: updates returned by a request are processed but not dispatched."""
        if isinstance(obj, types.Updates | types.UpdateShortSentMessage | types.UpdateShort):
            obj._self_outgoing = True
            self._updates_queue.put_nowait(obj)


def png_bytes(text: str = "poster", size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real PNG (distinct per ``text``) for media tests."""
    from PIL import Image, ImageDraw

    digest = hashlib.sha256(text.encode()).digest()
    img = Image.new("RGB", size, (digest[0], digest[1], digest[2]))
    ImageDraw.Draw(img).text((2, 2), text[:8], fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
