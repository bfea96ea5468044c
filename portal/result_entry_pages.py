"""Results pages: a nurse's point-of-care entry form, her upload page, and the admins' quarantine.

The upload page's script (portal/static/results-upload.js) sends each file straight to the ingest API
(`POST /ingest/hl7v2`, `POST /ingest/ecg`) with the session's CSRF token, so a file is processed by the
same code whichever way it arrives; this module only renders, and answers what became of an HL7
message the nurse sent. Quarantine actions are plain POST forms that redirect back with a message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep, client_address
from bridge.api.errors import request_translator
from bridge.errors import Conflict, InvalidInput, NotFound
from bridge.i18n import DEFAULT_LOCALE, Translator, catalogue
from bridge.ingest.quarantine import QuarantineStatus
from bridge.results.point_of_care import CHINA_STANDARD_TIME, TIME_FIELD, PointOfCare, PointOfCareEntry
from bridge.results.quarantine_review import QuarantineReview
from bridge.results.uploads import UploadItem, hl7_outcome, recent_uploads
from bridge.results.vital_signs import MEASURES
from portal.consult_pages import client_strings
from portal.rendering import render

router = APIRouter(include_in_schema=False)

QUARANTINE_PATH = "/admin/quarantine"
STATUS_FILTERS = ("quarantined", "processed", "discarded", "all")
# What an action may report back on the page (anything else in the URL is ignored).
DONE = frozenset({"matched", "processed", "still_quarantined", "discarded"})
PROBLEMS = frozenset({"resident_unknown", "why_required", "closed"})
ECG_SUFFIXES = (".hea", ".dat", ".xml", ".scp", ".dcm", ".csv")
LAB_SUFFIXES = (".hl7",)


def local_time(value: datetime | None) -> str:
    """Times are shown as the homes' clocks show them."""
    return value.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M") if value else ""


def reason_label(t: Translator, code: str) -> str:
    """A reason code in words when the catalogue knows it, else the code itself."""
    key = f"quarantine.reason.{code}"
    return t(key) if key in catalogue(DEFAULT_LOCALE) else code


def _errors(exc: InvalidInput) -> dict[str, tuple[str, dict[str, Any]]]:
    return {e.field: (e.message_key, e.params) for e in exc.errors}


# --- the nurse's point-of-care entry ------------------------------------------------------------------


def _vitals_page(
    request: Request,
    services: ServicesDep,
    patient: dict[str, Any],
    form: dict[str, str],
    errors: dict[str, tuple[str, dict[str, Any]]],
    status_code: int = 200,
) -> Response:
    summary = services.residents.summaries([patient])[0]
    now = services.now().astimezone(CHINA_STANDARD_TIME)
    context = {
        "resident": summary,
        "measures": MEASURES,
        "form": form,
        "errors": errors,
        "time_field": TIME_FIELD,
        "now_local": now.strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "vitals_form.html", context, status_code)


