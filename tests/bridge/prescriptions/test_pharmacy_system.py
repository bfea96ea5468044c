"""Issue 6 with real peers: a pharmacy's own system (pharmacy_system.py) against a real ``bridge serve``
process, whose outbox worker pushes the notifications. The doctor signs and the nurse confirms receipt
through the session's in-process bridge on the same database (two instances of one deployment).

Faults: the pharmacy's endpoint down for a while, the bridge killed in the middle of a delivery, and a
prescription altered in the database after signing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir_adapter.store.tables import ResourceVersion, StoredResource
from sqlalchemy import update

from bridge.prescriptions.signature import Failure, verify_prescription_signature
from tests.bridge.prescriptions.pharmacy_system import SCOPE, PharmacySystem, wait_until
from tests.bridge.prescriptions.workflow_support import fhir, parameters, prescribable_resident, signed_task
from tests.conftest import TEST_SECRET, Bridge
from tests.support import free_port

PHARMACY = "demo-pharmacy"  # supplies demo-home-1, where prescribable_resident's residents live
DELIVERY = "https://nhbridge.org/fhir/CodeSystem/prescription-delivery-status"
REPO = Path(__file__).resolve().parents[3]


class BridgeProcess:
    """``python -m bridge serve`` on the session's database and a fixed port, with a quick outbox (polls
    every 0.2 s, retries after 0.5-2 s, 1 s timeout, so a dead instance's claim lapses after 8 s)."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")} | {
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_SECRET_KEY": TEST_SECRET,  # the same deployment: the same keys and seals
            "BRIDGE_PUBLIC_BASE_URL": self.url,
            "BRIDGE_SUBSCRIPTION_ALLOW_HTTP": "true",
            "BRIDGE_OUTBOX_POLL_SECONDS": "0.2",
            "BRIDGE_OUTBOX_BACKOFF_BASE_SECONDS": "0.5",
            "BRIDGE_OUTBOX_BACKOFF_MAX_SECONDS": "2",
            "BRIDGE_OUTBOX_TIMEOUT_SECONDS": "1",
            "BRIDGE_LOG_LEVEL": "WARNING",
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        command = [sys.executable, "-m", "bridge", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

        def healthy() -> bool:
            assert self._process is not None and self._process.poll() is None, self.log()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout, "bridge serve to answer /healthz")

    def kill(self) -> None:
        """SIGKILL: no clean-up, claims stay held until their lease lapses."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=30)
            self._process = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture(scope="module")
def served(bridge: Bridge, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    process = BridgeProcess(database_url, tmp_path_factory.mktemp("serve") / "bridge.log")
    process.start()
    yield process
    process.kill()


@pytest.fixture
def pharmacy(bridge: Bridge, served: BridgeProcess) -> Iterator[PharmacySystem]:
    with bridge.services() as services:
        issued = services.clients.create("pharmacy dispensing system", PHARMACY, SCOPE, services.now())
    with PharmacySystem(served.url, PHARMACY, issued.client.client_id, issued.client_secret) as system:
        system.subscribe()
        yield system
        system.unsubscribe()  # later tests' prescriptions for demo-pharmacy are no business of this one
    assert not system.refused, "a notification failed the HMAC check or was a replay"


def _delivery(task: dict[str, Any]) -> str:
    return str(task["businessStatus"]["coding"][0]["code"])


def _sign(bridge: Bridge, count: int) -> list[dict[str, Any]]:
    return [signed_task(bridge, prescribable_resident(bridge)) for _ in range(count)]


def _assert_supplied(bridge: Bridge, pharmacy: PharmacySystem, signed: list[dict[str, Any]]) -> None:
    """Every one verified, accepted, dispensed and dispatched once; event numbers in the signing order."""
    handled = pharmacy.wait_for_events(len(signed))
    assert pharmacy.errors == []
    assert [h.task_id for h in handled] == [s["task"]["id"] for s in signed]
    assert [h.event_number for h in handled] == list(range(1, len(signed) + 1))
    for one in handled:
        assert one.ok, one.verdict
        assert one.verdict == "verified: signed by Practitioner/demo-dr-li"
        assert one.answers == {"$accept": 200, "$dispense": 200, "$dispatch": 200}
    first_arrivals = list(dict.fromkeys(pharmacy.event_numbers()))
    assert first_arrivals == sorted(first_arrivals) == list(range(1, len(signed) + 1))
    pharmacist = fhir(bridge, "pharmacist")
    for sent in signed:
        task = pharmacist.get(f"/fhir/Task/{sent['task']['id']}").json()
        assert (task["status"], _delivery(task)) == ("in-progress", "dispatched")


def test_the_pharmacy_system_supplies_a_signed_prescription_and_the_nurse_confirms(
    bridge: Bridge, pharmacy: PharmacySystem
) -> None:
    signed = _sign(bridge, 1)
    _assert_supplied(bridge, pharmacy, signed)
    handled = pharmacy.handled[1]
    # The pharmacy's own check agrees with the bridge's reference verifier on what it was sent.
    jwks = httpx.get(f"{pharmacy.bridge_url}/.well-known/jwks.json", timeout=10).json()
    assert verify_prescription_signature(handled.provenance, handled.medication_request, jwks).ok
    assert handled.medication_request == signed[0]["medicationRequest"]

    task_id = signed[0]["task"]["id"]
    nurse = fhir(bridge, "nurse1")
    receipt = parameters(quantityReceived={"valueDecimal": 28})
    received = nurse.post(f"/fhir/Task/{task_id}/$confirm-receipt", json=receipt)
    assert received.status_code == 200, received.text
    final = received.json()
    assert final["status"] == "completed" and _delivery(final) == "received"
    dispense = nurse.get(f"/fhir/{final['output'][0]['valueReference']['reference']}").json()
    assert dispense["resourceType"] == "MedicationDispense" and dispense["status"] == "completed"
    steps = [e["extension"][0]["valueCode"] for e in final["extension"] if e["url"].endswith("prescription-step")]
    assert steps == ["signed", "accepted", "dispensed", "dispatched", "received"]
    # The steps name the pharmacy's system as the actor of its three.
    actors = [e["extension"][1]["valueReference"]["reference"] for e in final["extension"] if "step" in e["url"]]
    assert actors[1:4] == [f"Organization/{PHARMACY}"] * 3


def test_an_endpoint_down_for_a_while_gets_everything_after_it_returns_in_order(
    bridge: Bridge, pharmacy: PharmacySystem
) -> None:
    pharmacy.answer = 503
    before = pharmacy.attempts
    signed = _sign(bridge, 3)
    wait_until(lambda: pharmacy.attempts >= before + 3, what="the bridge's attempts while the endpoint is down")
    assert pharmacy.event_numbers() == [] and pharmacy.handled == {}
    pharmacy.answer = 200
    _assert_supplied(bridge, pharmacy, signed)


def test_a_bridge_killed_in_the_middle_of_a_delivery_still_delivers_every_event(
    bridge: Bridge, pharmacy: PharmacySystem, served: BridgeProcess
) -> None:
    pharmacy.hold = hold = threading.Event()
    signed = _sign(bridge, 3)
    wait_until(pharmacy.holding.is_set, what="the first notification to be under way")
    served.kill()  # the bridge is waiting for the endpoint's answer to event 1; events 2 and 3 are pending
    hold.set()  # the endpoint got event 1 and processes it; its 200 goes nowhere
    served.start()
    _assert_supplied(bridge, pharmacy, signed)
    numbers = pharmacy.event_numbers()
    assert numbers.count(1) >= 2, numbers  # sent again after the lease lapsed: a new Bundle, the same number
    assert sorted(set(numbers)) == [1, 2, 3]


def test_a_prescription_altered_after_signing_fails_verification_and_is_rejected(
    bridge: Bridge, pharmacy: PharmacySystem
) -> None:
    pharmacy.answer = 503  # held back while the stored prescription is altered
    signed = _sign(bridge, 1)[0]
    request = signed["medicationRequest"]
    key = ("MedicationRequest", request["id"], int(request["meta"]["versionId"]))
    altered = {**request, "dosageInstruction": [dict(request["dosageInstruction"][0])]}
    dose = dict(altered["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"], value=50)
    altered["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": dose}]
    with bridge.services() as services:  # in place: the signed version itself, no new version
        for table in (ResourceVersion, StoredResource):
            services.db.execute(
                update(table)
                .where(table.resource_type == key[0], table.id == key[1], table.version_id == key[2])
                .values(content=altered)
            )
    pharmacy.answer = 200
    (handled,) = pharmacy.wait_for_events(1)
    assert not handled.ok and handled.verdict.startswith("payload mismatch")
    assert handled.medication_request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 50
    assert handled.answers == {"$reject": 200}
    jwks = httpx.get(f"{pharmacy.bridge_url}/.well-known/jwks.json", timeout=10).json()
    reference = verify_prescription_signature(handled.provenance, handled.medication_request, jwks)
    assert reference.reason is Failure.PAYLOAD_MISMATCH

    doctor = fhir(bridge, "doctor")
    task = doctor.get(f"/fhir/Task/{signed['task']['id']}").json()
    assert task["status"] == "rejected" and _delivery(task) == "rejected"
    assert "payload mismatch" in task["statusReason"]["text"]
    held = doctor.get(f"/fhir/MedicationRequest/{request['id']}").json()
    assert held["status"] == "on-hold" and "signature check failed" in held["statusReason"]["text"]
