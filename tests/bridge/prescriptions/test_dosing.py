"""A MedicationRequest's dose per day in the drug's unit, and clear 422s when it does not parse."""

from __future__ import annotations

from typing import Any

import pytest
from fhir_adapter.errors import OperationOutcomeError

from bridge.i18n import Translator
from bridge.prescriptions.catalogue import Catalogue, shipped_drugs
from bridge.prescriptions.catalogue_rows import Drug
from bridge.prescriptions.dosing import daily_dose

UCUM = "http://unitsofmeasure.org"
CATALOGUE = Catalogue(shipped_drugs())


def drug(code: str) -> Drug:
    found = CATALOGUE.by_code(code)
    assert found is not None
    return found


def request(dose: dict[str, Any] | None, repeat: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    dosage: dict[str, Any] = dict(extra)
    if dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    if repeat is not None:
        dosage["timing"] = {"repeat": repeat}
    return {"resourceType": "MedicationRequest", "dosageInstruction": [dosage]}


def q(value: Any, code: str, system: str | None = UCUM) -> dict[str, Any]:
    return {"value": value, "code": code, **({"system": system} if system else {})}


DAILY = {"frequency": 1, "period": 1, "periodUnit": "d"}


@pytest.mark.parametrize(
    ("code", "dose", "repeat", "per_day"),
    [
        ("A10BA02", q(0.5, "g"), {"frequency": 2, "period": 1, "periodUnit": "d"}, 1000),  # g -> mg
        ("A10BA02", q(500, "mg"), {"frequency": 1, "period": 8, "periodUnit": "h"}, 1500),  # every 8 h
        ("H03AA01", q(0.05, "mg"), DAILY, 50),  # mg -> ug
        ("H03AA01", q(50, "mcg", None), DAILY, 50),  # the common non-UCUM spelling
        ("M05BA04", q(70, "mg"), {"frequency": 1, "period": 1, "periodUnit": "wk"}, 10),  # weekly
        ("A10AE04", q(10, "[iU]"), DAILY, 10),
        ("A10AE04", q(10, "U"), DAILY, 10),  # insulin units as often sent
        ("A06AD11", q(15, "mL"), {"frequency": 2, "period": 1, "periodUnit": "d"}, 30),
        ("R03AK07", q(2, "{puff}"), {"frequency": 2, "period": 1, "periodUnit": "d"}, 4),
        ("J01DD04", q(1000, "mg"), DAILY, 1),  # mg -> g
        ("C08CA01", q(5, "mg"), {"when": ["MORN", "EVE"]}, 10),  # two occasions a day, no period
    ],
)
def test_daily_dose(code: str, dose: dict[str, Any], repeat: dict[str, Any], per_day: float) -> None:
    result = daily_dose(request(dose, repeat), drug(code))
    assert result.per_day == pytest.approx(per_day)
    assert result.unit == drug(code).dose_unit and not result.as_needed


def test_timing_code_bid() -> None:
    req = request(q(5, "mg"))
    req["dosageInstruction"][0]["timing"] = {"code": {"coding": [{"code": "BID"}]}}
    assert daily_dose(req, drug("C08CA01")).per_day == 10


def test_dose_range_counts_its_top() -> None:
    req = {"dosageInstruction": [{"doseAndRate": [{"doseRange": {"low": q(5, "mg"), "high": q(10, "mg")}}]}]}
    req["dosageInstruction"][0]["timing"] = {"repeat": DAILY}
    assert daily_dose(req, drug("C08CA01")).per_dose == 10


def test_as_needed_counts_its_maximum_per_period() -> None:
    ratio = {"numerator": q(4, "g"), "denominator": q(1, "d")}
    result = daily_dose(request(q(500, "mg"), asNeededBoolean=True, maxDosePerPeriod=ratio), drug("N02BE01"))
    assert result.as_needed and result.per_dose == 500 and result.per_day == 4000


def test_as_needed_without_a_maximum_uses_the_timing() -> None:
    every_6h = {"frequency": 1, "period": 6, "periodUnit": "h"}
    result = daily_dose(request(q(500, "mg"), every_6h, asNeededBoolean=True), drug("N02BE01"))
    assert result.as_needed and result.per_day == 2000


@pytest.mark.parametrize(
    ("req", "expression", "text"),
    [
        ({"resourceType": "MedicationRequest"}, "MedicationRequest.dosageInstruction[0]", "dosage"),
        (request(None, DAILY), "doseAndRate[0].doseQuantity", "single dose"),
        (request(q("five", "mg"), DAILY), "doseQuantity.value", "not a number"),
        (request(q(-5, "mg"), DAILY), "doseQuantity.value", "not a number"),
        (request(q(5, "mL"), DAILY), "doseQuantity.code", '"mL" does not convert to mg'),
        (
            request(q(1, "TAB", "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"), DAILY),
            "system",
            "tablets",
        ),
        (request(q(5, "mg")), "timing.repeat", "frequency"),
        (request(q(5, "mg"), {"frequency": 1, "period": 1, "periodUnit": "fortnight"}), "periodUnit", "fortnight"),
        (request(q(5, "mg"), {"frequency": 0, "period": 1, "periodUnit": "d"}), "frequency", "whole number"),
        (request(q(5, "mg"), {"frequency": 1}), "repeat.period", "period"),
        (request(q(5, "mg"), asNeededBoolean=True), "timing.repeat", "maxDosePerPeriod"),
    ],
)
def test_unparseable_doses_are_422_with_the_place(req: dict[str, Any], expression: str, text: str) -> None:
    with pytest.raises(OperationOutcomeError) as raised:
        daily_dose(req, drug("C08CA01"))
    issue = raised.value.outcome()["issue"][0]
    assert raised.value.status == 422 and issue["severity"] == "error"
    assert expression in issue["expression"][0]
    assert text in issue["diagnostics"]


def test_refusals_are_translated() -> None:
    with pytest.raises(OperationOutcomeError) as raised:
        daily_dose(request(q(5, "mL"), DAILY), drug("C08CA01"), Translator("zh-CN"))
    assert "无法换算" in raised.value.outcome()["issue"][0]["diagnostics"]
    assert "氨氯地平" in raised.value.outcome()["issue"][0]["diagnostics"]


def split(*doses: tuple[float, dict[str, Any], int | None]) -> dict[str, Any]:
    """One dosageInstruction per (mg, timing.repeat, sequence)."""
    return {
        "resourceType": "MedicationRequest",
        "dosageInstruction": [
            {
                **({"sequence": sequence} if sequence is not None else {}),
                "doseAndRate": [{"doseQuantity": q(value, "mg")}],
                "timing": {"repeat": repeat},
            }
            for value, repeat, sequence in doses
        ],
    }


MORNING, EVENING = {"when": ["MORN"]}, {"when": ["EVE"]}


def test_a_split_regimen_counts_every_instruction() -> None:
    # 5 mg in the morning and 10 mg in the evening: 15 mg a day, not the first instruction's 5
    result = daily_dose(split((5, MORNING, None), (10, EVENING, None)), drug("C08CA01"))
    assert result.per_day == 15 and result.per_dose == 10


def test_instructions_of_the_same_sequence_are_summed() -> None:
    assert daily_dose(split((5, MORNING, 1), (10, EVENING, 1)), drug("C08CA01")).per_day == 15


def test_a_taper_counts_its_heaviest_step() -> None:
    # sequence 1: 10 mg twice a day, then sequence 2: 5 mg once a day; the steps follow one another
    twice = {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert daily_dose(split((10, twice, 1), (5, DAILY, 2)), drug("C08CA01")).per_day == 20


def test_a_regular_and_an_as_needed_instruction_add_up() -> None:
    req = split((500, {"frequency": 2, "period": 1, "periodUnit": "d"}, None))
    ratio = {"numerator": q(2, "g"), "denominator": q(1, "d")}
    as_needed = {"doseAndRate": [{"doseQuantity": q(500, "mg")}], "asNeededBoolean": True, "maxDosePerPeriod": ratio}
    req["dosageInstruction"].append(as_needed)
    result = daily_dose(req, drug("N02BE01"))
    assert result.per_day == 3000 and result.as_needed


def test_several_dose_entries_of_one_instruction_are_one_dose() -> None:
    # FHIR's ordered dose in tablets and calculated dose in mg state the same dose: counted once
    tablets = q(1, "TAB", "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm")
    req = request(q(5, "mg"), DAILY)
    req["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": tablets}, {"doseQuantity": q(5, "mg")}]
    assert daily_dose(req, drug("C08CA01")).per_day == 5
    req["dosageInstruction"][0]["doseAndRate"].append({"doseQuantity": q(0.005, "g")})
    assert daily_dose(req, drug("C08CA01")).per_day == 5


@pytest.mark.parametrize(
    ("req", "expression", "text"),
    [
        (split((5, MORNING, 1), (10, EVENING, None)), "dosageInstruction[1].sequence", "sequence"),
        (
            split((5, MORNING, None), (10, {"frequency": 1}, None)),
            "dosageInstruction[1].timing.repeat.period",
            "period",
        ),
    ],
)
def test_refusals_name_the_instruction_at_fault(req: dict[str, Any], expression: str, text: str) -> None:
    with pytest.raises(OperationOutcomeError) as raised:
        daily_dose(req, drug("C08CA01"))
    issue = raised.value.outcome()["issue"][0]
    assert raised.value.status == 422 and expression in issue["expression"][0] and text in issue["diagnostics"]


def test_dose_entries_that_disagree_are_refused() -> None:
    req = request(q(5, "mg"), DAILY)
    req["dosageInstruction"][0]["doseAndRate"].append({"doseQuantity": q(10, "mg")})
    with pytest.raises(OperationOutcomeError) as raised:
        daily_dose(req, drug("C08CA01"), Translator("en"))
    issue = raised.value.outcome()["issue"][0]
    assert raised.value.status == 422 and issue["expression"] == [
        "MedicationRequest.dosageInstruction[0].doseAndRate[1].doseQuantity"
    ]
    assert "5 to 10 mg" in issue["diagnostics"] and "one dosageInstruction each" in issue["diagnostics"]
