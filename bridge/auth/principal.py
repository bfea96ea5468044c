"""Who is calling: a staff member (browser session or password-grant token) or a system client."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.accounts.roles import Role
from bridge.auth.scopes import ScopeSet
from bridge.directory.codes import OrgKind


class PrincipalKind(StrEnum):
    USER = "user"
    CLIENT = "client"


class Channel(StrEnum):
    SESSION = "session"
    BEARER = "bearer"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject_id: str  # Account.id or ApiClient.client_id
    display_name: str
    organization_id: str
    organization_kind: OrgKind
    scopes: ScopeSet
    channel: Channel
    role: Role | None = None  # staff only
    practitioner_id: str | None = None
    locale: str | None = None
    csrf_token: str | None = None  # browser sessions only

    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.USER

    @property
    def reference(self) -> str:
        """How audit records name this principal."""
        prefix = "account" if self.is_user else "client"
        return f"{prefix}:{self.subject_id}"
