"""Search parameters the store indexes: name, type and the JSON paths they read.

Paths are dotted element paths from the resource root (lists are stepped into). ``value[x]``
choices are listed explicitly, as FHIRPath would resolve them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ParamType(StrEnum):
    TOKEN = "token"  # noqa: S105 - an enum value, not a secret
    REFERENCE = "reference"
    STRING = "string"
    DATE = "date"


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    paths: tuple[str, ...]
    # Reference parameters: the resource types a value may point at; empty means any type. The
    # indexer drops references to other types, so ``patient`` (read from ``subject``) holds only
    # Patients, and a bare id can be searched when there is exactly one target type.
    targets: tuple[str, ...] = ()


def _p(name: str, kind: ParamType, *paths: str, to: tuple[str, ...] = ()) -> SearchParam:
    return SearchParam(name, kind, paths, to)


T, R, S, D = ParamType.TOKEN, ParamType.REFERENCE, ParamType.STRING, ParamType.DATE

# Reference target types, after the R4 SearchParameter definitions (a little generous where the
# application may reasonably point at a Device or a PractitionerRole).
PAT, ORG, ENC = ("Patient",), ("Organization",), ("Encounter",)
_SUBJECT = ("Patient", "Group", "Device", "Location")
_PATIENT_OR_GROUP = ("Patient", "Group")
_ACTORS = ("Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device")
_PERFORMERS = (*_ACTORS, "CareTeam", "HealthcareService")
ANY: tuple[str, ...] = ()

SEARCH_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name"),
        _p("birthdate", D, "birthDate"),
        _p("gender", T, "gender"),
        _p("organization", R, "managingOrganization", to=ORG),
        _p("active", T, "active"),
    ),
    "Organization": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name", "alias"),
        _p("type", T, "type"),
        _p("active", T, "active"),
        _p("partof", R, "partOf", to=ORG),
    ),
    "OrganizationAffiliation": (
        _p("identifier", T, "identifier"),
        _p("primary-organization", R, "organization", to=ORG),
        _p("participating-organization", R, "participatingOrganization", to=ORG),
        _p("role", T, "code"),
        _p("active", T, "active"),
        _p("date", D, "period"),
    ),
    "Practitioner": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name"),
        _p("active", T, "active"),
    ),
    "PractitionerRole": (
        _p("identifier", T, "identifier"),
        _p("practitioner", R, "practitioner", to=("Practitioner",)),
        _p("organization", R, "organization", to=ORG),
        _p("role", T, "code"),
        _p("specialty", T, "specialty"),
        _p("active", T, "active"),
    ),
    "Location": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name"),
        _p("organization", R, "managingOrganization", to=ORG),
        _p("partof", R, "partOf", to=("Location",)),
        _p("type", T, "physicalType", "type"),
        _p("status", T, "status"),
    ),
    "Encounter": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_PATIENT_OR_GROUP),
        _p("status", T, "status"),
        _p("class", T, "class"),
        _p("date", D, "period"),
        _p("practitioner", R, "participant.individual", to=("Practitioner",)),
        _p("service-provider", R, "serviceProvider", to=ORG),
        _p("diagnosis", R, "diagnosis.condition", to=("Condition", "Procedure")),
    ),
    "Observation": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_SUBJECT),
        _p("code", T, "code"),
        _p("category", T, "category"),
        _p("date", D, "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
        _p("status", T, "status"),
        _p("encounter", R, "encounter", to=ENC),
        _p("performer", R, "performer", to=_PERFORMERS),
    ),
    "DiagnosticReport": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_SUBJECT),
        _p("code", T, "code"),
        _p("category", T, "category"),
        _p("date", D, "effectiveDateTime", "effectivePeriod"),
        _p("status", T, "status"),
        _p("result", R, "result", to=("Observation",)),
        _p("encounter", R, "encounter", to=ENC),
    ),
    "AllergyIntolerance": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "patient", to=PAT),
        _p("code", T, "code", "reaction.substance"),
        _p("clinical-status", T, "clinicalStatus"),
        _p("category", T, "category"),
        _p("criticality", T, "criticality"),
    ),
    "Condition": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_PATIENT_OR_GROUP),
        _p("code", T, "code"),
        _p("clinical-status", T, "clinicalStatus"),
        _p("encounter", R, "encounter", to=ENC),
        _p("category", T, "category"),
    ),
    "Medication": (
        _p("identifier", T, "identifier"),
        _p("code", T, "code"),
        _p("ingredient-code", T, "ingredient.itemCodeableConcept"),
        _p("status", T, "status"),
    ),
    "MedicationRequest": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_PATIENT_OR_GROUP),
        _p("status", T, "status"),
        _p("intent", T, "intent"),
        _p("authoredon", D, "authoredOn"),
        _p("requester", R, "requester", to=_ACTORS),
        _p("medication", R, "medicationReference", to=("Medication",)),
        _p("code", T, "medicationCodeableConcept"),
        _p("encounter", R, "encounter", to=ENC),
    ),
    "MedicationDispense": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_PATIENT_OR_GROUP),
        _p("status", T, "status"),
        _p("prescription", R, "authorizingPrescription", to=("MedicationRequest",)),
        _p("performer", R, "performer.actor", to=_PERFORMERS),
    ),
    "Task": (
        _p("identifier", T, "identifier"),
        _p("owner", R, "owner", to=_PERFORMERS),
        _p("requester", R, "requester", to=_ACTORS),
        _p("status", T, "status"),
        _p("business-status", T, "businessStatus"),
        _p("focus", R, "focus", to=ANY),
        _p("patient", R, "for", to=PAT),
        _p("subject", R, "for", to=ANY),
        _p("code", T, "code"),
        _p("intent", T, "intent"),
        _p("authored-on", D, "authoredOn"),
        _p("encounter", R, "encounter", to=ENC),
    ),
    "Communication": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_PATIENT_OR_GROUP),
        _p("recipient", R, "recipient", to=(*_PERFORMERS, "Group")),
        _p("sender", R, "sender", to=_PERFORMERS),
        _p("status", T, "status"),
        _p("category", T, "category"),
        _p("encounter", R, "encounter", to=ENC),
        _p("sent", D, "sent"),
    ),
    "ServiceRequest": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=_SUBJECT),
        _p("status", T, "status"),
        _p("intent", T, "intent"),
        _p("requester", R, "requester", to=_ACTORS),
        _p("performer", R, "performer", to=_PERFORMERS),
        _p("authored", D, "authoredOn"),
    ),
    "Consent": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "patient", to=PAT),
        _p("status", T, "status"),
        _p("category", T, "category"),
        _p("organization", R, "organization", to=ORG),
    ),
    "Provenance": (
        _p("target", R, "target", to=ANY),
        _p("agent", R, "agent.who", to=_ACTORS),
        _p("recorded", D, "recorded"),
    ),
    "AuditEvent": (
        _p("type", T, "type"),
        _p("subtype", T, "subtype"),
        _p("action", T, "action"),
        _p("outcome", T, "outcome"),
        _p("date", D, "recorded"),
        _p("agent", R, "agent.who", to=_ACTORS),
        _p("entity", R, "entity.what", to=ANY),
        _p("patient", R, "entity.what", to=PAT),
        _p("source", R, "source.observer", to=_ACTORS),
    ),
    "Subscription": (
        _p("status", T, "status"),
        _p("criteria", S, "criteria"),
    ),
    "Device": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "patient", to=PAT),
        _p("organization", R, "owner", to=ORG),
        _p("location", R, "location", to=("Location",)),
        _p("status", T, "status"),
    ),
    "DocumentReference": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "subject", to=PAT),
        _p("subject", R, "subject", to=("Patient", "Practitioner", "Group", "Device")),
        _p("status", T, "status"),
        _p("type", T, "type"),
        _p("encounter", R, "context.encounter", to=(*ENC, "EpisodeOfCare")),
        _p("date", D, "date"),
        _p("related", R, "context.related", to=ANY),
    ),
}

# Parameters every type has. ``_id`` and ``_lastUpdated`` are columns of the stored resource; the
# indexed ones (``_tag``) are added to every type's parameters by ``params_for``.
INDEXED_COMMON_PARAMS: tuple[SearchParam, ...] = (_p("_tag", T, "meta.tag"),)
COMMON_PARAMS = ("_id", "_lastUpdated", *(param.name for param in INDEXED_COMMON_PARAMS))


def params_for(resource_type: str) -> dict[str, SearchParam]:
    """The indexed parameters of a type (its own and the common indexed ones such as ``_tag``)."""
    own = SEARCH_PARAMS.get(resource_type, ())
    return {param.name: param for param in (*own, *INDEXED_COMMON_PARAMS)}
