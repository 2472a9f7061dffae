"""Proximity rules: one term of each group within N words of each other, in either order.

The groups' terms go through the detector's one automaton like any term (payload ``("near",
rule, term)``); this module only looks at texts where they hit, so a proximity rule costs the
common no-hit post nothing. Distances are counted in words of the masked normalised text (the
matcher's view: punctuation is a space), and "within N" means at most N other words among the
chosen terms, whatever their order.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Hashable, Sequence

from alerts.matcher import mask

__all__ = ["NearRule", "find_near"]

_WORD = re.compile(r"\S+")
_PER_GROUP = 24  # hits of one group tried per text: a post of slogans repeats a word hundreds of times


class NearRule:
    """A rule's groups (term -> the groups it belongs to) and its distance."""

    __slots__ = ("groups", "index", "of_term", "within")

    def __init__(self, index: int, groups: Sequence[Sequence[str]], within: int) -> None:
        self.index = index
        self.groups = len(groups)
        self.within = within
        self.of_term: dict[str, list[int]] = {}
        for g, group in enumerate(groups):
            for term in group:
                self.of_term.setdefault(term, []).append(g)


def find_near(
    normalized: str, found: Sequence[tuple[Hashable, int, int]], rules: dict[int, NearRule]
) -> list[tuple[tuple[str, int, str], int, int]]:
    """``("term", rule, label)`` hits for each proximity rule satisfied in ``normalized``.

    ``found`` are the automaton's hits on the text (spans in ``normalized``); one hit per rule
    (the tightest window) is enough to alert and to show; its term names the terms found.
    """
    near = [hit for hit in found if hit[0][0] == "near"]  # type: ignore[index]
    if len(near) < 2:  # every rule has two groups at least: most texts stop here
        return []
    by_rule: dict[int, list[list[tuple[int, int, str]]]] = {}
    for payload, start, end in near:
        _, index, term = payload  # type: ignore[misc]
        rule = rules.get(index)
        if rule is None:
            continue
        slots = by_rule.setdefault(index, [[] for _ in range(rule.groups)])
        for g in rule.of_term.get(term, ()):
            if len(slots[g]) < _PER_GROUP:
                slots[g].append((start, end, term))
    complete = [(index, slots) for index, slots in by_rule.items() if all(slots)]
    if not complete:  # most texts: a term of one group without the others
        return []
    starts = [m.start() for m in _WORD.finditer(mask(normalized))]
    out = []
    for index, slots in complete:
        rule = rules[index]
        best = _closest(slots, starts, rule.within)
        if best is not None:
            out.append((("term", index, best[2]), best[0], best[1]))
    return out


def _closest(
    slots: list[list[tuple[int, int, str]]], starts: list[int], within: int
) -> tuple[int, int, str] | None:
    """The narrowest span holding one hit of each group, none overlapping, at most ``within``
    other words among them, with its terms in text order (``"السلاح ~ تكلم"``); None when
    there is none."""
    best: tuple[int, int, int, str] | None = None
    for combo in itertools.product(*slots):
        spans = sorted(combo)
        if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
            continue  # one word cannot be two of the terms
        words = [(_word_at(starts, s), _word_at(starts, e - 1)) for s, e, _ in spans]
        inside = sum(last - first + 1 for first, last in words)
        others = words[-1][1] - words[0][0] + 1 - inside
        if others <= within and (best is None or others < best[0]):
            best = (others, spans[0][0], spans[-1][1], " ~ ".join(t for _, _, t in spans))
    return None if best is None else best[1:]


def _word_at(starts: list[int], position: int) -> int:
    return bisect.bisect_right(starts, position) - 1
