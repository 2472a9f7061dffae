"""The full-text index: what a post's indexed row is, how a query is built, search, re-indexing.

The FTS5 index shares the posts' rowid, which sorts by date (``date_unix * ID_SLOTS + k``), so
"newest first" is FTS5's own rowid order and the first page of even a very common word is read
without sorting all its matches. It is contentless (no copy of the text): a row is removed with the
values it was made from, which are always :func:`fts_row` of ``posts.text, posts.ocr_text``.
"""

from __future__ import annotations

import functools
import heapq
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.errors import ArchiveError
from monitor.core.store.channels import ChannelsMixin
from monitor.core.store.meta import MetaMixin
from monitor.core.store.records import POST_COLUMNS, SearchHit, post_record
from monitor.core.store.schema import ID_SLOTS
from monitor.core.text import (
    INDEX_VERSION,
    index_words,
    normalize,
    normalize_with_offsets,
    spelling_pattern,
    strip_proclitics,
    words,
)
from monitor.core.times import utc

log = logging.getLogger(__name__)

FTS_INSERT = "INSERT INTO posts_fts (rowid, body, extra) VALUES (?, ?, ?)"
"""Add a post's row to the index: ``(post id, *fts_row(text, ocr_text))``."""

FTS_DELETE = "INSERT INTO posts_fts (posts_fts, rowid, body, extra) VALUES ('delete', ?, ?, ?)"
"""Remove a row from the contentless index: the values must be the ones it was indexed with."""


def fts_row(text: str, ocr_text: str | None) -> tuple[str, str]:
    """The indexed columns. ``body`` holds only the normaliser's words, space-joined, so the words
    SQLite sees are the ones queries are built from: unicode61's tables predate Unicode 7, and a newer
    emoji or mark glued to a word (``الانتقام🤬``) would otherwise become part of that word."""
    folded = normalize(text)
    if len(folded) > _FTS_PIECE and not ocr_text:
        return _long_fts_row(folded)
    tokens = words(folded)
    if ocr_text:
        tokens += ["\n", *words(normalize(ocr_text))]
    body = " ".join(tokens)
    return body, index_words(tokens)


_FTS_PIECE = 1 << 16


def _long_fts_row(folded: str) -> tuple[str, str]:
    """:func:`fts_row` of a long text, its words listed a piece at a time (a 10 MB post has a
    million words: as one list of strings, 80 MB). Pieces are cut at spaces, so no word is cut."""
    body: list[str] = []
    extra: list[str] = []
    lo = 0
    while lo < len(folded):
        hi = folded.find(" ", lo + _FTS_PIECE)
        hi = len(folded) if hi < 0 else hi
        tokens = words(folded[lo:hi])
        if tokens:
            body.append(" ".join(tokens))
            if forms := index_words(tokens):
                extra.append(forms)
        lo = hi + 1
    return " ".join(body), " ".join(extra)


_QUERY_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')

MAX_QUERY_CHARS = 10_000
"""Longest query accepted. Length itself costs little (one long word is one look-up): a query is
bounded by its words, below; this only keeps a pasted document from being parsed as one."""
MAX_QUERY_WORDS = 32
"""Most words that must all match (every word of a phrase counts, an ``OR`` group counts as its
longest alternative, a word repeated counts once): each is a look-up and an intersection of its
posts, and a 2,500-word phrase took 4.6 s on 200,000 posts."""
MAX_QUERY_TERMS = 500
"""Most terms in all (``OR`` alternatives included): an analyst may paste a list of names."""
MAX_PREFIX_TERMS = 8
"""Most ``word*`` terms: each reads every word of the index that starts with it (500 prefix ORs
took 19 s on 200,000 posts)."""
MIN_PREFIX_LETTERS = 2
"""Shortest prefix, after folding: one letter is most of the index, so ``w*`` is read as ``w``."""
SEARCH_BUDGET_S = 1.0
"""Default time a search may take before it is stopped (``Archive.search(time_budget=...)``,
``search --timeout``): a first page takes milliseconds at a million posts, a query that reads
most of the index (``ال*``) seconds."""


