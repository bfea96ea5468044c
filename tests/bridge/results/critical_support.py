"""Residents and Observations of their own for the critical-value tests (the demo's stay as they are)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.app import create_app
from bridge.db.migrate import upgrade
from bridge.demo.seed import DEMO_PASSWORD, seed_demo
from bridge.results import critical_escalation
from bridge.results.critical import raise_critical_alerts
from bridge.runtime import Runtime
from bridge.services import Services
from rtc.signalling_client import SignallingClient
from tests.bridge.signalling.support import ws_url
from tests.conftest import make_settings
from tests.support import AdjustableClock, LiveServer, fresh_database

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
HOME_1, HOME_2, HOSPITAL = "demo-home-1", "demo-home-2", "demo-hospital"


def new_resident(services: Services, home: str = HOME_1) -> dict[str, Any]:
    # Ids sort after the demo residents', which other tests pick by their position in the home.
    return services.repository.create(
        {
            "resourceType": "Patient",
            "name": [{"text": "危急测试", "family": "危", "given": ["急测试"]}],
            "managingOrganization": {"reference": f"Organization/{home}"},
        },
        f"zz-critical-{uuid.uuid4().hex[:12]}",
    )


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def flags(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": INTERPRETATION, "code": code}]}]


def lab(
    patient_id: str,
    code: str,
    value: float | None,
    unit: str = "mmol/L",
    *,
    flag: str | None = None,
    status: str = "final",
    when: str = "2026-11-30T08:00:00+08:00",
) -> dict[str, Any]:
    """A laboratory Observation (LOINC code, UCUM quantity) of the resident, not yet stored."""
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
    }
    if value is not None:
        observation["valueQuantity"] = quantity(value, unit)
    else:
        observation["valueString"] = "见报告"
    if flag:
        observation["interpretation"] = flags(flag)
    return observation


def ecg(patient_id: str, heart_rate: float, qtc_ms: float) -> dict[str, Any]:
    """An ECG Observation as fhir_adapter.ecg writes it: heart rate and QTc (Bazett, Fridericia) as components."""

    def component(code: str, display: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": quantity(value, unit),
        }

    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "procedure"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-11-30T09:00:00+08:00",
        "component": [
            component("8867-4", "Heart rate", heart_rate, "/min"),
            component("8625-6", "P-R interval", 160, "ms"),
            component("76635-2", "Q-T interval corrected based on Bazett formula", qtc_ms, "ms"),
            component("76634-5", "Q-T interval corrected based on Fridericia formula", qtc_ms - 25, "ms"),
        ],
    }


def store_and_review(services: Services, patient: dict[str, Any], *observations: dict[str, Any]) -> list[str]:
    """Store the Observations as ingestion does, then review them in the same unit of work."""
    stored = [services.repository.create(o) for o in observations]
    return raise_critical_alerts(services, patient, stored)


@dataclass
class LiveBridge:
    """A seeded bridge of its own, served with its lifespan: live news and the escalation timer run."""

    runtime: Runtime
    clock: AdjustableClock
    url: str

    def token(self, username: str) -> str:
        data = {"grant_type": "password", "username": username, "password": DEMO_PASSWORD}
        response = httpx.post(f"{self.url}/auth/token", data=data, timeout=20)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def socket(self, username: str) -> SignallingClient:
        token = await asyncio.to_thread(self.token, username)
        client = SignallingClient(ws_url(self.url), token=token)
        await client.connect()
        return client

    def critical_result(self, value: float = 6.9) -> tuple[str, str]:
        """A new resident of home 1 with a critical potassium: (patient id, Communication id)."""
        with self.runtime.session_factory.begin() as db:
            services = Services(db, self.runtime)
            patient = new_resident(services)
            (reference,) = store_and_review(services, patient, lab(patient["id"], "2823-3", value))
        return patient["id"], reference.removeprefix("Communication/")


@contextmanager
def running_live_bridge(backend: str, tmp_dir: str) -> Iterator[LiveBridge]:
    """On a fresh database, so that moving its clock disturbs no other test; escalation sweeps every 0.1 s."""
    sweep, critical_escalation.SWEEP_SECONDS = critical_escalation.SWEEP_SECONDS, 0.1
    try:
        with fresh_database(backend, tmp_dir) as url:
            upgrade(url)
            clock = AdjustableClock()
            runtime = Runtime.from_settings(make_settings(url, recording_enabled=False), clock=clock)
            with runtime.session_factory.begin() as db:
                seed_demo(Services(db, runtime))
            try:
                with LiveServer(create_app(runtime=runtime), lifespan=True) as server:
                    yield LiveBridge(runtime, clock, server.url)
            finally:
                runtime.engine.dispose()
    finally:
        critical_escalation.SWEEP_SECONDS = sweep
