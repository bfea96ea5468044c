"""The critical-value path end to end, on a bridge served with its lifespan: a laboratory's HL7 message
with a critical potassium and an ECG with a critical heart rate arrive over HTTP; the doctor's and the
home nurse's sockets hear `result.new` and `result.critical`; the alert is a Communication a doctor finds
over FHIR and acknowledges; the one nobody acknowledges escalates to the supervisors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import httpx
import numpy as np
import pytest

from bridge.demo.laboratory import DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET, DEMO_LAB_CLIENT_ID, DEMO_LAB_SECRET
from tests.bridge.ingest.support import oru
from tests.bridge.results.critical_support import LiveBridge, running_live_bridge
from tests.bridge.signalling.support import run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")


@pytest.fixture(scope="module")
def live(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    with running_live_bridge(backend, str(tmp_path_factory.mktemp(f"ingest-critical-{backend}"))) as running:
        yield running


def client_token(live: LiveBridge, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{live.url}/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=20
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def slow_ecg_csv(rate: int = 500, seconds: int = 10, bpm: int = 32) -> bytes:
    """Two leads of a synthetic ECG at `bpm` (a spike train with a T wave), in µV."""
    t = np.arange(rate * seconds) / rate
    signal = np.zeros_like(t)
    for beat in np.arange(0.5, seconds, 60 / bpm):
        signal += 1200 * np.exp(-(((t - beat) / 0.012) ** 2)) + 250 * np.exp(-(((t - beat - 0.3) / 0.05) ** 2))
    rows = "\n".join(f"{round(v)},{round(v * 0.8)}" for v in signal)
    return f"II,V5\n{rows}\n".encode()


def test_a_critical_laboratory_result_and_ecg_reach_the_doctor_and_escalate(live: LiveBridge) -> None:
    with live.runtime.session_factory() as db:
        from bridge.services import Services

        services = Services(db, live.runtime)
        patient = sorted(services.residents.patients_of_homes(["demo-home-1"]), key=lambda p: p["id"])[0]
    identifier = patient["identifier"][0]["value"]
    lab = {"Authorization": f"Bearer {client_token(live, DEMO_LAB_CLIENT_ID, DEMO_LAB_SECRET)}"}
    analyser = {"Authorization": f"Bearer {client_token(live, DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET)}"}

    async def body() -> None:
        doctor, nurse, supervisor = (
            await live.socket("doctor"),
            await live.socket("nurse1"),
            await live.socket("supervisor"),
        )
        try:
            async with httpx.AsyncClient(base_url=live.url, timeout=60) as http:
                message = oru(identifier, "NM|2823-3^Potassium^LN||7.1|mmol/L|3.5-5.5|HH|||F")
                answer = await http.post("/ingest/hl7v2", content=message, headers=lab)
                assert b"|AA|" in answer.content, answer.text
                news = await doctor.next_event("result.new", timeout=5)
                assert news["kind"] == "lab" and news["patient_id"] == patient["id"] and news["critical"]
                critical = await doctor.next_event("result.critical", timeout=5)
                assert critical["patient_id"] == patient["id"] and "7.1" in critical["value"]
                assert (await nurse.next_event("result.critical", timeout=5))["communication_id"] == critical[
                    "communication_id"
                ]

                upload = await http.post(
                    "/ingest/ecg",
                    data={"patient": patient["id"], "sampling_rate": "500"},
                    files=[("file", ("slow.csv", slow_ecg_csv(), "text/csv"))],
                    headers=analyser,
                )
                assert upload.status_code == 201, upload.text
                ecg_critical = await doctor.next_event("result.critical", timeout=10)
                assert ecg_critical["observation"].startswith(f"Observation/{upload.json()['id']}/")

                # Over FHIR, the doctor finds both alerts and acknowledges the laboratory's.
                doctor_api = {"Authorization": f"Bearer {await asyncio.to_thread(live.token, 'doctor')}"}
                found = await http.get(
                    "/fhir/Communication",
                    params={"category": "critical-result", "patient": f"Patient/{patient['id']}"},
                    headers=doctor_api,
                )
                ids = {e["resource"]["id"] for e in found.json().get("entry", [])}
                assert {critical["communication_id"], ecg_critical["communication_id"]} <= ids
                acknowledged = await http.post(
                    f"/fhir/Communication/{critical['communication_id']}/$acknowledge", headers=doctor_api
                )
                assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "completed"

            # Nobody acknowledges the ECG's: after ten minutes the supervisors hear of it, and of it only.
            with live.clock.advanced(timedelta(minutes=10, seconds=5)):
                alert = await supervisor.next_event("alert", timeout=5)
                assert alert["kind"] == "critical_unacknowledged"
                assert alert["communication_id"] == ecg_critical["communication_id"]
        finally:
            for client in (doctor, nurse, supervisor):
                await client.close()

    run(body, timeout=90)
