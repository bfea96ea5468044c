"""What one running bridge holds: its settings, database engine and sessions, and clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.auth.tokens import TokenService
from bridge.clock import Clock, SystemClock
from bridge.db.engine import make_engine, make_session_factory
from bridge.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine), clock or SystemClock())

    @property
    def tokens(self) -> TokenService:
        return TokenService(
            self.settings.secret_key.get_secret_value(),
            issuer=self.settings.public_base_url,
            audience=self.settings.token_audience,
            lifetime_seconds=self.settings.token_lifetime_seconds,
        )
