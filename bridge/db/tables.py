"""Relational workflow state that FHIR models poorly: accounts, API clients, browser sessions, login
throttling. Clinical records live in the FHIR store and are pointed at by id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class BridgeBase(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Account(BridgeBase):
    """A staff member's login. One role, one organisation (an Organization id in the FHIR store)."""

    __tablename__ = "account"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    organization_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    practitioner_id: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), nullable=False)
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApiClient(BridgeBase):
    """A system (pharmacy or hospital system, bedside station) using client_credentials."""

    __tablename__ = "api_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # The secret again, sealed (bridge/sealing.py): notifications to the client are signed with it (HMAC),
    # so the client can check them with what it already holds. None for clients issued before that.
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    organization_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    scopes: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class BrowserSession(BridgeBase):
    """A portal login. Only a hash of the cookie value is stored, so a database leak yields no sessions."""

    __tablename__ = "browser_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(16))
    client_address: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(BridgeBase):
    """Failed sign-ins per username or client id, known or not, so lockout reveals nothing."""

    __tablename__ = "login_throttle"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Consult(BridgeBase):
    """A video consult's workflow state (docs/signalling.md); its clinical record is the FHIR Encounter
    with the same id."""

    __tablename__ = "consult"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    urgency: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False)
    patient_display: Mapped[str] = mapped_column(String(128), nullable=False)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    hospital_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    requested_by: Mapped[str] = mapped_column(String(80), nullable=False)  # Principal.reference
    station_id: Mapped[str | None] = mapped_column(String(64))
    ward_round: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    accepted_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    escalation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When the next timer fires: escalation or time-out while ringing, the reconnect window's end after.
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    # Two instances may race on the same consult (two doctors accepting, a timer and an accept): the
    # version check makes the loser's UPDATE fail instead of overwriting.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once, at mapping


class ConsultParticipant(BridgeBase):
    """One person or agent in one consult; the id stays the same across reconnects."""

    __tablename__ = "consult_participant"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consult_id: Mapped[str] = mapped_column(ForeignKey("consult.id", ondelete="CASCADE"), nullable=False, index=True)
    principal: Mapped[str] = mapped_column(String(80), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    display: Mapped[str] = mapped_column(String(128), nullable=False)
    practitioner_id: Mapped[str | None] = mapped_column(String(64))
    # Indexed: the consult timers look for connected and reconnecting participants every second.
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    # The socket it is connected through; a participant whose socket has no fresh LiveConnection row
    # (its instance crashed or restarted) is treated as disconnected.
    connection_id: Mapped[str | None] = mapped_column(String(64), index=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConsultInvitation(BridgeBase):
    """A one-time link for a specialist, interpreter or family member; only its hash is stored."""

    __tablename__ = "consult_invitation"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    consult_id: Mapped[str] = mapped_column(ForeignKey("consult.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    guest_id: Mapped[str | None] = mapped_column(String(64))


class BedsideStation(BridgeBase):
    """A bedside cart's agent (a system client of a home) and where it stands."""

    __tablename__ = "bedside_station"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    room_id: Mapped[str | None] = mapped_column(String(64))
    bed_id: Mapped[str | None] = mapped_column(String(64))
    auto_answer: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    armed_by: Mapped[str | None] = mapped_column(String(80))
    armed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LiveConnection(BridgeBase):
    """An open signalling socket on some instance, refreshed by it every heartbeat; rows of a crashed
    instance go stale. ``on_duty`` marks a doctor watching the queue."""

    __tablename__ = "live_connection"

    connection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(80), nullable=False)
    organization_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SupervisorAlert(BridgeBase):
    """Something a supervisor must see: for now a consult request that waited too long."""

    __tablename__ = "supervisor_alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    consult_id: Mapped[str | None] = mapped_column(String(64), index=True)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    hospital_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
