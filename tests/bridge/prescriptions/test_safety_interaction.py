"""Drug-drug interactions from the curated table, in both directions, by code and by class."""

from __future__ import annotations

from bridge.i18n import Translator
from tests.bridge.prescriptions.catalogue_support import Resident, findings_for


def test_warfarin_with_an_nsaid_fires_high(bridge) -> None:
    [finding] = findings_for(bridge, Resident(active=["B01AA03"]), "M01AE01", 200, "interaction", frequency=3)
    assert finding.key == "interaction:B01AA03+M01AE01" and finding.severity == "high" and finding.blocking
    assert "Warfarin label" in finding.source
    assert "出血" in finding.message(Translator("zh-CN")) and "bleeding" in finding.message(Translator("en"))


def test_the_other_direction_gives_the_same_key(bridge) -> None:
    [finding] = findings_for(bridge, Resident(active=["M01AE01"]), "B01AA03", 2.5, "interaction")
    assert finding.key == "interaction:B01AA03+M01AE01"


def test_moderate_interaction(bridge) -> None:
    [finding] = findings_for(bridge, Resident(active=["B01AC04"]), "A02BC01", 20, "interaction")
    assert finding.severity == "moderate" and not finding.blocking


def test_no_interaction_between_unrelated_drugs(bridge) -> None:
    assert findings_for(bridge, Resident(active=["B01AC04", "C10AA05"]), "A02BC02", 40, "interaction") == []
