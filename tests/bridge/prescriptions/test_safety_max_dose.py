"""Maximum daily dose, regular and as needed."""

from __future__ import annotations

from bridge.i18n import Translator
from bridge.prescriptions.safety.check import check_prescription
from tests.bridge.prescriptions.catalogue_support import Resident, draft, findings_for, make_resident


def test_above_the_maximum_fires(bridge) -> None:
    [finding] = findings_for(bridge, Resident(), "C08CA01", 10, "max-dose", frequency=2)
    assert finding.key == "max-dose:C08CA01" and finding.severity == "high" and finding.blocking
    assert "20 mg" in finding.message(Translator("en")) and "10 mg" in finding.message(Translator("en"))


def test_at_the_maximum_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(), "C08CA01", 10, "max-dose") == []


def test_as_needed_maximum_per_period(bridge) -> None:
    with bridge.services() as services:
        pid = make_resident(services, Resident())
        request = draft(pid, "N02BE01", 1000)
        dosage = request["dosageInstruction"][0]
        dosage |= {
            "asNeededBoolean": True,
            "maxDosePerPeriod": {"numerator": {"value": 6, "code": "g"}, "denominator": {"value": 1, "code": "d"}},
        }
        found = [f for f in check_prescription(services, request) if f.rule == "max-dose"]
    assert [f.message_key for f in found] == ["safety.max_dose.as_needed"]


def test_a_split_regimen_is_checked_as_its_whole_day(bridge) -> None:
    # amlodipine 10 mg in the morning and 10 mg in the evening, as two instructions: 20 mg a day, above 10
    with bridge.services() as services:
        pid = make_resident(services, Resident())
        request = draft(pid, "C08CA01", 10)
        morning = request["dosageInstruction"][0]
        morning["timing"] = {"repeat": {"when": ["MORN"]}}
        request["dosageInstruction"].append({**morning, "timing": {"repeat": {"when": ["EVE"]}}})
        found = [f for f in check_prescription(services, request) if f.rule == "max-dose"]
    assert [f.params["daily"] for f in found] == ["20"]
