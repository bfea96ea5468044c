"""Who is on a signalling socket: staff by session cookie (same origin only) or bearer token, a bedside
station by its client token, an invited guest by a guest token, or the recorder by its own token."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.auth.resolve import principal_from_bearer, principal_from_session
from bridge.auth.sessions import SESSION_COOKIE
from bridge.consults.caller import Caller, caller_from_principal
from bridge.consults.invitations import guest_still_admitted
from bridge.consults.states import ParticipantRole
from bridge.directory.codes import OrgKind
from bridge.errors import AuthenticationRequired
from bridge.services import Services
from bridge.signalling.tokens import GUEST, SignalTokenRejected, verify_signal_token

logger = logging.getLogger(__name__)

GUEST_COOKIE = "nhb_guest"


class SignalAuthError(Exception):
    pass


@dataclass(frozen=True)
class Handshake:
    """What the upgrade request carried, as plain values (the route copies them out of Starlette)."""

    authorization: str | None
    cookies: Mapping[str, str]
    origin: str | None
    host: str | None
    scheme: str  # ws or wss
    guest_token: str | None  # ?guest=


@dataclass(frozen=True)
class Identity:
    caller: Caller
    kind: str  # user | client | guest | recorder
    staff_role: Role | None = None
    organization_kind: OrgKind | None = None
    # Nurses and doctors hear of their residents' new results (bridge/results/news.py); they and
    # pharmacists hear of prescriptions moving (bridge/prescriptions/news.py).
    hears_results: bool = False

    @property
    def is_supervisor(self) -> bool:
        return self.staff_role is Role.SUPERVISOR

    def welcome_you(self) -> dict[str, str | None]:
        role = self.staff_role.value if self.staff_role else (self.caller.role.value if self.caller.role else None)
        return {
            "kind": self.kind,
            "id": self.caller.reference,
            "display": self.caller.display,
            "role": role,
            "organization": self.caller.organization_id or None,
        }


def authenticate(services: Services, handshake: Handshake) -> Identity:
    """Raises SignalAuthError when the socket carries no credentials that hold now."""
    bearer = _bearer(handshake.authorization)
    if bearer:
        try:
            return _from_signal_token(services, bearer)
        except SignalTokenRejected:
            pass  # not a guest or recorder token: a staff or client token
        try:
            return _from_principal(principal_from_bearer(services, bearer))
        except AuthenticationRequired as exc:
            raise SignalAuthError("the bearer token is invalid or expired") from exc
    if handshake.guest_token:
        return _guest_or_refuse(services, handshake.guest_token)
    session_cookie = handshake.cookies.get(SESSION_COOKIE)
    guest_cookie = handshake.cookies.get(GUEST_COOKIE)
    if (session_cookie or guest_cookie) and not same_origin(handshake, services.settings.public_base_url):
        # A page on another site could otherwise open a socket with the user's cookie.
        raise SignalAuthError(f"origin {handshake.origin!r} may not use the bridge's cookies")
    if session_cookie:
        principal = principal_from_session(services, services.browser_sessions.resolve(session_cookie, services.now()))
        if principal is not None:
            return _from_principal(principal)
    if guest_cookie:
        return _guest_or_refuse(services, guest_cookie)
    raise SignalAuthError("no credentials")


def _guest_or_refuse(services: Services, token: str) -> Identity:
    try:
        return _from_signal_token(services, token)
    except SignalTokenRejected as exc:
        raise SignalAuthError(f"the guest token is invalid or expired ({exc})") from exc


def same_origin(handshake: Handshake, public_base_url: str) -> bool:
    if not handshake.origin:
        return False
    origin = handshake.origin.rstrip("/").lower()
    if origin == public_base_url.lower():
        return True
    own_scheme = "https" if handshake.scheme == "wss" else "http"
    return handshake.host is not None and origin == f"{own_scheme}://{handshake.host.lower()}"


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignalAuthError("the Authorization header is not a bearer token")
    return token.strip()


def _from_principal(principal: Principal) -> Identity:
    return Identity(
        caller=caller_from_principal(principal),
        kind=principal.kind.value,
        staff_role=principal.role,
        organization_kind=principal.organization_kind,
        hears_results=principal.role in {Role.NURSE, Role.DOCTOR, Role.PHARMACIST},
    )


def _from_signal_token(services: Services, token: str) -> Identity:
    claims = verify_signal_token(services.runtime, token)
    if claims.kind == GUEST:
        if not guest_still_admitted(services, claims.subject_id):
            raise SignalAuthError("the invitation was withdrawn or its consult is over")
        caller = Caller(
            reference=f"guest:{claims.subject_id}",
            display=claims.display,
            organization_id="",
            role=ParticipantRole(claims.role),
            guest_consult_id=claims.consult_id,
        )
        return Identity(caller=caller, kind=GUEST)
    caller = Caller(
        reference=f"recorder:{claims.subject_id}",
        display=claims.display,
        organization_id="",
        role=ParticipantRole.RECORDER,
    )
    return Identity(caller=caller, kind="recorder")
