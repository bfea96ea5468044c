"""Admins creating accounts and clients: the organisation check, the creation and its audit, in one place
for the JSON API and the portal alike."""

from __future__ import annotations

from bridge.accounts.clients import IssuedClient
from bridge.accounts.service import NewAccount
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.principal import Principal
from bridge.db.tables import Account
from bridge.errors import NotFound
from bridge.services import Services


def _managed_organization_id(services: Services, principal: Principal, organization: str) -> str:
    """The organisation's id once the admin may manage it; an unknown one is passed on for the creating
    service to report beside the other field errors."""
    try:
        organization_id = str(services.organizations.resolve(organization.strip())["id"])
    except NotFound:
        return organization
    services.policy.require_manage(principal, organization_id)
    return organization_id


def create_account_as(services: Services, principal: Principal, new: NewAccount, address: str | None) -> Account:
    organization_id = _managed_organization_id(services, principal, new.organization)
    account = services.accounts.create(
        NewAccount(new.username, new.role, organization_id, new.password, new.display_name, new.practitioner_id),
        services.now(),
    )
    record_audit_event(
        services.repository,
        AuditKind.ACCOUNT_CHANGE,
        Outcome.SUCCESS,
        Actor.of(principal),
        address,
        f"account {account.username} ({account.role}) created",
        services.now(),
    )
    return account


def create_client_as(
    services: Services, principal: Principal, name: str, organization: str, scope: str, address: str | None
) -> IssuedClient:
    organization_id = _managed_organization_id(services, principal, organization)
    issued = services.clients.create(name, organization_id, scope, services.now())
    record_audit_event(
        services.repository,
        AuditKind.ACCOUNT_CHANGE,
        Outcome.SUCCESS,
        Actor.of(principal),
        address,
        f"client {issued.client.client_id} created",
        services.now(),
    )
    return issued
