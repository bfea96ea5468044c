"""Who may change the loop deadlines, and changing them with a refusal every boundary can translate.

The deadlines hold for every home, hospital and pharmacy at once, so only those who answer for all of
them may change them: an administrator of the operator, or a supervisor of a supervisory authority.
Everyone signed in may read them (staff see the due times they are held to).
"""

from __future__ import annotations

import logging

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.directory.codes import OrgKind
from bridge.errors import AccessDenied, FieldError, InvalidInput
from bridge.i18n import Translator
from bridge.loops.codes import Clock
from bridge.loops.deadline_rules import DeadlineRefused
from bridge.loops.deadlines import DeadlineInForce, deadlines_in_force, reset_deadline, set_deadline
from bridge.services import Services

logger = logging.getLogger(__name__)


def may_change_deadlines(principal: Principal | None) -> bool:
    if principal is None or not principal.is_user:
        return False
    return (principal.role is Role.ADMIN and principal.organization_kind is OrgKind.OPERATOR) or (
        principal.role is Role.SUPERVISOR and principal.organization_kind is OrgKind.SUPERVISORY_AUTHORITY
    )


def require_deadline_admin(principal: Principal) -> None:
    if not may_change_deadlines(principal):
        logger.warning("%s may not change loop deadlines", principal.reference)
        raise AccessDenied()


def deadline_list(services: Services) -> list[DeadlineInForce]:
    return list(deadlines_in_force(services).values())


class DeadlineInvalid(InvalidInput):
    """A refused deadline as a 422 whose message is the refusal itself, not a generic "invalid input"."""

    def __init__(self, refused: DeadlineRefused, field: str = "minutes") -> None:
        super().__init__([FieldError(field, refused.key, dict(refused.params))])
        self.message_key, self.params = refused.key, dict(refused.params)


def change_deadline(services: Services, principal: Principal, kind: str, minutes: object) -> DeadlineInForce:
    require_deadline_admin(principal)
    try:
        changed = set_deadline(services, kind, minutes, principal.reference)
    except DeadlineRefused as refused:
        raise DeadlineInvalid(refused) from None
    logger.info("%s set the %s deadline to %s minutes", principal.reference, kind, changed.minutes)
    return changed


def restore_deadline(services: Services, principal: Principal, kind: str) -> DeadlineInForce:
    """Back to the settings or the default; what is in force then."""
    require_deadline_admin(principal)
    try:
        reset_deadline(services, kind)
    except DeadlineRefused as refused:
        raise DeadlineInvalid(refused, "kind") from None
    logger.info("%s reset the %s deadline", principal.reference, kind)
    return deadlines_in_force(services)[Clock(kind)]


def refusal_params(params: dict[str, object], t: Translator) -> dict[str, object]:
    """The refusal's parameters with the kind of clock named in words where it is a known one."""
    kind = params.get("kind")
    if isinstance(kind, str) and kind in {c.value for c in Clock}:
        return {**params, "kind": t(f"loops.clock.{kind}")}
    return params
