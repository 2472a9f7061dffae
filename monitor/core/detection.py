"""What the detector says about a post: matches, a countdown, the verdict, and severities.

These are the detector's results as plain records, so the pipeline, the outbox, the store and the
desks can hold a detection without importing the detector (``alerts/``) itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from monitor.core.times import iso

SEVERITIES = ("low", "medium", "high")
SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}


def severity_rank(severity: str | None) -> int:
    """Order severities: ``None`` (and anything unknown) < low < medium < high."""
    return SEVERITY_RANK.get(severity or "", -1)


@dataclass(frozen=True)
class Countdown:
    """A countdown found in a text: ``start``/``end`` index the original text of ``source``."""

    value: int
    unit: str  # "day" | "hour"
    deadline: datetime | None
    source: str = "text"
    start: int = 0
    end: int = 0
    alertable: bool = True
    reason: str = ""
    snippet: str = ""
    explicit_date: bool = False
    benign: str | None = None  # the look-alike word found (رمضان, christmas, ...)
    threat: str | None = None  # the threat/enemy word that makes a look-alike alertable
    bare: bool = False  # only a number: a countdown only as part of a series

    def with_threat(self, word: str) -> Countdown:
        """The same countdown made alertable by a threat term found elsewhere in the post."""
        if self.alertable:
            return self
        return replace(
            self,
            alertable=True,
            threat=word,
            reason=f"{self.reason.split(';')[0]}; but the threat term '{word}' is in the same post",
        )


@dataclass(frozen=True)
class CountdownPoint:
    """One countdown post of a channel, for :func:`series_deadline`."""

    date: datetime
    value: int
    unit: str


@dataclass(frozen=True)
class Match:
    """One rule match; ``start``/``end`` index the original text of ``source``."""

    rule: str
    term: str  # as written in the rules file (or the regex pattern)
    category: str
    severity: str
    source: str  # "text" | "ocr"
    start: int
    end: int
    snippet: str = ""
    with_term: str | None = None  # the companion term that satisfied the rule's with_any

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "term": self.term,
            "category": self.category,
            "severity": self.severity,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "snippet": self.snippet,
        }
        if self.with_term is not None:
            data["with"] = self.with_term
        return data


@dataclass
class Detection:
    """What the detector says about one post."""

    alert: bool
    severity: str | None
    matches: list[Match] = field(default_factory=list)
    countdown: Countdown | None = None
    ocr_text: str | None = None
    min_severity: str = "medium"

    @property
    def alerting_matches(self) -> list[Match]:
        """The matches at or above the minimum severity."""
        floor = severity_rank(self.min_severity)
        return [m for m in self.matches if severity_rank(m.severity) >= floor]

    def reasons(self) -> list[str]:
        """Why this post alerts, one line per reason (empty when it does not): a rule that matched
        the same words twice (a poster's hashtag on two lines of its OCR text) is one reason."""
        out = list(
            dict.fromkeys(
                f"{m.severity} rule '{m.rule}' matched {m.snippet!r}" for m in self.alerting_matches
            )
        )
        if self.countdown is not None and self.countdown.alertable:
            out.append(
                f"countdown: {self.countdown.value} {self.countdown.unit}(s) ({self.countdown.reason})"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        countdown = None
        if self.countdown is not None:
            c = self.countdown
            countdown = {
                "value": c.value,
                "unit": c.unit,
                "deadline": iso(c.deadline),
                "source": c.source,
                "start": c.start,
                "end": c.end,
                "snippet": c.snippet,
                "alertable": c.alertable,
                "reason": c.reason,
            }
        return {
            "alert": self.alert,
            "severity": self.severity,
            "matches": [m.to_json() for m in self.matches],
            "countdown": countdown,
            "ocr_text": self.ocr_text,
        }
