"""The command's version, languages and tessdata folder (``ocr.tesseract.tesseract_info``): asked of
the command once, then read from the disk cache until a stamp of where they come from changes."""

from __future__ import annotations

import subprocess

import pytest

from monitor.core.errors import OcrError
from ocr import tesseract


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tesseract._tesseract_info_cached.cache_clear()
    yield tmp_path
    tesseract._tesseract_info_cached.cache_clear()


def _no_command(*args, **kwargs):
    raise subprocess.SubprocessError("the command was asked")


def test_the_commands_answers_are_kept_on_disk(fresh, monkeypatch):
    asked = tesseract.tesseract_info()  # the command runs
    assert asked["version"].startswith("5.") and {"ara", "eng"} <= set(asked["languages"])
    assert asked["tessdata"].rstrip("/").endswith("tessdata")
    assert list((fresh / "cache" / "tgmonitor").glob("tesseract-*.json"))
    tesseract._tesseract_info_cached.cache_clear()
    monkeypatch.setattr(subprocess, "run", _no_command)
    assert tesseract.tesseract_info() == asked  # read back, the command not run


def test_a_model_added_or_another_folder_asks_the_command_again(fresh, monkeypatch):
    real = tesseract.tesseract_info()
    models = fresh / "models"  # a tessdata folder of our own: the real models, linked
    models.mkdir()
    for name in ("ara", "eng"):
        (models / f"{name}.traineddata").symlink_to(f"{real['tessdata'].rstrip('/')}/{name}.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(models))
    tesseract._tesseract_info_cached.cache_clear()
    ours = tesseract.tesseract_info()  # another prefix, another key: the command runs
    assert ours["tessdata"].rstrip("/") == str(models) and set(ours["languages"]) == {"ara", "eng"}
    tesseract._tesseract_info_cached.cache_clear()
    monkeypatch.setattr(subprocess, "run", _no_command)
    assert tesseract.tesseract_info() == ours  # the same folder, as it was: from the disk
    (models / "osd.traineddata").symlink_to(f"{real['tessdata'].rstrip('/')}/osd.traineddata")
    tesseract._tesseract_info_cached.cache_clear()
    with pytest.raises(OcrError, match="cannot be run"):  # a model added: the command is asked
        tesseract.tesseract_info()


def test_a_damaged_cache_file_is_asked_again(fresh):
    asked = tesseract.tesseract_info()
    [kept] = (fresh / "cache" / "tgmonitor").glob("tesseract-*.json")
    kept.write_text("[1, 2", encoding="utf-8")
    tesseract._tesseract_info_cached.cache_clear()
    assert tesseract.tesseract_info() == asked
    assert kept.read_text(encoding="utf-8").startswith('["5.')  # written again, whole
