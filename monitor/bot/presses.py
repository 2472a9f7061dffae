"""What a press of an alert's button does: record it, and say what the message now shows.

The decisions are :func:`alerts.decisions.decide` with ``desk="bot"``: the same records the CLI
and the web desk write, and the same rule that the first decision of a kind stands (a colleague
pressing a moment later is shown the first decision, nothing is written twice). A mute is one
``rule_mutes`` row per rule of the alert (the countdown counts as the rule
:data:`alerts.outbox.COUNTDOWN_RULE`) in the alert's channel for :data:`MUTE_HOURS`, under the
same rule: an active mute of that rule there stands. No Telegram here: the desk edits and answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from alerts.buttons import Press
from alerts.decisions import decide, describe
from alerts.outbox import COUNTDOWN_RULE
from monitor.bot import answers as say
from monitor.bot.answers import Answer
from monitor.bot.commands import similar_lines
from monitor.bot.posters import look_alikes
from monitor.core.errors import MonitorError
from monitor.core.store import Archive
from monitor.core.times import iso, now_utc

MUTE_HOURS = 24
_DONE = {"ack": "acknowledged", "tp": "marked a true positive", "fp": "marked a false positive"}


@dataclass
class PressResult:
    """The press's answer (``toast``; ``popup`` for one that needs reading), the alert message's
    new HTML (``edit``, None: leave it), its kind (for its buttons), and a reply to send."""

    toast: str
    popup: bool = False
    edit: str | None = None
    kind: str = "post"
    replies: list[Answer] = field(default_factory=list)


def alert_rules(body: dict[str, Any]) -> list[str]:
    """The rules an alert raised on, the countdown included (what its mute button mutes)."""
    rules = sorted({str(m["rule"]) for m in body.get("matches") or [] if m.get("rule")})
    if body.get("countdown"):
        rules.append(COUNTDOWN_RULE)
    return rules


class Presses:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def press(self, press: Press, actor: str) -> PressResult:
        row = await self.archive.alerts.by_id(press.alert_id)
        if row is None:
            return PressResult(
                f"alert #{press.alert_id} is no longer in the archive: nothing recorded", popup=True
            )
        body = json.loads(row["body"])
        body["alert_id"] = row["id"]
        try:
            if press.action in _DONE:
                outcome = await decide(self.archive, row["id"], press.action, actor=actor, desk="bot")
                toast = (
                    f"{_DONE[press.action]} by {actor}"
                    if outcome.recorded
                    else f"already decided: {describe(outcome.decision)}"
                )
                result = PressResult(toast, popup=not outcome.recorded)
            elif press.action == "mute":
                result = await self._mute(row, body, actor)
            else:
                result = await self._similar(row, body)
        except MonitorError as exc:  # the alert went between the read and the write
            return PressResult(str(exc), popup=True)
        result.kind = row["kind"]
        if result.edit is None and press.action != "sim":
            result.edit = await self.message_of(row, body, press.caption)
        return result

    async def message_of(self, row: Any, body: dict[str, Any], caption: bool) -> str:
        """The alert's message as sent, with every current decision and active mute below it."""
        decisions = (await self.archive.decisions.current_for([row["id"]])).get(row["id"], [])
        mutes = []
        if row["channel_id"] is not None:
            rules = set(alert_rules(body))
            active = await self.archive.mutes.active(iso(now_utc()) or "", row["channel_id"])
            mutes = [m for m in active if m.rule in rules]
        limit = say.CAPTION_LIMIT if caption else say.MESSAGE_LIMIT
        return say.alert_message(body, say.decision_lines(decisions, mutes), limit)

    async def _mute(self, row: Any, body: dict[str, Any], actor: str) -> PressResult:
        rules = alert_rules(body)
        if row["kind"] != "post" or row["channel_id"] is None or not rules:
            return PressResult("this alert has no rule of one channel to mute", popup=True)
        now = now_utc()
        until = iso(now + timedelta(hours=MUTE_HOURS)) or ""
        fresh, standing = [], []
        for rule in rules:
            mute, recorded = await self.archive.mutes.add(
                rule, row["channel_id"], until=until, by=actor, now=iso(now) or ""
            )
            (fresh if recorded else standing).append(mute)
        if fresh:
            names = ", ".join(m.rule for m in fresh)
            return PressResult(f"muted {names} in this channel for {MUTE_HOURS} h")
        first = standing[0]
        return PressResult(
            f"already muted: {first.rule} until {say.when(first.until)} by {first.by}", popup=True
        )

    async def _similar(self, row: Any, body: dict[str, Any]) -> PressResult:
        sha = body.get("image_sha256")
        media = await self.archive.media(sha) if sha else None
        if media is None or not media.phash:
            return PressResult("this alert has no poster to compare", popup=True)
        found = await look_alikes(self.archive, media.phash, exclude_post=row["post_id"])
        head = f"🖼 posters like the one of alert #{row['id']}"
        reply = Answer(say.cut("\n".join([head, *similar_lines(found)])))
        return PressResult(f"{len(found)} archived look-alikes", replies=[reply])
