"""Notification Bundles (R4 Backport: a `history` Bundle whose first entry is the SubscriptionStatus
Parameters), built when they are sent or asked for, from the versions the events recorded.

Full-resource content carries, per event, the Task version of the event, the MedicationRequest it is
for, the Medication that names the drug, the resident (Patient) and the prescriber's signature (the
Provenance whose target is the MedicationRequest); id-only carries the Task's reference, and the others
as additional-context references in the status, for the pharmacy to read with its own token.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhir_adapter.bundles import instant
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.references import RELATIVE_REFERENCE

from bridge.clock import as_utc
from bridge.prescriptions.codes import signature_id
from bridge.services import Services
from bridge.subscriptions.tables import SubscriptionEvent, SubscriptionState
from bridge.subscriptions.topic import BACKPORT

logger = logging.getLogger(__name__)

NOTIFICATION_PROFILE = f"{BACKPORT}/StructureDefinition/backport-subscription-notification-r4"
STATUS_PROFILE = f"{BACKPORT}/StructureDefinition/backport-subscription-status-r4"
Resource = dict[str, Any]


def fhir_base(services: Services) -> str:
    return f"{services.settings.public_base_url}/fhir"


def status_parameters(
    services: Services, state: SubscriptionState, kind: str, events: Sequence[SubscriptionEvent] = (), **context: Any
) -> Resource:
    """The SubscriptionStatus of the R4 Backport (a Parameters resource). `context`: additional-context
    references per event number (``{3: ["MedicationRequest/x/_history/2", ...]}``) under ``additional``."""
    base = fhir_base(services)
    parameters: list[Resource] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{state.subscription_id}"}},
        {"name": "topic", "valueCanonical": state.topic},
        {"name": "status", "valueCode": state.status},
        {"name": "type", "valueCode": kind},
        # Strings, as the R4 profile has them (R5's integer64 has no R4 type).
        {"name": "events-since-subscription-start", "valueString": str(_events_since_start(state, kind, events))},
    ]
    additional: dict[int, list[str]] = context.get("additional", {})
    for event in events:
        parts: list[Resource] = [
            {"name": "event-number", "valueString": str(event.event_number)},
            {"name": "timestamp", "valueInstant": instant(as_utc(event.created_at))},
            {"name": "focus", "valueReference": {"reference": f"{base}/{_versioned(event)}"}},
        ]
        parts += [
            {"name": "additional-context", "valueReference": {"reference": f"{base}/{reference}"}}
            for reference in additional.get(event.event_number, [])
        ]
        parameters.append({"name": "notification-event", "part": parts})
    if state.status == "error" and state.error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": state.error}})
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def _events_since_start(state: SubscriptionState, kind: str, events: Sequence[SubscriptionEvent]) -> int:
    # An event notification counts up to its own event, as when it was generated: built later (a retry, a
    # resume), it must not claim events it does not carry, or a pharmacy would think it missed them.
    if kind == "event-notification" and events:
        return max(event.event_number for event in events)
    return state.events_since_start


def notification_bundle(
    services: Services,
    state: SubscriptionState,
    kind: str,
    events: Sequence[SubscriptionEvent],
    content: str,
    now: datetime,
) -> Resource:
    """A notification (handshake, heartbeat, event-notification) or a `$events` answer (query-event)."""
    base = fhir_base(services)
    entries: list[Resource] = []
    additional: dict[int, list[str]] = {}
    seen: set[str] = set()
    for event in events:
        task, context = _event_resources(services, event)
        additional[event.event_number] = [_versioned_of(r) for r in context]
        focus_key = _versioned(event)
        if focus_key not in seen:
            seen.add(focus_key)
            entries.append(_focus_entry(base, event, task if content == "full-resource" else None))
        for resource in context if content == "full-resource" else []:
            key = _versioned_of(resource)
            if key not in seen:
                seen.add(key)
                entries.append(_context_entry(base, resource))
    status = status_parameters(services, state, kind, events, additional=additional)
    status_entry = {
        "fullUrl": f"urn:uuid:{status['id']}",
        "resource": status,
        "request": {"method": "GET", "url": f"{base}/Subscription/{state.subscription_id}/$status"},
        "response": {"status": "200"},
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": instant(as_utc(now)),
        "entry": [status_entry, *entries],
    }


def _focus_entry(base: str, event: SubscriptionEvent, task: Resource | None) -> Resource:
    # The focus changed (was created or updated) in this event; the rest is context, as read.
    created = event.focus_version == 1
    url = event.focus_type if created else f"{event.focus_type}/{event.focus_id}"
    entry: Resource = {"fullUrl": f"{base}/{event.focus_type}/{event.focus_id}"}
    if task is not None:
        entry["resource"] = task
    entry["request"] = {"method": "POST" if created else "PUT", "url": url}
    entry["response"] = {"status": "201" if created else "200"}
    return entry


def _context_entry(base: str, resource: Resource) -> Resource:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "request": {"method": "GET", "url": _versioned_of(resource)},
        "response": {"status": "200"},
    }


def _event_resources(services: Services, event: SubscriptionEvent) -> tuple[Resource | None, list[Resource]]:
    """The Task version of the event, and what a pharmacy needs to dispense it (those found)."""
    try:
        task = services.repository.read_version(event.focus_type, event.focus_id, event.focus_version)
    except OperationOutcomeError:
        logger.warning("event %s: %s is gone", event.event_number, _versioned(event))
        return None, []
    context: list[Resource] = []
    request_id = _target_id(task.get("focus"), "MedicationRequest")
    if request_id is None:
        return task, context
    signature = _signature(services, task, request_id)
    signed_version = _signed_version(signature, request_id) if signature else None
    medication_request = _read(services, "MedicationRequest", request_id, signed_version)
    if medication_request is not None:
        context.append(medication_request)
        drug = _target_id(medication_request.get("medicationReference"), "Medication")
        found = _read(services, "Medication", drug, None) if drug else None
        context += [found] if found else []
    patient_id = _target_id(task.get("for"), "Patient")
    patient = _read(services, "Patient", patient_id, None) if patient_id else None
    context += [patient] if patient else []
    if signature is not None:
        context.append(signature)
    return task, context


def _target_id(reference: Any, resource_type: str) -> str | None:
    match = RELATIVE_REFERENCE.match(str((reference or {}).get("reference", "")))
    return match.group(2) if match and match.group(1) == resource_type else None


def _signed_version(provenance: Resource, medication_request_id: str) -> str | None:
    """The MedicationRequest version the signature is over (its target names it)."""
    for target in provenance.get("target", []):
        match = RELATIVE_REFERENCE.match(str(target.get("reference", "")))
        if match and match.group(1) == "MedicationRequest" and match.group(2) == medication_request_id:
            return match.group(3)
    return None


def _signature(services: Services, task: Resource, medication_request_id: str) -> Resource | None:
    """The signature `$sign` stored with this Task (the Task names it), not any Provenance about the request."""
    provenance_id = signature_id(task)
    if provenance_id is None:
        logger.warning("Task/%s names no signature of MedicationRequest/%s", task.get("id"), medication_request_id)
        return None
    return _read(services, "Provenance", provenance_id, None)


def _read(services: Services, resource_type: str, resource_id: str, version: str | None) -> Resource | None:
    try:
        if version is not None and version.isdigit():
            return services.repository.read_version(resource_type, resource_id, int(version))
        return services.repository.read(resource_type, resource_id)
    except OperationOutcomeError:
        logger.warning("notification: %s/%s is not readable", resource_type, resource_id)
        return None


def _versioned(event: SubscriptionEvent) -> str:
    return f"{event.focus_type}/{event.focus_id}/_history/{event.focus_version}"


def _versioned_of(resource: Resource) -> str:
    version = resource.get("meta", {}).get("versionId", "1")
    return f"{resource['resourceType']}/{resource['id']}/_history/{version}"
