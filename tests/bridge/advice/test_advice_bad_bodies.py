"""`$advise` bodies no service could read answer 422 and store nothing: not a list of parameters, task parts
that are not lists, a text that is not text, due times that exist in no time zone's UTC."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bridge.advice.advice_support import advice_resident, fhir
from tests.conftest import Bridge

DESCRIPTION = {"name": "description", "valueString": "测血压"}


def body(*parts: Any) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parts)}


TEXT = {"name": "text", "valueString": "低盐饮食"}
BAD_BODIES = {
    "parameter is a number": {"resourceType": "Parameters", "parameter": 5},
    "parameter is null": {"resourceType": "Parameters", "parameter": None},
    "task part is null": body(TEXT, {"name": "task", "part": None}),
    "task part is a number": body(TEXT, {"name": "task", "part": 3}),
    "text is an object": body({"name": "text", "valueString": {"a": 1}}),
    "due before year 1 in UTC": body(
        TEXT, {"name": "task", "part": [DESCRIPTION, {"name": "due", "valueDateTime": "0001-01-01T00:00:00+05:00"}]}
    ),
    "due after year 9999 in UTC": body(
        TEXT, {"name": "task", "part": [DESCRIPTION, {"name": "due", "valueDateTime": "9999-12-31T23:00:00-05:00"}]}
    ),
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_an_unreadable_advise_body_is_refused_and_nothing_is_stored(bridge: Bridge, case: str) -> None:
    patient = advice_resident(bridge)
    answer = fhir(bridge, "doctor").post(f"/fhir/Patient/{patient}/$advise", json=BAD_BODIES[case])
    assert answer.status_code == 422, (case, answer.status_code, answer.text)
    assert answer.json()["resourceType"] == "OperationOutcome"
    with bridge.services() as services:
        assert services.repository.find("Communication", {"subject": f"Patient/{patient}"}) == []
        assert services.repository.find("Task", {"patient": f"Patient/{patient}"}) == []
