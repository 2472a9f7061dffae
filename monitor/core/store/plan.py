"""Working out a batch of posts' rows before the write lock, and the reads that plan depends on.

:func:`plan_rows` does no SQL: from what the archive held (the batch's stored rows, their stored
files, free ids) it works out every row the batch writes and each post's :class:`SaveResult`. The
reads are few ``IN (...)`` queries per batch, made once outside the transaction and (only if
anything was committed since) once more inside it to check that the plan still holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.core.entities import code_point_entities
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store.common import IN_LIST, Tx, chunks, marks, stored_values
from monitor.core.store.media import media_row
from monitor.core.store.records import SaveResult
from monitor.core.store.schema import ID_SLOTS
from monitor.core.store.search import fts_row
from monitor.core.times import iso, now_iso, utc

HUGE_TEXT = 1 << 20
"""Characters of a post's text beyond which its JSON is encoded by the standard library: orjson's
peak is about ten times the output (213 MB for a 10 MB post's raw message), ``json``'s three."""


def json_text(value: Any, *, huge: bool = False) -> str:
    """Compact JSON, non-ASCII kept as is. orjson: the raw message of every imported post is
    encoded here, ten times faster than ``json.dumps``; anything it refuses (integers beyond 64
    bits, odd keys) goes the standard way, and so does a ``huge`` one (see :data:`HUGE_TEXT`)."""
    if not value and isinstance(value, list):
        return "[]"  # most posts' entities
    if huge:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        return orjson.dumps(value).decode()  # a third faster than with the options below
    except TypeError:  # orjson.JSONEncodeError too
        pass
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def base_id(post: Post) -> int:
    """The first id a post of this date may take: ids sort by date (``date_unix * ID_SLOTS + k``)."""
    return int(utc(post.date).timestamp()) * ID_SLOTS


@dataclass
class BatchRows:
    """The rows a batch of posts writes, worked out from what the archive held (``existing``,
    ``linked``, ``ids`` as read): :meth:`PostsMixin._plan_holds` checks them again under the lock."""

    keys: dict[tuple[int, int], None]
    existing: dict[tuple[int, int], tuple[Any, ...]]
    linked: set[tuple[int, int]]
    ids: dict[int, int]
    results: list[SaveResult] = field(default_factory=list)
    insert_rows: list[tuple[Any, ...]] = field(default_factory=list)
    fts_rows: list[tuple[Any, ...]] = field(default_factory=list)
    version_rows: list[tuple[Any, ...]] = field(default_factory=list)
    update_rows: list[tuple[Any, ...]] = field(default_factory=list)
    fts_updates: list[tuple[Any, ...]] = field(default_factory=list)
    fts_deletes: list[tuple[Any, ...]] = field(default_factory=list)  # the values indexed before
    counter_rows: list[tuple[Any, ...]] = field(default_factory=list)
    media_rows: list[tuple[Any, ...]] = field(default_factory=list)
    link_rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class PostPlan:
    """A batch of posts worked out outside the write lock (:meth:`PostsMixin.plan_posts`).

    Its files are in the media store already; ``results`` says what saving it will do to each
    post, unless the archive moves before the batch is saved (then the rows are worked out again
    under the lock and ``results`` changes with them). A plan is saved once.
    """

    posts: Sequence[Post]
    detected: Sequence[bool] | None
    channels: list[Channel]
    media: dict[int, list[tuple[str | None, MediaItem]]]  # per post index: (sha256 or None, item)
    prepared: list[tuple[str, str, str, str]]  # per post: entities JSON, raw JSON, index body, extra
    seen: tuple[int, int]  # the archive's write mark when the rows were read
    rows: BatchRows
    saved: bool = False

    @property
    def results(self) -> list[SaveResult]:
        """Each post's :class:`SaveResult`, in the order of ``posts``."""
        return self.rows.results


async def existing_rows(conn: Tx, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], tuple[Any, ...]]:
    """The stored rows of these ``(channel id, message id)`` posts, as saving compares them."""
    existing: dict[tuple[int, int], tuple[Any, ...]] = {}
    by_channel: dict[int, list[int]] = {}
    for channel_id, message_id in keys:
        by_channel.setdefault(channel_id, []).append(message_id)
    for channel_id, ids in by_channel.items():
        for chunk in chunks(sorted(set(ids)), IN_LIST):
            for row in await conn.execute_fetchall(
                f"SELECT message_id, id, text, entities, edit_date, raw, views, forwards, ocr_text, detected_at "
                f"FROM posts WHERE channel_id = ? AND message_id IN ({marks(len(chunk))})",
                (channel_id, *chunk),
            ):
                existing[(channel_id, row[0])] = tuple(row[1:])
    return existing


