"""The advice pages: the nurse's advice and follow-up tasks (acknowledge, complete with a note, overdue
marked, refreshed live), and the doctor's advice panel beside a resident's chart with its form.

The operations are the services the FHIR API calls (bridge/advice), audited the same way; a refused
form is shown again with its errors in the user's language and what was typed, and nothing changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bridge.accounts.roles import Role
from bridge.advice import handling, sending, views
from bridge.advice.advice_input import FollowUp
from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.audit import AuditKind
from bridge.auth.principal import Principal
from bridge.directory.codes import OrgKind
from bridge.errors import BridgeError, Conflict, InvalidInput
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.services import Services
from portal.prescription_forms import Errors, fhir_context, field_errors, section
from portal.rendering import render
from portal.result_entry_pages import local_time

router = APIRouter(include_in_schema=False)

FORM_TASKS = 5  # rows of the form; the service takes up to MAX_TASKS from systems
DUE_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, in the homes' time


def may_advise(principal: Principal) -> bool:
    return (
        principal.is_user and principal.role is Role.DOCTOR and principal.organization_kind is OrgKind.INTERNET_HOSPITAL
    )


# --- the doctor's panel beside the chart -----------------------------------------------------------------


def advice_panel(
    services: Services,
    principal: Principal,
    patient_id: str,
    form: dict[str, Any] | None = None,
    errors: Errors | None = None,
) -> dict[str, Any]:
    """What _advice_panel.html shows: the resident's advice and, for doctors, the form; nothing (an empty
    panel the template leaves out) for anyone but the resident's nurses and doctors."""
    if not principal.is_user or principal.role not in (Role.NURSE, Role.DOCTOR):
        return {}
    advising = may_advise(principal)
    tomorrow = (services.now().astimezone(CHINA_STANDARD_TIME) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    return {
        "patient_id": patient_id,
        "advice": views.resident_advice(services, principal, patient_id),
        "can_advise": advising,
        "results": views.result_choices(services, patient_id) if advising else [],
        "rows": range(FORM_TASKS),
        "form": form or {"about": []},
        "errors": errors or {},
        "min_due": services.now().astimezone(CHINA_STANDARD_TIME).strftime(DUE_FORMAT),
        "due_hint": tomorrow.strftime(DUE_FORMAT),
        "local_time": local_time,
    }


@router.get("/residents/{patient_id}/advice")
def advice_form(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return _form_page(request, services, principal, patient_id)


def _form_page(
    request: Request,
    services: Services,
    principal: Principal,
    patient_id: str,
    form: dict[str, Any] | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> Response:
    patient = services.policy.require_resident(principal, patient_id)
    context = {
        "resident": services.residents.summaries([patient])[0],
        "advice_panel": advice_panel(services, principal, patient_id, form, errors),
    }
    return render(request, "advice_form.html", context, status_code)


@router.get("/residents/{patient_id}/advice/section")
def advice_section(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    services.policy.require_resident(principal, patient_id)
    panel = advice_panel(services, principal, patient_id)
    return section(request, "advice_resident_list.html", {"advice_panel": panel})


@router.post("/residents/{patient_id}/advice")
async def send(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    submitted = await request.form()
    form: dict[str, Any] = {k: str(v) for k, v in submitted.items() if k != "about"}
    form["about"] = [str(v) for v in submitted.getlist("about")]
    return await run_in_threadpool(_send, request, services, principal, patient_id, form)


def _send(
    request: Request, services: Services, principal: Principal, patient_id: str, form: dict[str, Any]
) -> Response:
    services.policy.require_resident(principal, patient_id)
    rows = _filled_rows(form)
    tasks, unreadable = _form_tasks(form, rows)
    try:
        # A savepoint: a refused form answers 422 while the request's transaction commits.
        with services.db.begin_nested():
            communication = sending.send_advice(
                services, principal, patient_id, form.get("text", ""), tasks, form["about"], None
            )
    except InvalidInput as exc:
        errors = {**_by_row(exc, rows), **unreadable}
        return _form_page(request, services, principal, patient_id, form, errors, 422)
    fhir_context(request, services, principal).audit(
        AuditKind.CREATE, f"$advise Patient/{patient_id}: Communication/{communication['id']}", [communication]
    )
    return RedirectResponse(f"/residents/{patient_id}?advised={communication['id']}#advice", status_code=303)


def _filled_rows(form: dict[str, Any]) -> list[int]:
    """The form's task rows with anything typed in them (empty rows are no tasks)."""
    return [
        i
        for i in range(FORM_TASKS)
        if form.get(f"task.{i}.description", "").strip() or form.get(f"task.{i}.due", "").strip()
    ]


def _form_tasks(form: dict[str, Any], rows: list[int]) -> tuple[list[FollowUp], Errors]:
    """The typed tasks, and the rows whose due date could not be read (given to the service as missing)."""
    tasks: list[FollowUp] = []
    unreadable: Errors = {}
    for row in rows:
        raw = form.get(f"task.{row}.due", "").strip()
        due: datetime | None = None
        if raw:
            try:
                due = datetime.strptime(raw[:16], DUE_FORMAT).replace(tzinfo=CHINA_STANDARD_TIME)
            except ValueError:
                unreadable[f"task.{row}.due"] = ("advice.error.due_format", {})
        tasks.append(FollowUp(form.get(f"task.{row}.description", ""), due))
    return tasks, unreadable


def _by_row(exc: InvalidInput, rows: list[int]) -> Errors:
    """The service numbers the tasks it was given; the form numbers its rows (empty rows skipped)."""
    errors: Errors = {}
    for field, value in field_errors(exc).items():
        parts = field.split(".")
        if len(parts) == 3 and parts[0] == "task" and parts[1].isdigit() and int(parts[1]) < len(rows):
            field = f"task.{rows[int(parts[1])]}.{parts[2]}"
        errors[field] = value
    return errors


@router.post("/advice/tasks/{task_id}/cancel")
def cancel_task(
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    patient: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    task = handling.cancel_task(services, principal, task_id, reason)
    fhir_context(request, services, principal).audit(AuditKind.UPDATE, f"$cancel Task/{task_id}", [task])
    return RedirectResponse(f"/residents/{patient}#advice", status_code=303)


# --- the nurse's advice and tasks --------------------------------------------------------------------------


def _home_context(request: Request, services: Services, principal: Principal) -> dict[str, Any]:
    return {
        "home": views.home_advice(services, principal),
        "local_time": local_time,
        "section_url": "/advice/section",
        "done": request.query_params.get("done"),
        "failed": None,
    }


@router.get("/advice")
def home_advice(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return render(request, "advice.html", _home_context(request, services, principal))


@router.get("/advice/section")
def home_section(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return section(request, "advice_list.html", _home_context(request, services, principal))


@router.post("/advice/{communication_id}/acknowledge")
def acknowledge(communication_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    try:
        updated = handling.acknowledge_advice(services, principal, communication_id)
    except Conflict as exc:
        return _refused(request, services, principal, communication_id, exc, {})
    fhir_context(request, services, principal).audit(
        AuditKind.UPDATE, f"$acknowledge Communication/{communication_id}", [updated]
    )
    return RedirectResponse("/advice?done=acknowledged", status_code=303)


@router.post("/advice/tasks/{task_id}/complete")
def complete(
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        task = handling.complete_task(services, principal, task_id, note)
    except (Conflict, InvalidInput) as exc:
        return _refused(request, services, principal, task_id, exc, {"note": note})
    fhir_context(request, services, principal).audit(AuditKind.UPDATE, f"$complete Task/{task_id}", [task])
    return RedirectResponse("/advice?done=completed", status_code=303)


def _refused(
    request: Request, services: Services, principal: Principal, key: str, exc: BridgeError, typed: dict[str, str]
) -> Response:
    """The page again with the refusal at the item it concerns and what was typed kept."""
    context = _home_context(request, services, principal)
    errors = field_errors(exc) if isinstance(exc, InvalidInput) else {}
    problem = None if isinstance(exc, InvalidInput) else (exc.message_key, exc.params)
    context["failed"] = {"key": key, "errors": errors, "typed": typed, "problem": problem}
    return render(request, "advice.html", context, exc.status)
