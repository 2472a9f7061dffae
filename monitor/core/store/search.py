"""The full-text index: what a post's indexed row is, how a query is built, search, re-indexing.

The FTS5 index shares the posts' rowid, which sorts by date (``date_unix * ID_SLOTS + k``), so
"newest first" is FTS5's own rowid order and the first page of even a very common word is read
without sorting all its matches. It is contentless (no copy of the text): a row is removed with the
values it was made from, which are always :func:`fts_row` of ``posts.text, posts.ocr_text``.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.core.store.channels import ChannelsMixin
from monitor.core.store.meta import MetaMixin
from monitor.core.store.records import POST_COLUMNS, SearchHit, post_record
from monitor.core.store.schema import ID_SLOTS, INDEX_VERSION
from monitor.core.text import index_words, normalize, normalize_with_offsets, strip_proclitics, words
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
    tokens = words(normalize(text))
    if ocr_text:
        tokens += ["\n", *words(normalize(ocr_text))]
    body = " ".join(tokens)
    return body, index_words(tokens)


_QUERY_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')


def build_match_query(query: str) -> tuple[str, list[str]]:
    """Turn any user input into a safe FTS5 query and the normalised terms to highlight.

    Supported: words (all must match), ``"a phrase"``, ``word*`` for a prefix, ``OR`` between
    two terms. Everything else (FTS operators, column syntax, brackets, control characters) is
    taken as text: each term is normalised like the index and quoted, so no input can be an
    FTS5 syntax error.
    """
    clauses: list[list[str]] = []  # AND of groups; each group is an OR of alternatives
    terms: list[str] = []
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
        terms.extend(tokens)
        quoted = '"' + " ".join(tokens) + '"'
        clause = f"{quoted}*" if prefix else quoted
        if len(tokens) > 1:
            clause = f"body : {clause}"  # a phrase lives in the plain text column
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
        if pending_or:
            clauses[-1].append(clause)  # flat, not nested: FTS5's parser stack overflows on nesting
            pending_or = False
        else:
            clauses.append([clause])
    return " AND ".join(
        group[0] if len(group) == 1 else f"({' OR '.join(group)})" for group in clauses
    ), terms


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


def make_snippet(
    text: str, ocr_text: str | None, terms: Sequence[str], width: int = 160
) -> tuple[str, list[tuple[int, int]]]:
    """A short piece of the original text around the first query term, with the spans to emphasise."""
    for source in (text, ocr_text or ""):
        if not source:
            continue
        normalized, origins = normalize_with_offsets(source)
        spans = []
        for term in terms:
            for m in _term_pattern(term).finditer(normalized):
                spans.append((origins[m.start()][0], origins[m.end() - 1][1]))
        if not spans:
            continue
        spans = _merge_spans(spans)
        first = spans[0][0]
        left = max(0, first - width // 3)
        right = min(len(source), left + width)
        piece = source[left:right]
        prefix = "…" if left > 0 else ""
        suffix = "…" if right < len(source) else ""
        shift = len(prefix) - left
        marks = [(s + shift, e + shift) for s, e in spans if s >= left and e <= right]
        label = "" if source is text else "[poster] "
        snippet = (label + prefix + piece + suffix).replace("\n", " ")
        return snippet, [(s + len(label), e + len(label)) for s, e in marks]
    plain = (text or ocr_text or "").replace("\n", " ")
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
    ) -> list[SearchHit]:
        """Full-text search. Any input is a valid query; see :func:`build_match_query`."""
        match, terms = build_match_query(query)
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
        sql.append(
            "ORDER BY bm25(posts_fts), f.rowid DESC" if sort == "relevance" else "ORDER BY f.rowid DESC"
        )
        sql.append("LIMIT ?")
        params.append(max(1, limit))
        try:
            rows = await self.fetchall(" ".join(sql), params)
        except sqlite3.OperationalError as exc:  # should not happen: every term is quoted
            log.warning("search %r failed: %s", query, exc)
            return []
        hits = []
        for row in rows:
            record = post_record(row)
            snippet, highlights = make_snippet(record.text, record.ocr_text, terms)
            hits.append(SearchHit(record, snippet, highlights))
        return hits

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
