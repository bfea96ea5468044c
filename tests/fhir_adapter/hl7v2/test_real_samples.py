"""Every real message in shared/data/hl7v2 is mapped or refused with a specific reason, and where
Microsoft's FHIR-Converter output exists, codes, values, units, reference ranges and interpretation
flags agree with it OBX by OBX (a second opinion, not ground truth: the known differences are listed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir_adapter.hl7v2 import Hl7Error, parse_oru

from tests.fhir_adapter.hl7v2.messages import SAMPLES

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
Json = dict[str, Any]

# file -> (DiagnosticReports, Observations)
MAPPED = {
    "linuxforhealth_NIST-LOI_hepatitis_panel.hl7": (1, 3),
    "msft_LAB-ORU-1.hl7": (2, 10),
    "msft_LAB-ORU-2.hl7": (2, 10),
    "msft_LRI_2.0-NG_CBC_Typ_Message.hl7": (1, 28),
    "msft_ORU-R01-01.hl7": (1, 3),
    "msft_ORU-R01-RMGEAD.hl7": (1, 1),
    "nodehl7_ORU_R01_2.5.1_SampleTestCase1.hl7": (1, 1),
    "nodehl7_ORU_R01_2.5.1_SampleTestCase2.hl7": (1, 1),
    "nodehl7_ORU_R01_2.5.1_SampleTestCase3.hl7": (1, 1),
    "nodehl7_ORU_R01_2.5.1_SampleTestCase4.hl7": (1, 1),
    "nodehl7_ORU_R01_2.5.1_SampleTestCase5.hl7": (1, 1),
    "nodehl7_ORU_R01_2.5.1_SampleTestCase6.hl7": (1, 3),
    "nodehl7_cerner_bordetella.hl7": (1, 1),
    "nodehl7_cerner_lead.hl7": (1, 1),
    "nodehl7_oru-example.hl7": (1, 0),
    "nodehl7_realm-animal-rabies.hl7": (1, 1),
    "nodehl7_realm-cj-joeslab.hl7": (2, 2),
}
# file -> (code, location, what is wrong with the file)
REFUSED = {
    # The HL7 v2.4 example's second OBX has value type FN (family name), which is no result type.
    "pythonhl7_sample_hl7_GHH_glucose.hl7": ("unsupported_value_type", "OBX[2]-2 (segment 5)"),
    # Its first OBX has two extra field separators: ">^11.0" lands in OBX-7, the flags in OBX-10 and the
    # status F in OBX-13, leaving OBX-5 and OBX-11 empty; mapped as is, it would be a result without value.
    "nodehl7_realm-hepatitis-c-virus.hl7": ("missing_result_status", "OBX-11 (segment 8)"),
}


def test_every_sample_is_listed() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.hl7")) == sorted([*MAPPED, *REFUSED])


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_sample_is_mapped(name: str) -> None:
    message = parse_oru((SAMPLES / name).read_bytes())
    resources = [entry.resource for entry in message.to_fhir("Patient/p1", performer_reference="Organization/lab")]
    kinds = [r["resourceType"] for r in resources]
    assert (kinds.count("DiagnosticReport"), kinds.count("Observation")) == MAPPED[name]
    assert message.patient.identifiers


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_sample_is_refused_with_a_specific_reason(name: str) -> None:
    with pytest.raises(Hl7Error) as caught:
        parse_oru((SAMPLES / name).read_bytes())
    assert (caught.value.code, str(caught.value.location)) == REFUSED[name]
    assert caught.value.ack_code == "AE"


def test_the_edge_case_sample_says_what_it_left_out() -> None:
    """msft_ORU-R01-01 has an OBX before any OBR and one after an ORC but before its OBR: left out,
    with a warning each; its specimen OBX with status O (no result) and I (pending) keep no value."""
    warnings = parse_oru((SAMPLES / "msft_ORU-R01-01.hl7").read_bytes()).warnings
    assert sum("outside an order group" in w for w in warnings) == 2
    assert sum("value ignored" in w for w in warnings) == 2


# --- agreement with Microsoft's FHIR-Converter --------------------------------------------------------

MICROSOFT = {
    "LAB-ORU-1": "msft_LAB-ORU-1.hl7",
    "LAB-ORU-2": "msft_LAB-ORU-2.hl7",
    "LRI_2.0-NG_CBC_Typ_Message": "msft_LRI_2.0-NG_CBC_Typ_Message.hl7",
    "ORU-R01-01": "msft_ORU-R01-01.hl7",
    "ORU-R01-RMGEAD": "msft_ORU-R01-RMGEAD.hl7",
}
# Observations only one side has, and why.
ONLY_OURS = {
    # OBX RP with status O (order detail, no result): Microsoft makes it a DiagnosticReport with the
    # pointer as presentedForm; here it stays an Observation whose value, being no result, is not read.
    "ORU-R01-01": {"1063-7"},
}


def _observations(resources: list[Json]) -> dict[str, Json]:
    found: dict[str, Json] = {}
    for resource in resources:
        if resource["resourceType"] == "Observation":
            code = resource["code"]["coding"][0]["code"]
            assert code not in found, f"{code} twice: match by code no longer works"
            found[code] = resource
    return found


def _theirs(expected: str) -> dict[str, Json]:
    bundle = json.loads((SAMPLES / "expected-fhir-msft" / f"{expected}-expected.json").read_text(encoding="utf-8"))
    return _observations([entry["resource"] for entry in bundle["entry"]])


def _ours(name: str) -> dict[str, Json]:
    message = parse_oru((SAMPLES / name).read_bytes())
    return _observations([entry.resource for entry in message.to_fhir("Patient/p1")])


def _value_keys(resource: Json) -> list[str]:
    return sorted(key for key in resource if key.startswith("value"))


@pytest.mark.parametrize("expected", sorted(MICROSOFT))
def test_observations_agree_with_microsofts_converter(expected: str) -> None:
    theirs, ours = _theirs(expected), _ours(MICROSOFT[expected])
    assert set(ours) - set(theirs) == ONLY_OURS.get(expected, set())
    assert set(theirs) <= set(ours)
    for code, their in theirs.items():
        our = ours[code]
        where = f"{expected} {code}"
        _same_codes(our["code"], their["code"], where)
        assert _value_keys(our) == _value_keys(their), where
        if "valueQuantity" in their:
            _same_quantity(our["valueQuantity"], their["valueQuantity"], where)
        if "valueString" in their:
            assert our["valueString"] == their["valueString"], where
        if "valueCodeableConcept" in their:
            _same_codes(our["valueCodeableConcept"], their["valueCodeableConcept"], where)
            assert our["valueCodeableConcept"].get("text") == their["valueCodeableConcept"].get("text"), where
        assert [r.get("text") for r in our.get("referenceRange", [])] == [
            r.get("text") for r in their.get("referenceRange", [])
        ], where
        assert _flags(our) == _flags(their), where


def test_the_comparison_covers_every_kind_of_field() -> None:
    """So that a vacuous pass would show: Microsoft's output has quantities with and without UCUM,
    strings, coded values, reference ranges and each flag the samples use."""
    theirs = [obs for expected in MICROSOFT for obs in _theirs(expected).values()]
    assert len(theirs) == 51
    assert sum("valueQuantity" in o for o in theirs) == 38
    assert sum("code" in o.get("valueQuantity", {}) for o in theirs) == 19
    assert sum("valueString" in o for o in theirs) == 3
    assert sum("valueCodeableConcept" in o for o in theirs) == 7
    assert sum("referenceRange" in o for o in theirs) == 21
    assert {code for o in theirs for code in _flags(o)} == {"N", "L", "HH", "A", "H"}


def _same_codes(our: Json, their: Json, where: str) -> None:
    for coding in their.get("coding", []):
        same = [c for c in our.get("coding", []) if c["code"] == coding["code"]]
        assert same, f"{where}: {coding['code']} missing"
        if coding.get("system") in (LOINC, SNOMED):
            assert same[0]["system"] == coding["system"], where


def _same_quantity(our: Json, their: Json, where: str) -> None:
    assert our["value"] == pytest.approx(their["value"]), where
    if "code" in their:
        # Microsoft's unit is the UCUM description (OBX-6.2); the code is what both must agree on.
        assert (our.get("system"), our.get("code")) == (UCUM, their["code"]), where
    else:
        assert our.get("unit") == their.get("unit"), where


def _flags(resource: Json) -> list[str]:
    return [c["code"] for i in resource.get("interpretation", []) for c in i.get("coding", [])]
