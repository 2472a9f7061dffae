"""The evidence side of the archive: the chain's genesis and daily heads, verifying, and the reads
that exports stream (a selection of posts, page by page, with everything that proves them).

Behind ``archive.evidence`` (like ``archive.alerts``): the chain itself is appended by the save
path (:mod:`.chain`); this store reads it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.store.blocks import BLOCK_FIELDS, parse_items
from monitor.core.store.chain import (
    GENESIS_KEY,
    POST_FIELDS,
    SPANNING,
    ZERO_HASH,
    chain_genesis,
    chain_head,
    digest,
    post_item_values,
)
from monitor.core.store.common import chunks, marks
from monitor.core.store.records import POST_COLUMNS, PostRecord, post_record
from monitor.core.store.schema import ID_SLOTS
from monitor.core.store.search import build_match_query
from monitor.core.store.verify import Progress, VerifyReport, verify_archive
from monitor.core.times import iso, now_iso, utc

if TYPE_CHECKING:
    from monitor.core.store.archive import Archive

PAGE = 500
"""Posts per page of an export: what is held in memory at once (with their versions and files)."""


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The chain's last record on a day: what is sent away and timestamped."""

    day: str
    seq: int
    hash: str
    recorded_at: str
    tsa_url: str | None = None
    tsa_token: bytes | None = None
    sent_to: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """A post with everything an export shows and proves of it."""

    post: PostRecord
    raw: str | None
    first_seen_at: str
    deleted_at: str | None
    versions: list[dict[str, Any]]  # oldest first: text, entities, edit_date, raw, replaced_at
    media: list[dict[str, Any]]  # post_media's columns, the file's path, its OCR
    alerts: list[dict[str, Any]]  # id, kind, severity, created_at, body (parsed)
    records: list[dict[str, Any]]
    """The chain records of the post, in order, each with ``value`` (the canonical item it hashes,
    when the archive still holds it); a per-record row with ``previous`` (the hash of the record
    before it) and its ``hash``, a record of a block with ``block`` (its id) and the block's
    ``hash``."""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    """The blocks holding its records (:meth:`EvidenceStore.block`): what proves each of them."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which posts an export takes (every bound optional)."""

    channel_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    query: str | None = None
    alerts_only: bool = False


