"""QT-prolonging drugs against the latest ECG's QTc, and with another QT drug."""

from __future__ import annotations

from tests.bridge.prescriptions.catalogue_support import Resident, findings_for


def test_known_risk_drug_with_qtc_above_500_fires_high(bridge) -> None:
    [finding] = findings_for(bridge, Resident(qtc_ms=520), "J01MA14", 400, "qt")
    assert finding.key == "qt:J01MA14" and finding.severity == "high" and finding.params["qtc"] == "520"


def test_prolonged_qtc_by_sex(bridge) -> None:
    assert findings_for(bridge, Resident(gender="male", qtc_ms=460), "J01MA14", 400, "qt")[0].severity == "moderate"
    assert findings_for(bridge, Resident(gender="female", qtc_ms=460), "J01MA14", 400, "qt") == []


def test_no_ecg_is_a_low_reminder_for_known_risk(bridge) -> None:
    [finding] = findings_for(bridge, Resident(), "J01FA10", 500, "qt")
    assert finding.severity == "low" and finding.message_key == "safety.qt.no_ecg"


def test_with_another_known_risk_drug(bridge) -> None:
    found = findings_for(bridge, Resident(qtc_ms=420, active=["N06DA02"]), "J01MA12", 500, "qt")
    assert [f.key for f in found] == ["qt:J01MA12+N06DA02"]


def test_normal_qtc_or_no_qt_risk_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(qtc_ms=420), "J01MA14", 400, "qt") == []
    assert findings_for(bridge, Resident(qtc_ms=560), "C08CA01", 5, "qt") == []
