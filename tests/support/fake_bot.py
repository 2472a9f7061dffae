"""The fake Telegram seen from a bot: analysts write to it, press its buttons, add it to groups.

:class:`FakeBotTelegram` extends :class:`tests.support.fake_telegram.FakeTelegram` with what a bot
desk needs, answered with real TL objects through the same wire round trip:

- world: ``add_chat(id, title)`` (a basic group); users come from ``add_user``;
  ``add_to_chat(user_id, chat_id)``: someone adds the bot to a group (a service message).
- analysts act: ``user_message(user_id, text, chat_id=None, photo=None, document=None,
  mime_type=..., reply_to=None)`` pushes an ``UpdateNewMessage`` (a private chat, or the basic
  group ``chat_id``) with the account's pts, as Telegram does; ``press(user_id, message, data)``
  pushes an ``UpdateBotCallbackQuery`` for a button of a message the bot sent.
- the bot's requests: ``messages.editMessage`` (the message is changed in place and an
  ``UpdateEditMessage``/``UpdateEditChannelMessage`` returned), ``messages.setBotCallbackAnswer``
  (kept in ``answers``), ``channels.leaveChannel`` and ``messages.deleteChatUser`` (kept in
  ``left``), ``messages.getMessages`` (a reply's original), besides the sends of the base.
- ``edits`` (every EditMessage request that succeeded), ``answers``, ``left``;
  ``message(peer_id, id)`` the message as it stands now (after edits).
"""

from __future__ import annotations

import itertools
from typing import Any

from telethon.tl import functions, types

from tests.support.fake_telegram import FakeTelegram, _now

BOT_TOKEN = "123456:fake-bot-token"


