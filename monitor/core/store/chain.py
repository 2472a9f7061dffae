"""The hash chain: what makes the archive tamper-evident.

Every captured post version, deletion mark and media link is a *record* of the chain, written in
the same transaction as the rows it proves. A record names its item and holds the SHA-256 of the
item's canonical serialisation (``item_hash``); records are numbered 1, 2, 3 ... (``seq``) and
chained, so changing, removing or inserting any archived row, or any record, shows up when
``tgmonitor verify`` recomputes them from the rows (:mod:`.verify`).

The canonical serialisation of an item is a JSON array (RFC 8259, UTF-8, no spaces; what
``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes too) of the columns
exactly as stored, so anyone can recompute it from the SQLite file with any JSON library:

- ``post`` (version 0, as first captured): ``["post", id, channel_id, message_id, date,
  fwd_from_id, fwd_from_name, reply_to, grouped_id, author, source, first_seen_at, text,
  entities, edit_date, raw]``
- ``edit`` (version k >= 1, the text seen at ``captured_at``): ``["edit", post_id, k,
  captured_at, text, entities, edit_date, raw]``
- ``delete``: ``["delete", post_id, deleted_at]``
- ``media`` (a file linked to a post): ``["media", post_id, position, sha256]``; the file itself
  is proven by its name, the SHA-256 of its bytes, which ``verify`` recomputes.
- ``genesis`` (record 1): the moment the archive was first chained.

**Blocks** (``chain_blocks``, since issue 16's cost target): the records of one save batch (and of
one call of :func:`append_records`) are stored together as one block row, one per capturing
``account`` (a save batch almost always has one source, so one block). A block holds
``seq_first`` (its record k, from 0, is record ``seq_first + k``), ``count``, ``account``,
``recorded_at`` and ``items``: the canonical JSON array of its records, each
``[kind, post_id, item, sha256, item_hash]`` (``item``: the version number for post/edit, the
position for media, else null; ``sha256``: a media record's file hash, else null). Its ``hash`` is
the SHA-256 of the canonical JSON ``[previous, seq_first, count, account, recorded_at,
items_sha256]``, where ``items_sha256`` is the SHA-256 (hex) of the ``items`` column's UTF-8 bytes
exactly as stored, and ``previous`` the previous block's ``hash`` (for the first block: the last
record hash of the per-record chain below, or 64 zeros on an archive chained in blocks from its
start). ``post_min``/``post_max`` (the lowest and highest post id of its records) only help find
a post's blocks; they are not hashed, and ``verify`` checks them against ``items``. Per record
that costs one canonical JSON and one SHA-256 (the item's); per block one JSON array, two
SHA-256 and one ``INSERT``: about half of the per-record rows' cost (``bench/README.md``).

**Per-record rows** (``chain``, archives chained before the blocks): a record's ``hash`` is the
SHA-256 of ``[previous hash, seq, kind, post_id, item, sha256, item_hash, account, recorded_at]``
(the first record's previous hash is 64 zeros). They stay valid and are verified as they were;
new records continue after their head in blocks.

Counters (views, forwards), OCR text and detection marks change after capture by design and are
not in the chain. Hashing is done here, by hand, because no library chains SQLite rows;
``hashlib`` and orjson do the work.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from hashlib import sha256 as _sha256
from typing import Any

import orjson

from monitor.core.store.common import Tx, chunks, marks
from monitor.core.times import now_iso

ZERO_HASH = "0" * 64
"""The previous hash of the first record (the genesis)."""

GENESIS_KEY = "evidence:genesis"
"""The meta key that says the archive's rows were chained (and when)."""

Item = tuple[str, int | None, int | None, str | None, str]
"""A record to append: ``(kind, post_id, item, sha256, item_hash)``."""

POST_FIELDS = (
    "id, channel_id, message_id, date, fwd_from_id, fwd_from_name, reply_to, grouped_id, author, "
    "source, first_seen_at, text, entities, edit_date, raw"
)
"""The ``posts`` columns of a ``post`` item, in its order (the last four: version 0's content)."""


def _foreign(value: Any) -> Any:
    """What a value the save never writes (a BLOB put in a column afterwards) serialises as: a
    form no stored str, int or None has, so its hash differs and ``verify`` names the row."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"blob": bytes(value).hex()}
    return {"foreign": repr(value)}


def digest(value: Sequence[Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value`` (a list or tuple of str, int and None:
    orjson writes both as the same JSON array)."""
    return _sha256(orjson.dumps(value, default=_foreign)).hexdigest()


