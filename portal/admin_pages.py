"""Admins: staff accounts and system clients of the organisations they manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.accounts.administration import create_account_as, create_client_as
from bridge.accounts.roles import Role
from bridge.accounts.service import NewAccount
from bridge.api.deps import PrincipalDep, ServicesDep, client_address
from bridge.auth.principal import Principal
from bridge.errors import InvalidInput
from bridge.services import Services
from portal.rendering import render

router = APIRouter(include_in_schema=False)


def accounts_page(
    request: Request, principal: Principal, services: Services, status_code: int = 200, **context: object
) -> Response:
    orgs = services.policy.manageable_organization_ids(principal)
    organizations = [o for o in services.organizations.all() if orgs is None or o["id"] in orgs]
    return render(
        request,
        "admin_accounts.html",
        {
            "accounts": services.accounts.list_for(orgs),
            "organizations": organizations,
            "names": {o["id"]: o.get("name", o["id"]) for o in organizations},
            "roles": list(Role),
            "form": {},
            "errors": {},
            **context,
        },
        status_code,
    )


@router.post("/admin/accounts")
def create_account(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    organization: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> Response:
    form = {"username": username, "role": role, "organization": organization, "display_name": display_name}
    new = NewAccount(username, role, organization, password, display_name)
    try:
        account = create_account_as(services, principal, new, client_address(request))
    except InvalidInput as exc:
        errors = {e.field: (e.message_key, e.params) for e in exc.errors}
        return accounts_page(request, principal, services, 422, form=form, errors=errors)
    return RedirectResponse("/?created=" + account.username, status_code=303)


def _clients_page(
    request: Request, principal: Principal, services: Services, status_code: int = 200, **context: object
) -> Response:
    orgs = services.policy.manageable_organization_ids(principal)
    organizations = [o for o in services.organizations.all() if orgs is None or o["id"] in orgs]
    return render(
        request,
        "admin_clients.html",
        {
            "clients": services.clients.list_for(orgs),
            "organizations": organizations,
            "names": {o["id"]: o.get("name", o["id"]) for o in organizations},
            "form": {},
            "errors": {},
            **context,
        },
        status_code,
    )


@router.get("/admin/clients")
def clients(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return _clients_page(request, principal, services)


@router.post("/admin/clients")
def create_client(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    name: Annotated[str, Form()] = "",
    organization: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "organization": organization, "scope": scope}
    try:
        issued = create_client_as(services, principal, name, organization, scope, client_address(request))
    except InvalidInput as exc:
        errors = {e.field: (e.message_key, e.params) for e in exc.errors}
        return _clients_page(request, principal, services, 422, form=form, errors=errors)
    # The secret is shown exactly once, on this page; only its hash is stored.
    return _clients_page(request, principal, services, 201, issued=issued)