class EvidenceStore:
    """The ``chain`` and ``chain_heads`` tables, and the reads of exports."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    # --- the chain -----------------------------------------------------------------------------

    async def ensure_genesis(self) -> int:
        """Chain what the archive holds, once (see :func:`~.chain.chain_genesis`); returns the
        records made (0 when the chain was started already)."""
        if await self.archive.get_meta(GENESIS_KEY):
            return 0
        async with self.archive.transaction() as tx:
            rows = list(await tx.execute_fetchall("SELECT value FROM meta WHERE key = ?", (GENESIS_KEY,)))
            if rows:  # another process got here first
                return 0
            made = await chain_genesis(tx, self.archive.capture_account)
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (GENESIS_KEY, now_iso()),
            )
        return made

    async def head(self) -> tuple[int, str]:
        """The chain's last ``(seq, hash)``."""
        return await chain_head(self.archive._conn)

    async def record_head(self, day: str) -> ChainHead:
        """Keep today's head (``day`` is ``YYYY-MM-DD``), once per day: the first call wins."""
        async with self.archive.transaction() as tx:
            seq, digest = await chain_head(tx)
            await tx.execute(
                "INSERT INTO chain_heads (day, seq, hash, recorded_at) VALUES (?, ?, ?, ?) ON CONFLICT (day) DO NOTHING",
                (day, seq, digest, now_iso()),
            )
        found = await self.day_head(day)
        assert found is not None
        return found

    async def day_head(self, day: str) -> ChainHead | None:
        row = await self.archive.fetchone(
            "SELECT day, seq, hash, recorded_at, tsa_url, tsa_token, sent_to FROM chain_heads WHERE day = ?",
            (day,),
        )
        return _head(row) if row else None

    async def heads(self) -> list[ChainHead]:
        rows = await self.archive.fetchall(
            "SELECT day, seq, hash, recorded_at, tsa_url, tsa_token, sent_to FROM chain_heads ORDER BY day"
        )
        return [_head(r) for r in rows]

    async def set_head_token(self, day: str, tsa_url: str, token: bytes) -> None:
        async with self.archive.transaction() as tx:
            await tx.execute(
                "UPDATE chain_heads SET tsa_url = ?, tsa_token = ? WHERE day = ?", (tsa_url, token, day)
            )

    async def set_head_sent(self, day: str, sinks: Sequence[str]) -> None:
        async with self.archive.transaction() as tx:
            await tx.execute(
                "UPDATE chain_heads SET sent_to = ? WHERE day = ?", (json.dumps(list(sinks)), day)
            )

    async def verify(
        self, *, since: datetime | None = None, progress: Progress | None = None, workers: int = 2
    ) -> VerifyReport:
        """Recompute the chain, the items and the files (:func:`~.verify.verify_archive`)."""
        return await asyncio.to_thread(
            verify_archive,
            self.archive.path,
            self.archive.media_dir,
            since=iso(since),
            progress=progress,
            workers=workers,
        )

    # --- what exports read ---------------------------------------------------------------------

    async def select_ids(self, selection: Selection) -> list[int]:
        """The ids of the selected posts, oldest first (ids sort by date)."""
        sql = ["SELECT p.id FROM posts p"]
        params: list[Any] = []
        where = ["1 = 1"]
        if selection.query:
            match, _terms = build_match_query(selection.query)
            if not match:
                return []
            sql.append("JOIN posts_fts f ON f.rowid = p.id")
            where.append("posts_fts MATCH ?")
            params.append(match)
        if selection.channel_id is not None:
            where.append("p.channel_id = ?")
            params.append(selection.channel_id)
        if selection.since is not None:
            where.append("p.id >= ?")
            params.append(int(utc(selection.since).timestamp()) * ID_SLOTS)
        if selection.until is not None:
            where.append("p.id < ?")
            params.append((int(utc(selection.until).timestamp()) + 1) * ID_SLOTS)
        if selection.alerts_only:
            where.append("p.id IN (SELECT post_id FROM alerts WHERE post_id IS NOT NULL)")
        rows = await self.archive.fetchall(
            " ".join([*sql, "WHERE", " AND ".join(where), "ORDER BY p.id"]), params
        )
        return [int(r[0]) for r in rows]

    async def items(self, ids: Sequence[int]) -> AsyncIterator[list[EvidenceItem]]:
        """The posts of ``ids`` with their versions, files, alerts and chain records, a page at a time."""
        blocks: dict[int, tuple[dict[str, Any], list[list[Any]]]] = {}  # a few parsed, for the next page
        for page in chunks(list(ids), PAGE):
            yield await self._page(page, blocks)
            while len(blocks) > 16:
                del blocks[next(iter(blocks))]

    async def block(self, block_id: int) -> tuple[dict[str, Any], list[list[Any]]] | None:
        """A block as a bundle carries it (its columns but the post id span, and ``previous``: the
        hash it follows), with its parsed records."""
        row = await self.archive.fetchone(
            f"SELECT {BLOCK_FIELDS} FROM chain_blocks WHERE id = ?", (block_id,)
        )
        if row is None:
            return None
        before = await self.archive.fetchone(
            "SELECT hash FROM chain_blocks WHERE seq_first < ? ORDER BY seq_first DESC LIMIT 1", (row[1],)
        )
        if before is None:
            before = await self.archive.fetchone(
                "SELECT hash FROM chain WHERE seq < ? ORDER BY seq DESC LIMIT 1", (row[1],)
            )
        block = {
            "id": row[0],
            "seq_first": row[1],
            "count": row[2],
            "account": row[3],
            "recorded_at": row[4],
            "previous": before[0] if before else ZERO_HASH,
            "hash": row[8],
            "items": row[7],
        }
        return block, parse_items(row[7]) or []

    async def _block_records(
        self, ids: Sequence[int], cache: dict[int, tuple[dict[str, Any], list[list[Any]]]]
    ) -> tuple[dict[int, list[tuple[Any, ...]]], dict[int, dict[str, Any]]]:
        """The block records of the posts ``ids`` (``post_id, seq, kind, item, sha256, item_hash,
        account, recorded_at, hash, block id``) by post, and their blocks by id."""
        wanted = set(ids)
        spanning = await self.archive.fetchall(SPANNING, {"lo": min(ids), "hi": max(ids)})
        records: dict[int, list[tuple[Any, ...]]] = {}
        used: dict[int, dict[str, Any]] = {}
        for block_id, _ in spanning:
            if block_id not in cache:
                found = await self.block(block_id)
                if found is None:
                    continue
                cache[block_id] = found
            block, entries = cache[block_id]
            for k, (kind, post_id, item, sha256, item_hash) in enumerate(entries):
                if post_id in wanted:
                    records.setdefault(post_id, []).append(
                        (post_id, block["seq_first"] + k, kind, item, sha256, item_hash,
                         block["account"], block["recorded_at"], block["hash"], block_id)
                    )  # fmt: skip
                    used[block_id] = block
        return records, used

    async def _page(
        self, ids: Sequence[int], cache: dict[int, tuple[dict[str, Any], list[list[Any]]]]
    ) -> list[EvidenceItem]:
        fetch = self.archive.fetchall
        holes = marks(len(ids))
        posts = await fetch(
            f"SELECT {POST_COLUMNS}, p.raw, p.first_seen_at FROM posts p JOIN channels c ON c.id = p.channel_id "
            f"WHERE p.id IN ({holes}) ORDER BY p.id",
            ids,
        )
        deleted = {
            r[0]: r[1] for r in await fetch(f"SELECT id, deleted_at FROM posts WHERE id IN ({holes})", ids)
        }
        versions = _group(
            await fetch(
                f"SELECT post_id, text, entities, edit_date, raw, replaced_at FROM post_versions "
                f"WHERE post_id IN ({holes}) ORDER BY post_id, id",
                ids,
            )
        )
        media = _group(
            await fetch(
                f"SELECT pm.post_id, pm.position, pm.sha256, pm.kind, pm.file_name, pm.mime_type, pm.size, "
                f"pm.missing_reason, m.path, m.ocr_status, m.ocr_text, m.phash FROM post_media pm "
                f"LEFT JOIN media m ON m.sha256 = pm.sha256 WHERE pm.post_id IN ({holes}) ORDER BY pm.post_id, pm.position",
                ids,
            )
        )
        alerts = _group(
            await fetch(
                f"SELECT post_id, id, kind, severity, created_at, body FROM alerts WHERE post_id IN ({holes}) "
                "ORDER BY post_id, id",
                ids,
            )
        )
        records = _group(
            await fetch(
                f"SELECT post_id, seq, kind, item, sha256, item_hash, account, recorded_at, hash FROM chain "
                f"WHERE post_id IN ({holes}) ORDER BY post_id, seq",
                ids,
            )
        )
        canonical = {
            r[0]: r
            for r in await fetch(f"SELECT {POST_FIELDS}, deleted_at FROM posts WHERE id IN ({holes})", ids)
        }
        previous = await self._previous_hashes([r[1] for group in records.values() for r in group])
        in_blocks, blocks = await self._block_records(ids, cache)
        for post_id, group in in_blocks.items():
            records.setdefault(post_id, []).extend(group)
        out: list[EvidenceItem] = []
        for row in posts:
            record = post_record(row)
            values = {
                (kind, item): value
                for kind, _pid, item, _sha, value in post_item_values(
                    canonical[record.id][:15],
                    versions.get(record.id, []),
                    canonical[record.id][15],
                    [(m[0], m[1], m[2]) for m in media.get(record.id, []) if m[2] is not None],
                )
            }
            out.append(
                EvidenceItem(
                    post=record,
                    raw=row[19],
                    first_seen_at=row[20],
                    deleted_at=deleted.get(record.id),
                    versions=[
                        dict(zip(_VERSION_KEYS, r[1:], strict=True)) for r in versions.get(record.id, [])
                    ],
                    media=[dict(zip(_MEDIA_KEYS, r[1:], strict=True)) for r in media.get(record.id, [])],
                    alerts=[
                        {
                            "id": r[1],
                            "kind": r[2],
                            "severity": r[3],
                            "created_at": r[4],
                            "body": json.loads(r[5]),
                        }
                        for r in alerts.get(record.id, [])
                    ],
                    records=[
                        _proof(r[1:], previous.get(r[1] - 1), values) for r in records.get(record.id, [])
                    ],
                    blocks=[blocks[i] for i in dict.fromkeys(r[9] for r in in_blocks.get(record.id, []))],
                )
            )
        return out

    async def _previous_hashes(self, seqs: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in chunks(sorted({s - 1 for s in seqs}), 500):
            rows = await self.archive.fetchall(
                f"SELECT seq, hash FROM chain WHERE seq IN ({marks(len(chunk))})", chunk
            )
            found.update((int(r[0]), r[1]) for r in rows)
        return found

    async def chain_record(self, seq: int) -> dict[str, Any] | None:
        """Record ``seq``: a per-record row, or an entry of the block holding it (with ``block``,
        its id, and ``hash``, the block's)."""
        row = await self.archive.fetchone(
            "SELECT seq, kind, item, sha256, item_hash, account, recorded_at, hash FROM chain WHERE seq = ?",
            (seq,),
        )
        if row:
            return dict(zip(_RECORD_KEYS, row, strict=True))
        found = await self.archive.fetchone(
            "SELECT id FROM chain_blocks WHERE seq_first <= ? AND seq_first + count > ? ", (seq, seq)
        )
        block = await self.block(found[0]) if found else None
        if block is None or len(block[1]) <= seq - block[0]["seq_first"]:
            return None
        kind, _post_id, item, sha256, item_hash = block[1][seq - block[0]["seq_first"]]
        info = block[0]
        return {
            "seq": seq, "kind": kind, "item": item, "sha256": sha256, "item_hash": item_hash,
            "account": info["account"], "recorded_at": info["recorded_at"], "hash": info["hash"],
            "block": info["id"],
        }  # fmt: skip

    async def posts(self, selection: Selection) -> AsyncIterator[list[PostRecord]]:
        """The selected posts (no versions or files), a page at a time, oldest first."""
        ids = await self.select_ids(selection)
        for page in chunks(ids, PAGE):
            rows = await self.archive.fetchall(
                f"SELECT {POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
                f"WHERE p.id IN ({marks(len(page))}) ORDER BY p.id",
                page,
            )
            yield [post_record(r) for r in rows]

    async def alerts_of(self, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The alerts of these posts, oldest first: ``id, kind, severity, created_at, body``."""
        found: dict[int, list[dict[str, Any]]] = {}
        for chunk in chunks(list(ids), 500):
            rows = await self.archive.fetchall(
                f"SELECT post_id, id, kind, severity, created_at, body FROM alerts "
                f"WHERE post_id IN ({marks(len(chunk))}) ORDER BY id",
                chunk,
            )
            for r in rows:
                found.setdefault(r[0], []).append(
                    {"id": r[1], "kind": r[2], "severity": r[3], "created_at": r[4], "body": json.loads(r[5])}
                )
        return found

    async def alert_rows(self, selection: Selection) -> list[dict[str, Any]]:
        """The post alerts of the selected posts' channels and dates, oldest first, with the
        image hashes of their posts: what a MISP export turns into events."""
        sql = [
            "SELECT a.id, a.kind, a.severity, a.created_at, a.body, a.post_id FROM alerts a "
            "JOIN posts p ON p.id = a.post_id WHERE a.kind = 'post'"
        ]
        params: list[Any] = []
        if selection.channel_id is not None:
            sql.append("AND p.channel_id = ?")
            params.append(selection.channel_id)
        if selection.since is not None:
            sql.append("AND a.created_at >= ?")
            params.append(iso(selection.since))
        if selection.until is not None:
            sql.append("AND a.created_at <= ?")
            params.append(iso(selection.until))
        sql.append("ORDER BY a.id")
        rows = await self.archive.fetchall(" ".join(sql), params)
        images = _group(
            [
                r
                for chunk in chunks(sorted({r[5] for r in rows}), 500)
                for r in await self.archive.fetchall(
                    f"SELECT post_id, sha256 FROM post_media WHERE sha256 IS NOT NULL "
                    f"AND post_id IN ({marks(len(chunk))}) ORDER BY post_id, position",
                    chunk,
                )
            ]
        )
        return [
            {
                "id": r[0],
                "kind": r[1],
                "severity": r[2],
                "created_at": r[3],
                "body": json.loads(r[4]),
                "images": [m[1] for m in images.get(r[5], [])],
            }
            for r in rows
        ]


_VERSION_KEYS = ("text", "entities", "edit_date", "raw", "replaced_at")
_MEDIA_KEYS = (
    "position", "sha256", "kind", "file_name", "mime_type", "size", "missing_reason", "path", "ocr_status",
    "ocr_text", "phash",
)  # fmt: skip
_RECORD_KEYS = ("seq", "kind", "item", "sha256", "item_hash", "account", "recorded_at", "hash")


def _proof(
    row: Sequence[Any], previous: str | None, values: dict[tuple[str, Any], list[Any]]
) -> dict[str, Any]:
    """A chain record as a bundle shows it: with its previous hash and the item it hashes."""
    proof = dict(zip(_RECORD_KEYS, row[:8], strict=True))
    value = values.get((proof["kind"], proof["item"]))
    if len(row) > 8:  # a record of a block: the block proves it
        proof["block"] = row[8]
    else:
        proof["previous"] = previous
    proof["value"] = value if value is not None and digest(value) == proof["item_hash"] else None
    return proof


def _group(rows: Sequence[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


def _head(row: Any) -> ChainHead:
    return ChainHead(
        day=row[0],
        seq=int(row[1]),
        hash=row[2],
        recorded_at=row[3],
        tsa_url=row[4],
        tsa_token=bytes(row[5]) if row[5] is not None else None,
        sent_to=json.loads(row[6]) if row[6] else [],
    )
