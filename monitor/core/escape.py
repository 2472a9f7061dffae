"""Channel text shown to a person: one escaping function per medium.

The channels we watch are run by the adversary, so every title, post, poster reading and rule
term is data, never instructions for the analyst's terminal, spreadsheet or chat client:

- :func:`for_terminal`: control characters (C0, DEL, C1: what ESC/CSI/OSC/DCS sequences are made
  of) and explicit bidi controls become visible (``␛``, ``⟨U+202E⟩``); the caller hands the result
  to rich as a ``Text`` (never as a markup string). :func:`terminal_spans` does the same for text
  with highlighted spans, moving the spans with it.
- :func:`for_csv`: the same, plus the OWASP rule against formula injection (a cell starting with
  ``= + - @``, TAB or CR gets a leading ``'``); numbers we write (ids, counts) stay numbers.
- :func:`for_html`: the same, then :func:`html.escape` (Telegram HTML and any HTML we write).
- :func:`for_slack`, :func:`for_discord`: the same, then each service's own escapes.
- :func:`dumps_json`: JSON that reads back to the same data, with the characters a terminal acts
  on (C1, DEL, bidi controls, lone surrogates) written as ``\\uXXXX``.

Arabic text passes unchanged: letters, diacritics, tatweel, Eastern digits, ZWJ/ZWNJ and the
implicit direction marks (LRM U+200E, RLM U+200F, ALM U+061C) are ordinary text. The marks only
act on the neutral characters next to them and are common in real Arabic posts; the explicit
embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder whole runs of text
("Trojan Source", CVE-2021-42574) and are shown, as are the line and paragraph separators.

Pure ``str`` functions with no dependency: rich is the caller's business. A regular expression
finds the characters to show (its scan runs in C; :meth:`str.translate` looks every character of
a non-ASCII text up in a dict and took 4 s on a 10 MB post, the search takes tens of ms).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""Explicit embeddings, overrides, pops and isolates: shown, never applied."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a CSV cell as a formula (OWASP CSV injection)."""


def _code(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


def _table(newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for c in range(0x20):  # C0: the Unicode control pictures, ␀ .. ␟ (␛ for ESC)
        table[c] = chr(0x2400 + c)
    table[0x09] = " "  # a tab is whitespace to the reader; as a byte it moves the cursor
    if newlines:
        del table[0x0A]
    else:
        table[0x0A] = "⏎"
    table[0x7F] = "␡"
    for c in range(0x80, 0xA0):  # C1, e.g. U+009B: an 8-bit CSI
        table[c] = _code(chr(c))
    for char in (*BIDI_CONTROLS, "\u2028", "\u2029"):
        table[ord(char)] = _code(char)
    for c in range(0xD800, 0xE000):  # lone surrogates (from argv or a broken export) cannot be printed
        table[c] = _code(chr(c))
    return table


def _char_class(codes: dict[int, str]) -> re.Pattern[str]:
    """A class of the characters ``codes`` has, written as ranges (a class of 2,124 single
    characters took 5 ms to compile in every process)."""
    ranges: list[list[int]] = []
    for c in sorted(codes):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return re.compile(
        "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges) + "]"
    )


_MULTI_LINE = _table(newlines=True)
_ONE_LINE = _table(newlines=False)
_SHOWN = _char_class(_ONE_LINE)
_SHOWN_BUT_NEWLINE = _char_class(_MULTI_LINE)


def for_terminal(text: str, *, newlines: bool = True) -> str:
    """``text`` safe to print in a terminal: no control character or bidi control acts.

    ``newlines=False`` for one-line cells (a channel title): a newline shows as ``⏎``. A CRLF
    pair reads as one newline. Rich markup is not touched: pass the result as ``rich.text.Text``.
    """
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    table, pattern = (_MULTI_LINE, _SHOWN_BUT_NEWLINE) if newlines else (_ONE_LINE, _SHOWN)
    return pattern.sub(lambda match: table[ord(match.group())], text)


def terminal_spans(
    text: str, spans: Iterable[tuple[int, int]], *, newlines: bool = True
) -> tuple[str, list[tuple[int, int]]]:
    """:func:`for_terminal` of ``text`` and ``spans`` (highlights) moved to the escaped text.

    Escaping makes some characters longer (``⟨U+202E⟩``), so offsets into the original would
    highlight the wrong letters; each stretch between span edges is escaped on its own. Spans
    are clamped to the text and come back in the same order, one for one.
    """
    size = len(text)
    spans = [(min(max(0, s), size), min(max(0, s, e), size)) for s, e in spans]
    edges = sorted({0, size, *(p for span in spans for p in span)})
    moved: dict[int, int] = {0: 0}
    out: list[str] = []
    length = 0
    for start, end in pairwise(edges):
        piece = for_terminal(text[start:end], newlines=newlines)
        out.append(piece)
        length += len(piece)
        moved[end] = length
    return "".join(out), [(moved[s], moved[e]) for s, e in spans]


def for_csv(value: Any) -> Any:
    """One CSV cell: text made visible as for the terminal and never read as a formula.

    Values that are not text (ids, counts, None) are returned unchanged, so they stay numbers.
    """
    if not isinstance(value, str):
        return value
    shown = for_terminal(value)
    if shown.lstrip().startswith(FORMULA_START) or value.startswith(FORMULA_START):
        return "'" + shown
    return shown


def for_html(text: str) -> str:
    """Text for HTML (Telegram's and ours), attribute values included."""
    return html.escape(for_terminal(text), quote=True)


def for_slack(text: str) -> str:
    """Slack's own three escapes (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return for_terminal(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_DISCORD_SPECIAL = re.compile(r"([\\*_~`|>#\[\]()-])")


def for_discord(text: str) -> str:
    """Discord markdown's special characters backslashed."""
    return _DISCORD_SPECIAL.sub(r"\\\1", for_terminal(text))


_JSON_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def dumps_json(data: Any, **options: Any) -> str:
    """:func:`json.dumps` (readable Arabic) with the characters a terminal acts on as ``\\uXXXX``.

    JSON's structure is ASCII, so these characters only occur inside strings, where the escape
    reads back as the same character: the data is unchanged, the terminal untouched.
    """
    text = json.dumps(data, ensure_ascii=False, **options)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
