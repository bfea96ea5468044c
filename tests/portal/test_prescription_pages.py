"""The prescription pages over real HTTP, on both backends: the doctor's form (errors per field, findings
inline, override reasons, absolute findings), the pharmacy desk (only its own Tasks; review, accept,
dispense, dispatch, delivered; refusals shown at the Task) and the nurse's list with the receipt form.
Each test prescribes for a resident of its own."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bridge.directory.codes import OrgKind
from bridge.i18n import Translator
from bridge.prescriptions.catalogue import seed_catalogue
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from tests.bridge.api.test_access_http import new_account, new_org
from tests.bridge.prescriptions.workflow_support import prescribable_resident
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

ZH, EN = Translator("zh-CN"), Translator("en")
ENALAPRIL, LOSARTAN, AMLODIPINE, MORPHINE = "drug-c09aa02", "drug-c09ca01", "drug-c08ca01", "drug-n02aa01"


@pytest.fixture(autouse=True)
def _catalogue(bridge: Bridge) -> None:
    with bridge.services() as services:
        seed_catalogue(services)


def csrf(client: httpx.Client, path: str = "/") -> str:
    return hidden(client.get(path).text, "csrf_token")


def location(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:2000]
    return response.headers["location"]


def takes(bridge: Bridge, patient_id: str, medication_id: str) -> None:
    """Record a drug the resident already takes (what the interaction check compares against)."""
    with bridge.services() as services:
        services.repository.create(
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "reportedBoolean": True,
                "medicationReference": {"reference": f"Medication/{medication_id}"},
                "subject": {"reference": f"Patient/{patient_id}"},
            }
        )


def form(drug: str = AMLODIPINE, **changes: str) -> dict[str, str]:
    return {
        "drug": drug,
        "dose": "5",
        "unit": "mg",
        "per_day": "1",
        "quantity": "28",
        "quantity_unit": ZH("rx.qunit.tablet"),
        "days": "28",
        **changes,
    }


def draft_via_form(doctor: httpx.Client, patient: str, **fields: str) -> str:
    path = f"/residents/{patient}/prescribe"
    response = doctor.post(path, data={**form(**fields), "csrf_token": csrf(doctor, path)})
    target = location(response)
    match = re.search(r"draft=([A-Za-z0-9\-.]+)", target)
    assert match, target
    return match.group(1)


def sign(doctor: httpx.Client, patient: str, draft: str, reasons: dict[str, str] | None = None) -> httpx.Response:
    data = {"csrf_token": csrf(doctor), **{f"override:{k}": v for k, v in (reasons or {}).items()}}
    return doctor.post(f"/residents/{patient}/prescribe/{draft}/sign", data=data)


def task_of(bridge: Bridge, request_id: str) -> dict[str, Any]:
    with bridge.services() as services:
        tasks = services.repository.find("Task", {"focus": f"MedicationRequest/{request_id}"})
    assert len(tasks) == 1
    task: dict[str, Any] = tasks[0]
    return task


def signed_prescription(bridge: Bridge, patient: str) -> tuple[str, str]:
    doctor = sign_in(bridge, "doctor")
    draft = draft_via_form(doctor, patient)
    assert location(sign(doctor, patient, draft)) == f"/residents/{patient}/prescriptions?signed={draft}"
    return draft, task_of(bridge, draft)["id"]


def item(page: str, task_id: str) -> str:
    """The HTML of one Task's card on a list page."""
    match = re.search(rf'<article[^>]*data-task="{task_id}".*?</article>', page, re.S)
    assert match, f"no card for Task/{task_id}"
    return match.group(0)


def post(client: httpx.Client, path: str, page: str, **data: str) -> httpx.Response:
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


# --- the doctor's form ---------------------------------------------------------------------------------