_PROGRESS_STEPS = 1_000
"""SQLite virtual machine steps between two looks at the clock (well under a millisecond)."""


class QueryError(ArchiveError):
    """A search was refused (too long, too many terms) or stopped (over its time budget)."""


@dataclass
class ParsedQuery:
    """A user query as FTS5 text (``match``), the terms to highlight and what bounds its cost."""

    match: str
    terms: list[str]
    words: int = 0  # words that must all match (see MAX_QUERY_WORDS)
    alternatives: int = 0  # distinct terms, OR alternatives included
    prefixes: list[str] = field(default_factory=list)  # the distinct prefix terms, folded


def parse_query(query: str) -> ParsedQuery:
    """Turn any user input into a safe FTS5 query and the normalised terms to highlight.

    Supported: words (all must match), ``"a phrase"``, ``word*`` for a prefix, ``OR`` between
    two terms. Everything else (FTS operators, column syntax, brackets, control characters) is
    taken as text: each term is normalised like the index and quoted, so no input can be an
    FTS5 syntax error. A clause repeated (``x x x``, ``a OR a``) is kept once: same posts, and a
    repeated word costs no more than one.
    """
    clauses: list[list[str]] = []  # AND of groups; each group is an OR of alternatives
    terms: list[str] = []
    size: dict[str, int] = {}  # clause -> its words
    prefixes: list[str] = []
    pending_or = False
    for match in _QUERY_TOKEN.finditer(query or ""):
        phrase, bare = match.group(1), match.group(2)
        if bare == "OR" and clauses:
            pending_or = True
            continue
        raw = phrase if phrase is not None else bare or ""
        prefix = phrase is None and raw.endswith("*") and len(raw.rstrip("*")) > 0
        tokens = words(normalize(raw))
        if not tokens:
            continue
        if prefix and len(tokens[-1]) < MIN_PREFIX_LETTERS:
            prefix = False
        terms.extend(tokens)
        quoted = '"' + " ".join(tokens) + '"'
        clause = f"{quoted}*" if prefix else quoted
        if len(tokens) > 1:
            clause = f"body : {clause}"  # a phrase lives in the plain text column
        if prefix and " ".join(tokens) not in prefixes:
            prefixes.append(" ".join(tokens))
        if len(tokens) == 1 and phrase is None and not prefix:
            # An Arabic word typed with a prefix (والانتقام) also finds it without (الانتقام).
            forms = strip_proclitics(tokens[0])
            if forms:
                terms.extend(forms)
                clause = "(" + " OR ".join([clause, *(f'"{form}"' for form in forms)]) + ")"
        if phrase is None and not prefix and not raw.startswith("#"):
            # A CamelCase hashtag typed without its sign: #RevengeIsComing is indexed as 3 words.
            split = words(normalize("#" + raw))
            if split != tokens:
                terms.extend(split)
                clause = f'({clause} OR body : "{" ".join(split)}")'
        size[clause] = len(tokens)
        if pending_or:
            clauses[-1].append(clause)  # flat, not nested: FTS5's parser stack overflows on nesting
            pending_or = False
        else:
            clauses.append([clause])
    groups: list[list[str]] = []
    for group in clauses:
        alternatives = list(dict.fromkeys(group))
        if alternatives not in groups:
            groups.append(alternatives)
    match_text = " AND ".join(group[0] if len(group) == 1 else f"({' OR '.join(group)})" for group in groups)
    must = sum(max(size[c] for c in group) for group in groups)
    return ParsedQuery(match_text, terms, must, len({c for g in groups for c in g}), prefixes)


def build_match_query(query: str) -> tuple[str, list[str]]:
    """The FTS5 text and the terms to highlight of ``query`` (see :func:`parse_query`)."""
    parsed = parse_query(query)
    return parsed.match, parsed.terms


