"""Searching through /fhir: parameters per type, paging links, sorting, _include/_revinclude, counts,
and what happens to parameters the server does not know."""

from __future__ import annotations

from typing import Any

import httpx

from tests.bridge.api.fhir_support import (
    LOINC,
    create,
    encounter,
    fhir_client,
    issue_text,
    observation,
    resident_of,
    unique_tag,
)
from tests.conftest import Bridge


def _series(bridge: Bridge, tag: str, days: int = 7) -> tuple[str, list[dict[str, Any]]]:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1", 2)
    made = []
    for day in range(1, days + 1):
        body = {
            **observation(patient, value=60 + day, when=f"2026-03-{day:02d}T09:00:00+08:00"),
            "identifier": [{"system": "urn:test:series", "value": tag}],
        }
        made.append(create(nurse, body))
    return patient, made


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_paging_follows_next_links_to_every_match(bridge: Bridge) -> None:
    tag = unique_tag()
    _, made = _series(bridge, tag)
    nurse = fhir_client(bridge, "nurse1")
    page = nurse.get(
        "/fhir/Observation", params={"identifier": f"urn:test:series|{tag}", "_count": "3", "_sort": "date"}
    ).json()
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert page["total"] == 7
        seen += _ids(page)
        links = {link["relation"]: link["url"] for link in page["link"]}
        if pages > 1:
            assert "previous" in links
        if "next" not in links:
            break
        page = nurse.get(links["next"]).json()
    assert pages == 3 and seen == [m["id"] for m in made]


def test_date_prefixes_and_sort(bridge: Bridge) -> None:
    tag = unique_tag()
    _, made = _series(bridge, tag)
    nurse = fhir_client(bridge, "nurse1")

    def search(*date: str, sort: str = "date") -> list[str]:
        params = [("identifier", f"urn:test:series|{tag}"), ("_sort", sort)] + [("date", d) for d in date]
        return _ids(nurse.get("/fhir/Observation", params=params).json())

    ids = [m["id"] for m in made]
    assert search("2026-03-03") == ids[2:3]
    assert search("ge2026-03-05") == ids[4:]
    assert search("gt2026-03-05") == ids[5:]
    assert search("lt2026-03-03") == ids[:2]
    assert search("le2026-03-03") == ids[:3]
    assert search("ge2026-03-02", "le2026-03-04") == ids[1:4]
    assert search("2026-03") == ids
    assert search("ne2026-03-01") == ids[1:]
    assert search(sort="-date") == ids[::-1]


def test_token_forms_reference_forms_and_strings(bridge: Bridge) -> None:
    tag = unique_tag()
    patient, _ = _series(bridge, tag, days=2)
    nurse = fhir_client(bridge, "nurse1")
    base = {"identifier": f"urn:test:series|{tag}"}
    for code in (f"{LOINC}|8867-4", "8867-4"):
        assert nurse.get("/fhir/Observation", params={**base, "code": code}).json()["total"] == 2
    assert nurse.get("/fhir/Observation", params={**base, "code": "http://snomed.info/sct|8867-4"}).json()["total"] == 0
    for reference in (f"Patient/{patient}", patient):
        assert nurse.get("/fhir/Observation", params={**base, "patient": reference}).json()["total"] == 2
    assert nurse.get("/fhir/Observation", params={**base, "subject": f"Patient/{patient}"}).json()["total"] == 2
    category = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
    assert nurse.get("/fhir/Observation", params={**base, "category": category, "status": "final"}).json()["total"] == 2
    resident = nurse.get(f"/fhir/Patient/{patient}").json()
    family = resident["name"][0]["family"]
    by_name = nurse.get("/fhir/Patient", params={"name": family, "_id": patient}).json()
    assert _ids(by_name) == [patient]
    birth = nurse.get("/fhir/Patient", params={"birthdate": resident["birthDate"], "_id": patient}).json()
    assert _ids(birth) == [patient]
    org = nurse.get("/fhir/Patient", params={"organization": "Organization/demo-home-1", "_summary": "count"}).json()
    assert org["total"] >= 1 and "entry" not in org


