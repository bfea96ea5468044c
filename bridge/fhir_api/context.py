"""One FHIR request's context: the unit of work, who is calling, from where, and the access rules."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fhir_adapter.compartment import PATIENT_LINK, linked_patient_ids
from fhir_adapter.errors import not_found
from fhir_adapter.store.history import version_records

from bridge.audit import Actor, AuditKind, Outcome, organization_entity, record_audit_event
from bridge.auth.principal import Principal
from bridge.fhir_api.access import FhirAccess
from bridge.services import Services

AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
MAX_AUDITED_PATIENTS = 50
# Reads of these carry patient data and are audited; writes of every type are audited.
AUDITED_READ_TYPES = frozenset(PATIENT_LINK) | {"Provenance"}


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

    def audit(
        self,
        kind: AuditKind,
        description: str,
        resources: Sequence[dict[str, Any]] = (),
        *,
        query: str | None = None,
        outcome: Outcome = Outcome.SUCCESS,
    ) -> None:
        record_audit_event(
            self.services.repository,
            kind,
            outcome,
            Actor.of(self.principal),
            self.client_address,
            description,
            self.services.now(),
            audit_entities(self.services, resources, query),
        )


def audit_entities(services: Services, resources: Sequence[dict[str, Any]], query: str | None) -> list[dict[str, Any]]:
    """What an interaction touched: each resource, the residents involved and their homes, the query."""
    entities: list[dict[str, Any]] = []
    patients: dict[str, None] = {}
    for resource in resources[:MAX_AUDITED_PATIENTS]:
        version = resource.get("meta", {}).get("versionId")
        reference = f"{resource['resourceType']}/{resource['id']}" + (f"/_history/{version}" if version else "")
        entities.append(
            {
                "what": {"reference": reference},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
            }
        )
        patients.update(dict.fromkeys(linked_patient_ids(resource)))
    homes: dict[str, None] = {}
    for patient_id in list(patients)[:MAX_AUDITED_PATIENTS]:
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
    # Supervisors find events by organisation: name the residents' homes as well as the actor's.
    entities.extend(organization_entity(home) for home in homes)
    if query is not None:
        entities.append(
            {
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
                "query": base64.b64encode(query.encode()).decode(),
                "description": query[:1000],
            }
        )
    return entities
