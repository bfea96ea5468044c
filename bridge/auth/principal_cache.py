"""Callers resolved from bearer tokens, reused for a few seconds.

Resolving a bearer token reads the account (or client) and its Organization: two database round trips
on every FHIR request. A system pushing readings sends many requests a second with one token, so the
resolved Principal is kept, keyed by a hash of the token, for at most ``ttl``:

- a deactivated (or re-scoped, or moved) account or client keeps access at most ``ttl`` after the
  change, on every instance (each holds its own cache); the token's own expiry is checked on every hit;
- an entry is never used before the moment it was resolved (a clock set back does not extend it);
- at most ``max_entries`` tokens are held: expired entries go first, then the oldest.

Browser sessions are not cached: every request moves their idle deadline in the database.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.auth.principal import Principal

DEFAULT_MAX_ENTRIES = 4096


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    resolved_at: datetime
    valid_until: datetime  # the earlier of resolved_at + ttl and the token's expiry


class PrincipalCache:
    def __init__(self, ttl: timedelta, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[bytes, _Entry] = {}  # insertion order: oldest first
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0)

    def get(self, token: str, now: datetime) -> Principal | None:
        if not self.enabled:
            return None
        key = _key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.resolved_at <= now < entry.valid_until:
                return entry.principal
            del self._entries[key]
            return None

    def put(self, token: str, principal: Principal, token_expires_at: datetime, now: datetime) -> None:
        if not self.enabled:
            return
        entry = _Entry(principal, now, min(now + self.ttl, token_expires_at))
        key = _key(token)
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self._max_entries:
                self._evict(now)
            self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self, now: datetime) -> None:
        stale = [key for key, entry in self._entries.items() if not entry.resolved_at <= now < entry.valid_until]
        for key in stale:
            del self._entries[key]
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]


def _key(token: str) -> bytes:
    # A digest, so the cache never holds usable bearer tokens.
    return hashlib.sha256(token.encode()).digest()
