"""The senders: deliveries taken from the archive and sent, one task per sink.

One task per sink (:meth:`Dispatcher.run`, :meth:`Dispatcher.deliver_pending`), so a slow or
dead sink never holds up another or the pipeline (which only writes rows). Per delivery::

    pending --claim (commit)--> sending --sink.send()--> delivered (commit)
                                   |--transient error--> pending, next_attempt_at = now + backoff
                                   '--permanent error--> failed, last_error = reason

Transient errors are retried forever with exponential backoff and jitter (``2 s * 2^n``, capped
at ``alerts.retry_max_seconds``, drawn uniformly from the upper half), or after the sink's own
``Retry-After``/flood wait. A sink that is unusable (bad token, chat not found, webhook gone)
fails the delivery that found out and is switched off until restart; its other deliveries stay
pending. Each sink sends one alert at a time.

At most once, and the one duplicate: a delivery is claimed (``sending``, with this process's
id) and committed before the sink is called, and marked ``delivered`` right after the sink
returns. If the process dies (kill -9, OOM, power cut) after the sink accepted the alert and
before ``delivered`` was committed, the restarted outbox finds the delivery still ``sending``
by a dead process and sends it once more, with the same idempotency key: that sink may show
that one alert twice. Only the one alert (or digest) in flight per sink at the moment of the
crash can repeat; a crash at any other point repeats nothing. The JSON Lines sink looks the key
up in its file and never repeats; Telegram drops a message whose ``random_id`` it has already
seen; a webhook receives the same ``Idempotency-Key`` header. (The archive runs with
``synchronous = NORMAL``: after an OS crash or power loss, rather than a process crash, the
last few commits may be lost, and with them the marks of the last few deliveries.)

Rate control: a human-read sink (Telegram, console, Slack/Discord) gets at most
``alerts.burst_limit`` single alerts per ``alerts.burst_window_seconds``; the rest are folded
into one digest message per window. Nothing is dropped: every alert stays in the archive and
each folded delivery is marked ``delivered`` with the digest's key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from alerts.sinks import OutgoingAlert, Sink, SinkUnavailable
from monitor.core.config import AlertsConfig
from monitor.core.errors import DeliveryError
from monitor.core.store import Archive
from monitor.core.times import now_utc

log = logging.getLogger(__name__)

BATCH = 500
RETRY_BASE_SECONDS = 2.0
CLAIM_LEASE = timedelta(minutes=15)  # a 'sending' claim older than this is stale whoever holds it
IDLE_POLL_SECONDS = 30.0  # also notice deliveries written by another process (import --alerts)
COALESCE_SECONDS = 0.01  # after a wake-up, let a burst of alerts gather before reading them


def backoff_delay(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, jittered in the upper half."""
    raw = min(cap, base * (2 ** max(0, attempts - 1)))
    return rng.uniform(raw / 2, raw)


