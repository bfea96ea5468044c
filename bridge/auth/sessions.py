"""Browser sessions: an opaque random cookie, its hash stored, ended after inactivity or at logout."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bridge.clock import as_utc
from bridge.db.tables import Account, BrowserSession

SESSION_COOKIE = "bridge_session"


@dataclass(frozen=True)
class StartedSession:
    cookie_value: str
    csrf_token: str


@dataclass(frozen=True)
class SessionLookup:
    account: Account | None
    session: BrowserSession | None
    ended_reason: str | None = None  # "idle" | "expired" | "logout" | "unknown"


class SessionService:
    def __init__(self, session: Session, idle_timeout: timedelta, max_age: timedelta) -> None:
        self._db = session
        self._idle = idle_timeout
        self._max_age = max_age

    def start(self, account: Account, now: datetime, client_address: str | None) -> StartedSession:
        cookie_value = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self._db.add(
            BrowserSession(
                token_hash=_digest(cookie_value),
                account_id=account.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                client_address=(client_address or "")[:64] or None,
            )
        )
        self._db.flush()
        return StartedSession(cookie_value, csrf)

    def resolve(self, cookie_value: str, now: datetime) -> SessionLookup:
        row = self._db.get(BrowserSession, _digest(cookie_value))
        if row is None:
            return SessionLookup(None, None, "unknown")
        if row.ended_at is not None:
            return SessionLookup(None, None, row.end_reason or "logout")
        if now - as_utc(row.last_seen_at) > self._idle:
            self._end(row, now, "idle")
            return SessionLookup(None, None, "idle")
        if now - as_utc(row.created_at) > self._max_age:
            self._end(row, now, "expired")
            return SessionLookup(None, None, "expired")
        account = self._db.get(Account, row.account_id)
        if account is None or not account.active:
            self._end(row, now, "disabled")
            return SessionLookup(None, None, "disabled")
        row.last_seen_at = now
        return SessionLookup(account, row)

    def end(self, cookie_value: str, now: datetime, reason: str = "logout") -> None:
        row = self._db.get(BrowserSession, _digest(cookie_value))
        if row is not None and row.ended_at is None:
            self._end(row, now, reason)

    @staticmethod
    def _end(row: BrowserSession, now: datetime, reason: str) -> None:
        row.ended_at, row.end_reason = now, reason


def _digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()