def check_query(query: str, parsed: ParsedQuery) -> None:
    """Refuse a query whose cost has no bound: too long, too many words, terms or prefixes.
    Raises :class:`QueryError` with what to change."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(query):,} characters long: at most {MAX_QUERY_CHARS:,}; search for its key words"
        )
    if len(parsed.prefixes) > MAX_PREFIX_TERMS:
        raise QueryError(
            f"the query has {len(parsed.prefixes)} prefix terms (word*): at most {MAX_PREFIX_TERMS}; "
            "spell some words out"
        )
    if parsed.words > MAX_QUERY_WORDS:
        raise QueryError(
            f"the query has {parsed.words} words: at most {MAX_QUERY_WORDS}; keep the words that matter"
        )
    if parsed.alternatives > MAX_QUERY_TERMS:
        raise QueryError(
            f"the query has {parsed.alternatives} terms: at most {MAX_QUERY_TERMS}; split it in several searches"
        )


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlaps merged (two query forms may hit the same word)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@functools.lru_cache(maxsize=256)
def _term_pattern(term: str) -> re.Pattern[str]:
    """The word that holds ``term``, compiled once per term (not looked up per post and term)."""
    return re.compile(rf"(?<!\w)\w*{re.escape(term)}\w*")


SNIPPET_SCAN = 20_000
"""A post longer than this is not folded as a whole for its snippet: the places that may hold a
term are found in the original text (:func:`spelling_pattern`, one regex scan in C) and only a
window around them is folded, so a 10 MB post costs about what a short one does."""
_CANDIDATES = 200  # places of a long post looked at before its snippet gives up on a highlight
_REACH = 1_000  # how far past a window's edges a word may start or end (to cut at a space)


def _term_spans(piece: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of ``piece`` (original text) holding a query term, merged and sorted."""
    normalized, origins = normalize_with_offsets(piece)
    spans = []
    for term in terms:
        for m in _term_pattern(term).finditer(normalized):
            spans.append((origins[m.start()][0], origins[m.end() - 1][1]))
    return _merge_spans(spans)


def _around(source: str, left: int, right: int) -> tuple[int, int]:
    """``[left, right)`` widened to the whitespace around it (at most ``_REACH`` further): the
    normaliser works word by word, so a window cut at spaces folds as it does in the whole text."""
    lo = left
    if lo > 0:
        cut = max(source.rfind(c, max(0, left - _REACH), left) for c in " \n\t")
        lo = cut if cut >= 0 else max(0, left - _REACH)
    hi = right
    if hi < len(source):
        cuts = [i for i in (source.find(c, right, right + _REACH) for c in " \n\t") if i >= 0]
        hi = min(cuts) if cuts else min(len(source), right + _REACH)
    return lo, hi


def _first_hit(source: str, terms: Sequence[str]) -> int | None:
    """Where the first term of a long ``source`` starts (or None), folding only windows of it.

    Each term's spelling is scanned for on its own (a regex of one term skips ahead in C; an
    alternation of several does not), the earliest place first; a term holding another one
    (``الانتقام`` holds ``انتقام``) is found by the shorter one's scan.
    """
    distinct = [t for t in dict.fromkeys(terms) if t]
    shortest = [t for t in distinct if not any(o != t and o in t for o in distinct)]
    patterns = [spelling_pattern(t) for t in shortest]
    heads: list[tuple[int, int, re.Match[str]]] = []
    for index, pattern in enumerate(patterns):
        if (found := pattern.search(source)) is not None:
            heapq.heappush(heads, (found.start(), index, found))
    for _ in range(_CANDIDATES):
        if not heads:
            break
        _, index, candidate = heapq.heappop(heads)
        lo, hi = _around(source, candidate.start(), candidate.end())
        spans = _term_spans(source[lo:hi], terms)
        if spans:
            return lo + spans[0][0]
        if (found := patterns[index].search(source, hi)) is not None:
            heapq.heappush(heads, (found.start(), index, found))
    return None


