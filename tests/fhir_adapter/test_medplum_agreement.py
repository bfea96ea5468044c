"""The bridge's FHIR validation and Medplum's independent R4 validator agree: published examples pass
both, what the bridge normalises stays valid R4, and structurally broken resources fail both."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.validation import validate_resource

from tests.fhir_peer import (
    MedplumPeerError,
    MedplumValidator,
    assert_all_pass,
    parse_validator_output,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "fhir-examples"

Json = dict[str, Any]


def load_examples() -> list[Json]:
    if not EXAMPLES_DIR.is_dir():
        pytest.skip(f"{EXAMPLES_DIR} is missing")
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES_DIR.glob("*.json"))]


def plain_resources(examples: list[Json]) -> list[Json]:
    """Examples and the entries of example Bundles: the resources the bridge itself stores."""
    out: list[Json] = []
    for example in examples:
        if example["resourceType"] == "Bundle":
            out.extend(entry["resource"] for entry in example.get("entry", []))
        else:
            out.append(example)
    return out


def observation() -> Json:
    return {
        "resourceType": "Observation",
        "id": "hr-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-03-01T08:00:00+08:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def _without_status(resource: Json) -> None:
    del resource["status"]


def _unknown_element(resource: Json) -> None:
    resource["heartRateColour"] = "red"


def _wrong_type(resource: Json) -> None:
    resource["valueQuantity"]["value"] = "seventy-two"


def _bad_datetime(resource: Json) -> None:
    resource["effectiveDateTime"] = "2026-13-45T25:00"


# (break, where Medplum reports it)
BREAKAGES: dict[str, tuple[Callable[[Json], None], str]] = {
    "missing status": (_without_status, "Observation.status"),
    "unknown element": (_unknown_element, "Observation.heartRateColour"),
    "wrong type": (_wrong_type, "Observation.value"),
    "bad dateTime": (_bad_datetime, "Observation.effective"),
}


def test_published_examples_pass_medplum(medplum: MedplumValidator) -> None:
    examples = load_examples()
    results = medplum.validate(examples)
    assert_all_pass(results)
    assert [r.reference for r in results] == [f"{e['resourceType']}/{e['id']}" for e in examples]
    bundles = [r for r in results if r.resource_type == "Bundle"]
    assert bundles and all(b.entries for b in bundles), "Bundle entries are checked one by one too"


def test_what_the_bridge_normalises_stays_valid_r4(medplum: MedplumValidator) -> None:
    resources = [*plain_resources(load_examples()), observation()]
    assert_all_pass(medplum.validate([validate_resource(r) for r in resources]))


def test_broken_resources_fail_medplum_and_the_bridge(medplum: MedplumValidator) -> None:
    broken = []
    for breakage, _ in BREAKAGES.values():
        resource = copy.deepcopy(observation())
        breakage(resource)
        broken.append(resource)
    results = medplum.validate([observation(), *broken])
    assert results[0].passed, results[0].describe()
    for (name, (_, expression)), result in zip(BREAKAGES.items(), results[1:], strict=True):
        assert not result.passed, f"Medplum accepted an Observation with a {name}"
        assert any(issue.expression.startswith(expression) for issue in result.errors), result.describe()
    for name, resource in zip(BREAKAGES, broken, strict=True):
        with pytest.raises(OperationOutcomeError):
            validate_resource(resource)
            pytest.fail(f"the bridge accepted an Observation with a {name}")


def test_a_broken_bundle_entry_fails_the_bundle(medplum: MedplumValidator) -> None:
    entry = observation()
    del entry["status"]
    bundle = {"resourceType": "Bundle", "id": "b1", "type": "collection", "entry": [{"resource": entry}]}
    (result,) = medplum.validate([bundle])
    assert not result.passed
    assert [e.reference for e in result.entries] == ["Observation/hr-1"]
    assert not result.entries[0].ok
    assert result.entries[0].errors, result.describe()


def test_validating_nothing_starts_no_node(medplum: MedplumValidator) -> None:
    assert medplum.validate([]) == []


def test_output_parsing_keeps_issues_with_their_resource_and_entry() -> None:
    output = (
        "PASS  000000.json  (Patient/p1)\n"
        "FAIL  000001.json  (Observation/o 1)\n"
        "      error: Missing required property @ Observation.status\n"
        '      error: Invalid additional property "x @ y" @ Observation.x\n'
        "PASS  000002.json  (Bundle/b)\n"
        "      warning: Something to note @ Bundle.meta\n"
        "   PASS  entry Patient/p2\n"
        "   FAIL  entry Observation/o2\n"
        "         error: Missing required property @ Observation.code\n"
    )
    (name0, patient), (_, obs), (_, bundle) = parse_validator_output(output)
    assert name0 == "000000.json" and patient.passed and patient.reference == "Patient/p1"
    assert not obs.ok and obs.resource_id == "o 1"
    assert [(i.message, i.expression) for i in obs.errors] == [
        ("Missing required property", "Observation.status"),
        ('Invalid additional property "x @ y"', "Observation.x"),
    ]
    assert bundle.ok and not bundle.passed
    assert [i.severity for i in bundle.issues] == ["warning"] and not bundle.errors
    assert [(e.reference, e.ok, len(e.issues)) for e in bundle.entries] == [
        ("Patient/p2", True, 0),
        ("Observation/o2", False, 1),
    ]


def test_output_parsing_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(MedplumPeerError):
        parse_validator_output("PASS  000000.json  (Patient/p1)\nSyntaxError: Unexpected token\n")
