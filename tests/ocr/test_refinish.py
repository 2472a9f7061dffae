"""``bench.ocr_refinish``: stored passes, finished again, give the text the read gave."""

from __future__ import annotations

import pickle

from bench.ocr_refinish import finish_stored, left_out, main, store_image
from ocr import OcrSettings, recognize_file
from ocr.tesseract import usable_settings
from scripts.pictures import draw_picture
from tests.support.ocr import write_poster


def test_finishing_stored_passes_gives_the_text_of_the_read(tmp_path):
    settings = usable_settings(OcrSettings())
    poster = write_poster(tmp_path, "arabic-light")  # "الانتقام قادم" / "#الرد_قادم", a stack of line crops
    planes = tmp_path / "planes"
    stored = pickle.loads(
        pickle.dumps(store_image(poster, settings, planes))
    )  # as it comes back from the file
    text = finish_stored(stored, planes, settings)
    assert "الانتقام" in text and text == recognize_file(poster, settings).text
    # every pass left out, the second passes too
    assert finish_stored(stored, planes, settings, lambda plane: True) == ""
    picture = tmp_path / "gradient.png"
    draw_picture("gradient", seed=2).save(picture)
    assert store_image(picture, settings, tmp_path / "none") is None  # not read, as check --image reads it
    assert finish_stored(None, tmp_path / "none", settings) == ""


def test_a_doubled_plane_is_left_out_with_its_plane():
    dropped = left_out("gold,lines:*")
    assert dropped("gold") and dropped("x2:gold") and dropped("lines:ara") and dropped("lines:eng")
    assert not dropped("grey") and not dropped("x2:grey") and not dropped("rows")


def test_real_pictures_without_text_are_stored_and_scored_as_a_set(tmp_path, capsys):
    smooth, poster = tmp_path / "gradient.png", write_poster(tmp_path, "arabic-light")
    draw_picture("gradient", seed=2).save(smooth)
    store = tmp_path / "store"
    assert (
        main(["store", str(store), "--seeds", "", "--pictures", "", "--textless", str(smooth), str(poster)])
        == 0
    )
    assert sorted(p.name for p in (store / "textless").glob("*.pickle")) == [
        "arabic-light.png.pickle",
        "gradient.png.pickle",
    ]
    capsys.readouterr()
    assert main(["score", str(store)]) == 0
    # the poster stands in for a picture that was not textless after all: its words are counted
    words = len(recognize_file(poster, usable_settings(OcrSettings())).text.split())
    assert capsys.readouterr().out.strip() == f"textless (2, given as without text): {words} words on 1"
