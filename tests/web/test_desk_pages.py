"""What each page shows, over real HTTP on a real archive: the post page's edits, deletion, poster
and near-duplicates; the channel's chart and hashtags; countdowns; and checking a poster with real
Tesseract."""

from __future__ import annotations

import io
import re

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image, ImageDraw, ImageFont

from monitor.core.config import Config
from monitor.core.store import Archive
from monitor.web import build_app
from monitor.web.desk import Desk
from tests.support.alerts import add_post
from tests.web.desk_support import CH1, CH2, build_archive

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(tmp_path):
    built = await build_archive(tmp_path)
    archive = await Archive.open(built.db, built.media)
    desk = Desk(archive=archive, config=Config(), require_login=False)
    client = TestClient(TestServer(build_app(desk)))
    await client.start_server()
    client.built = built  # type: ignore[attr-defined]
    client.desk = desk  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await client.close()
        await archive.close()


async def test_post_page_shows_edits_deletion_poster_and_near_duplicates(client):
    archive = client.desk.archive
    await add_post(archive, CH2, 10, "نشرة الأخبار: الطقس حار جدا")  # an edit of message 10
    await archive.mark_deleted(CH2.id, [10])
    page = await (await client.get(f"/post/{CH2.id}/10")).text()
    assert 'id="deleted"' in page
    assert 'class="line del"' in page and "الطقس معتدل" in page
    assert 'class="line ins"' in page and "الطقس حار جدا" in page

    page = await (await client.get(f"/post/{CH1.id}/3")).text()
    assert f'src="/media/{client.built.poster_sha}"' in page
    assert "VENGEANCE IS COMING" in page  # the poster's OCR lines beside it
    assert 'id="similar"' in page and f"/post/{CH2.id}/9" in page  # the resized copy in the other channel
    assert 'id="alerts"' in page and "<mark>" in page  # its alert, with the matched words marked
    assert "Raw message" in page


async def test_channel_page_has_its_activity_and_hashtags(client):
    page = await (await client.get(f"/channel/{CH1.id}")).text()
    assert 'id="activity"' in page and page.count("<rect ") >= 2  # posts and alerts bars
    assert "#الانتقام_قادم" in page
    assert "ok" in page  # the collection status the archive keeps
    assert (await client.get("/channel/999")).status == 404


async def test_countdowns_show_the_series_and_its_deadline(client):
    page = await (await client.get("/countdowns")).text()
    assert 'id="no-active"' not in page and "deadline" in page and "<polyline" in page
    assert f"/post/{CH1.id}/1" in page


def _poster_with_text(text: str) -> bytes:
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 56)
    image = Image.new("RGB", (1000, 220), (255, 255, 255))
    ImageDraw.Draw(image).text((30, 70), text, font=font, fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def test_check_a_poster_reads_detects_and_finds_similar(client):
    page = await (await client.get("/check")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = FormData()
    form.add_field("csrf", token)
    form.add_field(
        "image", _poster_with_text("VENGEANCE IS COMING"), filename="p.png", content_type="image/png"
    )
    response = await client.post("/check?format=json", data=form)
    assert response.status == 200, await response.text()
    result = await response.json()
    assert "vengeance" in (result["ocr_text"] or "").lower()
    assert result["alert"] is True and any(m["source"] == "ocr" for m in result["matches"])
    assert isinstance(result["similar"], list)

    form = FormData()
    form.add_field("csrf", token)
    form.add_field("text", "والانتقامُ قادمٌ <b>x</b>")
    page = await (await client.post("/check", data=form)).text()
    assert "ALERT" in page and "<mark>" in page and "&lt;b&gt;x&lt;/b&gt;" in page

    form = FormData()
    form.add_field("csrf", token)
    form.add_field("image", b"not an image at all", filename="x.png", content_type="image/png")
    page = await (await client.post("/check", data=form)).text()
    assert "could not be read" in page or "not" in page
    assert "Traceback" not in page
    refused = await client.post("/check", data={"text": "x"})
    assert refused.status == 403


async def test_a_checked_poster_is_read_with_the_words_of_the_desks_rules(client, tmp_path):
    """Seed 33's poster lost a dot of ``ثأر المهندس`` on every pass: the desk reads it with the
    words of the rules it checks against (the shipped ones here), as the daemon would."""
    from scripts.posters import poster_specs, write_poster

    spec = poster_specs(48, 33)[35]
    path = tmp_path / write_poster(spec, tmp_path)["file"]
    page = await (await client.get("/check")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = FormData()
    form.add_field("csrf", token)
    form.add_field("image", path.read_bytes(), filename=path.name, content_type="image/jpeg")
    response = await client.post("/check?format=json", data=form)
    assert response.status == 200, await response.text()
    result = await response.json()
    assert "ثأر المهندس" in (result["ocr_text"] or "").splitlines(), result["ocr_text"]
    assert "ثأر المهندس" in {m["term"] for m in result["matches"] if m["source"] == "ocr"}
