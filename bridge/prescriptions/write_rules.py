"""What the plain FHIR API may do to prescriptions; everything else goes through the operations.

- A MedicationRequest is created as a `draft` (checked against the catalogue, its dose parsed) or as
  a record of a drug the resident already takes (`reportedBoolean: true`). It becomes `active` only by
  `$sign`, so no unsigned prescription can ever reach a pharmacy.
- A signed prescription is not edited: it is cancelled and prescribed again. The exception is one the
  pharmacy rejected (`on-hold`): the doctor revises it back to `draft` and signs again.
- The pharmacy's Task and the signature's Provenance are written only by the workflow: a Task moved
  by a PUT would skip the checks and the record of who did what.
"""

from __future__ import annotations

from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.auth.principal import Principal
from bridge.directory.codes import OrgKind
from bridge.prescriptions.codes import TASK_CODE_SYSTEM
from bridge.services import Services

DRAFT = "draft"
REVISABLE = "on-hold"


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
    elif resource_type == "Task" and (is_prescription_task(new) or is_prescription_task(old)):
        raise _refused(
            409,
            "a prescription's Task changes only through its operations ($accept, $reject, $dispense, $dispatch, "
            "$deliver, $confirm-receipt, $cancel)",
            "Task",
        )


def _check_medication_request(
    services: Services, principal: Principal, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    if old is not None and not is_reported(old) and old.get("status") not in {DRAFT, REVISABLE}:
        raise _refused(
            409,
            f"this prescription is signed ({old.get('status')}): it cannot be changed or deleted; cancel it with "
            "$cancel on its Task and prescribe again",
            "MedicationRequest.status",
        )
    if new is None:
        return
    if is_reported(new):
        return
    status = new.get("status")
    if status == DRAFT:
        _require_prescriber(principal)
        from bridge.prescriptions.safety.check import validate_draft

        validate_draft(services, new)
        return
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


def _require_prescriber(principal: Principal) -> None:
    if principal.organization_kind is not OrgKind.INTERNET_HOSPITAL:
        raise _refused(
            403, "only doctors of an internet hospital draft prescriptions", "MedicationRequest", "forbidden"
        )


def _refused(status: int, message: str, expression: str, code: str | None = None) -> OperationOutcomeError:
    default = {403: "forbidden", 409: "conflict"}.get(status, "business-rule")
    return OperationOutcomeError.single(status, code or default, message, expression)
