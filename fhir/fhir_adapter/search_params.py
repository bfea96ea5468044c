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


def _p(name: str, kind: ParamType, *paths: str) -> SearchParam:
    return SearchParam(name, kind, paths)


T, R, S, D = ParamType.TOKEN, ParamType.REFERENCE, ParamType.STRING, ParamType.DATE

_PATIENT_OF = {"subject": "subject", "patient": "subject"}

SEARCH_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name"),
        _p("birthdate", D, "birthDate"),
        _p("gender", T, "gender"),
        _p("organization", R, "managingOrganization"),
        _p("active", T, "active"),
    ),
    "Organization": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name", "alias"),
        _p("type", T, "type"),
        _p("active", T, "active"),
        _p("partof", R, "partOf"),
    ),
    "OrganizationAffiliation": (
        _p("primary-organization", R, "organization"),
        _p("participating-organization", R, "participatingOrganization"),
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
        _p("practitioner", R, "practitioner"),
        _p("organization", R, "organization"),
        _p("role", T, "code"),
        _p("specialty", T, "specialty"),
        _p("active", T, "active"),
    ),
    "Location": (
        _p("identifier", T, "identifier"),
        _p("name", S, "name"),
        _p("organization", R, "managingOrganization"),
        _p("partof", R, "partOf"),
        _p("type", T, "physicalType", "type"),
        _p("status", T, "status"),
    ),
    "Encounter": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("status", T, "status"),
        _p("class", T, "class"),
        _p("date", D, "period"),
        _p("practitioner", R, "participant.individual"),
        _p("service-provider", R, "serviceProvider"),
        _p("diagnosis", R, "diagnosis.condition"),
    ),
    "Observation": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("code", T, "code"),
        _p("category", T, "category"),
        _p("date", D, "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
        _p("status", T, "status"),
        _p("encounter", R, "encounter"),
        _p("performer", R, "performer"),
    ),
    "DiagnosticReport": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("code", T, "code"),
        _p("category", T, "category"),
        _p("date", D, "effectiveDateTime", "effectivePeriod"),
        _p("status", T, "status"),
        _p("result", R, "result"),
        _p("encounter", R, "encounter"),
    ),
    "AllergyIntolerance": (
        _p("patient", R, "patient"),
        _p("code", T, "code", "reaction.substance"),
        _p("clinical-status", T, "clinicalStatus"),
        _p("category", T, "category"),
        _p("criticality", T, "criticality"),
    ),
    "Condition": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("code", T, "code"),
        _p("clinical-status", T, "clinicalStatus"),
        _p("encounter", R, "encounter"),
        _p("category", T, "category"),
    ),
    "Medication": (
        _p("code", T, "code"),
        _p("ingredient-code", T, "ingredient.itemCodeableConcept"),
        _p("status", T, "status"),
    ),
    "MedicationRequest": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("status", T, "status"),
        _p("intent", T, "intent"),
        _p("authoredon", D, "authoredOn"),
        _p("requester", R, "requester"),
        _p("medication", R, "medicationReference"),
        _p("code", T, "medicationCodeableConcept"),
        _p("encounter", R, "encounter"),
    ),
    "MedicationDispense": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("status", T, "status"),
        _p("prescription", R, "authorizingPrescription"),
        _p("performer", R, "performer.actor"),
    ),
    "Task": (
        _p("owner", R, "owner"),
        _p("requester", R, "requester"),
        _p("status", T, "status"),
        _p("business-status", T, "businessStatus"),
        _p("focus", R, "focus"),
        _p("patient", R, "for"),
        _p("subject", R, "for"),
        _p("code", T, "code"),
        _p("intent", T, "intent"),
        _p("authored-on", D, "authoredOn"),
        _p("encounter", R, "encounter"),
    ),
    "Communication": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("recipient", R, "recipient"),
        _p("sender", R, "sender"),
        _p("status", T, "status"),
        _p("category", T, "category"),
        _p("encounter", R, "encounter"),
        _p("sent", D, "sent"),
    ),
    "ServiceRequest": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("status", T, "status"),
        _p("intent", T, "intent"),
        _p("requester", R, "requester"),
        _p("performer", R, "performer"),
        _p("authored", D, "authoredOn"),
    ),
    "Consent": (
        _p("patient", R, "patient"),
        _p("status", T, "status"),
        _p("category", T, "category"),
        _p("organization", R, "organization"),
    ),
    "Provenance": (
        _p("target", R, "target"),
        _p("agent", R, "agent.who"),
        _p("recorded", D, "recorded"),
    ),
    "AuditEvent": (
        _p("type", T, "type"),
        _p("subtype", T, "subtype"),
        _p("action", T, "action"),
        _p("outcome", T, "outcome"),
        _p("date", D, "recorded"),
        _p("agent", R, "agent.who"),
        _p("entity", R, "entity.what"),
        _p("patient", R, "entity.what"),
        _p("source", R, "source.observer"),
    ),
    "Subscription": (
        _p("status", T, "status"),
        _p("criteria", S, "criteria"),
    ),
    "Device": (
        _p("identifier", T, "identifier"),
        _p("patient", R, "patient"),
        _p("organization", R, "owner"),
        _p("location", R, "location"),
        _p("status", T, "status"),
    ),
    "DocumentReference": (
        _p("patient", R, "subject"),
        _p("subject", R, "subject"),
        _p("status", T, "status"),
        _p("type", T, "type"),
        _p("encounter", R, "context.encounter"),
        _p("date", D, "date"),
        _p("related", R, "context.related"),
    ),
}

COMMON_PARAMS = ("_id", "_lastUpdated")


def params_for(resource_type: str) -> dict[str, SearchParam]:
    return {param.name: param for param in SEARCH_PARAMS.get(resource_type, ())}
