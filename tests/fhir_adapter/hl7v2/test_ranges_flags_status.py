"""Reference ranges (OBX-7), abnormal flags (OBX-8), result status (OBX-11) and the identifiers that
let a correction find the result it corrects."""

from __future__ import annotations

import pytest
from fhir_adapter.hl7v2 import Hl7Error, parse_oru

from tests.fhir_adapter.hl7v2.fhir_helpers import SUBJECT, observation, reports
from tests.fhir_adapter.hl7v2.messages import OBR, obx, oru

UCUM = "http://unitsofmeasure.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def mmol(value: float) -> dict[str, object]:
    return {"value": value, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("3.5-5.5", 3.5, 5.5),
        ("3.5 - 5.5", 3.5, 5.5),
        ("4.3 to 6.2", 4.3, 6.2),
        ("3.5~5.5", 3.5, 5.5),  # "~" unescaped arrives as a repetition and is joined back
        ("3.5-5.5 mmol/L", 3.5, 5.5),
        ("-2-3", -2, 3),
        ("<5", None, 5),
        ("<=5", None, 5),
        (">10", 10, None),
        ("≥10", 10, None),
    ],
)
def test_range_forms(text: str, low: float | None, high: float | None) -> None:
    obs = observation(oru(obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L", text)))
    expected: dict[str, object] = {"text": text}
    if low is not None:
        expected["low"] = mmol(low)
    if high is not None:
        expected["high"] = mmol(high)
    assert obs["referenceRange"] == [expected]


@pytest.mark.parametrize(
    "text",
    ["Negative", "70_105", "<9 mcg/dL: acceptable background", "5.5-3.5", "<10 mg/dL", "High > or = 850000"],
)
def test_ranges_that_are_not_bounds_keep_their_text_only(text: str) -> None:
    obs = observation(oru(obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L", text)))
    assert obs["referenceRange"] == [{"text": text}]


def test_range_of_a_coded_result_is_text() -> None:
    obs = observation(oru(obx(1, "CWE", "HAV^HAV IgM^L", "NEG^Negative^L", "", "Negative", "N")))
    assert obs["referenceRange"] == [{"text": "Negative"}]


@pytest.mark.parametrize(
    ("flag", "display"),
    [("N", "Normal"), ("L", "Low"), ("H", "High"), ("LL", "Critical low"), ("HH", "Critical high"), ("A", "Abnormal")],
)
def test_flags_are_v3_interpretations(flag: str, display: str) -> None:
    obs = observation(oru(obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L", "3.5-5.5", flag)))
    assert obs["interpretation"] == [{"coding": [{"system": V3, "code": flag, "display": display}]}]


def test_repeated_flags_and_a_local_flag() -> None:
    obs = observation(oru(obx(1, "SN", "HCV^HCV Ab^L", ">^11.0", "", "", "H~POS~*")))
    assert [i.get("coding", [{}])[0].get("code") for i in obs["interpretation"]] == ["H", "POS", None]
    assert obs["interpretation"][2] == {"text": "*"}


@pytest.mark.parametrize(
    ("code", "status"),
    [("F", "final"), ("P", "preliminary"), ("C", "corrected"), ("X", "cancelled"), ("I", "registered"),
     ("R", "preliminary"), ("D", "entered-in-error"), ("W", "entered-in-error"), ("U", "final")],
)  # fmt: skip
def test_statuses(code: str, status: str) -> None:
    assert observation(oru(obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L", status=code)))["status"] == status


def test_report_status_from_obr25_or_from_its_results() -> None:
    corrected_order = OBR[: -len("F")] + "C"
    assert reports(oru(obx(1, "NM", "K^K^L", "4.1"), obr=corrected_order))[0]["status"] == "corrected"
    no_status = OBR[: -len("|F")]
    assert reports(oru(obx(1, "NM", "K^K^L", "4.1", status="P"), obr=no_status))[0]["status"] == "preliminary"
    assert reports(oru(obx(1, "NM", "K^K^L", "4.1"), obr=no_status))[0]["status"] == "final"


def test_a_correction_keeps_the_identifier_and_full_url_of_the_result_it_corrects() -> None:
    first = parse_oru(oru(obx(1, "NM", "K^Potassium^L", "6.9", "mmol/L", "3.5-5.5", "H"), control_id="A1"))
    # The correction comes alone, so its OBX-1 differs; the order, code and sub-id do not.
    correction = parse_oru(
        oru(
            obx(1, "NM", "NA^Sodium^L", "140", "mmol/L"),
            obx(2, "NM", "K^Potassium^L", "4.9", "mmol/L", "3.5-5.5", "N", status="C"),
            control_id="A2",
        )
    )
    before = next(e for e in first.to_fhir(SUBJECT) if e.resource["resourceType"] == "Observation")
    after = [e for e in correction.to_fhir(SUBJECT) if e.resource["resourceType"] == "Observation"][1]
    assert after.resource["status"] == "corrected"
    assert after.resource["valueQuantity"]["value"] == 4.9
    assert (
        after.resource["identifier"]
        == before.resource["identifier"]
        == [{"system": "urn:nhbridge:hl7v2:SHLAB:result", "value": "FL456/CBC/K"}]
    )
    assert after.full_url == before.full_url
    report_before = first.to_fhir(SUBJECT)[0].resource
    report_after = correction.to_fhir(SUBJECT)[0].resource
    assert (
        report_before["identifier"]
        == report_after["identifier"]
        == [{"system": "urn:nhbridge:hl7v2:SHLAB:report", "value": "FL456/CBC"}]
    )


def test_identifier_uses_sub_id_and_tells_repeated_codes_apart() -> None:
    raw = oru(
        obx(1, "CWE", "625-4^Bacteria^LN", "66543000^Campylobacter^SCT", sub_id="1"),
        obx(2, "CWE", "625-4^Bacteria^LN", "27268008^Salmonella^SCT", sub_id="2"),
        obx(3, "ST", "NOTE^Remark^L", "first"),
        obx(4, "ST", "NOTE^Remark^L", "second"),
    )
    message = parse_oru(raw)
    values = [e.resource["identifier"][0]["value"] for e in message.to_fhir(SUBJECT)[1:]]
    assert values == ["FL456/CBC/625-4/1", "FL456/CBC/625-4/2", "FL456/CBC/NOTE", "FL456/CBC/NOTE#2"]
    assert any("NOTE appears 2 times" in w for w in message.warnings)


def test_order_without_filler_number_is_identified_by_its_placer_number() -> None:
    obr = "OBR|1|PL123^HOME||CBC^Blood count^L|||20260301073000+0800|||||||||||||||||||F"
    report = reports(oru(obx(1, "NM", "K^K^L", "4.1"), obr=obr))[0]
    assert report["identifier"] == [{"system": "urn:nhbridge:hl7v2:SHLAB:report", "value": "placer:PL123/CBC"}]
    obs = observation(oru(obx(1, "NM", "K^K^L", "4.1"), obr=obr))
    assert obs["identifier"][0]["value"] == "placer:PL123/CBC/K"


def test_orders_sharing_their_numbers_are_told_apart_by_their_code() -> None:
    """Several OBR of one requisition (realm-cj-joeslab: stool culture and blood lead) share OBR-2/3."""
    second = OBR.replace("CBC^Blood count^L", "LEAD^Lead^L")
    raw = oru(obx(1, "NM", "K^K^L", "4.1"), second, obx(1, "NM", "K^K^L", "4.1"))
    entries = parse_oru(raw).to_fhir(SUBJECT)
    assert len({url for url, _ in entries}) == 4
    identifiers = [r["identifier"][0]["value"] for _, r in entries]
    assert identifiers == ["FL456/CBC", "FL456/CBC/K", "FL456/LEAD", "FL456/LEAD/K"]


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(Hl7Error) as caught:
        parse_oru(oru(obx(1, "NM", "K^K^L", "4.1", status="Q")))
    assert caught.value.code == "unknown_status"
    assert str(caught.value.location) == "OBX-11 (segment 4)"
