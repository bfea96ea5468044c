"""Bad input to the FHIR API: each gets the right 4xx and an OperationOutcome naming the problem, and
nothing is half-written."""

from __future__ import annotations

import json

from tests.bridge.api.fhir_support import create, fhir_client, issue_text, observation, resident_of, unique_tag
from tests.conftest import Bridge


def _count(bridge: Bridge, resource_type: str, **criteria: str) -> int:
    with bridge.services() as services:
        return len(services.repository.find(resource_type, criteria))


def test_malformed_json(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    response = nurse.post("/fhir/Observation", content=b'{"resourceType": "Observation", "status": ')
    assert response.status_code == 400 and "malformed JSON at line 1" in issue_text(response)
    duplicate = nurse.post(
        "/fhir/Observation", content=b'{"resourceType": "Observation", "status": "final", "status": "x"}'
    )
    assert duplicate.status_code == 400 and "repeats the key 'status'" in issue_text(duplicate)
    not_a_number = nurse.post("/fhir/Observation", content=b'{"resourceType": "Observation", "valueInteger": NaN}')
    assert not_a_number.status_code == 400
    empty = nurse.post("/fhir/Observation", content=b"")
    assert empty.status_code == 400 and "no body" in issue_text(empty)
    array = nurse.post("/fhir/Observation", json=[1, 2])
    assert array.status_code == 400


def test_resource_type_must_match_the_url(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    response = nurse.post("/fhir/Condition", json=observation(patient))
    assert response.status_code == 400 and "URL names Condition" in issue_text(response)


def test_unknown_elements_and_invalid_dates_are_named(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    tag = unique_tag()
    unknown = nurse.post("/fhir/Observation", json={**observation(patient), "heartColour": tag})
    assert unknown.status_code == 422
    assert any("heartColour" in e for i in unknown.json()["issue"] for e in i.get("expression", []))
    bad_date = nurse.post("/fhir/Observation", json=observation(patient, when="2024-13-45T08:00:00Z"))
    assert bad_date.status_code == 422
    assert any("effectiveDateTime" in e for i in bad_date.json()["issue"] for e in i.get("expression", []))
    bad_status = nurse.post("/fhir/Observation", json={**observation(patient), "status": "bogus"})
    assert bad_status.status_code == 422 and "'bogus' is not one of" in issue_text(bad_status)


def test_body_id_must_match_the_url_on_update(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    created = create(nurse, observation(patient))
    response = nurse.put(f"/fhir/Observation/{created['id']}", json={**created, "id": "other"})
    assert response.status_code == 400 and "'other'" in issue_text(response)
    no_id = nurse.put(f"/fhir/Observation/{created['id']}", json={k: v for k, v in created.items() if k != "id"})
    assert no_id.status_code == 400


def test_references_must_resolve(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    missing = nurse.post("/fhir/Observation", json=observation("no-such-resident"))
    assert missing.status_code == 422
    other_home = nurse.post("/fhir/Observation", json=observation(resident_of(bridge, "demo-home-2")))
    assert other_home.status_code == 422
    # A resident of another home and one that does not exist look the same: nothing leaks.
    assert issue_text(other_home).replace(resident_of(bridge, "demo-home-2"), "X") == issue_text(missing).replace(
        "no-such-resident", "X"
    )
    patient = resident_of(bridge, "demo-home-1")
    dangling = nurse.post(
        "/fhir/Observation", json={**observation(patient), "encounter": {"reference": "Encounter/gone"}}
    )
    assert dangling.status_code == 422 and "Encounter/gone" in issue_text(dangling)
    placeholder = nurse.post(
        "/fhir/Observation", json={**observation(patient), "encounter": {"reference": "urn:uuid:1"}}
    )
    assert placeholder.status_code == 422 and "transaction" in issue_text(placeholder)


def test_a_transaction_entry_referencing_a_missing_resource_writes_nothing(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    tag = unique_tag()
    good = {**observation(patient), "identifier": [{"system": "urn:test:tx", "value": tag}]}
    bad = {**good, "encounter": {"reference": "Encounter/does-not-exist"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Observation"}},
            {"resource": bad, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = nurse.post("/fhir", json=bundle)
    assert response.status_code == 422, response.text
    assert "entry 1" in issue_text(response) and "Encounter/does-not-exist" in issue_text(response)
    assert _count(bridge, "Observation", identifier=f"urn:test:tx|{tag}") == 0


def test_a_bundle_of_ten_thousand_entries_is_refused_whole(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    tag = unique_tag()
    entry = {
        "resource": {**observation(patient), "identifier": [{"system": "urn:test:big", "value": tag}]},
        "request": {"method": "POST", "url": "Observation"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry] * 10_000}
    response = nurse.post("/fhir", content=json.dumps(bundle).encode())
    assert response.status_code == 413 and "at most 1000 entries" in issue_text(response)
    assert _count(bridge, "Observation", identifier=f"urn:test:big|{tag}") == 0


def test_a_twenty_megabyte_body_is_refused(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    huge = {**observation(patient), "note": [{"text": "x" * (20 * 1024 * 1024)}]}
    response = nurse.post("/fhir/Observation", content=json.dumps(huge).encode())
    assert response.status_code == 413 and "larger than" in issue_text(response)

    def chunks():  # no Content-Length: the limit must hold while streaming too
        yield b'{"resourceType": "Observation", "note": [{"text": "'
        for _ in range(21):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    streamed = nurse.post("/fhir/Observation", content=chunks())
    assert streamed.status_code == 413


def test_a_search_date_that_is_no_date(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    response = nurse.get("/fhir/Observation", params={"date": "2024-13-45"})
    assert response.status_code == 400 and "2024-13-45" in issue_text(response)
    prefix = nurse.get("/fhir/Observation", params={"date": "zz2024-01-01"})
    assert prefix.status_code == 400
    count = nurse.get("/fhir/Observation", params={"_count": "many"})
    assert count.status_code == 400 and "_count" in issue_text(count)
