"""Security audit trail as FHIR AuditEvent resources (DICOM/IHE codes), searchable by supervisors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fhir_adapter.store.repository import ResourceRepository

from bridge.auth.principal import Principal
from bridge.directory.codes import NAMESPACE

logger = logging.getLogger(__name__)

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ACCOUNT_SYSTEM = f"{NAMESPACE}/sid/account"
CLIENT_SYSTEM = f"{NAMESPACE}/sid/client"


class AuditKind(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    TOKEN = "token"  # noqa: S105 - an enum value, not a secret
    ACCESS_DENIED = "access-denied"
    ACCOUNT_CHANGE = "account-change"


_TYPES: dict[AuditKind, tuple[tuple[str, str], tuple[str, str] | None, str]] = {
    # kind: (type code/display, subtype code/display, action)
    AuditKind.LOGIN: (("110114", "User Authentication"), ("110122", "Login"), "E"),
    AuditKind.LOGOUT: (("110114", "User Authentication"), ("110123", "Logout"), "E"),
    AuditKind.TOKEN: (("110114", "User Authentication"), ("110122", "Login"), "E"),
    AuditKind.ACCESS_DENIED: (("110113", "Security Alert"), None, "E"),
    AuditKind.ACCOUNT_CHANGE: (("110136", "Security Roles Changed"), None, "U"),
}


class Outcome(StrEnum):
    SUCCESS = "0"
    MINOR_FAILURE = "4"
    SERIOUS_FAILURE = "8"


@dataclass(frozen=True)
class Actor:
    """Who did it: a known principal, or only the name someone typed at a failed sign-in."""

    name: str
    system: str
    organization_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        system = ACCOUNT_SYSTEM if principal.is_user else CLIENT_SYSTEM
        return cls(principal.subject_id, system, principal.organization_id)


def record_audit_event(
    repository: ResourceRepository,
    kind: AuditKind,
    outcome: Outcome,
    actor: Actor,
    client_address: str | None,
    description: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    (type_code, type_display), subtype, action = _TYPES[kind]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": DCM, "code": type_code, "display": type_display},
        "action": action,
        "recorded": (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": outcome.value,
        "outcomeDesc": description[:1000],
        "agent": [
            {
                "who": {"identifier": {"system": actor.system, "value": actor.name[:128]}},
                "requestor": True,
                **({"network": {"address": client_address, "type": "2"}} if client_address else {}),
            }
        ],
        "source": {"observer": {"display": "nursing-home bridge"}},
    }
    if subtype:
        event["subtype"] = [{"system": DCM, "code": subtype[0], "display": subtype[1]}]
    if actor.organization_id:
        event["entity"] = [
            {
                "what": {"reference": f"Organization/{actor.organization_id}"},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "3", "display": "Organization"},
            }
        ]
    stored = repository.create(event)
    logger.info("audit %s outcome=%s actor=%s: %s", kind.value, outcome.value, actor.name, description)
    return stored


def recent_audit_events(
    repository: ResourceRepository, organization_ids: set[str] | None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest first; restricted to events naming the given organisations unless ``None`` (all)."""
    criteria: dict[str, list[str]] = {}
    if organization_ids is not None:
        criteria["entity"] = [f"Organization/{org}" for org in sorted(organization_ids)]
        if not organization_ids:
            return []
    events = repository.find("AuditEvent", criteria)
    events.sort(key=lambda e: e.get("recorded", ""), reverse=True)
    return events[:limit]
