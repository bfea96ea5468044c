"""The demo bedside station: a system client of demo-home-1 with a known secret, so that
`bridge station --demo --test-pattern` works against `bridge serve --demo` without any set-up."""

from __future__ import annotations

from bridge.accounts.passwords import hash_password
from bridge.db.tables import ApiClient
from bridge.services import Services

DEMO_STATION_CLIENT_ID = "demo-station-h1-301"
DEMO_STATION_SECRET = "bridge-demo-station-2026"  # noqa: S105 - demo data, refused outside demo mode
DEMO_STATION_HOME = "demo-home-1"
DEMO_STATION_SPOT = ("demo-h1-room-301", "demo-h1-bed-301-1")  # room and bed Location ids
DEMO_STATION_SCOPE = "system/Observation.cru system/Patient.rs"


def seed_demo_station(services: Services) -> None:
    if services.db.get(ApiClient, DEMO_STATION_CLIENT_ID) is not None:
        return
    services.db.add(
        ApiClient(
            client_id=DEMO_STATION_CLIENT_ID,
            name="床旁工作站 301-1（演示）",
            secret_hash=hash_password(DEMO_STATION_SECRET),
            organization_id=DEMO_STATION_HOME,
            scopes=DEMO_STATION_SCOPE,
            active=True,
            created_at=services.now(),
        )
    )
    services.db.flush()
