"""Checking the hash chain against the archive: what ``tgmonitor verify`` runs.

Three passes over one read snapshot (a single read transaction, so a daemon writing meanwhile
never looks like tampering), on a connection of its own in a worker thread: a bulk read of a
million rows is faster as plain ``sqlite3`` than as a million hops through aiosqlite.

1. **The chain**: every per-record row's hash (archives chained before the blocks), then every
   block's hash, is recomputed from the one before; a gap in the sequence, a record or block
   that does not follow ("block N (records a-b) altered"), a block whose items are not the
   records it counts or whose post id span is not theirs, and a recorded daily head that the
   chain no longer holds are named.
2. **The items**: each post's expected records (:func:`~.chain.post_items`: its versions, its
   deletion mark, its files) are recomputed from the rows and compared with the last record of
   each; a difference is a post, version, mark or file *changed*, one without a record was
   *inserted* afterwards, a record without its row names what was *removed*.
3. **The files**: every linked file is hashed again and compared with its name.

A whole archive's second pass goes over ranges of post ids (:func:`_id_ranges`, cut from the
blocks' post id spans and the per-record rows' ``post_id`` index), each a merge of four scans in
id order (posts, versions, files, chain records: :class:`_Rows`; a range's block records are
unpacked from the blocks spanning it, :class:`~.blocks.BlockReader`), so every table is read
once in big ordered batches and a record whose post is gone is met on the way; from
``parallel_from`` posts the ranges go to worker processes while this one checks the chain. A
million posts take about 30 CPU seconds on a loaded 2-core machine (``bench/evidence.py``).

``since`` (an ISO 8601 UTC time) limits the passes to what was recorded or written since then:
the chain from its first record of that time, and the posts those records or later writes touch.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.core.models import Channel, message_link
from monitor.core.store.blocks import BLOCK_FIELDS as BLOCK_COLUMNS
from monitor.core.store.blocks import BlockReader, id_span, parse_items
from monitor.core.store.chain import POST_FIELDS, ZERO_HASH, block_hash, digest, post_items, record_hash
from monitor.core.store.common import chunks, marks
from monitor.core.store.opening import read_only_uri

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``: how far a pass is (stages: chain, posts, files)."""

_BATCH = 2000
"""Rows fetched at a time by the ordered scans of the posts' pass."""