def post_item(row: Sequence[Any]) -> str:
    """``item_hash`` of a post as first captured: ``row`` in :data:`POST_FIELDS` order."""
    return digest(["post", *row])


def edit_item(post_id: int, version: int, captured_at: str, content: Sequence[Any]) -> str:
    """``item_hash`` of version ``version`` of a post; ``content`` is ``(text, entities, edit_date, raw)``."""
    return digest(["edit", post_id, version, captured_at, *content])


def delete_item(post_id: int, deleted_at: str) -> str:
    return digest(["delete", post_id, deleted_at])


def media_item(post_id: int, position: int, sha256: str) -> str:
    return digest(["media", post_id, position, sha256])


def record_hash(
    previous: str,
    seq: int,
    kind: str,
    post_id: int | None,
    item: int | None,
    sha256: str | None,
    item_hash: str,
    account: str | None,
    recorded_at: str,
) -> str:
    """The chain hash of one record (see the module docstring)."""
    return digest((previous, seq, kind, post_id, item, sha256, item_hash, account, recorded_at))


_post_fields = operator.itemgetter(0, 1, 2, 3, 8, 9, 10, 11, 13, 15, 16, 4, 5, 12, 14)
"""A ``posts`` insert row of the save path (``plan_rows``) as :data:`POST_FIELDS`, in their order."""

INSERT_BLOCK = (
    "INSERT INTO chain_blocks (seq_first, count, account, recorded_at, post_min, post_max, items, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


INDEX_SPANS = (
    "INSERT OR REPLACE INTO chain_block_spans (id, post_min, post_max) "
    "VALUES ((SELECT id FROM chain_blocks WHERE seq_first = ?), ?, ?)"
)
"""The post id span of a block just written (by its first seq), for :data:`SPANNING`. Values, not
``INSERT ... SELECT FROM chain_blocks``: measured in the save, that one took 1 to 13 ms of CPU a
block of 2,000 records (about 2% of the save), these values 0.1 to 0.2 ms."""

SPANNING = (
    "SELECT b.id, b.seq_first FROM chain_block_spans s JOIN chain_blocks b ON b.id = s.id "
    "WHERE s.post_max >= :lo AND s.post_min <= :hi AND b.post_max >= :lo AND b.post_min <= :hi "
    "ORDER BY b.seq_first"
)
"""``(id, seq_first)`` of the blocks whose post id span meets ``[:lo, :hi]``, in chain order."""


def items_digest(items: Any) -> str:
    """``items_sha256`` of a block: the SHA-256 of its ``items`` column's UTF-8 bytes as stored (a
    value of another type, put there afterwards, gets a digest no stored text has)."""
    if isinstance(items, str):
        return _sha256(items.encode()).hexdigest()
    return digest([_foreign(items)])


def block_hash(
    previous: str, seq_first: int, count: int, account: str | None, recorded_at: str, items: Any
) -> str:
    """The chain hash of one block (see the module docstring); ``items`` as stored."""
    return digest((previous, seq_first, count, account, recorded_at, items_digest(items)))


async def chain_head(tx: Tx) -> tuple[int, str]:
    """The last record's ``(seq, hash)``: the last block's (its last record, its hash), else the
    per-record chain's last record; ``(0, ZERO_HASH)`` on an empty chain."""
    rows = list(
        await tx.execute_fetchall(
            "SELECT seq_first + count - 1, hash FROM chain_blocks ORDER BY seq_first DESC LIMIT 1"
        )
    )
    if not rows:
        rows = list(await tx.execute_fetchall("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1"))
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, ZERO_HASH)


async def append_records(
    tx: Tx, items: Iterable[Item], account: str | None, recorded_at: str | None = None
) -> int:
    """Inside ``tx``: chain ``items`` after the head, as one block; returns how many."""
    return await _append_groups(tx, {account: list(items)}, recorded_at or now_iso())


async def _append_groups(tx: Tx, groups: dict[str | None, list[Item]], when: str) -> int:
    """Chain each group's items after the head, one block per group (its ``account``)."""
    seq, previous = await chain_head(tx)
    rows: list[tuple[Any, ...]] = []
    dumps, sha256 = orjson.dumps, _sha256
    for account, items in groups.items():
        if not items:
            continue
        text = dumps(items)
        count = len(items)
        ids = [entry[1] for entry in items if entry[1] is not None]
        # block_hash(), inline: ``text`` is the column's UTF-8 bytes already.
        previous = sha256(
            dumps((previous, seq + 1, count, account, when, sha256(text).hexdigest()), default=_foreign)
        ).hexdigest()
        rows.append(
            (
                seq + 1,
                count,
                account,
                when,
                min(ids, default=None),
                max(ids, default=None),
                text.decode(),
                previous,
            )
        )
        seq += count
    if rows:
        await tx.executemany(INSERT_BLOCK, rows)
        await tx.executemany(INDEX_SPANS, [(row[0], row[4], row[5]) for row in rows if row[4] is not None])
    return sum(row[1] for row in rows)


