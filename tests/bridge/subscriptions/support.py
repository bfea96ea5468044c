"""Pushes to pharmacies in tests: a bridge of its own (http endpoints allowed, short backoff, its own clock)
on the session's seeded database, a pharmacy organisation per test, prescriptions stored directly in the
repository (the shapes of docs/prescriptions.md), and worker rounds. The pharmacy's endpoint: receiver.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from bridge.directory.codes import NAMESPACE, OrgKind
from bridge.directory.organizations import organization_resource
from bridge.outbox.worker import OutboxWorker
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.subscriptions.events import record_prescription_event
from bridge.subscriptions.sender import SUBSCRIPTION, SubscriptionSender
from bridge.subscriptions.topic import TOPIC_URL
from tests.support import AdjustableClock

FHIR_JSON = "application/fhir+json"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
SCOPE = "system/Subscription.cruds system/Task.rs system/Patient.rs"
PUSH_SETTINGS: dict[str, Any] = {
    "subscription_allow_http": True,
    "outbox_backoff_base_seconds": 5.0,
    "outbox_backoff_max_seconds": 60.0,
    "outbox_timeout_seconds": 5.0,
}


def clock_of(runtime: Runtime) -> AdjustableClock:
    assert isinstance(runtime.clock, AdjustableClock)
    return runtime.clock


@contextmanager
def real_time(runtime: Runtime) -> Iterator[None]:
    """For API calls while the test clock is ahead: PyJWT checks a token's iat and nbf against real time."""
    clock = clock_of(runtime)
    ahead, clock.offset = clock.offset, timedelta(0)
    try:
        yield
    finally:
        clock.offset = ahead


# --- pharmacies, clients, subscriptions ----------------------------------------------------------------


@dataclass
class Pharmacy:
    organization_id: str
    client_id: str
    secret: str
    url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def api(self) -> httpx.Client:
        """Signed in afresh: the bridge's clock may have moved past the last token's expiry."""
        token = httpx.post(
            f"{self.url}/auth/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret},
            timeout=20,
        )
        assert token.status_code == 200, token.text
        client = httpx.Client(
            base_url=self.url,
            timeout=20,
            headers={"Authorization": f"Bearer {token.json()['access_token']}", "Content-Type": FHIR_JSON},
        )
        self.clients.append(client)
        return client

    def close(self) -> None:
        while self.clients:
            self.clients.pop().close()


def new_pharmacy(runtime: Runtime, url: str) -> Pharmacy:
    """A pharmacy of this test's own (its Tasks reach only its Subscriptions) and its system client."""
    organization_id = f"pharm-{uuid.uuid4().hex[:10]}"
    with runtime.session_factory.begin() as db:
        services = Services(db, runtime)
        services.repository.update(
            organization_resource(OrgKind.PHARMACY, "测试药房", organization_id.upper(), resource_id=organization_id)
        )
        issued = services.clients.create("pharmacy system", organization_id, SCOPE, services.now())
        client_id = issued.client.client_id
    return Pharmacy(organization_id, client_id, issued.client_secret, url)


def subscription(
    owner: str,
    endpoint: str,
    *,
    content: str = "full-resource",
    heartbeat: int | None = None,
    headers: list[str] | None = None,
    topic: str = TOPIC_URL,
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": FHIR_JSON,
        "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content", "valueCode": content}]},
        "header": headers or [],
    }
    if heartbeat is not None:
        channel["extension"] = [{"url": f"{BACKPORT}/backport-heartbeat-period", "valueUnsignedInt": heartbeat}]
    return {
        "resourceType": "Subscription",
        "meta": {"profile": [f"{BACKPORT}/backport-subscription"]},
        "status": "requested",
        "reason": "prescriptions to dispense",
        "criteria": topic,
        "_criteria": {
            "extension": [
                {"url": f"{BACKPORT}/backport-filter-criteria", "valueString": f"Task?owner=Organization/{owner}"}
            ]
        },
        "channel": channel,
    }


# --- prescriptions ------------------------------------------------------------------------------------


