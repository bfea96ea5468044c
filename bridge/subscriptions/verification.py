"""For a pharmacy's receiver: is a notification from the bridge, and is it new?

Pure Python, standard library only, so a pharmacy can copy this file as it is. Every notification is
POSTed with ``X-Bridge-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body bytes keyed with the
pharmacy client's own secret (the one it signs in with). Check it before parsing anything, on the raw
bytes as received.

The bridge may deliver an event more than once (an answer lost on the way back is retried); each copy is
a new Bundle (new id and timestamp) with the same event number, so a receiver processes an event number
once (``ReplayGuard.event_is_new``). The very same body arriving twice is never a retry: it is a
replay of a captured request, and ``ReplayGuard.admit`` refuses it, as it refuses a body too old.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SIGNATURE_HEADER = "X-Bridge-Signature"
_PREFIX = "sha256="


def signature(body: bytes, secret: str) -> str:
    """The header value the bridge sends for this body."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_notification(body: bytes, signature_header: str | None, secret: str) -> bool:
    """True when the header is the HMAC of exactly these bytes under `secret` (constant-time compare)."""
    if not signature_header or not secret or not signature_header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(signature_header.strip().encode(), signature(body, secret).encode())


@dataclass(frozen=True)
class NotificationKey:
    subscription: str
    kind: str  # handshake | heartbeat | event-notification
    event_numbers: tuple[int, ...]
    timestamp: datetime | None


def notification_key(body: bytes) -> NotificationKey | None:
    """Subscription, type, event numbers and timestamp of a notification Bundle; None if it is not one."""
    try:
        bundle = json.loads(body)
        status = bundle["entry"][0]["resource"]
        parameters = status["parameter"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    values: dict[str, Any] = {}
    numbers: list[int] = []
    for parameter in parameters:
        name = parameter.get("name")
        if name == "notification-event":
            numbers += [int(p["valueString"]) for p in parameter.get("part", []) if p.get("name") == "event-number"]
        elif name in {"subscription", "type"}:
            values[name] = parameter.get("valueReference", {}).get("reference") or parameter.get("valueCode")
    if not values.get("subscription") or not values.get("type"):
        return None
    return NotificationKey(str(values["subscription"]), str(values["type"]), tuple(numbers), _instant(bundle))


def _instant(bundle: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(bundle["timestamp"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None


class ReplayGuard:
    """Remembers what a receiver accepted (bounded, oldest forgotten first)."""

    def __init__(self, max_age: timedelta = timedelta(minutes=10), capacity: int = 100_000) -> None:
        self.max_age = max_age
        self.capacity = capacity
        self._bodies: OrderedDict[tuple[str, str, tuple[int, ...], str], None] = OrderedDict()
        self._events: OrderedDict[tuple[str, int], None] = OrderedDict()

    def admit(self, body: bytes, now: datetime | None = None) -> bool:
        """False for a body seen before (a replay) or older than `max_age` (a late replay); call it only
        after `verify_notification` accepted the signature."""
        key = notification_key(body)
        if key is None or key.timestamp is None:
            return False
        if (now or datetime.now(UTC)) - key.timestamp > self.max_age:
            return False
        digest = hashlib.sha256(body).hexdigest()
        remembered = (key.subscription, key.kind, key.event_numbers, digest)
        if remembered in self._bodies:
            return False
        _remember(self._bodies, remembered, self.capacity)
        return True

    def event_is_new(self, subscription: str, event_number: int) -> bool:
        """True the first time an event number of a subscription is seen: process it then, skip copies."""
        if (subscription, event_number) in self._events:
            return False
        _remember(self._events, (subscription, event_number), self.capacity)
        return True


def _remember(store: OrderedDict[Any, None], key: Any, capacity: int) -> None:
    store[key] = None
    while len(store) > capacity:
        store.popitem(last=False)
