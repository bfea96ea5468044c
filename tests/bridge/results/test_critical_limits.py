"""The limits table and what in an Observation is critical, without a database: every default limit on
both sides, unit conversion, the laboratory's flags, components, and limits files good and bad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.results.critical_findings import critical_findings
from bridge.results.critical_limits import CriticalLimitsError, load_limits
from bridge.settings import Settings
from tests.bridge.results.critical_support import ecg, lab

DEFAULTS = load_limits()

# (LOINC code, unit, value, the side it is critical on or None when just inside the limits)
DEFAULT_CASES = [
    ("2823-3", "mmol/L", 2.7, "low"),
    ("2823-3", "mmol/L", 2.8, None),
    ("2823-3", "mmol/L", 6.2, None),
    ("2823-3", "mmol/L", 6.3, "high"),
    ("6298-4", "mmol/L", 2.79, "low"),
    ("6298-4", "meq/L", 6.21, "high"),
    ("2951-2", "mmol/L", 119, "low"),
    ("2951-2", "mmol/L", 120, None),
    ("2951-2", "mmol/L", 160, None),
    ("2947-0", "mmol/L", 161, "high"),
    ("2345-7", "mmol/L", 2.7, "low"),
    ("2345-7", "mmol/L", 2.8, None),
    ("14749-6", "mmol/L", 22.2, None),
    ("14743-9", "mmol/L", 2.6, "low"),  # capillary glucose at the bedside
    ("15074-8", "mmol/L", 22.3, "high"),
    ("2339-0", "mg/dL", 49, "low"),  # 2.72 mmol/L
    ("2339-0", "mg/dL", 51, None),  # 2.83 mmol/L
    ("41653-7", "mg/dL", 399, None),  # 22.15 mmol/L
    ("41653-7", "mg/dL", 401, "high"),  # 22.26 mmol/L
    ("718-7", "g/L", 59, "low"),
    ("718-7", "g/L", 60, None),
    ("718-7", "g/dL", 5.9, "low"),
    ("718-7", "g/dL", 6.0, None),
    ("777-3", "10*9/L", 29, "low"),
    ("777-3", "10*9/L", 30, None),
    ("26515-7", "10*3/uL", 29, "low"),
    ("26515-7", "10*3/uL", 31, None),
    ("6301-6", "{INR}", 5.1, "high"),
    ("6301-6", "{INR}", 5.0, None),
    ("34714-6", "{INR}", 5.5, "high"),
    ("8636-7", "ms", 501, "high"),
    ("8636-7", "ms", 500, None),
    ("8636-7", "s", 0.52, "high"),
    ("8867-4", "/min", 39, "low"),
    ("8867-4", "/min", 40, None),
    ("8867-4", "/min", 150, None),
    ("8867-4", "/min", 151, "high"),
]


def sides(observation: dict[str, Any], table: Any = DEFAULTS) -> list[tuple[str, str]]:
    return [(f.code, f.side) for f in critical_findings(observation, table)]


@pytest.mark.parametrize(("code", "unit", "value", "side"), DEFAULT_CASES)
def test_every_default_limit_on_both_sides(code: str, unit: str, value: float, side: str | None) -> None:
    expected = [(code, side)] if side else []
    assert sides(lab("p", code, value, unit)) == expected


def test_findings_say_what_was_found_and_which_limit_it_crossed() -> None:
    (finding,) = critical_findings(lab("p", "2339-0", 401, "mg/dL"), DEFAULTS)
    assert (finding.name, finding.value, finding.limit, finding.analyte) == (
        "血糖",
        "401 mg/dL",
        "> 22.2 mmol/L",
        "glucose",
    )
    # The key is the value in the canonical unit: the same glucose in mmol/L is the same finding.
    (same,) = critical_findings(lab("p", "2339-0", 401 / 18.016, "mmol/L"), DEFAULTS)
    assert same.key == finding.key


def test_the_laboratorys_critical_flag_alone_is_enough() -> None:
    calcium = lab("p", "17861-6", 1.5, flag="LL")  # not in the table
    (finding,) = critical_findings(calcium, DEFAULTS)
    assert (finding.side, finding.limit, finding.flag, finding.analyte) == ("low", "LL", "LL", None)
    # HH on a value inside the bridge's limits, and AA on a result without a number
    assert sides(lab("p", "2823-3", 5.9, flag="HH")) == [("2823-3", "high")]
    assert sides(lab("p", "600-7", None, flag="AA")) == [("600-7", "abnormal")]
    # H and L are abnormal, not critical
    assert sides(lab("p", "17861-6", 1.9, flag="L")) == []


def test_ecg_components_heart_rate_and_qtc() -> None:
    findings = critical_findings(ecg("p", heart_rate=35, qtc_ms=520), DEFAULTS)
    assert [(f.name, f.value, f.side) for f in findings] == [("心率", "35 /min", "low"), ("QTc 间期", "520 ms", "high")]
    assert critical_findings(ecg("p", heart_rate=72, qtc_ms=440), DEFAULTS) == []


def test_a_local_qtc_code_is_matched_by_its_display() -> None:
    observation = lab("p", "x", 520, "ms")
    observation["code"] = {
        "coding": [{"system": "https://lis.example/codes", "code": "QTCF", "display": "QTc Fridericia"}]
    }
    assert sides(observation) == [("https://lis.example/codes|QTCF", "high")]


def test_comparators_unknown_units_and_statuses() -> None:
    inr = lab("p", "6301-6", 5, "{INR}")
    inr["valueQuantity"]["comparator"] = ">"
    assert sides(inr) == [("6301-6", "high")]
    platelets = lab("p", "777-3", 30, "10*9/L")
    platelets["valueQuantity"]["comparator"] = "<"
    assert sides(platelets) == [("777-3", "low")]
    # A unit the table does not know cannot be judged (it is logged), unless the laboratory flags it.
    assert sides(lab("p", "2823-3", 6.8, "mg/dL")) == []
    assert sides(lab("p", "2823-3", 6.8, "mg/dL", flag="HH")) == [("2823-3", "high")]
    for status in ("registered", "cancelled", "entered-in-error"):
        assert sides(lab("p", "2823-3", 7.5, status=status)) == []
    assert sides(lab("p", "2823-3", 7.5, status="preliminary")) == [("2823-3", "high")]


def write(tmp_path: Path, content: Any, name: str = "limits.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


CALCIUM = {"display": {"zh-CN": "血钙", "en": "Calcium"}, "codes": ["17861-6"], "unit": "mmol/L", "low": 1.6}


def test_a_limits_file_extends_and_changes_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, {"analytes": {"potassium": {"high": 6.0}, "calcium": CALCIUM, "inr": None}})
    table = load_limits(path)
    assert sides(lab("p", "2823-3", 6.1), table) == [("2823-3", "high")]
    assert sides(lab("p", "17861-6", 1.5), table) == [("17861-6", "low")]
    assert sides(lab("p", "6301-6", 7, "{INR}"), table) == []
    assert sides(lab("p", "2951-2", 119), table) == [("2951-2", "low")]  # the rest stays
    assert Settings(demo_mode=True, critical_limits_file=path).critical_limits_file == path


def test_a_limits_file_can_replace_the_defaults(tmp_path: Path) -> None:
    table = load_limits(write(tmp_path, {"replace": True, "analytes": {"calcium": CALCIUM}}))
    assert list(table.analytes) == ["calcium"]
    assert sides(lab("p", "2823-3", 9.0), table) == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ({"analytes": {"potassium": {"low": 7.0}}}, "'potassium' refused: low (7) must be below high (6.2)"),
        ({"analytes": {"calcium": {**CALCIUM, "unit": "mmol/dl!"}}}, "unknown unit(s) ['mmol/dl!']"),
        ({"analytes": {"calcium": {**CALCIUM, "units": {"furlongs": 2}}}}, "unknown unit(s) ['furlongs']"),
        ({"analytes": {"calcium": {**CALCIUM, "low": None}}}, "gives neither low nor high"),
        ({"analytes": {"calcium": {**CALCIUM, "codes": ["2823-3"]}}}, "code 2823-3 is claimed by both"),
        ({"analytes": {"calcium": {**CALCIUM, "hihg": 3}}}, "hihg: Extra inputs are not permitted"),
        ({"analytes": {"calcium": {**CALCIUM, "units": {"mg/dL": {"divide": 0}}}}}, "greater than 0"),
        ({"analytes": {"calcium": {**CALCIUM, "codes": ["calcium"]}}}, "neither LOINC codes"),
        ({"limits": {}}, 'expected {"analytes"'),
        ("{not json", "not JSON"),
    ],
)
def test_a_limits_file_that_makes_no_sense_is_refused_at_start(tmp_path: Path, content: Any, says: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(CriticalLimitsError) as refused:
        load_limits(path)
    assert says in str(refused.value)
    with pytest.raises(ValidationError) as at_start:
        Settings(demo_mode=True, critical_limits_file=path)
    assert says in str(at_start.value) and str(path) in str(at_start.value)


def test_a_missing_limits_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(demo_mode=True, critical_limits_file=tmp_path / "absent.json")


def test_the_default_codes_are_loinc_and_each_names_one_analyte() -> None:
    assert len(DEFAULTS.by_code) == sum(len(a.codes) for a in DEFAULTS.analytes.values())
    assert all(code[-2] == "-" for code in DEFAULTS.by_code)
