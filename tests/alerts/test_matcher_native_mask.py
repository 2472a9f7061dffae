"""The matcher's native mask (``_native.blank``) against the regex it stands for (``mask``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.matcher import _NONWORD, mask
from monitor.core import _native


def _reference(text: str) -> tuple[str, bool]:
    masked = " " + mask(text) + " "
    return masked, "  " in masked


def test_every_code_point_is_masked_as_by_the_regex():
    every = "".join(map(chr, range(0x110000)))
    masked, _ = _native.blank(every)
    assert masked[1:-1] == _NONWORD.sub(" ", every)


@settings(max_examples=500, deadline=None)
@given(
    st.text(st.sampled_from(list("ابتثجحخد الرد«»،؛؟!.#_-abcXYZ019٠١🔥\u200f\u2026\n")), max_size=60)
    | st.text(max_size=40)
)
def test_blank_is_the_padded_mask(text):
    assert _native.blank(text) == _reference(text)


def test_arabic_punctuation_beside_spaces():
    assert _native.blank("«الرد» قادم!") == ("  الرد  قادم  ", True)
    assert _native.blank("الرد قادم") == (" الرد قادم ", False)