@router.get("/residents/{patient_id}/vitals")
def vitals_form(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    patient = PointOfCare(services, principal).resident(patient_id)
    return _vitals_page(request, services, patient, {}, {})


@router.post("/residents/{patient_id}/vitals")
def record_vitals(
    patient_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    systolic: Annotated[str, Form()] = "",
    diastolic: Annotated[str, Form()] = "",
    pulse: Annotated[str, Form()] = "",
    spo2: Annotated[str, Form()] = "",
    temperature: Annotated[str, Form()] = "",
    weight: Annotated[str, Form()] = "",
    glucose: Annotated[str, Form()] = "",
    effective: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "systolic": systolic,
        "diastolic": diastolic,
        "pulse": pulse,
        "spo2": spo2,
        "temperature": temperature,
        "weight": weight,
        "glucose": glucose,
    }
    service = PointOfCare(services, principal, client_address(request))
    try:
        service.record(patient_id, PointOfCareEntry(values, effective))
    except InvalidInput as exc:
        patient = service.resident(patient_id)
        form = {**values, TIME_FIELD: effective}
        return _vitals_page(request, services, patient, form, _errors(exc), 422)
    return RedirectResponse(f"/residents/{patient_id}?recorded=vitals", status_code=303)


# --- the nurse's uploads ------------------------------------------------------------------------------


@router.get("/results/upload")
def upload_page(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    services.policy.require_role(principal, Role.NURSE)
    residents = services.residents.summaries(services.policy.visible_residents(principal))
    t = request_translator(request)
    context = {
        "residents": residents,
        "uploads": recent_uploads(services, principal),
        "local_time": local_time,
        "accept": ",".join(ECG_SUFFIXES + LAB_SUFFIXES),
        "ecg_suffixes": ECG_SUFFIXES,
        "lab_suffixes": LAB_SUFFIXES,
        "strings": client_strings(t, "upload."),
    }
    return render(request, "results_upload.html", context)


@router.get("/results/upload/hl7")
def hl7_upload_outcome(principal: PrincipalDep, services: ServicesDep, control_id: str = "") -> Response:
    """What became of an HL7 message the caller sent (its MSH-10): the page links the resident."""
    services.policy.require_role(principal, Role.NURSE)
    item = hl7_outcome(services, principal, control_id) if control_id else None
    if item is None:
        raise NotFound()
    return JSONResponse(_upload_json(item))


def _upload_json(item: UploadItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "status": item.status,
        "received_at": item.received_at.isoformat(),
        "label": item.label,
        "patient_id": item.patient_id,
        "patient_name": item.patient_name,
        "reason": item.reason,
        "quarantine_id": item.quarantine_id,
    }


# --- the admins' quarantine ---------------------------------------------------------------------------


def _quarantine_context(request: Request, review: QuarantineReview) -> dict[str, Any]:
    t = request_translator(request)
    done = request.query_params.get("done")
    problem = request.query_params.get("problem")
    return {
        "residents": review.residents(),
        "local_time": local_time,
        "reason_label": lambda code: reason_label(t, code),
        "done": done if done in DONE else None,
        "problem": problem if problem in PROBLEMS else None,
        "entry_id": request.query_params.get("entry", ""),
        "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }


@router.get(QUARANTINE_PATH)
def quarantine_page(
    request: Request, principal: PrincipalDep, services: ServicesDep, status: str = "quarantined"
) -> Response:
    review = QuarantineReview(services, principal)
    status = status if status in STATUS_FILTERS else "quarantined"
    items = review.items(None if status == "all" else QuarantineStatus(status))
    context = {**_quarantine_context(request, review), "items": items, "status": status, "filters": STATUS_FILTERS}
    return render(request, "admin_quarantine.html", context)


@router.get(QUARANTINE_PATH + "/{entry_id}")
def quarantine_entry(entry_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    review = QuarantineReview(services, principal)
    detail = review.detail(entry_id)
    context = {**_quarantine_context(request, review), "detail": detail, "item": detail.item}
    return render(request, "admin_quarantine_entry.html", context)


@router.post(QUARANTINE_PATH + "/{entry_id}/match")
def match_entry(
    entry_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    patient: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    review = QuarantineReview(services, principal)
    try:
        review.match(entry_id, patient)
    except InvalidInput:
        return _back(next, entry_id, problem="resident_unknown")
    except Conflict:
        return _back(next, entry_id, problem="closed")
    return _back(next, entry_id, done="matched")


@router.post(QUARANTINE_PATH + "/{entry_id}/replay")
def replay_entry(
    entry_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    next: Annotated[str, Form()] = "",
) -> Response:
    review = QuarantineReview(services, principal)
    try:
        result = review.replay(entry_id)
    except Conflict:
        return _back(next, entry_id, problem="closed")
    return _back(next, entry_id, done="processed" if result.processed else "still_quarantined")


@router.post(QUARANTINE_PATH + "/{entry_id}/discard")
def discard_entry(
    entry_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    why: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    review = QuarantineReview(services, principal)
    try:
        review.discard(entry_id, why)
    except InvalidInput:
        return _back(next, entry_id, problem="why_required")
    except Conflict:
        return _back(next, entry_id, problem="closed")
    return _back(next, entry_id, done="discarded")


def _back(target: str, entry_id: str, *, done: str | None = None, problem: str | None = None) -> Response:
    """303 to the quarantine page the form came from (only ever a quarantine page), with the outcome."""
    parts = urlsplit(target or QUARANTINE_PATH)
    path = parts.path if parts.path.startswith(QUARANTINE_PATH) and not parts.netloc else QUARANTINE_PATH
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k == "status"] if path == parts.path else []
    outcome = [("done", done)] if done else [("problem", problem or "")]
    return RedirectResponse(f"{path}?{urlencode([*kept, *outcome, ('entry', entry_id)])}", status_code=303)
