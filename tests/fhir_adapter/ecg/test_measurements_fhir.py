"""ECG measurements as FHIR Observation components: the codes and units, the automated label, flags and
absent values, and validity of the Observation that carries them, by the bridge's validation and Medplum's."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from fhir_adapter.ecg.measurements import MEASUREMENT_METHOD, EcgFlag, EcgMeasurements, measure_ecg
from fhir_adapter.ecg.measurements_fhir import LOCAL_SYSTEM, measurement_components
from fhir_adapter.validation import validate_resource

from tests.fhir_adapter.ecg.test_measurements import beat_train, fibrillatory_waves
from tests.fhir_peer import MedplumValidator, assert_all_pass

Json = dict[str, Any]
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EXPECTED_CODES = [
    (LOINC, "8867-4", "/min"),
    (LOCAL_SYSTEM, "rr-interval", "ms"),
    (LOINC, "8625-6", "ms"),
    (LOINC, "8633-0", "ms"),
    (LOINC, "8634-8", "ms"),
    (LOINC, "76635-2", "ms"),
    (LOINC, "76634-5", "ms"),
    (LOCAL_SYSTEM, "rr-irregularity", "%"),
    (LOCAL_SYSTEM, "beats", None),
]


def loinc_check_digit_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the Luhn algorithm over the digits before the hyphen)."""
    body, _, check = code.partition("-")
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10 == int(check)


def observation(components: list[Json]) -> Json:
    return {
        "resourceType": "Observation",
        "id": "ecg-1",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "procedure"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-03-01T08:00:00+08:00",
        "method": copy.deepcopy(MEASUREMENT_METHOD),
        "component": components,
    }


@pytest.fixture(scope="module")
def normal() -> EcgMeasurements:
    return measure_ecg({"II": beat_train(500, 0.8)}, 500)


@pytest.fixture(scope="module")
def fibrillation() -> EcgMeasurements:
    rr = np.random.default_rng(3).uniform(0.35, 0.6, 40)  # fast and irregular
    signal = beat_train(500, rr, p_waves=False, qt=0.30, noise_mv=0.01, seed=3) + fibrillatory_waves(500, 10.0, 3)
    measured = measure_ecg({"II": signal}, 500)
    assert {EcgFlag.IRREGULAR_RHYTHM, EcgFlag.TACHYCARDIA} <= measured.flags
    return measured


@pytest.fixture(scope="module")
def slow_long_qt() -> EcgMeasurements:
    measured = measure_ecg({"II": beat_train(500, 1.3, qt=0.56)}, 500, sex="male")
    assert measured.flags == {EcgFlag.BRADYCARDIA, EcgFlag.LONG_QTC}
    return measured


@pytest.fixture(scope="module")
def unmeasured() -> EcgMeasurements:
    return measure_ecg({"II": np.zeros(5000)}, 500)


def test_codes_units_and_the_automated_label(normal: EcgMeasurements) -> None:
    components = measurement_components(normal)
    assert [(c["code"]["coding"][0]["system"], c["code"]["coding"][0]["code"]) for c in components] == [
        (system, code) for system, code, _ in EXPECTED_CODES
    ]
    for component, (system, code, unit) in zip(components, EXPECTED_CODES, strict=True):
        assert component["code"]["text"].endswith("(automated)")
        if system == LOINC:
            assert loinc_check_digit_ok(code), code
        if unit is not None:
            quantity = component["valueQuantity"]
            assert (quantity["system"], quantity["code"], quantity["unit"]) == (UCUM, unit, unit)
    values = {c["code"]["coding"][0]["code"]: c.get("valueQuantity", {}).get("value") for c in components}
    assert values["8867-4"] == 75
    assert values["rr-interval"] == 800
    assert values["76635-2"] == round(normal.qtc_bazett_ms or 0)
    assert components[-1]["valueInteger"] == normal.beats
    assert "automated" in MEASUREMENT_METHOD["text"].lower() and "neurokit2" in MEASUREMENT_METHOD["text"]


def test_flags_are_components_with_coded_values(fibrillation: EcgMeasurements, slow_long_qt: EcgMeasurements) -> None:
    raised = [c for c in measurement_components(slow_long_qt) if c["code"]["coding"][0]["code"] == "flag"]
    assert [f["valueCodeableConcept"]["coding"][0]["code"] for f in raised] == ["bradycardia", "long_qtc"]
    snomed = {f["valueCodeableConcept"]["coding"][1]["code"] for f in raised}
    assert snomed == {"48867003", "111975006"}
    by_code = {c["code"]["coding"][0]["code"]: c for c in measurement_components(slow_long_qt)}
    assert by_code["8867-4"]["interpretation"][0]["coding"][0]["code"] == "L"
    assert by_code["76635-2"]["interpretation"][0]["coding"][0]["code"] == "H"
    assert "interpretation" not in by_code["76634-5"]

    af = measurement_components(fibrillation)
    flags = [c["valueCodeableConcept"] for c in af if "valueCodeableConcept" in c]
    irregular = [f for f in flags if f["coding"][0]["code"] == "irregular_rhythm"]
    assert len(irregular) == 1
    assert [c["system"] for c in irregular[0]["coding"]] == [LOCAL_SYSTEM]  # a suggestion, not an AF diagnosis
    pr = next(c for c in af if c["code"]["coding"][0]["code"] == "8625-6")
    assert pr["dataAbsentReason"]["coding"][0]["code"] == "not-applicable"
    assert "valueQuantity" not in pr


def test_values_not_measured_keep_their_component_with_a_reason(unmeasured: EcgMeasurements) -> None:
    components = measurement_components(unmeasured)
    assert len(components) == len(EXPECTED_CODES)  # no flags
    for component in components[:-1]:
        assert "valueQuantity" not in component
        assert component["dataAbsentReason"]["coding"][0]["code"] == "unknown"
        assert component["dataAbsentReason"]["text"] == "flat signal"
    assert components[-1]["valueInteger"] == 0


def test_observations_pass_the_bridges_validation(
    normal: EcgMeasurements, fibrillation: EcgMeasurements, slow_long_qt: EcgMeasurements, unmeasured: EcgMeasurements
) -> None:
    for measured in (normal, fibrillation, slow_long_qt, unmeasured):
        resource = observation(measurement_components(measured))
        validated = validate_resource(copy.deepcopy(resource), "Observation")
        assert len(validated["component"]) == len(resource["component"])


def test_observations_pass_medplums_validation(
    medplum: MedplumValidator,
    normal: EcgMeasurements,
    fibrillation: EcgMeasurements,
    slow_long_qt: EcgMeasurements,
    unmeasured: EcgMeasurements,
) -> None:
    resources = [observation(measurement_components(m)) for m in (normal, fibrillation, slow_long_qt, unmeasured)]
    assert_all_pass(medplum.validate(resources))
