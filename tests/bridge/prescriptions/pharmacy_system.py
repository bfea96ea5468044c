"""A pharmacy's own system, written the way a pharmacy would write it against the bridge's documents
(docs/prescriptions.md), for the whole-flow tests of test_pharmacy_system.py.

- Its notification endpoint is tests/bridge/subscriptions/receiver.py's loopback server: the HMAC of every
  body (``X-Bridge-Signature``) is checked with the pharmacy client's secret, replays are refused.
- It signs in with client_credentials (httpx) and subscribes to the prescription topic.
- Each new event number (copies of an event are skipped) is handled in a thread of its own, after the
  endpoint answered: the doctor's JWS is checked with plain PyJWT and rfc8785 against the live
  ``/.well-known/jwks.json`` (not with the bridge's code), then the Task is accepted, dispensed and
  dispatched over FHIR, or rejected with the reason the signature failed.
"""

from __future__ import annotations

import base64
import binascii
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import rfc8785

from tests.bridge.subscriptions.receiver import PharmacyReceiver, Received
from tests.bridge.subscriptions.support import subscription

FHIR_JSON = "application/fhir+json"
SCOPE = (
    "system/Subscription.cruds system/Task.rus system/MedicationDispense.crus "
    "system/MedicationRequest.rs system/Patient.rs"
)
RETRY_CONNECT_SECONDS = 60.0  # how long a request waits for a restarting bridge (a refused connection)


class Unverified(Exception):
    """The prescription's signature does not hold; the message is the reason given in $reject."""


def verify_jws(provenance: dict[str, Any], request: dict[str, Any], jwks: dict[str, Any]) -> str:
    """The signer (``Practitioner/<id>``) when the Provenance's JWS covers exactly this MedicationRequest
    version under a published key of its requester; else Unverified."""
    signature = next((s for s in provenance.get("signature", []) if s.get("sigFormat") == "application/jose"), None)
    if signature is None:
        raise Unverified("no JWS signature in the Provenance")
    try:
        token = base64.b64decode(signature["data"], validate=True).decode("ascii")
        kid = jwt.get_unverified_header(token).get("kid")
    except (binascii.Error, UnicodeDecodeError, jwt.DecodeError) as exc:
        raise Unverified(f"unreadable JWS: {exc}") from exc
    entry = next((k for k in jwks.get("keys", []) if k.get("kid") == kid), None)
    if entry is None:
        raise Unverified(f"key {kid} is not published")
    try:
        payload = jwt.api_jws.decode(token, jwt.PyJWK(entry, algorithm="ES256").key, algorithms=["ES256"])
    except jwt.PyJWTError as exc:
        raise Unverified(f"the JWS does not verify under key {kid}: {exc}") from exc
    version = request.get("meta", {}).get("versionId")
    signed = f"MedicationRequest/{request.get('id')}/_history/{version}"
    if signed not in [t.get("reference") for t in provenance.get("target", [])]:
        raise Unverified(f"the signature is not over {signed}")
    if payload != rfc8785.dumps({k: v for k, v in request.items() if k not in ("meta", "text")}):
        raise Unverified("payload mismatch: the prescription differs from what the doctor signed")
    requester = request.get("requester", {}).get("reference")
    if entry.get("practitioner") != requester:
        raise Unverified(f"signed with a key of {entry.get('practitioner')}, not of the prescriber {requester}")
    return str(requester)


@dataclass
class Handled:
    """What the pharmacy did with one event."""

    event_number: int
    task_id: str
    medication_request: dict[str, Any]
    provenance: dict[str, Any]
    verdict: str  # "verified by Practitioner/x" or the failure reason
    ok: bool
    answers: dict[str, int] = field(default_factory=dict)  # operation -> HTTP status


