"""An internet hospital's own FHIR endpoint: where its residents' new results are pushed.

Set by the hospital's admins (portal/outbox_pages.py) or the operator (`bridge endpoint`). The URL must
be http(s) without credentials, query or fragment; outside demo mode plain http is refused except to
this machine (localhost, 127.0.0.0/8, ::1): clinical data crosses networks only over TLS, while a
FHIR server on the same host (a test peer, a local gateway) needs no certificate. The bearer token is
stored as given because it must be sent as given; it is never logged and never shown back, only its
last characters so an admin can tell which one is set.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from bridge.audit import ACCOUNT_SYSTEM, Actor, AuditKind, Outcome, organization_entity, record_audit_event
from bridge.directory.codes import OrgKind
from bridge.errors import FieldError, InvalidInput, NotFound
from bridge.outbox.tables import HospitalEndpoint
from bridge.services import Services

logger = logging.getLogger(__name__)

HOSPITAL_FHIR = "hospital-fhir"  # the outbox destination kind of a hospital's FHIR endpoint
FHIR_JSON = "application/fhir+json"
MAX_URL_LENGTH = 500
MAX_TOKEN_LENGTH = 4096
TOKEN_HINT_CHARS = 4
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class EndpointView:
    """What may be shown of an endpoint: everything but the token."""

    organization_id: str
    base_url: str
    token_hint: str | None  # e.g. "…x7Qa", or None without a token
    active: bool
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    detail: str


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(url: str, *, demo_mode: bool) -> str:
    """The base URL without a trailing slash; InvalidInput (field ``url``) when it may not be used."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput([FieldError("url", "endpoint.error.url_invalid")]) from None
    if not url or len(url) > MAX_URL_LENGTH or parts.scheme not in {"http", "https"} or not host:
        raise InvalidInput([FieldError("url", "endpoint.error.url_invalid")])
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        # Credentials in a URL end up in logs and on pages; the token field is the place for them.
        raise InvalidInput([FieldError("url", "endpoint.error.url_extras")])
    if parts.scheme == "http" and not demo_mode and not _is_loopback(host):
        raise InvalidInput([FieldError("url", "endpoint.error.url_https")])
    return url.rstrip("/")


def _checked_token(token: str) -> str:
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise InvalidInput([FieldError("token", "endpoint.error.token_invalid")])
    return token


def token_hint(token: str | None) -> str | None:
    if not token:
        return None
    # Short tokens show nothing of themselves: four characters of eight would be half the secret.
    return "…" + token[-TOKEN_HINT_CHARS:] if len(token) >= 4 * TOKEN_HINT_CHARS else "…"


def view_of(row: HospitalEndpoint) -> EndpointView:
    return EndpointView(
        row.organization_id, row.base_url, token_hint(row.bearer_token), row.active, row.updated_at, row.updated_by
    )


class HospitalEndpoints:
    """Endpoints in the unit of work of `services`; callers check who may manage which hospital."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def get(self, organization_id: str) -> HospitalEndpoint | None:
        return self.services.db.get(HospitalEndpoint, organization_id)

    def active_for(self, organization_ids: set[str]) -> dict[str, HospitalEndpoint]:
        if not organization_ids:
            return {}
        rows = self.services.db.scalars(
            select(HospitalEndpoint).where(
                HospitalEndpoint.organization_id.in_(sorted(organization_ids)), HospitalEndpoint.active.is_(True)
            )
        ).all()
        return {row.organization_id: row for row in rows}

    def set(
        self,
        organization_id: str,
        url: str,
        token: str | None,
        actor: Actor,
        *,
        clear_token: bool = False,
        active: bool = True,
    ) -> EndpointView:
        """Create or change the endpoint. `token` None keeps the stored one unless `clear_token`. An
        inactive endpoint is kept but gets no pushes, as if there were none."""
        self._require_hospital(organization_id)
        base_url = checked_url(url, demo_mode=self.services.settings.demo_mode)
        new_token = _checked_token(token) if token is not None else None
        row = self.get(organization_id)
        now = self.services.now()
        if row is None:
            row = HospitalEndpoint(organization_id=organization_id)
            self.services.db.add(row)
        row.base_url = base_url
        if new_token is not None:
            row.bearer_token = new_token
        elif clear_token:
            row.bearer_token = None
        row.active = active
        row.updated_at = now
        row.updated_by = actor.name
        self.services.db.flush()
        state = "" if active else " (inactive)"
        self._audit(actor, organization_id, f"FHIR endpoint of {organization_id} set to {base_url}{state}")
        return view_of(row)

    def remove(self, organization_id: str, actor: Actor) -> bool:
        """Forget the endpoint; deliveries still queued for it fail and can be retried once one is set."""
        row = self.get(organization_id)
        if row is None:
            return False
        self.services.db.delete(row)
        self.services.db.flush()
        self._audit(actor, organization_id, f"FHIR endpoint of {organization_id} removed")
        return True

    def _require_hospital(self, organization_id: str) -> None:
        if self.services.organizations.kind_of(organization_id) is not OrgKind.INTERNET_HOSPITAL:
            raise NotFound("endpoint.error.not_hospital", org=organization_id)

    def _audit(self, actor: Actor, organization_id: str, description: str) -> None:
        # Where clinical data is sent is a security setting: supervisors see every change of it.
        record_audit_event(
            self.services.repository,
            AuditKind.ACCOUNT_CHANGE,
            Outcome.SUCCESS,
            actor,
            None,
            description,
            self.services.now(),
            entities=[organization_entity(organization_id)] if actor.organization_id != organization_id else None,
        )
        logger.info("%s by %s", description, actor.name)


def cli_actor(user: str) -> Actor:
    return Actor(f"cli:{user}", ACCOUNT_SYSTEM, None, f"command line ({user})")


def check_connection(base_url: str, token: str | None, timeout: float) -> ConnectionCheck:
    """GET [base]/metadata as a push would be sent (same headers and token): reachable, authorised, FHIR?
    It writes nothing at the hospital."""
    headers = {"Accept": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.get(f"{base_url}/metadata", headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return ConnectionCheck(False, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return ConnectionCheck(False, f"{type(exc).__name__}: {exc}"[:300])
    if not response.is_success:
        return ConnectionCheck(False, f"HTTP {response.status_code} {response.reason_phrase}")
    try:
        body = response.json()
    except ValueError:
        return ConnectionCheck(False, f"HTTP {response.status_code}, but not FHIR JSON")
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if not isinstance(kind, str):
        return ConnectionCheck(False, f"HTTP {response.status_code}, but not FHIR JSON")
    version = body.get("fhirVersion")
    return ConnectionCheck(True, f"HTTP {response.status_code}, {kind}" + (f" (FHIR {version})" if version else ""))