def test_last_updated_and_summary_count(bridge: Bridge) -> None:
    tag = unique_tag()
    _series(bridge, tag, days=3)
    nurse = fhir_client(bridge, "nurse1")
    params = {"identifier": f"urn:test:series|{tag}", "_lastUpdated": "ge2020-01-01"}
    assert nurse.get("/fhir/Observation", params=params).json()["total"] == 3
    future = nurse.get("/fhir/Observation", params={**params, "_lastUpdated": "gt2999-01-01"}).json()
    assert future["total"] == 0
    counted = nurse.get("/fhir/Observation", params={**params, "_summary": "count"}).json()
    assert counted["total"] == 3 and "entry" not in counted


def test_include_and_revinclude(bridge: Bridge) -> None:
    from tests.bridge.prescriptions.workflow_support import prescribable_resident, signed_task

    doctor = fhir_client(bridge, "doctor")
    # A signed prescription, its catalogue Medication and the pharmacy's Task, as $sign leaves them.
    signed = signed_task(bridge, prescribable_resident(bridge))
    prescription, task = signed["medicationRequest"], signed["task"]
    medication = prescription["medicationReference"]["reference"].removeprefix("Medication/")
    bundle = doctor.get(
        "/fhir/MedicationRequest", params={"_id": prescription["id"], "_include": "MedicationRequest:medication"}
    ).json()
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]}
    assert modes == {("MedicationRequest", "match"), ("Medication", "include")}
    assert {e["resource"]["id"] for e in bundle["entry"]} == {prescription["id"], medication}
    assert bundle["total"] == 1  # includes are not counted
    tasks = doctor.get("/fhir/Task", params={"_id": task["id"], "_include": "Task:focus"}).json()
    assert {e["resource"]["id"] for e in tasks["entry"]} == {task["id"], prescription["id"]}
    reverse = doctor.get(
        "/fhir/MedicationRequest", params={"_id": prescription["id"], "_revinclude": "Task:focus"}
    ).json()
    assert {e["resource"]["id"] for e in reverse["entry"]} == {task["id"], prescription["id"]}
    owned = doctor.get(
        "/fhir/Task", params={"owner": "Organization/demo-pharmacy", "focus": f"MedicationRequest/{prescription['id']}"}
    )
    assert _ids(owned.json()) == [task["id"]]


def test_unknown_parameters_are_reported_or_refused_under_strict_handling(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    lenient = nurse.get("/fhir/Observation", params={"colour": "blue", "_count": "1"}).json()
    outcome = [e["resource"] for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and "colour" in outcome[0]["issue"][0]["diagnostics"]
    strict = nurse.get("/fhir/Observation", params={"colour": "blue"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400 and "colour" in issue_text(strict)


def test_search_by_post(bridge: Bridge) -> None:
    tag = unique_tag()
    _series(bridge, tag, days=2)
    nurse = fhir_client(bridge, "nurse1")
    response = nurse.post(
        "/fhir/Observation/_search",
        content=httpx.QueryParams({"identifier": f"urn:test:series|{tag}"}).__str__().encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and response.json()["total"] == 2


def test_encounter_and_communication_and_dispense_parameters(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    consult = create(nurse, encounter(patient, "in-progress", period={"start": "2026-05-05T10:00:00+08:00"}))
    found = nurse.get(
        "/fhir/Encounter",
        params={"patient": f"Patient/{patient}", "status": "in-progress", "class": "VR", "date": "ge2026-05-05"},
    ).json()
    assert consult["id"] in _ids(found)
    message = create(
        nurse,
        {
            "resourceType": "Communication",
            "status": "completed",
            "category": [{"text": "advice"}, {"coding": [{"system": "urn:test:cat", "code": "advice"}]}],
            "subject": {"reference": f"Patient/{patient}"},
            "recipient": [{"reference": "Organization/demo-hospital"}],
            "payload": [{"contentString": "请复查血压"}],
        },
    )
    by_recipient = nurse.get(
        "/fhir/Communication",
        params={"recipient": "Organization/demo-hospital", "patient": patient, "category": "urn:test:cat|advice"},
    ).json()
    assert message["id"] in _ids(by_recipient)
