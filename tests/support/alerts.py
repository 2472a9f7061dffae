"""Helpers for the alerts tests: posts in a real archive, detections, a real local webhook server.

The webhook server is a real aiohttp server on 127.0.0.1 (an ephemeral port) whose behaviour
each test scripts: answer 200, answer 500, hang, or drop the connection, per request. It checks
the HMAC signature itself when given the secret, as a receiver should.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive, PostRecord

ARABIC_THREAT = "الانتقامُ قادمٌ يا أعداءَ الله & <b>لا</b> <script>alert(1)</script> خلال ٣ أيام"


@dataclass
class FakeMatch:
    """Shaped like ``alerts.detect.Match``."""

    rule: str
    term: str
    category: str = "threat"
    severity: str = "high"
    source: str = "text"
    start: int = 0
    end: int = 0


@dataclass
class FakeCountdown:
    value: int
    unit: str = "day"
    deadline: datetime | None = None
    alertable: bool = True


@dataclass
class FakeDetection:
    """Shaped like ``alerts.detect.Detection`` (only the attributes the outbox reads)."""

    alert: bool = True
    severity: str | None = "high"
    matches: list[FakeMatch] = field(default_factory=list)
    countdown: FakeCountdown | None = None
    ocr_text: str | None = None
    min_severity: str | None = None  # the outbox's own floor (alerts.min_severity) applies


def detection_for(text: str, terms: dict[str, str], *, source: str = "text", **kwargs: Any) -> FakeDetection:
    """A detection that found each ``term`` (-> rule name) where it occurs in ``text``."""
    matches = []
    for term, rule in terms.items():
        start = text.find(term)
        assert start >= 0, f"{term!r} not in text"
        matches.append(FakeMatch(rule=rule, term=term, source=source, start=start, end=start + len(term)))
    return FakeDetection(matches=matches, **kwargs)


async def add_post(
    archive: Archive,
    channel: Channel,
    message_id: int,
    text: str,
    *,
    date: datetime | None = None,
    image: bytes | None = None,
    phash: str | None = None,
    ocr_text: str | None = None,
) -> PostRecord:
    """Save a post (and its image, with OCR result and perceptual hash) through the real archive."""
    media = []
    if image is not None:
        media.append(MediaItem(kind="photo", is_image=True, content=image, mime_type="image/png"))
    post = Post(
        channel=channel,
        message_id=message_id,
        date=date or datetime.now(UTC).replace(microsecond=0),
        text=text,
        media=media,
        source="live",
    )
    result = await archive.save_post(post)
    if image is not None:
        sha = hashlib.sha256(image).hexdigest()
        await archive.set_ocr_result(sha, "done", text=ocr_text or "", phash=phash)
    record = await archive.post(channel.id, message_id)
    assert record is not None and record.id == result.post_id
    return record


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookServer:
    """A real HTTP server; ``script`` is a list of actions used in turn ("ok", "500", "429",
    "404", "slow", "drop"), then ``default``. ``slow`` waits until :attr:`release` is set.
    """

    def __init__(self, secret: str | None = None, default: str = "ok"):
        self.secret = secret
        self.default = default
        self.script: list[str] = []
        self.received: list[Received] = []  # every request that reached the handler
        self.accepted: list[Received] = []  # answered 2xx
        self.bad_signatures = 0
        self.release = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.on_accept: Callable[[Received], None] | None = None

    async def start(self) -> WebhookServer:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        item = Received(body, dict(request.headers), asyncio.get_running_loop().time())
        self.received.append(item)
        self._poke()
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, request.headers.get("X-Tgmonitor-Signature", "")):
                self.bad_signatures += 1
                return web.Response(status=401, text="bad signature")
        action = self.script.pop(0) if self.script else self.default
        if action == "slow":
            await self.release.wait()
            action = "ok"
        if action == "drop":
            assert request.transport is not None
            request.transport.abort()  # no answer at all: the client sees the connection die
            return web.Response(status=500)
        if action.isdigit():
            headers = {"Retry-After": "0"} if action == "429" else {}
            return web.Response(status=int(action), text="no", headers=headers)
        self.accepted.append(item)
        if self.on_accept:
            self.on_accept(item)
        self._poke()
        return web.Response(status=200, text="ok")

    def _poke(self) -> None:
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait (bounded) until ``predicate()`` holds; every request wakes the check."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError("webhook server: condition not reached in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))


async def wait_until(check: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> None:
    """Poll an async-or-sync condition with a bound (for archive state written by a worker)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


async def statuses(archive: Archive, alert_id: int | None = None) -> dict[tuple[int, str], str]:
    sql = "SELECT alert_id, sink, status FROM deliveries"
    rows = await archive.fetchall(
        sql + (" WHERE alert_id = ?" if alert_id else ""), (alert_id,) if alert_id else ()
    )
    return {(r[0], r[1]): r[2] for r in rows}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
