"""What the prescription and pharmacy pages share: reading their forms' numbers, showing a refused form
again with its errors, the audit context of their writes, and the sections that lists refresh by
fetching when a `prescription.changed` arrives (portal/static/prescriptions-live.js)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from bridge.api.deps import client_address
from bridge.api.fhir_http import base_url
from bridge.auth.principal import Principal
from bridge.errors import BridgeError, FieldError, InvalidInput
from bridge.fhir_api.context import FhirContext
from bridge.i18n import Translator
from bridge.services import Services
from portal.rendering import render, templates
from portal.result_entry_pages import local_time

QUANTITY_UNITS = ("tablet", "capsule", "bag", "bottle", "box", "vial", "pen", "inhaler")
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９．", "0123456789.")
Errors = dict[str, tuple[str, dict[str, Any]]]


def fhir_context(request: Request, services: Services, principal: Principal) -> FhirContext:
    return FhirContext(services, principal, base_url(request), client_address(request))


def field_errors(exc: InvalidInput) -> Errors:
    return {e.field: (e.message_key, e.params) for e in exc.errors}


def positive(
    form: dict[str, str], name: str, errors: list[FieldError], *, whole: bool = False, zero: bool = False
) -> Decimal:
    """A positive number from the form (typed with a Chinese input method's full-width digits too)."""
    raw = form.get(name, "").strip().translate(FULL_WIDTH_DIGITS)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        errors.append(FieldError(name, "rx.error.required" if not raw else "rx.error.number"))
        return Decimal(0)
    if not value.is_finite() or value < 0 or (value == 0 and not zero):
        errors.append(FieldError(name, "rx.error.positive"))
    elif whole and value != value.to_integral_value():
        errors.append(FieldError(name, "rx.error.whole"))
    return value


def quantity_unit(text: str, t: Translator) -> str:
    """A stored quantity unit (text in the default language, as drafts store it) in the page's language."""
    for unit in QUANTITY_UNITS:
        if text == Translator()(f"rx.qunit.{unit}"):
            return t(f"rx.qunit.{unit}")
    return text


templates.env.globals["quantity_unit"] = quantity_unit


def page_context(request: Request) -> dict[str, Any]:
    return {"local_time": local_time, "signed": request.query_params.get("signed")}


def section(request: Request, template: str, context: dict[str, Any]) -> Response:
    body = bytes(render(request, template, context).body)
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


def refused(
    request: Request, template: str, context: dict[str, Any], exc: BridgeError, task_id: str, typed: dict[str, str]
) -> Response:
    """The page again with the refused form's errors at the Task's row and what was typed kept."""
    # The services name some fields by their FHIR path; the forms by the last part.
    errors = (
        {k.removeprefix("MedicationDispense."): v for k, v in field_errors(exc).items()}
        if isinstance(exc, InvalidInput)
        else {}
    )
    problem = None if isinstance(exc, InvalidInput) else (exc.message_key, exc.params)
    context = {**context, "failed": {"task": task_id, "errors": errors, "typed": typed, "problem": problem}}
    return render(request, template, context, exc.status)
