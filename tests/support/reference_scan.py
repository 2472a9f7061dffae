"""The countdown's literal scans (``monitor.core.literals.Literals``) over pyahocorasick, the
library they replaced: the oracle the native scans are held to."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping

import ahocorasick


class ReferenceScan:
    """``Literals``' two methods on a ``pyahocorasick`` automaton over the same keys."""

    def __init__(self, keys: Mapping[str, Hashable]) -> None:
        self._automaton = ahocorasick.Automaton()
        for word, value in keys.items():
            self._automaton.add_word(word, value)
        self._automaton.make_automaton()

    def iter(self, text: str) -> Iterator[tuple[int, Hashable]]:
        return self._automaton.iter(text)

    def values(self, text: str) -> list[Hashable]:
        return [value for _, value in self._automaton.iter(text)]
