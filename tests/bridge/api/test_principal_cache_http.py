"""A deactivated account or client loses bearer access within the principal cache's bound (both backends)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from bridge.accounts.service import NewAccount
from bridge.db.tables import Account, ApiClient
from bridge.demo.seed import DEMO_PASSWORD
from tests.conftest import Bridge


def past_the_bound(bridge: Bridge) -> timedelta:
    return timedelta(seconds=bridge.runtime.settings.principal_cache_seconds + 1)


def me(bridge: Bridge, token: str) -> httpx.Response:
    return httpx.get(f"{bridge.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=20)


def test_the_bound_is_a_few_seconds_by_default(bridge: Bridge) -> None:
    assert 0 < bridge.runtime.settings.principal_cache_seconds <= 10


def test_a_deactivated_accounts_token_is_refused_after_the_bound(bridge: Bridge) -> None:
    username = f"nurse-{uuid.uuid4().hex[:8]}"  # an account of its own: other tests sign in as the demo staff
    with bridge.services() as services:
        account_id = services.accounts.create(
            NewAccount(username, "nurse", "demo-home-1", DEMO_PASSWORD), services.now()
        ).id
    token = bridge.token(username)
    assert me(bridge, token).status_code == 200  # resolved, and now cached
    with bridge.services() as services:
        account = services.db.get(Account, account_id)
        assert account is not None
        account.active = False
    with bridge.clock.advanced(past_the_bound(bridge)):
        refused = me(bridge, token)
        assert refused.status_code == 401 and refused.json()["error"] == "error.token_invalid"
        fhir = httpx.get(f"{bridge.url}/fhir/Patient", headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert fhir.status_code == 401


def test_a_deactivated_clients_token_is_refused_after_the_bound(bridge: Bridge) -> None:
    with bridge.services() as services:
        issued = services.clients.create(
            f"station {uuid.uuid4().hex[:6]}", "demo-home-1", "system/Observation.crus", services.now()
        )
        client_id, secret = issued.client.client_id, issued.client_secret
    response = httpx.post(
        f"{bridge.url}/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=20
    )
    token = response.json()["access_token"]
    search = f"{bridge.url}/fhir/Observation?_summary=count"
    assert httpx.get(search, headers={"Authorization": f"Bearer {token}"}, timeout=20).status_code == 200
    with bridge.services() as services:
        client = services.db.get(ApiClient, client_id)
        assert client is not None
        client.active = False
    with bridge.clock.advanced(past_the_bound(bridge)):
        assert httpx.get(search, headers={"Authorization": f"Bearer {token}"}, timeout=20).status_code == 401


def test_an_expired_token_is_refused_even_when_cached(bridge: Bridge) -> None:
    token = bridge.token("nurse2")
    assert me(bridge, token).status_code == 200  # cached
    lifetime = timedelta(seconds=bridge.runtime.settings.token_lifetime_seconds)
    with bridge.clock.advanced(lifetime):
        assert me(bridge, token).status_code == 401
