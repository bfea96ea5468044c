"""The five staff roles, which kinds of organisation each may belong to, and the most each may be granted."""

from __future__ import annotations

from enum import StrEnum

from bridge.directory.codes import OrgKind


class Role(StrEnum):
    NURSE = "nurse"
    DOCTOR = "doctor"
    PHARMACIST = "pharmacist"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


ROLE_ORGANIZATION_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.NURSE: frozenset({OrgKind.NURSING_HOME}),
    Role.DOCTOR: frozenset({OrgKind.INTERNET_HOSPITAL}),
    Role.PHARMACIST: frozenset({OrgKind.PHARMACY}),
    Role.SUPERVISOR: frozenset(OrgKind),
    Role.ADMIN: frozenset(OrgKind),
}

_CLINICAL_READ = "Patient Location Encounter Observation DiagnosticReport AllergyIntolerance Condition Device"

# The widest SMART scopes a staff member of each role can obtain with the password grant; a request
# may narrow them. Organisation rules still apply on top of scopes.
ROLE_MAX_SCOPES: dict[Role, str] = {
    Role.NURSE: " ".join(
        [f"user/{t}.rs" for t in _CLINICAL_READ.split()]
        + [
            "user/Observation.crus",
            "user/DiagnosticReport.crus",
            "user/Encounter.crus",
            "user/Task.rus",
            "user/Communication.crus",
            "user/MedicationRequest.rs",
            "user/Medication.rs",
            "user/MedicationDispense.rs",
            "user/Consent.crus",
            "user/DocumentReference.crs",
            "user/ServiceRequest.rs",
        ]
    ),
    Role.DOCTOR: " ".join(
        [f"user/{t}.rs" for t in _CLINICAL_READ.split()]
        + [
            "user/Encounter.crus",
            "user/Condition.crus",
            "user/AllergyIntolerance.crus",
            "user/MedicationRequest.cruds",
            "user/Medication.rs",
            "user/Communication.crus",
            "user/Task.crus",
            "user/ServiceRequest.crus",
            "user/Provenance.crs",
            "user/DocumentReference.rs",
            "user/Consent.rs",
            "user/MedicationDispense.rs",
        ]
    ),
    Role.PHARMACIST: (
        "user/Patient.rs user/AllergyIntolerance.rs user/Condition.rs user/Observation.rs "
        "user/MedicationRequest.rs user/Medication.rs user/MedicationDispense.crus user/Task.rus "
        "user/Provenance.rs"
    ),
    Role.SUPERVISOR: "user/AuditEvent.rs user/Organization.rs user/OrganizationAffiliation.rs user/Task.rs",
    Role.ADMIN: (
        "user/Organization.crus user/OrganizationAffiliation.crus user/Practitioner.crus "
        "user/PractitionerRole.crus user/Location.crus"
    ),
}
