"""ECG Observations as the chart's viewer gets them: leads in microvolts, layout, measurements.

Real recordings from ../shared/data/ecg go through the bridge's own ECG builder (fhir_adapter.ecg:
read_ecg, measure_ecg, ecg_observation): PTB s0010_re (12 leads and Frank X Y Z at 1 kHz, 38.4 s) and
MIT-BIH 100 (MLII and V5 at 360 Hz, 30 min, stored as a 10-s extract). The sample values are checked
against wfdb's own reading of the same files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir_adapter.ecg import ecg_observation, read_ecg
from fhir_adapter.ecg.measurements import measure_ecg, measurement_components
from fhir_adapter.ecg.wfdb_reader import wfdb  # through the reader, which silences wfdb's import warning

from bridge.results.chart_results import build_results
from bridge.results.ecg_view import STANDARD_12, EcgStudy, ecg_study, lead_name, read_lead
from tests.bridge.results.test_chart_results import MemoryRepository

ECG_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "ecg"
EXAMPLES = ECG_DIR.parent / "fhir-examples"
TWELVE_LEAD = ("s0010_re.hea", "s0010_re.dat", "s0010_re.xyz")
TWO_LEAD = ("100.hea", "100.dat")
MDC = "urn:oid:2.16.840.1.113883.6.24"


@cache
def ecg_resource(names: tuple[str, ...], patient: str = "p-1", when: str = "2026-11-28T10:15:00+08:00") -> str:
    """A real ECG Observation (JSON text: cached, and copied by each caller) with automated measurements."""
    recording = read_ecg({name: (ECG_DIR / name).read_bytes() for name in names})
    measured = measure_ecg({lead.name: lead.millivolts() for lead in recording.leads}, recording.sampling_rate)
    observation = ecg_observation(
        recording, subject_reference=f"Patient/{patient}", extra_components=measurement_components(measured)
    )
    observation["effectiveDateTime"] = when
    return json.dumps(observation)


def ecg(names: tuple[str, ...], resource_id: str = "ecg-1", **kwargs: Any) -> dict[str, Any]:
    observation: dict[str, Any] = json.loads(ecg_resource(names, **kwargs))
    observation["id"] = resource_id
    return observation


def study_of(observation: dict[str, Any]) -> EcgStudy:
    return ecg_study(observation, str(observation.get("effectiveDateTime", "")), "")


def test_a_twelve_lead_ecg_is_laid_out_as_twelve_leads_with_its_extra_leads_kept() -> None:
    study = study_of(ecg(TWELVE_LEAD))
    assert study.layout == "12-lead"
    assert study.lead_names == [*STANDARD_12, "vx", "vy", "vz"]
    assert study.duration_s == pytest.approx(38.4) and study.shown_s == pytest.approx(10.0)
    for lead in study.leads:
        # 1 kHz is averaged in pairs for the page: 500 Hz, the first 10 s.
        assert lead.period_ms == pytest.approx(2.0) and len(lead.samples) == 5000


def test_twelve_lead_samples_are_the_recordings_microvolts() -> None:
    study = study_of(ecg(TWELVE_LEAD))
    record = wfdb.rdrecord(str(ECG_DIR / "s0010_re"), sampto=10_000)
    for index, name in enumerate(record.sig_name[:12]):
        expected = record.p_signal[:, index].reshape(-1, 2).mean(axis=1) * 1000
        drawn = np.array(study.leads[index].samples, dtype=float)
        assert study.leads[index].name.lower() == name.lower()
        assert np.max(np.abs(drawn - expected)) <= 1.0, name  # rounded to whole microvolts


def test_a_two_lead_extract_is_drawn_as_strips_in_microvolts() -> None:
    study = study_of(ecg(TWO_LEAD))
    assert study.layout == "strips"
    assert [(lead.name, lead.label) for lead in study.leads] == [("MLII", "MLII"), ("V5", "V5")]
    record = wfdb.rdrecord(str(ECG_DIR / "100"), sampto=3600)
    for index, lead in enumerate(study.leads):
        assert lead.period_ms == pytest.approx(1000 / 360)
        expected = record.p_signal[:, index] * 1000
        assert len(lead.samples) == 3600
        assert np.max(np.abs(np.array(lead.samples, dtype=float) - expected)) <= 1.0


def test_measurements_are_labelled_by_code_and_marked_automated() -> None:
    study = study_of(ecg(TWO_LEAD))
    assert study.automated
    by_key = {m.key: m for m in study.measurements}
    heart_rate = by_key["results.ecg.m.heart_rate"]
    assert heart_rate.unit == "/min" and 65 <= int(heart_rate.value) <= 85  # MIT-BIH 100: about 75 /min
    for key in ("results.ecg.m.pr", "results.ecg.m.qrs", "results.ecg.m.qt", "results.ecg.m.qtc_bazett"):
        assert by_key[key].unit == "ms" and by_key[key].value.isdigit(), key
    assert all(not m.label.endswith("(automated)") for m in study.measurements)
    assert {f.key for f in study.findings} <= {
        "results.ecg.finding.bradycardia",
        "results.ecg.finding.tachycardia",
        "results.ecg.finding.irregular_rhythm",
        "results.ecg.finding.long_qtc",
    }


def test_the_fhir_example_is_read_by_its_mdc_codes_without_a_unit() -> None:
    example = json.loads((EXAMPLES / "observation-example-sample-data.json").read_text(encoding="utf-8"))
    study = study_of(example)
    assert study.lead_names == ["I", "II", "III"] and study.layout == "strips"
    lead = study.leads[0]
    first = int(example["component"][0]["valueSampledData"]["data"].split()[0])
    assert lead.period_ms == 10 and lead.samples[0] == round(2048 + 1.612 * first)  # already µV-sized
    assert not study.automated and study.measurements == []


@pytest.mark.parametrize(
    ("coding", "text", "expected"),
    [
        ({"system": MDC, "code": "131329", "display": "MDC_ECG_ELEC_POTL_I"}, "", "I"),
        ({"system": MDC, "code": "131389"}, "", "III"),
        ({"system": "urn:iso:std:iso:11073:10101", "code": "131392"}, "", "aVF"),
        ({"system": MDC, "code": "131073", "display": "MDC_ECG_LEAD_I"}, "", "I"),
        ({"system": "urn:device", "code": "x", "display": "MDC_ECG_LEAD_AVR"}, "", "aVR"),
        ({"system": "urn:device", "code": "x"}, "Lead V3", "V3"),
        ({"system": "urn:device", "code": "x"}, "MLII", "MLII"),
    ],
)
def test_lead_names_from_codes_displays_and_text(coding: dict[str, str], text: str, expected: str) -> None:
    assert lead_name({"coding": [coding], "text": text} if text else {"coding": [coding]}) == expected


def test_a_modified_lead_coded_as_a_standard_one_keeps_its_own_label() -> None:
    sampled = {"origin": {"value": 0, "code": "mV"}, "period": 4, "factor": 0.005, "dimensions": 1, "data": "1 2 E 4"}
    concept = {"coding": [{"system": MDC, "code": "131330"}], "text": "MLII（改良II导联）"}
    read = read_lead(concept, sampled)
    assert read is not None
    lead, stored_s = read
    assert (lead.name, lead.label) == ("II", "MLII（改良II导联）")
    assert lead.samples == [5, 10, None, 20]  # mV × 1000; E (error) is a gap, not a zero
    assert stored_s == pytest.approx(0.016)


def test_multi_dimensional_or_unperiodic_data_is_not_drawn() -> None:
    assert read_lead({}, {"period": 2, "dimensions": 3, "data": "1 2 3"}) is None
    assert read_lead({}, {"dimensions": 1, "data": "1 2 3"}) is None


def test_ecgs_leave_the_lab_table_and_come_newest_first() -> None:
    older = ecg(TWO_LEAD, "ecg-old", when="2026-10-01T09:00:00+08:00")
    newer = ecg(TWELVE_LEAD, "ecg-new")
    results = build_results(MemoryRepository([older, newer]), "p-1")
    assert [s.resource for s in results.ecgs] == ["Observation/ecg-new", "Observation/ecg-old"]
    assert results.groups == []
    data = results.ecgs[0].data()
    assert data["layout"] == "12-lead" and len(data["leads"]) == 15
    assert set(data["leads"][0]) == {"name", "label", "period_ms", "samples"}
