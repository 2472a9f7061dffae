"""The detector: threat rules and countdowns over a post's text and its OCR text.

``Detector(ruleset).detect(text, ocr_text, date)`` returns a :class:`Detection`. An alert is
raised for a rule match at or above the minimum severity (default ``medium``) or for an
alertable countdown. ``Detection.to_json()`` is the ``tgmonitor check --json`` shape of
``shared/DESIGN.md`` (keys may be added, never renamed).

Poster text (``ocr_text``) holds only what OCR read with evidence (``ocr.evidence``); a short
Latin abbreviation (``IED``) is not matched in it at all, since OCR junk makes such strings.

Rules with ``with_any`` only count when one of those terms is also in the post; rules with
``without_any`` are dropped when one of those is there. Text and OCR text are one post: a term in
the caption and its companion on the poster make a combination.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.countdown import find_countdown
from alerts.hit_marks import ABBREVIATION, COMPANION, CONTEXT, RANKS, TERMS, HitMarks
from alerts.matcher import PhraseMatcher, to_original
from alerts.proximity import NearRule, find_near
from alerts.rules import RuleSet, load_rules
from alerts.signatures import Signature, SignatureBook, silence
from monitor.core.detection import SEVERITIES, Countdown, Detection, Match, severity_rank
from monitor.core.errors import RulesError
from monitor.core.text import normalize

__all__ = ["Detector", "load_detector"]

log = logging.getLogger(__name__)

# Categories whose terms make a benign-looking countdown (to Ramadan, New Year...) alertable even
# at low severity: a countdown "for the occupiers" is not a holiday.
CONTEXT_CATEGORIES = frozenset(
    {"threat", "threat_vow", "attack_claim", "revenge", "enemy_label", "imminence"}
)


_LATIN_ABBREVIATION = re.compile(r"[A-Za-z]{2,3}s?")


class Detector:
    """Rules compiled into one automaton, plus the built-in countdown detector."""

    use_marks = True
    """Judge a post that cannot alert from its hits' marks (:mod:`alerts.hit_marks`) when they
    describe every hit; off, from the hits themselves (the tests hold the two to one answer)."""

    def __init__(
        self, ruleset: RuleSet, min_severity: str = "medium", signatures: SignatureBook | None = None
    ) -> None:
        if min_severity not in SEVERITIES:
            raise RulesError(f"minimum severity must be one of {', '.join(SEVERITIES)}, got {min_severity!r}")
        self.ruleset = ruleset
        self.min_severity = min_severity
        # Channel signatures (issue 17): names from the channel itself, learned lines when the app
        # has read the archive (``learn_book``), the rules file's [[signature]] overrides.
        self.signatures = (
            signatures.with_overrides(ruleset.signatures) if signatures else SignatureBook(ruleset.signatures)
        )
        self.quieted = 0  # detections in which a signature kept a rule term quiet (for backtests)
        rules = ruleset.rules
        self._severities = [rule.severity for rule in rules]
        self._ranks = [severity_rank(rule.severity) for rule in rules]
        self._floor = severity_rank(min_severity)
        self._needs_companion = [bool(rule.with_any) for rule in rules]
        self._gives_context = [r.severity != "low" or r.category in CONTEXT_CATEGORIES for r in rules]
        entries: list[tuple[str, tuple[str, int, str]]] = []
        for index, rule in enumerate(rules):
            entries += [(term, ("term", index, term)) for term in rule.terms]
            entries += [(term, ("with", index, term)) for term in rule.with_any]
            entries += [(term, ("without", index, term)) for term in rule.without_any]
            entries += [(term, ("near", index, term)) for group in rule.near for term in group]
        self._near = {i: NearRule(i, r.near, r.within) for i, r in enumerate(rules) if r.near}
        # Terms that are short Latin abbreviations (IED, IEDs, RPG) are not matched in poster
        # text: OCR makes three-letter Latin strings out of any texture ("ied" out of a shop sign).
        self._abbreviations = frozenset(term for term, _ in entries if _LATIN_ABBREVIATION.fullmatch(term))
        self._marks = HitMarks(rules, self._gives_context, self._abbreviations)
        self._matcher = PhraseMatcher(entries, mark=self._marks.mark)
        self._regexes = [(index, pattern) for index, rule in enumerate(rules) for pattern in rule.regex]
        log.debug("detector: %d rules, %d automaton keys", len(rules), self._matcher.keys)

    def detect(
        self,
        text: str | None,
        ocr_text: str | None = None,
        date: datetime | str | None = None,
        *,
        explain: bool = True,
        channel: Any = None,
        signature: Signature | None = None,
        terms: bool = True,
    ) -> Detection:
        """Rule matches and the countdown in ``text`` and ``ocr_text`` (the post date sets the deadline).

        ``channel`` (a :class:`~monitor.core.models.Channel` or a record with ``id``, ``username``,
        ``title``) or ``signature`` keeps the channel's own identity from alerting
        (:mod:`alerts.signatures`).

        With ``explain=False`` a post that raises no alert comes back without its matches (only
        its severity and countdown): locating matches in the original text is the slow part of
        detection, and the pipeline needs them only for alerts.

        ``terms=False`` is for a caller that already knows no rule term, proximity rule or regex
        can match the post (a backtest's prefilter): only the countdown is looked for, which is
        the whole of such a post's detection, without a pass of the automaton.
        """
        rules = self.ruleset.rules
        if isinstance(date, str):  # an archive row's ISO 8601 text
            date = datetime.fromisoformat(date.replace("Z", "+00:00"))
        hits: list[tuple[str, str, str, int, int, int]] = []  # role, source, term, rule, start, end
        countdowns: list[Countdown] = []
        scanned = []
        founds: list[list[tuple[Any, int, int]]] = []  # each scanned text's hits
        # The OR of the hits' marks (alerts.hit_marks), and whether it still describes them all:
        # then a post that cannot alert is judged from it alone (most posts with a hit).
        marks, marked = 0, self.use_marks
        for source, body in (("text", text), ("ocr", ocr_text)):
            if not body:
                continue
            normalized = normalize(body)
            found, mark = self._matcher.find_marked(normalized) if terms else ([], 0)
            if source == "ocr" and mark & ABBREVIATION:
                found = [
                    hit
                    for hit in found
                    if hit[0][0] not in ("term", "near") or hit[0][2] not in self._abbreviations  # type: ignore[index]
                ]
                marked = False
            if signature is None and channel is not None and mark & TERMS:
                signature = self.signatures.for_channel(channel.id, channel.username, channel.title)
            if signature is not None and mark & TERMS:
                kept = silence(found, body, normalized, signature, self._severities)
                if len(kept) != len(found):
                    self.quieted += 1
                    marked = False
                found = kept
            if self._marks.near_possible(mark):  # proximity rules: a term of each group, within N words
                near = find_near(normalized, found, self._near)
                if near:
                    found += near
                    marked = False
            for index, pattern in self._regexes:
                regex_hits = [
                    (("term", index, pattern.pattern), m.start(), m.end())
                    for m in pattern.finditer(normalized)
                ]
                if regex_hits:
                    found += regex_hits
                    marked = False
            marks |= mark
            scanned.append((source, body, normalized, found))
            founds.append(found)
            countdown = find_countdown(body, date, source=source, normalized=normalized)
            if countdown is not None:
                countdowns.append(countdown)
        # Companions and vetoes alone say nothing: spans are mapped (the slow part) only when a
        # rule term matched somewhere in the post (its companion may be on the poster).
        marked = marked and not marks & COMPANION  # a companion rule's term: judged from the hits
        if marked:
            term_hit = bool(marks & TERMS)
        else:
            term_hit = any(payload[0] == "term" for found in founds for payload, _, _ in found)  # type: ignore[index]
        if not countdowns and not term_hit:  # most posts: nothing that can alert or be shown
            return Detection(
                alert=False,
                severity=None,
                matches=[],
                countdown=None,
                ocr_text=ocr_text,
                min_severity=self.min_severity,
            )
        if term_hit and not explain:
            quiet = (
                self._marked_verdict(marks, countdowns, ocr_text)
                if marked
                else self._quiet_verdict(founds, countdowns, ocr_text)
            )
            if quiet is not None:
                return quiet
        companions: dict[int, str] = {}
        vetoes: set[int] = set()
        if term_hit:
            for source, body, normalized, found in scanned:
                kept = _first_of_each(found)
                for (role, index, term), _, _ in kept:  # companions and vetoes need no spans
                    if role == "with":
                        companions[index] = term
                    elif role == "without":
                        vetoes.add(index)
                terms_kept = [hit for hit in kept if hit[0][0] == "term"]  # type: ignore[index]
                if not terms_kept:
                    continue
                for hit in to_original(body, normalized, terms_kept):
                    role, index, term = hit.payload  # type: ignore[misc]
                    hits.append((role, source, term, index, hit.start, hit.end))

        matches: list[Match] = []
        seen: set[tuple[int, str, int, int]] = set()
        for role, source, term, index, start, end in sorted(
            hits, key=lambda h: (h[1] != "text", h[4], -h[5])
        ):
            rule = rules[index]
            if role != "term" or index in vetoes or (rule.with_any and index not in companions):
                continue
            key = (index, source, start, end)
            if key in seen:
                continue
            seen.add(key)
            body = text if source == "text" else ocr_text
            matches.append(
                Match(
                    rule=rule.name,
                    term=term,
                    category=rule.category,
                    severity=rule.severity,
                    source=source,
                    start=start,
                    end=end,
                    snippet=(body or "")[start:end],
                    with_term=companions.get(index) if rule.with_any else None,
                )
            )

        matches = _drop_subsumed(matches)
        countdown = _pick(countdowns)
        if countdown is not None and not countdown.alertable and not countdown.bare:
            context = next(
                (m for m in matches if m.severity != "low" or m.category in CONTEXT_CATEGORIES), None
            )
            if context is not None:
                countdown = countdown.with_threat(context.snippet)

        floor = severity_rank(self.min_severity)
        alert = any(severity_rank(m.severity) >= floor for m in matches)
        severity = max((m.severity for m in matches), key=severity_rank, default=None)
        if countdown is not None and countdown.alertable:
            alert = True
            threatening = countdown.threat is not None or any(
                m.severity != "low" or m.category in CONTEXT_CATEGORIES for m in matches
            )
            own = "high" if threatening else "medium"
            severity = max((severity, own), key=severity_rank)
        return Detection(
            alert=alert,
            severity=severity,
            matches=matches,
            countdown=countdown,
            ocr_text=ocr_text,
            min_severity=self.min_severity,
        )

    def _marked_verdict(
        self, marks: int, countdowns: list[Countdown], ocr_text: str | None
    ) -> Detection | None:
        """:meth:`_quiet_verdict` read off the hits' marks, when they describe every hit: each
        term hit counts as it is (no companion rule, no proximity hit, nothing silenced)."""
        top = (marks & RANKS).bit_length() - 1  # the highest rank of a term hit, -1 for none
        if top >= self._floor:
            return None
        countdown = _pick(countdowns)
        if countdown is not None and (
            countdown.alertable or (not countdown.bare and top >= 0 and marks & CONTEXT)
        ):
            return None
        return Detection(
            alert=False,
            severity=SEVERITIES[top] if top >= 0 else None,
            matches=[],
            countdown=countdown,
            ocr_text=ocr_text,
            min_severity=self.min_severity,
        )

    def _quiet_verdict(
        self, founds: list[list[tuple[Any, int, int]]], countdowns: list[Countdown], ocr_text: str | None
    ) -> Detection | None:
        """The no-alert verdict without match spans, or None when the post may alert.

        Mirrors the rules below on normalised spans: a dropped (subsumed) match always lies
        inside one at least as severe, so severities and the alert decision do not need spans.
        Per rule facts (rank, whether it gives a countdown context, whether it needs a companion)
        are looked up in lists made once: this runs for every post with a low rule's term.
        """
        terms: list[int] = []
        companions: set[int] = set()
        vetoes: set[int] = set()
        for found in founds:
            for (role, index, _), _, _ in found:
                if role == "term":
                    terms.append(index)
                elif role == "with":
                    companions.add(index)
                elif role == "without":
                    vetoes.add(index)
        needs = self._needs_companion
        valid = [i for i in terms if i not in vetoes and (not needs[i] or i in companions)]
        ranks = self._ranks
        floor = self._floor
        if any(ranks[i] >= floor for i in valid):
            return None
        countdown = _pick(countdowns)
        if countdown is not None and (
            countdown.alertable or (not countdown.bare and any(self._gives_context[i] for i in valid))
        ):
            return None
        return Detection(
            alert=False,
            severity=self._severities[max(valid, key=ranks.__getitem__)] if valid else None,
            matches=[],
            countdown=countdown,
            ocr_text=ocr_text,
            min_severity=self.min_severity,
        )


MANY_HITS = 1_000
"""Hits in one text beyond which only the first few of each term are explained (mapped to the
original and listed): a post has a handful; a 10 MB post of slogans has tens of thousands."""
_EACH = 8


def _first_of_each(found: list[tuple[Any, int, int]]) -> list[tuple[Any, int, int]]:
    """``found`` itself, or for a text of more than :data:`MANY_HITS` hits the first ``_EACH`` of
    each term and role. Every term keeps its first place, so the rules that match, their
    companions and vetoes, the severity and the first threat word of the post stay the same."""
    if len(found) <= MANY_HITS:
        return found
    counts: dict[Any, int] = {}
    kept = set()
    for position in sorted(range(len(found)), key=lambda i: found[i][1]):
        payload = found[position][0]
        if counts.get(payload, 0) < _EACH:
            counts[payload] = counts.get(payload, 0) + 1
            kept.add(position)
    return [hit for i, hit in enumerate(found) if i in kept]


def _drop_subsumed(matches: list[Match]) -> list[Match]:
    """Drop a match that lies inside a stronger one (``revenge`` inside ``revenge-coming``): inside
    one more severe, or as severe and wider.

    One sweep in order of start (not every pair: a long post has thousands of matches): a match
    is inside an earlier-starting one of rank ``r`` exactly when the furthest end seen for ``r``
    reaches its end; matches of one span are judged together (only a more severe one drops).
    """
    keep = [True] * len(matches)
    for source in {m.source for m in matches}:
        order = sorted(
            (i for i, m in enumerate(matches) if m.source == source),
            key=lambda i: (matches[i].start, -matches[i].end),
        )
        furthest: dict[int, int] = {}  # rank -> furthest end of the matches before this span
        at = 0
        while at < len(order):
            span = (matches[order[at]].start, matches[order[at]].end)
            group = []
            while at < len(order) and (matches[order[at]].start, matches[order[at]].end) == span:
                group.append(order[at])
                at += 1
            ranks = {i: severity_rank(matches[i].severity) for i in group}
            top = max(ranks.values())
            for i in group:
                rank = ranks[i]
                reach = max((end for r, end in furthest.items() if r >= rank), default=-1)
                if reach >= span[1] or top > rank:
                    keep[i] = False
            for i in group:
                furthest[ranks[i]] = max(furthest.get(ranks[i], -1), span[1])
    return [m for m, kept in zip(matches, keep, strict=True) if kept]


def _pick(countdowns: list[Countdown]) -> Countdown | None:
    """The most telling countdown of a post: alertable, with a date, not a bare number, in the text."""
    if not countdowns:
        return None
    return min(
        countdowns, key=lambda c: (not c.alertable, not c.explicit_date, c.bare, c.source != "text", c.start)
    )


def load_detector(config: Any, rules: Path | str | None = None, min_severity: str | None = None) -> Detector:
    """A detector from ``config.alerts.rules`` (or the shipped rules) and ``config.alerts.min_severity``.

    ``rules`` and ``min_severity`` override the config (the ``--rules``/``--min-severity`` options).
    """
    alerts = config.alerts
    return Detector(
        load_rules(rules if rules is not None else alerts.rules),
        min_severity=min_severity or alerts.min_severity,
    )
