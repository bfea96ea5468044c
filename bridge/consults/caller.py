"""Who acts in a consult: staff, a bedside station (a home's system client), or an invited guest."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.consults.states import ParticipantRole
from bridge.directory.codes import OrgKind


@dataclass(frozen=True)
class Caller:
    reference: str  # Principal.reference, or guest:<id>
    display: str
    organization_id: str
    role: ParticipantRole | None  # None: may watch (supervisor) but not take part
    principal: Principal | None = None  # None for guests
    practitioner_id: str | None = None
    guest_consult_id: str | None = None  # the one consult a guest was invited to

    @property
    def is_doctor(self) -> bool:
        return self.role is ParticipantRole.DOCTOR

    @property
    def is_station(self) -> bool:
        return self.role is ParticipantRole.STATION

    @property
    def is_nurse(self) -> bool:
        return self.role is ParticipantRole.NURSE

    @property
    def is_recorder(self) -> bool:
        return self.role is ParticipantRole.RECORDER

    @property
    def is_guest(self) -> bool:
        return self.guest_consult_id is not None


def caller_from_principal(principal: Principal) -> Caller:
    role: ParticipantRole | None = None
    if principal.is_user:
        role = {Role.NURSE: ParticipantRole.NURSE, Role.DOCTOR: ParticipantRole.DOCTOR}.get(
            principal.role or Role.ADMIN
        )
    elif principal.organization_kind is OrgKind.NURSING_HOME:
        role = ParticipantRole.STATION
    return Caller(
        reference=principal.reference,
        display=principal.display_name,
        organization_id=principal.organization_id,
        role=role,
        principal=principal,
        practitioner_id=principal.practitioner_id,
    )
