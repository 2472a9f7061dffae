"""The intake: a bounded queue between Telethon (live handlers, gap-fill) and the pipeline.

Telethon runs each update's handlers in its own task; if those tasks did the archiving, OCR and
detection themselves, a burst would mean hundreds of concurrent writers and nothing to wait for
at shutdown. So handlers only put TL messages here, and a few workers take them in batches:
convert to :class:`Post`, download images, ``pipeline.process_batch``. Everything in flight is
counted, so SIGTERM can finish it with a bounded wait.

Progress per channel is a *watermark*: every message id at or below it is archived. It moves
only past ids that were processed (a failed post holds it back until a retry succeeds), and past
live ids only once a gap-fill pass has run on the current connection. It is saved in the
archive's ``meta`` table; after a crash (even ``kill -9``) the next start gap-fills from it, and
since saving a post is idempotent, nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from telethon import TelegramClient, errors

from handlers.downloads import fill_media
from handlers.pipeline import Pipeline
from handlers.posters import PosterReader
from handlers.telegram import album_to_post, input_peer, media_items, message_channel_id, message_to_post
from monitor.core.models import Channel, Post

log = logging.getLogger(__name__)

WATERMARK_KEY = "watermark:{}"
MAX_ALBUM = 10  # Telegram's limit of items in one album
RECENT_ALBUMS = 256  # flushed albums remembered, so a late part joins its album


@dataclass
class Unit:
    """One future post: one message, or all parts of an album; or a deletion."""

    channel_id: int
    messages: list[Any]
    kind: str  # new | edit | delete
    source: str = "live"
    deleted_ids: list[int] = field(default_factory=list)
    received: float = field(default_factory=time.perf_counter)

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.messages]


@dataclass
class _ChannelProgress:
    base: int = 0  # confirmed: everything at or below is archived
    high: int = 0  # highest id processed since start
    synced: bool = False  # a gap-fill pass completed on the current connection
    pending: dict[int, int] = field(default_factory=dict)  # id -> units holding it
    failed: set[int] = field(default_factory=set)

    def safe(self) -> int:
        top = max(self.base, self.high) if self.synced else self.base
        held = [*self.pending, *self.failed]
        return min(top, min(held) - 1) if held else top


class Progress:
    """Per-channel watermarks (see the module docstring)."""

    def __init__(self) -> None:
        self.channels: dict[int, _ChannelProgress] = {}
        self.dirty: set[int] = set()

    def of(self, channel_id: int) -> _ChannelProgress:
        return self.channels.setdefault(channel_id, _ChannelProgress())

    def set_base(self, channel_id: int, value: int) -> None:
        p = self.of(channel_id)
        p.base = max(p.base, value)

    def begin(self, channel_id: int, ids: Iterable[int]) -> None:
        p = self.of(channel_id)
        for i in ids:
            p.pending[i] = p.pending.get(i, 0) + 1

    def end(self, channel_id: int, ids: Iterable[int], ok: bool) -> None:
        p = self.of(channel_id)
        for i in ids:
            left = p.pending.get(i, 0) - 1
            if left > 0:
                p.pending[i] = left
            else:
                p.pending.pop(i, None)
            if ok:
                p.failed.discard(i)
                p.high = max(p.high, i)
            else:
                p.failed.add(i)
        self.dirty.add(channel_id)

    def synced(self, channel_id: int, top: int) -> None:
        """A gap-fill pass enqueued everything up to ``top``: live ids now count too."""
        p = self.of(channel_id)
        p.base = max(p.base, top)  # safe() still stops below any id held by pending or failed units
        p.synced = True
        self.dirty.add(channel_id)

    def unsync_all(self) -> None:
        for p in self.channels.values():
            p.synced = False

    def in_flight(self) -> int:
        return sum(len(p.pending) for p in self.channels.values())


class Intake:
    """Queue + workers feeding the pipeline, with album grouping and watermarks."""

    def __init__(
        self,
        client: TelegramClient | None,
        pipeline: Pipeline,
        channels: dict[int, Channel],
        *,
        workers: int = 4,
        batch_size: int = 64,
        queue_size: int = 2000,
        album_wait: float = 0.5,
        max_document_bytes: int = 0,
        max_video_bytes: int = 0,
        ocr_concurrency: int = 4,
        on_archived: Callable[[Unit, Any], None] | None = None,
    ):
        self.client = client
        self.pipeline = pipeline
        self.channels = channels
        self.workers = workers
        self.batch_size = batch_size
        self.album_wait = album_wait
        self.max_document_bytes = max_document_bytes
        self.max_video_bytes = max_video_bytes  # clips up to this size are downloaded and read
        self.on_archived = on_archived
        self.queue: asyncio.Queue[Unit] = asyncio.Queue(queue_size)
        self.progress = Progress()
        self.accepting = True
        self._albums: dict[tuple[int, int], tuple[list[Any], asyncio.TimerHandle | None]] = {}
        self._recent_albums: OrderedDict[tuple[int, int], list[Any]] = OrderedDict()
        self._tasks: list[asyncio.Task] = []
        self._ocr_tasks: set[asyncio.Task] = set()
        # Posters are read off the workers, a few at a time (see handlers.posters).
        self.posters = PosterReader(
            pipeline.archive, pipeline.ocr_pool, pipeline.detect_posts, concurrency=ocr_concurrency
        )
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.processed = 0
        self.failures = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(i), name=f"intake-{i}") for i in range(self.workers)]

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty and no worker is busy (album buffers flushed first)."""
        self.flush_albums()
        try:
            async with asyncio.timeout(timeout):
                while self.queue.qsize() or self._busy or self._ocr_tasks:
                    await self.queue.join()
                    await self._idle.wait()
                    if self._ocr_tasks:
                        await asyncio.wait(set(self._ocr_tasks))
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float) -> bool:
        """Stop taking new units, finish in-flight ones (bounded), stop the workers."""
        self.accepting = False
        finished = await self.drain(timeout)
        tasks = [*self._tasks, *self._ocr_tasks]  # OCR left unfinished is resumed from the archive
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        return finished

    # -- input ------------------------------------------------------------------------------
    async def on_message(self, message: Any, kind: str = "new", source: str = "live") -> None:
        """A live message (Telethon handler): albums are held briefly and grouped."""
        if not self.accepting:
            return  # the watermark does not pass it: the next start gap-fills it
        cid = message_channel_id(message)
        if cid is None:
            return
        gid = getattr(message, "grouped_id", None)
        if gid is not None and kind == "new":
            self.progress.begin(cid, [message.id])
            key = (cid, gid)
            # A part arriving after its album was flushed (parts can come seconds apart) joins
            # the parts already seen, and the album is saved again as the same post.
            earlier = self._recent_albums.get(key, []) if key not in self._albums else []
            parts, handle = self._albums.get(key, (list(earlier), None))
            if handle is not None:
                handle.cancel()
            parts.append(message)
            if len(parts) >= MAX_ALBUM and not earlier:
                self._albums.pop(key, None)
                self._put_nowait_or_task(Unit(cid, parts, kind, source), begun=True)
                return
            loop = asyncio.get_running_loop()
            self._albums[key] = (parts, loop.call_later(self.album_wait, self._flush_album, key))
            return
        await self.submit(Unit(cid, [message], kind, source))

    def _flush_album(self, key: tuple[int, int]) -> None:
        entry = self._albums.pop(key, None)
        if entry is not None:
            parts, _ = entry
            self._recent_albums[key] = parts
            self._recent_albums.move_to_end(key)
            while len(self._recent_albums) > RECENT_ALBUMS:
                self._recent_albums.popitem(last=False)
            self._put_nowait_or_task(Unit(key[0], parts, "new", "live"), begun=True)

    def flush_albums(self) -> None:
        for key in list(self._albums):
            _parts, handle = self._albums[key]
            if handle is not None:
                handle.cancel()
            self._flush_album(key)

    def _put_nowait_or_task(self, unit: Unit, begun: bool) -> None:
        try:
            self._enqueue_nowait(unit, begun)
        except asyncio.QueueFull:
            task = asyncio.get_running_loop().create_task(self.submit(unit, begun=begun))
            self._tasks.append(task)

    def _enqueue_nowait(self, unit: Unit, begun: bool) -> None:
        if not begun and unit.kind == "new":
            self.progress.begin(unit.channel_id, unit.ids)
        try:
            self.queue.put_nowait(unit)
        except asyncio.QueueFull:
            if not begun and unit.kind == "new":
                self.progress.end(unit.channel_id, unit.ids, ok=False)
                self.progress.of(unit.channel_id).failed.difference_update(unit.ids)
            raise

    async def submit(self, unit: Unit, *, begun: bool = False) -> None:
        """Queue one unit (waits when the queue is full: back-pressure for gap-fill)."""
        if unit.kind == "new" and not begun:
            self.progress.begin(unit.channel_id, unit.ids)
        await self.queue.put(unit)

    async def on_deleted(self, channel_id: int, ids: list[int]) -> None:
        if self.accepting:
            await self.submit(Unit(channel_id, [], "delete", deleted_ids=ids))

    # -- work -------------------------------------------------------------------------------
    async def _worker(self, index: int) -> None:
        while True:
            unit = await self.queue.get()
            self._busy += 1
            self._idle.clear()
            batch = [unit]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._handle(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()
                self._busy -= 1
                if not self._busy:
                    self._idle.set()

    async def _handle(self, batch: list[Unit]) -> None:
        deletions = [u for u in batch if u.kind == "delete"]
        units = [u for u in batch if u.kind != "delete"]
        posts: list[tuple[Unit, Post]] = []
        for unit in units:
            try:
                post = await self.build_post(unit)
            except (errors.RPCError, OSError, ValueError, TypeError, AttributeError) as exc:
                self._failed(unit, exc)
                continue
            posts.append((unit, post))
        if posts:
            await self._process(posts)
        for unit in deletions:
            try:
                changed = await self.pipeline.archive.mark_deleted(unit.channel_id, unit.deleted_ids)
                log.info(
                    "deleted channel=%s ids=%s marked=%d",
                    self._label(unit.channel_id),
                    ",".join(map(str, unit.deleted_ids)),
                    changed,
                )
            except Exception as exc:  # one bad unit never stops the daemon
                log.error("deletion failed channel=%s: %s", unit.channel_id, exc)

    async def _process(self, posts: list[tuple[Unit, Post]]) -> None:
        try:
            # Saved and (for posts without unread images) detected now; images are read below,
            # off this worker, so a burst of posters never holds up the text posts behind it.
            results = await self.pipeline.process_batch([p for _, p in posts], ocr=False)
        except Exception as exc:  # any error: isolate the bad post below
            if len(posts) == 1:
                self._failed(posts[0][0], exc)
                return
            for pair in posts:
                await self._process([pair])
            return
        for (unit, post), result in zip(posts, results, strict=True):
            self._done(unit, result)
            shas = [m.sha256 for m in post.media if (m.is_image or m.is_clip) and m.sha256]
            if shas and self.pipeline.ocr_pool is not None:
                task = asyncio.create_task(self.posters.read_post(result.post_id, shas), name="intake-ocr")
                self._ocr_tasks.add(task)
                task.add_done_callback(self._ocr_tasks.discard)

    def _done(self, unit: Unit, result: Any) -> None:
        self.processed += 1
        if unit.kind == "new":
            self.progress.end(unit.channel_id, unit.ids, ok=True)
        if self.on_archived is not None:
            self.on_archived(unit, result)

    def _failed(self, unit: Unit, exc: BaseException) -> None:
        self.failures += 1
        log.error(
            "post failed channel=%s id=%s kind=%s (will retry): %s: %s",
            self._label(unit.channel_id),
            unit.ids[0] if unit.ids else "-",
            unit.kind,
            type(exc).__name__,
            exc,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        if unit.kind == "new":
            self.progress.end(unit.channel_id, unit.ids, ok=False)

    def _label(self, channel_id: int) -> str:
        channel = self.channels.get(channel_id)
        return f"@{channel.username}" if channel and channel.username else str(channel_id)

    def channel(self, channel_id: int, message: Any = None) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            chat = getattr(message, "chat", None) if message is not None else None
            channel = Channel(
                id=channel_id, username=getattr(chat, "username", None), title=getattr(chat, "title", None)
            )
        return channel

    async def build_post(self, unit: Unit) -> Post:
        """Convert a unit to a post and download its images (on this worker, not in a handler)."""
        messages = unit.messages
        channel = self.channel(unit.channel_id, messages[0])
        if unit.kind == "edit" and getattr(messages[0], "grouped_id", None) is not None:
            messages = await self._album_of(channel, messages[0])
        if len(messages) > 1 or getattr(messages[0], "grouped_id", None) is not None:
            post = album_to_post(messages, channel, source=unit.source)
        else:
            post = message_to_post(messages[0], channel, source=unit.source)
        # The account that fetched the message downloads its media (an account pool has several).
        client = getattr(messages[0], "_client", None) or self.client
        if client is not None:
            with_media = [m for m in messages if media_items(m)]
            await fill_media(client, with_media, post.media, self.max_document_bytes, self.max_video_bytes)
        return post

    async def _album_of(self, channel: Channel, message: Any) -> list[Any]:
        """All parts of the album an edited message belongs to (an edit carries only its part)."""
        client = getattr(message, "_client", None) or self.client
        if client is None or not channel.access_hash:
            return [message]
        ids = list(range(max(1, message.id - MAX_ALBUM + 1), message.id + MAX_ALBUM))
        found = await client.get_messages(input_peer(channel), ids=ids)
        parts = [m for m in found if m is not None and getattr(m, "grouped_id", None) == message.grouped_id]
        return parts or [message]