def _post_hash(row: Sequence[Any]) -> str:
    """``item_hash`` of a post never edited: its row as read (``POST_FIELDS, deleted_at``)."""
    return digest(("post", *row[:15]))


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that does not hold: ``subject`` (the post, version, file or record) and what."""

    subject: str
    problem: str  # changed | removed | inserted | broken
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


@dataclass
class VerifyReport:
    """What ``verify`` checked and found."""

    records: int = 0
    posts: int = 0
    files: int = 0
    genesis_at: str | None = None
    head: tuple[int, str] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_archive(
    db_path: Path,
    media_dir: Path,
    *,
    since: str | None = None,
    progress: Progress | None = None,
    workers: int = 2,
    parallel_from: int = 50_000,
) -> VerifyReport:
    """Recompute the chain, the items and the files of the archive at ``db_path`` (read only).

    A whole archive of at least ``parallel_from`` posts is split into ranges of ids checked by
    ``workers`` processes (each range in one snapshot of its own, with the chain records of its
    posts), while this process checks the chain: two cores, twice the speed.
    """
    conn = _connect(db_path)
    try:
        conn.execute("BEGIN")  # one snapshot for every pass
        report = VerifyReport()
        checker = _Checker(conn, media_dir, report, progress or (lambda *_: None))
        if since is not None:
            start = checker.check_chain(since)
            checker.check_orphans(since, start)
            checker.check_posts(since, start)
        else:
            total = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
            if workers > 1 and total >= parallel_from:
                _check_in_workers(checker, str(db_path), total, workers)
            else:
                checker.check_chain(None)
                # Range by range, as the workers do: a range's block records are held in memory.
                done = 0
                for lo, hi in _id_ranges(conn, max(1, total // 50_000)):
                    done += checker.check_range(
                        lo, hi, lambda n, base=done: checker.progress("posts", base + n, total)
                    )
                report.posts = done
        checker.check_files()
        conn.execute("COMMIT")
        return report
    finally:
        conn.close()


_LOWEST, _HIGHEST = -(1 << 63), (1 << 63) - 1


def _check_in_workers(checker: _Checker, db_path: str, total: int, workers: int) -> None:
    """The posts' pass over ranges of ids in ``workers`` processes, the chain's here meanwhile."""
    report = checker.report
    ranges = _id_ranges(checker.conn, max(workers * 8, total // 50_000))
    context = multiprocessing.get_context("spawn")  # the caller has threads: no fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_check_range, db_path, lo, hi) for lo, hi in ranges]
        checker.check_chain(None)
        done = 0
        for future in futures:
            findings, files, count = future.result()
            report.findings.extend(Finding(*f) for f in findings)
            for sha256, subject in files.items():
                checker.files.setdefault(sha256, subject)
            done += count
            checker.progress("posts", done, total)
        report.posts = done


def _connect(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(read_only_uri(db_path), uri=True, isolation_level=None)


def _id_ranges(conn: sqlite3.Connection, parts: int) -> list[tuple[int, int]]:
    """About ``parts`` ranges ``[lo, hi]`` of post ids, together every id, holding about as many
    chain records each (the work of a range grows with its records).

    The edges are cut from the blocks' ``post_min`` weighed by their records, and for records of
    the per-record ``chain`` table, from its ``post_id`` index, stepping over as many entries
    each time: where counting rows of ``posts`` would read the whole table. Posts without records
    (inserted afterwards) still fall in a range, only unweighed.
    """
    edges = {_LOWEST}
    weights = BlockReader(conn).weights()
    records = sum(count for _lo, count in weights)
    if records:
        step, seen = max(1, records // parts), 0
        for post_min, count in weights:
            if seen >= step:
                edges.add(post_min)
                seen = 0
            seen += count
    old = conn.execute("SELECT max(seq) FROM chain").fetchone()[0] or 0
    step, last = max(1, old // parts), _LOWEST
    for _ in range(parts - 1 if old else 0):
        row = conn.execute(
            "SELECT post_id FROM chain WHERE post_id >= ? ORDER BY post_id LIMIT 1 OFFSET ?", (last, step)
        ).fetchone()
        if row is None:
            break
        if row[0] <= last:  # one post with more records than a step: go past it
            row = conn.execute("SELECT min(post_id) FROM chain WHERE post_id > ?", (last,)).fetchone()
            if row[0] is None:
                break
        last = row[0]
        edges.add(last)
    cut = sorted(edges)
    return [(lo, hi - 1) for lo, hi in itertools.pairwise(cut)] + [(cut[-1], _HIGHEST)]


def _check_range(db_path: str, lo: int, hi: int) -> tuple[list[tuple[str, str, str]], dict[str, str], int]:
    """In a worker process: check the posts with ids in ``[lo, hi]``; their findings, their files
    (sha256 -> the post that carries it) and how many posts."""
    conn = _connect(Path(db_path))
    try:
        conn.execute("BEGIN")
        report = VerifyReport()
        checker = _Checker(conn, Path("."), report, lambda *_: None)
        count = checker.check_range(lo, hi)
        conn.execute("COMMIT")
        return [(f.subject, f.problem, f.detail) for f in report.findings], checker.files, count
    finally:
        conn.close()


class _Rows:
    """The rows of one query ordered by post id, taken a post at a time.

    The posts' pass is a merge join in Python over four ordered scans (posts, their versions,
    their files, their chain records) of one id range: each table is read once, in index order,
    in big batches, instead of three ``IN (...)`` queries for every page of posts.
    """

    __slots__ = ("_batches", "_row", "_rows")

    def __init__(self, cursor: sqlite3.Cursor | None = None, rows: list[Any] | None = None):
        self._batches: Iterator[list[Any]] = (
            iter(lambda: cursor.fetchmany(_BATCH), []) if cursor is not None else iter([rows] if rows else [])
        )
        self._rows: Iterator[Any] = iter(())
        self._row: Any = self._next()

    def _next(self) -> Any:
        row = next(self._rows, None)
        if row is None:
            batch = next(self._batches, None)
            if batch is None:
                return None
            self._rows = iter(batch)
            row = next(self._rows)
        return row

    def take(self, post_id: int, skipped: Callable[[Any], None] | None = None) -> list[Any]:
        """The rows of ``post_id`` (the caller goes up the ids); rows of lower ids left behind
        (no such post) go to ``skipped``."""
        row = self._row
        if row is None or row[0] > post_id:
            return []
        out = []
        while row is not None and row[0] <= post_id:
            if row[0] == post_id:
                out.append(row)
            elif skipped is not None:
                skipped(row)
            row = self._next()
        self._row = row
        return out

    def rest(self) -> Iterator[Any]:
        """The rows not taken."""
        while self._row is not None:
            yield self._row
            self._row = self._next()


class _Checker:
    def __init__(self, conn: sqlite3.Connection, media_dir: Path, report: VerifyReport, progress: Progress):
        self.conn = conn
        self.media_dir = media_dir
        self.report = report
        self.progress = progress
        self.channels: dict[int, Channel] = {
            r[0]: Channel(r[0], r[1], r[2]) for r in conn.execute("SELECT id, username, title FROM channels")
        }
        self.files: dict[str, str] = {}  # sha256 -> post subject, of every file to hash again
        self.blocks = BlockReader(conn)

    def found(self, subject: str, problem: str, detail: str) -> None:
        self.report.findings.append(Finding(subject, problem, detail))

    # --- 1. the chain ------------------------------------------------------------------------

    def check_chain(self, since: str | None) -> int:
        """Recompute every record's and block's hash (from ``since``); returns the first seq checked.

        The per-record rows (``chain``, archives chained before the blocks) come first, the blocks
        continue after their head."""
        conn = self.conn
        old_last = conn.execute("SELECT max(seq) FROM chain").fetchone()[0] or 0
        row = conn.execute("SELECT max(seq_first + count - 1) FROM chain_blocks").fetchone()
        last = max(old_last, row[0] or 0)
        self._check_genesis()
        start, previous = 1, ZERO_HASH
        if since is not None:
            row = conn.execute("SELECT min(seq) FROM chain WHERE recorded_at >= ?", (since,)).fetchone()
            if row[0] is None:
                row = conn.execute(
                    "SELECT min(seq_first) FROM chain_blocks WHERE recorded_at >= ?", (since,)
                ).fetchone()
            start = row[0] if row[0] is not None else last + 1
            if start > 1:
                previous = self._hash_before(start)
        expected, previous, done = self._check_records(start, previous, last)
        expected, previous, done = self._check_blocks(start, expected, previous, done, last)
        self.report.records = done
        self.report.head = self._head(last, old_last)
        for day, seq, stored in conn.execute("SELECT day, seq, hash FROM chain_heads ORDER BY day"):
            held = self._head(seq, old_last)
            if held is None:
                self.found(
                    f"chain head of {day}",
                    "removed",
                    f"the chain no longer reaches record {seq}: records removed",
                )
            elif held[1] != stored:
                self.found(
                    f"chain head of {day}", "changed", f"record {seq} is not the one recorded that day"
                )
        return start

    def _check_genesis(self) -> None:
        conn = self.conn
        genesis = conn.execute("SELECT seq, kind, recorded_at FROM chain ORDER BY seq LIMIT 1").fetchone()
        if genesis is None:
            block = conn.execute(
                "SELECT seq_first, items, recorded_at FROM chain_blocks ORDER BY seq_first LIMIT 1"
            ).fetchone()
            entries = parse_items(block[1]) if block else None
            if block is not None and entries:
                genesis = (block[0], entries[0][0], block[2])
        if genesis is None or genesis[0] != 1 or genesis[1] != "genesis":
            self.found("chain", "broken", "its first record (the genesis) is missing or was replaced")
        else:
            self.report.genesis_at = genesis[2]

    def _hash_before(self, start: int) -> str:
        """The hash the record or block at ``start`` follows."""
        found = self.conn.execute(
            "SELECT hash FROM chain_blocks WHERE seq_first < ? ORDER BY seq_first DESC LIMIT 1", (start,)
        ).fetchone()
        if found is None:
            found = self.conn.execute(
                "SELECT hash FROM chain WHERE seq < ? ORDER BY seq DESC LIMIT 1", (start,)
            ).fetchone()
        return found[0] if found else ZERO_HASH

    def _head(self, seq: int, old_last: int) -> tuple[int, str] | None:
        """``(seq, hash)`` of the record ``seq`` as a head: a per-record row, or the block ending there."""
        if seq <= old_last:
            row = self.conn.execute("SELECT seq, hash FROM chain WHERE seq = ?", (seq,)).fetchone()
        else:
            row = self.conn.execute(
                "SELECT seq_first + count - 1, hash FROM chain_blocks WHERE seq_first <= ? "
                "ORDER BY seq_first DESC LIMIT 1",
                (seq,),
            ).fetchone()
            row = row if row is not None and row[0] == seq else None
        return (row[0], row[1]) if row else None

    def _check_records(self, start: int, previous: str, last: int) -> tuple[int, str, int]:
        """The per-record rows from ``start``; returns the next expected seq, the last hash, how many."""
        expected = start
        cursor = self.conn.execute(
            "SELECT seq, kind, post_id, item, sha256, item_hash, account, recorded_at, hash FROM chain "
            "WHERE seq >= ? ORDER BY seq",
            (start,),
        )
        done = 0
        while rows := cursor.fetchmany(5000):
            for seq, kind, post_id, item, sha256, item_hash, account, recorded_at, stored in rows:
                if seq != expected:
                    self.found(
                        f"chain records {expected}-{seq - 1}",
                        "removed",
                        "removed from the chain (a gap before this)",
                    )
                computed = record_hash(
                    previous, seq, kind, post_id, item, sha256, item_hash, account, recorded_at
                )
                if computed != stored:
                    what = f" of post id {post_id}" if post_id is not None else ""
                    self.found(
                        f"chain record {seq} ({kind}{what})",
                        "broken",
                        "does not follow the record before it: it, or the one before, was changed",
                    )
                previous, expected = stored, seq + 1
            done += len(rows)
            self.progress("chain", done, max(0, last - start + 1))
        return expected, previous, done

    def _check_blocks(
        self, start: int, expected: int, previous: str, done: int, last: int
    ) -> tuple[int, str, int]:
        """The blocks from ``start`` (after the per-record rows); same returns as :meth:`_check_records`."""
        cursor = self.conn.execute(
            f"SELECT {BLOCK_COLUMNS} FROM chain_blocks WHERE seq_first >= ? ORDER BY seq_first", (start,)
        )
        while rows := cursor.fetchmany(50):
            for block_id, seq_first, count, account, recorded_at, post_min, post_max, items, stored in rows:
                subject = f"block {block_id} (records {seq_first}-{seq_first + count - 1})"
                if seq_first != expected:
                    self.found(
                        f"chain records {expected}-{seq_first - 1}",
                        "removed",
                        "removed from the chain (a gap before this)",
                    )
                entries = parse_items(items)
                if block_hash(previous, seq_first, count, account, recorded_at, items) != stored:
                    self.found(
                        subject,
                        "broken",
                        "altered: it does not follow the block before it (it, or the one before, was changed)",
                    )
                elif entries is None or len(entries) != count:
                    self.found(subject, "broken", "altered: its records are not the ones it counts")
                elif id_span(entries) != (post_min, post_max):
                    self.found(subject, "broken", "altered: its post id range is not its records'")
                previous, expected = stored, seq_first + count
                done += count
            self.progress("chain", done, max(0, last - start + 1))
        return expected, previous, done

    # --- 2. the items ------------------------------------------------------------------------

    def check_orphans(self, since: str | None, start: int) -> None:
        """Chain records whose post is gone: the post was removed."""
        orphans = self.conn.execute(
            "SELECT post_id, min(seq) FROM chain WHERE seq >= ? AND post_id IS NOT NULL "
            "AND post_id NOT IN (SELECT id FROM posts) GROUP BY post_id",
            (start if since is not None else 1,),
        ).fetchall()
        first: dict[int, int] = {}
        for seq, _kind, post_id, _item in self.blocks.since(start if since is not None else 1):
            if post_id is not None:
                first.setdefault(post_id, seq)
        present: set[int] = set()
        for chunk in chunks(sorted(first), 500):
            present.update(
                r[0]
                for r in self.conn.execute(f"SELECT id FROM posts WHERE id IN ({marks(len(chunk))})", chunk)
            )
        orphans = sorted([*orphans, *((pid, seq) for pid, seq in first.items() if pid not in present)])
        for post_id, seq in orphans:
            self.found(f"post id {post_id}", "removed", f"removed from the archive (chained in record {seq})")

    def check_posts(self, since: str | None, start: int) -> None:
        """The posts that records from ``start`` or writes since ``since`` touch (whole archives
        take :meth:`check_range`)."""
        conn = self.conn
        ids = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT post_id FROM chain WHERE seq >= ? AND post_id IS NOT NULL", (start,)
            )
        }
        ids.update(post_id for _seq, _kind, post_id, _item in self.blocks.since(start) if post_id is not None)
        ids.update(
            r[0]
            for r in conn.execute(
                "SELECT id FROM posts WHERE first_seen_at >= ? OR updated_at >= ?", (since, since)
            )
        )
        done = 0
        for page in self._posts_by_id(sorted(ids)):
            self.check_page(page)
            done += len(page)
            self.progress("posts", done, len(ids))
        self.report.posts = done

    def check_range(self, lo: int, hi: int, done_so_far: Callable[[int], None] | None = None) -> int:
        """Check the posts with ids in ``[lo, hi]`` and name the posts of the range removed since
        their records were made; returns how many posts (``done_so_far`` is told after each page)."""
        conn, span = self.conn, (lo, hi)
        posts = conn.execute(
            f"SELECT {POST_FIELDS}, deleted_at FROM posts WHERE id BETWEEN ? AND ? ORDER BY id", span
        )
        versions = _Rows(
            conn.execute(
                "SELECT post_id, text, entities, edit_date, raw, replaced_at FROM post_versions "
                "WHERE post_id BETWEEN ? AND ? ORDER BY post_id, id",
                span,
            )
        )
        links = _Rows(
            conn.execute(
                "SELECT post_id, position, sha256 FROM post_media WHERE sha256 IS NOT NULL "
                "AND post_id BETWEEN ? AND ? ORDER BY post_id, position",
                span,
            )
        )
        records = _Rows(rows=self._records_between(lo, hi))
        orphans: dict[int, int] = {}  # post id -> its first record, of records whose post is gone

        def orphan(record: Sequence[Any]) -> None:
            orphans.setdefault(record[0], record[4])

        check, post_hash, done = self._check_post, _post_hash, 0
        while page := posts.fetchmany(_BATCH):
            for row in page:
                post_id = row[0]
                post_links = links.take(post_id)
                post_versions = versions.take(post_id)
                post_records = records.take(post_id, orphan)
                if (
                    len(post_records) == 1
                    and not post_links
                    and not post_versions
                    and row[15] is None
                    and post_records[0][1] == "post"
                    and post_records[0][2] == 0
                    and post_records[0][3] == post_hash(row)
                ):
                    continue  # most posts: never edited, deleted or with files; one hash to compare
                check(row, post_versions, post_links, post_records)
            done += len(page)
            if done_so_far is not None:
                done_so_far(done)
        for record in records.rest():
            orphan(record)
        for post_id, seq in orphans.items():
            self.found(f"post id {post_id}", "removed", f"removed from the archive (chained in record {seq})")
        return done

    def _records_between(self, lo: int, hi: int) -> list[Any]:
        """The records of posts with ids in ``[lo, hi]``, per-record rows and blocks', by post and seq."""
        old = self.conn.execute(
            "SELECT post_id, kind, item, item_hash, seq FROM chain WHERE post_id BETWEEN ? AND ? "
            "ORDER BY post_id, seq",
            (lo, hi),
        ).fetchall()
        new = self.blocks.records(lo, hi)
        if not old or not new:
            return old or new
        return sorted([*old, *new], key=lambda r: (r[0], r[4]))

    def _posts_by_id(self, ids: Sequence[int]) -> Iterable[list[Any]]:
        for chunk in chunks(ids, 500):
            yield self.conn.execute(
                f"SELECT {POST_FIELDS}, deleted_at FROM posts WHERE id IN ({marks(len(chunk))}) ORDER BY id",
                tuple(chunk),
            ).fetchall()

    def _by_post(self, sql: str, ids: Sequence[int]) -> dict[int, list[Any]]:
        grouped: dict[int, list[Any]] = {}
        for chunk in chunks(ids, 500):
            for row in self.conn.execute(sql.format(marks(len(chunk))), tuple(chunk)):
                grouped.setdefault(row[0], []).append(row)
        return grouped

    def check_page(self, page: list[Any]) -> None:
        """Check a page of posts (rows of ``POST_FIELDS, deleted_at``), their rows read by id."""
        ids = [r[0] for r in page]
        versions = self._by_post(
            "SELECT post_id, text, entities, edit_date, raw, replaced_at FROM post_versions "
            "WHERE post_id IN ({}) ORDER BY post_id, id",
            ids,
        )
        links = self._by_post(
            "SELECT post_id, position, sha256 FROM post_media WHERE sha256 IS NOT NULL "
            "AND post_id IN ({}) ORDER BY post_id, position",
            ids,
        )
        records = self._by_post(
            "SELECT post_id, kind, item, item_hash, seq FROM chain WHERE post_id IN ({}) ORDER BY post_id, seq",
            ids,
        )
        if ids:
            for record in self.blocks.records(min(ids), max(ids), set(ids)):
                records.setdefault(record[0], []).append(record)
            for group in records.values():
                group.sort(key=lambda r: r[4])
        for row in page:
            post_id = row[0]
            self._check_post(row, versions.get(post_id, []), links.get(post_id, []), records.get(post_id, []))

    def _check_post(
        self,
        row: Sequence[Any],
        post_versions: Sequence[Sequence[Any]],
        post_links: Sequence[Sequence[Any]],
        post_records: Sequence[Sequence[Any]],
    ) -> None:
        """Compare a post's expected records with its last records; name what differs."""
        expected = {
            (kind, item): item_hash
            for kind, _pid, item, _sha, item_hash in post_items(
                row[:15], post_versions or [], row[15], post_links
            )
        }
        recorded = {(r[1], r[2]): r[3] for r in post_records}  # the last of each wins
        if post_links:
            subject = self._subject(row)
            for link in post_links:
                self.files.setdefault(link[2], subject)
        if expected == recorded:
            return
        subject = self._subject(row)
        if not recorded:
            self.found(subject, "inserted", "inserted afterwards: no chain record proves it")
            return
        for key, item_hash in expected.items():
            if key not in recorded:
                self.found(_part(key, subject), "inserted", "inserted afterwards: no chain record proves it")
            elif recorded[key] != item_hash:
                self.found(_part(key, subject), "changed", "changed after capture")
        for key in recorded.keys() - expected.keys():
            self.found(_part(key, subject), "removed", "removed after capture")

    def _subject(self, row: Sequence[Any]) -> str:
        channel = self.channels.get(row[1], Channel(row[1]))
        return f"post {message_link(channel, row[2])} (id {row[0]})"

    # --- 3. the files ------------------------------------------------------------------------

    def check_files(self) -> None:
        wanted = sorted(self.files)
        paths: dict[str, str] = {}
        for chunk in chunks(wanted, 500):
            for sha256, path in self.conn.execute(
                f"SELECT sha256, path FROM media WHERE sha256 IN ({marks(len(chunk))})", tuple(chunk)
            ):
                paths[sha256] = path
        for sha256 in wanted:
            if sha256 not in paths:
                self.found(f"file {sha256}", "removed", f"its media row was removed ({self.files[sha256]})")
        done = 0
        # hashlib releases the GIL on large buffers: two threads keep two cores hashing.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for sha256, path, actual in pool.map(self._hash, paths.items()):
                if actual is None:
                    self.found(f"file {path}", "removed", f"the file is gone ({self.files[sha256]})")
                elif actual != sha256:
                    self.found(
                        f"file {path}", "changed", f"its bytes changed since capture ({self.files[sha256]})"
                    )
                done += 1
                self.progress("files", done, len(paths))
        self.report.files = done

    def _hash(self, entry: tuple[str, str]) -> tuple[str, str, str | None]:
        sha256, path = entry
        digest = hashlib.sha256()
        try:
            with open(self.media_dir / path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        except OSError:
            return sha256, path, None
        return sha256, path, digest.hexdigest()


def _part(key: tuple[str, int | None], subject: str) -> str:
    kind, item = key
    if kind == "post":
        return subject
    if kind == "edit":
        return f"version {item} of {subject}"
    if kind == "delete":
        return f"deletion mark of {subject}"
    return f"file at position {item} of {subject}"
