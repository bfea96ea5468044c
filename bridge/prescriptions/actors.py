"""Who acted on a prescription, as FHIR references: a staff member's Practitioner, or a system's
organisation (a pharmacy's own system acts for the pharmacy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.auth.principal import Principal


@dataclass(frozen=True)
class ActorRef:
    reference: str
    display: str

    def as_reference(self) -> dict[str, Any]:
        return {"reference": self.reference, "display": self.display}


def actor_of(principal: Principal) -> ActorRef:
    if principal.is_user and principal.practitioner_id:
        return ActorRef(f"Practitioner/{principal.practitioner_id}", principal.display_name)
    return ActorRef(f"Organization/{principal.organization_id}", principal.display_name)
