"""One-time invitation links for a specialist, interpreter or family member to join a live consult.

Only a hash of the link's secret is stored. Opening the link and giving a name redeems it once: the
guest then holds a guest token for that one consult (bridge/signalling/tokens.py), which works until
the consult ends, so a guest who reloads the page or changes networks rejoins without the link.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bridge.clock import as_utc
from bridge.consults.caller import Caller
from bridge.consults.events import Outcome
from bridge.consults.records import ConsultError, ConsultRecords
from bridge.consults.states import ConsultState, ParticipantRole
from bridge.consults.views import instant
from bridge.db.tables import Consult, ConsultInvitation
from bridge.services import Services

GUEST_ROLES = frozenset({ParticipantRole.SPECIALIST, ParticipantRole.INTERPRETER, ParticipantRole.FAMILY})
# A guest's token outlives the link (which is for one use) but not a long consult's working day.
GUEST_TOKEN_LIFETIME = timedelta(hours=4)
MAX_GUEST_NAME = 64


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_url(services: Services, token: str) -> str:
    return f"{services.settings.public_base_url}/join/{token}"


@dataclass(frozen=True)
class Admission:
    guest_id: str
    consult_id: str
    role: ParticipantRole
    display: str


class Invitations:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self.records = ConsultRecords(services)

    def invite(self, caller: Caller, consult_id: str, role: str) -> Outcome:
        consult = self.records.get(consult_id)
        if not caller.is_doctor or caller.reference != consult.accepted_by:
            raise ConsultError("forbidden", "only the consult's doctor invites others")
        if ConsultState(consult.state).is_terminal:
            raise ConsultError("consult_ended", "the consult is over")
        if not ConsultState(consult.state).is_live:
            raise ConsultError("invalid_transition", "invitations are for a consult that is under way")
        guest_role = ParticipantRole(role)
        if guest_role not in GUEST_ROLES:
            raise ConsultError("invalid_message", f"{role!r} is not a guest role")
        token = secrets.token_urlsafe(32)
        now = self.services.now()
        expires = now + timedelta(minutes=self.services.settings.invitation_lifetime_minutes)
        self.db.add(
            ConsultInvitation(
                token_hash=_digest(token),
                consult_id=consult.id,
                role=guest_role.value,
                created_by=caller.reference,
                created_at=now,
                expires_at=expires,
            )
        )
        self.db.flush()
        reply = {
            "v": 1,
            "type": "consult.invitation",
            "consult_id": consult.id,
            "role": guest_role.value,
            "url": invitation_url(self.services, token),
            "expires_at": instant(expires),
        }
        return Outcome(reply=reply)

    def check(self, token: str) -> tuple[ConsultInvitation, Consult]:
        """The open invitation behind a link, or ConsultError invitation_invalid / consult_ended."""
        invitation = self.db.get(ConsultInvitation, _digest(token)) if isinstance(token, str) else None
        if invitation is None:
            raise ConsultError("invitation_invalid", "unknown invitation")
        if invitation.used_at is not None:
            raise ConsultError("invitation_invalid", "the invitation was already used")
        if as_utc(invitation.expires_at) <= as_utc(self.services.now()):
            raise ConsultError("invitation_invalid", "the invitation expired")
        consult = self.records.get(invitation.consult_id)
        if ConsultState(consult.state).is_terminal:
            raise ConsultError("consult_ended", "the consult is over")
        return invitation, consult

    def redeem(self, token: str, display: str) -> Admission:
        name = " ".join(display.split())[:MAX_GUEST_NAME]
        if not name:
            raise ConsultError("invalid_message", "a guest gives a name")
        invitation, consult = self.check(token)
        invitation.used_at = self.services.now()
        invitation.guest_id = uuid.uuid4().hex
        self.db.flush()
        return Admission(invitation.guest_id, consult.id, ParticipantRole(invitation.role), name)


def guest_still_admitted(services: Services, guest_id: str) -> bool:
    """A guest token holds only while its invitation was redeemed and the consult is not over."""
    row = services.db.execute(
        select(Consult.state)
        .join(ConsultInvitation, ConsultInvitation.consult_id == Consult.id)
        .where(ConsultInvitation.guest_id == guest_id)
    ).first()
    return row is not None and not ConsultState(row[0]).is_terminal


def expires_at_for_guest(services: Services) -> datetime:
    return services.now() + GUEST_TOKEN_LIFETIME