@dataclass
class Prescription:
    task: dict[str, Any]
    medication_request: dict[str, Any]
    provenance: dict[str, Any]
    patient_id: str
    medication_id: str


def resident(runtime: Runtime, home_id: str = "demo-home-1") -> str:
    with runtime.session_factory() as db:
        patients = Services(db, runtime).residents.patients_of_homes([home_id])
        return str(sorted(p["id"] for p in patients)[0])


def store_prescription(runtime: Runtime, pharmacy_id: str, patient_id: str) -> Prescription:
    """A signed prescription and its ready Task, as $sign leaves them, with its event recorded in the
    same transaction (as the lead's $sign does)."""
    with runtime.session_factory.begin() as db:
        services = Services(db, runtime)
        repository = services.repository
        medication = repository.update(
            {
                "resourceType": "Medication",
                "id": "drug-c09aa05",
                "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "C09AA05", "display": "ramipril"}]},
            }
        )
        request = repository.create(
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationReference": {"reference": f"Medication/{medication['id']}"},
                "subject": {"reference": f"Patient/{patient_id}"},
                "dosageInstruction": [{"text": "2.5 mg once a day"}],
            }
        )
        provenance = repository.create(
            {
                "resourceType": "Provenance",
                "target": [{"reference": f"MedicationRequest/{request['id']}/_history/{request['meta']['versionId']}"}],
                "recorded": "2026-11-01T08:00:00Z",
                "agent": [{"who": {"reference": "Practitioner/demo-doctor"}}],
                "signature": [
                    {
                        "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                        "when": "2026-11-01T08:00:00Z",
                        "who": {"display": "the prescriber"},
                        "targetFormat": "application/fhir+json",
                        "sigFormat": "application/jose",
                        "data": "ZXlKaGJHY2lPaUpGVXpJMU5pSjkuZS5z",
                    }
                ],
            }
        )
        task = repository.create(
            {
                "resourceType": "Task",
                "status": "ready",
                "intent": "order",
                "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
                "focus": {"reference": f"MedicationRequest/{request['id']}"},
                "for": {"reference": f"Patient/{patient_id}"},
                "owner": {"reference": f"Organization/{pharmacy_id}"},
                "authoredOn": "2026-11-01T08:00:00Z",
                "input": [
                    {"type": {"text": "signature"}, "valueReference": {"reference": f"Provenance/{provenance['id']}"}}
                ],
                "businessStatus": {
                    "coding": [
                        {"system": f"{NAMESPACE}/CodeSystem/prescription-delivery-status", "code": "with-pharmacy"}
                    ]
                },
            }
        )
        record_prescription_event(services, task)
    return Prescription(task, request, provenance, patient_id, str(medication["id"]))


def cancel(runtime: Runtime, task: dict[str, Any]) -> dict[str, Any]:
    with runtime.session_factory.begin() as db:
        services = Services(db, runtime)
        cancelled = services.repository.update({**task, "status": "cancelled"})
        record_prescription_event(services, cancelled)
        return cancelled


# --- the worker --------------------------------------------------------------------------------------


def run_round(runtime: Runtime, sender: SubscriptionSender | None = None) -> int:
    async def one_round() -> int:
        chosen = sender or SubscriptionSender(runtime)
        try:
            return await OutboxWorker(runtime, {SUBSCRIPTION: chosen}).run_once()
        finally:
            if sender is None:
                await chosen.aclose()

    return asyncio.run(one_round())


def drain(runtime: Runtime, rounds: int = 1000) -> int:
    """Worker rounds until nothing is due (messages of one subscription go one per round, in order).

    In a full run the database also holds other tests' notifications to pharmacy endpoints long gone;
    once a test moves its clock a day ahead they are all due again and fail fast (connection refused),
    16 a round, before this test's own are done: hence the generous number of rounds."""
    handled = 0
    for _ in range(rounds):
        claimed = run_round(runtime)
        handled += claimed
        if claimed == 0:
            return handled
    raise AssertionError("the outbox did not drain")
