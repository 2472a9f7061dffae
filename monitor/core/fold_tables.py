"""The tables of the native fold (``monitor/core/_native.c``), built from the Python definition.

:func:`monitor.core.text.normalize` hands a whole text to ``_fold.fold``, which looks each
character up in three arrays: what it becomes after the per-character fold (``pre``), what a
character becomes after case folding (``post``), and its flags. They are worked out here, per
character, by the same means the Python fold uses (``unicodedata``, ``str.casefold``, ``re``'s own
``\\w``/``\\d``), so the native fold holds no data of its own. A character is *handled* only when
the steps can be done on it in isolation, exactly as the Python fold does them:

* NFKC leaves it as it is (a presentation form, a ligature, a compatibility digit changes: not
  handled), and it is no combining mark that is kept: NFKC reorders and composes marks, and
  here every handled mark is dropped by the fold. The three Arabic marks that compose with a
  letter under NFKC (U+0653-0655: ا + ٓ is آ) are not handled either;
* its fold is one character and case folds it to one character (``ß`` -> ``ss``: not handled);
* whitespace whose NFKC is whitespace (the no-break space) is handled as a space.

Only a few blocks are looked at (Latin, Greek, Cyrillic, Hebrew, Arabic, general punctuation
and symbols, CJK punctuation, emoji, the ignorable characters of the fold's table): 8,000
characters, 30-70 ms once per process (on first use). A text with any other character is folded
in Python.
``tests/core/test_text_native.py`` checks both folds are equal on generated text and on every
handled character, and that no handled character composes under NFKC.
"""

from __future__ import annotations

import unicodedata
from array import array

__all__ = ["COMPOSING_MARKS", "HANDLED", "build"]

HANDLED, DROP, SPACE, WORD, LETTER, DIGIT = 1, 2, 4, 8, 16, 32  # as in _fold.c
SIZE = 0x20000  # the Basic and the Supplementary Multilingual Plane (emoji)
_BLOCKS = (
    range(0x0000, 0x0800),  # Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Syriac, Thaana
    range(0x2000, 0x2C00),  # general punctuation, letterlike symbols, arrows, dingbats...
    range(0x3000, 0x3040),  # CJK punctuation
    range(0x1F000, 0x1FB00),  # emoji and pictographs
)
COMPOSING_MARKS = frozenset((0x0653, 0x0654, 0x0655))
"""Marks the fold drops but NFKC composes with the letter before them first (ا + ٓ = آ)."""


def build(table: dict[int, str | None]) -> tuple[bytes, bytes, bytes]:
    """``(pre, post, flags)`` for ``_native.set_tables`` from the per-character fold ``table``.

    ``re``'s classes for ``str`` patterns are these ``str`` methods: ``\\w`` is ``isalnum()`` or
    ``_``, ``\\d`` is ``isdecimal()`` (CPython's ``sre``); the per-character test of
    ``tests/core/test_text_native.py`` holds each handled character against the Python fold."""
    inside = bytearray(SIZE)
    for block in _BLOCKS:
        inside[block.start : block.stop] = b"\x01" * len(block)
    extra = [cp for cp in table if cp < SIZE and not inside[cp]]
    for cp in extra:
        inside[cp] = 1
    pre = array("I", bytes(4 * SIZE))  # read only for handled characters
    post = array("I", bytes(4 * SIZE))  # read only for what ``pre`` gives
    flags = bytearray(SIZE)
    normalized, combining = unicodedata.is_normalized, unicodedata.combining
    for cp in (*(cp for block in _BLOCKS for cp in block), *extra):
        c = chr(cp)
        f = (WORD | (DIGIT if c.isdecimal() else LETTER)) if c.isalnum() else WORD if c == "_" else 0
        if c.isspace():  # whitespace separates words whatever NFKC makes of it (always whitespace)
            if unicodedata.normalize("NFKC", c).isspace():
                f |= HANDLED | SPACE
                pre[cp] = post[cp] = cp
        elif cp not in COMPOSING_MARKS and normalized("NFKC", c):
            target = table.get(cp, c)
            if target is None:
                f |= HANDLED | DROP
            elif (cp in table or not combining(c)) and len(target) == 1 and ord(target) not in table:
                folded = target.casefold()
                if len(folded) == 1 and ord(target) < SIZE and ord(folded) < SIZE and inside[ord(folded)]:
                    pre[cp] = ord(target)
                    post[ord(target)] = ord(folded)
                    f |= HANDLED
        flags[cp] = f
    return pre.tobytes(), post.tobytes(), bytes(flags)
