"""Duplicate therapy: the same ATC class (or the same drug) already active."""

from __future__ import annotations

from tests.bridge.prescriptions.catalogue_support import Resident, findings_for


def test_second_statin_fires(bridge) -> None:
    [finding] = findings_for(bridge, Resident(active=["C10AA05"]), "C10AA07", 10, "duplicate")
    assert finding.key == "duplicate:C10AA" and finding.severity == "moderate" and not finding.blocking


def test_same_drug_again_fires(bridge) -> None:
    [finding] = findings_for(bridge, Resident(active=["C08CA01"]), "C08CA01", 5, "duplicate")
    assert finding.message_key == "safety.duplicate.same"


def test_other_class_does_not_fire(bridge) -> None:
    assert findings_for(bridge, Resident(active=["C10AA05", "C09CA04"]), "C08CA01", 5, "duplicate") == []
