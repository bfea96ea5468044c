"""One FHIR request's context: the unit of work, who is calling, from where, and the access rules."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fhir_adapter.compartment import PATIENT_LINK, linked_patient_ids
from fhir_adapter.errors import OperationOutcomeError, not_found
from fhir_adapter.store.history import version_records

from bridge.audit import Actor, AuditKind, Outcome, organization_entity, record_audit_event
from bridge.auth.principal import Principal
from bridge.fhir_api.access import FhirAccess
from bridge.services import Services

AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SYSTEM_OBJECT = {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"}
MAX_AUDITED_PATIENTS = 50
# Reads of these carry patient data and are audited; writes of every type are audited.
AUDITED_READ_TYPES = frozenset(PATIENT_LINK) | {"Provenance"}


@dataclass(frozen=True)
class Attempt:
    """An interaction as the route names it before running it, so that a failure can be audited."""

    kind: AuditKind
    description: str
    target: str | None = None  # Type/id when the interaction is about one resource


@dataclass
class FhirContext:
    services: Services
    principal: Principal
    base_url: str
    client_address: str | None

    @cached_property
    def access(self) -> FhirAccess:
        return FhirAccess(self.services.policy, self.services.repository, self.principal)

    def latest_visible(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """The newest stored content (even of a deleted resource), or 404 when the caller may not see it."""
        _, versions = version_records(self.services.db, resource_type, resource_id, count=1)
        if not self.access.readable(versions[0].content):
            # The same answer as for a resource that never existed, so existence does not leak.
            raise not_found(resource_type, resource_id)
        return versions[0].content

    def audit(self, kind: AuditKind, description: str, resources: Sequence[dict[str, Any]] = ()) -> None:
        self._record(kind, description, audit_entities(self.services, resources))

    def audit_search(self, description: str, found: Sequence[dict[str, Any]], query: str) -> None:
        patients = {pid: None for resource in found for pid in linked_patient_ids(resource)}
        self._record(
            AuditKind.SEARCH, description, [*patient_entities(self.services, list(patients)), query_entity(query)]
        )

    def _record(self, kind: AuditKind, description: str, entities: list[dict[str, Any]]) -> None:
        record_audit_event(
            self.services.repository,
            kind,
            Outcome.SUCCESS,
            Actor.of(self.principal),
            self.client_address,
            description,
            self.services.now(),
            entities,
        )


def attempted_entities(services: Services, target: str | None) -> list[dict[str, Any]]:
    """What a failed interaction was aimed at: the stored record when there is one (whoever may see it),
    so its resident and home are named and the home's supervisors see attempts on their residents."""
    if target is None:
        return []
    resource_type, _, resource_id = target.partition("/")
    try:
        _, versions = version_records(services.db, resource_type, resource_id, count=1)
    except OperationOutcomeError:
        return [
            {
                "what": {"reference": target},
                "type": SYSTEM_OBJECT,
            }
        ]
    return audit_entities(services, [versions[0].content])


def audit_entities(services: Services, resources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an interaction touched: each resource, and the residents involved and their homes."""
    entities: list[dict[str, Any]] = []
    patients: dict[str, None] = {}
    for resource in resources[:MAX_AUDITED_PATIENTS]:
        version = resource.get("meta", {}).get("versionId")
        reference = f"{resource['resourceType']}/{resource['id']}" + (f"/_history/{version}" if version else "")
        entities.append({"what": {"reference": reference}, "type": SYSTEM_OBJECT})
        patients.update(dict.fromkeys(linked_patient_ids(resource)))
    return entities + patient_entities(services, list(patients))


def patient_entities(services: Services, patient_ids: list[str]) -> list[dict[str, Any]]:
    """The residents, then their homes: supervisors find events by organisation."""
    entities: list[dict[str, Any]] = []
    homes: dict[str, None] = {}
    for patient_id in patient_ids[:MAX_AUDITED_PATIENTS]:
        entities.append(
            {
                "what": {"reference": f"Patient/{patient_id}"},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
        home = services.residents.home_id_of(patient_id)
        if home:
            homes[home] = None
    return entities + [organization_entity(home) for home in homes]


def query_entity(query: str) -> dict[str, Any]:
    return {"type": SYSTEM_OBJECT, "query": base64.b64encode(query.encode()).decode(), "description": query[:1000]}
