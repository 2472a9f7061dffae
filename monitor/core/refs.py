"""Channel references as people write them, checked before anything connects.

``@name``, ``name``, ``t.me/name``, ``https://t.me/s/name/123``, a numeric id (``-100…`` or bare)
and private invite links (``t.me/+HASH``, ``t.me/joinchat/HASH``) all name a channel. Telegram's
username rules (5-32 characters, a letter first, letters, digits and ``_``) are checked here, so
a typo is one sentence at ``channels add`` instead of a rate-limited resolve that fails later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.core.errors import ChannelRefError

_HOSTS = r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/"
_INVITE = re.compile(_HOSTS + r"(?:\+|joinchat/)([A-Za-z0-9_-]{8,64})/?$")
_LINK = re.compile(_HOSTS + r"(?:s/)?([^/?#]+)(?:/\d+)?/?(?:\?.*)?$")
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_NUMBER = re.compile(r"-?\d{1,20}")


@dataclass(frozen=True)
class ChannelRef:
    """A checked reference: ``kind`` is ``username``, ``id`` or ``invite``; ``key`` is stable
    (lower-case username, bare id as text, ``+hash``) and keys the archive's channel list."""

    kind: str
    value: str | int
    text: str

    @property
    def key(self) -> str:
        if self.kind == "username":
            return str(self.value).lower()
        if self.kind == "invite":
            return f"+{self.value}"
        return str(self.value)

    @property
    def private(self) -> bool:
        return self.kind == "invite"


def parse_ref(ref: str | int) -> ChannelRef:
    """Check and normalise one reference; :class:`ChannelRefError` names what is wrong with it."""
    if isinstance(ref, bool):
        raise ChannelRefError(f"{ref!r} is not a channel reference")
    if isinstance(ref, int):
        return _number(str(ref), str(ref))
    text = ref.strip()
    shown = text if len(text) <= 60 else text[:57] + "..."
    if not text:
        raise ChannelRefError("an empty channel reference: give @username, a t.me link or an id")
    if _NUMBER.fullmatch(text):
        return _number(text, shown)
    invite = _INVITE.match(text)
    if invite:
        return ChannelRef("invite", invite.group(1), shown)
    link = _LINK.match(text)
    if link:
        name = link.group(1)
        if name.startswith("+") or name == "joinchat":
            raise ChannelRefError(
                f"{shown!r} is not a complete invite link (t.me/+ then 8 or more characters)"
            )
    elif "/" in text or ":" in text:
        raise ChannelRefError(f"{shown!r} is not a t.me link: give @username, t.me/name or t.me/+invite")
    else:
        name = text.removeprefix("@")
    if not _USERNAME.fullmatch(name):
        raise ChannelRefError(
            f"{shown!r} is not a Telegram username (5-32 letters, digits or '_', starting with a letter)"
        )
    return ChannelRef("username", name, shown)


def _number(text: str, shown: str) -> ChannelRef:
    number = int(text)
    if number < 0:
        digits = str(number)
        if not digits.startswith("-100") or len(digits) <= 4:
            raise ChannelRefError(f"{shown!r} is not a channel id: channel ids are -100… or the bare number")
        number = int(digits.removeprefix("-100"))
    if number <= 0 or number >= 1 << 40:
        raise ChannelRefError(f"{shown!r} is not a channel id")
    return ChannelRef("id", number, shown)
