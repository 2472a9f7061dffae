"""Who the bot desk answers: ``[bot] allowed_chats`` and ``allowed_users``, nobody else.

The archive is the analysts' work: a bot is found by anyone who guesses its name, and added to
any group by anyone. A message or a button press is taken only from an allowed chat (and, when
``allowed_users`` is set, from one of those users), or in a private chat from an allowed user.
Everyone else gets nothing at all (not even "not allowed": that would confirm what the bot is),
is logged once, and a group that is not allowed is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from monitor.core.config import BotConfig

log = logging.getLogger(__name__)

REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Who:
    """Where a message or a press came from: the chat (Telegram's marked id: -100… for a
    supergroup, -… for a basic group, the user's id for a private chat) and the sender."""

    chat_id: int
    chat_name: str | None
    user_id: int
    user_name: str | None
    private: bool


def _bare(marked: int) -> int:
    """A chat id without Telegram's -100/- marks (config may name a chat either way)."""
    text = str(marked)
    if text.startswith("-100") and len(text) > 4:
        return int(text[4:])
    return abs(marked)


class Access:
    """The allow lists, and the senders already refused (each logged once)."""

    def __init__(self, config: BotConfig) -> None:
        self.chat_ids, self.chat_names = self._split(config.allowed_chats, chats=True)
        self.user_ids, self.user_names = self._split(config.allowed_users, chats=False)
        self._refused: set[int] = set()

    @staticmethod
    def _split(refs: list[str | int], *, chats: bool) -> tuple[set[int], set[str]]:
        ids: set[int] = set()
        names: set[str] = set()
        for ref in refs:
            text = str(ref).strip()
            if text.lstrip("-").isdigit():
                ids.add(_bare(int(text)) if chats else int(text))
            else:
                names.add(text.lstrip("@").lower())
        return ids, names

    def user_listed(self, who: Who) -> bool:
        return who.user_id in self.user_ids or (who.user_name or "").lower() in self.user_names

    def chat_allowed(self, who: Who) -> bool:
        if who.private:
            return self.user_listed(who) or who.user_id in self.chat_ids
        return _bare(who.chat_id) in self.chat_ids or (who.chat_name or "").lower() in self.chat_names

    def allows(self, who: Who) -> bool:
        """Whether to answer: an allowed chat, and an allowed user when the user list is set."""
        if not self.chat_allowed(who):
            return False
        if who.private or not (self.user_ids or self.user_names):
            return True
        return self.user_listed(who)

    def refuse(self, who: Who, what: str) -> None:
        """Log a refused sender once (a group that invites the bot: once per group); never answer them.

        At most :data:`REMEMBERED` senders are remembered: past that a flood of strangers is
        not logged at all rather than held in memory without bound.
        """
        key = who.user_id or who.chat_id
        if key in self._refused or len(self._refused) >= REMEMBERED:
            return
        self._refused.add(key)
        log.warning(
            "bot: ignoring %s from user %d in chat %d (not in [bot] allowed_chats/allowed_users)",
            what,
            who.user_id,
            who.chat_id,
        )
