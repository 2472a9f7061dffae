"""Time stamps: every datetime tgmonitor stores or compares is aware UTC, written one of two ways.

``iso`` (seconds, what posts, alerts and channels store) and ``stamp`` (milliseconds, one fixed
width, so delivery times compare as strings). One module so the archive, the outbox and the
detector never disagree on a format.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def now_iso() -> str:
    """The current time as :func:`iso` writes it."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``-free ``+00:00`` offset, seconds precision."""
    if dt is None:
        return None
    if dt.tzinfo is UTC and not dt.microsecond:  # the usual case (every imported post)
        return dt.isoformat()
    return utc(dt).replace(microsecond=0).isoformat()


def stamp(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds: one fixed width, so strings compare like times."""
    return utc(dt).isoformat(timespec="milliseconds")
