"""A pharmacy's notification endpoint on a loopback port: it checks every notification's signature and
refuses replays the way a pharmacy would (bridge/subscriptions/verification.py), or answers an error
when told to (the endpoint is down)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bridge.subscriptions.verification import SIGNATURE_HEADER, ReplayGuard, notification_key, verify_notification
from tests.support import free_port


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]

    @property
    def bundle(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def status(self) -> dict[str, Any]:
        """The SubscriptionStatus parameters by name (notification-event parts as a list of dicts)."""
        found: dict[str, Any] = {"events": []}
        for parameter in self.bundle["entry"][0]["resource"]["parameter"]:
            if parameter["name"] == "notification-event":
                found["events"].append({p["name"]: _value(p) for p in parameter["part"]})
            else:
                found[parameter["name"]] = _value(parameter)
        return found


def _value(parameter: dict[str, Any]) -> Any:
    for key, value in parameter.items():
        if key.startswith("value"):
            return value["reference"] if key == "valueReference" else value
    return None


@dataclass
class PharmacyReceiver:
    """What a pharmacy's endpoint does: verify the signature, refuse replays, answer 200 (or, when told,
    an error: the endpoint is down)."""

    secret: str = ""
    answer: int = 200
    accepted: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    guard: ReplayGuard = field(default_factory=ReplayGuard)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/notify"
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received = Received(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(receiver.take(received))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def take(self, received: Received) -> int:
        with self._lock:
            if self.answer != 200:
                return self.answer
            signed = verify_notification(received.body, received.headers.get(SIGNATURE_HEADER.lower()), self.secret)
            if not signed or not self.guard.admit(received.body, _timestamp_now(received)):
                self.refused.append(received)
                return 401
            self.accepted.append(received)
            return 200

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.accepted if r.status["type"] == kind]

    def event_numbers(self) -> list[int]:
        return [int(e["event-number"]) for r in self.of_type("event-notification") for e in r.status["events"]]

    def __enter__(self) -> PharmacyReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _timestamp_now(received: Received) -> Any:
    # The bridge runs on a test clock that may be days ahead: "now" for freshness is the Bundle's own
    # time, so only replays (not the clock) are tested here; freshness has its own test.
    key = notification_key(received.body)
    return key.timestamp if key else None
