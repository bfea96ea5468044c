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
    values = {"accounts": services.accounts.list_for(orgs), "roles": list(Role), **context}
    return _admin_page(request, services, "admin_accounts.html", orgs, values, status_code)


def _admin_page(
    request: Request,
    services: Services,
    template: str,
    orgs: set[str] | None,
    values: dict[str, object],
    status_code: int,
) -> Response:
    """Admin pages list and offer only the organisations the admin manages."""
    organizations = [o for o in services.organizations.all() if orgs is None or o["id"] in orgs]
    names = {o["id"]: o.get("name", o["id"]) for o in organizations}
    context = {"organizations": organizations, "names": names, "form": {}, "errors": {}, **values}
    return render(request, template, context, status_code)


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
    values = {"clients": services.clients.list_for(orgs), **context}
    return _admin_page(request, services, "admin_clients.html", orgs, values, status_code)


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
