"""Clinicians: a Practitioner with a PractitionerRole at one organisation."""

from __future__ import annotations

from typing import Any

from bridge.accounts.roles import Role
from bridge.directory.codes import PRACTITIONER_LICENCE_SYSTEM, PRACTITIONER_ROLE_SYSTEM

# HL7 practitioner-role codes for the staff roles that are clinicians.
ROLE_CODES = {
    Role.DOCTOR: ("doctor", "Doctor"),
    Role.NURSE: ("nurse", "Nurse"),
    Role.PHARMACIST: ("pharmacist", "Pharmacist"),
}


def practitioner_resource(
    resource_id: str, family: str, given: str, gender: str, licence: str | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": resource_id,
        "active": True,
        "name": [{"text": f"{family}{given}", "family": family, "given": [given]}],
        "gender": gender,
    }
    if licence:
        resource["identifier"] = [{"system": PRACTITIONER_LICENCE_SYSTEM, "value": licence}]
    return resource


def practitioner_role_resource(
    resource_id: str, practitioner_id: str, organization_id: str, role: Role, specialty: str | None = None
) -> dict[str, Any]:
    code, display = ROLE_CODES[role]
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": resource_id,
        "active": True,
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "organization": {"reference": f"Organization/{organization_id}"},
        "code": [{"coding": [{"system": PRACTITIONER_ROLE_SYSTEM, "code": code, "display": display}]}],
    }
    if specialty:
        resource["specialty"] = [{"text": specialty}]
    return resource
