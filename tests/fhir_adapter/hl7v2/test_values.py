"""OBX-5 by OBX-2 value type, with units (OBX-6) as UCUM where certain."""

from __future__ import annotations

import base64

import pytest
from fhir_adapter.hl7v2 import parse_oru

from tests.fhir_adapter.hl7v2.fhir_helpers import observation, reports
from tests.fhir_adapter.hl7v2.messages import obx, oru

UCUM = "http://unitsofmeasure.org"


def test_nm_is_a_quantity_with_its_ucum_unit() -> None:
    obs = observation(oru(obx(1, "NM", "GLU^Glucose^L", "6.8", "mmol/L^mmol/L^UCUM")))
    assert obs["valueQuantity"] == {"value": 6.8, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}


def test_nm_integers_stay_integers_and_signs_are_read() -> None:
    assert observation(oru(obx(1, "NM", "X^x^L", "72")))["valueQuantity"]["value"] == 72
    assert observation(oru(obx(1, "NM", "X^x^L", "-2.5")))["valueQuantity"]["value"] == -2.5
    assert observation(oru(obx(1, "NM", "X^x^L", "+01.20")))["valueQuantity"]["value"] == 1.2


def test_nm_with_a_comparator_is_read_as_a_bound_and_warned_about() -> None:
    raw = oru(obx(1, "NM", "CRP^CRP^L", "<0.5", "mg/L"))
    quantity = {"value": 0.5, "comparator": "<", "unit": "mg/L", "system": UCUM, "code": "mg/L"}
    assert observation(raw)["valueQuantity"] == quantity
    assert any("comparator" in warning for warning in parse_oru(raw).warnings)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("mmol/L", {"unit": "mmol/L", "system": UCUM, "code": "mmol/L"}),  # no system named, but a known lab unit
        ("10^9/L", {"unit": "10^9/L", "system": UCUM, "code": "10*9/L"}),  # Chinese analysers, "^" unescaped
        ("10\\S\\9/L^^L", {"unit": "10^9/L", "system": UCUM, "code": "10*9/L"}),  # the same, escaped
        ("×10^12/L", {"unit": "×10^12/L", "system": UCUM, "code": "10*12/L"}),
        ("μmol/L", {"unit": "μmol/L", "system": UCUM, "code": "umol/L"}),
        ("g/L^^UCUM", {"unit": "g/L", "system": UCUM, "code": "g/L"}),
        ("%", {"unit": "%", "system": UCUM, "code": "%"}),
        ("MG/DL", {"unit": "MG/DL", "system": UCUM, "code": "mg/dL"}),
        ("iU/mL^^UCUM", {"unit": "iU/mL", "system": UCUM, "code": "[IU]/mL"}),  # declared UCUM, but not valid
        ("tera.l-1", {"unit": "tera.l-1"}),  # not UCUM: unit text only
        ("g/l-1", {"unit": "g/l-1"}),  # valid UCUM syntax, but not what it means: no code without a declaration
        ("furlongs^^L", {"unit": "furlongs"}),
        ("1^^UCUM^^^^^^s/co ratio", {"unit": "s/co ratio", "system": UCUM, "code": "1"}),  # original text shown
    ],
)
def test_units(unit: str, expected: dict[str, str]) -> None:
    quantity = observation(oru(obx(1, "NM", "X^x^L", "1.5", unit)))["valueQuantity"]
    assert {k: v for k, v in quantity.items() if k != "value"} == expected


def test_sn_plain_number_and_comparators() -> None:
    assert observation(oru(obx(1, "SN", "X^x^L", "^182", "mg/dl")))["valueQuantity"]["value"] == 182
    greater = observation(oru(obx(1, "SN", "X^x^L", ">^11.0")))["valueQuantity"]
    assert greater == {"value": 11.0, "comparator": ">"}
    at_most = observation(oru(obx(1, "SN", "X^x^L", "<=^5", "U/L")))["valueQuantity"]
    assert at_most["comparator"] == "<=" and at_most["code"] == "U/L"
    assert "comparator" not in observation(oru(obx(1, "SN", "X^x^L", "=^3")))["valueQuantity"]


