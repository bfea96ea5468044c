"""The bridge's one SubscriptionTopic: prescriptions ready for (or withdrawn from) a pharmacy.

R4 has no SubscriptionTopic resource, so it is served as static R4B-shaped JSON from
bridge/api/subscription_routes.py and advertised by its canonical URL in the CapabilityStatement (the
Backport IG's capabilitystatement-subscriptiontopic-canonical extension). Which Tasks trigger it is
decided here, so the topic's description and its matching cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from bridge.directory.codes import NAMESPACE

TOPIC_ID = "prescription-for-pharmacy"
TOPIC_URL = f"{NAMESPACE}/SubscriptionTopic/{TOPIC_ID}"
TRIGGER_STATUSES = frozenset({"ready", "cancelled"})
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"


def topic_resource() -> dict[str, Any]:
    return {
        "resourceType": "SubscriptionTopic",
        "id": TOPIC_ID,
        "url": TOPIC_URL,
        "version": "1",
        "title": "Prescription for a pharmacy",
        "status": "active",
        "description": (
            "A signed prescription's fulfilment Task (code fulfill, focus MedicationRequest) became ready for "
            "the pharmacy that owns it, or was cancelled. Filter by owner: Task?owner=Organization/<your "
            "organisation> (the only filter accepted, and only for the subscriber's own organisation)."
        ),
        "resourceTrigger": [
            {
                "description": "A prescription Task becomes ready, or is cancelled",
                "resource": "Task",
                "supportedInteraction": ["create", "update"],
                "queryCriteria": {"current": "status=ready,cancelled&code=fulfill", "requireBoth": False},
                "fhirPathCriteria": (
                    "%current.status in ('ready' | 'cancelled') and %current.code.coding.code = 'fulfill'"
                ),
            }
        ],
        "canFilterBy": [
            {
                "description": "The pharmacy the Task is for (Task.owner); required, and must be your own",
                "resource": "Task",
                "filterParameter": "owner",
            }
        ],
        "notificationShape": [
            {
                "resource": "Task",
                "include": [
                    "Task:focus",
                    "MedicationRequest:medication",
                    "Task:patient",
                    "Provenance:target (the prescriber's signature)",
                ],
            }
        ],
    }


def is_prescription_event(task: dict[str, Any]) -> bool:
    """The Task is a prescription's fulfilment Task in a status the topic announces."""
    from bridge.prescriptions.write_rules import is_prescription_task

    return task.get("status") in TRIGGER_STATUSES and is_prescription_task(task)


def owner_of(task: dict[str, Any]) -> str | None:
    """The owning organisation's id (``Task.owner`` = ``Organization/<id>``)."""
    reference = str((task.get("owner") or {}).get("reference", ""))
    kind, _, owner = reference.partition("/")
    return owner if kind == "Organization" and owner and "/" not in owner else None