def account_of(source: str | None, account: str | None) -> str:
    """Who captured an item: the road it came by (live, gapfill, import...) and the account."""
    return f"{source or 'unknown'}:{account}" if account else (source or "unknown")


async def chain_saved_rows(
    tx: Tx,
    insert_rows: Sequence[Sequence[Any]],
    version_rows: Sequence[Sequence[Any]],
    update_rows: Sequence[Sequence[Any]],
    link_rows: Sequence[Sequence[Any]],
    linked_before: set[tuple[int, int]],
    account: str | None,
) -> None:
    """Chain what a batch of posts just wrote (called from the save path, same transaction).

    ``insert_rows``, ``version_rows``/``update_rows`` (pairs) and ``link_rows`` are the batch's
    rows as the save wrote them (:class:`~monitor.core.store.plan.BatchRows`); ``linked_before``
    the (post id, position) that carried a file before it. Records of one batch share one
    ``account`` per source, so they are grouped by it.
    """
    by_source: dict[str | None, list[Item]] = {}
    dumps, sha256, fields = orjson.dumps, _sha256, _post_fields
    for row in insert_rows:
        # (id, channel_id, message_id, date, text, entities, views, forwards, fwd_from_id,
        #  fwd_from_name, reply_to, grouped_id, edit_date, author, raw, source, first_seen_at, ...)
        group = by_source.get(row[15])
        if group is None:
            group = by_source[row[15]] = []
        # post_item(), inline: the one hash of most saved posts.
        group.append(("post", row[0], 0, None, sha256(dumps(("post", *fields(row)))).hexdigest()))
    items: dict[str | None, list[Item]] = {}
    for source, group in by_source.items():
        items.setdefault(account_of(source, account), []).extend(group)
    if update_rows or link_rows:
        sources = {row[0]: row[15] for row in insert_rows}
        await _chain_edits_and_files(
            tx, items, sources, version_rows, update_rows, link_rows, linked_before, account
        )
    if items:
        await _append_groups(tx, items, now_iso())


async def _chain_edits_and_files(
    tx: Tx,
    items: dict[str | None, list[Item]],
    sources: dict[int, str | None],
    version_rows: Sequence[Sequence[Any]],
    update_rows: Sequence[Sequence[Any]],
    link_rows: Sequence[Sequence[Any]],
    linked_before: set[tuple[int, int]],
    account: str | None,
) -> None:
    """The edit and media records of a batch, added to ``items`` (see :func:`chain_saved_rows`)."""
    if update_rows:
        edited = [row[8] for row in update_rows]
        counts = await _version_counts(tx, sorted(set(edited)))
        unknown = [pid for pid in set(edited) if pid not in sources]
        sources.update(await _sources(tx, unknown))
        # The batch's edits of a post are its last versions, in order: number them from the end.
        seen: dict[int, int] = {}
        for pid in edited:
            seen[pid] = seen.get(pid, 0) + 1
        taken: dict[int, int] = {}
        for version, update in zip(version_rows, update_rows, strict=True):
            post_id = update[8]
            taken[post_id] = taken.get(post_id, 0) + 1
            number = counts.get(post_id, 0) - seen[post_id] + taken[post_id]
            item_hash = edit_item(post_id, number, version[5], (update[0], update[1], update[2], update[3]))
            items.setdefault(account_of(sources.get(post_id), account), []).append(
                ("edit", post_id, number, None, item_hash)
            )
    linked = set(linked_before)
    for link in link_rows:
        post_id, position, sha256 = link[0], link[1], link[2]
        if sha256 is None or (post_id, position) in linked:
            continue
        linked.add((post_id, position))
        if post_id not in sources:
            sources.update(await _sources(tx, [post_id]))
        items.setdefault(account_of(sources.get(post_id), account), []).append(
            ("media", post_id, position, sha256, media_item(post_id, position, sha256))
        )


async def chain_deletions(tx: Tx, marked: Sequence[tuple[int, str]], account: str | None) -> None:
    """Chain newly set deletion marks: ``(post id, deleted_at)`` pairs."""
    await append_records(
        tx,
        [("delete", pid, None, None, delete_item(pid, at)) for pid, at in marked],
        account_of("live", account),
    )


