"""The batch/transaction processor without a web server, against an in-memory handler (a fake that
really stores, not a mock that records calls)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir_adapter.errors import OperationOutcomeError, not_found
from fhir_adapter.references import iter_references
from fhir_adapter.transaction import EntryResult, process_bundle

TYPES = frozenset({"Patient", "Observation", "DiagnosticReport", "Encounter"})


class MemoryStore:
    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []

    def create(self, resource: dict[str, Any], resource_id: str, if_none_exist: str | None) -> EntryResult:
        for _, reference in iter_references(resource):
            if reference not in self.resources:
                raise OperationOutcomeError.single(422, "not-found", f"{reference} does not exist")
        key = f"{resource['resourceType']}/{resource_id}"
        self.resources[key] = {**resource, "id": resource_id}
        self.order.append(f"POST {key}")
        return EntryResult(201, self.resources[key], location=key)

    def find_existing(self, resource_type: str, query: str) -> str | None:
        value = query.split("=", 1)[1]
        for key, resource in self.resources.items():
            if key.startswith(resource_type) and resource.get("identifier", [{}])[0].get("value") == value:
                return str(resource["id"])
        return None

    def update(self, resource: dict[str, Any], if_match: str | None) -> EntryResult:
        key = f"{resource['resourceType']}/{resource['id']}"
        self.resources[key] = resource
        self.order.append(f"PUT {key}")
        return EntryResult(200, resource)

    def delete(self, resource_type: str, resource_id: str) -> EntryResult:
        self.order.append(f"DELETE {resource_type}/{resource_id}")
        self.resources.pop(f"{resource_type}/{resource_id}", None)
        return EntryResult(204)

    def read(self, resource_type: str, resource_id: str, version_id: str | None) -> EntryResult:
        key = f"{resource_type}/{resource_id}"
        self.order.append(f"GET {key}")
        if key not in self.resources:
            raise not_found(resource_type, resource_id)
        return EntryResult(200, self.resources[key])

    def search(self, resource_type: str, params: list[tuple[str, str]]) -> EntryResult:
        return EntryResult(200, {"resourceType": "Bundle", "type": "searchset", "total": 0})


@contextmanager
def no_savepoint() -> Iterator[None]:
    yield


def run(store: MemoryStore, kind: str, entries: list[dict[str, Any]], max_entries: int = 100) -> dict[str, Any]:
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    return process_bundle(
        bundle,
        store,
        no_savepoint,
        base_url="http://x/fhir",
        supported_types=TYPES,
        max_entries=max_entries,
        now=datetime.now(UTC),
    )


def post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def test_placeholders_are_rewritten_and_creates_run_after_what_they_reference() -> None:
    store = MemoryStore()
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "result": [{"reference": "urn:uuid:obs"}],
        "subject": {"reference": "urn:uuid:pat"},
    }
    obs = {"resourceType": "Observation", "status": "final", "subject": {"reference": "urn:uuid:pat"}}
    response = run(
        store,
        "transaction",
        [post(report, "urn:uuid:rep"), post(obs, "urn:uuid:obs"), post({"resourceType": "Patient"}, "urn:uuid:pat")],
    )
    assert [o.split("/")[0] for o in store.order] == ["POST Patient", "POST Observation", "POST DiagnosticReport"]
    stored_report = response["entry"][0]["resource"]
    assert stored_report["result"][0]["reference"] == response["entry"][1]["response"]["location"]
    assert stored_report["subject"]["reference"] == response["entry"][2]["response"]["location"]
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created"] * 3


def test_processing_order_is_delete_post_put_get() -> None:
    store = MemoryStore()
    store.resources["Patient/p"] = {"resourceType": "Patient", "id": "p"}
    store.resources["Patient/q"] = {"resourceType": "Patient", "id": "q"}
    run(
        store,
        "transaction",
        [
            {"request": {"method": "GET", "url": "Patient/p"}},
            {
                "resource": {"resourceType": "Patient", "id": "p", "active": True},
                "request": {"method": "PUT", "url": "Patient/p"},
            },
            post({"resourceType": "Patient"}),
            {"request": {"method": "DELETE", "url": "Patient/q"}},
        ],
    )
    assert [o.split()[0] for o in store.order] == ["DELETE", "POST", "PUT", "GET"]


def test_a_failing_entry_fails_the_transaction_naming_it() -> None:
    store = MemoryStore()
    with pytest.raises(OperationOutcomeError) as failed:
        run(
            store,
            "transaction",
            [
                post({"resourceType": "Patient"}),
                post({"resourceType": "Observation", "subject": {"reference": "Patient/ghost"}}),
            ],
        )
    assert failed.value.status == 422
    assert failed.value.issues[0].diagnostics.startswith("entry 1 (POST Observation): ")
    assert failed.value.issues[0].expression == ("Bundle.entry[1]",)


def test_cycles_and_undefined_placeholders_are_named_by_entry_number() -> None:
    store = MemoryStore()
    a = {"resourceType": "Observation", "hasMember": [{"reference": "urn:uuid:b"}]}
    b = {"resourceType": "Observation", "hasMember": [{"reference": "urn:uuid:a"}]}
    with pytest.raises(OperationOutcomeError, match=r"entries \[1, 2\]"):
        run(store, "transaction", [post({"resourceType": "Patient"}), post(a, "urn:uuid:a"), post(b, "urn:uuid:b")])
    with pytest.raises(OperationOutcomeError, match="no entry of this transaction defines"):
        run(store, "transaction", [post({"resourceType": "Observation", "subject": {"reference": "urn:uuid:nobody"}})])


def test_conditional_create_maps_the_placeholder_to_the_existing_match() -> None:
    store = MemoryStore()
    store.resources["Patient/known"] = {"resourceType": "Patient", "id": "known", "identifier": [{"value": "R-1"}]}
    obs = {"resourceType": "Observation", "subject": {"reference": "urn:uuid:pat"}}
    response = run(
        store,
        "transaction",
        [
            post(
                {"resourceType": "Patient", "identifier": [{"value": "R-1"}]},
                "urn:uuid:pat",
                ifNoneExist="identifier=R-1",
            ),
            post(obs),
        ],
    )
    assert response["entry"][1]["resource"]["subject"]["reference"] == "Patient/known"


def test_batch_entries_fail_alone_and_limits_and_shapes_are_checked() -> None:
    store = MemoryStore()
    response = run(
        store,
        "batch",
        [
            post({"resourceType": "Patient"}),
            {"request": {"method": "GET", "url": "Patient/missing"}},
            {"request": {"method": "PATCH", "url": "Patient/x"}},
            {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Spaceship/1"}},
            post({"resourceType": "Observation", "subject": {"reference": "urn:uuid:x"}}),
        ],
    )
    statuses = [e["response"]["status"].split()[0] for e in response["entry"]]
    assert statuses == ["201", "404", "405", "400", "404", "400"]
    assert response["type"] == "batch-response"
    with pytest.raises(OperationOutcomeError) as too_many:
        run(store, "batch", [post({"resourceType": "Patient"})] * 3, max_entries=2)
    assert too_many.value.status == 413
    with pytest.raises(OperationOutcomeError):
        process_bundle(
            {"resourceType": "Bundle", "type": "collection"},
            store,
            no_savepoint,
            base_url="",
            supported_types=TYPES,
            max_entries=5,
            now=datetime.now(UTC),
        )
