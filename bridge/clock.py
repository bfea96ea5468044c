"""Time as a dependency, so deadlines, lockouts and idle logoff can be tested with a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything the bridge compares is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fhir_instant(moment: datetime) -> str:
    """A FHIR instant in UTC to the second, as the workflows' records carry it."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
