"""Discovery: channels the collected ones forward from, link to (``t.me/...``) or mention (``@name``).

Ranked by how many collected channels point to each (more is stronger), then by how recently.
Works on whatever the archive holds, live or imported from exports. Pure over the archive's rows:
no request to Telegram (resolving names is rate-limited; ``channels add`` does it once).

A mention may name a user, not a channel: Telegram cannot tell without a resolve, so mentions
rank below forwards and links of the same count, and bot usernames (they end in ``bot``) are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.core.store import Archive

_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/(?:s/)?([A-Za-z][A-Za-z0-9_]{3,31})(?![A-Za-z0-9_])",
    re.IGNORECASE,
)
_MENTION = re.compile(r"(?<![\w@./])@([A-Za-z][A-Za-z0-9_]{3,31})(?![A-Za-z0-9_])")
_NOT_CHANNELS = frozenset(
    {
        "joinchat",
        "addstickers",
        "addemoji",
        "share",
        "proxy",
        "socks",
        "iv",
        "login",
        "setlanguage",
        "addtheme",
        "contact",
        "boost",
        "c",
    }
)
KIND_WEIGHT = {"forward": 3, "link": 2, "mention": 1}


@dataclass
class Suggestion:
    """One channel pointed to: by which collected channels, how, and when last."""

    key: str  # lower-case username, or the bare id
    ref: str  # what ``channels add`` takes
    title: str | None = None
    by: set[int] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    last: str = ""

    def see(self, channel_id: int, kind: str, date: str | None) -> None:
        self.by.add(channel_id)
        self.kinds.add(kind)
        if date and date > self.last:
            self.last = date

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "title": self.title,
            "pointed_by": len(self.by),
            "how": sorted(self.kinds, key=lambda k: -KIND_WEIGHT[k]),
            "last_seen": self.last or None,
            # A channel known only by id (a forward's source) cannot be resolved without its
            # access hash: its @username has to be found first.
            "add": None if self.ref.startswith("-") else f"tgmonitor channels add {self.ref}",
        }


def names_in(text: str, entities: Iterable[dict[str, Any]] = ()) -> list[tuple[str, str]]:
    """``(kind, username)`` pairs a post's text and links point to."""
    found: list[tuple[str, str]] = []
    urls = [text, *(str(e.get("url") or "") for e in entities)]
    for chunk in urls:
        for match in _LINK.finditer(chunk):
            name = match.group(1)
            if name.lower() not in _NOT_CHANNELS:
                found.append(("link", name))
    for match in _MENTION.finditer(text):
        found.append(("mention", match.group(1)))
    return [(kind, name) for kind, name in found if not name.lower().endswith("bot")]


async def suggest(archive: Archive, collected_ids: set[int], collected_names: set[str]) -> list[Suggestion]:
    """Channels the collected ones point to and that are not collected yet, best first."""
    known = {row["id"]: row for row in await archive.channels()}
    by_name = {(row["username"] or "").lower(): row["id"] for row in known.values() if row["username"]}
    skip_names = {n.lower() for n in collected_names} | {
        (known[i]["username"] or "").lower() for i in collected_ids if i in known
    }
    found: dict[str, Suggestion] = {}

    def entry(key: str, ref: str, title: str | None) -> Suggestion:
        item = found.get(key)
        if item is None:
            item = found[key] = Suggestion(key, ref, title)
        elif title and not item.title:
            item.title = title
        return item

    for row in await archive.forward_sources():
        source = row["source_id"]
        if source in collected_ids or row["channel_id"] not in collected_ids:
            continue
        chan = known.get(source)
        username = chan["username"] if chan is not None else None
        if username and username.lower() in skip_names:
            continue
        key = username.lower() if username else str(source)
        ref = f"@{username}" if username else f"-100{source}"
        title = (chan["title"] if chan is not None else None) or row["name"]
        entry(key, ref, title).see(row["channel_id"], "forward", row["last"])
    for row in await archive.posts_pointing_out():
        if row["channel_id"] not in collected_ids:
            continue
        try:
            entities = json.loads(row["entities"] or "[]")
        except ValueError:
            entities = []
        for kind, name in names_in(row["text"] or "", entities if isinstance(entities, list) else []):
            key = name.lower()
            if key in skip_names:
                continue
            cid = by_name.get(key)
            if cid is not None and cid in collected_ids:
                continue
            title = known[cid]["title"] if cid is not None else None
            entry(key, f"@{name}", title).see(row["channel_id"], kind, row["date"])
    return sorted(
        found.values(),
        key=lambda s: (-len(s.by), -max(KIND_WEIGHT[k] for k in s.kinds), _neg(s.last), s.key),
    )


def _neg(date: str) -> tuple[int, ...]:
    """Sort key that puts later ISO dates first."""
    return tuple(-ord(c) for c in date)
