"""Parts of bench_prescriptions.py: a pharmacy endpoint that notes when it answered each event, the
pharmacy's client and Subscription, the doctor's drafts ready to sign, and the bare-POST baseline.

The endpoint is the tests' pharmacy receiver (tests/bridge/subscriptions/receiver.py): it checks each
body's HMAC and refuses replays, as a pharmacy would, before answering 200.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.benchmarks.signal_bench_support import BenchError, latency_summary
from tests.bridge.prescriptions.pharmacy_system import SCOPE
from tests.bridge.prescriptions.workflow_support import draft, overrides, prescribable_resident
from tests.bridge.subscriptions.receiver import PharmacyReceiver, Received
from tests.bridge.subscriptions.support import subscription
from tests.conftest import Bridge
from tests.support import AdjustableClock

PHARMACY = "demo-pharmacy"  # supplies demo-home-1
FHIR_JSON = "application/fhir+json"
TIMEOUT_S = 30.0


class TimedEndpoint(PharmacyReceiver):
    """The receiver, noting per Task the moment it first answered 2xx to an event about it."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret=secret)
        self.answered: dict[str, float] = {}  # Task id -> perf_counter when the 2xx went out
        self.bodies: list[Received] = []  # the event notifications accepted, for the baseline
        self._arrived = threading.Condition()

    def take(self, received: Received) -> int:
        answer = super().take(received)
        now = time.perf_counter()
        if answer == 200 and received.status["type"] == "event-notification":
            with self._arrived:
                self.bodies.append(received)
                for event in received.status["events"]:
                    task_id = str(event["focus"]).split("/Task/", 1)[1].split("/", 1)[0]
                    self.answered.setdefault(task_id, now)
                self._arrived.notify_all()
        return answer

    def __enter__(self) -> TimedEndpoint:
        super().__enter__()
        return self

    def wait_for(self, task_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not all(t in self.answered for t in task_ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [t for t in task_ids if t not in self.answered]
                    raise BenchError(f"{len(missing)} notifications did not arrive within {timeout:g} s")
                self._arrived.wait(min(left, 0.1))


@dataclass
class Pharmacy:
    client_id: str
    secret: str
    token: str
    subscription_id: str = ""


def pharmacy_client(bridge: Bridge) -> tuple[str, str]:
    with bridge.services() as services:
        issued = services.clients.create(f"bench pharmacy {time.time_ns()}", PHARMACY, SCOPE, services.now())
    return issued.client.client_id, issued.client_secret


def token(url: str, form: dict[str, str]) -> str:
    answer = httpx.post(f"{url}/auth/token", data=form, timeout=TIMEOUT_S)
    if answer.status_code != 200:
        raise BenchError(f"POST /auth/token answered {answer.status_code}: {answer.text[:300]}")
    return str(answer.json()["access_token"])


def subscribe(url: str, client_id: str, secret: str, endpoint: TimedEndpoint) -> Pharmacy:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    pharmacy = Pharmacy(client_id, secret, token(url, form))
    headers = {"Authorization": f"Bearer {pharmacy.token}", "Content-Type": FHIR_JSON}
    created = httpx.post(f"{url}/fhir/Subscription", json=subscription(PHARMACY, endpoint.url), headers=headers)
    if created.status_code != 201:
        raise BenchError(f"the Subscription was refused: {created.status_code} {created.text[:300]}")
    pharmacy.subscription_id = str(created.json()["id"])
    deadline = time.monotonic() + TIMEOUT_S
    while not endpoint.of_type("handshake"):
        if time.monotonic() > deadline:
            raise BenchError("no handshake reached the endpoint")
        time.sleep(0.05)
    return pharmacy


def unsubscribe(url: str, pharmacy: Pharmacy) -> None:
    headers = {"Authorization": f"Bearer {pharmacy.token}"}
    httpx.delete(f"{url}/fhir/Subscription/{pharmacy.subscription_id}", headers=headers, timeout=TIMEOUT_S)


@dataclass
class Draft:
    request_id: str
    sign_body: dict[str, Any]  # the Parameters of $sign, with the overrides its findings need


def drafts(bridge: Bridge, doctor: httpx.Client, count: int) -> list[Draft]:
    """``count`` drafts, each for a new resident of demo-home-1 (no duplicate-therapy findings between
    them), checked beforehand so that $sign is the only request timed."""
    made = []
    for _ in range(count):
        created = doctor.post("/fhir/MedicationRequest", json=draft(prescribable_resident(bridge)))
        if created.status_code != 201:
            raise BenchError(f"a draft was refused: {created.status_code} {created.text[:300]}")
        request_id = str(created.json()["id"])
        found = doctor.post(f"/fhir/MedicationRequest/{request_id}/$check").json()
        needing = [
            coding["code"]
            for issue in found["issue"]
            if issue["severity"] == "error"
            for coding in issue.get("details", {}).get("coding", [])
        ]
        body = overrides(*((key, "已与家属沟通，获益大于风险") for key in needing))
        made.append(Draft(request_id, body))
    return made


def sign(doctor: httpx.Client, prepared: Draft) -> str:
    """$sign; the id of the Task it made."""
    answer = doctor.post(f"/fhir/MedicationRequest/{prepared.request_id}/$sign", json=prepared.sign_body)
    if answer.status_code != 200:
        raise BenchError(f"$sign answered {answer.status_code}: {answer.text[:300]}")
    return next(str(p["resource"]["id"]) for p in answer.json()["parameter"] if p["name"] == "task")


def bench_bridge(runtime: Any) -> Bridge:
    """The tests' Bridge shape over a runtime, for workflow_support's resident builder (no server)."""
    return Bridge(runtime, AdjustableClock(), "")


def bare_posts(endpoint: TimedEndpoint, bodies: list[Received]) -> dict[str, Any]:
    """The baseline: the same notification bodies and headers POSTed one after another over one keep-alive
    httpx connection to the same endpoint (its replay guard reset first, so each is new to it)."""
    endpoint.guard = type(endpoint.guard)()
    latencies = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        started = time.perf_counter()
        for received in bodies:
            headers = {k: v for k, v in received.headers.items() if k in {"content-type", "x-bridge-signature"}}
            before = time.perf_counter()
            answer = client.post(endpoint.url, content=received.body, headers=headers)
            latencies.append(time.perf_counter() - before)
            if answer.status_code != 200:
                raise BenchError(f"the endpoint refused a bare POST: {answer.status_code}")
        wall = time.perf_counter() - started
    summary = latency_summary(latencies)
    summary["per_s"] = round(len(bodies) / wall, 1) if wall else None
    summary["body_bytes_mean"] = round(sum(len(r.body) for r in bodies) / len(bodies)) if bodies else None
    return summary
