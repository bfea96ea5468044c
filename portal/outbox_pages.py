"""Admins: their hospital's own FHIR endpoint (view, set, test, remove) and the deliveries to it.

Actions are plain POST forms that redirect back with a message key, as the quarantine pages do; a form
with mistakes is shown again with them (422). The token is a password field that is never filled in:
left empty it keeps the stored token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.auth.principal import Principal
from bridge.errors import AccessDenied, InvalidInput
from bridge.outbox import administration as admin
from bridge.outbox.outbox import RetryResult, Status
from bridge.services import Services
from portal.rendering import render
from portal.result_entry_pages import local_time

router = APIRouter(include_in_schema=False)

PATH = "/admin/endpoint"
FILTERS = ("all", *(s.value for s in Status))
DONE = frozenset({"saved", "removed", "retried"})
PROBLEMS = frozenset({"superseded", "not_failed", "no_endpoint"})


def _page(
    request: Request,
    principal: Principal,
    services: Services,
    organization_id: str | None,
    status: str = "all",
    status_code: int = 200,
    **context: object,
) -> Response:
    hospitals = admin.manageable_hospitals(services, principal)
    if not hospitals:
        raise AccessDenied()
    chosen = organization_id or str(hospitals[0]["id"])
    listed = Status(status) if status in {s.value for s in Status} else None
    values = {
        "hospitals": hospitals,
        "overview": admin.overview(services, principal, chosen, listed),
        "status": listed.value if listed else "all",
        "filters": FILTERS,
        "local_time": local_time,
        "form": {},
        "errors": {},
        "check": None,
        "done": request.query_params.get("done") if request.query_params.get("done") in DONE else None,
        "problem": request.query_params.get("problem") if request.query_params.get("problem") in PROBLEMS else None,
        **context,
    }
    return render(request, "admin_endpoint.html", values, status_code)


def _back(organization_id: str, **message: str) -> RedirectResponse:
    return RedirectResponse(f"{PATH}?{urlencode({'org': organization_id, **message})}", status_code=303)


@router.get(PATH)
def endpoint_page(
    request: Request, principal: PrincipalDep, services: ServicesDep, org: str | None = None, status: str = "all"
) -> Response:
    return _page(request, principal, services, org, status)


@router.post(PATH)
def save_endpoint(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    org: Annotated[str, Form()],
    url: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    clear_token: Annotated[bool, Form()] = False,
) -> Response:
    try:
        admin.set_endpoint(services, principal, org, url, token or None, clear_token)
    except InvalidInput as exc:
        errors = {e.field: (e.message_key, e.params) for e in exc.errors}
        return _page(request, principal, services, org, status_code=422, form={"url": url}, errors=errors)
    return _back(org, done="saved")


@router.post(PATH + "/test")
def test_endpoint(
    request: Request, principal: PrincipalDep, services: ServicesDep, org: Annotated[str, Form()]
) -> Response:
    check = admin.test_endpoint(services, principal, org)
    if check is None:
        return _back(org, problem="no_endpoint")
    return _page(request, principal, services, org, check=check)


@router.post(PATH + "/remove")
def remove_endpoint(
    request: Request, principal: PrincipalDep, services: ServicesDep, org: Annotated[str, Form()]
) -> Response:
    removed = admin.remove_endpoint(services, principal, org)
    return _back(org, **({"done": "removed"} if removed else {"problem": "no_endpoint"}))


@router.post(PATH + "/retry/{message_id}")
def retry_delivery(
    message_id: int, request: Request, principal: PrincipalDep, services: ServicesDep, org: Annotated[str, Form()]
) -> Response:
    result = admin.retry_delivery(services, principal, org, message_id)
    if result is RetryResult.RETRIED:
        return _back(org, done="retried")
    return _back(org, problem=result.value)
