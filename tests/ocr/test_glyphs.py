"""The digit reader's examples (ocr.glyphs): drawn from the installed fonts, cached on disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ocr import glyphs


@pytest.fixture
def fresh_model(monkeypatch, tmp_path):
    """A model drawn anew under a private cache folder (the real one is left alone)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    glyphs._model.cache_clear()
    yield tmp_path / "cache"
    glyphs._model.cache_clear()


@pytest.mark.slow
def test_examples_are_drawn_once_and_kept(fresh_model):
    model = glyphs.glyph_model()
    files = sorted((fresh_model / "tgmonitor").glob("glyphs-*"))
    assert [f.suffix for f in files] == [".npy", ".npz"]  # the vectors to map, the labels and norms
    labels = set(model.labels.tolist())
    assert {str(d) for d in range(10)} <= labels and "x" in labels and "w5" in labels
    # every font gave its digits: ten Eastern digits at least, per font
    assert len(model) >= 10 * len(glyphs.template_fonts())
    glyphs._model.cache_clear()
    again = glyphs.glyph_model()  # from the files this time, the vectors mapped
    assert np.array_equal(again.vectors, model.vectors) and list(again.labels) == list(model.labels)
    assert np.array_equal(again.norms, model.norms) and not again.vectors.flags.writeable
    component = np.zeros((24, 14), dtype=bool)
    component[2:22, 5:9] = True  # a stroke: the same label and distance from either
    assert again.label(component) == model.label(component)
    # a vectors file cut short (a full disk) is drawn again, not read as it is
    files[0].write_bytes(files[0].read_bytes()[:4096])
    glyphs._model.cache_clear()
    redrawn = glyphs.glyph_model()
    assert np.array_equal(redrawn.vectors, model.vectors)


@pytest.mark.slow
def test_an_unwritable_cache_keeps_the_examples_in_memory(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    few = glyphs.template_fonts()[:3]  # enough to label a stroke, quick to draw
    monkeypatch.setattr(glyphs, "template_fonts", lambda: few)
    glyphs._model.cache_clear()
    try:
        label, _ = glyphs.component_label(np.ones((20, 6), dtype=bool))  # a bare stroke
        assert label in ("1", "w1", "x")
    finally:
        glyphs._model.cache_clear()


def test_the_fonts_with_eastern_digits_are_found_once_per_set_of_font_files(monkeypatch, tmp_path):
    # Drawing every font's digits took 0.23 s of each process that read a countdown: the answer
    # is kept on disk, and found again only when a font file is added, removed or changed.
    with_digits = sorted(glyphs.template_fonts())[:3]
    without = next(str(p) for p in glyphs._candidate_fonts() if str(p) not in glyphs.template_fonts())
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for source in [*with_digits[:2], without]:
        (fonts / Path(source).name).write_bytes(Path(source).read_bytes())
    monkeypatch.setattr(glyphs, "_FONT_DIRS", (str(fonts),))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    drawn = []
    real_has_digits = glyphs._has_digits
    monkeypatch.setattr(glyphs, "_has_digits", lambda path: drawn.append(path) or real_has_digits(path))

    def found() -> tuple[str, ...]:
        glyphs.template_fonts.cache_clear()  # a new process
        return glyphs.template_fonts()

    try:
        first = found()
        assert first == tuple(str(fonts / Path(p).name) for p in with_digits[:2]) and len(drawn) == 3
        assert found() == first and len(drawn) == 3  # from the disk: nothing drawn
        added = fonts / Path(with_digits[2]).name
        added.write_bytes(Path(with_digits[2]).read_bytes())
        assert found() == tuple(sorted([*first, str(added)])) and len(drawn) == 7
        os.utime(fonts / Path(without).name, ns=(1, 1))  # an update of a font without the digits
        assert found() == tuple(sorted([*first, str(added)])) and len(drawn) == 11
    finally:
        glyphs.template_fonts.cache_clear()


def test_features_do_not_depend_on_size():
    # the same shape drawn twice as large is described (nearly) the same way
    small = np.zeros((20, 14), dtype=bool)
    small[2:18, 3:6] = small[2:5, 3:12] = True  # a "7"-ish stroke pair
    large = np.kron(small, np.ones((2, 2), dtype=bool))
    a, b = glyphs.features(glyphs.trim(small)), glyphs.features(glyphs.trim(large))
    assert np.linalg.norm(a - b) < 0.25
