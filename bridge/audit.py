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
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"


class AuditKind(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    TOKEN = "token"  # noqa: S105 - an enum value, not a secret
    ACCESS_DENIED = "access-denied"
    ACCOUNT_CHANGE = "account-change"
    # FHIR REST interactions, named as in http://hl7.org/fhir/restful-interaction
    READ = "read"
    VREAD = "vread"
    HISTORY = "history-instance"
    SEARCH = "search-type"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    TRANSACTION = "transaction"
    BATCH = "batch"


Coding = dict[str, str]
_AUTHENTICATION = {"system": DCM, "code": "110114", "display": "User Authentication"}
_REST = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
_REST_ACTIONS = {
    AuditKind.READ: "R",
    AuditKind.VREAD: "R",
    AuditKind.HISTORY: "R",
    AuditKind.SEARCH: "E",
    AuditKind.CREATE: "C",
    AuditKind.UPDATE: "U",
    AuditKind.DELETE: "D",
    AuditKind.TRANSACTION: "E",
    AuditKind.BATCH: "E",
}
_TYPES: dict[AuditKind, tuple[Coding, Coding | None, str]] = {
    # kind: (type, subtype, action)
    AuditKind.LOGIN: (_AUTHENTICATION, {"system": DCM, "code": "110122", "display": "Login"}, "E"),
    AuditKind.LOGOUT: (_AUTHENTICATION, {"system": DCM, "code": "110123", "display": "Logout"}, "E"),
    AuditKind.TOKEN: (_AUTHENTICATION, {"system": DCM, "code": "110122", "display": "Login"}, "E"),
    AuditKind.ACCESS_DENIED: ({"system": DCM, "code": "110113", "display": "Security Alert"}, None, "E"),
    AuditKind.ACCOUNT_CHANGE: ({"system": DCM, "code": "110136", "display": "Security Roles Changed"}, None, "U"),
    **{
        kind: (_REST, {"system": RESTFUL_INTERACTION, "code": kind.value, "display": kind.value}, action)
        for kind, action in _REST_ACTIONS.items()
    },
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
    display: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        system = ACCOUNT_SYSTEM if principal.is_user else CLIENT_SYSTEM
        return cls(principal.subject_id, system, principal.organization_id, principal.display_name)


def record_audit_event(
    repository: ResourceRepository,
    kind: AuditKind,
    outcome: Outcome,
    actor: Actor,
    client_address: str | None,
    description: str,
    now: datetime | None = None,
    entities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Record one AuditEvent; ``entities`` names what was touched (resources, patients, a query)."""
    event_type, subtype, action = _TYPES[kind]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": event_type,
        "action": action,
        # microseconds: the form FHIR instant validation normalises to (so skipping it changes nothing)
        "recorded": (now or datetime.now(UTC))
        .astimezone(UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z"),
        "outcome": outcome.value,
        "outcomeDesc": description[:1000],
        "agent": [
            {
                "who": {
                    "identifier": {"system": actor.system, "value": actor.name[:128]},
                    **({"display": actor.display[:128]} if actor.display else {}),
                },
                "requestor": True,
                **({"network": {"address": client_address, "type": "2"}} if client_address else {}),
            }
        ],
        "source": {"observer": {"display": "nursing-home bridge"}},
    }
    if subtype:
        event["subtype"] = [subtype]
    named = list(entities or [])
    if actor.organization_id:
        named.insert(0, organization_entity(actor.organization_id))
    if named:
        event["entity"] = named
    # Built here from fixed codes and checked values (tests/bridge/test_audit.py shows validation would
    # return it unchanged, and Medplum accepts it), so the costly model validation is skipped: every
    # FHIR request writes one of these.
    stored = repository.create(event, validated=True)
    logger.info("audit %s outcome=%s actor=%s: %s", kind.value, outcome.value, actor.name, description)
    return stored


def organization_entity(organization_id: str) -> dict[str, Any]:
    return {
        "what": {"reference": f"Organization/{organization_id}"},
        "type": {"system": AUDIT_ENTITY_TYPE, "code": "3", "display": "Organization"},
    }


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
