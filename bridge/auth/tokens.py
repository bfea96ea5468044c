"""Short-lived bearer tokens (JWT, HS256) for staff (password grant) and systems (client_credentials)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"


class TokenRejected(Exception):
    """Why a bearer token was not accepted (expired, bad signature, wrong audience, malformed)."""


@dataclass(frozen=True)
class TokenClaims:
    subject_kind: str  # "user" | "client"
    subject_id: str
    scope: str
    expires_at: datetime


class TokenService:
    def __init__(self, secret_key: str, issuer: str, audience: str, lifetime_seconds: int) -> None:
        self._key = secret_key
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime_seconds

    @property
    def lifetime_seconds(self) -> int:
        return self._lifetime

    def issue(self, subject_kind: str, subject_id: str, scope: str, organization_id: str, now: datetime) -> str:
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": f"{subject_kind}:{subject_id}",
            "scope": scope,
            "org": organization_id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self._lifetime)).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, now: datetime) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss", "scope"], "verify_exp": False},
            )
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected("wrong issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRejected("bad signature") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed token") from exc
        # Expiry is checked against the injected clock rather than the wall clock, for testability.
        expires_at = datetime.fromtimestamp(payload["exp"], tz=now.tzinfo)
        if expires_at <= now:
            raise TokenRejected("expired")
        kind, _, subject_id = str(payload["sub"]).partition(":")
        if kind not in {"user", "client"} or not subject_id:
            raise TokenRejected("malformed subject")
        return TokenClaims(kind, subject_id, str(payload["scope"]), expires_at)
