"""Whose loops a caller may see: those naming the caller's organisation, or the organisations a
supervisor watches (every organisation for a supervisory authority and the operator).

A loop outside that is reported as not found, like any record whose existence is sensitive.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.loops.tables import LoopClock, LoopStep
from bridge.services import Services

Scope = frozenset[str] | None  # None: every organisation


def loop_scope(services: Services, principal: Principal) -> Scope:
    """Organisations whose loops the principal sees; None for all, empty for none (administrators)."""
    if principal.is_user and principal.role is Role.SUPERVISOR:
        supervised = services.policy.supervised_organization_ids(principal)
        return None if supervised is None else frozenset(supervised)
    if principal.is_user and principal.role is Role.ADMIN:
        return frozenset()  # admins manage accounts, not care
    return frozenset({principal.organization_id})


def loop_visible(services: Services, loop_id: str, scope: Scope) -> bool:
    """Whether the loop exists and some step or clock of it names an organisation in scope."""
    if scope is not None and not scope:
        return False
    found = False
    for table in (LoopStep, LoopClock):
        query = select(table.id).where(table.loop_id == loop_id)
        if scope is not None:
            query = query.where(
                or_(table.home_id.in_(scope), table.hospital_id.in_(scope), table.pharmacy_id.in_(scope))
            )
        found = found or bool(services.db.scalar(select(exists(query))))
    return found


def resident_names(services: Services, principal: Principal, patient_ids: set[str]) -> dict[str, str]:
    """Names of the residents the principal may see; supervisors see no clinical records, so none."""
    if principal.role in {Role.SUPERVISOR, Role.ADMIN} or not patient_ids:
        return {}
    patients = [
        p for p in services.residents.patients_by_id(patient_ids) if services.policy.can_see_patient(principal, p)
    ]
    return {s.id: s.name for s in services.residents.summaries(patients)}
