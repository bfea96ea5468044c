"""Batch and transaction Bundles on POST /fhir."""

from __future__ import annotations

from tests.bridge.api.fhir_support import fhir_client, issue_text, observation, resident_of, unique_tag
from tests.conftest import Bridge


def test_transaction_rewrites_placeholders_and_commits_together(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    tag = unique_tag()
    obs_url, report_url = (
        "urn:uuid:0b6a8d1e-0000-4000-8000-000000000001",
        "urn:uuid:0b6a8d1e-0000-4000-8000-000000000002",
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                # The report comes first and references the Observation defined after it.
                "fullUrl": report_url,
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "status": "final",
                    "identifier": [{"system": "urn:test:tx", "value": tag}],
                    "code": {"text": "血常规"},
                    "subject": {"reference": f"Patient/{patient}"},
                    "result": [{"reference": obs_url}],
                },
                "request": {"method": "POST", "url": "DiagnosticReport"},
            },
            {"fullUrl": obs_url, "resource": observation(patient), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": f"Patient/{patient}"}},
        ],
    }
    response = nurse.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "201 Created", "200 OK"]
    report_location = result["entry"][0]["response"]["location"]
    obs_location = result["entry"][1]["response"]["location"]
    report = nurse.get(f"/fhir/{report_location.split('/_history')[0]}").json()
    assert report["result"][0]["reference"] == obs_location.split("/_history")[0]
    assert nurse.get(f"/fhir/{obs_location.split('/_history')[0]}").status_code == 200


def test_transaction_with_an_undefined_placeholder_is_refused(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    body = {**observation(patient), "encounter": {"reference": "urn:uuid:not-in-this-bundle"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": body, "request": {"method": "POST", "url": "Observation"}}],
    }
    response = nurse.post("/fhir", json=bundle)
    assert response.status_code == 400 and "no entry of this transaction defines" in issue_text(response)


def test_transaction_is_all_or_nothing_when_access_fails(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    tag = unique_tag()
    mine = {**observation(resident_of(bridge, "demo-home-1")), "identifier": [{"system": "urn:test:tx", "value": tag}]}
    theirs = {
        **observation(resident_of(bridge, "demo-home-2")),
        "identifier": [{"system": "urn:test:tx", "value": tag}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": "Observation"}} for r in (mine, theirs)],
    }
    response = nurse.post("/fhir", json=bundle)
    assert response.status_code == 422
    assert nurse.get("/fhir/Observation", params={"identifier": f"urn:test:tx|{tag}"}).json()["total"] == 0


def test_batch_entries_succeed_or_fail_alone(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    tag = unique_tag()
    mine = {
        **observation(resident_of(bridge, "demo-home-1")),
        "identifier": [{"system": "urn:test:batch", "value": tag}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": mine, "request": {"method": "POST", "url": "Observation"}},
            {"resource": {**mine, "status": "bogus"}, "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": f"Observation?identifier=urn:test:batch|{tag}"}},
            {"request": {"method": "GET", "url": "Observation/not-there"}},
            {"request": {"method": "PATCH", "url": "Observation/x"}},
        ],
    }
    response = nurse.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"].split()[0] for e in entries] == ["201", "422", "200", "404", "405"]
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["resource"]["type"] == "searchset" and entries[2]["resource"]["total"] == 1


def test_transaction_conditional_create_and_update_and_delete(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    tag = unique_tag()
    body = {**observation(patient), "identifier": [{"system": "urn:test:cond", "value": tag}]}
    entry = {
        "fullUrl": "urn:uuid:4f0c0000-0000-4000-8000-00000000000a",
        "resource": body,
        "request": {"method": "POST", "url": "Observation", "ifNoneExist": f"identifier=urn:test:cond|{tag}"},
    }
    first = nurse.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}).json()
    again = nurse.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}).json()
    assert first["entry"][0]["response"]["status"] == "201 Created"
    assert again["entry"][0]["response"]["status"] == "200 OK"
    obs_id = first["entry"][0]["response"]["location"].split("/")[1]
    assert again["entry"][0]["response"]["location"].split("/")[1] == obs_id
    current = nurse.get(f"/fhir/Observation/{obs_id}").json()
    update = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**current, "status": "amended"},
                "request": {"method": "PUT", "url": f"Observation/{obs_id}", "ifMatch": 'W/"1"'},
            }
        ],
    }
    assert nurse.post("/fhir", json=update).json()["entry"][0]["response"]["etag"] == 'W/"2"'
    assert nurse.post("/fhir", json=update).status_code == 412


def test_not_a_batch(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    assert nurse.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert nurse.post("/fhir", json={"resourceType": "Patient"}).status_code == 400