class FakeBotTelegram(FakeTelegram):
    """A fake Telegram whose client logs in as a bot (``client.start(bot_token=BOT_TOKEN)``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(bot=True, **kwargs)
        self.me.bot_info_version = 1  # a bot User must carry it to serialise
        self.authorized = False
        self.chats: dict[int, types.Chat] = {}
        self.edits: list[Any] = []
        self.answers: list[Any] = []
        self.left: list[Any] = []
        self._queries = itertools.count(9_000_000_000_000)

    # -- world ------------------------------------------------------------------------------------
    def add_chat(self, chat_id: int, title: str) -> types.Chat:
        chat = types.Chat(
            id=chat_id,
            title=title,
            photo=types.ChatPhotoEmpty(),
            participants_count=3,
            date=_now(),
            version=1,
        )
        self.chats[chat_id] = chat
        return chat

    # -- analysts acting ----------------------------------------------------------------------------
    def user_message(
        self,
        user_id: int,
        text: str = "",
        *,
        chat_id: int | None = None,
        photo: bytes | None = None,
        document: bytes | None = None,
        mime_type: str = "application/octet-stream",
        reply_to: int | None = None,
    ) -> types.Message:
        """An analyst writes to the bot (privately, or in the basic group ``chat_id``)."""
        media: Any = None
        if photo is not None:
            media = types.MessageMediaPhoto(photo=self.make_photo(photo))
        elif document is not None:
            media = types.MessageMediaDocument(document=self.make_document(document, mime_type, "file.bin"))
        self.account_pts += 1
        peer: Any = types.PeerChat(chat_id) if chat_id is not None else types.PeerUser(user_id)
        msg = types.Message(
            id=self.account_pts,
            peer_id=peer,
            date=_now(),
            message=text,
            from_id=types.PeerUser(user_id),
            media=media,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        )
        self.account_messages[msg.id] = msg
        update = types.UpdateNewMessage(message=msg, pts=self.account_pts, pts_count=1)
        chats = [self.chats[chat_id]] if chat_id is not None else []
        self._push(
            types.Updates(updates=[update], users=[self.users[user_id]], chats=chats, date=_now(), seq=0)
        )
        self._notify()
        return msg

    def add_to_chat(self, user_id: int, chat_id: int) -> None:
        """``user_id`` adds the bot to the basic group ``chat_id`` (a service message)."""
        self.account_pts += 1
        msg = types.MessageService(
            id=self.account_pts,
            peer_id=types.PeerChat(chat_id),
            date=_now(),
            action=types.MessageActionChatAddUser(users=[self.me.id]),
            from_id=types.PeerUser(user_id),
        )
        update = types.UpdateNewMessage(message=msg, pts=self.account_pts, pts_count=1)
        users = [self.users[user_id], self.me]
        self._push(
            types.Updates(updates=[update], users=users, chats=[self.chats[chat_id]], date=_now(), seq=0)
        )
        self._notify()

    def press(self, user_id: int, message: types.Message, data: bytes) -> int:
        """An analyst presses a button (its ``data``) under ``message``; returns the query id."""
        query_id = next(self._queries)
        update = types.UpdateBotCallbackQuery(
            query_id=query_id,
            user_id=user_id,
            peer=message.peer_id,
            msg_id=message.id,
            chat_instance=42,
            data=data,
        )
        chats: list[Any] = []
        if isinstance(message.peer_id, types.PeerChannel):
            chats = [self.channels[message.peer_id.channel_id].channel]
        elif isinstance(message.peer_id, types.PeerChat):
            chats = [self.chats[message.peer_id.chat_id]]
        self._push(
            types.Updates(updates=[update], users=[self.users[user_id]], chats=chats, date=_now(), seq=0)
        )
        self._notify()
        return query_id

    def message(self, peer: Any, message_id: int) -> types.Message:
        """A message as it stands now (``peer`` a ``PeerChannel`` or anything else for the account)."""
        if isinstance(peer, types.PeerChannel):
            return self.channels[peer.channel_id].messages[message_id]
        return self.account_messages[message_id]

    def answers_to(self, query_id: int) -> list[Any]:
        return [a for a in self.answers if a.query_id == query_id]

    # -- the bot's requests -------------------------------------------------------------------------
    def _on_EditMessageRequest(self, request: Any) -> Any:
        peer = request.peer
        fields = {
            "message": request.message,
            "entities": request.entities,
            "reply_markup": request.reply_markup,
        }
        fields = {k: v for k, v in fields.items() if v is not None}
        if isinstance(peer, types.InputPeerChannel):
            state = self._channel(request, types.InputChannel(peer.channel_id, peer.access_hash))
            old = state.messages.get(request.id)
            if old is None:
                raise self._error(request, "MESSAGE_ID_INVALID")
            new = types.Message(**{**_plain(old), **fields, "edit_date": _now()})
            if new.message == old.message and new.reply_markup == old.reply_markup:
                raise self._error(request, "MESSAGE_NOT_MODIFIED")
            state.messages[request.id] = new
            state.pts += 1
            update: Any = types.UpdateEditChannelMessage(message=new, pts=state.pts, pts_count=1)
            state.events.append((state.pts, update))
            chats: list[Any] = [state.channel]
        else:
            old = self.account_messages.get(request.id)
            if old is None:
                raise self._error(request, "MESSAGE_ID_INVALID")
            new = types.Message(**{**_plain(old), **fields, "edit_date": _now()})
            if new.message == old.message and new.reply_markup == old.reply_markup:
                raise self._error(request, "MESSAGE_NOT_MODIFIED")
            self.account_messages[request.id] = new
            self.account_pts += 1
            update = types.UpdateEditMessage(message=new, pts=self.account_pts, pts_count=1)
            chats = list(self.chats.values())
        self.edits.append(request)
        return types.Updates(
            updates=[update], users=list(self.users.values()), chats=chats, date=_now(), seq=0
        )

    def _on_SetBotCallbackAnswerRequest(self, request: Any) -> bool:
        self.answers.append(request)
        return True

    def _on_LeaveChannelRequest(self, request: Any) -> Any:
        state = self._channel(request, request.channel)
        self.left.append(types.PeerChannel(state.channel.id))
        return types.Updates(updates=[], users=[], chats=[state.channel], date=_now(), seq=0)

    def _on_DeleteChatUserRequest(self, request: Any) -> Any:
        if request.chat_id not in self.chats:
            raise self._error(request, "CHAT_ID_INVALID")
        self.left.append(types.PeerChat(request.chat_id))
        return types.Updates(updates=[], users=[], chats=[self.chats[request.chat_id]], date=_now(), seq=0)

    def _on_GetMessagesRequest(self, request: Any) -> Any:
        if not isinstance(request, functions.messages.GetMessagesRequest):
            return super()._on_GetMessagesRequest(request)  # channels.getMessages
        out: list[Any] = []
        for inp in request.id:
            wanted = getattr(inp, "id", None)
            if isinstance(inp, types.InputMessageReplyTo):  # the message that ``inp.id`` replies to
                header = getattr(self.account_messages.get(wanted), "reply_to", None)
                wanted = getattr(header, "reply_to_msg_id", None)
            out.append(self.account_messages.get(wanted) or types.MessageEmpty(id=wanted or 0))
        return types.messages.Messages(
            messages=out, topics=[], chats=list(self.chats.values()), users=list(self.users.values())
        )


def _plain(obj: Any) -> dict[str, Any]:
    d = dict(obj.__dict__)
    d.pop("_", None)
    return {k: v for k, v in d.items() if not k.startswith("_")}
