"""Every occurrence of a few literals in a text, in one C pass (``_native.scan``).

The countdown detector looks for a few dozen anchor words in every post (``alerts.countdown``).
``pyahocorasick`` walks its trie node by node and cost 25 ns a character on Arabic text, where
most letters start some anchor; here the automaton is made deterministic once (every failure
link resolved into a table of ``states x character classes``), so the scan is one table look-up
per character. It is meant for small sets (the table has a row per trie node and a column per
distinct character of the literals); the rule terms have a trie of their own in C
(``_native.Phrases``, :mod:`alerts.matcher`).

``Literals(keys).iter(text)`` gives what ``pyahocorasick.Automaton.iter`` gives for the same
keys: ``(end, value)`` for each occurrence, ``end`` the index of its last character, in order
of ``end``, a longer literal before the shorter ones that end with it
(``tests/core/test_literals.py``).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from monitor.core import _native

__all__ = ["Literals"]

V = TypeVar("V")


class Literals(Generic[V]):
    """A deterministic Aho-Corasick automaton over ``keys`` (literal -> value)."""

    def __init__(self, keys: Mapping[str, V]) -> None:
        if any(not key for key in keys):
            raise ValueError("a literal must not be empty")
        alphabet = sorted({c for key in keys for c in key})
        klass = {c: i + 1 for i, c in enumerate(alphabet)}  # class 0: a character of no literal
        width = len(alphabet) + 1
        goto: list[dict[int, int]] = [{}]
        outputs: list[list[V]] = [[]]
        for key, value in keys.items():
            state = 0
            for c in key:
                following = goto[state].get(klass[c])
                if following is None:
                    goto.append({})
                    outputs.append([])
                    following = goto[state][klass[c]] = len(goto) - 1
                state = following
            outputs[state].append(value)
        delta = [[0] * width for _ in goto]
        fail = [0] * len(goto)
        queue: deque[int] = deque()
        for c, following in goto[0].items():
            delta[0][c] = following
            queue.append(following)
        while queue:  # breadth first: a state's failure is shallower, so already complete
            state = queue.popleft()
            outputs[state] = outputs[state] + outputs[fail[state]]
            for c in range(width):
                following = goto[state].get(c)
                if following is None:
                    delta[state][c] = delta[fail[state]][c]
                else:
                    fail[following] = delta[fail[state]][c]
                    delta[state][c] = following
                    queue.append(following)
        classes = array("H", bytes(2 * (ord(alphabet[-1]) + 1) if alphabet else 2))
        for c, k in klass.items():
            classes[ord(c)] = k
        self._classes = classes.tobytes()
        self._delta = array("i", [t for row in delta for t in row]).tobytes()
        self._accept = bytes(1 if out else 0 for out in outputs)
        self._width = width
        self._outputs = [tuple(out) for out in outputs]

    def values(self, text: str) -> list[V]:
        """The values of every occurrence in ``text``, in :meth:`iter`'s order (a list, not a
        generator: most texts have none, and a generator costs more than the scan of a short one)."""
        found = _native.scan(text, self._classes, self._delta, self._accept, self._width)
        if not found:
            return []
        outputs = self._outputs
        return [value for state in found[1::2] for value in outputs[state]]

    def iter(self, text: str) -> Iterator[tuple[int, V]]:
        """``(end, value)`` for every occurrence of a literal in ``text`` (see the module docstring)."""
        found = _native.scan(text, self._classes, self._delta, self._accept, self._width)
        outputs = self._outputs
        for i in range(0, len(found), 2):
            end = found[i]
            for value in outputs[found[i + 1]]:
                yield end, value
