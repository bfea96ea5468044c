"""The services of one unit of work (one database transaction), built on demand."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from fhir_adapter.store.repository import SqlResourceRepository
from sqlalchemy.orm import Session

from bridge.access.policy import AccessPolicy
from bridge.accounts.clients import ClientService
from bridge.accounts.service import AccountService
from bridge.accounts.throttle import LoginThrottler
from bridge.auth.sessions import SessionService
from bridge.directory.contracts import ContractDirectory
from bridge.directory.organizations import OrganizationDirectory
from bridge.directory.residents import ResidentDirectory
from bridge.live_news import announce
from bridge.runtime import Runtime
from bridge.settings import Settings


class Services:
    def __init__(self, db: Session, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def now(self) -> datetime:
        return self.runtime.clock.now()

    def announce(self, topic: str, message: dict[str, Any]) -> None:
        """Publish to open pages once this unit of work commits (bridge/live_news.py)."""
        announce(self.db, self.runtime.live, topic, message)

    @cached_property
    def repository(self) -> SqlResourceRepository:
        return SqlResourceRepository(self.db, now=self.runtime.clock.now)

    @cached_property
    def organizations(self) -> OrganizationDirectory:
        return OrganizationDirectory(self.repository)

    @cached_property
    def contracts(self) -> ContractDirectory:
        return ContractDirectory(self.repository)

    @cached_property
    def residents(self) -> ResidentDirectory:
        return ResidentDirectory(self.repository)

    @cached_property
    def throttler(self) -> LoginThrottler:
        s = self.runtime.settings
        return LoginThrottler(self.db, s.login_max_failures, s.login_lockout_base_seconds, s.login_lockout_max_seconds)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self.db, self.organizations, self.throttler)

    @cached_property
    def clients(self) -> ClientService:
        secret_key = self.runtime.settings.secret_key.get_secret_value()
        return ClientService(self.db, self.organizations, self.throttler, secret_key)

    @cached_property
    def browser_sessions(self) -> SessionService:
        s = self.runtime.settings
        return SessionService(
            self.db, timedelta(minutes=s.session_idle_timeout_minutes), timedelta(hours=s.session_max_age_hours)
        )

    @cached_property
    def policy(self) -> AccessPolicy:
        return AccessPolicy(self.repository, self.runtime.clock.now().date(), self.db)
