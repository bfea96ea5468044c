"""The referral pages over real HTTP, on both backends, in Chinese and English: the doctor's form beside
the chart (recent results preselected, errors per field, nothing stored when refused, CSRF), the
receiving hospital's list with accept / decline / complete, and the nurse following the status."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx

from bridge.i18n import Translator
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from tests.bridge.referrals.support import Network, build_network, fhir, observation, recent, refer_body, resident
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

ZH, EN = Translator("zh-CN"), Translator("en")
_NETWORKS: dict[str, Network] = {}


def network_of(bridge: Bridge) -> Network:
    """One care network per backend (the referral tests' own: no demo organisation changes)."""
    if bridge.url not in _NETWORKS:
        _NETWORKS[bridge.url] = build_network(bridge)
    return _NETWORKS[bridge.url]


def csrf(client: httpx.Client, path: str = "/") -> str:
    return hidden(client.get(path).text, "csrf_token")


def english(client: httpx.Client) -> httpx.Client:
    client.post("/lang", data={"locale": "en", "next": "/", "csrf_token": csrf(client)})
    return client


def text(page: str) -> str:
    return html.unescape(page)


def refer_via_form(bridge: Bridge, network: Network, patient: str, **fields: object) -> str:
    doctor = sign_in(bridge, network.doctor_a)
    data: dict[str, object] = {
        "reason": "右下肢肿胀，需超声检查",
        "urgency": "urgent",
        "hospital": network.hospital_b,
        **fields,
    }
    response = doctor.post(f"/residents/{patient}/referrals", data={**data, "csrf_token": csrf(doctor)})
    assert response.status_code == 303, response.text[:2000]
    match = re.search(r"referred=([A-Za-z0-9\-.]+)", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def test_the_doctor_refers_from_the_chart_in_chinese(bridge: Bridge) -> None:
    network = network_of(bridge)
    patient = resident(bridge, network.home)
    fresh = observation(bridge, patient, recent(bridge, 2), 9.4)
    old = observation(bridge, patient, recent(bridge, 30), 5.2)
    doctor = sign_in(bridge, network.doctor_a)
    page = doctor.get(f"/residents/{patient}")
    assert page.status_code == 200
    body = text(page.text)
    assert 'data-testid="referral-form"' in body and ZH("referral.form.title") in body
    assert re.search(rf'value="{network.hospital_a}"\s+selected', page.text), "own hospital preselected"
    assert f'value="{network.hospital_b}"' in page.text and network.hospital_c not in page.text
    assert re.search(rf'value="{fresh}"\s+checked', page.text), "a result of the last 7 days is preselected"
    assert f'value="{old}"' in page.text and not re.search(rf'value="{old}"\s+checked', page.text)
    assert 'href="/referrals"' in page.text  # the navigation link

    response = doctor.post(
        f"/residents/{patient}/referrals",
        data={
            "reason": "右下肢肿胀，需超声检查",
            "urgency": "urgent",
            "hospital": network.hospital_b,
            "results": [fresh],
            "note": "需轮椅",
            "csrf_token": csrf(doctor),
        },
    )
    assert response.status_code == 303, response.text[:2000]
    chart = text(doctor.get(response.headers["location"]).text)
    assert ZH("referral.panel.sent") in chart and ZH("referral.status.requested") in chart
    assert "右下肢肿胀，需超声检查" in chart and ZH("referral.urgency.urgent") in chart


def test_form_errors_are_shown_in_english_and_nothing_is_stored(bridge: Bridge) -> None:
    network = network_of(bridge)
    patient = resident(bridge, network.home)
    theirs = observation(bridge, resident(bridge, network.home), recent(bridge))
    doctor = english(sign_in(bridge, network.doctor_a))
    refused = doctor.post(
        f"/residents/{patient}/referrals",
        data={
            "reason": " ",
            "urgency": "whenever",
            "hospital": network.hospital_c,
            "results": [theirs],
            "note": "保留的备注",
            "csrf_token": csrf(doctor),
        },
    )
    assert refused.status_code == 422
    body = text(refused.text)
    for key in ("referral.error.reason_required", "referral.error.hospital_not_contracted"):
        assert EN(key) in body, key
    assert EN("referral.error.urgency", urgency="whenever") in body
    assert EN("referral.error.result_not_of_resident", reference=theirs) in body
    assert "保留的备注" in body and 'lang="en"' in refused.text
    no_csrf = doctor.post(f"/residents/{patient}/referrals", data={"reason": "头晕", "urgency": "routine"})
    assert no_csrf.status_code == 403
    with bridge.services() as services:
        assert services.repository.find("ServiceRequest", {"patient": f"Patient/{patient}"}) == []
    chart = text(doctor.get(f"/residents/{patient}").text)
    assert EN("referral.panel.none") in chart


def test_the_receiving_hospital_accepts_and_completes_from_its_list(bridge: Bridge) -> None:
    network = network_of(bridge)
    patient = resident(bridge, network.home)
    request_id = refer_via_form(bridge, network, patient)
    hospital = sign_in(bridge, network.doctor_b)
    listing = hospital.get("/referrals")
    assert listing.status_code == 200
    assert f'action="/referrals/{request_id}/accept"' in listing.text
    assert f'action="/referrals/{request_id}/decline"' in listing.text
    assert f'action="/referrals/{request_id}/cancel"' not in listing.text  # not hers to withdraw

    past = (bridge.clock.now() - timedelta(days=1)).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M")
    refused = hospital.post(
        f"/referrals/{request_id}/accept", data={"appointment": past, "csrf_token": csrf(hospital, "/referrals")}
    )
    assert refused.status_code == 422 and ZH("referral.error.appointment_past") in text(refused.text)
    assert past in refused.text  # what was typed is kept

    later = (bridge.clock.now() + timedelta(days=3)).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M")
    accepted = hospital.post(
        f"/referrals/{request_id}/accept",
        data={"appointment": later, "note": "超声科 2 楼", "csrf_token": csrf(hospital, "/referrals")},
    )
    assert accepted.status_code == 303, accepted.text[:2000]
    page = text(hospital.get(accepted.headers["location"]).text)
    assert ZH("referral.done.accept") in page and ZH("referral.status.accepted") in page
    assert later.replace("T", " ") in page

    empty = hospital.post(
        f"/referrals/{request_id}/complete", data={"outcome": "", "csrf_token": csrf(hospital, "/referrals")}
    )
    assert empty.status_code == 422 and ZH("referral.error.outcome_required") in text(empty.text)
    again = hospital.post(
        f"/referrals/{request_id}/accept", data={"appointment": later, "csrf_token": csrf(hospital, "/referrals")}
    )
    assert again.status_code == 409 and "accepted" in text(again.text)
    done = hospital.post(
        f"/referrals/{request_id}/complete",
        data={"outcome": "深静脉血栓已排除", "csrf_token": csrf(hospital, "/referrals")},
    )
    assert done.status_code == 303
    assert "深静脉血栓已排除" in text(hospital.get("/referrals").text)


def test_a_decline_needs_a_reason_and_the_nurse_follows_without_acting(bridge: Bridge) -> None:
    network = network_of(bridge)
    patient = resident(bridge, network.home)
    request_id = refer_via_form(bridge, network, patient)
    hospital = english(sign_in(bridge, network.doctor_b))
    refused = hospital.post(
        f"/referrals/{request_id}/decline", data={"reason": "", "csrf_token": csrf(hospital, "/referrals")}
    )
    assert refused.status_code == 422 and EN("referral.error.decline_reason") in text(refused.text)
    declined = hospital.post(
        f"/referrals/{request_id}/decline",
        data={"reason": "No vascular surgeon this month", "csrf_token": csrf(hospital)},
    )
    assert declined.status_code == 303

    nurse = sign_in(bridge, network.nurse)
    listing = nurse.get("/referrals")
    body = text(listing.text)
    assert f'id="referral-{request_id}"' in listing.text
    assert ZH("referral.status.rejected") in body and "No vascular surgeon this month" in body
    assert '<form method="post" action="/referrals/' not in listing.text
    chart = nurse.get(f"/residents/{patient}")
    assert 'data-testid="referral-panel"' in chart.text and 'data-testid="referral-form"' not in chart.text
    assert (
        nurse.post(
            f"/residents/{patient}/referrals", data={"reason": "x", "urgency": "routine", "csrf_token": csrf(nurse)}
        ).status_code
        == 403
    )

    other = refer_via_form(bridge, network, patient)
    forbidden = nurse.post(f"/referrals/{other}/decline", data={"reason": "nurse says no", "csrf_token": csrf(nurse)})
    assert forbidden.status_code == 403
    with bridge.services() as services:
        task = services.repository.find("Task", {"focus": f"ServiceRequest/{other}"})[0]
    assert task["status"] == "requested"


def test_the_section_the_live_script_fetches_carries_the_list_with_versions(bridge: Bridge) -> None:
    patient = resident(bridge, "demo-home-1")
    referred = fhir(bridge, "doctor").post(f"/fhir/Patient/{patient}/$refer", json=refer_body("片段测试：头晕"))
    assert referred.status_code == 201, referred.text
    request_id = referred.json()["id"]
    hospital = sign_in(bridge, "doctor2").get("/referrals/section")
    assert hospital.status_code == 200 and hospital.headers["cache-control"] == "no-store"
    assert "<html" not in hospital.text and "片段测试：头晕" in hospital.text
    item = re.search(rf'<article[^>]*data-key="referral-{request_id}"[^>]*>', hospital.text)
    assert item and re.search(r'data-version="\d+-\d+"', item.group(0))
    assert "片段测试：头晕" in sign_in(bridge, "nurse1").get("/referrals/section").text
    assert "片段测试：头晕" not in sign_in(bridge, "nurse2").get("/referrals/section").text
    assert sign_in(bridge, "pharmacist").get("/referrals/section").status_code == 403
