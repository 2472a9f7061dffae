"""Plane passes in batches: one Tesseract run reads several planes exactly as one run each would."""

from __future__ import annotations

import resource

import numpy as np
import pytest
from PIL import Image

from ocr import OcrSettings, recognize_file, tesseract
from ocr.engine import load_for_ocr
from ocr.passes import plane_batches, read_planes
from ocr.planes import is_pass, plane_sets
from tests.support.ocr import write_poster


@pytest.fixture(scope="module")
def planes(tmp_path_factory):
    """The planes of a real poster with Arabic and English text on flames."""
    folder = tmp_path_factory.mktemp("batch")
    _, loaded = load_for_ocr(write_poster(folder, "eastern-hashtag-fire"), OcrSettings())
    assert loaded is not None
    return {
        name: plane for name, plane in plane_sets(loaded.frames, OcrSettings())[0].items() if is_pass(name)
    }


@pytest.mark.slow
def test_a_batch_reads_each_plane_as_its_own_run_would(planes):
    chosen = [planes[name] for name in ("grey", "white", "black-fill")]
    alone = [tesseract.tesseract_words(plane, "ara+eng", 11, 3.0) for plane in chosen]
    assert any(alone), "the poster's planes must have text for this test to mean anything"
    assert tesseract.tesseract_batch(chosen, "ara+eng", 11, 3.0) == alone


@pytest.mark.slow
def test_a_plane_that_runs_over_is_skipped_and_the_next_ones_are_still_read(planes, caplog):
    # psm 11 on grain runs for many seconds: the run is killed once that page has used its own
    # second. The page before it stands, the grain is skipped, the page after it goes into a
    # run of its own: the same as one run per plane gives.
    grain = Image.fromarray(np.random.default_rng(3).integers(0, 256, (1600, 1600), dtype=np.uint8))
    grey, white = planes["grey"], planes["white"]
    with caplog.at_level("INFO", logger="ocr.tesseract"):
        found = tesseract.tesseract_batch([grey, grain, white], "ara+eng", 11, 1.0)
    assert "ran over 1s of CPU" in caplog.text
    assert found == [
        tesseract.tesseract_words(grey, "ara+eng", 11, 1.0),
        [],
        tesseract.tesseract_words(white, "ara+eng", 11, 1.0),
    ]
    assert found[0] and found[2]


@pytest.mark.slow
def test_a_page_gets_its_own_seconds_not_the_whole_batch(planes):
    # Each page's CPU limit is raised when the page before is written, so grain first in a batch
    # of four is cut after its own second, not after the four seconds of the batch.
    grain = Image.fromarray(np.random.default_rng(5).integers(0, 256, (1600, 1600), dtype=np.uint8))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = tesseract.tesseract_batch(
        [grain, planes["grey"], planes["white"], planes["black"]], "ara+eng", 11, 1.0
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert found[0] == [] and found[1]
    assert used < 3.5, f"{used:.1f} s of CPU: the grain took more than its own second"


def test_tsv_pages_are_split_and_an_empty_page_keeps_its_place():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t50\t-1\t",
        "5\t1\t1\t1\t1\t1\t10\t10\t30\t12\t91.5\tالانتقام",
        "1\t2\t0\t0\t0\t0\t0\t0\t100\t50\t-1\t",
        "1\t3\t0\t0\t0\t0\t0\t0\t100\t50\t-1\t",
        "5\t3\t1\t1\t1\t1\t10\t10\t30\t12\t88.0\tقادم",
        "5\t3\t1\t1\t2\t1\t10\t30\t30\t12\t70.0\tCOMING",
    ]
    pages = tesseract.words_by_page("\n".join([header, *rows]))
    assert sorted(pages) == [1, 2, 3]
    assert [[w.text for w in line] for line in pages[1]] == [["الانتقام"]]
    assert pages[2] == []
    assert [[w.text for w in line] for line in pages[3]] == [["قادم"], ["COMING"]]


def test_the_stacks_go_alone_and_first_and_the_planes_are_dealt_out():
    names = ["grey", "red", "green", "blue", "white", "lines:ara", "lines:eng", "black"]
    assert plane_batches(names, 2) == [[5], [6], [0, 2, 4], [1, 3, 7]]
    assert plane_batches(names, 1) == [[5], [6], [0, 1, 2, 3, 4, 7]]
    assert plane_batches(["grey"], 2) == [[0]]
    assert plane_batches(["lines:ara"], 2) == [[0]]
    assert plane_batches([], 2) == []
    # every pass exactly once, whatever the number of ways
    for ways in (1, 2, 3, 8):
        assert sorted(i for batch in plane_batches(names, ways) for i in batch) == list(range(len(names)))


@pytest.mark.slow
def test_a_batch_of_planes_and_a_stack_reads_like_one_pass_each(planes):
    from ocr.passes import read_plane

    command = OcrSettings(tesseract="command")
    chosen = [(name, planes[name]) for name in ("lines:ara", "grey", "gold")]
    assert read_planes(chosen, command) == [read_plane(plane, command, name) for name, plane in chosen]


@pytest.mark.slow
@pytest.mark.parametrize("engine_kind", ["command", "library"])
def test_the_poster_reads_the_same_in_one_or_two_ways(tmp_path, monkeypatch, engine_kind):
    import ocr.engine as engine

    path = write_poster(tmp_path, "eastern-hashtag-fire")
    two = recognize_file(path, OcrSettings(tesseract=engine_kind))
    monkeypatch.setattr(engine, "WAYS", 1)
    one = recognize_file(path, OcrSettings(tesseract=engine_kind))
    assert two.status == one.status == "done"
    assert "#باقي_٥٩_يوما" in two.text
    assert (two.text, two.doubtful) == (one.text, one.doubtful)
