"""Open sockets as `live_connection` rows: doctors on duty, and which participants still have a socket.

Each instance refreshes its own rows every heartbeat; rows of an instance that crashed go stale, so the
consult timers treat its participants as reconnecting and the queue stops ringing its doctors.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update

from bridge.db.tables import LiveConnection
from bridge.services import Services

# Rows this much older than the staleness bound are certainly of a dead instance and are removed.
FORGET_AFTER_HEARTBEATS = 30


def add(services: Services, connection_id: str, principal: str, organization_id: str) -> None:
    services.db.add(
        LiveConnection(
            connection_id=connection_id,
            principal=principal,
            organization_id=organization_id,
            on_duty=False,
            seen_at=services.now(),
        )
    )


def set_on_duty(services: Services, connection_id: str, on_duty: bool) -> None:
    services.db.execute(
        update(LiveConnection)
        .where(LiveConnection.connection_id == connection_id)
        .values(on_duty=on_duty, seen_at=services.now())
    )


def remove(services: Services, connection_id: str) -> None:
    services.db.execute(delete(LiveConnection).where(LiveConnection.connection_id == connection_id))


def connection_id_for(instance: str, suffix: str) -> str:
    """Connection ids start with their instance's id, so an instance refreshes all of its rows at once."""
    return f"{instance}-{suffix}"


def refresh(services: Services, instance: str, heartbeat: timedelta) -> None:
    """Mark this instance's sockets alive, and forget rows that no instance has refreshed for long."""
    now = services.now()
    # One statement with one parameter, whatever the number of sockets: a list of thousands of ids
    # would be re-parsed by the driver on every heartbeat. Closed sockets' rows are already deleted.
    services.db.execute(
        update(LiveConnection).where(LiveConnection.connection_id.startswith(f"{instance}-")).values(seen_at=now)
    )
    services.db.execute(
        delete(LiveConnection).where(LiveConnection.seen_at < now - heartbeat * FORGET_AFTER_HEARTBEATS)
    )


def forget_all(services: Services) -> None:
    """At the start of the only instance: every row left is from before the restart."""
    services.db.execute(delete(LiveConnection))
