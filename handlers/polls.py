"""A poll as post text, the same from an export and from Telegram.

A poll message has no text of its own (Telegram keeps the question and answers in the media), so
without this a poll such as "Should the occupier's embassy be targeted?" could be neither
searched nor alerted on. Both roads (``handlers/export_messages.py`` for Desktop's ``"poll"``
object, ``handlers/telegram.py`` for ``MessageMediaPoll``) render it here, so the same poll
archives as the same text whichever road brought it; when the results change (a re-export, a
later fetch) the text changes and the older results are kept as a version of the post.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PollAnswer:
    """One answer: its text and, when the source gives results, how many voted for it."""

    text: str
    voters: int | None = None
    correct: bool = False  # a quiz's right answer, when Telegram says it


def poll_text(
    question: str,
    answers: Sequence[PollAnswer],
    *,
    total_voters: int | None = None,
    closed: bool = False,
    quiz: bool = False,
) -> str:
    """The poll as plain text: a head line with the question, one line per answer (with its
    votes when known), and the number of voters when known.

    Example::

        Poll: Should the embassy be targeted?
        - Yes (40 votes)
        - No (37 votes)
        77 voters
    """
    head = "Quiz" if quiz else "Poll"
    if closed:
        head += " (closed)"
    lines = [f"{head}: {question.strip()}"]
    for answer in answers:
        line = f"- {answer.text.strip()}"
        marks = []
        if answer.voters is not None:
            marks.append(_count(answer.voters, "vote"))
        if answer.correct:
            marks.append("correct")
        if marks:
            line += f" ({', '.join(marks)})"
        lines.append(line)
    if total_voters is not None:
        lines.append(_count(total_voters, "voter"))
    return "\n".join(lines)


def with_poll(text: str, poll: str) -> str:
    """A message's own text followed by its poll (a poll message's text is normally empty)."""
    return f"{text}\n\n{poll}" if text else poll


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
