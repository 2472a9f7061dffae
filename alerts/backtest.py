"""Backtest a rules file over the archive: what it would raise, and what changes from the rules in force.

``tgmonitor rules test`` runs a rules file over every archived post (its text and its poster
text), sends nothing and writes nothing: per rule, how many posts would alert and in which
channels, a few example posts with the matched words, and the posts that would alert that do
not today (gained) or that alert today and would not (lost).

This module counts (no I/O): :func:`tally_rows` detects a batch of posts under both rule sets
and returns a small :class:`Backtest`; batches merge. ``monitor/backtests.py`` reads the archive
and spreads the batches over worker processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.detect import Detector
from alerts.matcher import PhraseMatcher
from alerts.rules import RuleSet
from alerts.signatures import SignatureBook
from monitor.core.detection import Detection
from monitor.core.store.scans import ScanRow
from monitor.core.text import normalize

__all__ = ["COUNTDOWN", "Backtest", "Detectors", "Example", "RuleTally", "tally_rows"]

EXAMPLES = 3
COUNTDOWN = "(countdown)"
"""The tally of posts that alert through a countdown alone (built in, not a rule)."""
_CONTEXT = 90  # characters kept around an example's matches


@dataclass
class Example:
    """One post that would alert (or that changes), cut around its matched words."""

    post_id: int
    channel_id: int
    message_id: int
    date: str
    source: str  # text | ocr
    body: str  # the excerpt
    spans: list[tuple[int, int]]  # matched words in ``body``
    terms: list[str]
    cut_left: bool = False
    cut_right: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "date": self.date,
            "source": self.source,
            "excerpt": self.body,
            "highlights": [list(s) for s in self.spans],
            "terms": self.terms,
        }


@dataclass
class RuleTally:
    """What one rule of the tested file would raise."""

    name: str
    severity: str
    category: str
    posts: int = 0  # posts it would alert on (its match at or above the minimum severity)
    in_force: int = 0  # posts the rule of that name alerts on under the rules in force
    channels: Counter[int] = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)


@dataclass
class Backtest:
    """The result of a backtest (or of one worker's range of it)."""

    posts: int = 0
    alerts: int = 0  # posts that would alert
    in_force_alerts: int = 0
    gained: int = 0
    lost: int = 0
    gained_examples: list[Example] = field(default_factory=list)
    lost_examples: list[Example] = field(default_factory=list)
    rules: dict[str, RuleTally] = field(default_factory=dict)
    silenced: int = 0  # alerts the channel signatures kept quiet

    def merge(self, other: Backtest) -> None:
        self.posts += other.posts
        self.alerts += other.alerts
        self.in_force_alerts += other.in_force_alerts
        self.gained += other.gained
        self.lost += other.lost
        self.silenced += other.silenced
        _extend(self.gained_examples, other.gained_examples)
        _extend(self.lost_examples, other.lost_examples)
        for name, theirs in other.rules.items():
            mine = self.rules.setdefault(name, RuleTally(theirs.name, theirs.severity, theirs.category))
            mine.posts += theirs.posts
            mine.in_force += theirs.in_force
            mine.channels.update(theirs.channels)
            _extend(mine.examples, theirs.examples)


def _extend(into: list[Example], more: list[Example]) -> None:
    into.extend(more[: max(0, EXAMPLES - len(into))])


@dataclass
class Detectors:
    """The tested rules, the rules in force (None when they are the same file), and the learned
    signatures both were built with (None: signatures off)."""

    tested: Detector
    in_force: Detector | None
    signatures: SignatureBook | None = None
    prefilter: Prefilter | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.in_force is not None:
            self.prefilter = Prefilter([self.tested.ruleset, self.in_force.ruleset])


class Prefilter:
    """Whether a post can match a rule of either rule set: one automaton pass over the terms of both.

    A post with no rule term of either set (and no proximity rule with a term of each group, no
    rule regex) can only alert through its countdown, which both sets judge alike: it is detected
    once, not twice, and without the tested rules' automaton (``Detector.detect(terms=False)``).
    Most posts are such posts, so a backtest against the rules in force costs little more than
    one pass of this automaton and a countdown look per post.
    """

    def __init__(self, rulesets: Sequence[RuleSet]) -> None:
        entries: list[tuple[str, Hashable]] = []
        self._groups: dict[Hashable, int] = {}
        self._regexes = []
        for s, ruleset in enumerate(rulesets):
            for i, rule in enumerate(ruleset.rules):
                entries += [(term, ("t",)) for term in rule.terms]
                for g, group in enumerate(rule.near):
                    entries += [(term, ("n", s, i, g)) for term in group]
                if rule.near:
                    self._groups[(s, i)] = len(rule.near)
                self._regexes += list(rule.regex)
        self._matcher = PhraseMatcher(entries)

    def may_match(self, text: str, ocr_text: str | None) -> bool:
        for body in (text, ocr_text):
            if not body:
                continue
            normalized = normalize(body)
            seen: dict[Hashable, set[int]] = {}
            for payload, _, _ in self._matcher.find_normalized(normalized):
                if payload[0] == "t":  # type: ignore[index]
                    return True
                _, s, i, g = payload  # type: ignore[misc]
                groups = seen.setdefault((s, i), set())
                groups.add(g)
                if len(groups) == self._groups[(s, i)]:
                    return True
            if any(pattern.search(normalized) for pattern in self._regexes):
                return True
        return False


def tally_rows(rows: Sequence[ScanRow], detectors: Detectors) -> Backtest:
    """Detect each post under both rule sets and count what would alert (pure, no I/O)."""
    out = Backtest()
    for rule in detectors.tested.ruleset.rules:
        out.rules[rule.name] = RuleTally(rule.name, rule.severity, rule.category)
    learned = detectors.signatures is not None
    for row in rows:
        out.posts += 1
        quieted = detectors.tested.quieted
        date = datetime.fromisoformat(row.date)  # once for both rule sets
        # A post no term of either set can match (most posts) has only its countdown to detect,
        # which both sets judge alike: detected once, without the automaton of the tested rules.
        may_match = detectors.prefilter is None or detectors.prefilter.may_match(row.text, row.ocr_text)
        new = _detect(detectors.tested, row, date, learned=learned, terms=may_match)
        old = new
        if detectors.in_force is not None and may_match:
            old = _detect(detectors.in_force, row, date, learned=learned)
        if new.alert:
            out.alerts += 1
            fired = _fired(new)
            for name in fired:
                tally = out.rules.setdefault(name, RuleTally(name, new.severity or "", "countdown"))
                tally.posts += 1
                tally.channels[row.channel_id] += 1
                if len(tally.examples) < EXAMPLES:
                    tally.examples.append(_example(row, new, name))
        if detectors.tested.quieted > quieted and not new.alert:
            out.silenced += 1
        if old.alert:
            out.in_force_alerts += 1
            for name in _fired(old):  # a rule the tested file drops still shows what it raised
                out.rules.setdefault(name, RuleTally(name, old.severity or "", "")).in_force += 1
        if new.alert and not old.alert:
            out.gained += 1
            if len(out.gained_examples) < EXAMPLES:
                out.gained_examples.append(_example(row, new, None))
        elif old.alert and not new.alert:
            out.lost += 1
            if len(out.lost_examples) < EXAMPLES:
                out.lost_examples.append(_example(row, old, None))
    return out


def _detect(
    detector: Detector, row: ScanRow, date: datetime, *, learned: bool, terms: bool = True
) -> Detection:
    """The post's detection (explained only when it alerts), under the channel's signature as
    the detector's book knows it (each rules file brings its own overrides)."""
    signature = detector.signatures.get(row.channel_id) if learned else None
    quick = detector.detect(
        row.text, ocr_text=row.ocr_text, date=date, explain=False, signature=signature, terms=terms
    )
    if not quick.alert:
        return quick
    return detector.detect(row.text, ocr_text=row.ocr_text, date=date, signature=signature, terms=terms)


def _fired(detection: Detection) -> list[str]:
    names = list(dict.fromkeys(m.rule for m in detection.alerting_matches))
    if not names and detection.countdown is not None and detection.countdown.alertable:
        names.append(COUNTDOWN)
    return names


def _example(row: ScanRow, detection: Detection, rule: str | None) -> Example:
    """The post cut around the matches of ``rule`` (or of every alerting match)."""
    matches = [m for m in detection.alerting_matches if rule is None or m.rule == rule]
    source = matches[0].source if matches else (detection.countdown.source if detection.countdown else "text")
    body = row.text if source == "text" else row.ocr_text or ""
    spans = sorted((m.start, m.end) for m in matches if m.source == source)
    if not spans and detection.countdown is not None and detection.countdown.source == source:
        spans = [(detection.countdown.start, detection.countdown.end)]
    left = max(0, min((s for s, _ in spans), default=0) - _CONTEXT)
    right = min(len(body), max((e for _, e in spans), default=0) + _CONTEXT)
    return Example(
        post_id=row.id,
        channel_id=row.channel_id,
        message_id=row.message_id,
        date=row.date,
        source=source,
        body=body[left:right],
        spans=[(s - left, e - left) for s, e in spans],
        terms=list(dict.fromkeys(m.term for m in matches)),
        cut_left=left > 0,
        cut_right=right < len(body),
    )
