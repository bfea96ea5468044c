"""Storing converted results: one FHIR transaction through the same checked interactions as the
FHIR API, as the sender, so access rules, validation and the audit trail apply to machines too.

A result the bridge already holds (the same identifier: a laboratory's correction, or a preliminary
result made final) becomes a new version of that resource instead of a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.references import mapped, rewrite_references

from bridge.auth.principal import Principal
from bridge.directory.residents import home_of
from bridge.fhir_api.batch import run_bundle
from bridge.fhir_api.context import FhirContext
from bridge.i18n import Translator
from bridge.results.critical import raise_critical_alerts
from bridge.results.hospital_push import enqueue_result_push
from bridge.results.loop_steps import track_results_received
from bridge.results.news import announce_results
from bridge.services import Services

logger = logging.getLogger(__name__)


def transaction_of(services: Services, entries: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A transaction Bundle of (fullUrl, resource) pairs; a resource whose identifier is already stored
    is PUT over the stored one. A transaction only resolves `urn:uuid:` references to the entries it
    creates, so references to an updated one are rewritten to its `Type/id` here."""
    bundle_entries = []
    updated: dict[str, str] = {}
    for full_url, resource in entries:
        existing = _stored_with_same_identifier(services, resource)
        if existing is None:
            request = {"method": "POST", "url": resource["resourceType"]}
        else:
            resource = {**resource, "id": existing}
            request = {"method": "PUT", "url": f"{resource['resourceType']}/{existing}"}
            updated[full_url] = f"{resource['resourceType']}/{existing}"
        bundle_entries.append({"fullUrl": full_url, "resource": resource, "request": request})
    for entry in bundle_entries:
        entry["resource"] = rewrite_references(entry["resource"], mapped(updated))
        if entry["fullUrl"] in updated:
            entry["fullUrl"] = f"{services.settings.public_base_url}/fhir/{updated[entry['fullUrl']]}"
    return {"resourceType": "Bundle", "type": "transaction", "entry": bundle_entries}


def store_transaction(ctx: FhirContext, bundle: dict[str, Any], max_entries: int) -> list[dict[str, Any]]:
    """Run it; the resources as written (with id and meta). Raises OperationOutcomeError when any entry
    fails, with nothing written."""
    response = run_bundle(ctx, bundle, Translator(), max_entries)
    return [entry["resource"] for entry in response.get("entry", []) if isinstance(entry.get("resource"), dict)]


def references(resources: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


def _stored_with_same_identifier(services: Services, resource: dict[str, Any]) -> str | None:
    """The stored resource this one is a new version of: same identifier and the same resident. An
    identifier of another resident's result (a sender reusing order numbers) never overwrites it."""
    subject = resource.get("subject", {}).get("reference")
    for identifier in resource.get("identifier", []):
        system, value = identifier.get("system"), identifier.get("value")
        if not system or not value:
            continue
        for found in services.repository.find(resource["resourceType"], {"identifier": f"{system}|{value}"}):
            if found.get("subject", {}).get("reference") == subject:
                return str(found["id"])
            logger.warning(
                "%s %s|%s already names a result of %s; stored as a new result of %s",
                resource["resourceType"],
                system,
                value,
                found.get("subject", {}).get("reference"),
                subject,
            )
    return None


def outcome_text(error: OperationOutcomeError) -> str:
    """The diagnostics of a refused transaction, for the quarantine's reason."""
    issues = error.outcome().get("issue", [])
    texts = [str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code")) for i in issues]
    return "; ".join(texts)[:2000] or "the results could not be stored"


def after_storing(
    services: Services,
    patient: dict[str, Any],
    stored: Sequence[dict[str, Any]],
    kind: str,
    sender: Principal | None = None,
) -> list[str]:
    """What every stored result sets off, in the same transaction: critical values are alerted, open pages
    of the resident's home and hospitals hear of it once committed, and hospitals with their own FHIR
    endpoint get it through the outbox; laboratory reports and ECGs start the doctor's review clock
    (bridge/results/loop_steps.py). The alerts' references."""
    track_results_received(services, patient, stored, kind, sender)
    observations = [r for r in stored if r["resourceType"] == "Observation"]
    alerts = raise_critical_alerts(services, patient, observations, sender)
    home = home_of(patient)
    if home is not None:
        announce_results(services, home, patient["id"], references(stored), kind, critical=alerts)
    enqueue_result_push(services, patient, references(stored), kind)
    return alerts
