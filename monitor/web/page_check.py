"""Check a poster: upload an image (and/or paste a text), get what ``check --image`` and
``similar`` say: the OCR text, the detection with its matches highlighted, similar archived posters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from monitor.core.errors import ImageError, MonitorError
from monitor.ocr_settings import ocr_settings
from monitor.web.desk import DESK, Desk
from monitor.web.render import render
from monitor.web.views import similar_images

TEXT_LIMIT = 100_000  # characters of pasted text


async def check_page(request: web.Request) -> web.Response:
    return render(request, "check.html", result=None, text="", problem=None)


def _read(data: bytes, config: Any, rules: Any) -> tuple[Any, str | None]:
    """OCR outcome and perceptual hash of an uploaded image (runs in a thread), read with the
    words of ``rules``, the ones the page checks against (``monitor.ocr_settings``)."""
    from ocr import load_image, perceptual_hash, recognize_file  # why: ~0.8 s, on first check

    settings = ocr_settings(config, rules)
    outcome = recognize_file(data, settings)
    try:
        loaded = load_image(
            data, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, max_side=settings.max_side
        )
        phash = perceptual_hash(loaded.frames[0])
    except ImageError:
        phash = None
    return outcome, phash


async def check_upload(request: web.Request) -> web.Response:
    desk: Desk = request.app[DESK]
    form = await request.post()
    text = str(form.get("text", "") or "")[:TEXT_LIMIT]
    upload = form.get("image")
    data = upload.file.read() if isinstance(upload, web.FileField) else b""
    if not text.strip() and not data:
        raise MonitorError("give a poster to read or a text to check")
    ocr_text = None
    problem = None
    similar: list[dict[str, Any]] = []
    detector = desk.detector()
    if data:
        async with desk.check_lock:
            outcome, phash = await asyncio.to_thread(_read, data, desk.config, detector.ruleset)
        if outcome.status == "done":
            ocr_text = outcome.text or ""
        else:
            problem = f"the image could not be read: {outcome.reason}"
        if phash:
            similar = await similar_images(desk, phash, exclude=set())
    detection = detector.detect(text, ocr_text=ocr_text, date=datetime.now(UTC).replace(microsecond=0))
    result = detection.to_json()
    result["similar"] = similar
    if request.query.get("format") == "json" or "application/json" in request.headers.get("Accept", ""):
        return web.json_response(result, dumps=_dumps)
    return render(request, "check.html", result=result, text=text, problem=problem)


def _dumps(data: Any) -> str:
    from monitor.core.escape import dumps_json

    return dumps_json(data)
