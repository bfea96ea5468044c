"""New results pushed to a hospital's own FHIR endpoint, against Medplum's in-memory FHIR server: a report
arrives whole and readable, a retry or a correction duplicates nothing, a hospital that is down gets it
once it is back, a refused Bundle fails at once with the reason kept; no endpoint, no message."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bridge.app import create_app
from bridge.audit import recent_audit_events
from bridge.directory.codes import RESIDENT_NUMBER_SYSTEM
from bridge.ingest.tables import Hl7Receipt
from bridge.outbox.endpoints import HOSPITAL_FHIR, HospitalEndpoints, cli_actor
from bridge.outbox.fhir_push import Target, push_transaction
from bridge.outbox.outbox import NewMessage, enqueue
from bridge.outbox.tables import OutboxMessage
from bridge.results.hospital_push import enqueue_result_push
from bridge.runtime import Runtime
from tests.bridge.ingest.support import ECG_DIR, lab_client, lab_token, oru, resident_identifier
from tests.bridge.outbox.support import MedplumServer, clock_of, outbox_runtime, run_round
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass
from tests.support import LiveServer, free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")

HOSPITAL = "demo-hospital"
TOKEN = "hospital-token-abcdefghijklmnop-0042"
GLUCOSE = "NM|2345-7^Glucose^LN||{value}|mmol/L|3.9-6.1|H|||F"
SODIUM = "NM|2951-2^Sodium^LN||140|mmol/L|135-145|N|||F"
BRIDGE_FHIR = "http://testserver/fhir"


@pytest.fixture(scope="module")
def hospital_server(backend: str) -> Iterator[MedplumServer]:
    """One hospital per backend: both backends' demo residents have the same ids."""
    with MedplumServer() as server:
        yield server


def point_endpoint(bridge: Bridge, url: str) -> None:
    with bridge.services() as services:
        HospitalEndpoints(services).set(HOSPITAL, url, TOKEN, cli_actor("test"))


@pytest.fixture
def runtime(bridge: Bridge) -> Iterator[Runtime]:
    """The worker's runtime: the bridge's database, short timers, a clock of its own."""
    runtime = outbox_runtime(bridge.runtime.settings.database_url)
    yield runtime
    runtime.engine.dispose()
    with bridge.services() as services:
        HospitalEndpoints(services).remove(HOSPITAL, cli_actor("test"))


def new_resident(bridge: Bridge, home: str = "demo-home-1") -> str:
    """A resident of this test's own (other tests may leave the demo's residents ambiguous)."""
    code = "H1" if home == "demo-home-1" else "H2"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": f"{RESIDENT_NUMBER_SYSTEM}/{code}", "value": f"{code}-T{uuid.uuid4().hex[:10]}"}],
        "name": [{"text": "推送测试", "family": "推", "given": ["送测试"]}],
        "gender": "female",
        "birthDate": "1938-05-06",
        "managingOrganization": {"reference": f"Organization/{home}"},
    }
    with bridge.services() as services:
        return str(services.repository.create(patient, f"zz-push-{uuid.uuid4().hex[:12]}")["id"])


def store_lab(bridge: Bridge, patient_id: str, glucose: float, order: str = "") -> list[str]:
    """An ORU from the demo laboratory, stored: the references it created."""
    message = oru(resident_identifier(bridge, patient_id), GLUCOSE.format(value=glucose), SODIUM, order=order)
    response = lab_client(bridge).post(
        "/ingest/hl7v2", content=message, headers={"Content-Type": "x-application/hl7-v2+er7"}
    )
    assert response.status_code == 200 and "|AA|" in response.text, response.text
    control_id = message.split(b"\r", 1)[0].split(b"|")[9].decode()
    with bridge.services() as services:
        receipt = services.db.scalar(select(Hl7Receipt).where(Hl7Receipt.control_id == control_id))
        assert receipt is not None
        return receipt.created.split()


def push(bridge: Bridge, patient_id: str, created: list[str], kind: str = "lab") -> list[int]:
    with bridge.services() as services:
        patient = services.repository.read("Patient", patient_id)
        return enqueue_result_push(services, patient, created, kind)


def message_row(bridge: Bridge, message_id: int) -> OutboxMessage:
    with bridge.services() as services:
        row = services.db.get(OutboxMessage, message_id)
        assert row is not None
        services.db.expunge(row)
        return row


