"""Delivery state of Subscriptions: the resource says what a pharmacy asked for; these rows say what
the bridge has sent it. Every event is numbered per subscription (eventsSinceSubscriptionStart), kept,
and can be fetched again with `$events`, so a pharmacy that missed a notification loses nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class SubscriptionState(BridgeBase):
    __tablename__ = "subscription_state"

    subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_organization_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))  # whose secret keys the HMAC
    topic: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # requested | active | error | off
    events_since_start: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    heartbeat_seconds: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SubscriptionEvent(BridgeBase):
    __tablename__ = "subscription_event"
    __table_args__ = (UniqueConstraint("subscription_id", "event_number", name="uq_subscription_event_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    event_number: Mapped[int] = mapped_column(Integer, nullable=False)
    focus_type: Mapped[str] = mapped_column(String(64), nullable=False)
    focus_id: Mapped[str] = mapped_column(String(64), nullable=False)
    focus_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
