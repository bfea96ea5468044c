"""Advice in real time, through an application with its lifespan (the live publisher runs): the home's
nurse hears `advice.sent` as soon as the doctor sends it, another home's nurse hears nothing, and the
sending hospital's doctor hears `advice.acknowledged` once the nurse acknowledges. A database of its
own (tests/bridge/results/critical_support.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bridge.services import Services
from rtc.signalling_client import SignallingClient, SignallingError
from tests.bridge.results.critical_support import LiveBridge, running_live_bridge
from tests.bridge.signalling.support import run


@pytest.fixture(scope="module")
def live(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    with running_live_bridge(backend, str(tmp_path_factory.mktemp(f"advice-{backend}"))) as running:
        yield running


async def nothing_of(client: SignallingClient, kind: str, seconds: float = 0.3) -> bool:
    with contextlib.suppress(SignallingError):
        await client.next_event(kind, timeout=seconds)
        return False
    return True


def resident(live: LiveBridge) -> str:
    with live.runtime.session_factory.begin() as db:
        patient = Services(db, live.runtime).repository.create(
            {
                "resourceType": "Patient",
                "name": [{"text": "实时建议"}],
                "managingOrganization": {"reference": "Organization/demo-home-1"},
            }
        )
    return str(patient["id"])


def post(live: LiveBridge, username: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {live.token(username)}", "Content-Type": "application/fhir+json"}
    return httpx.post(f"{live.url}{path}", json=body, headers=headers, timeout=20)


def test_the_home_hears_advice_at_once_and_the_hospital_its_acknowledgement(live: LiveBridge) -> None:
    patient = resident(live)
    due = (live.clock.now() + timedelta(days=1)).isoformat()
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "text", "valueString": "多饮水。"},
            {
                "name": "task",
                "part": [{"name": "description", "valueString": "记录尿量"}, {"name": "due", "valueDateTime": due}],
            },
        ],
    }

    async def body() -> None:
        doctor, nurse, other_nurse = (
            await live.socket("doctor"),
            await live.socket("nurse1"),
            await live.socket("nurse2"),
        )
        try:
            sent = await asyncio.to_thread(post, live, "doctor", f"/fhir/Patient/{patient}/$advise", parameters)
            assert sent.status_code == 201, sent.text
            communication_id = sent.json()["id"]
            heard = await nurse.next_event("advice.sent", timeout=5)
            assert heard["communication_id"] == communication_id and heard["patient_id"] == patient
            assert heard["home_id"] == "demo-home-1" and heard["tasks"] == 1
            assert await nothing_of(other_nurse, "advice.sent")
            path = f"/fhir/Communication/{communication_id}/$acknowledge"
            acknowledged = await asyncio.to_thread(post, live, "nurse1", path)
            assert acknowledged.status_code == 200, acknowledged.text
            news = await doctor.next_event("advice.acknowledged", timeout=5)
            assert news["communication_id"] == communication_id
        finally:
            for client in (doctor, nurse, other_nurse):
                await client.close()

    run(body)
