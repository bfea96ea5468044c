"""Tokens, scopes, lockout and CSRF over real HTTP."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from bridge.auth.tokens import TokenService
from bridge.demo.seed import DEMO_PASSWORD
from tests.conftest import TEST_SECRET, Bridge


def post_token(bridge: Bridge, **data: str) -> httpx.Response:
    return httpx.post(f"{bridge.url}/auth/token", data=data, timeout=20)


def test_password_grant_issues_short_lived_scoped_token(bridge: Bridge) -> None:
    response = post_token(
        bridge,
        grant_type="password",
        username="doctor",
        password=DEMO_PASSWORD,
        scope="user/Patient.rs user/MedicationRequest.cruds",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 900
    assert body["scope"] == "user/Patient.rs user/MedicationRequest.cruds"
    assert response.headers["cache-control"] == "no-store"


def test_wrong_password_and_unknown_user_look_the_same(bridge: Bridge) -> None:
    wrong = post_token(bridge, grant_type="password", username="nurse2", password="wrong-password")
    unknown = post_token(
        bridge, grant_type="password", username=f"ghost-{uuid.uuid4().hex[:6]}", password="wrong-password"
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json() == unknown.json() == {"error": "invalid_grant", "error_description": "wrong username or password"}
    )


def test_repeated_failures_lock_the_name_even_for_the_right_password(bridge: Bridge) -> None:
    username = f"ghost-{uuid.uuid4().hex[:6]}"
    codes = [
        post_token(bridge, grant_type="password", username=username, password="nope").status_code for _ in range(4)
    ]
    assert codes[:2] == [401, 401] and codes[2:] == [429, 429]  # login_max_failures=3 in the test settings
    # an existing account locks the same way, and then refuses the right password until the lock ends
    for _ in range(3):
        post_token(bridge, grant_type="password", username="doctor2", password="nope")
    locked = post_token(bridge, grant_type="password", username="doctor2", password=DEMO_PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    with bridge.clock.advanced(timedelta(hours=2)):
        assert post_token(bridge, grant_type="password", username="doctor2", password=DEMO_PASSWORD).status_code == 200


def test_client_credentials_with_basic_and_post_authentication(bridge: Bridge) -> None:
    with bridge.bearer("admin") as admin:
        creds = admin.post(
            "/api/admin/clients",
            json={
                "name": "pharmacy system",
                "organization": "demo-pharmacy",
                "scope": "system/MedicationRequest.rs system/Task.rus",
            },
        ).json()
    basic = httpx.post(
        f"{bridge.url}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert basic.status_code == 200 and basic.json()["scope"] == "system/MedicationRequest.rs system/Task.rus"
    posted = post_token(
        bridge,
        grant_type="client_credentials",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        scope="system/Task.r",
    )
    assert posted.status_code == 200 and posted.json()["scope"] == "system/Task.r"
    too_much = post_token(
        bridge,
        grant_type="client_credentials",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        scope="system/Patient.cruds",
    )
    assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"
    wrong = httpx.post(
        f"{bridge.url}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], "not-the-secret"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"] == "Basic"
    garbage = httpx.post(
        f"{bridge.url}/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    )
    assert garbage.status_code == 401
    assert post_token(bridge, grant_type="authorization_code").json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("case", ["expired", "forged", "wrong_audience", "garbage", "basic_scheme"])
def test_bad_tokens_are_refused_with_401(bridge: Bridge, case: str) -> None:
    with bridge.services() as services:
        account = services.accounts.by_username("nurse1")
        now = services.now()
    settings = bridge.runtime.settings
    real = TokenService(TEST_SECRET, settings.public_base_url, settings.token_audience, 600)
    tokens = {
        "expired": real.issue(
            "user", account.id, "user/Patient.rs", account.organization_id, now - timedelta(minutes=11)
        ),
        "forged": TokenService(
            "another-secret-key-of-the-same-length-abcdefgh", settings.public_base_url, settings.token_audience, 600
        ).issue("user", account.id, "user/Patient.rs", account.organization_id, now),
        "wrong_audience": TokenService(TEST_SECRET, settings.public_base_url, "https://other.example", 600).issue(
            "user", account.id, "user/Patient.rs", account.organization_id, now
        ),
        "garbage": "not.a.token",
    }
    header = "Basic abc" if case == "basic_scheme" else f"Bearer {tokens[case]}"
    response = httpx.get(f"{bridge.url}/api/residents", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "error.token_invalid"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "nurse1" not in response.text and account.id not in response.text


def test_token_expires_on_the_clock(bridge: Bridge) -> None:
    token = bridge.token("nurse1")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 900
    with bridge.clock.advanced(timedelta(minutes=16)):
        assert httpx.get(f"{bridge.url}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_missing_a_scope_gets_403(bridge: Bridge) -> None:
    with bridge.bearer("nurse1", scope="user/Observation.rs") as nurse:
        response = nurse.get("/api/residents")
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_unauthenticated_api_call_gets_401(bridge: Bridge) -> None:
    response = httpx.get(f"{bridge.url}/api/residents")
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


def test_smart_configuration_advertises_token_endpoint_and_scopes(bridge: Bridge) -> None:
    config = httpx.get(f"{bridge.url}/.well-known/smart-configuration").json()
    assert config["token_endpoint"].endswith("/auth/token")
    assert set(config["grant_types_supported"]) == {"client_credentials", "password"}
    assert {"client_secret_basic", "client_secret_post"} <= set(config["token_endpoint_auth_methods_supported"])
    assert "user/MedicationRequest.cruds" in config["scopes_supported"]