async def linked_media(conn: Tx, post_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(post id, position) of these posts that already carry a stored file."""
    linked: set[tuple[int, int]] = set()
    for chunk in chunks(post_ids, IN_LIST):
        rows = await conn.execute_fetchall(
            f"SELECT post_id, position FROM post_media WHERE sha256 IS NOT NULL AND post_id IN ({marks(len(chunk))})",
            tuple(chunk),
        )
        linked.update((r[0], r[1]) for r in rows)
    return linked


async def taken_ids(conn: Tx, candidates: Sequence[int]) -> set[int]:
    """Those of ``candidates`` that are ids of stored posts."""
    return await stored_values(conn, "posts", "id", candidates)


def plan_rows(
    posts: Sequence[Post],
    stored_media: dict[int, list[tuple[str | None, MediaItem]]],
    prepared: list[tuple[str, str, str, str]],
    detected: Sequence[bool] | None,
    existing_rows: dict[tuple[int, int], tuple[Any, ...]],
    linked_media: set[tuple[int, int]],
    ids: dict[int, int],
) -> BatchRows:
    """Work out every row a batch writes and each post's :class:`SaveResult` (no SQL here).

    A message that comes twice in one batch: live, the second is a later state (an edit) and sees
    what the first left, so each text is kept as a version. From an export (``source ==
    "import"``), two copies of one id are no history but a repeated id: the last copy wins, once,
    compared with what is stored, and the earlier ones write nothing ("unchanged"); so importing
    that export again finds everything unchanged (comparing the copies in turn found an "edit"
    between them, and added a version, on every import).
    """
    now = now_iso()
    keys = [(p.channel.id, p.message_id) for p in posts]
    plan = BatchRows(dict.fromkeys(keys), existing_rows, linked_media, ids)
    existing = dict(existing_rows)  # updated as the batch goes: a message may come twice
    linked = set(linked_media)
    repeated = len(plan.keys) < len(keys)
    superseded = superseded_copies(posts, keys) if repeated else set()
    first_new: dict[tuple[int, int], int] = {}  # a new message's first position: where its id is
    seen_new: dict[tuple[int, int], int] = {}  # and the position that inserts it
    for i, key in enumerate(keys):
        if key not in existing_rows:
            first_new.setdefault(key, i)
            if i not in superseded:
                seen_new.setdefault(key, i)
    insert_row, index_row = plan.insert_rows.append, plan.fts_rows.append
    results: list[SaveResult] = []
    for i, post in enumerate(posts):
        key = keys[i]
        if i in superseded:
            post_id = existing[key][0] if key in existing else ids[first_new[key]]
            results.append(SaveResult(post_id, "unchanged", [], None, False))
            continue
        entities_json, raw_json, body, extra = prepared[i]
        mark = now if detected and detected[i] else None
        undetected = True
        if key in existing:
            post_id, old_text, old_entities, old_edit, old_raw, views, forwards, ocr_text, _detected = (
                existing[key]
            )
            edit_date = iso(post.edit_date)
            newer = edit_date is not None and (old_edit is None or edit_date > old_edit)
            legacy = (
                post.text == old_text
                and entities_json != old_entities
                and post.source == "import"
                and _legacy_entities(post, old_entities)
            )
            # An older state than the one stored (an older export imported after a newer one, a
            # page of history fetched before an edit that already arrived) does not win.
            older = edit_date is not None and old_edit is not None and edit_date < old_edit
            if older:
                status, previous = "unchanged", None
                undetected = _detected is None
            elif (post.text != old_text or entities_json != old_entities) and not legacy:
                plan.version_rows.append((post_id, old_text, old_entities, old_edit, old_raw, now))
                plan.update_rows.append(
                    (
                        post.text,
                        entities_json,
                        edit_date,
                        raw_json,
                        post.views,
                        post.forwards,
                        now,
                        mark,
                        post_id,
                    )
                )
                plan.fts_updates.append((post_id, *fts_row(post.text, ocr_text)))
                plan.fts_deletes.append((post_id, *fts_row(old_text, ocr_text)))
                status, previous = "updated", old_text
                existing[key] = (
                    post_id, post.text, entities_json, edit_date, raw_json, views, forwards, ocr_text, None,
                )  # fmt: skip
            elif newer or legacy:
                # The same text with newer facts: an edit Telegram dated later (a re-export, an
                # edit of the media alone) or the entities of an archive imported before offsets
                # were counted in UTF-16. The row takes them; the state it replaces is kept as a
                # version (the older raw message is evidence too, and the hash chain proves it),
                # and the index and detection stay (the text is the same).
                plan.version_rows.append((post_id, old_text, old_entities, old_edit, old_raw, now))
                plan.update_rows.append(
                    (
                        post.text,
                        entities_json,
                        edit_date if newer else old_edit,
                        raw_json if newer else old_raw,
                        post.views,
                        post.forwards,
                        now,
                        mark or _detected,
                        post_id,
                    )
                )
                status, previous = ("updated" if newer else "unchanged"), None
                undetected = _detected is None
                existing[key] = (
                    post_id, post.text, entities_json, edit_date if newer else old_edit, raw_json if newer else old_raw,
                    views, forwards, ocr_text, mark or _detected,
                )  # fmt: skip
            else:
                if (post.views, post.forwards) != (views, forwards) and post.views is not None:
                    plan.counter_rows.append((post.views, post.forwards, post_id))
                status, previous = "unchanged", None
                undetected = _detected is None
        else:
            post_id = ids[first_new[key]]
            if seen_new[key] == i:
                edit_date = iso(post.edit_date)
                insert_row(
                    (
                        post_id,
                        post.channel.id,
                        post.message_id,
                        iso(post.date),
                        post.text,
                        entities_json,
                        post.views,
                        post.forwards,
                        post.fwd_from_id,
                        post.fwd_from_name,
                        post.reply_to,
                        post.grouped_id,
                        edit_date,
                        post.author,
                        raw_json,
                        post.source,
                        now,
                        now,
                        mark,
                    )
                )
                index_row((post_id, body, extra))
                if repeated:
                    existing[key] = (
                        post_id, post.text, entities_json, edit_date, raw_json, post.views, post.forwards, None, None,
                    )  # fmt: skip
                status, previous = "new", None
            else:  # the same message again, after its first copy in this batch
                status, previous = "unchanged", None
                undetected = existing[key][8] is None
        new_media: list[str] = []
        new_files = 0
        for position, (digest, item) in enumerate(stored_media.get(i, ())):
            if digest is not None:
                plan.media_rows.append(media_row(digest, item, now))
                if (post_id, position) not in linked:
                    new_files += 1
            plan.link_rows.append(
                (
                    post_id,
                    position,
                    digest,
                    item.kind,
                    item.file_name,
                    item.mime_type,
                    item.size,
                    item.missing_reason,
                )
            )
            if digest is not None and (item.is_image or item.is_clip) and (post_id, position) not in linked:
                new_media.append(digest)
                linked.add((post_id, position))
        needs_detection = bool(new_media) or undetected or (status != "unchanged" and previous is not None)
        if status == "new":
            needs_detection = True
        results.append(SaveResult(post_id, status, new_media, previous, needs_detection, new_files))
    plan.results = results
    return plan


def _legacy_entities(post: Post, old_entities: str) -> bool:
    """Whether the stored entities are these in code points: an archive imported before offsets
    were counted in UTF-16 (see :mod:`monitor.core.entities`), not a change of formatting."""
    return json_text(code_point_entities(post.text, post.entities)) == old_entities


def superseded_copies(posts: Sequence[Post], keys: Sequence[tuple[int, int]] | None = None) -> set[int]:
    """Positions of imported posts that a later copy of the same message in ``posts`` replaces
    (see :func:`plan_rows`); live posts are never superseded."""
    keys = keys if keys is not None else [(p.channel.id, p.message_id) for p in posts]
    last = {key: i for i, key in enumerate(keys)}
    return {i for i, key in enumerate(keys) if last[key] != i and posts[i].source == "import"}


async def allocate_ids(conn: Tx, wanted: dict[int, int]) -> dict[int, int]:
    """Give each new post a free id near its wanted one (same second of date, next free slot)."""
    result: dict[int, int] = {}
    taken: set[int] = set()
    pending = dict(wanted)
    while pending:
        used = await taken_ids(conn, list(pending.values()))
        retry: dict[int, int] = {}
        for index, candidate in pending.items():
            if candidate in used or candidate in taken:
                retry[index] = candidate + 1
            else:
                taken.add(candidate)
                result[index] = candidate
        pending = retry
    return result
