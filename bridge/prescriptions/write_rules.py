"""What the plain FHIR API may do to prescriptions; everything else goes through the operations.

- A MedicationRequest is created as a `draft` (checked against the catalogue, its dose parsed) or as
  a record of a drug the resident already takes (`reportedBoolean: true`, never a draft). That flag is
  fixed at creation: a record can never be signed, and a prescription can never be turned into a record
  to escape the rules below. A prescription becomes `active` only by `$sign`, so no unsigned
  prescription can ever reach a pharmacy.
- A signed prescription is not edited: it is cancelled and prescribed again. The exception is one the
  pharmacy rejected (`on-hold`): the doctor revises it back to `draft` and signs again.
- The workflow's own records are written only by the workflow: the pharmacy's Task (and any Task that
  would route a resident to a pharmacy, or that names a prescription), the MedicationDispense of a
  prescription, and Provenances about prescriptions and Tasks (a copied signature must not pass for one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.auth.principal import Principal
from bridge.directory.codes import OrgKind
from bridge.directory.organizations import organization_kind
from bridge.prescriptions.codes import TASK_CODE_SYSTEM
from bridge.services import Services

DRAFT = "draft"
REVISABLE = "on-hold"
ABANDONED = frozenset({"cancelled", "entered-in-error"})
# Relative or absolute, with or without a version: `MedicationRequest/1`, `https://x/fhir/Task/2/_history/3`.
_NAMES = re.compile(r"(?:^|/)(MedicationRequest|Task)/[A-Za-z0-9\-.]{1,64}(?:/_history/\d+)?$")


def is_prescription_task(task: dict[str, Any] | None) -> bool:
    if not task or task.get("resourceType") != "Task":
        return False
    codes = {(c.get("system"), c.get("code")) for c in (task.get("code") or {}).get("coding", [])}
    focus = (task.get("focus") or {}).get("reference", "")
    return (TASK_CODE_SYSTEM, "fulfill") in codes and str(focus).startswith("MedicationRequest/")


def is_reported(request: dict[str, Any]) -> bool:
    return bool(request.get("reportedBoolean")) or "reportedReference" in request


def check_prescription_write(
    services: Services, principal: Principal, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    """Raise an OperationOutcomeError unless the FHIR API may turn `old` into `new` (None: create, delete)."""
    resource_type = (new or old or {}).get("resourceType")
    if resource_type == "MedicationRequest":
        _check_medication_request(services, principal, new, old)
    elif resource_type == "Task" and any(_workflow_task(services, r) for r in (new, old) if r):
        raise _refused(
            409,
            "a prescription's Task is created by $sign and changes only through its operations ($accept, $reject, "
            "$dispense, $dispatch, $deliver, $confirm-receipt, $cancel); no other Task may be owned by a pharmacy "
            "or name a prescription",
            "Task",
        )
    elif resource_type == "MedicationDispense" and any(
        _names_prescription(services, r.get("authorizingPrescription")) for r in (new, old) if r
    ):
        raise _refused(
            409,
            "a prescription's dispense is recorded by $dispense and completed by $confirm-receipt",
            "MedicationDispense",
        )
    elif resource_type == "Provenance" and any(
        _names_prescription(services, r.get("target")) or _names(r.get("target"), "Task") for r in (new, old) if r
    ):
        raise _refused(
            409,
            "Provenances of prescriptions and their Tasks are written by the workflow ($sign and the Task operations)",
            "Provenance",
        )


def _check_medication_request(
    services: Services, principal: Principal, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    if old is not None and new is not None and is_reported(old) != is_reported(new):
        raise _refused(
            422,
            "reportedBoolean/reportedReference is set when the record is created and never changed",
            "MedicationRequest",
        )
    if old is not None and not is_reported(old) and not _still_unsigned(services, old):
        raise _refused(
            409,
            f"this prescription is signed ({old.get('status')}): it cannot be changed or deleted; cancel it with "
            "$cancel on its Task and prescribe again",
            "MedicationRequest.status",
        )
    if new is None:
        return
    status = new.get("status")
    if is_reported(new):
        if status == DRAFT:
            raise _refused(
                422, "a draft is a prescription to be signed, not a record of a drug taken", "MedicationRequest.status"
            )
        return
    if status == DRAFT:
        _require_prescriber(principal)
        from bridge.prescriptions.safety.check import validate_draft

        validate_draft(services, new)
        return
    if old is not None and old.get("status") in {DRAFT, REVISABLE} and status in ABANDONED:
        return  # a draft or a rejected prescription given up: nothing was or will be dispensed
    if old is not None and old.get("status") == REVISABLE and status == REVISABLE:
        raise _refused(
            422, "revise a rejected prescription by setting its status back to draft", "MedicationRequest.status"
        )
    raise _refused(
        422,
        f"a prescription is created as a draft and becomes {status!r} only through $sign (or $cancel); "
        "a drug the resident already takes is recorded with reportedBoolean=true",
        "MedicationRequest.status",
    )


def _still_unsigned(services: Services, request: dict[str, Any]) -> bool:
    """A draft, a rejected prescription under revision, or a draft given up that was never signed."""
    status = request.get("status")
    if status in {DRAFT, REVISABLE}:
        return True
    if status not in ABANDONED:
        return False
    from bridge.prescriptions.steps import was_signed

    return not was_signed(services, str(request["id"]))


def _workflow_task(services: Services, task: dict[str, Any]) -> bool:
    if is_prescription_task(task):
        return True
    if _names_prescription(services, [task.get("focus"), *(task.get("basedOn") or [])]):
        return True
    # A Task owned by a pharmacy routes the resident's record to it (bridge/access/policy.py).
    owner = str((task.get("owner") or {}).get("reference", ""))
    if owner.startswith("Organization/"):
        try:
            organization = services.repository.read("Organization", owner.removeprefix("Organization/"))
        except OperationOutcomeError:
            return False
        return organization_kind(organization) is OrgKind.PHARMACY
    return False


def _names_prescription(services: Services, references: Any) -> bool:
    """Whether any of the references points at one of the bridge's prescriptions (a MedicationRequest
    that is not a record of a drug taken elsewhere); absolute URLs count, so none slips past as one."""
    for reference in _references(references):
        match = _NAMES.search(reference)
        if not match or match.group(1) != "MedicationRequest":
            continue
        request_id = reference[match.start() :].lstrip("/").split("/")[1]
        try:
            request = services.repository.read("MedicationRequest", request_id)
        except OperationOutcomeError:
            continue
        if not is_reported(request):
            return True
    return False


def _names(references: Any, resource_type: str | None = None) -> bool:
    """Whether any of the references (a Reference or a list of them) points at a prescription or Task."""
    for reference in _references(references):
        match = _NAMES.search(reference)
        if match and (resource_type is None or match.group(1) == resource_type):
            return True
    return False


def _references(value: Any) -> Iterator[str]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("reference"), str):
            yield item["reference"]


def _require_prescriber(principal: Principal) -> None:
    if principal.organization_kind is not OrgKind.INTERNET_HOSPITAL:
        raise _refused(
            403, "only doctors of an internet hospital draft prescriptions", "MedicationRequest", "forbidden"
        )


def _refused(status: int, message: str, expression: str, code: str | None = None) -> OperationOutcomeError:
    default = {403: "forbidden", 409: "conflict"}.get(status, "business-rule")
    return OperationOutcomeError.single(status, code or default, message, expression)
