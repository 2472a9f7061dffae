"""Tesseract in process (``ocr.library``): the same passes as the command, with the CPU limit."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from monitor.core.text import normalize
from ocr import OcrSettings, tesseract
from ocr.passes import read_plane
from ocr.planes import plane_sets
from tests.support.ocr import write_poster


@pytest.fixture(scope="module")
def grain(tmp_path_factory):
    path = tmp_path_factory.mktemp("grain") / "grain.pgm"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (1600, 1600), dtype=np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_a_library_pass_over_its_cpu_time_is_skipped(grain, caplog):
    with caplog.at_level("INFO", logger="ocr.library"):
        assert tesseract.tesseract_words(grain, "ara+eng", 11, 1.0, "library") == []
    assert "ran over 1s of CPU" in caplog.text


@pytest.mark.slow
def test_a_library_pass_in_a_thread_over_its_cpu_time_is_skipped(grain, caplog):
    found: list = [None]
    worker = threading.Thread(
        target=lambda: found.__setitem__(0, tesseract.tesseract_words(grain, "eng", 11, 1.0, "library"))
    )
    with caplog.at_level("INFO", logger="ocr.library"):
        worker.start()
        worker.join(timeout=120)
    assert not worker.is_alive() and found[0] == []
    assert "ran over 1s of CPU" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("poster", "plane"),
    [
        ("arabic-light", "grey"),
        ("arabic-light", "lines:ara"),
        ("english-dark", "grey"),
        ("english-dark", "lines:eng"),
    ],
)
def test_the_library_reads_a_plane_as_the_command_does(tmp_path, poster, plane):
    # The wheel's Tesseract (5.5) is not Debian's (5.3): junk over flames may differ, the words
    # of a poster's lines must not. Arabic with a hashtag, and English with a number.
    with Image.open(write_poster(tmp_path, poster)) as image:
        planes = plane_sets([image.convert("RGB")], OcrSettings())[0]

    def words(engine: str) -> set[str]:
        lines = read_plane(planes[plane], OcrSettings(tesseract=engine), plane)
        return {normalize(w.text) for line in lines for w in line if w.conf >= 60 and len(w.text) >= 3}

    library, command = words("library"), words("command")
    assert library and command
    assert len(library & command) >= 0.6 * max(len(library), len(command)), (library, command)
    if poster == "arabic-light":
        assert {"الانتقام", "قادم"} & library, library


def test_the_tsv_of_both_is_read_alike():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t40\t91.5\tاموي_٥٩_يقاب#",
        "5\t1\t1\t1\t1\t2\t50\t20\t30\t40\t88\tإلى",
    ]
    command = tesseract.words_from_tsv("\n".join([header, *rows]))
    library = tesseract.words_from_tsv("\n".join(rows))  # the library gives no header line
    assert command == library
    assert [w.text for w in command[0]] == ["#باقي_٥٩_يوما", "إلى"]
