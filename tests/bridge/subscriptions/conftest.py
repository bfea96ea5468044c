"""A bridge for push tests on each backend's seeded database: its own runtime, clock and server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bridge.app import create_app
from bridge.runtime import Runtime
from tests.bridge.subscriptions.receiver import PharmacyReceiver
from tests.bridge.subscriptions.support import PUSH_SETTINGS, Pharmacy, clock_of, new_pharmacy
from tests.conftest import Bridge, make_settings
from tests.support import AdjustableClock, LiveServer


@dataclass
class PushBridge:
    runtime: Runtime
    url: str


@pytest.fixture(scope="session")
def push(bridge: Bridge, database_url: str) -> Iterator[PushBridge]:
    # `bridge` seeded the database; this one accepts http endpoints and backs off in seconds.
    runtime = Runtime.from_settings(make_settings(database_url, **PUSH_SETTINGS), clock=AdjustableClock())
    with LiveServer(create_app(runtime=runtime)) as server:
        yield PushBridge(runtime, server.url)
    runtime.engine.dispose()


@pytest.fixture
def pharmacy(push: PushBridge) -> Iterator[Pharmacy]:
    pharmacy = new_pharmacy(push.runtime, push.url)
    yield pharmacy
    clock_of(push.runtime).offset = timedelta(0)  # tokens are checked against real time (PyJWT's iat)
    # Its Subscriptions go off, so later tests' worker rounds are not busy with a closed receiver.
    api = pharmacy.api()
    for entry in api.get("/fhir/Subscription").json().get("entry", []):
        api.delete(f"/fhir/Subscription/{entry['resource']['id']}")
    pharmacy.close()


@pytest.fixture
def receiver(pharmacy: Pharmacy) -> Iterator[PharmacyReceiver]:
    with PharmacyReceiver(secret=pharmacy.secret) as receiver:
        yield receiver
