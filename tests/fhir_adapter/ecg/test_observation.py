"""The ECG Observation: its shape, and every sample file's Observation valid to the bridge and to Medplum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from fhir_adapter.ecg import EcgRecording, Lead, ecg_observation, read_ecg
from fhir_adapter.validation import validate_resource

from tests.fhir_adapter.ecg.dicom_builder import build_dicom
from tests.fhir_adapter.ecg.support import SAMPLE_UPLOADS, component_microvolts, sample_recording
from tests.fhir_peer import MedplumValidator, assert_all_pass

CHINA = timezone(timedelta(hours=8))


def csv_recording() -> EcgRecording:
    rows = "\n".join(f"{(i % 100) * 12.5:g},{-(i % 70) * 7.5:g}" for i in range(2500))
    return read_ecg({"ecg.csv": f"# sampling_rate=250\nII,V5\n{rows}\n".encode()})


def every_recording() -> dict[str, EcgRecording]:
    recordings = {key: sample_recording(key) for key in SAMPLE_UPLOADS}
    recordings["dicom-built"] = read_ecg({"ecg.dcm": build_dicom()})
    recordings["csv-built"] = csv_recording()
    return recordings


def observation_of(recording: EcgRecording, **options: Any) -> dict[str, Any]:
    return ecg_observation(recording, subject_reference="Patient/resident-1", **options)


def test_the_observation_follows_the_fhir_ecg_example() -> None:
    observation = observation_of(sample_recording("scp-example"))
    assert observation["resourceType"] == "Observation" and observation["status"] == "final"
    assert observation["category"][0]["coding"][0]["code"] == "procedure"
    assert observation["code"]["coding"] == [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]
    assert observation["subject"] == {"reference": "Patient/resident-1"}
    assert observation["device"] == {"display": "ELI250"}
    assert len(observation["component"]) == 12
    first = observation["component"][0]
    assert first["code"]["coding"][0]["code"] == "131329"
    sampled = first["valueSampledData"]
    assert sampled["origin"] == {"value": 0, "unit": "µV", "system": "http://unitsofmeasure.org", "code": "uV"}
    assert (sampled["period"], sampled["factor"], sampled["dimensions"]) == (2, 2.5, 1)
    assert sampled["lowerLimit"] <= component_microvolts(first).min() <= component_microvolts(first).max()
    assert component_microvolts(first).max() <= sampled["upperLimit"]
    data = sampled["data"].split()
    assert len(data) == 5000 and all(value.lstrip("-").isdigit() for value in data)
    assert "whole recording (10 s)" in observation["note"][0]["text"]


def test_a_wfdb_baseline_goes_into_the_data_and_a_fractional_one_into_the_origin() -> None:
    sampled = observation_of(sample_recording("mitbih-100"))["component"][0]["valueSampledData"]
    assert sampled["origin"]["value"] == 0 and sampled["data"].startswith("-29 ")  # 995 - ADC zero 1024
    assert (sampled["lowerLimit"], sampled["upperLimit"]) == (-5120, 5115)  # the 11-bit ADC, 5 uV steps
    assert sampled["period"] == pytest.approx(1000 / 360)
    half = Lead("II", np.arange(500) % 40, gain=400.0, baseline=2.5)
    sampled = observation_of(EcgRecording((half,), 500, "csv"))["component"][0]["valueSampledData"]
    # The zero rounds to 2; the half unit left goes into the origin: 2.5 x (s - 2) - 1.25 = 2.5 x (s - 2.5).
    assert (sampled["origin"]["value"], sampled["data"][:6]) == (-1.25, "-2 -1 ")


def test_a_long_recording_says_it_is_an_extract_and_points_at_the_whole() -> None:
    observation = observation_of(
        sample_recording("mitbih-100"),
        effective=datetime(2026, 3, 1, 8, 0, tzinfo=CHINA),
        source_document_reference="DocumentReference/ecg-file-1",
        device_reference="Device/holter-7",
    )
    assert "10 s extract starting at 0 s of a 1805.56 s recording" in observation["note"][0]["text"]
    assert observation["derivedFrom"] == [{"reference": "DocumentReference/ecg-file-1"}]
    assert observation["device"] == {"reference": "Device/holter-7"}
    assert observation["effectiveDateTime"] == "2026-03-01T08:00:00+08:00"
    assert [c["code"]["text"] for c in observation["component"]] == ["MLII", "Lead V5"]
    assert all(len(c["valueSampledData"]["data"].split()) == 3600 for c in observation["component"])


def test_effective_time_rules() -> None:
    naive = sample_recording("aecg-example")  # 2002-11-22 09:10:00, no zone in the file
    assert observation_of(naive)["effectiveDateTime"] == "2002-11-22"
    zoned = observation_of(naive, device_timezone=CHINA)
    assert zoned["effectiveDateTime"] == "2002-11-22T09:10:00+08:00"
    given = observation_of(naive, effective=datetime(2026, 3, 1, 0, 30, tzinfo=UTC))
    assert given["effectiveDateTime"] == "2026-03-01T00:30:00+00:00"
    assert "effectiveDateTime" not in observation_of(csv_recording())
    with pytest.raises(ValueError, match="time zone"):
        observation_of(naive, effective=datetime(2026, 3, 1, 0, 30))


def test_measurements_follow_the_leads_unchanged() -> None:
    heart_rate = {
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    observation = observation_of(sample_recording("scp-example"), extra_components=[heart_rate])
    assert len(observation["component"]) == 13
    assert observation["component"][-1] == heart_rate
    assert observation["component"][-1] is not heart_rate


def test_every_lead_string_stays_under_the_fhir_limit_of_one_megabyte() -> None:
    for key, recording in every_recording().items():
        for component in observation_of(recording)["component"]:
            assert len(component["valueSampledData"]["data"].encode()) < 1_000_000, key


@pytest.fixture(scope="module")
def observations() -> dict[str, dict[str, Any]]:
    made = {}
    for key, recording in every_recording().items():
        observation = observation_of(recording, device_timezone=CHINA)
        observation["id"] = f"ecg-{key}"
        made[key] = observation
    return made


def test_every_observation_passes_the_bridges_validation(observations: dict[str, dict[str, Any]]) -> None:
    for key, observation in observations.items():
        normalised = validate_resource(observation, "Observation")
        assert len(normalised["component"]) == len(observation["component"]), key
        # What the store keeps decodes to the same values.
        for mine, stored in zip(observation["component"], normalised["component"], strict=True):
            assert np.array_equal(component_microvolts(mine), component_microvolts(stored)), key


def test_every_observation_passes_medplum(medplum: MedplumValidator, observations: dict[str, dict[str, Any]]) -> None:
    results = medplum.validate(list(observations.values()))
    assert_all_pass(results)
    assert [r.reference for r in results] == [f"Observation/{o['id']}" for o in observations.values()]
