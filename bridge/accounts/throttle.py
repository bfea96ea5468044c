"""Lockout with exponential backoff after repeated sign-in failures, per username or client id.

Unknown usernames are throttled exactly like known ones, so a lockout message reveals nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bridge.clock import as_utc
from bridge.db.tables import LoginThrottle

# Failures older than this no longer count towards a lockout.
FAILURE_MEMORY = timedelta(hours=1)


class LoginThrottler:
    def __init__(self, session: Session, max_failures: int, base_seconds: int, max_seconds: int) -> None:
        self._session = session
        self._max_failures = max_failures
        self._base = base_seconds
        self._cap = max_seconds

    def locked_until(self, subject: str, now: datetime) -> datetime | None:
        row = self._session.get(LoginThrottle, _key(subject))
        if row is None or row.locked_until is None:
            return None
        until = as_utc(row.locked_until)
        return until if until > now else None

    def record_failure(self, subject: str, now: datetime) -> datetime | None:
        row = self._session.get(LoginThrottle, _key(subject))
        if row is None:
            row = LoginThrottle(subject=_key(subject), failures=0)
            self._session.add(row)
        if row.last_failure_at is not None and now - as_utc(row.last_failure_at) > FAILURE_MEMORY:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= self._max_failures:
            doublings = row.failures - self._max_failures
            seconds = min(self._cap, self._base * 2 ** min(doublings, 20))
            row.locked_until = now + timedelta(seconds=seconds)
        self._session.flush()
        return row.locked_until

    def record_success(self, subject: str) -> None:
        row = self._session.get(LoginThrottle, _key(subject))
        if row is not None:
            self._session.delete(row)
            self._session.flush()


def _key(subject: str) -> str:
    return subject.strip().casefold()[:128]
