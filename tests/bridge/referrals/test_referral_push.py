"""A referral to a hospital with its own FHIR endpoint is queued for it in the same transaction (the
ServiceRequest, its Task and the attached results), again at each change; without an endpoint, nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from bridge.outbox.endpoints import HOSPITAL_FHIR, HospitalEndpoints, cli_actor
from bridge.outbox.tables import OutboxMessage
from tests.bridge.referrals.support import (
    Network,
    fhir,
    observation,
    parameters,
    recent,
    refer_body,
    reference,
    resident,
)
from tests.conftest import Bridge


@pytest.fixture
def endpoint(bridge: Bridge, network: Network) -> Iterator[str]:
    """Hospital B's FHIR endpoint (nothing listens: the worker does not run in these tests)."""
    with bridge.services() as services:
        HospitalEndpoints(services).set(network.hospital_b, "http://127.0.0.1:9/fhir", None, cli_actor("test"))
    yield network.hospital_b
    with bridge.services() as services:
        HospitalEndpoints(services).remove(network.hospital_b, cli_actor("test"))
        services.db.execute(delete(OutboxMessage).where(OutboxMessage.destination_id == network.hospital_b))


def _messages(bridge: Bridge, ordering_key: str) -> list[OutboxMessage]:
    with bridge.services() as services:
        rows = services.db.scalars(
            select(OutboxMessage).where(OutboxMessage.ordering_key == ordering_key).order_by(OutboxMessage.id)
        ).all()
        services.db.expunge_all()
        return list(rows)


def test_the_referral_is_queued_for_the_hospitals_endpoint(bridge: Bridge, network: Network, endpoint: str) -> None:
    patient = resident(bridge, network.home)
    glucose = observation(bridge, patient, recent(bridge))
    doctor = fhir(bridge, network.doctor_a)
    body = refer_body(hospital=reference(f"Organization/{endpoint}"), supportingInfo=reference(glucose))
    request = doctor.post(f"/fhir/Patient/{patient}/$refer", json=body).json()
    subject = f"ServiceRequest/{request['id']}"
    (first,) = _messages(bridge, subject)
    assert first.destination_kind == HOSPITAL_FHIR and first.destination_id == endpoint
    assert first.status == "pending"
    bundle = json.loads(first.payload)
    assert bundle["type"] == "transaction"
    sent = {e["resource"]["resourceType"]: e for e in bundle["entry"]}
    assert set(sent) == {"Patient", "Observation", "ServiceRequest", "Task"}
    bridge_ids = {i["value"] for e in bundle["entry"] for i in e["resource"].get("identifier", [])}
    assert {subject, glucose, f"Patient/{patient}"} <= bridge_ids
    # References inside the Bundle point at what it carries.
    assert sent["Task"]["resource"]["focus"]["reference"] == sent["ServiceRequest"]["fullUrl"]
    assert sent["ServiceRequest"]["resource"]["supportingInfo"][0]["reference"] == sent["Observation"]["fullUrl"]

    accepted = fhir(bridge, network.doctor_b).post(
        f"/fhir/{subject}/$accept", json=parameters(appointment={"valueDateTime": "2099-01-05T09:00:00+08:00"})
    )
    assert accepted.status_code == 200, accepted.text
    later = _messages(bridge, subject)
    assert len(later) == 2
    task = next(e["resource"] for e in json.loads(later[1].payload)["entry"] if e["resource"]["resourceType"] == "Task")
    assert task["status"] == "accepted"


def test_no_endpoint_no_message(bridge: Bridge, network: Network) -> None:
    patient = resident(bridge, network.home)
    request = fhir(bridge, network.doctor_a).post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).json()
    assert request["performer"][0]["reference"] == f"Organization/{network.hospital_a}"
    assert _messages(bridge, f"ServiceRequest/{request['id']}") == []