def test_the_form_shows_errors_per_field_and_keeps_what_was_typed(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor = sign_in(bridge, "doctor")
    page = doctor.get(f"/residents/{patient}/prescribe")
    assert page.status_code == 200 and ZH("rx.prescribe.title") in page.text
    assert "氨氯地平" in page.text and f'value="{AMLODIPINE}"' in page.text
    assert "氨氯地平" in doctor.get(f"/residents/{patient}/prescribe", params={"q": "amlo"}).text
    assert "氨氯地平" not in doctor.get(f"/residents/{patient}/prescribe", params={"q": "losartan"}).text

    wrong = {**form(dose="五", days="1.5", per_day="0"), "csrf_token": csrf(doctor)}
    refused = doctor.post(f"/residents/{patient}/prescribe", data=wrong)
    assert refused.status_code == 422
    for field, key in (("dose", "rx.error.number"), ("days", "rx.error.whole"), ("per_day", "rx.error.positive")):
        assert re.search(rf'data-testid="error-{field}">{re.escape(ZH(key))}<', refused.text), field
    assert 'value="五"' in refused.text
    unknown = doctor.post(
        f"/residents/{patient}/prescribe", data={**form(drug="drug-nope"), "csrf_token": csrf(doctor)}
    )
    assert unknown.status_code == 422 and ZH("rx.error.drug") in unknown.text
    # A unit the drug is not dosed in is the safety module's refusal, in the doctor's language.
    volume = doctor.post(f"/residents/{patient}/prescribe", data={**form(unit="mL"), "csrf_token": csrf(doctor)})
    assert volume.status_code == 422 and 'data-testid="error-draft"' in volume.text and "mL" in volume.text
    with bridge.services() as services:
        assert services.repository.find("MedicationRequest", {"patient": f"Patient/{patient}"}) == []


def test_a_clean_draft_is_checked_and_signed_to_the_pharmacy(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor = sign_in(bridge, "doctor")
    draft = draft_via_form(doctor, patient, instructions="口服，早餐后")
    checked = doctor.get(f"/residents/{patient}/prescribe", params={"draft": draft})
    assert checked.status_code == 200 and 'data-testid="rx-findings"' in checked.text
    assert 'value="28"' in checked.text and "口服，早餐后" in checked.text  # the form shows the draft
    # Revised and checked again, it stays the same draft.
    assert draft_via_form(doctor, patient, dose="2.5", draft=draft) == draft
    with bridge.services() as services:
        stored = services.repository.read("MedicationRequest", draft)
    assert stored["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 2.5

    assert location(sign(doctor, patient, draft)) == f"/residents/{patient}/prescriptions?signed={draft}"
    task = task_of(bridge, draft)
    assert task["status"] == "ready" and task["owner"]["reference"] == "Organization/demo-pharmacy"
    assert location(sign(doctor, patient, draft)) == f"/residents/{patient}/prescriptions"  # a second click
    assert task_of(bridge, draft)["id"] == task["id"]
    listed = doctor.get(f"/residents/{patient}/prescriptions?signed={draft}")
    assert ZH("rx.resident.signed") in listed.text and ZH("prescription.delivery.with-pharmacy") in listed.text
    assert ZH("rx.dose_per_day", dose="2.5", unit="mg", n="1") in listed.text
    # Signed, it is no longer a draft to revise here.
    assert doctor.get(f"/residents/{patient}/prescribe", params={"draft": draft}).status_code == 404
    # The resident's chart links the list; a nurse sees it without the doctor's buttons.
    assert f"/residents/{patient}/prescriptions" in doctor.get(f"/residents/{patient}").text
    nurse_view = sign_in(bridge, "nurse1").get(f"/residents/{patient}/prescriptions")
    assert (
        nurse_view.status_code == 200 and "氨氯地平" in nurse_view.text and "rx-prescribe-link" not in nurse_view.text
    )


def test_a_high_finding_needs_a_reason_which_the_pharmacist_then_reads(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    takes(bridge, patient, ENALAPRIL)
    doctor = sign_in(bridge, "doctor")
    draft = draft_via_form(doctor, patient, drug=LOSARTAN, dose="50")
    checked = doctor.get(f"/residents/{patient}/prescribe", params={"draft": draft}).text
    key = re.search(r'data-key="(interaction:[^"]+)"\s+data-blocking="true" data-overridable="true"', checked)
    assert key, "the ACE inhibitor + ARB interaction is found"
    assert f'name="override:{key.group(1)}"' in checked and ZH("rx.severity.high") in checked

    refused = sign(doctor, patient, draft)
    assert refused.status_code == 422 and ZH("rx.error.override_needed") in refused.text
    assert 'data-testid="rx-refused"' in refused.text
    short = sign(doctor, patient, draft, {key.group(1): "好"})
    assert short.status_code == 422 and ZH("rx.error.override_short", n=4) in short.text
    reason = "已停用依那普利，换药过渡期监测血钾"
    assert location(sign(doctor, patient, draft, {key.group(1): reason})).endswith(f"signed={draft}")

    desk = sign_in(bridge, "pharmacist").get("/pharmacy").text
    card = item(desk, task_of(bridge, draft)["id"])
    assert reason in card and key.group(1) in card
    assert 'data-testid="rx-signature" data-ok="true"' in card
    assert f'data-key="{key.group(1)}"' in card  # re-checked for the pharmacist


def test_an_absolute_finding_cannot_be_signed(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor = sign_in(bridge, "doctor")
    draft = draft_via_form(doctor, patient, drug=MORPHINE, dose="5", per_day="4")
    checked = doctor.get(f"/residents/{patient}/prescribe", params={"draft": draft}).text
    assert 'data-testid="rx-absolute"' in checked and ZH("rx.prescribe.cannot_sign") in checked
    assert re.search(r'data-testid="rx-sign"[^>]*disabled', checked)
    refused = sign(doctor, patient, draft, {"online-rules:controlled:N02AA01": "家属同意"})
    assert refused.status_code == 422
    with bridge.services() as services:
        assert services.repository.read("MedicationRequest", draft)["status"] == "draft"
    discarded = doctor.post(f"/residents/{patient}/prescribe/{draft}/discard", data={"csrf_token": csrf(doctor)})
    assert location(discarded) == f"/residents/{patient}/prescriptions"
    assert doctor.get(f"/residents/{patient}/prescribe", params={"draft": draft}).status_code == 404


# --- the pharmacy desk and the nurse's receipt -----------------------------------------------------------


def test_a_prescription_travels_from_the_desk_to_the_nurses_receipt(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    request_id, task_id = signed_prescription(bridge, patient)
    pharmacist, nurse = sign_in(bridge, "pharmacist"), sign_in(bridge, "nurse1")
    desk = pharmacist.get("/pharmacy")
    card = item(desk.text, task_id)
    assert ZH("rx.desk.signature_ok") in card and "rx-accept-form" in card and "rx-dispense-form" not in card
    base = f"/pharmacy/tasks/{task_id}"

    assert (
        location(post(pharmacist, f"{base}/accept", "/pharmacy", note="审核通过"))
        == f"/pharmacy?done=accept#task-{task_id}"
    )
    zero = post(pharmacist, f"{base}/dispense", "/pharmacy", quantity="0", lot="A2311")
    assert zero.status_code == 422 and ZH("rx.error.positive") in item(zero.text, task_id)
    assert 'value="A2311"' in item(zero.text, task_id)
    assert location(post(pharmacist, f"{base}/dispense", "/pharmacy", quantity="28", lot="A2311"))
    arrival = (bridge.clock.now() + timedelta(hours=12)).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M")
    empty = post(pharmacist, f"{base}/dispatch", "/pharmacy", courier=" ", trackingNumber="", expectedArrival=arrival)
    assert empty.status_code == 422
    for key in ("prescription.error.courier", "prescription.error.tracking"):
        assert ZH(key) in item(empty.text, task_id), key
    undated = post(
        pharmacist, f"{base}/dispatch", "/pharmacy", courier="顺丰速运", trackingNumber="SF1", expectedArrival=""
    )
    assert undated.status_code == 422 and ZH("rx.error.datetime") in item(undated.text, task_id)
    dispatched = post(
        pharmacist,
        f"{base}/dispatch",
        "/pharmacy",
        courier="顺丰速运",
        trackingNumber="SF100200300",
        expectedArrival=arrival,
    )
    assert location(dispatched)
    twice = post(pharmacist, f"{base}/accept", "/pharmacy")
    assert twice.status_code == 409 and 'data-testid="rx-problem"' in twice.text

    listed = nurse.get("/prescriptions")
    card = item(listed.text, task_id)
    assert 'data-delivery="dispatched"' in card and "SF100200300" in card and "rx-receipt-form" in card
    assert item(nurse.get("/prescriptions/section").text, task_id)  # the live fragment
    done = post(
        nurse,
        f"/prescriptions/tasks/{task_id}/receipt",
        "/prescriptions",
        quantityReceived="26",
        discrepancy="少2片，已联系药房",
    )
    assert location(done) == f"/prescriptions?received={task_id}"
    with bridge.services() as services:
        task = services.repository.read("Task", task_id)
    assert task["status"] == "completed"
    final = item(nurse.get("/prescriptions").text, task_id)
    assert 'data-delivery="received"' in final and "少2片" in final and "rx-receipt-form" not in final
    # The homes' pages link the list; a doctor follows the same prescriptions there, without the receipt.
    assert 'href="/prescriptions"' in nurse.get("/").text
    doctor = sign_in(bridge, "doctor")
    assert 'href="/prescriptions"' in doctor.get("/").text
    assert 'data-delivery="received"' in item(doctor.get("/prescriptions").text, task_id)
    assert request_id


def test_the_desk_in_english_and_only_for_its_own_pharmacy(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    _, task_id = signed_prescription(bridge, patient)
    # An account of its own: the language chosen is kept with the account.
    pharmacist = sign_in(bridge, new_account(bridge, "pharmacist", "demo-pharmacy"))
    pharmacist.post("/lang", data={"locale": "en", "next": "/", "csrf_token": csrf(pharmacist)})
    desk = pharmacist.get("/pharmacy")
    assert 'lang="en"' in desk.text and EN("rx.desk.title") in desk.text and "amlodipine" in item(desk.text, task_id)
    assert EN("rx.desk.signature_ok") in html.unescape(item(desk.text, task_id))
    assert '/pharmacy"' in pharmacist.get("/").text  # linked from the pharmacist's home

    other = sign_in(bridge, new_account(bridge, "pharmacist", new_org(bridge, OrgKind.PHARMACY)))
    assert f'data-task="{task_id}"' not in other.get("/pharmacy").text
    refused = post(other, f"/pharmacy/tasks/{task_id}/accept", "/pharmacy")
    assert refused.status_code == 404
    nurse = sign_in(bridge, "nurse1")
    assert post(nurse, f"/pharmacy/tasks/{task_id}/accept", "/prescriptions").status_code == 403
    assert nurse.get("/pharmacy").status_code == 403
    assert f'data-task="{task_id}"' not in sign_in(bridge, "nurse2").get("/prescriptions").text
    assert pharmacist.get(f"/residents/{patient}/prescribe").status_code == 403


def test_refusals_naming_a_quantity_are_shown_at_the_field(bridge: Bridge) -> None:
    """The services' own checks (more than prescribed; less received without a word) reach the form."""
    patient = prescribable_resident(bridge)
    _, task_id = signed_prescription(bridge, patient)
    pharmacist, nurse = sign_in(bridge, "pharmacist"), sign_in(bridge, "nurse1")
    base = f"/pharmacy/tasks/{task_id}"
    assert location(post(pharmacist, f"{base}/accept", "/pharmacy"))
    too_much = post(pharmacist, f"{base}/dispense", "/pharmacy", quantity="56")
    assert too_much.status_code == 422
    assert ZH("prescription.error.dispense_too_much", prescribed=28) in item(too_much.text, task_id)
    assert 'value="56"' in item(too_much.text, task_id)
    assert location(post(pharmacist, f"{base}/dispense", "/pharmacy", quantity="28"))
    arrival = (bridge.clock.now() + timedelta(hours=6)).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M")
    sent = {"courier": "京东物流", "trackingNumber": "JD0001", "expectedArrival": arrival}
    assert location(post(pharmacist, f"{base}/dispatch", "/pharmacy", **sent))
    short = post(nurse, f"/prescriptions/tasks/{task_id}/receipt", "/prescriptions", quantityReceived="26")
    assert short.status_code == 422
    assert ZH("prescription.error.discrepancy_required", dispensed="28") in item(short.text, task_id)
