"""The worker pool: off the event loop, one read per sha256, a stuck worker killed with its group."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from PIL import Image

from ocr import OcrPool, OcrSettings
from ocr.settings import TESSERACT_NOISE_HEIGHT
from tests.support.ocr import image_bytes, plane_twins, write_poster


def processes_in_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def posters(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool-posters")
    return {name: write_poster(folder, name) for name in ("arabic-light", "english-dark")}


@pytest.mark.asyncio
async def test_same_image_twice_is_read_once(posters, tmp_path):
    copy = tmp_path / "copy.png"
    copy.write_bytes(posters["arabic-light"].read_bytes())  # same bytes, another path
    async with OcrPool(OcrSettings(), workers=2, queue_size=4) as pool:
        first, second = await asyncio.gather(pool.recognize(posters["arabic-light"]), pool.recognize(copy))
        third = await pool.recognize(posters["arabic-light"])
        assert first.status == "done" and "الانتقام" in first.text
        assert first.sha256 == second.sha256 == third.sha256
        assert second.text == first.text == third.text
        assert pool.stats["read"] == 1
        assert pool.stats["shared"] == 2


@pytest.mark.asyncio
async def test_timeout_kills_the_worker_group_and_the_pool_goes_on(posters, tmp_path):
    noisy = tmp_path / "noisy.png"
    import numpy as np

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1400, 1400, 3), dtype=np.uint8)).save(noisy)
    async with OcrPool(OcrSettings(), workers=1, queue_size=2) as pool:
        [pgid] = pool.process_groups()
        tmpdir = pool._workers[0].tmpdir
        # the pool reads this noise in 1.5-1.7 s on the 2-core machine: a timeout of a seventh of
        # that still times out on a quicker one
        stuck = await pool.recognize(noisy, timeout=0.2)
        assert stuck.status == "failed"
        assert "timed out after 0.2s" in stuck.reason
        assert processes_in_group(pgid) == []  # worker and its Tesseract are gone
        assert tmpdir is not None and not os.path.exists(tmpdir)  # no tess_* files left behind
        assert pool.stats["timeouts"] == 1
        [new_pgid] = pool.process_groups()
        assert new_pgid != pgid
        after = await pool.recognize(posters["english-dark"])
        assert after.status == "done" and "HELL" in after.text.upper()


@pytest.mark.asyncio
async def test_one_poster_is_read_by_both_workers(posters):
    async with OcrPool(OcrSettings(), workers=2, queue_size=2) as pool:
        pids = set(pool.process_groups())
        outcome = await pool.recognize(posters["english-dark"])
    assert outcome.status == "done", outcome.reason
    assert "HELL IS COMING" in outcome.text.upper()
    # nine planes but the twins (the same pixels as another plane), the line stack read in each language (ara,
    # eng), the rows re-read in two parts, the digits pass
    assert outcome.extra["passes"] == 14 - len(plane_twins(posters["english-dark"]))
    assert outcome.extra["workers"] == 2  # its passes were spread over both workers
    assert len(pids) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ["library", "command"])
async def test_the_passes_of_a_stuck_image_time_out_on_every_worker(posters, tmp_path, engine):
    import numpy as np

    noisy = tmp_path / "noisy.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (3000, 3000, 3), dtype=np.uint8)).save(noisy)
    # Two heavy planes only, each a pass of about 20 CPU seconds on noise (no per-pass CPU limit
    # here): once the image is prepared (2-3 s idle, up to 4x that on a busy machine) both
    # workers are in Tesseract, each on one of its passes, and still there at the 12 s deadline.
    # (A 5 s deadline with smaller passes failed at load 9-12: the image was still being prepared;
    # at 2200 px a pass took 9-11 s on a fast machine, and the first worker was done in time.)
    # At Tesseract's own noise height: at the plane passes' own (``plane_noise_height``) the
    # grain's specks are noise, and each pass ends in a moment.
    lean = OcrSettings(
        passes=("grey", "red"),
        plane_noise_height=TESSERACT_NOISE_HEIGHT,
        row_pass=False,
        digits_pass=False,
        glyph_digits=False,
        pass_timeout=60.0,
        max_side=3000,
        max_bytes=64 * 1024 * 1024,  # a PNG of colour noise does not compress
        tesseract=engine,
    )
    async with OcrPool(lean, workers=2, queue_size=2) as pool:
        before = pool.process_groups()
        folders = [w.tmpdir for w in pool._workers]
        stuck = await pool.recognize(noisy, timeout=12.0)
        assert stuck.status == "failed"
        assert stuck.reason == "OCR timed out after 12s"
        assert stuck.sha256 is not None  # the failure is recorded against the image
        # both workers were running one of its passes at the deadline: both groups killed
        assert all(processes_in_group(pgid) == [] for pgid in before)
        assert not any(os.path.exists(folder) for folder in folders)
        assert set(pool.process_groups()).isdisjoint(before)
        assert pool.stats["timeouts"] == 1
        assert list(pool._root.iterdir()) == []  # the image's plane files are gone too
        after = await pool.recognize(posters["english-dark"])
        assert after.status == "done" and "HELL" in after.text.upper()


@pytest.mark.asyncio
async def test_an_image_too_small_to_read_is_done_without_passes(tmp_path):
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(image_bytes(Image.new("RGB", (5, 5), "white"), "PNG"))
    async with OcrPool(OcrSettings(), workers=2) as pool:
        outcome = await pool.recognize(tiny)
    assert outcome.status == "done" and outcome.text == ""
    assert (outcome.width, outcome.height) == (5, 5)


@pytest.mark.asyncio
async def test_bad_images_fail_with_a_reason_and_do_not_stop_the_pool(posters, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "note.jpg"
    text.write_text("not a poster")
    cut = tmp_path / "cut.jpg"
    data = image_bytes(Image.new("RGB", (300, 200), "white"), "JPEG")
    cut.write_bytes(data[: len(data) // 2])
    async with OcrPool(OcrSettings(), workers=1) as pool:
        outcomes = await asyncio.gather(
            *(pool.recognize(p) for p in (empty, text, cut, tmp_path / "gone.png"))
        )
        assert [o.status for o in outcomes] == ["failed"] * 4
        reasons = [o.reason for o in outcomes]
        assert "empty file" in reasons[0]
        assert "not an image" in reasons[1]
        assert "truncated" in reasons[2]
        assert "not found" in reasons[3]


@pytest.mark.asyncio
async def test_event_loop_keeps_ticking_while_posters_are_read(posters):
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async with OcrPool(OcrSettings(), workers=1) as pool:
        task = asyncio.create_task(ticker())
        outcome = await pool.recognize(posters["english-dark"])
        stop.set()
        await task
    assert outcome.status == "done"
    assert ticks > 3  # the loop ran while the worker read


@pytest.mark.asyncio
async def test_closing_fails_what_is_still_queued(posters, tmp_path):
    pool = OcrPool(OcrSettings(), workers=1, queue_size=8)
    await pool.start()
    paths = []
    for i in range(4):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(image_bytes(Image.new("RGB", (50 + i, 50), "white"), "PNG"))
        paths.append(path)
    tasks = [asyncio.create_task(pool.recognize(p)) for p in paths]
    await asyncio.sleep(0)
    await pool.close()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert all(o.status in ("done", "failed") for o in outcomes)


@pytest.mark.asyncio
async def test_the_words_the_pool_is_given_finish_every_read_from_then_on(tmp_path):
    """The daemon's rules reloaded (``OcrPool.use_words``): the workers keep running, and the
    next read of seed 33's poster, whose planes lost a dot of ``ثأر المهندس`` and whose passes
    never read it, is finished with the new words (``ocr.dots``), and not served from the cache of
    outcomes read with the old ones."""
    from scripts.posters import poster_specs
    from scripts.posters import write_poster as write_synthetic

    spec = poster_specs(48, 33)[35]
    path = tmp_path / write_synthetic(spec, tmp_path)["file"]
    async with OcrPool(OcrSettings(), workers=1) as pool:
        before = await pool.recognize(path)
        assert (await pool.recognize(path)) is before  # the same words: the cached outcome
        workers = [w.process.pid for w in pool._workers]
        pool.use_words(("ثأر", "المهندس"))
        after = await pool.recognize(path)
        assert [w.process.pid for w in pool._workers] == workers  # no worker started again
        assert pool.stats["read"] == 2
    assert before.status == after.status == "done", (before.reason, after.reason)
    assert "تأر المهندس" in before.text.splitlines() and "ثأر المهندس" not in before.text.splitlines()
    assert "ثأر المهندس" in after.text.splitlines(), after.text


class _ReloadDuringFinish(OcrPool):
    """A real pool whose rules are reloaded while a finish is on its way to a worker: the moment
    a daemon's SIGHUP can fall on, made certain instead of left to timing."""

    async def _step(self, job, order, payload):  # type: ignore[no-untyped-def]
        if payload.get("op") == "finish":
            self.use_words(("ثأر", "المهندس"))
        return await super()._step(job, order, payload)


@pytest.mark.asyncio
async def test_a_read_finished_with_words_a_reload_replaced_is_not_cached(tmp_path):
    """A read whose finish went out with the old words keeps them (it is this request's answer),
    but the pool does not serve it again: the next request for the poster is read with the new
    words."""
    path = write_poster(tmp_path, "eastern-countdown")
    async with _ReloadDuringFinish(OcrSettings(), workers=1) as pool:
        first = await pool.recognize(path)
        second = await pool.recognize(path)
    assert first.status == second.status == "done", (first.reason, second.reason)
    assert pool.stats["read"] == 2 and pool.stats["shared"] == 0