def test_sn_ratio_range_and_plus() -> None:
    assert observation(oru(obx(1, "SN", "TITER^Titer^L", "^1^:^128")))["valueRatio"] == {
        "numerator": {"value": 1},
        "denominator": {"value": 128},
    }
    assert observation(oru(obx(1, "SN", "X^x^L", "^10^-^20", "mg/L")))["valueRange"] == {
        "low": {"value": 10, "unit": "mg/L", "system": UCUM, "code": "mg/L"},
        "high": {"value": 20, "unit": "mg/L", "system": UCUM, "code": "mg/L"},
    }
    assert observation(oru(obx(1, "SN", "PRO^Protein^L", "^2^+")))["valueString"] == "2+"


@pytest.mark.parametrize("value_type", ["ST", "TX", "FT"])
def test_text_types_are_strings_and_repetitions_are_lines(value_type: str) -> None:
    obs = observation(oru(obx(1, value_type, "MORPH^Morphology^L", "Many spherocytes.~Target cells seen.")))
    assert obs["valueString"] == "Many spherocytes.\nTarget cells seen."


@pytest.mark.parametrize("value_type", ["CWE", "CE", "CNE"])
def test_coded_values(value_type: str) -> None:
    value = "260385009^Negative^SCT^NEG^negative^L^2015^^Negative (qualifier value)"
    obs = observation(oru(obx(1, value_type, "22314-9^HAV IgM^LN", value), facility="SHLAB"))
    assert obs["valueCodeableConcept"] == {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "260385009", "version": "2015", "display": "Negative"},
            {"system": "urn:nhbridge:hl7v2:SHLAB:L", "code": "NEG", "display": "negative"},
        ],
        "text": "Negative (qualifier value)",
    }


def test_coded_value_with_text_only() -> None:
    obs = observation(oru(obx(1, "CE", "548-8^Culture^LN", "^Bordetella pertussis^SNM")))
    assert obs["valueCodeableConcept"] == {"text": "Bordetella pertussis"}


def test_date_time_and_time_values() -> None:
    assert observation(oru(obx(1, "DT", "X^x^L", "20260228")))["valueDateTime"] == "2026-02-28"
    assert observation(oru(obx(1, "TS", "X^x^L", "202602281530+0800")))["valueDateTime"] == "2026-02-28T15:30:00+08:00"
    assert observation(oru(obx(1, "TM", "X^x^L", "1530")))["valueTime"] == "15:30:00"


def test_encapsulated_pdf_becomes_the_reports_presented_form() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 report").decode()
    raw = oru(obx(1, "NM", "GLU^Glucose^L", "5.1", "mmol/L"), obx(2, "ED", "PDF^Report^L", f"LIS^AP^PDF^Base64^{pdf}"))
    report = reports(raw)[0]
    assert report["presentedForm"] == [{"contentType": "application/pdf", "data": pdf, "title": "Report"}]
    assert len(report["result"]) == 1  # the document is not an Observation


def test_reference_pointer_becomes_a_presented_form_url() -> None:
    raw = oru(obx(1, "RP", "IMG^Smear image^L", "https://lab.example/img/1.png^LIS^IM^PNG"))
    report = reports(raw)[0]
    assert report["presentedForm"] == [
        {"contentType": "image/png", "url": "https://lab.example/img/1.png", "title": "Smear image"}
    ]
    assert "result" not in report


def test_empty_value_gives_an_observation_without_value() -> None:
    obs = observation(oru(obx(1, "NM", "WBC^WBC^L", "", status="I")))
    assert obs["status"] == "registered"
    assert not [key for key in obs if key.startswith("value")]


def test_value_of_a_result_that_is_not_there_is_ignored() -> None:
    """X: results cannot be obtained; what OBX-5 holds then is not a result."""
    raw = oru(obx(1, "NM", "K^Potassium^L", "27~25", status="X"))
    obs = observation(raw)
    assert obs["status"] == "cancelled"
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    assert "valueQuantity" not in obs
    assert any("status X" in warning for warning in parse_oru(raw).warnings)


def test_hl7_explicit_null_is_no_value() -> None:
    obs = observation(oru(obx(1, "NM", "K^Potassium^L", '""', '""', '""')))
    assert not [key for key in obs if key.startswith("value") or key == "referenceRange"]
