"""The AuditEvents the bridge builds are valid as built: storing them skips model validation (they are
written on every request), so validation must provably change nothing, and Medplum must accept them."""

from __future__ import annotations

from typing import Any

from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.validation import validate_resource

from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.fhir_api.context import query_entity
from tests.fhir_peer import MedplumValidator, assert_all_pass


class _Recorder(SqlResourceRepository):
    """Keeps what would be stored; the storage itself is tested elsewhere."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(
        self, resource: dict[str, Any], resource_id: str | None = None, *, validated: bool = False
    ) -> dict[str, Any]:
        self.created.append({**resource, "id": "event-1"})
        return resource


def _events() -> list[dict[str, Any]]:
    recorder = _Recorder()
    actor = Actor("3f1c", "https://nhbridge.org/fhir/sid/account", "demo-home-1", "王芳")
    entities = [
        {
            "what": {"reference": "Observation/o1/_history/2"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object",
            },
        },
        {
            "what": {"reference": "Patient/p1"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        },
        query_entity("Observation?patient=Patient%2Fp1&code=http%3A%2F%2Floinc.org%7C8867-4"),
    ]
    for kind in AuditKind:
        for outcome in (Outcome.SUCCESS, Outcome.MINOR_FAILURE):
            record_audit_event(recorder, kind, outcome, actor, "127.0.0.1", f"{kind.value} 测试", None, entities)
    record_audit_event(
        recorder, AuditKind.LOGIN, Outcome.MINOR_FAILURE, Actor("someone", "urn:typed"), None, "bad password"
    )
    return recorder.created


def test_validation_would_change_nothing_in_the_events_the_bridge_builds() -> None:
    for event in _events():
        assert validate_resource(event) == event


def test_medplum_accepts_every_kind_of_event(medplum: MedplumValidator) -> None:
    assert_all_pass(medplum.validate(_events()))
