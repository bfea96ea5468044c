"""Coding systems to URIs, local codes to LOINC through the code map, and the UCUM check."""

from __future__ import annotations

import pytest
from fhir_adapter.hl7v2 import CodeMap, parse_oru
from fhir_adapter.hl7v2.codes import system_uri
from fhir_adapter.hl7v2.ucum import is_ucum

from tests.fhir_adapter.hl7v2.fhir_helpers import SUBJECT, codes, observation
from tests.fhir_adapter.hl7v2.messages import obx, oru

LOINC = "http://loinc.org"


@pytest.mark.parametrize(
    ("system", "uri"),
    [
        ("LN", LOINC),
        ("SCT", "http://snomed.info/sct"),
        ("HL70078", "http://terminology.hl7.org/CodeSystem/v2-0078"),
        ("I10", "http://hl7.org/fhir/sid/icd-10"),
        ("L", "urn:nhbridge:hl7v2:SHLAB:L"),
        ("99USI", "urn:nhbridge:hl7v2:SHLAB:99USI"),
        ("", "urn:nhbridge:hl7v2:SHLAB:local"),
        ("99zzz or L", "urn:nhbridge:hl7v2:SHLAB:99zzz%20or%20L"),
        ("POST 12H:QN", "urn:nhbridge:hl7v2:SHLAB:POST%2012H%3AQN"),
    ],
)
def test_coding_system_uris(system: str, uri: str) -> None:
    assert system_uri(system, "SHLAB") == uri


def test_local_code_systems_are_per_sender() -> None:
    ours = observation(oru(obx(1, "NM", "K^Potassium^L", "4.1"), facility="Lab One"))
    theirs = observation(oru(obx(1, "NM", "K^Potassium^L", "4.1"), facility="上海检验"))
    assert codes(ours["code"]) == [("urn:nhbridge:hl7v2:Lab%20One:L", "K")]
    assert codes(theirs["code"]) == [("urn:nhbridge:hl7v2:%E4%B8%8A%E6%B5%B7%E6%A3%80%E9%AA%8C:L", "K")]


def test_primary_and_alternate_codes_are_both_kept() -> None:
    obs = observation(oru(obx(1, "NM", "2823-3^Potassium^LN^K^Kalium^L^2.70", "4.1", "mmol/L")))
    assert obs["code"] == {
        "coding": [
            {"system": LOINC, "code": "2823-3", "version": "2.70", "display": "Potassium"},
            {"system": "urn:nhbridge:hl7v2:SHLAB:L", "code": "K", "display": "Kalium"},
        ],
        "text": "Potassium",
    }


def test_the_shipped_map_adds_loinc_to_a_local_code_only_in_the_right_unit() -> None:
    in_mmol = observation(oru(obx(1, "NM", "GLU^Glucose^L", "5.2", "mmol/L")))
    assert (LOINC, "14749-6") in codes(in_mmol["code"])
    assert codes(in_mmol["code"])[0] == ("urn:nhbridge:hl7v2:SHLAB:L", "GLU")  # the local code comes first
    in_mg = observation(oru(obx(1, "NM", "GLU^Glucose^L", "94", "mg/dL")))
    assert (LOINC, "2345-7") in codes(in_mg["code"])
    unknown_unit = observation(oru(obx(1, "NM", "GLU^Glucose^L", "5.2", "mmol/dm3")))
    assert [system for system, _ in codes(unknown_unit["code"])] == ["urn:nhbridge:hl7v2:SHLAB:L"]
    lower_case = observation(oru(obx(1, "NM", "hgb^Haemoglobin^99LAB", "121", "g/L")))
    assert (LOINC, "718-7") in codes(lower_case["code"])


def test_a_code_the_sender_already_gave_in_loinc_gets_nothing_added() -> None:
    obs = observation(oru(obx(1, "NM", "14749-6^Glucose^LN^GLU^Glu^L", "5.2", "mmol/L")))
    assert [system for system, _ in codes(obs["code"])] == [LOINC, "urn:nhbridge:hl7v2:SHLAB:L"]


def test_a_deployments_own_map_and_sender_specific_rows() -> None:
    code_map = CodeMap.from_csv(
        "sender,system,code,unit,loinc,display\n"
        "*,*,K,*,2823-3,Potassium [Moles/volume] in Serum or Plasma\n"
        "SHLAB,L,K,mmol/L,6298-4,Potassium [Moles/volume] in Blood\n"
    )
    message = parse_oru(oru(obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L")))
    entry = message.to_fhir(SUBJECT, code_map=code_map)[1]
    assert (LOINC, "6298-4") in codes(entry.resource["code"])
    other = parse_oru(oru(obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L"), facility="OTHER"))
    assert (LOINC, "2823-3") in codes(other.to_fhir(SUBJECT, code_map=code_map)[1].resource["code"])


@pytest.mark.parametrize(
    "text",
    ["sender,system,code\n*,*,K\n", "sender,system,code,unit,loinc,display\n*,*,K,*,,Potassium\n"],
)
def test_a_malformed_map_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="LOINC map"):
        CodeMap.from_csv(text)


@pytest.mark.parametrize(
    "unit",
    ["mg/dL", "mg/dl", "10*6/uL", "10^3/uL", "{cells}/uL", "pg/{cell}", "%", "[IU]/mL", "a", "1", "mm[Hg]", "/min",
     "mL/min/{1.73_m2}", "umol/L", "m[IU]/L", "kg/m2", "mg/(24.h)", "/[HPF]", "Cel", "ng/mL"],
)  # fmt: skip
def test_valid_ucum(unit: str) -> None:
    assert is_ucum(unit)


@pytest.mark.parametrize(
    "unit",
    ["tera.l-1", "giga.l-1", "iU/mL", "IU/mL", "mcg/dL", "beats/min", "", "mmol/L ", "μmol/L", "g/", "/", "(mg",
     "{a", "mmHg", "10^9/L x"],
)  # fmt: skip
def test_not_ucum(unit: str) -> None:
    assert not is_ucum(unit)