def make_snippet(
    text: str, ocr_text: str | None, terms: Sequence[str], width: int = 160
) -> tuple[str, list[tuple[int, int]]]:
    """A short piece of the original text around the first query term, with the spans to emphasise.

    A long post (over :data:`SNIPPET_SCAN` characters) is folded only in windows: around the
    places that may hold a term, then around the snippet itself.
    """
    for source in (text, ocr_text or ""):
        if not source:
            continue
        if len(source) <= SNIPPET_SCAN:
            spans = _term_spans(source, terms)
            if not spans:
                continue
            first = spans[0][0]
        else:
            found = _first_hit(source, terms)
            if found is None:
                continue
            first = found
        left = max(0, first - width // 3)
        right = min(len(source), left + width)
        if len(source) > SNIPPET_SCAN:  # the spans of the snippet's own window
            lo, hi = _around(source, left, right)
            spans = [(s + lo, e + lo) for s, e in _term_spans(source[lo:hi], terms)]
        piece = source[left:right]
        prefix = "…" if left > 0 else ""
        suffix = "…" if right < len(source) else ""
        shift = len(prefix) - left
        marks = [(s + shift, e + shift) for s, e in spans if s >= left and e <= right]
        label = "" if source is text else "[poster] "
        snippet = (label + prefix + piece + suffix).replace("\n", " ")
        return snippet, [(s + len(label), e + len(label)) for s, e in marks]
    plain = (text or ocr_text or "")[: width + 1].replace("\n", " ")
    return (plain[:width] + ("…" if len(plain) > width else "")), []


class SearchMixin(ChannelsMixin, MetaMixin):
    """Searching the index, and rebuilding it."""

    async def search(
        self,
        query: str,
        *,
        channel: str | int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        sort: str = "date",
        time_budget: float | None = SEARCH_BUDGET_S,
        with_image: bool = False,
        with_alert: bool = False,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Full-text search. Any input is a valid query (see :func:`parse_query`), but one whose
        cost has no bound is refused and one that runs past ``time_budget`` seconds is stopped,
        both with a :class:`QueryError` that says what to narrow.

        ``with_image`` keeps posts that carry an image, ``with_alert`` those an alert was raised
        on; ``offset`` skips that many hits (the web desk's pages)."""
        parsed = parse_query(query)
        check_query(query, parsed)
        match, terms = parsed.match, parsed.terms
        if not match:
            return []
        sql = [
            f"SELECT {POST_COLUMNS} FROM posts_fts f JOIN posts p ON p.id = f.rowid "
            "JOIN channels c ON c.id = p.channel_id WHERE posts_fts MATCH ?"
        ]
        params: list[Any] = [match]
        if since is not None:
            sql.append("AND f.rowid >= ?")
            params.append(int(utc(since).timestamp()) * ID_SLOTS)
        if until is not None:
            sql.append("AND f.rowid < ?")
            params.append((int(utc(until).timestamp()) + 1) * ID_SLOTS)
        if channel is not None:
            row = await self.find_channel(channel)
            if row is None:
                return []
            sql.append("AND p.channel_id = ?")
            params.append(row["id"])
        if with_image:
            sql.append(
                "AND EXISTS (SELECT 1 FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
                "WHERE pm.post_id = p.id AND m.is_image = 1)"
            )
        if with_alert:
            sql.append("AND EXISTS (SELECT 1 FROM alerts a WHERE a.post_id = p.id)")
        sql.append(
            "ORDER BY bm25(posts_fts), f.rowid DESC" if sort == "relevance" else "ORDER BY f.rowid DESC"
        )
        sql.append("LIMIT ? OFFSET ?")
        params.extend([max(1, limit), max(0, offset)])
        rows = await self._fetch_within(" ".join(sql), params, query, time_budget)
        hits = []
        for row in rows:
            record = post_record(row)
            snippet, highlights = make_snippet(record.text, record.ocr_text, terms)
            hits.append(SearchHit(record, snippet, highlights))
        return hits

    async def _fetch_within(
        self, sql: str, params: list[Any], query: str, budget: float | None
    ) -> list[sqlite3.Row]:
        """Run a search's SQL, stopped by SQLite once ``budget`` seconds have passed.

        Two stops, because FTS5 does its heaviest work (merging every word of a prefix) inside
        one step of SQLite's virtual machine, where no progress handler runs: the handler looks
        at the clock every few steps (an exact stop, even for a tiny budget), and a watchdog
        interrupts the connection at the deadline. Both belong to the connection, which the desk
        shares between its requests: so the handler is set, the statement run and the handler
        removed in ONE job on the connection's thread (aiosqlite runs its jobs one after the
        other), and the watchdog can only fire while that job runs. Before, another request's
        statement queued between the three steps was stopped in the search's place.
        """
        if budget is None:
            return await self._fetch_logged(sql, params, query)
        deadline = time.monotonic() + budget

        def over_budget() -> int:
            return int(time.monotonic() > deadline)

        def budgeted(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            guard = threading.Lock()
            running = [True]  # under guard: the job cannot end between the check and the interrupt

            def watchdog() -> None:
                with guard:
                    if running[0]:
                        conn.interrupt()

            timer = threading.Timer(max(0.0, deadline - time.monotonic()), watchdog)
            conn.set_progress_handler(over_budget, _PROGRESS_STEPS)
            timer.start()
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                with guard:
                    running[0] = False
                timer.cancel()
                conn.set_progress_handler(None, 0)

        try:
            # aiosqlite has no public "run this on the connection's thread"; _execute is what
            # each of its own methods uses, and _conn is the sqlite3 connection it wraps.
            return await self._conn._execute(budgeted, self._conn._conn)
        except sqlite3.OperationalError as exc:
            if over_budget():
                raise QueryError(
                    f"the search took longer than {budget:g} s: narrow it (fewer prefix terms, a channel, dates)"
                ) from None
            log.warning("search %r failed: %s", query, exc)  # should not happen: every term is quoted
            return []

    async def _fetch_logged(self, sql: str, params: list[Any], query: str) -> list[sqlite3.Row]:
        try:
            return await self.fetchall(sql, params)
        except sqlite3.OperationalError as exc:  # should not happen: every term is quoted
            log.warning("search %r failed: %s", query, exc)
            return []

    async def optimize_index(self) -> None:
        async with self.transaction() as conn:
            await conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")

    async def _check_index(self) -> None:
        """Rebuild the search index if it was made by another ``INDEX_VERSION`` (or before step 3)."""
        if await self.get_meta("index_version") == INDEX_VERSION:
            return
        if await self.fetchone("SELECT 1 FROM posts LIMIT 1") is not None:
            log.warning("archive %s: rebuilding the search index (once, after an upgrade)", self.path)
        await self.reindex()

    async def reindex(self, batch: int = 5000) -> int:
        """Index every post again from its text and OCR text; returns how many were indexed."""
        done = 0
        async with self.transaction() as conn:
            await conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('delete-all')")
            last = None
            while True:
                where, params = ("WHERE id > ? ", (last, batch)) if last is not None else ("", (batch,))
                rows = await conn.execute_fetchall(
                    f"SELECT id, text, ocr_text FROM posts {where}ORDER BY id LIMIT ?", params
                )
                if not rows:
                    break
                await conn.executemany(FTS_INSERT, [(r[0], *fts_row(r[1], r[2])) for r in rows])
                done += len(rows)
                last = rows[-1][0]
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('index_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (INDEX_VERSION,),
            )
        if done:
            log.info("archive %s: search index rebuilt (%d posts)", self.path, done)
        return done
