"""``bench.ocr_pass_sets``: sets of passes scored on a folder laid out as the real set is."""

from __future__ import annotations

import json

import pytest

from bench.ocr_pass_sets import main, measure
from bench.ocr_quality import CONFIGS
from ocr import recognize_file
from tests.support.ocr import write_poster

# A stand-in for the real set's score.py (which lives outside the project): the same three
# functions, the simplest normalisation.
SCORER = """
def normalise(text):
    return " ".join(text.replace("#", " ").replace("_", " ").split())

def found(word, text_norm):
    return word in text_norm.split()

def tokens(text):
    return len(normalise(text).split())
"""


@pytest.fixture
def real_folder(tmp_path):
    folder = tmp_path / "real"
    (folder / "images").mkdir(parents=True)
    poster = write_poster(folder / "images", "arabic-light")  # "الانتقام قادم" / "#الرد_قادم"
    words = ["الانتقام", "قادم", "الرد", "absent"]
    entry = {"file": poster.name, "words": words, "text": "الانتقام قادم #الرد_قادم absent"}
    (folder / "truth.jsonl").write_text(json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "score.py").write_text(SCORER, encoding="utf-8")
    return folder, poster, words


def test_each_set_is_scored_by_the_folders_own_scorer(real_folder):
    folder, poster, words = real_folder
    tallies = measure(folder, ["ours", "ours-four"])
    assert list(tallies) == ["plain", "ours", "ours-four"]
    for name in ("ours", "ours-four"):
        text = recognize_file(poster, CONFIGS[name]).text.replace("#", " ").replace("_", " ").split()
        expected = [word in text for word in words]
        tally = tallies[name]
        assert tally.found == sum(expected) and tally.words == len(words)
        assert tally.recalls == [sum(expected) / len(words)]
        assert tally.truth_tokens == 5 and tally.wall > 0 and tally.cpu > 0
    assert tallies["ours"].recalls[0] < 1.0  # "absent" is on no image


def test_the_report_names_every_set_against_plain(real_folder, capsys):
    folder, _, _ = real_folder
    assert main(["--real", str(folder), "--configs", "ours-four"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 real images, in one process, plain Tesseract in the same run:"
    assert [line.split()[0] for line in out[1:]] == ["plain", "ours-four"]
    assert "(1.00x plain)" in out[1] and "tokens per truth token" in out[2]


def test_an_unknown_set_is_refused_by_name(real_folder, capsys):
    folder, _, _ = real_folder
    with pytest.raises(SystemExit) as stopped:
        main(["--real", str(folder), "--configs", "ours,fastest"])
    assert stopped.value.code == 2
    assert "unknown configurations ['fastest']" in capsys.readouterr().err
