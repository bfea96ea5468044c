"""Validate FHIR R4 JSON: structure through fhir.resources (R4B models, wire-compatible with R4 for the
types the bridge stores) and the required code bindings those models leave unchecked."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_adapter.bindings import binding_violations
from fhir_adapter.errors import Issue, OperationOutcomeError

SUPPORTED_TYPES = frozenset(
    {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "OrganizationAffiliation",
        "Location",
        "Encounter",
        "Observation",
        "DiagnosticReport",
        "Medication",
        "MedicationRequest",
        "MedicationDispense",
        "Task",
        "Communication",
        "ServiceRequest",
        "AllergyIntolerance",
        "Condition",
        "Consent",
        "Provenance",
        "AuditEvent",
        "Subscription",
        "Device",
        "DocumentReference",
    }
)


def validate_resource(resource: Any, expected_type: str | None = None) -> dict[str, Any]:
    """Return the resource as normalised JSON, or raise OperationOutcomeError (422/400) naming each fault."""
    if not isinstance(resource, dict):
        raise OperationOutcomeError.single(400, "structure", "a FHIR resource must be a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in SUPPORTED_TYPES:
        raise OperationOutcomeError.single(
            400, "not-supported", f"resourceType {resource_type!r} is not supported by this server"
        )
    if expected_type is not None and resource_type != expected_type:
        raise OperationOutcomeError.single(
            400, "invalid", f"expected a {expected_type}, got a {resource_type}", "resourceType"
        )
    model_class = get_fhir_model_class(resource_type)
    try:
        model = model_class.model_validate(resource)
    except ValidationError as exc:
        issues = [
            Issue("error", "structure", f"{err['msg']}", (_expression(resource_type, err["loc"]),))
            for err in exc.errors()
        ]
        raise OperationOutcomeError(422, issues) from None
    normalised: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True))
    violations = binding_violations(normalised)
    if violations:
        raise OperationOutcomeError(
            422, [Issue("error", "code-invalid", message, (expression,)) for expression, message in violations]
        )
    return normalised


def _expression(resource_type: str, location: tuple[int | str, ...]) -> str:
    parts = [resource_type]
    for step in location:
        if isinstance(step, int):
            parts[-1] = f"{parts[-1]}[{step}]"
        else:
            parts.append(str(step))
    return ".".join(parts)
