"""The bot desk on a Telegram client: reads commands and button presses, sends the answers.

Routing only: who is asking (:mod:`monitor.bot.access`), which command or button
(:mod:`monitor.bot.commands`, :mod:`monitor.bot.presses`, :mod:`alerts.buttons`), and the
Telegram side of an answer (send, edit, answer a press, leave a group). Telethon runs each
update's handler in its own task, so a slow ``/similar`` or a flood wait on one answer holds up
only that answer: never the other analysts, and never the alert sink, which sends on the same
client from the outbox's own task. A flood wait up to :attr:`BotDesk.max_wait` seconds is
waited out (in that task); a longer one drops the answer, logged (the analyst can ask again).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from telethon import Button, errors, events
from telethon.tl import functions, types

from alerts.buttons import PageTurn, Press, alert_keyboard, decode
from monitor.bot.access import Access, Who
from monitor.bot.answers import HELP, Answer, e
from monitor.bot.commands import Commands, Photo
from monitor.bot.posters import PosterReader
from monitor.bot.presses import Presses
from monitor.core.config import BotConfig
from monitor.core.errors import MonitorError
from monitor.core.escape import for_terminal
from monitor.core.store import Archive

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"/([A-Za-z_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?", re.S)


class BotDesk:
    """The desk: :meth:`attach` it to a logged-in bot client that takes updates."""

    def __init__(
        self,
        archive: Archive,
        config: BotConfig,
        *,
        detector: Callable[[], Any],
        reader: PosterReader,
        max_image_bytes: int = 25 * 1024 * 1024,
        max_wait: float = 300.0,
    ) -> None:
        self.archive = archive
        self.access = Access(config)
        self.commands = Commands(archive, detector=detector, reader=reader, page_size=config.page_size)
        self.presses = Presses(archive)
        self.max_image_bytes = max_image_bytes
        self.max_wait = max_wait
        self.client: Any = None
        self.username: str | None = None
        self._left: set[int] = set()
        self._handlers: list[tuple[Any, Any]] = []

    # --- wiring ----------------------------------------------------------------------------

    async def attach(self, client: Any) -> None:
        me = await client.get_me()
        self.client, self.username = client, (getattr(me, "username", None) or "").lower() or None
        self._handlers = [
            (self._on_message, events.NewMessage(incoming=True)),
            (self._on_press, events.CallbackQuery()),
            (self._on_added, events.ChatAction()),
        ]
        for handler, event in self._handlers:
            client.add_event_handler(handler, event)
        log.info("bot desk: answering as @%s", self.username or me.id)

    def detach(self) -> None:
        if self.client is not None:
            for handler, event in self._handlers:
                self.client.remove_event_handler(handler, event)
        self._handlers = []

    # --- who -------------------------------------------------------------------------------

    async def _who(self, event: Any, private: bool) -> Who:
        sender = await event.get_sender()
        chat = await event.get_chat()
        return Who(
            chat_id=event.chat_id,
            chat_name=getattr(chat, "username", None),
            user_id=event.sender_id or 0,
            user_name=getattr(sender, "username", None),
            private=private,
        )

    @staticmethod
    def actor(sender: Any, who: Who) -> str:
        """How a decision names the analyst: the @username, else the name and id."""
        if who.user_name:
            return "@" + who.user_name
        name = " ".join(
            filter(None, [getattr(sender, "first_name", None), getattr(sender, "last_name", None)])
        )
        return f"{name or 'user'} (id {who.user_id})"

    async def _refused(self, event: Any, who: Who, what: str) -> bool:
        """True when ``who`` is not answered (logged once; a group not allowed is left)."""
        if self.access.allows(who):
            return False
        self.access.refuse(who, what)
        if not who.private and not self.access.chat_allowed(who):
            await self._leave(event, who)
        return True

    async def _leave(self, event: Any, who: Who) -> None:
        if who.chat_id in self._left:
            return
        self._left.add(who.chat_id)
        peer = await event.get_input_chat()
        if isinstance(peer, types.InputPeerChannel):
            request: Any = functions.channels.LeaveChannelRequest(
                types.InputChannel(peer.channel_id, peer.access_hash)
            )
        elif isinstance(peer, types.InputPeerChat):
            request = functions.messages.DeleteChatUserRequest(peer.chat_id, types.InputUserSelf())
        else:
            return
        log.warning("bot: leaving chat %d (not in [bot] allowed_chats)", who.chat_id)
        await self._call(lambda: self.client(request), "leave a chat")

    # --- messages --------------------------------------------------------------------------

    async def _on_message(self, event: Any) -> None:
        message = event.message
        who = await self._who(event, event.is_private)
        if await self._refused(event, who, "a message"):
            return
        match = _COMMAND.fullmatch((message.message or "").strip())
        if match is None:
            return  # talk among analysts, not for the bot
        name, target, args = match.group(1).lower(), match.group(2), match.group(3) or ""
        if target and self.username and target.lower() != self.username:
            return  # a command for another bot in the group
        try:
            replies = await self.command(name, args, event, who)
        except MonitorError as exc:
            replies = [Answer(f"error: {e(exc)}")]
        except Exception:  # the handler's edge: the analyst hears of it, the log has the traceback
            log.exception("bot: /%s failed", name)
            replies = [Answer(f"/{e(name)} failed: the tgmonitor log says why")]
        for answer in replies:
            await self.send(event.chat_id, answer, reply_to=message.id)

    async def command(self, name: str, args: str, event: Any, who: Who) -> list[Answer]:
        c = self.commands
        if name == "search":
            return [await c.search(args, who.chat_id)]
        if name == "post":
            return await c.post(args)
        if name == "alerts":
            return [await c.alerts(args)]
        if name == "countdowns":
            return [await c.countdowns()]
        if name == "stats":
            return [await c.stats()]
        if name == "health":
            return [await c.health()]
        if name == "similar":
            return [await c.similar(await self._photo(event), args)]
        if name in ("help", "start"):
            return [Answer(HELP)]
        return [Answer(f"unknown command /{name[:32]}: /help lists the commands")]

    async def _photo(self, event: Any) -> Photo:
        """The photo of the message, or of the one it replies to; its size checked before download."""
        message = event.message
        if message.photo is None and message.document is None and message.is_reply:
            message = await event.get_reply_message()
        if message is None or (message.photo is None and message.document is None):
            return Photo(None, "send /similar with a photo, or in reply to one")
        size = message.file.size if message.file is not None else None
        if size is not None and size > self.max_image_bytes:
            return Photo(None, f"that file is {size:,} bytes: at most {self.max_image_bytes:,}")
        data = await message.download_media(file=bytes)
        if not data:
            return Photo(None, "that photo could not be downloaded: send it again")
        if len(data) > self.max_image_bytes:
            return Photo(None, f"that file is {len(data):,} bytes: at most {self.max_image_bytes:,}")
        return Photo(data)

    # --- button presses --------------------------------------------------------------------

    async def _on_press(self, event: Any) -> None:
        who = await self._who(event, isinstance(event.query.peer, types.PeerUser))
        if await self._refused(event, who, "a button press"):
            return  # no answer at all: the press spins out on their side
        what = decode(event.data)
        if isinstance(what, PageTurn):
            query = self.commands.searches.get(what.token, who.chat_id)
            if query is None:
                await self._answer(event, "this search has expired: send /search again", popup=True)
                return
            answer = await self.commands.search_page(query, what.token, what.page)
            await self._answer(event, "")
            await self.edit(event, answer.html, answer.buttons)
            return
        if not isinstance(what, Press):
            await self._answer(event, "this button is not one of this desk's", popup=True)
            return
        result = await self.presses.press(what, self.actor(await event.get_sender(), who))
        await self._answer(event, result.toast, popup=result.popup)
        if result.edit is not None:
            await self.edit(event, result.edit, alert_keyboard(what.alert_id, result.kind, what.caption))
        for reply in result.replies:
            await self.send(event.chat_id, reply, reply_to=event.message_id)

    # --- the Telegram side of an answer ----------------------------------------------------

    @staticmethod
    def _buttons(rows: list[list[tuple[str, bytes]]]) -> Any:
        return [[Button.inline(label, data) for label, data in row] for row in rows] or None

    async def send(self, chat: Any, answer: Answer, *, reply_to: int | None = None) -> None:
        buttons = self._buttons(answer.buttons)
        if answer.photo is not None:
            photo = answer.photo

            async def send_poster() -> Any:
                # uploaded first: send_file(path) leaves the file open while it guesses attributes
                uploaded = await self.client.upload_file(photo)
                return await self.client.send_file(
                    chat, uploaded, caption=answer.html, parse_mode="html", reply_to=reply_to, buttons=buttons
                )

            await self._call(send_poster, "send a poster")
            return
        await self._call(
            lambda: self.client.send_message(
                chat, answer.html, parse_mode="html", link_preview=False, reply_to=reply_to, buttons=buttons
            ),
            "send an answer",
        )

    async def edit(self, event: Any, html: str, rows: list[list[tuple[str, bytes]]]) -> None:
        peer = await event.get_input_chat()
        buttons = self._buttons(rows)
        await self._call(
            lambda: self.client.edit_message(
                peer, event.message_id, html, parse_mode="html", link_preview=False, buttons=buttons
            ),
            "edit a message",
        )

    async def _answer(self, event: Any, text: str, *, popup: bool = False) -> None:
        # plain text on the analyst's screen: control and bidi characters shown, not obeyed
        shown = for_terminal(text, newlines=False)[:200]
        await self._call(lambda: event.answer(shown or None, alert=popup), "answer a press")

    async def _call(self, make: Callable[[], Awaitable[Any]], what: str) -> Any:
        """One request, flood waits up to :attr:`max_wait` waited out in this task only."""
        for _ in range(3):
            try:
                return await make()
            except errors.FloodWaitError as exc:
                if exc.seconds > self.max_wait:
                    log.warning("bot: flood wait of %d s to %s: dropped", exc.seconds, what)
                    return None
                log.info("bot: flood wait of %d s to %s: waiting", exc.seconds, what)
                await asyncio.sleep(exc.seconds)
            except errors.MessageNotModifiedError:
                return None  # the message already shows this
            except errors.RPCError as exc:
                log.warning("bot: Telegram refused to %s: %s", what, exc.message or type(exc).__name__)
                return None
        log.warning("bot: still flood-limited after three waits: could not %s", what)
        return None

    # --- added to a group ------------------------------------------------------------------

    async def _on_added(self, event: Any) -> None:
        if not (event.user_added or event.user_joined):
            return
        me = await self.client.get_me(input_peer=True)
        if me.user_id not in (event.user_ids or []):
            return
        who = Who(event.chat_id, getattr(await event.get_chat(), "username", None), 0, None, False)
        if not self.access.chat_allowed(who):
            self.access.refuse(who, "an invitation")
            await self._leave(event, who)
