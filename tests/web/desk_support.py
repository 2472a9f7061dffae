"""Helpers for the web desk's tests: a real archive with real alerts, and a real desk server.

The archive is filled through the real store, the real detector (shipped rules) and the real
outbox; posters are real PNG files with their perceptual hash. The server is the desk's own
aiohttp application on an ephemeral port of 127.0.0.1, run in a thread with its own event loop so
a synchronous browser driver can talk to it while the test goes on.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from alerts.outbox import Outbox
from monitor.app import build_detector
from monitor.core.config import Config
from monitor.core.models import Channel
from monitor.core.store import Archive, countdown_row
from monitor.web.auth import add_user
from monitor.web.desk import open_desk, run_desk
from ocr import perceptual_hash
from tests.support.alerts import add_post

CH1 = Channel(id=7001, username="sabereen_test", title="صابرين — اختبار")
CH2 = Channel(id=7002, username="kaf_test", title="كف")

ARABIC = "والانتقامُ قادمٌ يا أعداءَ الله، باقي ٥ أيام #الانتقام_قادم"
"""A threat with diacritics, an attached و, Eastern digits, a hashtag: searched as الانتقام."""
HOSTILE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> '
    "[bold red]markup[/] javascript:alert(1) \u202etxt.exe\u202c الانتقام قادم"
)
POSTER_OCR = "الانتقام قادم\nVENGEANCE IS COMING"
PASSWORD = "correct horse battery"


def poster_png(color: tuple[int, int, int] = (180, 20, 20), size: tuple[int, int] = (320, 240)) -> bytes:
    """A real PNG poster: a coloured field with shapes (so its perceptual hash means something)."""
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, size[0] // 2, size[1] // 2), fill=(255, 255, 255))
    draw.ellipse((size[0] // 2, size[1] // 2, size[0] - 10, size[1] - 10), fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def phash_of(data: bytes) -> str:
    return perceptual_hash(Image.open(io.BytesIO(data)).convert("RGB"))


@dataclass
class Built:
    db: Path
    media: Path
    poster_sha: str
    alert_ids: list[int]


async def record(
    archive: Archive, outbox: Outbox, detector: Any, channel: Channel, message_id: int, text: str, **kw: Any
) -> list[int]:
    """Save a post and record what the real detector finds in it; the new alert ids."""
    post = await add_post(archive, channel, message_id, text, **kw)
    detection = detector.detect(post.text, ocr_text=kw.get("ocr_text"), date=post.date)
    countdown = detection.countdown
    rows = (
        [countdown_row(post.id, channel.id, post.date, countdown)] if countdown and countdown.deadline else []
    )
    await archive.mark_detected([post.id], rows)  # what the pipeline stores: the countdown points
    return await outbox.record(post, detection) if detection.alert else []


async def build_archive(folder: Path) -> Built:
    """Posts in two channels (an Arabic threat, a hostile post, a poster shared by both channels, a
    benign post) and the alerts the shipped rules raise on them."""
    import hashlib

    db, media = folder / "archive.db", folder / "media"
    archive = await Archive.open(db, media)
    config = Config()
    detector = build_detector(config)
    outbox = Outbox(archive, [], config.alerts)
    now = datetime.now(UTC).replace(microsecond=0)
    ids: list[int] = []
    try:
        ids += await record(archive, outbox, detector, CH1, 1, ARABIC, date=now - timedelta(days=2))
        ids += await record(archive, outbox, detector, CH1, 2, HOSTILE, date=now - timedelta(days=1))
        image = poster_png()
        ids += await record(
            archive,
            outbox,
            detector,
            CH1,
            3,
            "",
            date=now - timedelta(hours=5),
            image=image,
            phash=phash_of(image),
            ocr_text=POSTER_OCR,
        )
        near = poster_png(size=(300, 226))  # the same poster, resized: a near-duplicate in another channel
        ids += await record(
            archive,
            outbox,
            detector,
            CH2,
            9,
            "منشور عادي عن الطقس",
            date=now - timedelta(hours=4),
            image=near,
            phash=phash_of(near),
            ocr_text="",
        )
        await add_post(archive, CH2, 10, "نشرة الأخبار: الطقس معتدل", date=now - timedelta(hours=3))
    finally:
        await outbox.close()
        await archive.close()
    return Built(db, media, hashlib.sha256(image).hexdigest(), ids)


async def add_alerting_post(built: Built, message_id: int, text: str) -> list[int]:
    """One more alerting post, written by another connection (as the daemon would)."""
    archive = await Archive.open(built.db, built.media)
    config = Config()
    outbox = Outbox(archive, [], config.alerts)
    try:
        return await record(archive, outbox, build_detector(config), CH2, message_id, text)
    finally:
        await outbox.close()
        await archive.close()


async def add_desk_user(db: Path, name: str = "alice", password: str = PASSWORD) -> None:
    archive = await Archive.open(db)
    try:
        await add_user(archive, name, password)
    finally:
        await archive.close()


class DeskServer:
    """The desk on 127.0.0.1 (an ephemeral port) in a thread with its own event loop."""

    def __init__(self, db: Path, media: Path, config: Config | None = None) -> None:
        self.db, self.media = db, media
        self.config = config or Config()
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self.desk: Any = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> DeskServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the desk did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def call(self, make: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 60) -> Any:
        """Run a coroutine on the desk's loop (e.g. read its archive) and wait for its result."""
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with open_desk(self.config, self.db, self.media, host="127.0.0.1") as desk:
                runner = await run_desk(desk, "127.0.0.1", 0)
                port = runner.addresses[0][1]
                self.url = f"http://127.0.0.1:{port}"
                self.desk = desk
                self._ready.set()
                try:
                    await self._stop.wait()
                finally:
                    await runner.cleanup()
        except BaseException as exc:  # the test thread re-raises it
            self._error = exc
            self._ready.set()
