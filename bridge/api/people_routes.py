"""JSON API of the directory: who am I, which residents I may see, accounts and clients, audit."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from bridge.accounts.administration import create_account_as, create_client_as
from bridge.accounts.service import NewAccount
from bridge.api.deps import PrincipalDep, ServicesDep, client_address
from bridge.audit import recent_audit_events
from bridge.db.tables import Account, ApiClient

router = APIRouter(prefix="/api", tags=["directory"])


@router.get("/me")
def me(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    organization = services.organizations.get(principal.organization_id)
    return {
        "kind": principal.kind.value,
        "id": principal.subject_id,
        "display_name": principal.display_name,
        "role": principal.role.value if principal.role else None,
        "organization": {
            "id": organization["id"],
            "name": organization.get("name"),
            "kind": principal.organization_kind.value,
        },
        "scope": str(principal.scopes),
        "locale": principal.locale,
    }


@router.get("/residents")
def list_residents(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    patients = services.policy.visible_residents(principal)
    summaries = services.residents.summaries(patients)
    homes = services.organizations.names({s.home_id for s in summaries})
    today = services.now().date()
    return {
        "residents": [
            {
                **asdict(s),
                "birth_date": s.birth_date.isoformat() if s.birth_date else None,
                "age": s.age_on(today),
                "home_name": homes.get(s.home_id),
            }
            for s in summaries
        ]
    }


@router.get("/residents/{patient_id}")
def get_resident(patient_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return services.policy.require_resident(principal, patient_id)


class AccountIn(BaseModel):
    username: str
    role: str
    organization: str
    password: str
    display_name: str = ""
    practitioner_id: str | None = None


class ClientIn(BaseModel):
    name: str
    organization: str
    scope: str


@router.get("/admin/accounts")
def list_accounts(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    orgs = services.policy.manageable_organization_ids(principal)
    return {"accounts": [_account_json(a) for a in services.accounts.list_for(orgs)]}


@router.post("/admin/accounts", status_code=201)
def create_account(body: AccountIn, request: Request, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    account = create_account_as(services, principal, NewAccount(**body.model_dump()), client_address(request))
    return _account_json(account)


@router.get("/admin/clients")
def list_clients(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    orgs = services.policy.manageable_organization_ids(principal)
    return {"clients": [_client_json(c) for c in services.clients.list_for(orgs)]}


@router.post("/admin/clients", status_code=201)
def create_client(body: ClientIn, request: Request, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    issued = create_client_as(services, principal, body.name, body.organization, body.scope, client_address(request))
    return {**_client_json(issued.client), "client_secret": issued.client_secret}


@router.get("/audit")
def audit_events(principal: PrincipalDep, services: ServicesDep, limit: int = 100) -> dict[str, Any]:
    orgs = services.policy.supervised_organization_ids(principal)
    return {"events": recent_audit_events(services.repository, orgs, min(max(limit, 1), 500))}


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role,
        "organization_id": account.organization_id,
        "display_name": account.display_name,
        "practitioner_id": account.practitioner_id,
        "active": account.active,
    }


def _client_json(client: ApiClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "organization_id": client.organization_id,
        "scope": client.scopes,
        "active": client.active,
    }
