"""Which search parameter ties each resource type to the Patient it is about (after the R4 Patient
CompartmentDefinition, narrowed to the one link each type's records actually use)."""

from __future__ import annotations

from typing import Any

from fhir_adapter.bindings import walk
from fhir_adapter.search_params import params_for
from fhir_adapter.store.indexing import reference_key

PATIENT_LINK: dict[str, str] = {
    "Patient": "_id",
    "Encounter": "patient",
    "Observation": "patient",
    "DiagnosticReport": "patient",
    "MedicationRequest": "patient",
    "MedicationDispense": "patient",
    "Task": "patient",
    "Communication": "patient",
    "ServiceRequest": "patient",
    "AllergyIntolerance": "patient",
    "Condition": "patient",
    "Consent": "patient",
    "DocumentReference": "patient",
    "Device": "patient",
}


def patient_link_paths(resource_type: str) -> tuple[str, ...]:
    link = PATIENT_LINK.get(resource_type)
    if link is None or link == "_id":
        return ()
    return params_for(resource_type)[link].paths


def linked_patient_ids(resource: dict[str, Any]) -> set[str]:
    """Ids of the Patients a resource is about (its own id for a Patient)."""
    resource_type = resource.get("resourceType", "")
    if resource_type == "Patient":
        return {str(resource["id"])} if resource.get("id") else set()
    found: set[str] = set()
    for path in patient_link_paths(resource_type):
        for element in walk(resource, path):
            key = reference_key(element.get("reference")) if isinstance(element, dict) else None
            if key and key.startswith("Patient/"):
                found.add(key.split("/", 1)[1])
    return found
