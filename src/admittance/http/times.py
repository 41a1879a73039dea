"""The one format for a moment on every surface: ISO-8601 in UTC with milliseconds and `Z`
(2026-11-22T03:48:25.123Z), whatever the zone of the datetime given."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_millis(moment: datetime) -> str:
    """`moment` in UTC, to the millisecond (truncated). A naive datetime is taken to be UTC already."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def utc_millis_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else utc_millis(moment)
