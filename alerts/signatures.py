"""Channel signatures: the words that are a channel's identity do not raise alerts for it.

A channel called «صدى الثأر» ("echo of revenge") says الثأر in its own name, its introduction
and the signature line it appends to its posts; alerting on that tells the analyst nothing. A
channel's **signature** is:

* its **names**: the title (whole, and each part between separators like ``—`` or ``|``) and
  its username;
* what it **learned** from the channel's own recent history (:func:`learn`): lines that recur in
  a good share of its posts (the appended signature line, a slogan line) and hashtags it puts
  on most posts;
* the **overrides** of the rules file (``[[signature]]`` tables): phrases added, phrases that
  must never count as identity, or learning switched off for a channel.

How it keeps a post quiet (:meth:`Signature.quiet_spans`): a rule match that lies inside an
occurrence of one of those phrases is the identity itself and is dropped, whatever its severity;
and a short line that names the channel (its introduction, its signature line: at most
:data:`NAME_LINE_WORDS` words) is the channel speaking of itself, so the medium and low matches
in it are dropped too, while a high one still alerts. Elsewhere in the post the same words alert
as usual: «الثأر قادم» from that channel is not its name.

We write this ourselves: it is a few counts over the channel's own posts, with our normaliser.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.core.errors import RulesError
from monitor.core.text import normalize

if TYPE_CHECKING:
    from monitor.core.store import Archive

__all__ = [
    "Learned",
    "Signature",
    "SignatureBook",
    "SignatureOverride",
    "learn",
    "learn_book",
    "parse_signature",
    "silence",
]

NAME_LINE_WORDS = 12
"""A line naming the channel with at most this many words is its introduction or signature line."""
HISTORY = 200
"""Recent posts of a channel its signature is learned from."""
MIN_POSTS = 10
"""Fewer posts than this teach nothing: three posts with one line in common are not a habit."""
LINE_SHARE = 0.2
TAG_SHARE = 0.3
MIN_REPEATS = 3
MAX_LINE_WORDS = 15  # a longer recurring line is a repeated post, not a signature

_SEPARATORS = re.compile(r"\s*[—–|•·:()\[\]«»\"/\\,;!؟?]+\s*|\s+-\s+")
_HASHTAG = re.compile(r"#[^\s#]+")
_KEYS = {"channel", "add", "remove", "learn"}


def _fold(text: str) -> str:
    """A phrase as the matcher sees it: normalised, punctuation as spaces, single spaces."""
    return " ".join(re.sub(r"[^\w]+", " ", normalize(text)).split())


@dataclass(frozen=True)
class SignatureOverride:
    """One ``[[signature]]`` table of a rules file."""

    channel: str  # username (without @) or numeric id, as written
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    learn: bool = True

    def applies_to(self, channel_id: int, username: str | None) -> bool:
        ref = self.channel.strip().lstrip("@").lower()
        if ref.lstrip("-").isdigit():
            number = int(ref)
            return (
                number == channel_id or int(str(number).removeprefix("-100").lstrip("-") or 0) == channel_id
            )
        return bool(username) and ref == str(username).lower()


def parse_signature(table: Any, number: int, source: str) -> SignatureOverride:
    """Check one ``[[signature]]`` table; one :class:`RulesError` naming the file and table."""
    label = f"signature #{number}"
    if isinstance(table, dict) and isinstance(table.get("channel"), str | int):
        label = f"signature for '{table['channel']}' (#{number})"

    def fail(problem: str) -> RulesError:
        return RulesError(f"{source}: {label}: {problem}")

    if not isinstance(table, dict):
        raise fail("must be a table, written [[signature]]")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known keys: {', '.join(sorted(_KEYS))})")
    channel = table.get("channel")
    if isinstance(channel, int) and not isinstance(channel, bool):
        channel = str(channel)
    if not isinstance(channel, str) or not channel.strip().lstrip("@"):
        raise fail("'channel' is missing: give the channel's username or id")
    lists = {}
    for key in ("add", "remove"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and _fold(v) for v in value):
            raise fail(f"'{key}' must be a list of phrases with letters or digits")
        lists[key] = tuple(value)
    learn_flag = table.get("learn", True)
    if not isinstance(learn_flag, bool):
        raise fail("'learn' must be true or false")
    return SignatureOverride(channel.strip(), lists["add"], lists["remove"], learn_flag)


@dataclass(frozen=True)
class Learned:
    """What a channel's recent posts say about its identity (folded phrases)."""

    lines: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    posts: int = 0


