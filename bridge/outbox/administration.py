"""Admins and their hospital's FHIR endpoint: what the admin page (portal/outbox_pages.py) calls.

A hospital's admins manage their own hospital's endpoint; the operator's admins every hospital's. They
see the deliveries to it (status, attempts, errors, what the hospital answered) but never the payload:
admins are not clinicians, and the descriptions name resources by id only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.audit import Actor
from bridge.auth.principal import Principal
from bridge.directory.codes import OrgKind
from bridge.directory.organizations import organization_kind
from bridge.errors import AccessDenied, NotFound
from bridge.outbox import outbox
from bridge.outbox.endpoints import (
    HOSPITAL_FHIR,
    ConnectionCheck,
    EndpointView,
    HospitalEndpoints,
    check_connection,
    view_of,
)
from bridge.outbox.outbox import RetryResult, Status
from bridge.outbox.tables import OutboxMessage
from bridge.services import Services

LISTED = 100


@dataclass(frozen=True)
class EndpointOverview:
    organization_id: str
    endpoint: EndpointView | None
    counts: dict[str, int]
    messages: list[OutboxMessage]


def manageable_hospitals(services: Services, principal: Principal) -> list[dict[str, object]]:
    """The internet hospitals (Organizations) whose endpoint this admin manages, by name."""
    orgs = services.policy.manageable_organization_ids(principal)
    hospitals = [
        o
        for o in services.organizations.all()
        if organization_kind(o) is OrgKind.INTERNET_HOSPITAL and (orgs is None or o["id"] in orgs)
    ]
    return sorted(hospitals, key=lambda o: str(o.get("name", o["id"])))


def require_hospital(services: Services, principal: Principal, organization_id: str) -> None:
    services.policy.require_manage(principal, organization_id)
    try:
        kind = services.organizations.kind_of(organization_id)
    except NotFound:
        raise AccessDenied() from None
    if kind is not OrgKind.INTERNET_HOSPITAL:
        raise NotFound("endpoint.error.not_hospital", org=organization_id)


def overview(services: Services, principal: Principal, organization_id: str, status: Status | None) -> EndpointOverview:
    require_hospital(services, principal, organization_id)
    row = HospitalEndpoints(services).get(organization_id)
    return EndpointOverview(
        organization_id,
        view_of(row) if row is not None else None,
        outbox.counts(services.db, HOSPITAL_FHIR, organization_id),
        outbox.listing(services.db, HOSPITAL_FHIR, organization_id, status, LISTED),
    )


def set_endpoint(
    services: Services, principal: Principal, organization_id: str, url: str, token: str | None, clear_token: bool
) -> EndpointView:
    require_hospital(services, principal, organization_id)
    return HospitalEndpoints(services).set(organization_id, url, token, Actor.of(principal), clear_token=clear_token)


def remove_endpoint(services: Services, principal: Principal, organization_id: str) -> bool:
    require_hospital(services, principal, organization_id)
    return HospitalEndpoints(services).remove(organization_id, Actor.of(principal))


def test_endpoint(services: Services, principal: Principal, organization_id: str) -> ConnectionCheck | None:
    """The stored endpoint tried as a push would reach it; None without one."""
    require_hospital(services, principal, organization_id)
    row = HospitalEndpoints(services).get(organization_id)
    if row is None:
        return None
    return check_connection(row.base_url, row.bearer_token, services.settings.outbox_timeout_seconds)


def retry_delivery(services: Services, principal: Principal, organization_id: str, message_id: int) -> RetryResult:
    require_hospital(services, principal, organization_id)
    message = services.db.get(OutboxMessage, message_id)
    if message is None or message.destination_kind != HOSPITAL_FHIR or message.destination_id != organization_id:
        raise NotFound()
    return outbox.retry(services.db, message_id, services.now())