def claimant() -> str:
    """Who claims deliveries: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_is_stale(claimed_by: str | None, claimed_at: str | None, now: datetime) -> bool:
    """True when the process that claimed a delivery is gone (or the claim is very old)."""
    if claimed_at is None or claimed_by is None:
        return True
    try:
        if now - datetime.fromisoformat(claimed_at) > CLAIM_LEASE:
            return True
    except ValueError:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: trust the lease only
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class _Due:
    """A claimed delivery with its alert, ready to send."""

    id: int
    alert_id: int
    attempts: int
    kind: str
    severity: str | None
    body: dict[str, Any]
    fingerprint: str
    created_at: str


class Dispatcher:
    """Sends the deliveries of every sink; see the module docstring for the guarantees."""

    def __init__(
        self,
        archive: Archive,
        sinks: Mapping[str, Sink],
        config: AlertsConfig,
        *,
        retry_base: float = RETRY_BASE_SECONDS,
        rng: random.Random | None = None,
    ):
        self.archive = archive
        self.alerts = archive.alerts
        self.deliveries = archive.deliveries
        self.sinks = sinks
        self.config = config
        self.retry_base = retry_base
        self.rng = rng or random.Random()
        # The web desk's address ([web] base_url): each message then links to the post's page.
        self.desk_url: str | None = None
        self.disabled: dict[str, str] = {}
        self._wake: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.sinks}
        self._gate: dict[str, float] = {}  # epoch seconds before which a sink sends nothing
        self._recent: dict[str, deque[float]] = {}  # epoch seconds of messages sent, per sink
        self._last_digest: dict[str, float] = {}
        self._sink_locks: dict[str, asyncio.Lock] = {}
        self._recovered = False
        self._claimant = claimant()

    def wake(self) -> None:
        """Tell every sink task that new deliveries may be due."""
        for event in self._wake.values():
            event.set()

    async def recover(self) -> int:
        """Put deliveries left ``sending`` by a dead process back to ``pending`` (see the docstring)."""
        now = now_utc()
        rows = await self.deliveries.sending_claims()
        stale = [r[0] for r in rows if claim_is_stale(r[1], r[2], now)]
        if stale:
            async with self.archive.transaction() as tx:
                await self.deliveries.requeue_interrupted(tx, stale)
            log.warning(
                "outbox: %d deliveries were interrupted by a crash and will be sent again", len(stale)
            )
        self._recovered = True
        return len(stale)

    async def deliver_pending(self, *, flush: bool = False) -> int:
        """Send everything due now to every sink (concurrently); return how many were delivered.

        ``flush`` also sends campaign alerts still in their hold, for one-shot commands
        (``import --alerts``, ``demo``) that exit afterwards.
        """
        if not self._recovered:
            await self.recover()
        names = [n for n in self.sinks if n not in self.disabled]
        counts = await asyncio.gather(*(self._drain(name, flush=flush) for name in names))
        return sum(counts)

    async def run(self, stop: asyncio.Event, *, grace: float = 10.0) -> None:
        """Deliver until ``stop`` is set: one task per sink. A send in flight may finish (``grace``)."""
        if not self._recovered:
            await self.recover()
        tasks = [
            asyncio.create_task(self._sink_loop(name, stop), name=f"outbox:{name}") for name in self.sinks
        ]
        try:
            await stop.wait()
        finally:
            self.wake()
            _, late = await asyncio.wait(tasks, timeout=grace) if tasks else (set(), set())
            for task in late:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*late, return_exceptions=True)
            if late:  # sends cut short: unknown whether they went out, like a crash
                async with self.archive.transaction() as tx:
                    await self.deliveries.requeue_claimed_by(tx, self._claimant)

    async def close(self) -> None:
        for sink in self.sinks.values():
            try:
                await sink.close()
            except (OSError, DeliveryError) as exc:
                log.warning("closing sink %s: %s", sink.name, exc)

    async def status(self) -> dict[str, Any]:
        """Per sink: pending, failed, delivered counts and why a sink is switched off (for health)."""
        rows = await self.deliveries.status_counts()
        out: dict[str, Any] = {name: {"disabled": self.disabled.get(name)} for name in self.sinks}
        for sink, status, count in rows:
            out.setdefault(sink, {"disabled": None})[status] = count
        return out

    # --- one sink ---------------------------------------------------------------------------

    async def _sink_loop(self, name: str, stop: asyncio.Event) -> None:
        wake = self._wake[name]
        while not stop.is_set() and name not in self.disabled:
            wake.clear()
            try:
                await self._drain(name, stop=stop)
            except (aiosqlite.Error, OSError) as exc:
                log.error("outbox: sink %s: %s; retrying in 5 s", name, exc)
                await _wait_any(wake, stop, 5.0)
                continue
            if name in self.disabled or stop.is_set():
                break
            if wake.is_set():
                # More alerts arrived while sending. Micro-batching: let the burst gather, so it
                # is read and claimed in one transaction.
                await asyncio.sleep(COALESCE_SECONDS)
                continue
            delay = await self._next_due_in(name)
            await _wait_any(wake, stop, IDLE_POLL_SECONDS if delay is None else min(delay, IDLE_POLL_SECONDS))
            if wake.is_set() and not stop.is_set():
                # Micro-batching: alerts recorded in a burst are fetched and claimed together.
                await asyncio.sleep(COALESCE_SECONDS)

    async def _next_due_in(self, name: str) -> float | None:
        earliest, whenever = await self.deliveries.next_due(name)
        gate = self._gate.get(name, 0.0) - time.time()
        if earliest is None and not whenever:
            return None
        if whenever:
            return max(0.0, gate)
        assert earliest is not None
        wait = (datetime.fromisoformat(earliest) - now_utc()).total_seconds()
        return max(0.0, wait, gate)

    async def _take(self, name: str, flush: bool) -> list[_Due]:
        """Claim the deliveries due now for one sink (``sending`` by this process) and read them.

        One transaction: whatever this returns is ours to send; another process running an
        outbox on the same archive (``import --alerts`` beside the daemon) gets the others.
        """
        if time.time() < self._gate.get(name, 0.0):
            return []
        now = now_utc()
        async with self.archive.transaction() as tx:
            claimed = await self.deliveries.claim_due(tx, name, now, self._claimant, flush=flush, limit=BATCH)
            if not claimed:
                return []
            alerts = await self.alerts.sendable(tx, sorted({r[1] for r in claimed}))
        out = []
        for delivery_id, alert_id, attempts in sorted(claimed, key=lambda r: r[0]):
            _, kind, severity, raw, fingerprint, created_at = alerts[alert_id]
            body = json.loads(raw)
            body.pop("covers", None)  # bookkeeping for idempotency, not for readers
            body["alert_id"] = alert_id
            out.append(
                _Due(delivery_id, alert_id, attempts - 1, kind, severity, body, fingerprint, created_at)
            )
        return out

    async def _drain(self, name: str, *, flush: bool = False, stop: asyncio.Event | None = None) -> int:
        # One sender per sink in this process, whoever calls (run()'s task or deliver_pending()):
        # that is what bounds a crash to one repeated alert per sink.
        async with self._sink_locks.setdefault(name, asyncio.Lock()):
            return await self._drain_locked(name, flush=flush, stop=stop)

    async def _drain_locked(self, name: str, *, flush: bool, stop: asyncio.Event | None) -> int:
        sent = 0
        while name not in self.disabled and not (stop and stop.is_set()):
            due = await self._take(name, flush)
            if not due:
                break
            count, blocked = await self._send_batch(self.sinks[name], due, stop)
            sent += count
            if blocked or len(due) < BATCH:  # newer alerts set the wake event: the loop comes back
                break
        return sent

    async def _send_batch(self, sink: Sink, due: list[_Due], stop: asyncio.Event | None) -> tuple[int, bool]:
        """Send claimed deliveries; returns (delivered, blocked: the sink must wait).

        Whatever is not tried is given back (``pending``) before returning. The marks stay one
        by one, so a crash repeats at most the one alert whose send had completed.
        """
        single, folded = due, []
        if sink.human:
            recent = await self._recent_sends(sink.name)
            room = max(0, self.config.burst_limit - len(recent))
            if len(due) > room:
                single, folded = due[:room], due[room:]
        sent = 0
        for index, item in enumerate(single):
            if stop is not None and stop.is_set():
                await self._release([i.id for i in [*single[index:], *folded]])
                return sent, True
            outcome = await self._deliver(sink, [item])
            if outcome is None:
                await self._release([i.id for i in [*single[index + 1 :], *folded]])
                return sent, True
            sent += outcome
        if folded:
            window = self.config.burst_window_seconds
            last = self._last_digest.get(sink.name, 0.0)
            if time.time() - last < window or (stop is not None and stop.is_set()):
                await self._release([i.id for i in folded])
                self._gate[sink.name] = last + window
                return sent, True
            ids = [i.id for i in folded]
            digest_key = "digest-" + hashlib.sha256(f"{sink.name}|{ids}".encode()).hexdigest()[:24]
            async with self.archive.transaction() as tx:  # a resend after a crash reuses the key
                await self.deliveries.set_digest_key(tx, ids, digest_key)
            outcome = await self._deliver(sink, folded, digest_key)
            if outcome is None:
                return sent, True
            sent += outcome
        return sent, False

    async def _release(self, ids: list[int]) -> None:
        """Give back claimed deliveries that were not tried (shutdown, the sink backing off)."""
        if not ids:
            return
        async with self.archive.transaction() as tx:
            await self.deliveries.release(tx, ids)

    async def _recent_sends(self, name: str) -> deque[float]:
        window = self.config.burst_window_seconds
        recent = self._recent.get(name)
        if recent is None:  # after a restart the window is read back from the archive
            rows = await self.deliveries.recent_sends(name, now_utc() - timedelta(seconds=window))
            seen: set[str] = set()
            recent = deque()
            for sent_at, digest in sorted(rows, key=_sent_order):
                if digest:
                    if digest in seen:
                        continue
                    seen.add(digest)
                    self._last_digest[name] = max(
                        self._last_digest.get(name, 0.0), datetime.fromisoformat(sent_at).timestamp()
                    )
                    continue
                recent.append(datetime.fromisoformat(sent_at).timestamp())
            self._recent[name] = recent
        cutoff = time.time() - window
        while recent and recent[0] < cutoff:
            recent.popleft()
        return recent

    async def _deliver(self, sink: Sink, items: list[_Due], digest_key: str | None = None) -> int | None:
        """Send claimed deliveries (one alert, or a digest); mark them. ``None``: the sink must wait."""
        ids = [i.id for i in items]
        outgoing = [await self._outgoing(sink, item) for item in items]
        try:
            if digest_key is not None:
                await sink.send_digest(outgoing, digest_key)
            else:
                await sink.send(outgoing[0])
        except SinkUnavailable as exc:
            await self._mark(ids, "failed", error=str(exc))
            self.disabled[sink.name] = str(exc)
            log.error("outbox: sink %s switched off until restart: %s", sink.name, exc)
            return None
        except DeliveryError as exc:
            if exc.permanent:
                await self._mark(ids, "failed", error=str(exc))
                log.error(
                    "outbox: alert %s to %s failed for good: %s", [i.alert_id for i in items], sink.name, exc
                )
                return 0
            return await self._retry_later(sink, items, str(exc), exc.retry_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a sink must not stop delivery to the others
            log.exception("outbox: sink %s raised unexpectedly", sink.name)
            return await self._retry_later(sink, items, f"{type(exc).__name__}: {exc}", None)
        await self._mark(ids, "delivered")
        when = time.time()
        if digest_key is not None:
            self._last_digest[sink.name] = when
        else:
            self._recent.setdefault(sink.name, deque()).append(when)
        self._gate.pop(sink.name, None)
        return len(ids)

    async def _retry_later(
        self, sink: Sink, items: list[_Due], error: str, retry_after: float | None
    ) -> None:
        attempts = max(i.attempts for i in items) + 1
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), 86400.0)
        else:
            delay = backoff_delay(attempts, self.retry_base, self.config.retry_max_seconds, self.rng)
        when = now_utc() + timedelta(seconds=delay)
        await self._mark([i.id for i in items], "pending", error=error, next_attempt=when)
        self._gate[sink.name] = when.timestamp()
        log.warning("outbox: %s: %s; attempt %d, next in %.1f s", sink.name, error, attempts, delay)
        return None

    async def _mark(
        self,
        ids: Iterable[int],
        status: str,
        *,
        error: str | None = None,
        next_attempt: datetime | None = None,
    ) -> None:
        now = now_utc()
        async with self.archive.transaction() as tx:
            await self.deliveries.mark(tx, ids, status, now, error=error, next_attempt=next_attempt)

    async def _outgoing(self, sink: Sink, item: _Due) -> OutgoingAlert:
        key = hashlib.sha256(f"{item.fingerprint}|{item.created_at}|{sink.name}".encode()).hexdigest()[:32]
        image: Path | None = None
        sha = item.body.get("image_sha256")
        if sha:
            media = await self.archive.media(sha)
            if media is not None and media.path.is_file():
                image = media.path
        return OutgoingAlert(
            delivery_id=item.id,
            alert_id=item.alert_id,
            kind=item.kind,
            severity=item.severity,
            body=with_desk_link(item.body, self.desk_url),
            key=f"tgm-{key}",
            attempts=item.attempts,
            image=image,
            created_at=item.created_at,
        )


def with_desk_link(body: dict[str, Any], desk_url: str | None) -> dict[str, Any]:
    """The body with ``desk_url``, the post's page on the web desk, when the desk's address is
    configured and the alert is about one post (a key added to the body, never stored)."""
    channel_id, message_id = body.get("channel_id"), body.get("message_id")
    if not desk_url or not isinstance(channel_id, int) or not isinstance(message_id, int):
        return body
    return {**body, "desk_url": f"{desk_url.rstrip('/')}/post/{channel_id}/{message_id}"}


def _sent_order(row: tuple[str, str | None]) -> tuple[str, str]:
    """Sends in time order (then by digest key: the order the archive's rows sorted in before)."""
    return row[0], row[1] or ""


async def _wait_any(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
