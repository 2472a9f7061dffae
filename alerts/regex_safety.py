"""Refuse rule regexes that can take exponential time (catastrophic backtracking).

Python's ``re`` backtracks: ``(\\w+\\s?)+$`` on a long line of words without the final match tries
every way of cutting the line, and one hostile post would stall detection for minutes. A rules
file is checked once, on loading, on the parsed pattern (``re._parser``, the parser ``re`` itself
uses): a pattern is refused when a repetition that can run unbounded holds

* another unbounded repetition (``(a+)+``, ``(\\w*\\s?)*``), or
* alternatives that can start with the same character (``(a|ab)*``, ``(\\w|\\d)+``),

the two shapes that make the number of ways to match grow exponentially. This refuses a few
patterns that are in fact safe (``(?:ab+)+`` when the text can never hold them ambiguously); the
error says how to rewrite, and terms with ``near`` cover most needs without a regex.

We check it ourselves: the ReDoS checkers on PyPI (regexploit) target Python 3.8's ``sre_parse``
and are unmaintained; RE2 would avoid the problem but drops the look-arounds rules already use.
"""

from __future__ import annotations

import re
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

__all__ = ["catastrophic"]

_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None))
_UNBOUNDED_FROM = 8  # a bounded repeat this long nests like an unbounded one


def catastrophic(pattern: str) -> str | None:
    """Why ``pattern`` may take exponential time, or None when it is safe by these checks."""
    try:
        tree = P.parse(pattern)
    except re.error:
        return None  # the caller reports the compile error itself
    return _walk(list(tree), inside_unbounded=False)


def _walk(items: list[tuple[Any, Any]], *, inside_unbounded: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS and op is not None:
            _low, high, sub = av
            unbounded = high == C.MAXREPEAT or high >= _UNBOUNDED_FROM
            body = list(sub)
            if unbounded and inside_unbounded:
                return "a repetition inside a repetition (like (a+)+) can take exponential time"
            if unbounded and _can_repeat_text(body):
                return "a repetition inside a repetition (like (a+)+) can take exponential time"
            if unbounded and _ambiguous_branch(body):
                return "alternatives that start alike inside a repetition (like (a|a)*) can take exponential time"
            found = _walk(body, inside_unbounded=inside_unbounded or unbounded)
            if found:
                return found
        elif op == C.SUBPATTERN:
            found = _walk(list(av[-1]), inside_unbounded=inside_unbounded)
            if found:
                return found
        elif op == C.BRANCH:
            for alternative in av[1]:
                found = _walk(list(alternative), inside_unbounded=inside_unbounded)
                if found:
                    return found
        elif op in (C.ASSERT, C.ASSERT_NOT):
            found = _walk(list(av[1]), inside_unbounded=False)
            if found:
                return found
    return None


def _can_repeat_text(items: list[tuple[Any, Any]]) -> bool:
    """Whether ``items`` hold an unbounded repetition (at any depth)."""
    for op, av in items:
        if op in _REPEATS and op is not None:
            if av[1] == C.MAXREPEAT or av[1] >= _UNBOUNDED_FROM:
                return True
            if av[0] != av[1] and _can_repeat_text(list(av[2])):
                return True
        elif op == C.SUBPATTERN:
            if _can_repeat_text(list(av[-1])):
                return True
        elif op == C.BRANCH and any(_can_repeat_text(list(a)) for a in av[1]):
            return True
    return False


def _ambiguous_branch(items: list[tuple[Any, Any]]) -> bool:
    """Whether an alternation in ``items`` (outside nested repetitions) has two alternatives that
    may start alike: identical ones, or ones whose first characters overlap. ``re``'s parser has
    already merged single characters into classes and factored common prefixes out."""
    for op, av in items:
        if op == C.SUBPATTERN and _ambiguous_branch(list(av[-1])):
            return True
        if op == C.BRANCH:
            alternatives = [list(a) for a in av[1]]
            for i, a in enumerate(alternatives):
                for b in alternatives[i + 1 :]:
                    if a == b:
                        return True
                    first_a, first_b = _first(a), _first(b)
                    if a and b and (first_a is None or first_b is None or first_a & first_b):
                        return True
            if any(_ambiguous_branch(a) for a in alternatives):
                return True
    return False


def _first(items: list[tuple[Any, Any]]) -> set[Any] | None:
    """What the first character of ``items`` may be: a set of literals, or None for 'many'."""
    if not items:
        return None
    op, av = items[0]
    if op == C.LITERAL:
        return {av}
    if op == C.SUBPATTERN:
        return _first(list(av[-1]))
    if op == C.IN:
        chars = {v for kind, v in av if kind == C.LITERAL}
        if all(kind in (C.LITERAL, C.NEGATE) and kind != C.NEGATE for kind, _ in av):
            return chars
        return None
    if op in _REPEATS and op is not None and av[0] >= 1:
        return _first(list(av[2]))
    return None
