"""What kinds of rule hits a text has, as one int, for the verdict of a post that cannot alert.

Why: most posts with a hit hit only low rules' terms (a city name of a proximity rule, a word of
a low rule), and their verdict ("no alert, severity low") needed a Python loop over every hit,
the proximity check and a second loop for companions and vetoes: a third of the detector's time.
The native matcher ORs a 64-bit mark per payload over a text's hits
(:meth:`alerts.matcher.PhraseMatcher.find_marked`); this module says what each bit means, so
that the detector reads the verdict off that one int when the mark can tell it, and walks the
hits as before when it cannot (:data:`COMPANION`, :data:`NEAR_OVERFLOW`, a proximity rule with
every group hit).

Bits of a payload's mark:

- ``1 << rank``: a term of a rule without ``with_any``/``without_any``, of that severity rank
  (its hit counts as it is);
- :data:`CONTEXT`: such a term whose rule makes a countdown alertable (``CONTEXT_CATEGORIES``);
- :data:`ABBREVIATION`: a short Latin term (IED), which the detector drops from poster text;
- :data:`COMPANION`: a term of a rule with ``with_any``/``without_any`` (judged from the hits);
- per proximity rule, one bit per group (:data:`NEAR_OVERFLOW` for rules past the 64th bit):
  a rule can be satisfied only when all its groups' bits are there.

``with``/``without`` payloads carry no bit: alone they say nothing (a term of their rule
carries :data:`COMPANION`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from alerts.rules import Rule
from monitor.core.detection import SEVERITIES, severity_rank

__all__ = ["ABBREVIATION", "COMPANION", "CONTEXT", "NEAR_OVERFLOW", "RANKS", "TERMS", "HitMarks"]

RANKS = (1 << len(SEVERITIES)) - 1
CONTEXT = 1 << len(SEVERITIES)
ABBREVIATION = CONTEXT << 1
COMPANION = CONTEXT << 2
NEAR_OVERFLOW = CONTEXT << 3
TERMS = RANKS | COMPANION  # the bits of "term" payloads
_FIRST_GROUP_BIT = len(SEVERITIES) + 5
_BITS = 64


class HitMarks:
    """The marks of a rule set's payloads ``(role, rule index, term)`` and what a text's OR says."""

    def __init__(
        self, rules: Sequence[Rule], gives_context: Sequence[bool], abbreviations: frozenset[str]
    ) -> None:
        self._rules = rules
        self._gives_context = gives_context
        self._abbreviations = abbreviations
        self._groups: dict[int, list[int]] = {}  # near rule -> the bit of each of its groups
        self.near_rules: list[int] = []  # the full mask of each near rule that has its own bits
        self.near_any = NEAR_OVERFLOW  # any bit of a near group
        bit = _FIRST_GROUP_BIT
        for index, rule in enumerate(rules):
            if not rule.near:
                continue
            if bit + len(rule.near) > _BITS:
                self._groups[index] = [NEAR_OVERFLOW] * len(rule.near)
                continue
            bits = [1 << (bit + g) for g in range(len(rule.near))]
            bit += len(rule.near)
            self._groups[index] = bits
            full = sum(bits)
            self.near_rules.append(full)
            self.near_any |= full

    def mark(self, payload: Hashable) -> int:
        """The bits of one payload (see the module docstring)."""
        role, index, term = payload  # type: ignore[misc]
        rule = self._rules[index]
        bits = ABBREVIATION if role in ("term", "near") and term in self._abbreviations else 0
        if role == "term":
            if rule.with_any or rule.without_any:
                return bits | COMPANION
            return bits | 1 << severity_rank(rule.severity) | (CONTEXT if self._gives_context[index] else 0)
        if role == "near":
            groups = self._groups[index]
            for g, group in enumerate(rule.near):
                if term in group:
                    bits |= groups[g]
        return bits

    def near_possible(self, mark: int) -> bool:
        """Whether some proximity rule has a hit in every group (only then can it be satisfied)."""
        if not mark & self.near_any:
            return False
        if mark & NEAR_OVERFLOW:
            return True
        # a loop, not any(): the generator cost more than the tests, once for most posts
        for full in self.near_rules:  # noqa: SIM110
            if mark & full == full:
                return True
        return False