class PharmacySystem(PharmacyReceiver):
    """The endpoint (a PharmacyReceiver) plus the pharmacy's own FHIR client and event handling."""

    def __init__(self, bridge_url: str, organization_id: str, client_id: str, secret: str) -> None:
        super().__init__(secret=secret)
        self.bridge_url = bridge_url
        self.organization_id = organization_id
        self.client_id = client_id
        self.handled: dict[int, Handled] = {}
        self.errors: list[str] = []
        self.attempts = 0  # every POST the endpoint saw, answered or not
        self.hold: threading.Event | None = None  # when set up, an event notification waits for it
        self.holding = threading.Event()  # set while one waits
        self.subscription_id = ""
        self._queue: queue.Queue[Received | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="pharmacy-system", daemon=True)
        self._http = httpx.Client(base_url=bridge_url, timeout=20)
        self._token = ""

    # --- the endpoint -------------------------------------------------------------------------------

    def take(self, received: Received) -> int:
        self.attempts += 1
        if self.hold is not None and self.answer == 200 and b"event-notification" in received.body:
            self.holding.set()
            self.hold.wait(timeout=60)
            self.hold = None
        answer = super().take(received)
        if answer == 200:
            self._queue.put(received)  # handled after the answer: a pharmacy acknowledges at once
        return answer

    def __enter__(self) -> PharmacySystem:
        super().__enter__()
        self._worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self._queue.put(None)
        self._worker.join(timeout=30)
        super().__exit__(*exc)
        self._http.close()

    # --- FHIR ---------------------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request with the pharmacy's token; a refused connection (the bridge restarting) is tried again,
        since the request never reached the bridge."""
        deadline = time.monotonic() + RETRY_CONNECT_SECONDS
        while True:
            try:
                if not self._token:
                    self._token = self._sign_in()
                headers = {"Authorization": f"Bearer {self._token}", "Content-Type": FHIR_JSON}
                return self._http.request(method, path, headers=headers, **kwargs)
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _sign_in(self) -> str:
        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret}
        answer = self._http.post("/auth/token", data=data)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def subscribe(self) -> str:
        created = self.call("POST", "/fhir/Subscription", json=subscription(self.organization_id, self.url))
        assert created.status_code == 201, created.text
        self.subscription_id = str(created.json()["id"])
        wait_until(lambda: self.of_type("handshake"), what="the handshake")
        return self.subscription_id

    def unsubscribe(self) -> None:
        if self.subscription_id:
            self.call("DELETE", f"/fhir/Subscription/{self.subscription_id}")

    # --- handling events ----------------------------------------------------------------------------

    def _work(self) -> None:
        while (received := self._queue.get()) is not None:
            try:
                self._notification(received)
            except Exception as exc:  # a test reads them; a pharmacy would alert its staff
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _notification(self, received: Received) -> None:
        status = received.status
        if status["type"] != "event-notification":
            return
        resources = [e["resource"] for e in received.bundle["entry"][1:] if "resource" in e]
        for event in status["events"]:
            number = int(event["event-number"])
            if self.guard.event_is_new(str(status["subscription"]), number):
                self._event(number, str(event["focus"]), resources)

    def _event(self, number: int, focus: str, resources: list[dict[str, Any]]) -> None:
        task_id = focus.split("/Task/", 1)[1].split("/", 1)[0]
        task = _find(resources, "Task", task_id)
        request_id = task["focus"]["reference"].split("/", 1)[1]
        request = _find(resources, "MedicationRequest", request_id)
        provenance = next(
            r
            for r in resources
            if r["resourceType"] == "Provenance"
            and any(t["reference"].startswith(f"MedicationRequest/{request_id}/") for t in r["target"])
        )
        jwks = self.call("GET", "/.well-known/jwks.json").json()
        try:
            verdict, ok = f"verified: signed by {verify_jws(provenance, request, jwks)}", True
        except Unverified as failed:
            verdict, ok = str(failed), False
        handled = Handled(number, task_id, request, provenance, verdict, ok)
        if ok:
            self._supply(handled, task_id, request)
        else:
            reason = f"处方签名校验失败 / signature check failed: {verdict}"
            handled.answers["$reject"] = self._operation(task_id, "$reject", _parameters(reason=reason))
        self.handled[number] = handled

    def _supply(self, handled: Handled, task_id: str, request: dict[str, Any]) -> None:
        quantity = request["dispenseRequest"]["quantity"]
        arrival = (datetime.now(UTC) + timedelta(hours=4)).isoformat()
        steps = [
            ("$accept", _parameters(note="处方审核通过")),
            ("$dispense", {"resourceType": "MedicationDispense", "status": "in-progress", "quantity": quantity}),
            (
                "$dispatch",
                _parameters(
                    courier="顺丰速运",
                    trackingNumber=f"SF{handled.event_number:04d}{task_id[:8]}",
                    expectedArrival={"valueDateTime": arrival},
                ),
            ),
        ]
        for name, body in steps:
            handled.answers[name] = self._operation(task_id, name, body)
            if handled.answers[name] != 200:
                return

    def _operation(self, task_id: str, name: str, body: dict[str, Any]) -> int:
        answer = self.call("POST", f"/fhir/Task/{task_id}/{name}", json=body)
        if answer.status_code != 200:
            self.errors.append(f"{name} of Task/{task_id}: {answer.status_code} {answer.text[:300]}")
        return answer.status_code

    # --- for the tests --------------------------------------------------------------------------------

    def wait_for_events(self, count: int, timeout: float = 45) -> list[Handled]:
        wait_until(lambda: len(self.handled) >= count, timeout, f"{count} handled events (errors: {self.errors})")
        return [self.handled[n] for n in sorted(self.handled)]


def _find(resources: list[dict[str, Any]], resource_type: str, resource_id: str) -> dict[str, Any]:
    return next(r for r in resources if r["resourceType"] == resource_type and r["id"] == resource_id)


def _parameters(**values: Any) -> dict[str, Any]:
    parts = [
        {"name": name, **value} if isinstance(value, dict) else {"name": name, "valueString": str(value)}
        for name, value in values.items()
    ]
    return {"resourceType": "Parameters", "parameter": parts}


def wait_until(condition: Any, timeout: float = 45, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)
