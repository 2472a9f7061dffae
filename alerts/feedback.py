"""What analysts' verdicts say about each rule: ``tgmonitor rules report``.

Every post alert stores its matches (rule, term, severity) in its body, and the decisions store
holds the current true/false-positive verdict of each alert (:mod:`alerts.decisions`). This
module folds the two into one line per rule: alerts raised, marked true and false, precision,
the terms and channels behind most false positives, and the rules that never fired (pure, no
I/O; the command reads the rows).

An alert counts for the rules that raised it: its matches at or above ``medium`` (a low match
is context, not a reason), or ``(countdown)`` when a countdown alone raised it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COUNTDOWN", "RuleFeedback", "RulesReport", "build_report"]

COUNTDOWN = "(countdown)"
TOP = 3


@dataclass
class RuleFeedback:
    """One rule's alerts and verdicts."""

    rule: str
    severity: str = ""
    raised: int = 0
    tp: int = 0
    fp: int = 0
    fp_terms: Counter[str] = field(default_factory=Counter)
    fp_channels: Counter[int] = field(default_factory=Counter)

    @property
    def marked(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float | None:
        """True positives among the marked alerts; None while none is marked."""
        return self.tp / self.marked if self.marked else None

    def to_json(self, channel_names: Mapping[int, str]) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "alerts": self.raised,
            "tp": self.tp,
            "fp": self.fp,
            "unmarked": self.raised - self.marked,
            "precision": None if self.precision is None else round(self.precision, 3),
            "fp_terms": [{"term": t, "alerts": n} for t, n in self.fp_terms.most_common(TOP)],
            "fp_channels": [
                {"channel_id": c, "channel": channel_names.get(c, str(c)), "alerts": n}
                for c, n in self.fp_channels.most_common(TOP)
            ],
        }


@dataclass
class RulesReport:
    """Per rule feedback (most alerts first) and the rules that never fired."""

    rules: list[RuleFeedback]
    never_fired: list[str]
    alerts: int
    tp: int
    fp: int

    def to_json(self, channel_names: Mapping[int, str]) -> dict[str, Any]:
        marked = self.tp + self.fp
        return {
            "alerts": self.alerts,
            "tp": self.tp,
            "fp": self.fp,
            "precision": round(self.tp / marked, 3) if marked else None,
            "rules": [r.to_json(channel_names) for r in self.rules],
            "never_fired": self.never_fired,
        }


def build_report(rows: Iterable[Mapping[str, Any]], rules: Sequence[tuple[str, str]]) -> RulesReport:
    """Fold alert rows (``channel_id``, ``body`` JSON, ``verdict`` tp|fp|None) into a report.

    ``rules`` are the ``(name, severity)`` of the rules in force, in file order: those without an
    alert are the ones that never fired; a rule that fired but is no longer in the file still
    gets its line.
    """
    by_rule: dict[str, RuleFeedback] = {name: RuleFeedback(name, severity) for name, severity in rules}
    alerts = tp = fp = 0
    for row in rows:
        try:
            body = json.loads(row["body"])
        except (TypeError, ValueError):
            continue
        alerts += 1
        verdict = row["verdict"]
        tp += verdict == "tp"
        fp += verdict == "fp"
        matches = [m for m in body.get("matches") or [] if isinstance(m, dict)]
        raising = [m for m in matches if m.get("severity") in ("medium", "high")] or matches
        names = list(dict.fromkeys(str(m.get("rule")) for m in raising))
        if not names:
            names = [COUNTDOWN]
        for name in names:
            feedback = by_rule.setdefault(name, RuleFeedback(name))
            if not feedback.severity:
                feedback.severity = next(
                    (str(m.get("severity")) for m in raising if m.get("rule") == name), ""
                )
            feedback.raised += 1
            if verdict == "tp":
                feedback.tp += 1
            elif verdict == "fp":
                feedback.fp += 1
                feedback.fp_terms.update({str(m.get("term")) for m in raising if m.get("rule") == name})
                if row["channel_id"] is not None:
                    feedback.fp_channels[int(row["channel_id"])] += 1
    fired = sorted((f for f in by_rule.values() if f.raised), key=lambda f: (-f.fp, -f.raised, f.rule))
    never = [name for name, _ in rules if not by_rule[name].raised]
    return RulesReport(fired, never, alerts, tp, fp)
