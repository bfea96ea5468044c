"""Every FHIR interaction touching patient data leaves an AuditEvent: who, what, when, from where,
and the outcome; refused attempts too. Supervisors find them by resident and by home."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bridge.api.fhir_support import create, fhir_client, observation, resident_of
from tests.conftest import Bridge


def _events_about(bridge: Bridge, reference: str) -> list[dict[str, Any]]:
    with bridge.services() as services:
        events = services.repository.find("AuditEvent", {"entity": reference})
    return sorted(events, key=lambda e: e["recorded"])


def _interaction(event: dict[str, Any]) -> str:
    return str(event["subtype"][0]["code"])


def test_each_interaction_is_recorded_with_who_what_when_where_and_outcome(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1", 6)
    before = datetime.now(UTC) - timedelta(seconds=5)
    created = create(nurse, observation(patient))
    nurse.get(f"/fhir/Observation/{created['id']}")
    nurse.put(f"/fhir/Observation/{created['id']}", json={**created, "status": "amended"})
    nurse.get(f"/fhir/Observation/{created['id']}/_history")
    nurse.get(f"/fhir/Observation/{created['id']}/_history/1")
    nurse.get("/fhir/Observation", params={"patient": f"Patient/{patient}", "_id": created["id"]})

    events = _events_about(bridge, f"Observation/{created['id']}")
    assert [_interaction(e) for e in events] == ["create", "read", "update", "history-instance", "vread"]
    assert [e["action"] for e in events] == ["C", "R", "U", "R", "R"]
    # A search is named by its query and the residents it returned, not resource by resource.
    searches = [e for e in _events_about(bridge, f"Patient/{patient}") if _interaction(e) == "search-type"]
    events.append(searches[-1])
    for event in events:
        agent = event["agent"][0]
        assert agent["who"]["display"] == "王芳" and agent["who"]["identifier"]["value"]
        assert agent["network"]["address"] == "127.0.0.1"
        assert event["outcome"] == "0"
        assert datetime.fromisoformat(event["recorded"].replace("Z", "+00:00")) >= before
        named = {e["what"]["reference"] for e in event["entity"] if "what" in e}
        assert f"Patient/{patient}" in named and "Organization/demo-home-1" in named
    query = next(e for e in searches[-1]["entity"] if "query" in e)
    assert f"_id={created['id']}" in base64.b64decode(query["query"]).decode()


def test_refused_attempts_are_recorded_as_failures(bridge: Bridge) -> None:
    nurse2 = fhir_client(bridge, "nurse2")
    other = resident_of(bridge, "demo-home-1", 6)
    assert nurse2.get(f"/fhir/Patient/{other}").status_code == 404
    with bridge.services() as services:
        events = services.repository.find("AuditEvent", {"outcome": "4", "subtype": "read"})
    refused = [e for e in events if f"Patient/{other}" in e.get("outcomeDesc", "")]
    assert refused and refused[-1]["agent"][0]["who"]["display"] == "张丽"


def test_home_supervisors_see_who_read_their_residents(bridge: Bridge) -> None:
    doctor = fhir_client(bridge, "doctor")
    patient = resident_of(bridge, "demo-home-2", 0)
    doctor.get(f"/fhir/Patient/{patient}")
    with bridge.services() as services:
        from bridge.accounts.service import NewAccount
        from bridge.demo.seed import DEMO_PASSWORD

        services.accounts.create(
            NewAccount("home2-supervisor", "supervisor", "demo-home-2", DEMO_PASSWORD), services.now()
        )
    supervisor = fhir_client(bridge, "home2-supervisor")
    found = supervisor.get("/fhir/AuditEvent", params={"patient": f"Patient/{patient}", "subtype": "read"}).json()
    readers = {e["resource"]["agent"][0]["who"].get("display") for e in found["entry"]}
    assert "李建国" in readers
    # Events that name neither home 2 nor its residents stay hidden from its supervisor: the doctor's
    # read of a home-1 resident is not listed. Events about home 1's residents that do name home 2 (one
    # of its staff tried to read them, in an earlier test on this shared bridge) are its business.
    home1_patient = resident_of(bridge, "demo-home-1")
    doctor.get(f"/fhir/Patient/{home1_patient}")
    elsewhere = supervisor.get("/fhir/AuditEvent", params={"patient": f"Patient/{home1_patient}", "_count": "1000"})
    listed = [e["resource"] for e in elsewhere.json().get("entry", [])]
    for event in listed:
        named = {entity.get("what", {}).get("reference") for entity in event.get("entity", [])}
        assert "Organization/demo-home-2" in named, event
    assert all(event["agent"][0]["who"].get("display") != "李建国" for event in listed)
