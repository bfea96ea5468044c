"""Staff accounts: create, sign in (with lockout), list, deactivate, remember the chosen language."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.accounts.passwords import MIN_PASSWORD_LENGTH, hash_password, needs_rehash, verify_password
from bridge.accounts.roles import ROLE_ORGANIZATION_KINDS, Role
from bridge.accounts.throttle import LoginThrottler
from bridge.db.tables import Account
from bridge.directory.organizations import OrganizationDirectory, organization_kind
from bridge.errors import Conflict, FieldError, InvalidInput, NotFound
from bridge.i18n import SUPPORTED_LOCALES

logger = logging.getLogger(__name__)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


@dataclass(frozen=True)
class SignInResult:
    account: Account | None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.account is not None


@dataclass(frozen=True)
class NewAccount:
    username: str
    role: str
    organization: str  # Organization id or identifier value
    password: str
    display_name: str = ""
    practitioner_id: str | None = None


class AccountService:
    def __init__(self, session: Session, organizations: OrganizationDirectory, throttler: LoginThrottler) -> None:
        self._session = session
        self._organizations = organizations
        self._throttler = throttler

    def create(self, new: NewAccount, now: datetime) -> Account:
        username = new.username.strip().lower()
        errors: list[FieldError] = []
        if not USERNAME.match(username):
            errors.append(FieldError("username", "field.username_format"))
        try:
            role: Role | None = Role(new.role)
        except ValueError:
            role = None
            errors.append(FieldError("role", "field.role_unknown"))
        if len(new.password) < MIN_PASSWORD_LENGTH:
            errors.append(FieldError("password", "field.password_too_short", {"min": MIN_PASSWORD_LENGTH}))
        organization = None
        try:
            organization = self._organizations.resolve(new.organization.strip())
        except NotFound:
            errors.append(FieldError("organization", "field.organization_unknown"))
        if role is not None and organization is not None:
            kind = organization_kind(organization)
            if kind not in ROLE_ORGANIZATION_KINDS[role]:
                errors.append(FieldError("role", "field.role_not_for_organization"))
        if errors:
            raise InvalidInput(errors)
        assert role is not None and organization is not None
        if self.by_username(username) is not None:
            raise InvalidInput([FieldError("username", "field.username_taken")])
        account = Account(
            id=str(uuid.uuid4()),
            username=username,
            password_hash=hash_password(new.password),
            role=role.value,
            organization_id=organization["id"],
            practitioner_id=new.practitioner_id,
            display_name=new.display_name.strip() or username,
            active=True,
            created_at=now,
        )
        self._session.add(account)
        self._session.flush()
        logger.info("account %s (%s) created in organization %s", username, role, organization["id"])
        return account

    def sign_in(self, username: str, password: str, now: datetime) -> SignInResult:
        """Never says whether the username exists; a locked-out name is refused even with the right password."""
        locked = self._throttler.locked_until(username, now)
        if locked is not None:
            logger.warning("sign-in refused for %r: locked until %s", username, locked.isoformat())
            return SignInResult(None, locked)
        account = self.by_username(username)
        valid = verify_password(account.password_hash if account else None, password)
        if account is None or not valid or not account.active:
            until = self._throttler.record_failure(username, now)
            logger.warning("sign-in failed for %r", username)
            return SignInResult(None, until if until and until > now else None)
        self._throttler.record_success(username)
        if needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
        return SignInResult(account)

    def by_username(self, username: str) -> Account | None:
        return self._session.scalar(select(Account).where(Account.username == username.strip().lower()))

    def get(self, account_id: str) -> Account:
        account = self._session.get(Account, account_id)
        if account is None:
            raise NotFound()
        return account

    def list_for(self, organization_ids: set[str] | None) -> list[Account]:
        """Accounts of the given organisations, or of all when ``None``."""
        query = select(Account).order_by(Account.organization_id, Account.role, Account.username)
        if organization_ids is not None:
            query = query.where(Account.organization_id.in_(sorted(organization_ids)))
        return list(self._session.scalars(query))

    def set_locale(self, account: Account, locale: str) -> None:
        if locale not in SUPPORTED_LOCALES:
            raise Conflict("error.locale_unknown")
        account.locale = locale
