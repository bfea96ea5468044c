"""Signalling-only credentials: guest tokens for invited people and the recorder's token.

They are JWTs signed with the bridge's key like staff tokens, but with their own audience, so that
neither can ever be used on the FHIR API or the portal, and a staff token is never taken for one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from bridge.runtime import Runtime

ALGORITHM = "HS256"
GUEST = "guest"
RECORDER = "recorder"
RECORDER_TOKEN_LIFETIME = timedelta(minutes=15)


class SignalTokenRejected(Exception):
    pass


@dataclass(frozen=True)
class SignalClaims:
    kind: str  # GUEST | RECORDER
    subject_id: str
    display: str
    role: str
    consult_id: str | None
    expires_at: datetime


def _audience(runtime: Runtime) -> str:
    return f"{runtime.settings.public_base_url}/ws/signal"


def _issue(runtime: Runtime, claims: dict[str, Any], lifetime: timedelta) -> str:
    now = runtime.clock.now()
    payload = {
        "iss": runtime.settings.public_base_url,
        "aud": _audience(runtime),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode(payload, runtime.settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


def issue_guest_token(
    runtime: Runtime, guest_id: str, consult_id: str, role: str, display: str, lifetime: timedelta
) -> str:
    claims = {"typ": GUEST, "sub": guest_id, "consult": consult_id, "role": role, "name": display}
    return _issue(runtime, claims, lifetime)


def issue_recorder_token(runtime: Runtime, recorder_id: str | None = None) -> str:
    """For a recorder worker of this deployment (it shares the bridge's key); a worker passes the same
    `recorder_id` every time, so that after a reconnect it is the same participant."""
    subject = recorder_id or f"recorder-{uuid.uuid4().hex[:12]}"
    claims = {"typ": RECORDER, "sub": subject, "role": RECORDER, "name": "recorder"}
    return _issue(runtime, claims, RECORDER_TOKEN_LIFETIME)


def verify_signal_token(runtime: Runtime, token: str) -> SignalClaims:
    try:
        payload = jwt.decode(
            token,
            runtime.settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=_audience(runtime),
            issuer=runtime.settings.public_base_url,
            options={"require": ["exp", "iat", "sub", "aud", "iss", "typ"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise SignalTokenRejected(str(exc)) from exc
    now = runtime.clock.now()
    expires_at = datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo)
    if expires_at <= now:
        raise SignalTokenRejected("expired")
    kind = payload.get("typ")
    if kind not in {GUEST, RECORDER}:
        raise SignalTokenRejected("not a signalling token")
    consult = payload.get("consult")
    if kind == GUEST and not isinstance(consult, str):
        raise SignalTokenRejected("a guest token names its consult")
    return SignalClaims(
        kind=str(kind),
        subject_id=str(payload["sub"]),
        display=str(payload.get("name") or kind),
        role=str(payload.get("role") or kind),
        consult_id=consult if isinstance(consult, str) else None,
        expires_at=expires_at,
    )
