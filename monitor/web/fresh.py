"""Identical reads share one answer while the archive has not changed.

Fifty analysts on the alerts queue ask the archive the same questions many times a second; each
answer is read once per state of the archive and handed to everyone who asks while that state
holds. The key of an answer includes the archive's change mark (SQLite's ``data_version``, see
:class:`monitor.core.store.ChangeMark`), taken when the request arrives: a commit by anyone (the
daemon, an import, this desk's own decisions) makes every earlier answer unusable, so an answer is
never older than the request that gets it. A read still running is shared the same way (the
"single flight" of caching proxies): whoever asks meanwhile waits for it instead of repeating it.

Why not an HTTP cache: every page carries its session's CSRF token and user, so the reads are
shared, never the rendered pages. Why our own: the libraries we found (aiocache, async-lru,
cachetools) expire by time or size; none keys on "has the database changed".
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

KEPT = 256  # answers kept (the most recently used): a handful of pages per analyst


class FreshReads:
    """Answers of reads by key, valid while ``mark()`` returns what it returned when they were asked."""

    def __init__(self, mark: Callable[[], int], kept: int = KEPT) -> None:
        self._mark = mark
        self._kept = kept
        self._answers: OrderedDict[Hashable, tuple[int, asyncio.Future[Any]]] = OrderedDict()
        self.asked = 0  # reads asked for
        self.shared = 0  # of those, answered by a read made (or running) for someone else

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """``await read()``, unless an answer (or a read under way) for ``key`` is as fresh as now.

        Callers must not change what they get: it is shared.
        """
        self.asked += 1
        mark = self._mark()
        held = self._answers.get(key)
        if held is not None and held[0] == mark and not held[1].cancelled():
            self.shared += 1
            self._answers.move_to_end(key)
            return await asyncio.shield(held[1])
        task = asyncio.ensure_future(read())
        self._answers[key] = (mark, task)
        self._answers.move_to_end(key)
        while len(self._answers) > self._kept:
            self._answers.popitem(last=False)
        task.add_done_callback(lambda done: self._forget_failed(key, done))
        return await asyncio.shield(task)

    def _forget_failed(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        """A read that failed is asked again next time (its waiters got its error)."""
        if done.cancelled() or done.exception() is not None:
            held = self._answers.get(key)
            if held is not None and held[1] is done:
                del self._answers[key]
