"""Notifications reaching a pharmacy's endpoint: handshake, events with the prescription, signatures,
heartbeats, and `$status` / `$events`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class

from bridge.subscriptions.heartbeat import heartbeat_round
from bridge.subscriptions.verification import SIGNATURE_HEADER, ReplayGuard, signature, verify_notification
from tests.bridge.subscriptions.conftest import PushBridge
from tests.bridge.subscriptions.receiver import PharmacyReceiver
from tests.bridge.subscriptions.support import (
    Pharmacy,
    cancel,
    clock_of,
    drain,
    resident,
    store_prescription,
    subscription,
)


def subscribe(pharmacy: Pharmacy, receiver: PharmacyReceiver, **options: Any) -> dict[str, Any]:
    created = pharmacy.api().post(
        "/fhir/Subscription", json=subscription(pharmacy.organization_id, receiver.url, **options)
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_handshake_then_events_with_the_prescription(
    push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver
) -> None:
    runtime = push.runtime
    created = subscribe(pharmacy, receiver, headers=["Authorization: Bearer pharmacy-own-token"])
    drain(runtime)
    [handshake] = receiver.of_type("handshake")
    assert handshake.status["status"] == "requested" and handshake.status["events-since-subscription-start"] == "0"
    assert handshake.headers["authorization"] == "Bearer pharmacy-own-token"
    assert handshake.headers["content-type"] == "application/fhir+json"
    api = pharmacy.api()
    assert api.get(f"/fhir/Subscription/{created['id']}").json()["status"] == "active"

    prescription = store_prescription(runtime, pharmacy.organization_id, resident(runtime))
    cancelled = cancel(runtime, prescription.task)
    drain(runtime)
    assert receiver.event_numbers() == [1, 2]
    first, second = receiver.of_type("event-notification")
    assert first.status["status"] == "active" and first.status["events-since-subscription-start"] == "1"
    assert first.status["events"][0]["focus"].endswith(f"/Task/{prescription.task['id']}/_history/1")
    bundle = first.bundle
    assert bundle["type"] == "history" and bundle["entry"][0]["resource"]["resourceType"] == "Parameters"
    shipped = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"][1:]}
    assert shipped == {
        ("Task", prescription.task["id"]),
        ("MedicationRequest", prescription.medication_request["id"]),
        ("Medication", prescription.medication_id),
        ("Patient", prescription.patient_id),
        ("Provenance", prescription.provenance["id"]),
    }
    get_fhir_model_class("Bundle").model_validate(bundle)  # valid FHIR (R4B models, wire-compatible)
    task_of_second = next(
        e["resource"] for e in second.bundle["entry"] if e.get("resource", {}).get("resourceType") == "Task"
    )
    assert (
        task_of_second["status"] == "cancelled"
        and task_of_second["meta"]["versionId"] == cancelled["meta"]["versionId"]
    )
    assert verify_notification(first.body, first.headers[SIGNATURE_HEADER.lower()], pharmacy.secret)


def test_id_only_carries_references(push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver) -> None:
    runtime = push.runtime
    subscribe(pharmacy, receiver, content="id-only")
    prescription = store_prescription(runtime, pharmacy.organization_id, resident(runtime))
    drain(runtime)
    [notification] = receiver.of_type("event-notification")
    entries = notification.bundle["entry"][1:]
    assert [e["fullUrl"].rsplit("/", 2)[-2:] for e in entries] == [["Task", prescription.task["id"]]]
    assert all("resource" not in e for e in entries)
    context = notification.bundle["entry"][0]["resource"]["parameter"][-1]["part"]
    assert any(
        p["name"] == "additional-context" and "/Provenance/" in p["valueReference"]["reference"] for p in context
    )


def test_forged_and_replayed_notifications_are_refused(
    push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver
) -> None:
    subscribe(pharmacy, receiver)
    drain(push.runtime)
    [handshake] = receiver.accepted
    header = handshake.headers[SIGNATURE_HEADER.lower()]
    assert header == signature(handshake.body, pharmacy.secret)
    assert not verify_notification(handshake.body, header, "another client's secret")
    assert not verify_notification(handshake.body.replace(b"requested", b"active"), header, pharmacy.secret)
    assert not verify_notification(handshake.body, None, pharmacy.secret)
    assert not verify_notification(handshake.body, "sha1=" + header[7:], pharmacy.secret)
    # The same signed body again is a replay, refused by the receiver's guard.
    replayed = httpx.post(receiver.url, content=handshake.body, headers={SIGNATURE_HEADER: header})
    assert replayed.status_code == 401 and len(receiver.accepted) == 1
    forged = httpx.post(receiver.url, content=handshake.body, headers={SIGNATURE_HEADER: "sha256=" + "0" * 64})
    assert forged.status_code == 401
    # A captured body is also refused once it is older than the guard's window.
    guard = ReplayGuard(max_age=timedelta(minutes=5))
    sent_at = push.runtime.clock.now()
    assert not guard.admit(handshake.body, sent_at + timedelta(minutes=6))
    assert guard.event_is_new("Subscription/1", 7) and not guard.event_is_new("Subscription/1", 7)


def test_heartbeats_at_the_requested_period(push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver) -> None:
    runtime = push.runtime
    subscribe(pharmacy, receiver, heartbeat=60)
    drain(runtime)
    heartbeat_round(runtime)
    drain(runtime)
    assert not receiver.of_type("heartbeat")  # the handshake was just delivered: none due
    clock = clock_of(runtime)
    clock.offset += timedelta(seconds=61)
    heartbeat_round(runtime)
    heartbeat_round(runtime)  # one is waiting: no second one
    drain(runtime)
    assert len(receiver.of_type("heartbeat")) == 1
    clock.offset += timedelta(seconds=30)
    heartbeat_round(runtime)
    drain(runtime)
    assert len(receiver.of_type("heartbeat")) == 1
    clock.offset += timedelta(seconds=31)
    heartbeat_round(runtime)
    drain(runtime)
    heartbeats = receiver.of_type("heartbeat")
    assert len(heartbeats) == 2 and heartbeats[-1].status["events-since-subscription-start"] == "0"


def test_status_and_events(push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver) -> None:
    runtime = push.runtime
    created = subscribe(pharmacy, receiver)
    drain(runtime)
    patient = resident(runtime)
    prescriptions = [store_prescription(runtime, pharmacy.organization_id, patient) for _ in range(3)]
    api = pharmacy.api()
    status = api.get(f"/fhir/Subscription/{created['id']}/$status").json()
    assert status["type"] == "searchset" and status["total"] == 1
    parameters = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
    assert parameters["status"]["valueCode"] == "active" and parameters["type"]["valueCode"] == "query-status"
    assert parameters["events-since-subscription-start"]["valueString"] == "3"
    every = api.post("/fhir/Subscription/$status", json={"resourceType": "Parameters"}).json()
    assert created["id"] in {
        p["valueReference"]["reference"].rsplit("/", 1)[-1]
        for e in every["entry"]
        for p in e["resource"]["parameter"]
        if p["name"] == "subscription"
    }

    events = api.get(f"/fhir/Subscription/{created['id']}/$events", params={"eventsSinceNumber": "2"}).json()
    numbers = [
        part["valueString"]
        for p in events["entry"][0]["resource"]["parameter"]
        if p["name"] == "notification-event"
        for part in p["part"]
        if part["name"] == "event-number"
    ]
    assert numbers == ["2", "3"]
    tasks = [e["resource"]["id"] for e in events["entry"] if e.get("resource", {}).get("resourceType") == "Task"]
    assert tasks == [prescriptions[1].task["id"], prescriptions[2].task["id"]]
    parameters_body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "eventsSinceNumber", "valueString": "1"},
            {"name": "eventsUntilNumber", "valueString": "1"},
            {"name": "content", "valueCode": "id-only"},
        ],
    }
    one = api.post(f"/fhir/Subscription/{created['id']}/$events", json=parameters_body).json()
    assert [e.get("resource") for e in one["entry"][1:]] == [None]
    assert api.get(f"/fhir/Subscription/{created['id']}/$events", params={"eventsSinceNumber": "x"}).status_code == 400

    # Another pharmacy cannot tell the Subscription exists.
    from tests.bridge.subscriptions.support import new_pharmacy

    other = new_pharmacy(runtime, push.url)
    try:
        stranger = other.api()
        assert stranger.get(f"/fhir/Subscription/{created['id']}/$status").status_code == 404
        assert stranger.get(f"/fhir/Subscription/{created['id']}/$events").status_code == 404
        assert stranger.get("/fhir/Subscription/$status").json()["total"] == 0
    finally:
        other.close()
