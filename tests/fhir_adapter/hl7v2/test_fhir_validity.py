"""Everything the converter emits is valid R4: for the bridge's own validation (fhir.resources models
plus required bindings) and for Medplum's independent validator; and it stores in one transaction."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir_adapter.hl7v2 import FhirEntry, parse_oru
from fhir_adapter.transaction import EntryResult, process_bundle
from fhir_adapter.validation import validate_resource

from tests.fhir_adapter.hl7v2.messages import SAMPLES, obx, oru
from tests.fhir_adapter.hl7v2.test_real_samples import MAPPED
from tests.fhir_peer import MedplumValidator, assert_all_pass

SUBJECT = "Patient/resident-1"
PERFORMER = "Organization/lab-1"
PDF = base64.b64encode(b"%PDF-1.4 a report").decode()

HAND_WRITTEN = [
    oru(
        "NTE|1|L|Order comment",
        obx(1, "NM", "GLU^Glucose^L", "7.8", "mmol/L", "3.9-6.1", "H"),
        "NTE|1|L|Fasting",
        obx(2, "NM", "CRP^CRP^L", "<0.5", "mg/L", "<5", "N"),
        obx(3, "SN", "HCV^HCV Ab^L", ">^11.0", "1^^UCUM^^^^^^s/co ratio", "<1.0", "H~POS~*"),
        obx(4, "SN", "TITER^Titer^L", "^1^:^128", "", "<1:32", "A"),
        obx(5, "SN", "R^Range^L", "^10^-^20", "mg/L", "10-30"),
        obx(6, "SN", "PRO^Protein^L", "^2^+", "", "Negative", "A"),
        obx(7, "ST", "C^comment^L", "Isolated"),
        obx(8, "TX", "M^Morphology^L", "line one~line two"),
        obx(9, "FT", "F^Formatted^L", "a\\.br\\b"),
        obx(10, "CWE", "625-4^Bacteria^LN", "27268008^Salmonella^SCT^^^^^^Salmonella species"),
        obx(11, "CE", "548-8^Culture^LN", "^Bordetella pertussis^SNM"),
        obx(12, "DT", "D^Date^L", "20260228"),
        obx(13, "TS", "T^Time^L", "20260228153012.5+0800"),
        obx(14, "TM", "TM^Time of day^L", "0730"),
        obx(15, "ED", "PDF^Report^L", f"LIS^AP^PDF^Base64^{PDF}"),
        obx(16, "RP", "IMG^Image^L", "https://lab.example/1.png^LIS^IM^PNG"),
        obx(17, "NM", "K^Potassium^L", "", status="X"),
        obx(18, "NM", "WBC^WBC^L", "", status="I"),
        obx(19, "NM", "HGB^Hemoglobin^L", "121", "g/L", "115-150", "N", status="C"),
        obx(20, "NM", "X^x^L", "3", "tera.l-1", "1-5", "N", observed="2026"),
    ),
    oru(
        obx(1, "NM", "GLU^葡萄糖^L", "7.8", "mmol/L", "3.9-6.1", "H"),
        "NTE|1|L|空腹血糖偏高",
        pid="PID|1||R0001^^^上海市养老院^MR||李^桂兰||19380512|F",
        charset="GB 18030-2000",
        encoding="gb18030",
        facility="上海检验中心",
    ),
]


def all_entries() -> list[list[FhirEntry]]:
    messages = [parse_oru((SAMPLES / name).read_bytes()) for name in sorted(MAPPED)]
    messages += [parse_oru(raw) for raw in HAND_WRITTEN]
    return [m.to_fhir(SUBJECT, performer_reference=PERFORMER) for m in messages]


def transaction(entries: list[FhirEntry]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
            for url, resource in entries
        ],
    }


def test_every_resource_passes_the_bridges_validation() -> None:
    count = 0
    for entries in all_entries():
        for _, resource in entries:
            validate_resource(resource)
            count += 1
    assert count > 100


def test_every_resource_and_transaction_passes_medplum(medplum: MedplumValidator) -> None:
    batches = all_entries()
    resources = [resource for entries in batches for _, resource in entries]
    bundles = [transaction(entries) for entries in batches]
    assert_all_pass(medplum.validate(resources + bundles))


def test_the_hand_written_cases_cover_every_value_kind() -> None:
    entries = parse_oru(HAND_WRITTEN[0]).to_fhir(SUBJECT)
    keys = {key for _, resource in entries for key in resource if key.startswith("value")}
    assert keys == {
        "valueQuantity",
        "valueRange",
        "valueRatio",
        "valueString",
        "valueCodeableConcept",
        "valueDateTime",
        "valueTime",
    }
    assert len(entries[0].resource["presentedForm"]) == 2


def test_no_ids_and_only_urn_uuid_links() -> None:
    for entries in all_entries():
        urls = {url for url, _ in entries}
        assert len(urls) == len(entries)
        for url, resource in entries:
            assert url.startswith("urn:uuid:") and "id" not in resource
            if resource["resourceType"] == "DiagnosticReport":
                assert {r["reference"] for r in resource.get("result", [])} <= urls


class Store:
    """A repository stand-in for the transaction processor: it keeps what it is given."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {SUBJECT: {}, PERFORMER: {}}

    def create(self, resource: dict[str, Any], resource_id: str, if_none_exist: str | None) -> EntryResult:
        key = f"{resource['resourceType']}/{resource_id}"
        self.resources[key] = {**resource, "id": resource_id}
        return EntryResult(201, self.resources[key], location=key)

    def find_existing(self, resource_type: str, query: str) -> str | None:
        return None

    def update(self, resource: dict[str, Any], if_match: str | None) -> EntryResult:
        raise AssertionError("not used")

    def delete(self, resource_type: str, resource_id: str) -> EntryResult:
        raise AssertionError("not used")

    def read(self, resource_type: str, resource_id: str, version_id: str | None) -> EntryResult:
        raise AssertionError("not used")

    def search(self, resource_type: str, params: list[tuple[str, str]]) -> EntryResult:
        raise AssertionError("not used")


@contextmanager
def no_savepoint() -> Iterator[None]:
    yield


@pytest.mark.parametrize("index", [0, 3])
def test_entries_store_in_one_transaction(index: int) -> None:
    entries = all_entries()[index]
    store = Store()
    response = process_bundle(
        transaction(entries),
        store,
        no_savepoint,
        base_url="http://bridge/fhir",
        supported_types=frozenset({"Observation", "DiagnosticReport"}),
        max_entries=500,
        now=datetime.now(UTC),
    )
    assert all(e["response"]["status"].startswith("201") for e in response["entry"])
    reports = [r for r in store.resources.values() if r.get("resourceType") == "DiagnosticReport"]
    for report in reports:
        for reference in report.get("result", []):
            assert reference["reference"] in store.resources
