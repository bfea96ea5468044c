"""The video consult pages over real HTTP, on both backends: who sees which buttons and pages, the
call page's context, English, and the strings the scripts need."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.auth.resolve import principal_from_bearer
from bridge.consults.caller import caller_from_principal
from bridge.consults.service import ConsultService
from bridge.consults.states import ConsultState, ParticipantRole, Urgency
from bridge.db.tables import BedsideStation
from bridge.directory.codes import OrgKind
from bridge.i18n import Translator, catalogue
from bridge.signalling.protocol import MESSAGE_TYPES
from tests.bridge.api.test_access_http import a_resident_of, new_account, new_org
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

ZH, EN = Translator("zh-CN"), Translator("en")
STATIC = Path(__file__).resolve().parents[2] / "portal" / "static"
SERVER_MESSAGE_TYPES = {
    "consult.state",
    "consult.invitation",
    "queue.snapshot",
    "queue.ring",
    "queue.update",
    "queue.removed",
}


def call_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="call-data">(.*?)</script>', page, re.S)
    assert match, "no call-data block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.fixture
def consult_id(bridge: Bridge) -> Iterator[str]:
    """A ringing consult that nurse1 requested for a resident of home 1; cancelled afterwards."""
    token = bridge.token("nurse1")
    with bridge.services() as services:
        nurse = caller_from_principal(principal_from_bearer(services, token))
        patient = str(services.residents.patients_of_homes({"demo-home-1"})[0]["id"])
        outcome = ConsultService(services).request(nurse, "test-pages", patient, Urgency.URGENT, "气促", None)
    assert outcome.reply is not None
    cid = str(outcome.reply["consult"]["id"])
    yield cid
    with bridge.services() as services:
        ConsultService(services).cancel(nurse, cid)


def test_nurse_sees_the_consult_buttons_on_her_residents_page(bridge: Bridge) -> None:
    nurse = sign_in(bridge, "nurse1")
    patient = a_resident_of(bridge, "demo-home-1")
    page = nurse.get(f"/residents/{patient}")
    assert page.status_code == 200
    text = page.text
    for key in ("consult.start.emergency", "consult.start.routine", "consult.start.urgent", "consult.start.title"):
        assert ZH(key) in text, key
    assert 'action="/consults/new"' in text and f'name="patient" value="{patient}"' in text
    for urgency in ("emergency", "urgent", "routine"):
        assert f'name="urgency" value="{urgency}"' in text
    assert "/static/consult-start.js" in text


def test_doctor_home_page_embeds_the_queue_and_the_queue_page_renders(bridge: Bridge) -> None:
    doctor = sign_in(bridge, "doctor")
    home = doctor.get("/")
    assert home.status_code == 200
    assert 'data-testid="consult-queue"' in home.text and "/static/consult-queue.js" in home.text
    assert 'href="/consults/queue"' in home.text and ZH("nav.consult_queue") in home.text
    page = doctor.get("/consults/queue")
    assert page.status_code == 200
    assert ZH("queue.title") in page.text and ZH("queue.empty") in page.text
    strings = re.search(r'id="queue-strings">(.*?)</script>', page.text, re.S)
    assert strings is not None
    assert json.loads(strings.group(1))["consult.error.already_taken"] == ZH("consult.error.already_taken")
    # Only doctors have a queue.
    assert sign_in(bridge, "nurse1").get("/consults/queue").status_code == 403


def test_new_consult_page_carries_the_request_and_a_translated_default_reason(bridge: Bridge) -> None:
    nurse = sign_in(bridge, "nurse1")
    patient = a_resident_of(bridge, "demo-home-1")
    page = nurse.get("/consults/new", params={"patient": patient, "urgency": "emergency"})
    assert page.status_code == 200
    data = call_data(page.text)
    assert data["consult_id"] is None
    assert data["request"] == {
        "patient_id": patient,
        "urgency": "emergency",
        "reason": ZH("consult.default_reason.emergency"),
        "station_id": None,
    }
    assert data["me"] == {"display": "王芳", "role": "nurse"} and data["hang_up"] == "end"
    assert data["signal_path"] == "/ws/signal" and data["back_url"] == f"/residents/{patient}"
    assert data["strings"]["consult.state.ringing"] == ZH("consult.state.ringing")
    assert ZH("consult.urgency.emergency") in page.text

    with_reason = nurse.get("/consults/new", params={"patient": patient, "urgency": "routine", "reason": " 发热 "})
    assert call_data(with_reason.text)["request"]["reason"] == "发热"
    wrong = nurse.get("/consults/new", params={"patient": patient, "urgency": "whenever"})
    assert wrong.status_code == 422 and ZH("consult.field.urgency") in wrong.text
    too_long = nurse.get("/consults/new", params={"patient": patient, "urgency": "routine", "reason": "x" * 501})
    assert too_long.status_code == 422
    unknown_station = nurse.get("/consults/new", params={"patient": patient, "station": "no-such-station"})
    assert unknown_station.status_code == 404


def test_another_homes_nurse_gets_404_for_the_resident_and_the_consult(bridge: Bridge, consult_id: str) -> None:
    other = sign_in(bridge, "nurse2")
    patient = a_resident_of(bridge, "demo-home-1")
    assert other.get(f"/residents/{patient}").status_code == 404
    assert other.get("/consults/new", params={"patient": patient, "urgency": "emergency"}).status_code == 404
    assert other.get(f"/consults/{consult_id}/call").status_code == 404
    assert other.get("/consults/stations", params={"patient": patient}).status_code == 404
    # The same answer as for a consult that does not exist.
    assert other.get("/consults/no-such-consult/call").status_code == 404


def test_call_page_for_both_sides_and_404_for_an_uncontracted_hospitals_doctor(bridge: Bridge, consult_id: str) -> None:
    nurse = sign_in(bridge, "nurse1")
    page = nurse.get(f"/consults/{consult_id}/call")
    assert page.status_code == 200
    data = call_data(page.text)
    assert data["consult_id"] == consult_id and data["request"] is None
    assert data["urgency"] == "urgent" and data["requested_at"].endswith("Z")
    assert "/static/consult-call.js" in page.text and ZH("call.hang_up") in page.text

    doctor = sign_in(bridge, "doctor")
    doctor_data = call_data(doctor.get(f"/consults/{consult_id}/call").text)
    assert doctor_data["me"]["role"] == "doctor" and doctor_data["consult_id"] == consult_id

    hospital = new_org(bridge, OrgKind.INTERNET_HOSPITAL, contract_with="demo-home-2")
    outsider = sign_in(bridge, new_account(bridge, "doctor", hospital))
    assert outsider.get(f"/consults/{consult_id}/call").status_code == 404
    assert sign_in(bridge, "pharmacist").get(f"/consults/{consult_id}/call").status_code == 403


def test_stations_of_the_home_for_the_consult_card(bridge: Bridge) -> None:
    with bridge.services() as services:
        services.db.merge(
            BedsideStation(
                client_id="pages-station-1",
                home_id="demo-home-1",
                auto_answer=True,
                armed_until=services.now() + timedelta(minutes=30),
                last_seen_at=services.now(),
            )
        )
    try:
        patient = a_resident_of(bridge, "demo-home-1")
        listed = sign_in(bridge, "nurse1").get("/consults/stations", params={"patient": patient}).json()
        assert listed["can_arm"] is True
        station = next(s for s in listed["stations"] if s["station_id"] == "pages-station-1")
        assert station["armed"] is True and station["auto_answer"] is True
        doctor_view = sign_in(bridge, "doctor").get("/consults/stations", params={"patient": patient}).json()
        assert doctor_view["can_arm"] is False
        assert "pages-station-1" in {s["station_id"] for s in doctor_view["stations"]}
        new = sign_in(bridge, "nurse1").get(
            "/consults/new", params={"patient": patient, "urgency": "urgent", "station": "pages-station-1"}
        )
        assert call_data(new.text)["request"]["station_id"] == "pages-station-1"
    finally:
        with bridge.services() as services:
            services.db.delete(services.db.get(BedsideStation, "pages-station-1"))


def set_language(client: httpx.Client, locale: str) -> None:
    token = hidden(client.get("/").text, "csrf_token")
    assert client.post("/lang", data={"locale": locale, "next": "/", "csrf_token": token}).status_code == 303


def test_consult_pages_in_english(bridge: Bridge, consult_id: str) -> None:
    nurse, doctor = sign_in(bridge, "nurse1"), sign_in(bridge, "doctor2")
    set_language(nurse, "en")
    set_language(doctor, "en")
    try:
        patient = a_resident_of(bridge, "demo-home-1")
        resident = nurse.get(f"/residents/{patient}").text
        assert EN("consult.start.emergency") in resident and 'lang="en"' in resident
        page = nurse.get(f"/consults/{consult_id}/call")
        assert EN("call.hang_up") in page.text
        assert call_data(page.text)["strings"]["consult.state.ringing"] == EN("consult.state.ringing")
        queue = doctor.get("/consults/queue").text
        assert EN("queue.title") in queue and EN("queue.intro") in queue
        strings = re.search(r'id="queue-strings">(.*?)</script>', queue, re.S)
        assert strings is not None and json.loads(strings.group(1))["queue.accept"] == EN("queue.accept")
    finally:
        set_language(nurse, "zh-CN")
        set_language(doctor, "zh-CN")


def test_pages_keep_to_the_content_security_policy(bridge: Bridge, consult_id: str) -> None:
    """No inline script (only JSON data blocks) and no style attributes: CSP allows neither."""
    nurse, doctor = sign_in(bridge, "nurse1"), sign_in(bridge, "doctor")
    patient = a_resident_of(bridge, "demo-home-1")
    pages = [
        nurse.get(f"/residents/{patient}"),
        nurse.get(f"/consults/{consult_id}/call"),
        nurse.get("/consults/new", params={"patient": patient, "urgency": "urgent"}),
        doctor.get("/"),
        doctor.get("/consults/queue"),
    ]
    for page in pages:
        assert page.status_code == 200, page.url
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert " style=" not in page.text, page.url
        for tag in re.findall(r"<script[^>]*>", page.text):
            assert 'src="/static/' in tag or 'type="application/json"' in tag, (page.url, tag)


def test_every_string_the_scripts_use_is_in_both_catalogues() -> None:
    zh, en = catalogue("zh-CN"), catalogue("en")
    used: set[str] = set()
    prefixes: set[str] = set()
    for script in STATIC.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", text))
        literals = set(re.findall(r"""["']((?:consult|call|queue|readings)\.[a-z_]+(?:\.[a-z_]+)*)["']""", text))
        used |= literals - MESSAGE_TYPES.keys() - SERVER_MESSAGE_TYPES
        prefixes |= set(re.findall(r"""`((?:consult|call|queue)\.[a-z_.]+\.)\$\{""", text))
    assert used, "no strings found in the scripts"
    assert sorted(k for k in used if k not in zh or k not in en) == []
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in zh), prefix
    # Every state, urgency, role and error code of docs/signalling.md reads well in both languages.
    keys = [f"consult.state.{s.value}" for s in ConsultState] + [f"consult.urgency.{u.value}" for u in Urgency]
    keys += [f"consult.role.{r.value}" for r in ParticipantRole]
    for key in keys:
        assert key in zh and key in en, key