def deliver_until_done(runtime: Runtime, message_id: int, bridge: Bridge) -> OutboxMessage:
    for _ in range(5):
        run_round(runtime)
        row = message_row(bridge, message_id)
        if row.status not in {"pending", "sending"}:
            return row
    raise AssertionError(f"message {message_id} still {row.status}: {row.last_error}")


def hospital_patient(server: MedplumServer, bridge: Bridge, patient_id: str) -> dict[str, Any]:
    (patient,) = server.search("Patient", identifier=f"{BRIDGE_FHIR}|Patient/{patient_id}")
    return patient


def test_a_lab_report_arrives_whole_and_a_retry_duplicates_nothing(
    bridge: Bridge, runtime: Runtime, hospital_server: MedplumServer, medplum: MedplumValidator
) -> None:
    point_endpoint(bridge, hospital_server.url)
    patient_id = new_resident(bridge, "demo-home-1")
    created = store_lab(bridge, patient_id, 7.1)
    (message_id,) = push(bridge, patient_id, created)
    assert push(bridge, patient_id, created) == [message_id]  # the same content is queued once
    bundle = json.loads(message_row(bridge, message_id).payload)
    assert_all_pass(medplum.validate([bundle]))

    sent = deliver_until_done(runtime, message_id, bridge)
    assert sent.status == "sent" and sent.attempts == 1, sent.last_error
    patient = hospital_patient(hospital_server, bridge, patient_id)
    identifier = resident_identifier(bridge, patient_id)
    assert [p["id"] for p in hospital_server.search("Patient", identifier=identifier)] == [patient["id"]]
    (report,) = hospital_server.search("DiagnosticReport", subject=f"Patient/{patient['id']}")
    observations = hospital_server.search("Observation", subject=f"Patient/{patient['id']}")
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [7.1, 140]
    assert sorted(r["reference"] for r in report["result"]) == sorted(f"Observation/{o['id']}" for o in observations)
    (report_reference,) = [r for r in created if r.startswith("DiagnosticReport/")]
    assert {"system": BRIDGE_FHIR, "value": report_reference} in report["identifier"]
    assert report["performer"] == [
        {"type": "Organization", "identifier": {"system": BRIDGE_FHIR, "value": "Organization/demo-lab"}}
    ]
    assert f"Patient/{patient['id']}" in sent.response_summary.split()  # type: ignore[union-attr]

    # A retry after a lost answer sends the same Bundle again: nothing new at the hospital.
    asyncio.run(_push_again(hospital_server.url, bundle))
    assert len(hospital_server.search("Patient", identifier=identifier)) == 1
    assert len(hospital_server.search("DiagnosticReport", subject=f"Patient/{patient['id']}")) == 1
    assert len(hospital_server.search("Observation", subject=f"Patient/{patient['id']}")) == 2
    with bridge.services() as services:
        events = recent_audit_events(services.repository, {HOSPITAL}, 50)
    assert any(f"outbox message {message_id} pushed" in e.get("outcomeDesc", "") for e in events)