def learn(texts: Sequence[str]) -> Learned:
    """Recurring short lines and hashtags of a channel's recent ``texts``.

    A line (of 2 to :data:`MAX_LINE_WORDS` words; one word comes as a hashtag) in at least :data:`LINE_SHARE` of the posts,
    a hashtag in at least :data:`TAG_SHARE`, and each at least :data:`MIN_REPEATS` times.
    """
    if len(texts) < MIN_POSTS:
        return Learned(posts=len(texts))
    lines: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for text in texts:
        lines.update(
            {f for line in text.splitlines() if (f := _fold(line)) and 2 <= len(f.split()) <= MAX_LINE_WORDS}
        )
        tags.update({f for tag in _HASHTAG.findall(text) if (f := _fold(tag))})
    n = len(texts)
    return Learned(
        lines=tuple(sorted(k for k, c in lines.items() if c >= max(MIN_REPEATS, LINE_SHARE * n))),
        tags=tuple(sorted(k for k, c in tags.items() if c >= max(MIN_REPEATS, TAG_SHARE * n))),
        posts=n,
    )


def names_of(title: str | None, username: str | None) -> tuple[str, ...]:
    """The channel's names: its whole title, each part of it, its username (folded)."""
    out = []
    if title:
        out.append(_fold(title))
        out += [_fold(part) for part in _SEPARATORS.split(title)]
    if username:
        out.append(_fold(username))
    return tuple(dict.fromkeys(p for p in out if len(p.replace(" ", "")) >= 3))


def line_names_of(title: str | None, username: str | None) -> tuple[str, ...]:
    """The names that make a short line the channel's introduction or signature: the whole title,
    the username, and the parts of the title of two words or more. A one-word part ("News",
    "عاجل") is too common to say a line speaks of the channel (it still counts as identity)."""
    whole = {_fold(title)} if title else set()
    return tuple(n for n in names_of(title, username) if n in whole or " " in n or n == _fold(username or ""))


