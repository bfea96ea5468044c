"""What one running bridge holds: its settings, database engine and sessions, and clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.auth.principal_cache import PrincipalCache
from bridge.auth.tokens import TokenService
from bridge.clock import Clock, SystemClock
from bridge.db.engine import make_engine, make_session_factory
from bridge.live_news import LivePublisher
from bridge.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)
    # Bearer-token callers, reused for settings.principal_cache_seconds (see bridge/auth/principal_cache.py).
    principals: PrincipalCache = field(init=False)
    # Set by the application once its event loop runs (bridge/live_news.py); None elsewhere.
    live: LivePublisher | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.principals = PrincipalCache(timedelta(seconds=self.settings.principal_cache_seconds))

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
