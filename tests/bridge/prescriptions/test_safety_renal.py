"""Renal limits against the eGFR from the latest creatinine (CKD-EPI 2021)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.i18n import Translator
from bridge.prescriptions.safety.check import check_prescription
from bridge.prescriptions.safety.findings import SafetyFinding
from bridge.prescriptions.safety.renal import cockcroft_gault
from tests.bridge.prescriptions.catalogue_support import LOINC, UCUM, Resident, draft, findings_for, make_resident


def test_metformin_below_egfr_30_fires_high(bridge) -> None:
    # 86-year-old woman, creatinine 200 µmol/L: eGFR about 21
    spec = Resident(age=86, creatinine_umol=200)
    [finding] = findings_for(bridge, spec, "A10BA02", 500, "renal", frequency=2)
    assert finding.key == "renal:A10BA02" and finding.severity == "high" and finding.blocking
    assert finding.params["limit"] == "30" and int(str(finding.params["egfr"])) < 30


def test_metformin_between_30_and_45_asks_to_reduce(bridge) -> None:
    spec = Resident(age=80, gender="male", creatinine_umol=150)  # eGFR about 38
    [finding] = findings_for(bridge, spec, "A10BA02", 500, "renal")
    assert finding.severity == "moderate" and finding.message_key == "safety.renal.reduce_estimate"
    assert finding.params["used"] == "egfr" and "no body weight" in finding.message(Translator("en"))


def test_normal_renal_function_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(age=70, gender="male", creatinine_umol=70), "A10BA02", 500, "renal") == []


def test_no_creatinine_is_renal_function_unknown(bridge) -> None:
    [finding] = findings_for(bridge, Resident(), "A10BA02", 500, "renal")
    assert finding.severity == "moderate" and finding.overridable and not finding.blocking
    assert finding.message_key == "safety.renal.not_current"
    assert "no creatinine in the last 90 days (none on file)" in finding.message(Translator("en"))


def test_drug_without_renal_limits_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(creatinine_umol=400), "C08CA01", 5, "renal") == []


def _observation(pid: str, code: str, value: float, unit: str, days_ago: int, today) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{today - timedelta(days=days_ago)}T07:00:00+08:00",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def _renal(
    bridge, spec: Resident, *, creatinine: tuple[float, int] | None = None, weight: tuple[float, int] | None = None
) -> list[SafetyFinding]:
    """Metformin 500 mg bid for a resident; creatinine (µmol/L, days ago) and weight (kg, days ago) as given."""
    with bridge.services() as services:
        pid = make_resident(services, spec)
        today = services.now().date()
        if creatinine is not None:
            services.repository.create(_observation(pid, "14682-9", creatinine[0], "umol/L", creatinine[1], today))
        if weight is not None:
            services.repository.create(_observation(pid, "29463-7", weight[0], "kg", weight[1], today))
        found = check_prescription(services, draft(pid, "A10BA02", 500, frequency=2))
    return [f for f in found if f.rule == "renal"]


def test_a_creatinine_older_than_90_days_is_not_judged_on(bridge) -> None:
    # 200 µmol/L at 86 would be eGFR ~21 (avoid), but it is 120 days old
    [finding] = _renal(bridge, Resident(age=86), creatinine=(200, 120))
    assert finding.severity == "moderate" and finding.overridable
    assert finding.message_key == "safety.renal.not_current"
    text = finding.message(Translator("en"))
    assert "no creatinine in the last 90 days" in text and "200 µmol/L" in text


def test_a_creatinine_of_89_days_ago_is_current(bridge) -> None:
    [finding] = _renal(bridge, Resident(age=86), creatinine=(200, 89))
    assert finding.message_key == "safety.renal.avoid_estimate" and finding.severity == "high"


def test_cockcroft_gault() -> None:
    # 86-year-old woman, 38 kg, creatinine 1.131 mg/dL (100 µmol/L): (140-86)*38/(72*1.131)*0.85
    assert cockcroft_gault(100 / 88.42, 86, 38, "female") == pytest.approx(21.4, abs=0.1)
    assert cockcroft_gault(1.0, 60, 72, "male") == pytest.approx(80)


def test_a_small_frail_resident_is_judged_by_the_lower_creatinine_clearance(bridge) -> None:
    # 86-year-old woman, creatinine 100 µmol/L: eGFR about 47 (no finding for metformin), but at 38 kg
    # the Cockcroft-Gault clearance is about 21 mL/min: below the label's 30
    assert _renal(bridge, Resident(age=86), creatinine=(100, 2)) == []
    [finding] = _renal(bridge, Resident(age=86), creatinine=(100, 2), weight=(38, 10))
    assert finding.severity == "high" and finding.params["used"] == "crcl" and finding.params["crcl"] == "21"
    text = finding.message(Translator("en"))
    assert "creatinine clearance 21 mL/min (Cockcroft-Gault, weight 38 kg" in text and "lower of the two" in text
    assert "Cockcroft-Gault" in finding.source and "1.73" in finding.source


def test_a_heavy_resident_is_judged_by_the_lower_egfr(bridge) -> None:
    # 80-year-old man, creatinine 150 µmol/L: eGFR about 38; at 90 kg CrCl about 44: the eGFR is used
    [finding] = _renal(bridge, Resident(age=80, gender="male"), creatinine=(150, 2), weight=(90, 10))
    assert finding.message_key == "safety.renal.reduce_estimate" and finding.params["used"] == "egfr"
    assert "44 mL/min" in finding.message(Translator("en"))


def test_an_old_weight_is_not_used(bridge) -> None:
    assert _renal(bridge, Resident(age=86), creatinine=(100, 2), weight=(38, 200)) == []
