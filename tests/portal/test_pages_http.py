"""The portal over real HTTP: sign-in with CSRF, idle logoff, language, form errors, page access."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx

from bridge.demo.seed import DEMO_PASSWORD
from bridge.i18n import Translator
from tests.conftest import Bridge

ZH, EN = Translator("zh-CN"), Translator("en")
HTML = {"Accept": "text/html"}


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


def sign_in(bridge: Bridge, username: str, password: str = DEMO_PASSWORD) -> httpx.Client:
    client = bridge.client(headers=HTML)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": hidden(form.text, "csrf_token"), "next": "/"},
    )
    assert response.status_code == 303, response.text
    return client


def test_login_sets_a_secure_session_and_lands_on_the_role_home(bridge: Bridge) -> None:
    client = bridge.client(headers=HTML)
    form = client.get("/login")
    assert ZH("login.title") in form.text and 'lang="zh-Hans"' in form.text
    response = client.post(
        "/login", data={"username": "nurse1", "password": DEMO_PASSWORD, "csrf_token": hidden(form.text, "csrf_token")}
    )
    cookie = response.headers["set-cookie"]
    assert "bridge_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    home = client.get("/")
    assert home.status_code == 200 and ZH("home.nurse.title") in home.text
    assert home.headers["x-frame-options"] == "DENY"


def test_login_without_csrf_token_is_refused(bridge: Bridge) -> None:
    client = bridge.client(headers=HTML)
    client.get("/login")
    response = client.post("/login", data={"username": "nurse1", "password": DEMO_PASSWORD, "csrf_token": "x"})
    assert response.status_code == 403 and ZH("error.csrf") in response.text
    assert "bridge_session" not in response.headers.get("set-cookie", "")


def test_wrong_password_shows_the_error_in_the_users_language(bridge: Bridge) -> None:
    client = bridge.client(headers=HTML)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": f"ghost-{uuid.uuid4().hex[:6]}",
            "password": "nope",
            "csrf_token": hidden(form.text, "csrf_token"),
        },
    )
    assert response.status_code == 401 and ZH("login.failed") in response.text
    client.post("/lang", data={"locale": "en", "next": "/login"})
    form = client.get("/login")
    response = client.post(
        "/login", data={"username": "", "password": "", "csrf_token": hidden(form.text, "csrf_token")}
    )
    assert response.status_code == 422 and EN("field.required") in response.text


def test_cookie_session_writes_need_the_csrf_token(bridge: Bridge) -> None:
    client = sign_in(bridge, "admin")
    page = client.get("/")
    body = {
        "username": f"n-{uuid.uuid4().hex[:6]}",
        "role": "nurse",
        "organization": "demo-home-1",
        "password": "long-enough-password",
        "display_name": "新护士",
    }
    refused = client.post("/admin/accounts", data=body)
    assert refused.status_code == 403
    api_refused = client.post("/api/admin/accounts", json=body)
    assert api_refused.status_code == 403 and api_refused.json()["error"] == "error.csrf"
    created = client.post("/admin/accounts", data={**body, "csrf_token": hidden(page.text, "csrf_token")})
    assert created.status_code == 303
    assert body["username"] in client.get("/").text


def test_admin_form_errors_come_back_per_field_in_chinese(bridge: Bridge) -> None:
    client = sign_in(bridge, "admin")
    token = hidden(client.get("/").text, "csrf_token")
    response = client.post(
        "/admin/accounts",
        data={
            "username": "Bad Name",
            "role": "doctor",
            "organization": "demo-home-1",
            "password": "short",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert ZH("field.username_format") in response.text
    assert ZH("field.password_too_short", min=10) in response.text
    assert ZH("field.role_not_for_organization") in response.text
    assert 'value="Bad Name"' in response.text  # what was typed is kept


def test_idle_session_is_logged_off(bridge: Bridge) -> None:
    client = sign_in(bridge, "nurse1")
    assert client.get("/").status_code == 200
    idle = bridge.runtime.settings.session_idle_timeout_minutes
    with bridge.clock.advanced(timedelta(minutes=idle + 1)):
        response = client.get("/")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?reason=idle")
    # the session stays ended when the clock returns
    assert client.get("/").status_code == 303
    assert ZH("login.notice_idle") in client.get("/login?reason=idle").text


def test_logout_ends_the_session(bridge: Bridge) -> None:
    client = sign_in(bridge, "doctor")
    token = hidden(client.get("/").text, "csrf_token")
    assert client.post("/logout", data={}).status_code == 403  # no CSRF token, no logout
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login?reason=logout"
    assert client.get("/").status_code == 303


def test_language_choice_is_remembered_per_user(bridge: Bridge) -> None:
    client = sign_in(bridge, "doctor2")
    token = hidden(client.get("/").text, "csrf_token")
    client.post("/lang", data={"locale": "en", "next": "/", "csrf_token": token})
    assert EN("home.doctor.title") in client.get("/").text
    fresh = sign_in(bridge, "doctor2")  # new browser, no language cookie
    fresh.cookies.delete("bridge_lang")
    assert EN("home.doctor.title") in fresh.get("/").text
    fresh.post("/lang", data={"locale": "zh-CN", "next": "/", "csrf_token": hidden(fresh.get("/").text, "csrf_token")})
    assert ZH("home.doctor.title") in fresh.get("/").text


def test_pages_follow_the_access_rules(bridge: Bridge) -> None:
    with bridge.services() as services:
        own = services.residents.patients_of_homes(["demo-home-1"])[0]
        other = services.residents.patients_of_homes(["demo-home-2"])[0]
    nurse = sign_in(bridge, "nurse1")
    chart = nurse.get(f"/residents/{own['id']}")
    assert chart.status_code == 200 and ZH("chart.allergies") in chart.text
    assert nurse.get(f"/residents/{other['id']}").status_code == 404
    assert nurse.get("/supervision/audit").status_code == 403
    assert nurse.get("/admin/clients").status_code == 403
    supervisor = sign_in(bridge, "supervisor")
    assert supervisor.get("/supervision/audit").status_code == 200
    assert supervisor.get(f"/residents/{own['id']}").status_code == 403
    anonymous = bridge.client(headers=HTML)
    redirect = anonymous.get(f"/residents/{own['id']}")
    assert redirect.status_code == 303 and "next=/residents/" in redirect.headers["location"]


def test_each_role_home_page(bridge: Bridge) -> None:
    expectations = {
        "nurse1": "home.nurse.title",
        "doctor": "home.doctor.title",
        "pharmacist": "home.pharmacist.title",
        "supervisor": "home.supervisor.title",
        "admin": "admin.accounts.title",
    }
    for username, key in expectations.items():
        page = sign_in(bridge, username).get("/")
        assert page.status_code == 200 and ZH(key) in page.text, username
