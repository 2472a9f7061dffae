"""The post page (text, edits as a diff, deletion, forward, counts, every image with its OCR lines,
near-duplicate posters, alerts, the raw message) and the images, served only by sha256."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from monitor.web.desk import DESK, Desk
from monitor.web.render import render
from monitor.web.views import post_data, similar_images

_MIME_CACHE: dict[tuple[str, int, int], str] = {}
"""The content type of each served file, by (sha256, mtime, size): a file changed on disk is sniffed again."""
IMAGE_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}
"""What the desk serves: raster images a browser shows, by what the file's bytes are (never by its
name or a stored label). Anything else (an SVG, a document) is not served."""


def _diff(old: str, new: str) -> list[tuple[str, str]]:
    """Line diff of two versions: ``(mark, line)`` with mark ``-``, ``+`` or `` ``."""
    out = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith(("- ", "+ ", "  ")):
            out.append((line[0], line[2:]))
    return out


async def post_page(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    data = await post_data(desk, int(request.match_info["channel_id"]), int(request.match_info["message_id"]))
    texts = [v["text"] for v in data["versions"]] + [data["text"]]
    diffs = [
        {"edit_date": data["versions"][i]["replaced_at"], "lines": _diff(texts[i], texts[i + 1])}
        for i in range(len(texts) - 1)
    ]
    own = {m["sha256"] for m in data["media"] if m["sha256"]}
    similar = []
    for item in data["media"]:
        if item["phash"]:
            for match in await similar_images(desk, item["phash"], exclude=own):
                match["posts"] = [
                    p
                    for p in match["posts"]
                    if (p["channel_id"], p["message_id"]) != (data["channel_id"], data["message_id"])
                ]
                if match["posts"]:
                    similar.append(match)
    raw = json.dumps(data["raw"], ensure_ascii=False, indent=2) if data["raw"] is not None else ""
    return render(request, "post.html", post=data, diffs=diffs, similar=similar, raw=raw)


def _content_type(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            return IMAGE_TYPES.get(image.format or "")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


async def media_file(request: web.Request) -> web.StreamResponse:
    """An archived image by its sha256 (the only key a request gives), with the content type its
    bytes say, ``nosniff`` (the headers middleware), and never a file outside the media store."""
    desk: Desk = request.app[DESK]
    sha = request.match_info["sha256"]
    record = await desk.archive.media(sha)
    if record is None or not record.is_image:
        raise web.HTTPNotFound(text="no such image")
    root = desk.media_dir.resolve()
    path = record.path.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="no such image")
    stat = path.stat()
    key = (sha, stat.st_mtime_ns, stat.st_size)
    mime = _MIME_CACHE.get(key)
    if mime is None:
        mime = _content_type(path)
        if mime is None:
            raise web.HTTPNotFound(text="not an image the desk shows")
        if len(_MIME_CACHE) > 100_000:
            _MIME_CACHE.clear()
        _MIME_CACHE[key] = mime
    response = web.FileResponse(
        path,
        headers={
            "Content-Type": mime,
            "Cache-Control": "private, max-age=31536000, immutable",  # the name is the content's hash
            "Content-Disposition": "inline",
        },
    )
    return response
