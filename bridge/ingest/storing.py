"""Storing converted results: one FHIR transaction through the same checked interactions as the
FHIR API, as the sender, so access rules, validation and the audit trail apply to machines too.

A result the bridge already holds (the same identifier: a laboratory's correction, or a preliminary
result made final) becomes a new version of that resource instead of a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.fhir_api.batch import run_bundle
from bridge.fhir_api.context import FhirContext
from bridge.i18n import Translator
from bridge.services import Services


def transaction_of(services: Services, entries: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A transaction Bundle of (fullUrl, resource) pairs; a resource whose identifier is already stored
    is PUT over the stored one (its urn:uuid references are rewritten by the transaction)."""
    bundle_entries = []
    for full_url, resource in entries:
        existing = _stored_with_same_identifier(services, resource)
        if existing is None:
            request = {"method": "POST", "url": resource["resourceType"]}
        else:
            resource = {**resource, "id": existing}
            request = {"method": "PUT", "url": f"{resource['resourceType']}/{existing}"}
        bundle_entries.append({"fullUrl": full_url, "resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": bundle_entries}


def store_transaction(ctx: FhirContext, bundle: dict[str, Any], max_entries: int) -> list[str]:
    """Run it; the references of what was written (``Type/id``). Raises OperationOutcomeError when any
    entry fails, with nothing written."""
    response = run_bundle(ctx, bundle, Translator(), max_entries)
    written: list[str] = []
    for entry in response.get("entry", []):
        location = str(entry.get("response", {}).get("location", ""))
        if location:
            parts = location.split("/")
            if len(parts) >= 2:
                written.append("/".join(parts[:2]))
    return written


def _stored_with_same_identifier(services: Services, resource: dict[str, Any]) -> str | None:
    for identifier in resource.get("identifier", []):
        system, value = identifier.get("system"), identifier.get("value")
        if not system or not value:
            continue
        found = services.repository.find(resource["resourceType"], {"identifier": f"{system}|{value}"})
        if found:
            return str(found[0]["id"])
    return None
