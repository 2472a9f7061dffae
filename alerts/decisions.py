"""Deciding about an alert from any desk: acknowledge it, or mark it a true or false positive.

The CLI (``tgmonitor alerts ack|mark``), the web desk and the alert chat's buttons all come
here, so one alert has one story whichever desk was used. The first decision of a kind wins: a
second analyst pressing "false positive" a moment after a colleague pressed it gets the
colleague's decision back (``recorded=False``) instead of a second row. Changing a verdict is a
deliberate act (``replace=True``, e.g. ``alerts mark 7 tp --change``) and keeps the old one as
history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.core.errors import MonitorError
from monitor.core.store import Archive
from monitor.core.store.decisions import DecisionRow
from monitor.core.times import iso, now_utc

ACTIONS = {"ack": ("ack", "ack"), "tp": ("verdict", "tp"), "fp": ("verdict", "fp")}
"""Action name -> (decision kind, stored value)."""

DESKS = ("cli", "web", "bot")
NOTE_MAX = 2000  # characters: a note explains a decision, it is not a report


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a press of a button did: ``recorded`` is False when an earlier decision stands."""

    decision: DecisionRow
    recorded: bool


async def decide(
    archive: Archive,
    alert_id: int,
    action: str,
    *,
    actor: str,
    desk: str,
    note: str | None = None,
    replace: bool = False,
    when: datetime | None = None,
) -> Outcome:
    """Record ``action`` (``ack``, ``tp`` or ``fp``) on the alert, once.

    If the alert already has a current decision of the same kind, that decision is returned
    unchanged, unless ``replace`` is set and the value differs: then the old one is stamped
    superseded and the new one recorded. Unknown alerts and actions are a :class:`MonitorError`.
    """
    if action not in ACTIONS:
        raise MonitorError(f"unknown decision {action!r}: use one of {', '.join(ACTIONS)}")
    if desk not in DESKS:
        raise MonitorError(f"unknown desk {desk!r}")
    actor = actor.strip()
    if not actor:
        raise MonitorError("a decision needs who made it")
    if note is not None:
        note = note.strip() or None
        if note is not None and len(note) > NOTE_MAX:
            raise MonitorError(f"the note is {len(note):,} characters long; at most {NOTE_MAX:,}")
    kind, value = ACTIONS[action]
    stamp = iso(when or now_utc()) or ""
    store = archive.decisions
    async with archive.transaction() as tx:
        if not await store.alert_exists(tx, alert_id):
            raise MonitorError(f"no alert with id {alert_id}: see tgmonitor alerts")
        current = await store.current_in(tx, alert_id, kind)
        if current is not None and not (replace and current.value != value):
            return Outcome(current, recorded=False)
        if current is not None:
            await store.supersede(tx, current.id, stamp)
        row = await store.insert(
            tx, alert_id=alert_id, kind=kind, value=value, actor=actor, desk=desk, note=note, when=stamp
        )
    return Outcome(row, recorded=True)


def state_of(decisions: list[DecisionRow]) -> str:
    """An alert's state from its current decisions: ``tp``, ``fp``, ``acknowledged`` or ``new``."""
    verdict = next((d.value for d in decisions if d.kind == "verdict"), None)
    if verdict:
        return verdict
    return "acknowledged" if decisions else "new"


def describe(decision: DecisionRow) -> str:
    """One plain line for a person: "false positive by alice (web) at 2026-12-03 01:02 UTC"."""
    what = {"ack": "acknowledged", "tp": "true positive", "fp": "false positive"}[decision.value]
    when = decision.decided_at[:16].replace("T", " ")
    return f"{what} by {decision.actor} ({decision.desk}) at {when} UTC"
