"""The same workflow operation twice at once: one succeeds, the other is told someone else changed the
resource meanwhile (409 OperationOutcome), never a 500; the state moves on once."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.bridge.prescriptions.workflow_support import draft, fhir, parameters, prescribable_resident, signed_task
from tests.conftest import Bridge

ROUNDS = 5


def _post_at_once(clients: list[httpx.Client], url: str, body: dict[str, Any]) -> list[httpx.Response]:
    """Each client posts as soon as all are ready to; the answers in client order."""
    ready = threading.Barrier(len(clients), timeout=30)
    answers: list[httpx.Response | BaseException | None] = [None] * len(clients)

    def run(slot: int) -> None:
        try:
            ready.wait()
            answers[slot] = clients[slot].post(url, json=body)
        except BaseException as exc:  # reported by the assertion below
            answers[slot] = exc

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    assert len(responses) == len(clients), answers
    return responses


def _assert_one_wins(responses: list[httpx.Response]) -> httpx.Response:
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [(r.status_code, r.text[:300]) for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    outcome = loser.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    assert outcome["issue"][0]["code"] == "conflict", outcome
    return next(r for r in responses if r.status_code == 200)


def test_two_accepts_at_once_one_wins_the_other_409(bridge: Bridge) -> None:
    pharmacists = [fhir(bridge, "pharmacist"), fhir(bridge, "pharmacist")]
    for _ in range(ROUNDS):
        task = signed_task(bridge, prescribable_resident(bridge))["task"]
        responses = _post_at_once(pharmacists, f"/fhir/Task/{task['id']}/$accept", parameters(note="审核通过"))
        won = _assert_one_wins(responses)
        assert won.json()["status"] == "in-progress"
        history = pharmacists[0].get(f"/fhir/Task/{task['id']}/_history").json()
        statuses = [entry["resource"]["status"] for entry in history["entry"]]
        assert statuses == ["in-progress", "ready"], statuses  # accepted once, on top of the signed Task
        # The state is right for the next step: accepting again is refused as a state error, not a race.
        again = pharmacists[1].post(f"/fhir/Task/{task['id']}/$accept")
        assert again.status_code == 409 and again.json()["resourceType"] == "OperationOutcome"


def test_two_signs_at_once_one_wins_the_other_409(bridge: Bridge) -> None:
    doctors = [fhir(bridge, "doctor"), fhir(bridge, "doctor")]
    for _ in range(ROUNDS):
        created = doctors[0].post("/fhir/MedicationRequest", json=draft(prescribable_resident(bridge)))
        assert created.status_code == 201, created.text
        request_id = created.json()["id"]
        responses = _post_at_once(
            doctors, f"/fhir/MedicationRequest/{request_id}/$sign", {"resourceType": "Parameters"}
        )
        _assert_one_wins(responses)
        tasks = doctors[0].get("/fhir/Task", params={"focus": f"MedicationRequest/{request_id}"}).json()
        assert len(tasks.get("entry", [])) == 1, tasks  # signed once: one Task for the pharmacy
