"""Batch and transaction Bundles: fhir_adapter's processor driving this API's checked interactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fhir_adapter.bundles import etag
from fhir_adapter.transaction import EntryResult, process_bundle
from fhir_adapter.validation import SUPPORTED_TYPES

from bridge.audit import AuditKind
from bridge.errors import BridgeError
from bridge.fhir_api import reads, writes
from bridge.fhir_api.context import FhirContext
from bridge.fhir_api.outcomes import as_outcome_error
from bridge.i18n import Translator


class CheckedEntries:
    """Each entry goes through the same access checks and audit as the single interactions."""

    def __init__(self, ctx: FhirContext, translator: Translator) -> None:
        self._ctx = ctx
        self._translator = translator

    @contextmanager
    def _as_outcomes(self) -> Iterator[None]:
        try:
            yield
        except BridgeError as exc:
            raise as_outcome_error(exc, self._translator) from None

    def create(self, resource: dict[str, Any], resource_id: str, if_none_exist: str | None) -> EntryResult:
        with self._as_outcomes():
            result = writes.create(self._ctx, resource, resource_id, if_none_exist)
        return _written(result.resource, result.status)

    def find_existing(self, resource_type: str, query: str) -> str | None:
        with self._as_outcomes():
            return writes.find_existing(self._ctx, resource_type, query)

    def update(self, resource: dict[str, Any], if_match: str | None) -> EntryResult:
        with self._as_outcomes():
            result = writes.update(self._ctx, resource["resourceType"], resource["id"], resource, if_match)
        return _written(result.resource, result.status)

    def delete(self, resource_type: str, resource_id: str) -> EntryResult:
        with self._as_outcomes():
            writes.delete(self._ctx, resource_type, resource_id)
        return EntryResult(204)

    def read(self, resource_type: str, resource_id: str, version_id: str | None) -> EntryResult:
        with self._as_outcomes():
            if version_id is None:
                resource = reads.read(self._ctx, resource_type, resource_id)
            else:
                resource = reads.vread(self._ctx, resource_type, resource_id, version_id)
        return EntryResult(200, resource, etag=etag(resource), last_modified=resource["meta"]["lastUpdated"])

    def search(self, resource_type: str, params: list[tuple[str, str]]) -> EntryResult:
        with self._as_outcomes():
            return EntryResult(200, reads.search(self._ctx, resource_type, params, strict=False))


def run_bundle(ctx: FhirContext, bundle: Any, translator: Translator, max_entries: int) -> dict[str, Any]:
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    response = process_bundle(
        bundle,
        CheckedEntries(ctx, translator),
        ctx.services.db.begin_nested,
        base_url=ctx.base_url,
        supported_types=SUPPORTED_TYPES,
        max_entries=max_entries,
        now=ctx.services.now(),
    )
    entries = len(response.get("entry", []))
    ctx.audit(AuditKind.TRANSACTION if kind == "transaction" else AuditKind.BATCH, f"{kind} of {entries} entries")
    return response


def _written(resource: dict[str, Any], status: int) -> EntryResult:
    meta = resource["meta"]
    return EntryResult(
        status,
        resource,
        location=f"{resource['resourceType']}/{resource['id']}/_history/{meta['versionId']}",
        etag=etag(resource),
        last_modified=meta["lastUpdated"],
    )
