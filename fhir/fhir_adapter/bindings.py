"""Required code bindings of FHIR R4 that the ``fhir.resources`` models do not enforce.

The models accept any string for a ``code`` element (a status of "bogus" passes), so the values
each workflow branches on are checked here against the R4 value sets (hl7.org/fhir/R4).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_REQUEST_STATUS = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")
_REQUEST_PRIORITY = ("routine", "urgent", "asap", "stat")
_EVENT_STATUS = (
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
)
_GENDER = ("male", "female", "other", "unknown")

# (resource type, dotted path) -> allowed codes. Paths step through lists transparently.
REQUIRED_BINDINGS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Patient", "gender"): _GENDER,
    ("Practitioner", "gender"): _GENDER,
    ("Observation", "status"): (
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
    ("DiagnosticReport", "status"): (
        "registered",
        "partial",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "appended",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
    ("MedicationRequest", "status"): (
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    ),
    ("MedicationRequest", "intent"): (
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    ),
    ("MedicationRequest", "priority"): _REQUEST_PRIORITY,
    ("MedicationDispense", "status"): (
        "preparation",
        "in-progress",
        "cancelled",
        "on-hold",
        "completed",
        "entered-in-error",
        "stopped",
        "declined",
        "unknown",
    ),
    ("Medication", "status"): ("active", "inactive", "entered-in-error"),
    ("Task", "status"): (
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    ),
    ("Task", "intent"): (
        "unknown",
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    ),
    ("Task", "priority"): _REQUEST_PRIORITY,
    ("Encounter", "status"): (
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
    ("Communication", "status"): _EVENT_STATUS,
    ("Communication", "priority"): _REQUEST_PRIORITY,
    ("ServiceRequest", "status"): _REQUEST_STATUS,
    ("ServiceRequest", "intent"): (
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    ),
    ("ServiceRequest", "priority"): _REQUEST_PRIORITY,
    ("AllergyIntolerance", "type"): ("allergy", "intolerance"),
    ("AllergyIntolerance", "category"): ("food", "medication", "environment", "biologic"),
    ("AllergyIntolerance", "criticality"): ("low", "high", "unable-to-assess"),
    ("Consent", "status"): ("draft", "proposed", "active", "rejected", "inactive", "entered-in-error"),
    ("DocumentReference", "status"): ("current", "superseded", "entered-in-error"),
    ("Device", "status"): ("active", "inactive", "entered-in-error", "unknown"),
    ("Location", "status"): ("active", "suspended", "inactive"),
    ("Location", "mode"): ("instance", "kind"),
    ("Subscription", "status"): ("requested", "active", "error", "off"),
    ("Subscription", "channel.type"): ("rest-hook", "websocket", "email", "sms", "message"),
    ("AuditEvent", "action"): ("C", "R", "U", "D", "E"),
    ("AuditEvent", "outcome"): ("0", "4", "8", "12"),
    ("OrganizationAffiliation", "telecom.system"): ("phone", "fax", "email", "pager", "url", "sms", "other"),
}

# CodeableConcepts with required bindings: (resource type, path) -> (system, allowed codes)
REQUIRED_CONCEPT_BINDINGS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("Condition", "clinicalStatus"): (
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        ("active", "recurrence", "relapse", "inactive", "remission", "resolved"),
    ),
    ("Condition", "verificationStatus"): (
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        ("unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"),
    ),
    ("AllergyIntolerance", "clinicalStatus"): (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        ("active", "inactive", "resolved"),
    ),
    ("AllergyIntolerance", "verificationStatus"): (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        ("unconfirmed", "confirmed", "refuted", "entered-in-error"),
    ),
}


def walk(node: Any, path: str) -> Iterator[Any]:
    """Yield every value at a dotted path, stepping into lists at any level."""
    if isinstance(node, list):
        for item in node:
            yield from walk(item, path)
        return
    if not path:
        yield node
        return
    if not isinstance(node, dict):
        return
    head, _, rest = path.partition(".")
    if head in node:
        yield from walk(node[head], rest)


def binding_violations(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(expression, message) for every value outside its required value set."""
    resource_type = resource.get("resourceType", "")
    found: list[tuple[str, str]] = []
    for (rtype, path), allowed in REQUIRED_BINDINGS.items():
        if rtype != resource_type:
            continue
        for value in walk(resource, path):
            if value not in allowed:
                found.append((f"{rtype}.{path}", f"{value!r} is not one of: {', '.join(allowed)}"))
    for (rtype, path), (system, codes) in REQUIRED_CONCEPT_BINDINGS.items():
        if rtype != resource_type:
            continue
        for coding in walk(resource, f"{path}.coding"):
            if coding.get("system") == system and coding.get("code") not in codes:
                found.append((f"{rtype}.{path}", f"{coding.get('code')!r} is not one of: {', '.join(codes)}"))
    return found
