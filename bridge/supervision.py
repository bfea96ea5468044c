"""What supervisors see: each organisation they watch, with its contracts and head counts."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.organizations import organization_kind
from bridge.services import Services


@dataclass(frozen=True)
class OrganizationOverview:
    id: str
    name: str
    kind: str
    residents: int
    staff: int
    partners: tuple[str, ...]  # names of contracted organisations


def organization_overview(services: Services, organization_ids: set[str] | None) -> list[OrganizationOverview]:
    today = services.now().date()
    organizations = services.organizations.all()
    names = {org["id"]: org.get("name", org["id"]) for org in organizations}
    staff_counts: dict[str, int] = {}
    for account in services.accounts.list_for(organization_ids):
        staff_counts[account.organization_id] = staff_counts.get(account.organization_id, 0) + 1
    rows = []
    for org in organizations:
        if organization_ids is not None and org["id"] not in organization_ids:
            continue
        kind = organization_kind(org)
        residents = len(services.residents.patients_of_homes([org["id"]])) if kind is OrgKind.NURSING_HOME else 0
        partners: set[str] = set()
        for contract_kind in ContractKind:
            if kind is OrgKind.NURSING_HOME:
                partners |= services.contracts.providers_of(org["id"], contract_kind, today)
            else:
                partners |= services.contracts.homes_served_by(org["id"], contract_kind, today)
        rows.append(
            OrganizationOverview(
                org["id"],
                names[org["id"]],
                kind.value if kind else "",
                residents,
                staff_counts.get(org["id"], 0),
                tuple(sorted(names.get(p, p) for p in partners)),
            )
        )
    return sorted(rows, key=lambda r: (r.kind, r.name))
