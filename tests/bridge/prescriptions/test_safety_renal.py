"""Renal limits against the eGFR from the latest creatinine (CKD-EPI 2021)."""

from __future__ import annotations

from tests.bridge.prescriptions.catalogue_support import Resident, findings_for


def test_metformin_below_egfr_30_fires_high(bridge) -> None:
    # 86-year-old woman, creatinine 200 µmol/L: eGFR about 21
    spec = Resident(age=86, creatinine_umol=200)
    [finding] = findings_for(bridge, spec, "A10BA02", 500, "renal", frequency=2)
    assert finding.key == "renal:A10BA02" and finding.severity == "high" and finding.blocking
    assert finding.params["limit"] == "30" and int(str(finding.params["egfr"])) < 30


def test_metformin_between_30_and_45_asks_to_reduce(bridge) -> None:
    spec = Resident(age=80, gender="male", creatinine_umol=150)  # eGFR about 38
    [finding] = findings_for(bridge, spec, "A10BA02", 500, "renal")
    assert finding.severity == "moderate" and finding.message_key == "safety.renal.reduce"


def test_normal_renal_function_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(age=70, gender="male", creatinine_umol=70), "A10BA02", 500, "renal") == []


def test_no_creatinine_is_a_low_reminder(bridge) -> None:
    [finding] = findings_for(bridge, Resident(), "A10BA02", 500, "renal")
    assert finding.severity == "low" and finding.message_key == "safety.renal.unknown"


def test_drug_without_renal_limits_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(creatinine_umol=400), "C08CA01", 5, "renal") == []