async def _version_counts(tx: Tx, post_ids: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for chunk in chunks(post_ids, 500):
        rows = await tx.execute_fetchall(
            f"SELECT post_id, count(*) FROM post_versions WHERE post_id IN ({marks(len(chunk))}) GROUP BY post_id",
            tuple(chunk),
        )
        counts.update((int(r[0]), int(r[1])) for r in rows)
    return counts


async def _sources(tx: Tx, post_ids: Sequence[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    for chunk in chunks(list(post_ids), 500):
        rows = await tx.execute_fetchall(
            f"SELECT id, source FROM posts WHERE id IN ({marks(len(chunk))})", tuple(chunk)
        )
        found.update((int(r[0]), r[1]) for r in rows)
    return found


async def chain_genesis(tx: Tx, account: str | None) -> int:
    """Inside ``tx``: the genesis record, then every row already archived (the backfill).

    Runs once per archive (on the first writing open after the chain's migration); rows stored
    before it are proven from this moment on, not from their capture. Returns the records made.
    """
    now = now_iso()
    rows = await tx.execute_fetchall(
        "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM post_versions), "
        "(SELECT count(*) FROM post_media WHERE sha256 IS NOT NULL)"
    )
    counts = next(iter(rows))
    note = "rows archived before this record are proven from this moment, not from their capture"
    made = await append_records(
        tx, [("genesis", None, None, None, digest(["genesis", now, *counts, note]))], "tgmonitor", now
    )
    last = -(1 << 63)
    while True:
        posts = list(
            await tx.execute_fetchall(
                f"SELECT {POST_FIELDS}, deleted_at FROM posts WHERE id > ? ORDER BY id LIMIT 2000", (last,)
            )
        )
        if not posts:
            break
        last = posts[-1][0]
        ids = [r[0] for r in posts]
        versions: dict[int, list[Sequence[Any]]] = {}
        links: dict[int, list[Sequence[Any]]] = {}
        for chunk in chunks(ids, 500):
            for v in await tx.execute_fetchall(
                f"SELECT post_id, text, entities, edit_date, raw, replaced_at FROM post_versions "
                f"WHERE post_id IN ({marks(len(chunk))}) ORDER BY post_id, id",
                tuple(chunk),
            ):
                versions.setdefault(v[0], []).append(v)
            for m in await tx.execute_fetchall(
                f"SELECT post_id, position, sha256 FROM post_media WHERE sha256 IS NOT NULL "
                f"AND post_id IN ({marks(len(chunk))}) ORDER BY post_id, position",
                tuple(chunk),
            ):
                links.setdefault(m[0], []).append(m)
        items: list[Item] = []
        for row in posts:
            items.extend(post_items(row[:15], versions.get(row[0], []), row[15], links.get(row[0], [])))
        made += await append_records(tx, items, "genesis", now)
    return made


def post_items(
    post: Sequence[Any],
    versions: Sequence[Sequence[Any]],
    deleted_at: str | None,
    links: Sequence[Sequence[Any]],
) -> list[Item]:
    """Every record a stored post should have: its versions, its deletion mark, its files.

    ``post`` in :data:`POST_FIELDS` order; ``versions`` its ``post_versions`` rows (``post_id,
    text, entities, edit_date, raw, replaced_at``) oldest first; ``links`` its ``(post_id,
    position, sha256)``. Version k's content is ``versions[k]``, the last one the post's own.
    """
    return [
        (kind, post_id, item, sha256, digest(value))
        for kind, post_id, item, sha256, value in post_item_values(post, versions, deleted_at, links)
    ]


def post_item_values(
    post: Sequence[Any],
    versions: Sequence[Sequence[Any]],
    deleted_at: str | None,
    links: Sequence[Sequence[Any]],
) -> list[tuple[str, int, int | None, str | None, list[Any]]]:
    """What :func:`post_items` hashes: ``(kind, post_id, item, sha256, canonical value)`` (an
    evidence bundle carries the values, so each item can be hashed again without the archive)."""
    post_id = post[0]
    contents = [tuple(v[1:5]) for v in versions] + [tuple(post[11:15])]
    out: list[tuple[str, int, int | None, str | None, list[Any]]] = [
        ("post", post_id, 0, None, ["post", *post[:11], *contents[0]])
    ]
    for k in range(1, len(contents)):
        out.append(("edit", post_id, k, None, ["edit", post_id, k, versions[k - 1][5], *contents[k]]))
    if deleted_at is not None:
        out.append(("delete", post_id, None, None, ["delete", post_id, deleted_at]))
    for link in links:
        out.append(("media", post_id, link[1], link[2], ["media", post_id, link[1], link[2]]))
    return out
