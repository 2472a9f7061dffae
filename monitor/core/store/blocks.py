"""Reading the chain's blocks (``chain_blocks``, see :mod:`.chain`): their records by post id or by
seq, for ``verify`` (plain ``sqlite3``, in worker processes too) and for tests.

There is no per-record index: a post's records are found by the blocks whose ``post_min`` ..
``post_max`` span its id (a scan of a few hundred short rows; the ``items`` text of the others is
never read), and those blocks are parsed, a few kept parsed for the next look-up. A 1 M-post
archive is ~500 blocks of 2,000 records; parsing all of them takes about a second.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from monitor.core.store.chain import SPANNING

BLOCK_FIELDS = "id, seq_first, count, account, recorded_at, post_min, post_max, items, hash"
"""The ``chain_blocks`` columns, in the order the readers here unpack them."""

PostRecord = tuple[int, str, int | None, str, int]
"""A record as the posts' pass compares it: ``(post_id, kind, item, item_hash, seq)``."""


def parse_items(items: Any) -> list[list[Any]] | None:
    """A block's ``items`` as a list of ``[kind, post_id, item, sha256, item_hash]``; None when the
    column is no longer such a JSON array (altered)."""
    if not isinstance(items, str):
        return None
    try:
        value = orjson.loads(items)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, list) or not all(isinstance(e, list) and len(e) == 5 for e in value):
        return None
    return value


def id_span(entries: Iterable[list[Any]]) -> tuple[int | None, int | None]:
    """The lowest and highest post id of a block's entries (``post_min``, ``post_max``)."""
    ids = [e[1] for e in entries if e[1] is not None]
    return (min(ids), max(ids)) if ids else (None, None)


class BlockReader:
    """The records of posts from the blocks of one connection (one read snapshot)."""

    def __init__(self, conn: sqlite3.Connection, keep: int = 32):
        self.conn = conn
        self.keep = keep
        self._parsed: OrderedDict[int, list[list[Any]]] = OrderedDict()

    def _entries(self, block_id: int) -> list[list[Any]]:
        entries = self._parsed.get(block_id)
        if entries is not None:
            self._parsed.move_to_end(block_id)
            return entries
        row = self.conn.execute("SELECT items FROM chain_blocks WHERE id = ?", (block_id,)).fetchone()
        entries = (parse_items(row[0]) if row else None) or []  # an altered block: named by the chain pass
        self._parsed[block_id] = entries
        if len(self._parsed) > self.keep:
            self._parsed.popitem(last=False)
        return entries

    def records(self, lo: int, hi: int, ids: set[int] | None = None) -> list[PostRecord]:
        """The records of posts with ids in ``[lo, hi]`` (and in ``ids`` when given), ordered by
        post id and seq."""
        out: list[PostRecord] = []
        spanning = self.conn.execute(SPANNING, {"lo": lo, "hi": hi}).fetchall()
        for block_id, seq_first in spanning:
            for k, entry in enumerate(self._entries(block_id)):
                post_id = entry[1]
                if isinstance(post_id, int) and lo <= post_id <= hi and (ids is None or post_id in ids):
                    out.append((post_id, entry[0], entry[2], entry[4], seq_first + k))
        out.sort(key=_by_post_and_seq)
        return out

    def since(self, start: int) -> list[tuple[int, str, int | None, int]]:
        """``(seq, kind, post_id, item)`` of every block record from seq ``start`` on."""
        out = []
        for block_id, seq_first in self.conn.execute(
            "SELECT id, seq_first FROM chain_blocks WHERE seq_first + count > ? ORDER BY seq_first",
            (start,),
        ).fetchall():
            for k, entry in enumerate(self._entries(block_id)):
                if seq_first + k >= start:
                    out.append((seq_first + k, entry[0], entry[1], entry[2]))
        return out

    def weights(self) -> list[tuple[int, int]]:
        """``(post_min, count)`` of every block holding post records, by ``post_min``: what the id
        ranges of a parallel verify are cut from."""
        return [
            (int(r[0]), int(r[1]))
            for r in self.conn.execute(
                "SELECT post_min, count FROM chain_blocks WHERE post_min IS NOT NULL ORDER BY post_min"
            )
        ]


def _by_post_and_seq(record: PostRecord) -> tuple[int, int]:
    return record[0], record[4]


def all_records(
    conn: sqlite3.Connection,
) -> list[tuple[int, str, int | None, int | None, str | None, str, str | None, str]]:
    """Every record of the chain, per-record rows and blocks together, by seq: ``(seq, kind,
    post_id, item, sha256, item_hash, account, recorded_at)`` (tests and small archives only: it
    holds them all)."""
    out = list(
        conn.execute(
            "SELECT seq, kind, post_id, item, sha256, item_hash, account, recorded_at FROM chain ORDER BY seq"
        )
    )
    for seq_first, account, recorded_at, items in conn.execute(
        "SELECT seq_first, account, recorded_at, items FROM chain_blocks ORDER BY seq_first"
    ):
        for k, (kind, post_id, item, sha256, item_hash) in enumerate(parse_items(items) or []):
            out.append((seq_first + k, kind, post_id, item, sha256, item_hash, account, recorded_at))
    return out
