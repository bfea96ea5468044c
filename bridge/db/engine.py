"""Engines and sessions for SQLite (default) and PostgreSQL (production), from one URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bridge.json_codec import document_bytes, document_text


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as ops people write them) and use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    normalised = normalise_url(url)
    parsed = make_url(normalised)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            normalised, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=document_text
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(normalised, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=document_bytes)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the portal read while a request writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
