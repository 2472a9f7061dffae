"""Time stamps: every datetime tgmonitor stores or compares is aware UTC, written one of two ways.

``iso`` (seconds, what posts, alerts and channels store) and ``stamp`` (milliseconds, one fixed
width, so delivery times compare as strings). One module so the archive, the outbox and the
detector never disagree on a format.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo


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


_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


def parse_timezone(value: str) -> tzinfo:
    """An IANA zone name (``Asia/Tehran``) or a fixed offset (``+03:30``, ``-0500``, ``UTC+3``).

    A zone name follows its daylight-saving rules date by date, which an offset cannot: prefer it
    when the place is known. Raises ``ValueError`` with a sentence saying what is accepted."""
    text = value.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    match = _OFFSET.fullmatch(text)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta >= timedelta(hours=24) or int(minutes or 0) >= 60:
            raise ValueError(f"time zone offset {value!r} is out of range (-23:59 to +23:59)")
        return timezone(-delta if sign == "-" else delta) if delta else UTC
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Asia'
        raise ValueError(
            f"unknown time zone {value!r}: give an IANA name such as Asia/Tehran or an offset such as +03:30"
        ) from None
