"""The pharmacy desk, for pharmacies without a system of their own: incoming prescriptions with their
signature and safety review, accept or reject, dispense, dispatch, delivered. The other end, the nurse's
list with the receipt form, is portal/prescription_list_pages.py.

The operations are the same services the FHIR API calls (bridge/prescriptions/pharmacy_flow.py),
audited the same way; only the buttons that apply to a Task's state are shown
(task_states.allowed_operations). The desk refreshes itself when a `prescription.changed` arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.audit import AuditKind
from bridge.auth.principal import Principal
from bridge.errors import Conflict, FieldError, InvalidInput
from bridge.i18n import Translator
from bridge.prescriptions import desk_views, pharmacy_flow
from bridge.prescriptions.fhir_values import json_number
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.services import Services
from portal.prescription_forms import fhir_context, page_context, positive, refused, section
from portal.rendering import render

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

DESK = "/pharmacy"


# --- the pharmacy desk -----------------------------------------------------------------------------


def _desk_context(request: Request, services: Services, principal: Principal) -> dict[str, Any]:
    return {
        **page_context(request),
        "items": desk_views.pharmacy_desk(services, principal),
        "section_url": f"{DESK}/section",
        "done": request.query_params.get("done"),
        "now_local": services.now().astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M"),
    }


@router.get(DESK)
def desk(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return render(request, "pharmacy_desk.html", _desk_context(request, services, principal))


@router.get(f"{DESK}/section")
def desk_section(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return section(request, "_pharmacy_desk_list.html", _desk_context(request, services, principal))


Operation = Callable[[], dict[str, Any]]


def _act(
    request: Request,
    services: Services,
    principal: Principal,
    task_id: str,
    name: str,
    typed: dict[str, str],
    operation: Operation,
) -> Response:
    """Run one desk operation; refused, the desk again with the errors at the Task's card."""
    try:
        task = operation()
    except (InvalidInput, Conflict) as exc:
        return refused(request, "pharmacy_desk.html", _desk_context(request, services, principal), exc, task_id, typed)
    fhir_context(request, services, principal).audit(AuditKind.UPDATE, f"${name} Task/{task_id}", [task])
    return RedirectResponse(f"{DESK}?done={name}#task-{task_id}", status_code=303)


@router.post(DESK + "/tasks/{task_id}/accept")
def accept(
    task_id: str, request: Request, principal: PrincipalDep, services: ServicesDep, note: Annotated[str, Form()] = ""
) -> Response:
    def run() -> dict[str, Any]:
        return pharmacy_flow.accept(services, principal, task_id, note.strip() or None)

    return _act(request, services, principal, task_id, "accept", {"note": note}, run)


@router.post(DESK + "/tasks/{task_id}/reject")
def reject(
    task_id: str, request: Request, principal: PrincipalDep, services: ServicesDep, reason: Annotated[str, Form()] = ""
) -> Response:
    def run() -> dict[str, Any]:
        return pharmacy_flow.reject(services, principal, task_id, reason)

    return _act(request, services, principal, task_id, "reject", {"reason": reason}, run)


@router.post(DESK + "/tasks/{task_id}/dispense")
def dispense(
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    quantity: Annotated[str, Form()] = "",
    lot: Annotated[str, Form()] = "",
) -> Response:
    typed = {"quantity": quantity, "lot": lot}

    def run() -> dict[str, Any]:
        errors: list[FieldError] = []
        value = positive(typed, "quantity", errors)
        if errors:
            raise InvalidInput(errors)
        return pharmacy_flow.dispense(services, principal, task_id, _dispense(value, lot.strip()))

    return _act(request, services, principal, task_id, "dispense", typed, run)


def _dispense(quantity: Decimal, lot: str) -> dict[str, Any]:
    """The desk's MedicationDispense: the service fills in the rest from the prescription."""
    content: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "status": "in-progress",
        "quantity": {"value": json_number(quantity)},
    }
    if lot:
        # R4 has no lot on a dispense of a referenced Medication; a note keeps it with the record.
        content["note"] = [{"text": Translator()("rx.desk.lot_note", lot=lot)}]
    return content


@router.post(DESK + "/tasks/{task_id}/dispatch")
def dispatch(
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    courier: Annotated[str, Form()] = "",
    trackingNumber: Annotated[str, Form()] = "",  # noqa: N803 - the service's field names, for its errors
    expectedArrival: Annotated[str, Form()] = "",  # noqa: N803
) -> Response:
    typed = {"courier": courier, "trackingNumber": trackingNumber, "expectedArrival": expectedArrival}

    def run() -> dict[str, Any]:
        arrival = _local_datetime(expectedArrival)
        if arrival is None:
            raise InvalidInput([FieldError("expectedArrival", "rx.error.datetime")])
        details = pharmacy_flow.Dispatch(courier, trackingNumber, arrival)
        return pharmacy_flow.dispatch(services, principal, task_id, details)

    return _act(request, services, principal, task_id, "dispatch", typed, run)


def _local_datetime(text: str) -> datetime | None:
    """A datetime-local field, read as the homes' clocks show time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=CHINA_STANDARD_TIME) if moment.tzinfo is None else moment


@router.post(DESK + "/tasks/{task_id}/deliver")
def deliver(
    task_id: str, request: Request, principal: PrincipalDep, services: ServicesDep, note: Annotated[str, Form()] = ""
) -> Response:
    def run() -> dict[str, Any]:
        return pharmacy_flow.deliver(services, principal, task_id, note.strip() or None)

    return _act(request, services, principal, task_id, "deliver", {"note": note}, run)
