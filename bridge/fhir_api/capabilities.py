"""What the API supports per resource type, for the CapabilityStatement (one table, used by the router's rules)."""

from __future__ import annotations

from typing import Any

from fhir_adapter.capability import TypeSupport
from fhir_adapter.validation import SUPPORTED_TYPES

from bridge.directory.codes import NAMESPACE
from bridge.fhir_api.access import DIRECTORY_TYPES, READ_ONLY_TYPES
from bridge.fhir_api.writes import UNDELETABLE_TYPES
from bridge.subscriptions.topic import BACKPORT, TOPIC_URL

_READS: tuple[str, ...] = ("read", "vread", "history-instance", "search-type")
_DOCUMENTATION = {
    "AuditEvent": "Read and search only; supervisors see events naming their organisations.",
    "Subscription": (
        "Topic-based, as in the Subscriptions R5 Backport (R4): criteria = a topic (GET /fhir/SubscriptionTopic), "
        "filter Task?owner=Organization/<own id>, rest-hook to https, payload full-resource or id-only, optional "
        "heartbeat. Made by pharmacy systems (client credentials) and owned by their organisation (meta.tag). The "
        "server sets status: requested until the handshake is delivered, then active; error after a day without a "
        "delivery (set requested to resume; missed events are sent again). Notifications carry X-Bridge-Signature: "
        "sha256=<HMAC of the body keyed with the client's secret>. $status and $events find and fetch what was missed."
    ),
    "Provenance": "Visible through its targets; a search must name target=Type/id. Never deleted.",
}


def supported_types() -> list[TypeSupport]:
    supports = []
    for resource_type in sorted(SUPPORTED_TYPES):
        if resource_type in READ_ONLY_TYPES:
            interactions = _READS
        else:
            writes = ("create", "update") + (() if resource_type in UNDELETABLE_TYPES else ("delete",))
            interactions = _READS + writes
        documentation = _DOCUMENTATION.get(resource_type)
        if documentation is None and resource_type in DIRECTORY_TYPES:
            documentation = (
                "Directory data: readable by every participant; written by admins of the owning organisation."
            )
        supports.append(TypeSupport(resource_type, interactions, documentation=documentation, **_extras(resource_type)))
    return supports


def _bridge_operations(resource_type: str, *names: str) -> tuple[tuple[str, str], ...]:
    # Described in docs/prescriptions.md, docs/loops.md and docs/fhir-api.md; no OperationDefinition is served.
    return tuple((name, f"{NAMESPACE}/OperationDefinition/{resource_type}-{name}") for name in names)


_OPERATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "MedicationRequest": _bridge_operations("MedicationRequest", "check", "sign"),
    "Task": _bridge_operations(
        "Task", "accept", "reject", "dispense", "dispatch", "deliver", "confirm-receipt", "cancel", "complete"
    ),
    "Communication": _bridge_operations("Communication", "acknowledge"),
    "Patient": _bridge_operations("Patient", "advise", "refer"),
    "ServiceRequest": _bridge_operations("ServiceRequest", "accept", "decline", "complete", "cancel"),
    "DiagnosticReport": _bridge_operations("DiagnosticReport", "mark-reviewed"),
    "Observation": _bridge_operations("Observation", "mark-reviewed"),
}


def _extras(resource_type: str) -> dict[str, Any]:
    if resource_type in _OPERATIONS:
        return {"operations": _OPERATIONS[resource_type]}
    if resource_type != "Subscription":
        return {}
    return {
        "supported_profiles": (f"{BACKPORT}/StructureDefinition/backport-subscription",),
        "operations": (
            ("status", f"{BACKPORT}/OperationDefinition/backport-subscription-status"),
            ("events", f"{BACKPORT}/OperationDefinition/backport-subscription-events"),
        ),
        "extensions": (
            {
                "url": f"{BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical",
                "valueCanonical": TOPIC_URL,
            },
        ),
    }
