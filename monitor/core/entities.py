"""Formatting entities (bold, links, mentions...) and the one convention for their offsets.

Telegram counts an entity's ``offset`` and ``length`` in UTF-16 code units; the live road keeps
its entities as they come, and the export road converts Desktop's text parts to the same count,
so every stored entity means one thing whatever road brought it. A character beyond the Basic
Multilingual Plane (most emoji) is two units, so Python's ``len`` (code points) is not enough.
"""

from __future__ import annotations

from typing import Any


def utf16_len(text: str) -> int:
    """How many UTF-16 code units ``text`` takes (Telegram's unit for entity offsets)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def entity_text(text: str, entity: dict[str, Any]) -> str:
    """The part of ``text`` an entity with UTF-16 ``offset``/``length`` covers."""
    units = text.encode("utf-16-le")
    start = 2 * int(entity.get("offset", 0))
    end = start + 2 * int(entity.get("length", 0))
    return units[start:end].decode("utf-16-le", errors="replace")


def code_point_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``entities`` with offsets and lengths counted in code points, the convention tgmonitor's
    importer used before it counted UTF-16 units: a re-import compares with it to tell an archive
    made then from a real change of formatting."""
    if text.isascii():
        return entities
    # code point index of every UTF-16 unit boundary
    at: dict[int, int] = {}
    units = 0
    for index, char in enumerate(text):
        at[units] = index
        units += 2 if ord(char) > 0xFFFF else 1
    at[units] = len(text)
    out = []
    for entity in entities:
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            out.append(entity)
            continue
        start = at.get(offset, offset)
        end = at.get(offset + length, start + length)
        out.append({**entity, "offset": start, "length": end - start})
    return out
