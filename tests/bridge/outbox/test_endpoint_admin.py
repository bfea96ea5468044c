"""Configuring a hospital's endpoint: the admin page over real HTTP (view, set, test, remove, the
deliveries with their errors and a retry button; only the hospital's own admins and the operator's) and
the `bridge endpoint` command; the token is never shown back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bridge.cli.main import main
from bridge.errors import InvalidInput
from bridge.outbox.endpoints import HOSPITAL_FHIR, HospitalEndpoints, checked_url, cli_actor
from bridge.outbox.outbox import NewMessage, Status, enqueue
from bridge.outbox.tables import OutboxMessage
from tests.bridge.outbox.support import MedplumServer
from tests.conftest import TEST_SECRET, Bridge
from tests.portal.test_pages_http import EN, ZH, hidden, sign_in
from tests.portal.test_result_entry_pages import new_account

HOSPITAL = "demo-hospital"
TOKEN = "s3cret-hospital-token-0123456789-WXYZ"


@pytest.fixture
def cleanup(bridge: Bridge) -> Iterator[None]:
    yield
    with bridge.services() as services:
        HospitalEndpoints(services).remove(HOSPITAL, cli_actor("test"))


def page(client: httpx.Client, query: str = "") -> httpx.Response:
    response = client.get("/admin/endpoint" + query)
    assert response.status_code == 200, response.text
    return response


def post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    token = hidden(client.get("/admin/endpoint").text, "csrf_token")
    return client.post(path, data={"csrf_token": token, "org": HOSPITAL, **data})


def failed_message(bridge: Bridge, error: str) -> int:
    with bridge.services() as services:
        message_id = enqueue(
            services.db,
            NewMessage(HOSPITAL_FHIR, HOSPITAL, "{}", uuid.uuid4().hex, None, "lab: DiagnosticReport/x"),
            services.now(),
        )
        services.db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status=Status.FAILED.value, attempts=20, last_error=error)
        )
    return message_id


def test_urls_must_be_https_except_to_this_machine() -> None:
    assert checked_url(" https://fhir.example.org/R4/ ", demo_mode=False) == "https://fhir.example.org/R4"
    assert checked_url("http://127.0.0.1:8103", demo_mode=False) == "http://127.0.0.1:8103"
    assert checked_url("http://localhost/fhir", demo_mode=False) == "http://localhost/fhir"
    assert checked_url("http://fhir.example.org", demo_mode=True) == "http://fhir.example.org"
    for bad, key in [
        ("http://fhir.example.org", "endpoint.error.url_https"),
        ("ftp://fhir.example.org", "endpoint.error.url_invalid"),
        ("fhir.example.org", "endpoint.error.url_invalid"),
        ("https://user:pw@fhir.example.org", "endpoint.error.url_extras"),
        ("https://fhir.example.org/?token=x", "endpoint.error.url_extras"),
        ("https://fhir.example.org:99999", "endpoint.error.url_invalid"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            checked_url(bad, demo_mode=False)
        assert refused.value.errors[0].message_key == key, bad


def test_a_hospital_admin_sets_tests_and_removes_the_endpoint(bridge: Bridge, cleanup: None) -> None:
    admin = sign_in(bridge, new_account(bridge, "admin", HOSPITAL))
    home = admin.get("/")
    assert 'href="/admin/endpoint"' in home.text
    assert ZH("endpoint.none") in page(admin).text

    refused = post(admin, "/admin/endpoint", url="http://fhir.example.org", token=TOKEN)
    assert refused.status_code == 422 and ZH("endpoint.error.url_https") in refused.text
    with MedplumServer() as server:
        saved = post(admin, "/admin/endpoint", url=server.url + "/", token=TOKEN)
        assert saved.status_code == 303 and "done=saved" in saved.headers["location"]
        shown = page(admin).text
        assert server.url in shown and "…WXYZ" in shown and TOKEN not in shown
        checked = post(admin, "/admin/endpoint/test")
        assert checked.status_code == 200 and 'data-ok="true"' in checked.text, checked.text
    down = post(admin, "/admin/endpoint/test")
    assert 'data-ok="false"' in down.text and ZH("endpoint.check.failed") in down.text

    # A new URL without a token keeps the stored token.
    post(admin, "/admin/endpoint", url="https://fhir.example.org/R4")
    with bridge.services() as services:
        row = HospitalEndpoints(services).get(HOSPITAL)
        assert row is not None and (row.base_url, row.bearer_token) == ("https://fhir.example.org/R4", TOKEN)
    post(admin, "/admin/endpoint", url="https://fhir.example.org/R4", clear_token="true")
    assert ZH("endpoint.token_none") in page(admin).text
    removed = post(admin, "/admin/endpoint/remove")
    assert "done=removed" in removed.headers["location"]
    assert ZH("endpoint.none") in page(admin).text


def test_deliveries_show_their_status_and_errors_and_failed_ones_can_be_retried(bridge: Bridge) -> None:
    admin = sign_in(bridge, new_account(bridge, "admin", HOSPITAL))
    message_id = failed_message(bridge, "gave up after 20 attempts: ConnectError: refused")
    shown = page(admin, "?status=failed").text
    assert "gave up after 20 attempts: ConnectError: refused" in shown and 'data-testid="outbox-retry"' in shown
    assert f'data-id="{message_id}" data-status="failed"' in shown
    retried = post(admin, f"/admin/endpoint/retry/{message_id}")
    assert "done=retried" in retried.headers["location"]
    assert f'data-id="{message_id}" data-status="pending"' in page(admin, "?status=pending").text
    again = post(admin, f"/admin/endpoint/retry/{message_id}")
    assert "problem=not_failed" in again.headers["location"]
    admin.post("/lang", data={"locale": "en", "next": "/admin/endpoint", "csrf_token": hidden(shown, "csrf_token")})
    english = page(admin).text
    assert EN("outbox.title") in english and EN("outbox.status.pending") in english


def test_only_the_hospitals_own_admins_and_the_operator_manage_it(bridge: Bridge) -> None:
    operator = sign_in(bridge, "admin")
    assert HOSPITAL in page(operator, f"?org={HOSPITAL}").text
    home_admin = sign_in(bridge, new_account(bridge, "admin", "demo-home-1"))
    assert home_admin.get("/admin/endpoint").status_code == 403
    assert home_admin.get(f"/admin/endpoint?org={HOSPITAL}").status_code == 403
    nurse = sign_in(bridge, "nurse1")
    assert nurse.get("/admin/endpoint").status_code == 403
    hospital_admin = sign_in(bridge, new_account(bridge, "admin", HOSPITAL))
    assert hospital_admin.get("/admin/endpoint?org=demo-home-1").status_code == 403
    message_id = failed_message(bridge, "HTTP 400")
    with bridge.services() as services:
        services.db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(destination_id="other"))
    assert post(hospital_admin, f"/admin/endpoint/retry/{message_id}").status_code == 404


def test_the_endpoint_command(bridge: Bridge, cleanup: None) -> None:
    env = {"BRIDGE_DATABASE_URL": bridge.runtime.settings.database_url, "BRIDGE_SECRET_KEY": TEST_SECRET}
    runner = CliRunner()
    set_ = runner.invoke(
        main,
        ["endpoint", "set", "--org", "HOSP", "--url", "https://fhir.example.org/R4", "--token-stdin"],
        input=TOKEN + "\n",
        env=env,
    )
    assert set_.exit_code == 0, set_.output
    assert set_.output.strip() == "demo-hospital: https://fhir.example.org/R4 (token …WXYZ)"
    failed = failed_message(bridge, "HTTP 503: busy")
    shown = runner.invoke(main, ["endpoint", "show", "--org", HOSPITAL, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    listed = json.loads(shown.output)
    assert listed["url"] == "https://fhir.example.org/R4" and listed["token"] == "…WXYZ" and TOKEN not in shown.output
    assert listed["deliveries"]["failed"] >= 1 and any(p["id"] == failed for p in listed["problems"])
    retried = runner.invoke(main, ["endpoint", "retry", "--org", HOSPITAL, "--id", str(failed)], env=env)
    assert retried.output.strip() == f"#{failed}: retried"
    bad = runner.invoke(main, ["endpoint", "set", "--org", HOSPITAL, "--url", "http://fhir.example.org"], env=env)
    assert bad.exit_code != 0 and "https" in bad.output
    not_hospital = runner.invoke(main, ["endpoint", "set", "--org", "H1", "--url", "https://x.example"], env=env)
    assert not_hospital.exit_code != 0 and "not an internet hospital" in not_hospital.output
    removed = runner.invoke(main, ["endpoint", "remove", "--org", HOSPITAL], env=env)
    assert removed.output.strip() == "demo-hospital: endpoint removed"
