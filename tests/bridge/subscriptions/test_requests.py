"""Creating a Subscription: what is refused (a clear 4xx OperationOutcome, nothing stored) and what is kept."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from bridge.db.tables import ApiClient
from bridge.outbox.tables import OutboxMessage
from bridge.subscriptions.state import SUBSCRIPTION
from bridge.subscriptions.tables import SubscriptionState
from bridge.subscriptions.topic import TOPIC_URL
from tests.bridge.subscriptions.conftest import PushBridge
from tests.bridge.subscriptions.support import Pharmacy, new_pharmacy, subscription
from tests.conftest import Bridge


@pytest.fixture
def strict_pharmacy(bridge: Bridge) -> Iterator[Pharmacy]:
    """A pharmacy on the session's bridge: not demo mode, no http endpoints."""
    pharmacy = new_pharmacy(bridge.runtime, bridge.url)
    yield pharmacy
    pharmacy.close()


def refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in " ".join(i.get("diagnostics", "") for i in outcome["issue"]), outcome


def count_subscriptions(api: httpx.Client) -> int:
    return int(api.get("/fhir/Subscription", params={"_summary": "count"}).json()["total"])


def test_refusals_change_nothing(strict_pharmacy: Pharmacy) -> None:
    api = strict_pharmacy.api()
    own = strict_pharmacy.organization_id
    https = "https://pharmacy.example/notify"
    before = count_subscriptions(api)
    refused(api.post("/fhir/Subscription", json=subscription(own, https, topic="https://x/t")), 422, "unknown topic")
    plain = api.post("/fhir/Subscription", json=subscription(own, "http://pharmacy.example/notify"))
    refused(plain, 422, "https")
    refused(api.post("/fhir/Subscription", json=subscription("demo-pharmacy", https)), 403, "your own organisation")
    no_filter = subscription(own, https)
    del no_filter["_criteria"]
    refused(api.post("/fhir/Subscription", json=no_filter), 422, "filter is required")
    socket = subscription(own, https)
    socket["channel"]["type"] = "websocket"
    refused(api.post("/fhir/Subscription", json=socket), 422, "rest-hook")
    refused(api.post("/fhir/Subscription", json=subscription(own, https, content="empty")), 422, "payload content")
    refused(api.post("/fhir/Subscription", json=subscription(own, https, heartbeat=5)), 422, "at least 60")
    forged = subscription(own, https, headers=["X-Bridge-Signature: sha256=00"])
    refused(api.post("/fhir/Subscription", json=forged), 422, "sets X-Bridge-Signature itself")
    assert count_subscriptions(api) == before


def test_a_client_without_a_sealed_secret_is_told_to_get_a_new_one(strict_pharmacy: Pharmacy, bridge: Bridge) -> None:
    api = strict_pharmacy.api()
    with bridge.runtime.session_factory.begin() as db:
        client = db.get(ApiClient, strict_pharmacy.client_id)
        assert client is not None and client.secret_sealed  # new clients have one
        client.secret_sealed = None
    response = api.post("/fhir/Subscription", json=subscription(strict_pharmacy.organization_id, "https://p.example/n"))
    refused(response, 422, "ask your administrator to issue a new client secret")


def test_a_person_cannot_subscribe(bridge: Bridge) -> None:
    pharmacist = bridge.bearer("pharmacist")
    pharmacist.headers["Content-Type"] = "application/fhir+json"
    response = pharmacist.post("/fhir/Subscription", json=subscription("demo-pharmacy", "https://p.example/n"))
    assert response.status_code in {403, 422}, response.text  # no Subscription scope, or not a system client


def test_an_accepted_subscription_is_requested_with_a_handshake_queued(
    strict_pharmacy: Pharmacy, bridge: Bridge
) -> None:
    api = strict_pharmacy.api()
    asked = subscription(strict_pharmacy.organization_id, "https://p.example/n", heartbeat=3600)
    asked["status"] = "active"  # the server's to say
    created = api.post("/fhir/Subscription", json=asked)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["status"] == "requested" and stored["criteria"] == TOPIC_URL
    with bridge.runtime.session_factory() as db:
        state = db.get(SubscriptionState, stored["id"])
        assert state is not None
        assert (state.status, state.owner_organization_id, state.client_id, state.heartbeat_seconds) == (
            "requested",
            strict_pharmacy.organization_id,
            strict_pharmacy.client_id,
            3600,
        )
        queued = db.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.destination_kind == SUBSCRIPTION, OutboxMessage.destination_id == stored["id"]
            )
        ).all()
        assert queued == ["handshake-v1"]
    # Only the owner sees it; deleting it turns delivery off.
    assert api.delete(f"/fhir/Subscription/{stored['id']}").status_code == 204
    with bridge.runtime.session_factory() as db:
        state = db.get(SubscriptionState, stored["id"])
        assert state is not None and state.status == "off"


def test_the_topic_is_discoverable(push: PushBridge, pharmacy: Pharmacy) -> None:
    api = pharmacy.api()
    found = api.get("/fhir/SubscriptionTopic").json()
    assert found["resourceType"] == "Bundle" and found["total"] == 1
    topic = found["entry"][0]["resource"]
    assert topic["url"] == TOPIC_URL and topic["canFilterBy"][0]["filterParameter"] == "owner"
    assert api.get("/fhir/SubscriptionTopic", params={"url": TOPIC_URL}).json()["total"] == 1
    assert api.get("/fhir/SubscriptionTopic", params={"url": "https://x/other"}).json()["total"] == 0
    assert api.get(f"/fhir/SubscriptionTopic/{topic['id']}").json()["url"] == TOPIC_URL
    assert api.get("/fhir/SubscriptionTopic/nothing").status_code == 404
    statement = api.get("/fhir/metadata").json()
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription")
    assert {"url": entry["extension"][0]["url"], "valueCanonical": TOPIC_URL} == entry["extension"][0]
    assert {o["name"] for o in entry["operation"]} == {"status", "events"}