async def _push_again(url: str, bundle: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        await push_transaction(client, Target(url, TOKEN), bundle)


def test_a_correction_replaces_the_result_at_the_hospital(
    bridge: Bridge, runtime: Runtime, hospital_server: MedplumServer
) -> None:
    point_endpoint(bridge, hospital_server.url)
    patient_id = new_resident(bridge, "demo-home-1")
    order = uuid.uuid4().hex[:10]
    first = push(bridge, patient_id, store_lab(bridge, patient_id, 7.1, order))
    corrected = push(bridge, patient_id, store_lab(bridge, patient_id, 5.2, order))
    assert first != corrected
    for message_id in first + corrected:
        assert deliver_until_done(runtime, message_id, bridge).status == "sent"
    patient = hospital_patient(hospital_server, bridge, patient_id)
    values = [
        o["valueQuantity"]["value"] for o in hospital_server.search("Observation", subject=f"Patient/{patient['id']}")
    ]
    assert sorted(values) == [5.2, 140]
    assert len(hospital_server.search("DiagnosticReport", subject=f"Patient/{patient['id']}")) == 1


def test_an_ecg_arrives_with_its_original_files_document(
    bridge: Bridge, runtime: Runtime, hospital_server: MedplumServer
) -> None:
    from bridge.demo.laboratory import DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET

    point_endpoint(bridge, hospital_server.url)
    patient_id = new_resident(bridge, "demo-home-1")
    token = lab_token(bridge, DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET)
    scp = ECG_DIR / "scp" / "Example.scp"
    response = bridge.client(headers={"Authorization": f"Bearer {token}"}).post(
        "/ingest/ecg",
        data={"patient": patient_id},
        files=[("file", (scp.name, scp.read_bytes(), "application/octet-stream"))],
    )
    assert response.status_code == 201, response.text
    observation = response.json()
    created = [f"Observation/{observation['id']}", observation["derivedFrom"][0]["reference"]]
    (message_id,) = push(bridge, patient_id, created, "ecg")
    assert deliver_until_done(runtime, message_id, bridge).status == "sent"
    patient = hospital_patient(hospital_server, bridge, patient_id)
    (ecg,) = hospital_server.search("Observation", subject=f"Patient/{patient['id']}", code="http://loinc.org|11524-6")
    (document,) = hospital_server.search("DocumentReference", subject=f"Patient/{patient['id']}")
    assert ecg["derivedFrom"] == [{"reference": f"DocumentReference/{document['id']}"}]
    assert document["content"][0]["attachment"]["url"].startswith("http://testserver/ingest/files/")


def test_a_hospital_that_is_down_gets_the_report_once_it_is_back(bridge: Bridge, runtime: Runtime) -> None:
    port = free_port()
    point_endpoint(bridge, f"http://127.0.0.1:{port}")
    patient_id = new_resident(bridge, "demo-home-2")
    (message_id,) = push(bridge, patient_id, store_lab(bridge, patient_id, 6.5))
    clock = clock_of(runtime)
    for attempt in (1, 2):
        assert run_round(runtime) >= 1
        row = message_row(bridge, message_id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert "ConnectError" in (row.last_error or "")
        with bridge.services() as services:
            assert HospitalEndpoints(services).get(HOSPITAL) is not None
        clock.offset += timedelta(seconds=15)
    with MedplumServer(port) as server:
        row = deliver_until_done(runtime, message_id, bridge)
        assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
        patient = hospital_patient(server, bridge, patient_id)
        assert len(server.search("Observation", subject=f"Patient/{patient['id']}")) == 2


def test_a_bundle_the_hospital_refuses_fails_at_once_with_its_reason(
    bridge: Bridge, runtime: Runtime, hospital_server: MedplumServer
) -> None:
    point_endpoint(bridge, hospital_server.url)
    invalid = {"resourceType": "Observation", "id": str(uuid.uuid4()), "code": {"text": "no status"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": invalid, "request": {"method": "PUT", "url": f"Observation/{invalid['id']}"}}],
    }
    with bridge.services() as services:
        message_id = enqueue(
            services.db, NewMessage(HOSPITAL_FHIR, HOSPITAL, json.dumps(bundle), uuid.uuid4().hex), services.now()
        )
    row = deliver_until_done(runtime, message_id, bridge)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None and row.last_error.startswith("HTTP 400") and "status" in row.last_error


def test_no_endpoint_means_no_message(bridge: Bridge, runtime: Runtime) -> None:
    patient_id = new_resident(bridge, "demo-home-1")
    with bridge.services() as services:
        assert HospitalEndpoints(services).get(HOSPITAL) is None
        before = services.db.scalar(select(func.count(OutboxMessage.id)))
    assert push(bridge, patient_id, store_lab(bridge, patient_id, 6.0)) == []
    with bridge.services() as services:
        assert services.db.scalar(select(func.count(OutboxMessage.id))) == before


def test_the_applications_worker_delivers_by_itself(
    bridge: Bridge, runtime: Runtime, hospital_server: MedplumServer
) -> None:
    point_endpoint(bridge, hospital_server.url)
    patient_id = new_resident(bridge, "demo-home-2")
    with LiveServer(create_app(runtime=runtime), lifespan=True):
        (message_id,) = push(bridge, patient_id, store_lab(bridge, patient_id, 8.2))
        deadline = time.monotonic() + 20
        while message_row(bridge, message_id).status != "sent":
            assert time.monotonic() < deadline, message_row(bridge, message_id).last_error
            time.sleep(0.05)
    patient = hospital_patient(hospital_server, bridge, patient_id)
    assert len(hospital_server.search("Observation", subject=f"Patient/{patient['id']}")) == 2
