"""Potentially inappropriate medicines for older adults, with age and dose conditions."""

from __future__ import annotations

from tests.bridge.prescriptions.catalogue_support import Resident, findings_for


def test_benzodiazepine_at_85_fires(bridge) -> None:
    [finding] = findings_for(bridge, Resident(age=85), "N05BA06", 0.5, "older-adults")
    assert finding.key == "older-adults:N05BA06" and finding.severity == "moderate"
    assert "Beers" in finding.source


def test_not_below_65(bridge) -> None:
    assert findings_for(bridge, Resident(age=60), "N05BA06", 0.5, "older-adults") == []


def test_dose_condition(bridge) -> None:
    assert findings_for(bridge, Resident(age=80), "N06AB10", 20, "older-adults")[0].params["daily"] == "20"
    # 10 mg passes the dose entry and meets only the general caution about sodium
    [finding] = findings_for(bridge, Resident(age=80), "N06AB10", 10, "older-adults")
    assert finding.severity == "low"


def test_drug_not_on_the_list(bridge) -> None:
    assert findings_for(bridge, Resident(age=90), "C08CA01", 5, "older-adults") == []
