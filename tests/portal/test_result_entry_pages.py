"""The results pages over real HTTP, on both backends: the nurse's point-of-care form, her upload page,
and the admins' quarantine (an HL7 message the demo laboratory sent about nobody it serves is listed,
matched, replayed and processed; another is discarded; another organisation's admin never sees them)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from bridge.accounts.service import NewAccount
from bridge.demo.seed import DEMO_PASSWORD
from bridge.i18n import Translator
from bridge.ingest.quarantine import Quarantine
from tests.bridge.api.fhir_support import resident_of
from tests.bridge.ingest.support import ingest_resident, lab_client, oru, resident_identifier
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")

ZH, EN = Translator("zh-CN"), Translator("en")
HL7 = {"Content-Type": "x-application/hl7-v2+er7"}
POTASSIUM = "NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.5|N|||F"


def new_account(bridge: Bridge, role: str, organization: str) -> str:
    username = f"t-{role}-{uuid.uuid4().hex[:8]}"
    with bridge.services() as services:
        services.accounts.create(NewAccount(username, role, organization, DEMO_PASSWORD, f"测试{role}"), services.now())
    return username


def csrf(client: httpx.Client, path: str = "/") -> str:
    return hidden(client.get(path).text, "csrf_token")


def location(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"]


def quarantined_by_lab(bridge: Bridge, identifier: str = "H1-9999") -> str:
    response = lab_client(bridge).post("/ingest/hl7v2", content=oru(identifier, POTASSIUM), headers=HL7)
    assert response.status_code == 200 and "|AE|" in response.text, response.text
    return response.headers["x-bridge-quarantine"]


def entry_status(bridge: Bridge, entry_id: str) -> str:
    with bridge.services() as services:
        return Quarantine(services).get(entry_id).row.status


# --- point-of-care entry -------------------------------------------------------------------------------


def test_the_vitals_form_shows_errors_per_field_in_chinese_then_english(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1", 4)
    nurse = sign_in(bridge, new_account(bridge, "nurse", "demo-home-1"))
    form = nurse.get(f"/residents/{patient}/vitals")
    assert form.status_code == 200 and ZH("vitals.title") in form.text
    wrong = {"systolic": "80", "diastolic": "90", "temperature": "52", "pulse": "七十", "csrf_token": csrf(nurse)}
    response = nurse.post(f"/residents/{patient}/vitals", data=wrong)
    assert response.status_code == 422
    assert ZH("vitals.error.bp_order") in response.text
    assert ZH("vitals.error.range", low="30", high="45", unit="°C") in response.text
    assert ZH("vitals.error.number") in response.text
    assert 'value="52"' in response.text  # what was typed is kept

    nurse.post("/lang", data={"locale": "en", "next": "/", "csrf_token": csrf(nurse)})
    response = nurse.post(f"/residents/{patient}/vitals", data={**wrong, "csrf_token": csrf(nurse)})
    assert response.status_code == 422 and 'lang="en"' in response.text
    assert EN("vitals.error.range", low="30", high="45", unit="°C") in response.text
    assert EN("vitals.error.bp_order") in response.text
    nothing = nurse.post(f"/residents/{patient}/vitals", data={"csrf_token": csrf(nurse)})
    assert nothing.status_code == 422 and EN("vitals.error.nothing") in nothing.text


def test_a_good_entry_lands_in_the_residents_chart(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1", 4)
    nurse = sign_in(bridge, "nurse1")
    data = {"temperature": "37.9", "spo2": "93", "effective": "2026-11-30T08:05", "csrf_token": csrf(nurse)}
    response = nurse.post(f"/residents/{patient}/vitals", data=data)
    assert location(response) == f"/residents/{patient}?recorded=vitals"
    chart = nurse.get(location(response))
    # However the chart lays results out, the entered values, their names and their time are on it.
    assert chart.status_code == 200
    for text in ("体温", "37.9", "血氧饱和度", "93", "2026-11-30 08:05"):
        assert text in chart.text, text


def test_only_the_homes_nurses_reach_the_form(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1", 4)
    assert sign_in(bridge, "nurse2").get(f"/residents/{patient}/vitals").status_code == 404
    assert sign_in(bridge, "doctor").get(f"/residents/{patient}/vitals").status_code == 403
    nurse2 = sign_in(bridge, "nurse2")
    refused = nurse2.post(f"/residents/{patient}/vitals", data={"pulse": "70", "csrf_token": csrf(nurse2)})
    assert refused.status_code == 404


# --- the nurse's uploads ---------------------------------------------------------------------------------


def test_the_upload_page_lists_what_the_home_received_matched_or_quarantined(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1", 5)
    identifier = resident_identifier(bridge, patient)
    nurse = sign_in(bridge, "nurse1")
    token = csrf(nurse, "/results/upload")
    headers = {**HL7, "X-CSRF-Token": token}
    good = oru(identifier, POTASSIUM)
    matched = nurse.post("/ingest/hl7v2", content=good, headers=headers)
    assert matched.status_code == 200 and "|AA|" in matched.text
    unknown = nurse.post("/ingest/hl7v2", content=oru("H1-8888", POTASSIUM), headers=headers)
    entry_id = unknown.headers["x-bridge-quarantine"]

    control_id = good.split(b"\r", 1)[0].split(b"|")[9].decode()
    outcome = nurse.get("/results/upload/hl7", params={"control_id": control_id}).json()
    assert outcome["status"] == "matched" and outcome["patient_id"] == patient
    assert nurse.get("/results/upload/hl7", params={"control_id": "never-sent"}).status_code == 404

    page = nurse.get("/results/upload")
    assert page.status_code == 200 and ZH("upload.title") in page.text
    recent = page.text[page.text.index('id="recent-uploads"') :]
    assert f'href="/residents/{patient}"' in recent and ZH("upload.status.matched") in recent
    assert "H1-8888" in recent and ZH("upload.status.quarantined") in recent
    assert entry_status(bridge, entry_id) == "quarantined"
    # Another home's nurse sees neither; a doctor has no upload page.
    other = sign_in(bridge, "nurse2").get("/results/upload").text
    assert "H1-8888" not in other[other.index('id="recent-uploads"') :]
    assert sign_in(bridge, "doctor").get("/results/upload").status_code == 403


# --- the admins' quarantine ------------------------------------------------------------------------------


def test_a_quarantined_message_is_listed_matched_and_replayed(bridge: Bridge) -> None:
    entry_id = quarantined_by_lab(bridge)
    admin = sign_in(bridge, "admin")
    page = admin.get("/admin/quarantine")
    assert page.status_code == 200 and ZH("quarantine.title") in page.text
    row = re.search(rf'<tr data-testid="quarantine-entry" data-entry="{entry_id}".*?</tr>', page.text, re.S)
    assert row and "H1-9999" in row.group(0) and ZH("quarantine.reason.unknown_patient") in row.group(0)
    detail = admin.get(f"/admin/quarantine/{entry_id}")
    assert detail.status_code == 200 and "PID|1||H1-9999" in detail.text

    patient = ingest_resident(bridge)  # its own: replayed results would change a demo resident's chart
    page = admin.get("/admin/quarantine")
    token = hidden(page.text, "csrf_token")
    back = f"/admin/quarantine/{entry_id}"
    matched = admin.post(f"{back}/match", data={"patient": patient, "next": back, "csrf_token": token})
    assert location(matched) == f"{back}?done=matched&entry={entry_id}"
    assert ZH("quarantine.done.matched") in admin.get(location(matched)).text
    replayed = admin.post(f"{back}/replay", data={"next": "/admin/quarantine", "csrf_token": token})
    assert location(replayed) == f"/admin/quarantine?done=processed&entry={entry_id}"
    assert entry_status(bridge, entry_id) == "processed"
    assert entry_id in admin.get("/admin/quarantine?status=processed").text
    assert entry_id not in admin.get("/admin/quarantine").text
    with bridge.services() as services:
        reports = services.repository.find("DiagnosticReport", {"subject": f"Patient/{patient}"})
    assert reports
    again = admin.post(f"{back}/replay", data={"next": back, "csrf_token": token})
    assert "problem=closed" in location(again)


def test_a_quarantined_message_is_discarded_only_with_a_reason(bridge: Bridge) -> None:
    entry_id = quarantined_by_lab(bridge)
    admin = sign_in(bridge, "admin")
    token = csrf(admin, "/admin/quarantine")
    path = f"/admin/quarantine/{entry_id}/discard"
    refused = admin.post(path, data={"why": " ", "next": "/admin/quarantine?status=all", "csrf_token": token})
    assert location(refused) == f"/admin/quarantine?status=all&problem=why_required&entry={entry_id}"
    assert ZH("quarantine.problem.why_required") in admin.get(location(refused)).text
    assert entry_status(bridge, entry_id) == "quarantined"
    done = admin.post(path, data={"why": "测试消息", "next": "https://evil.example/", "csrf_token": token})
    assert location(done) == f"/admin/quarantine?done=discarded&entry={entry_id}"
    assert entry_status(bridge, entry_id) == "discarded"
    assert "测试消息" in admin.get("/admin/quarantine?status=discarded").text
    assert "problem=closed" in location(admin.post(path, data={"why": "again", "csrf_token": token}))
    # Without the CSRF token nothing happens at all.
    other = quarantined_by_lab(bridge)
    assert admin.post(f"/admin/quarantine/{other}/discard", data={"why": "x"}).status_code == 403
    assert entry_status(bridge, other) == "quarantined"


def test_another_organisations_admin_sees_nothing_of_it(bridge: Bridge) -> None:
    entry_id = quarantined_by_lab(bridge)
    home_admin = sign_in(bridge, new_account(bridge, "admin", "demo-home-1"))
    assert entry_id not in home_admin.get("/admin/quarantine?status=all").text
    assert home_admin.get(f"/admin/quarantine/{entry_id}").status_code == 404
    token = csrf(home_admin, "/admin/quarantine")
    for action in ("replay", "discard", "match"):
        data: dict[str, Any] = {"why": "x", "patient": resident_of(bridge, "demo-home-1"), "csrf_token": token}
        assert home_admin.post(f"/admin/quarantine/{entry_id}/{action}", data=data).status_code == 404
    assert entry_status(bridge, entry_id) == "quarantined"
    assert sign_in(bridge, "nurse1").get("/admin/quarantine").status_code == 403


def test_a_home_admin_fixes_her_homes_upload_with_her_homes_residents_only(bridge: Bridge) -> None:
    nurse = sign_in(bridge, "nurse1")
    unknown = nurse.post(
        "/ingest/hl7v2",
        content=oru("H1-7777", POTASSIUM),
        headers={**HL7, "X-CSRF-Token": csrf(nurse)},
    )
    entry_id = unknown.headers["x-bridge-quarantine"]
    home_admin = sign_in(bridge, new_account(bridge, "admin", "demo-home-1"))
    page = home_admin.get("/admin/quarantine")
    assert entry_id in page.text
    token = hidden(page.text, "csrf_token")
    elsewhere = resident_of(bridge, "demo-home-2")
    assert f'value="{elsewhere}"' not in page.text  # the chooser offers her home's residents
    refused = home_admin.post(f"/admin/quarantine/{entry_id}/match", data={"patient": elsewhere, "csrf_token": token})
    assert "problem=resident_unknown" in location(refused)
    ours = ingest_resident(bridge)
    home_admin.post(f"/admin/quarantine/{entry_id}/match", data={"patient": ours, "csrf_token": token})
    replayed = home_admin.post(f"/admin/quarantine/{entry_id}/replay", data={"csrf_token": token})
    assert "done=processed" in location(replayed)
    assert entry_status(bridge, entry_id) == "processed"
