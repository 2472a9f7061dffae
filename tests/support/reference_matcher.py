"""The rule terms' matcher as it was in Python over pyahocorasick: the oracle of the native one.

``alerts.matcher.PhraseMatcher`` runs its automaton in C (``monitor/core/phrases.c``): the mask,
runs of spaces, the walk, the suffix checks, positions and de-duplication in one call. This is
the same contract written plainly (the regex mask, ``pyahocorasick``, the checks in Python), from
the same keys (``alerts.matcher.term_keys``), so a test can hold the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable

import ahocorasick

from alerts.matcher import _FIRST, _FOLLOW_UPTO, _MODES, mask, term_keys

_SPACES = re.compile(" +")
_RUNS = re.compile("  +")


def _space_runs(masked: str) -> tuple[list[int], list[int]]:
    """For each position of ``masked`` with runs of spaces made one: the first and the last
    position of ``masked`` it stands for."""
    first: list[int] = []
    last: list[int] = []
    position = 0
    for run in _SPACES.finditer(masked):
        start, end = run.span()
        first.extend(range(position, start))
        last.extend(range(position, start))
        first.append(start)
        last.append(end - 1)
        position = end
    first.extend(range(position, len(masked)))
    last.extend(range(position, len(masked)))
    return first, last


class ReferenceMatcher:
    """``find_normalized`` of ``PhraseMatcher``, in Python over pyahocorasick."""

    def __init__(
        self, terms: Iterable[tuple[str, Hashable]], mark: Callable[[Hashable], int] | None = None
    ) -> None:
        self._mark = mark
        entries: dict[str, list[tuple[Hashable, str]]] = {}
        for term, payload in terms:
            for key, mode in term_keys(term):
                bucket = entries.setdefault(key, [])
                if (payload, mode) not in bucket:
                    bucket.append((payload, mode))
        final: dict[str, list[tuple[int, str, tuple[tuple[Hashable, frozenset[str]], ...]]]] = {}
        for key, bucket in entries.items():
            value = tuple((p, _MODES[m]) for p, m in bucket)
            if key.endswith(" "):
                final.setdefault(key, []).append((len(key), "closed", value))
            elif len(key) > _FOLLOW_UPTO:
                final.setdefault(key, []).append((len(key), "open", value))
            else:
                for follower in sorted({_FIRST.get(s, s[:1]) for _, m in bucket for s in _MODES[m]}):
                    if follower == " ":
                        final.setdefault(key + follower, []).append((len(key) + 1, "closed", value))
                    else:
                        final.setdefault(key + follower, []).append((len(key), "followed", value))
        self._auto = ahocorasick.Automaton()
        for key, readings in final.items():
            self._auto.add_word(key, tuple(readings))
        self._empty = not final
        self.keys = len(final)
        if final:
            self._auto.make_automaton()

    def find_marked(self, normalized: str) -> tuple[list[tuple[Hashable, int, int]], int]:
        """The hits and the OR of their payloads' marks, with ``mark`` called per hit."""
        assert self._mark is not None, "built without marks"
        hits = self.find_normalized(normalized)
        marks = 0
        for payload, _, _ in hits:
            marks |= self._mark(payload)
        return hits, marks

    def find_normalized(self, normalized: str) -> list[tuple[Hashable, int, int]]:
        if self._empty or not normalized:
            return []
        spaced = " " + mask(normalized) + " "
        masked = _RUNS.sub(" ", spaced)
        back = _space_runs(spaced)
        hits: list[tuple[Hashable, int, int]] = []
        for last, readings in self._auto.iter(masked):
            for length, kind, bucket in readings:
                if kind == "closed":
                    start, stop, trailing = last + 1 - length, last, ""
                elif kind == "followed":
                    start, stop = last - length, masked.find(" ", last)
                    trailing = masked[last:stop]
                else:
                    start, stop = last + 1 - length, masked.find(" ", last + 1)
                    trailing = masked[last + 1 : stop]
                for payload, allowed in bucket:
                    hit = (payload, back[1][start], back[0][stop] - 1)
                    if trailing in allowed and hit not in hits:
                        hits.append(hit)
        return hits
