"""Faults: the pharmacy's endpoint down for a while, down for longer than the retry window, and the bridge
restarting in the middle of a delivery. Nothing is lost, and order holds."""

from __future__ import annotations

from datetime import timedelta

from bridge.outbox.outbox import claim_due
from bridge.runtime import Runtime
from bridge.subscriptions.sender import SUBSCRIPTION
from tests.bridge.subscriptions.conftest import PushBridge
from tests.bridge.subscriptions.receiver import PharmacyReceiver
from tests.bridge.subscriptions.support import (
    PUSH_SETTINGS,
    Pharmacy,
    clock_of,
    drain,
    real_time,
    resident,
    run_round,
    store_prescription,
    subscription,
)
from tests.conftest import make_settings
from tests.support import AdjustableClock


def subscribe(pharmacy: Pharmacy, receiver: PharmacyReceiver) -> str:
    created = pharmacy.api().post("/fhir/Subscription", json=subscription(pharmacy.organization_id, receiver.url))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def event_numbers_of(bundle: dict[str, object]) -> list[int]:
    entries = bundle["entry"]
    assert isinstance(entries, list)
    return [
        int(part["valueString"])
        for parameter in entries[0]["resource"]["parameter"]
        if parameter["name"] == "notification-event"
        for part in parameter["part"]
        if part["name"] == "event-number"
    ]


def test_an_endpoint_down_for_a_while_gets_everything_in_order(
    push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver
) -> None:
    runtime = push.runtime
    subscription_id = subscribe(pharmacy, receiver)
    drain(runtime)
    receiver.answer = 503
    patient = resident(runtime)
    for _ in range(3):
        store_prescription(runtime, pharmacy.organization_id, patient)
    clock = clock_of(runtime)
    for _ in range(4):  # attempts fail; the later events wait behind the first
        run_round(runtime)
        clock.offset += timedelta(seconds=70)
    assert receiver.event_numbers() == []
    with real_time(runtime):
        missed = pharmacy.api().get(f"/fhir/Subscription/{subscription_id}/$events").json()
    assert event_numbers_of(missed) == [1, 2, 3]  # a pharmacy can fetch what it missed meanwhile
    receiver.answer = 200
    clock.offset += timedelta(seconds=70)
    drain(runtime)
    assert receiver.event_numbers() == [1, 2, 3]
    with real_time(runtime):
        assert pharmacy.api().get(f"/fhir/Subscription/{subscription_id}").json()["status"] == "active"


def test_after_the_retry_window_the_subscription_shows_an_error_and_resumes_on_request(
    push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver
) -> None:
    runtime = push.runtime
    subscription_id = subscribe(pharmacy, receiver)
    drain(runtime)
    receiver.answer = 404  # a misrouted proxy: refused, but retried all the same
    patient = resident(runtime)
    store_prescription(runtime, pharmacy.organization_id, patient)
    clock = clock_of(runtime)
    run_round(runtime)
    clock.offset += timedelta(hours=23)
    run_round(runtime)
    with real_time(runtime):
        api = pharmacy.api()
        assert api.get(f"/fhir/Subscription/{subscription_id}").json()["status"] == "active"  # within the day
    clock.offset += timedelta(hours=1, minutes=1)
    run_round(runtime)
    with real_time(runtime):
        shown = api.get(f"/fhir/Subscription/{subscription_id}").json()
        status = api.get(f"/fhir/Subscription/{subscription_id}/$status").json()["entry"][0]["resource"]
    assert shown["status"] == "error" and "no notification delivered for 24 hours" in shown["error"]
    assert {p["name"]: p.get("valueCode") for p in status["parameter"]}["status"] == "error"
    # Nothing lost: the event is kept, and one recorded during the error is numbered and kept too.
    store_prescription(runtime, pharmacy.organization_id, patient)
    with real_time(runtime):
        assert event_numbers_of(api.get(f"/fhir/Subscription/{subscription_id}/$events").json()) == [1, 2]
    drain(runtime)
    assert receiver.event_numbers() == []

    # The pharmacy fixes its endpoint and asks to resume: a handshake, then the events, in order.
    receiver.answer = 200
    with real_time(runtime):
        resumed = api.put(f"/fhir/Subscription/{subscription_id}", json={**shown, "status": "requested"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "requested" and "error" not in resumed.json()
    drain(runtime)
    kinds = [r.status["type"] for r in receiver.accepted]
    assert kinds[-3:] == ["handshake", "event-notification", "event-notification"]
    assert receiver.event_numbers() == [1, 2]
    with real_time(runtime):
        assert api.get(f"/fhir/Subscription/{subscription_id}").json()["status"] == "active"


def test_a_restart_in_the_middle_of_a_delivery_still_delivers(
    push: PushBridge, pharmacy: Pharmacy, receiver: PharmacyReceiver, database_url: str
) -> None:
    runtime = push.runtime
    subscribe(pharmacy, receiver)
    drain(runtime)
    store_prescription(runtime, pharmacy.organization_id, resident(runtime))
    # The instance claims the notification and dies before sending it (or before recording the answer).
    lease = timedelta(seconds=20)
    claimed = claim_due(runtime.session_factory, runtime.clock.now(), kinds=[SUBSCRIPTION], limit=16, lease=lease)
    assert claimed
    assert run_round(runtime) == 0  # held by the dead instance's lease
    # A new instance (its own engine and worker), after the lease lapsed.
    clock = AdjustableClock()
    clock.offset = clock_of(runtime).offset + lease + timedelta(seconds=1)
    restarted = Runtime.from_settings(make_settings(database_url, **PUSH_SETTINGS), clock=clock)
    try:
        drain(restarted)
    finally:
        restarted.engine.dispose()
    assert receiver.event_numbers() == [1]
