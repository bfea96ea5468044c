"""What reached a nursing home lately as files or messages, for its nurses' upload page.

Two sources, merged newest first: the results stored for the home's residents (laboratory reports and
ECGs, from any channel: a nurse's upload, the laboratory's system, a bedside device) and the home's
quarantine entries still waiting or discarded (a quarantined input that was fixed and replayed shows
up as the result it became). Plain view items: the portal renders them and maps no FHIR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.search.query import parse_search
from fhir_adapter.store.repository import FHIR_ID
from sqlalchemy import select

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.directory.chart import concept_text
from bridge.directory.residents import display_name
from bridge.fhir_api.access import FhirAccess
from bridge.ingest.quarantine import Quarantine, QuarantineStatus
from bridge.ingest.tables import Hl7Receipt
from bridge.services import Services

RESULT_SEARCHES = (
    ("DiagnosticReport", ()),
    # ECGs are Observations of category procedure (fhir_adapter/ecg/observation.py); a lab report's
    # own Observations are left out, their DiagnosticReport stands for them.
    ("Observation", (("category", "procedure"),)),
)
KIND_OF_TYPE = {"DiagnosticReport": "lab", "Observation": "ecg", "hl7v2": "lab", "ecg": "ecg"}


@dataclass(frozen=True)
class UploadItem:
    kind: str  # lab | ecg
    status: str  # matched | quarantined | discarded
    received_at: datetime
    label: str  # the report's name, or the files' names
    patient_id: str | None = None
    patient_name: str | None = None
    reason: str | None = None  # why it is quarantined (or was discarded)
    quarantine_id: str | None = None


def recent_uploads(services: Services, principal: Principal, limit: int = 30) -> list[UploadItem]:
    """The newest results and quarantine entries of the nurse's home."""
    services.policy.require_role(principal, Role.NURSE)
    items = _stored_results(services, principal, limit) + _quarantined(services, principal, limit)
    items.sort(key=lambda item: item.received_at, reverse=True)
    return _with_names(services, principal, items[:limit])


def hl7_outcome(services: Services, principal: Principal, control_id: str) -> UploadItem | None:
    """What became of an HL7 message the caller sent (by its MSH-10), as the page shows it."""
    receipt = services.db.scalar(
        select(Hl7Receipt).where(Hl7Receipt.sender == principal.reference, Hl7Receipt.control_id == control_id)
    )
    if receipt is None:
        return None
    if receipt.quarantine_id:
        entry = Quarantine(services).get(receipt.quarantine_id)
        return UploadItem(
            "lab",
            entry.row.status,
            as_utc(entry.row.received_at),
            control_id,
            reason=entry.row.reason,
            quarantine_id=entry.row.id,
        )
    access = FhirAccess(services.policy, services.repository, principal)
    for reference in receipt.created.split():
        resource_type, _, resource_id = reference.partition("/")
        if resource_type != "DiagnosticReport":
            continue
        try:
            report = services.repository.read(resource_type, resource_id)
        except OperationOutcomeError:
            continue
        if access.readable(report):
            return _with_names(services, principal, [_result_item(report)])[0]
    return None


def _stored_results(services: Services, principal: Principal, limit: int) -> list[UploadItem]:
    access = FhirAccess(services.policy, services.repository, principal)
    items: list[UploadItem] = []
    for resource_type, criteria in RESULT_SEARCHES:
        params = [*criteria, ("_sort", "-_lastUpdated"), ("_count", str(limit))]
        query = parse_search(resource_type, params, strict=True, max_count=limit)
        page = services.repository.search(query, access.search_restrictions(query))
        items.extend(_result_item(resource) for resource in page.resources)
    return items


def _result_item(resource: dict[str, object]) -> UploadItem:
    meta = resource.get("meta")
    updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
    subject = resource.get("subject")
    reference = str(subject.get("reference", "")) if isinstance(subject, dict) else ""
    code = resource.get("code")
    return UploadItem(
        KIND_OF_TYPE.get(str(resource.get("resourceType")), "lab"),
        "matched",
        _instant(str(updated or "")),
        concept_text(code if isinstance(code, dict) else None) or str(resource.get("resourceType")),
        patient_id=reference.removeprefix("Patient/") if reference.startswith("Patient/") else None,
    )


def _quarantined(services: Services, principal: Principal, limit: int) -> list[UploadItem]:
    quarantine = Quarantine(services)
    rows = [
        row
        for status in (QuarantineStatus.QUARANTINED, QuarantineStatus.DISCARDED)
        for row in quarantine.listing({principal.organization_id}, status)[:limit]
    ]
    items = []
    for row in rows:
        entry = quarantine.get(row.id)
        given = entry.parameters.get("patient")
        items.append(
            UploadItem(
                KIND_OF_TYPE.get(row.kind, "lab"),
                row.status,
                as_utc(row.received_at),
                ", ".join(entry.files) or row.kind,
                # A resident matched by hand, or the one an ECG upload named (it may be the reason).
                patient_id=row.patient_id or (str(given) if given else None),
                reason=row.reason if row.status == QuarantineStatus.QUARANTINED else row.outcome or row.reason,
                quarantine_id=row.id,
            )
        )
    return items


def _with_names(services: Services, principal: Principal, items: list[UploadItem]) -> list[UploadItem]:
    """Residents named; an id that is no resident the caller may see (an ECG upload's unknown
    identifier, say) is dropped."""
    ids = {item.patient_id for item in items if item.patient_id and FHIR_ID.match(item.patient_id)}
    names = {
        p["id"]: display_name(p)
        for p in services.residents.patients_by_id(ids)
        if services.policy.can_see_patient(principal, p)
    }
    return [
        UploadItem(
            item.kind,
            item.status,
            item.received_at,
            item.label,
            item.patient_id if item.patient_id in names else None,
            names.get(item.patient_id or ""),
            item.reason,
            item.quarantine_id,
        )
        for item in items
    ]


def _instant(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