@dataclass(frozen=True)
class Signature:
    """One channel's identity phrases (folded), and where they came from."""

    channel_id: int
    names: tuple[str, ...] = ()
    line_names: tuple[str, ...] = ()  # the names that make a line the channel's own (see line_names_of)
    lines: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    learned_from: int = 0
    _patterns: dict[str, re.Pattern[str] | None] = field(default_factory=dict, compare=False, repr=False)
    _tokens: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def phrases(self) -> tuple[str, ...]:
        gone = set(self.removed)
        return tuple(
            p for p in dict.fromkeys((*self.names, *self.lines, *self.tags, *self.added)) if p not in gone
        )

    def _phrases_of(self, which: str) -> tuple[str, ...]:
        return self.phrases if which == "all" else tuple(p for p in self.line_names if p not in self.removed)

    def _may_be_in(self, which: str, normalized: str) -> bool:
        """Whether every word of one of the phrases is somewhere in ``normalized``: a match of
        :meth:`_pattern` needs that, and these look-ups cost far less than its search (run for
        every post with a rule term in a channel that has a signature)."""
        tokens = self._tokens.get(which)
        if tokens is None:
            tokens = self._tokens[which] = tuple(tuple(p.split()) for p in self._phrases_of(which))
        for words in tokens:  # loops, not any(all(...)): two generators a post cost more than the look-ups
            for word in words:
                if word not in normalized:
                    break
            else:
                return True
        return False

    def _pattern(self, which: str) -> re.Pattern[str] | None:
        if which not in self._patterns:
            phrases = self._phrases_of(which)
            body = "|".join(
                r"[\W_]+".join(map(re.escape, p.split())) for p in sorted(phrases, key=len, reverse=True)
            )
            self._patterns[which] = re.compile(rf"(?<![^\W_])(?:{body})(?![^\W_])") if body else None
        return self._patterns[which]

    def quiet_spans(self, body: str, normalized: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Spans of ``normalized`` (the normalised ``body``) that are identity: (phrases: nothing
        alerts inside; lines naming the channel: only high matches alert inside).

        The normaliser joins lines, so each line of ``body`` is normalised alone and found in
        order in ``normalized``; a line that cannot be found so is left alone (it alerts)."""
        everything = self._pattern("all")
        phrases = []
        if everything is not None and self._may_be_in("all", normalized):
            phrases = [m.span() for m in everything.finditer(normalized)]
        lines: list[tuple[int, int]] = []
        names = self._pattern("names")
        if names is not None and self._may_be_in("names", normalized):  # each line is in the post
            cursor = 0
            for line in body.splitlines():
                folded = normalize(line)
                if not folded:
                    continue
                at = normalized.find(folded, cursor)
                if at < 0:
                    continue
                cursor = at + len(folded)
                if len(folded.split()) <= NAME_LINE_WORDS and names.search(folded):
                    lines.append((at, cursor))
        return phrases, lines

    def to_json(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "names": list(self.names),
            "lines": list(self.lines),
            "hashtags": list(self.tags),
            "added": list(self.added),
            "removed": list(self.removed),
            "learned_from_posts": self.learned_from,
        }


def silence(
    found: list[tuple[Any, int, int]],
    body: str,
    normalized: str,
    signature: Signature,
    severities: Sequence[str],
) -> list[tuple[Any, int, int]]:
    """``found`` (the automaton's hits on ``normalized``) without the rule terms the channel's
    identity covers; ``severities[i]`` is rule ``i``'s severity."""
    phrases, lines = signature.quiet_spans(body, normalized)
    if not phrases and not lines:
        return found

    def inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
        return any(s <= start and end <= e for s, e in spans)

    return [
        (payload, start, end)
        for payload, start, end in found
        if payload[0] != "term"
        or not (
            inside(start, end, phrases) or (severities[payload[1]] != "high" and inside(start, end, lines))
        )
    ]


@dataclass
class _Known:
    username: str | None
    title: str | None
    learned: Learned


class SignatureBook:
    """Every channel's signature: names from the channel, learned lines, the rules file's overrides."""

    def __init__(
        self, overrides: Iterable[SignatureOverride] = (), known: Mapping[int, _Known] | None = None
    ) -> None:
        self.overrides = tuple(overrides)
        self._known: dict[int, _Known] = dict(known or {})
        self._cache: dict[tuple[int, str | None, str | None], Signature] = {}

    def with_overrides(self, overrides: Iterable[SignatureOverride]) -> SignatureBook:
        """The same learned signatures under another rules file's overrides."""
        return SignatureBook(overrides, self._known)

    def learned(self, channel_id: int, username: str | None, title: str | None, learned: Learned) -> None:
        self._known[channel_id] = _Known(username, title, learned)
        self._cache = {k: v for k, v in self._cache.items() if k[0] != channel_id}

    def get(self, channel_id: int) -> Signature | None:
        """The signature of a channel the book has learned (None for one it never saw)."""
        known = self._known.get(channel_id)
        if known is None:
            return None
        return self.for_channel(channel_id, known.username, known.title)

    def for_channel(self, channel_id: int, username: str | None, title: str | None) -> Signature:
        key = (channel_id, username, title)
        found = self._cache.get(key)
        if found is not None:
            return found
        known = self._known.get(channel_id)
        learned = known.learned if known is not None else Learned()
        mine = [o for o in self.overrides if o.applies_to(channel_id, username)]
        learning = all(o.learn for o in mine)
        signature = Signature(
            channel_id=channel_id,
            names=names_of(title, username),
            line_names=line_names_of(title, username),
            lines=learned.lines if learning else (),
            tags=learned.tags if learning else (),
            added=tuple(_fold(p) for o in mine for p in o.add),
            removed=tuple(_fold(p) for o in mine for p in o.remove),
            learned_from=learned.posts if learning else 0,
        )
        self._cache[key] = signature
        return signature

    def channel_ids(self) -> list[int]:
        return sorted(self._known)


async def learn_book(
    archive: Archive, overrides: Iterable[SignatureOverride] = (), *, channel_id: int | None = None
) -> SignatureBook:
    """Learn every channel's signature (or one channel's) from its :data:`HISTORY` latest posts."""
    book = SignatureBook(overrides)
    for row in await archive.channels():
        if channel_id is not None and row["id"] != channel_id:
            continue
        texts = await archive.scans.recent_texts(row["id"], HISTORY)
        book.learned(row["id"], row["username"], row["title"], learn(texts))
    return book
