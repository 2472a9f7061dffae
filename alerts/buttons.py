"""The buttons under an alert in the analysts' chat, and what each press carries.

The Telegram sink puts them under every alert it sends as a bot; the bot desk (``monitor.bot``)
answers the presses. Both sides meet here, in one small codec, so a button's data and its
handler never drift apart. Telegram gives a button at most 64 bytes of data (``callback_data``):
a press carries only the action, the alert's id and whether the message is a photo caption
(whose limit is 1,024 characters, not 4,096, when the message is edited). Data that does not
decode (a forged press, a button of an older version) is ``None``: the desk answers it with a
short sentence and touches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DATA_LIMIT = 64
"""Bytes of data a Telegram inline button carries at most."""

ALERT_ACTIONS = ("ack", "tp", "fp", "mute", "sim")
LABELS = {
    "ack": "👁 Acknowledge",
    "tp": "✅ True positive",
    "fp": "❌ False positive",
    "mute": "🔕 Mute 24 h here",
    "sim": "🖼 Similar posters",
}
_PRESS = re.compile(r"tgm:(ack|tp|fp|mute|sim):(\d{1,19}):([mp])")
_PAGE = re.compile(r"tgm:s:([0-9a-f]{8,16}):(\d{1,3})")


@dataclass(frozen=True, slots=True)
class Press:
    """A press of an alert's button: ``caption`` when the alert is a photo's caption."""

    action: str
    alert_id: int
    caption: bool


@dataclass(frozen=True, slots=True)
class PageTurn:
    """A press of a search answer's "next"/"previous" button: the search's token and the page."""

    token: str
    page: int


def press_data(action: str, alert_id: int, caption: bool) -> bytes:
    """The data of one alert button (checked against Telegram's 64 bytes)."""
    if action not in ALERT_ACTIONS:
        raise ValueError(f"unknown alert button {action!r}")
    data = f"tgm:{action}:{int(alert_id)}:{'p' if caption else 'm'}".encode()
    assert len(data) <= DATA_LIMIT
    return data


def page_data(token: str, page: int) -> bytes:
    data = f"tgm:s:{token}:{int(page)}".encode()
    assert len(data) <= DATA_LIMIT and _PAGE.fullmatch(data.decode())
    return data


def alert_keyboard(alert_id: int, kind: str, caption: bool) -> list[list[tuple[str, bytes]]]:
    """The rows of ``(label, data)`` under an alert: decisions for every alert, and for a post's
    alert also muting its rule in its channel and its poster's look-alikes."""
    rows = [[(LABELS[a], press_data(a, alert_id, caption)) for a in ("ack", "tp", "fp")]]
    if kind == "post":
        rows.append([(LABELS[a], press_data(a, alert_id, caption)) for a in ("mute", "sim")])
    return rows


def decode(data: bytes | None) -> Press | PageTurn | None:
    """What a press asks for, or ``None`` for data this desk never made."""
    if not data or len(data) > DATA_LIMIT:
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    if match := _PRESS.fullmatch(text):
        return Press(match.group(1), int(match.group(2)), match.group(3) == "p")
    if match := _PAGE.fullmatch(text):
        return PageTurn(match.group(1), int(match.group(2)))
    return None
