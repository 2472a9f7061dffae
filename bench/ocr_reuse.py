"""A re-posted poster against its first read: the reading is reused, not redone.

Run: ``.venv/bin/python -m bench.ocr_reuse [--n 6]``

For each of ``--n`` posters of ``scripts/posters.py``, in one run on a real archive and a real
``OcrPool`` (2 workers), through :class:`handlers.posters.PosterReader` as the daemon and the
importer use it:
  * ``first``: seconds to read the poster (stored as the post's image, read pending);
  * ``repost``: seconds for the same poster re-posted by another channel, at 3/5 of its size as
    a JPEG of quality 45 (pHash, nearest read image, block comparison, copy of the reading);
  * ``next``: the same template with the next countdown number (as near in pHash): it must be
    read itself, so it costs a first read.
Prints the ratio repost / first per poster and overall (target <= 0.05x).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from handlers.posters import PosterReader
from monitor.core.models import Channel, MediaItem, Post
from monitor.core.store import Archive
from ocr import OcrPool, OcrSettings
from scripts.posters import render_poster, to_eastern

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _bytes(image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _photo(data: bytes, mime: str) -> MediaItem:
    return MediaItem(kind="photo", is_image=True, content=data, mime_type=mime, size=len(data))


async def _read_one(archive: Archive, reader: PosterReader, post: Post) -> tuple[float, str | None]:
    await archive.save_post(post)
    started = time.perf_counter()
    await reader.read_pending(detect=False)
    elapsed = time.perf_counter() - started
    row = await archive.fetchall(
        "SELECT m.ocr_from FROM post_media pm JOIN media m ON m.sha256 = pm.sha256 "
        "JOIN posts p ON p.id = pm.post_id WHERE p.message_id = ?",
        (post.message_id,),
    )
    return elapsed, row[0][0] if row else None


async def run(n: int) -> int:
    backgrounds = ("fire", "flag", "noise", "dark", "gradient", "light")
    channel = Channel(id=1, username="a", title="A")
    other = Channel(id=2, username="b", title="B")
    firsts, reposts = [], []
    with tempfile.TemporaryDirectory(prefix="tgm-reuse-") as tmp:
        archive = await Archive.open(Path(tmp) / "a.db", Path(tmp) / "media")
        async with OcrPool(OcrSettings(), workers=2) as pool:

            async def nothing(_ids: object) -> None:
                return None

            reader = PosterReader(archive, pool, nothing)
            print(
                f"{'poster':10} {'first s':>8} {'repost s':>9} {'ratio':>7} {'next s':>7}  copied / next copied"
            )
            for i in range(n):
                value = 20 + 7 * i
                lines = ["الانتقام قادم", f"#باقي_{to_eastern(str(value))}_يوما"]
                poster = render_poster(lines, backgrounds[i % len(backgrounds)], 800, seed=i)
                following = render_poster(
                    [lines[0], f"#باقي_{to_eastern(str(value - 1))}_يوما"], backgrounds[i % 6], 800, seed=i
                )
                small = poster.resize((poster.width * 3 // 5, poster.height * 3 // 5))
                posts = [
                    Post(channel=channel, message_id=10 * i + 1, date=WHEN, text="", media=[_photo(_bytes(poster, "PNG"), "image/png")]),
                    Post(channel=other, message_id=10 * i + 2, date=WHEN, text="", media=[_photo(_bytes(small, "JPEG", quality=45), "image/jpeg")]),
                    Post(channel=channel, message_id=10 * i + 3, date=WHEN, text="", media=[_photo(_bytes(following, "PNG"), "image/png")]),
                ]  # fmt: skip
                first, _ = await _read_one(archive, reader, posts[0])
                repost, copied = await _read_one(archive, reader, posts[1])
                following_s, next_copied = await _read_one(archive, reader, posts[2])
                firsts.append(first)
                reposts.append(repost)
                print(
                    f"{backgrounds[i % 6]:10} {first:8.2f} {repost:9.3f} {repost / first:6.3f}x {following_s:7.2f}"
                    f"  {copied is not None} / {next_copied is not None}"
                )
        await archive.close()
    print(f"repost / first read overall: {sum(reposts) / sum(firsts):.3f}x (target <= 0.05x)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.n))


if __name__ == "__main__":
    sys.exit(main())
