"""Signalling test helpers: real clients (rtc.signalling_client) against the live bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from rtc.signalling_client import SignallingClient
from tests.conftest import Bridge


def ws_url(bridge_url: str) -> str:
    return bridge_url.replace("http://", "ws://") + "/ws/signal"


def run(test: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    async def limited() -> None:
        await asyncio.wait_for(test(), timeout)

    asyncio.run(limited())


async def client(bridge: Bridge, username: str) -> SignallingClient:
    token = await asyncio.to_thread(bridge.token, username)
    signalling = SignallingClient(ws_url(bridge.url), token=token)
    await signalling.connect()
    return signalling


def station_token(bridge: Bridge, home: str = "demo-home-1") -> str:
    """A new bedside-station system client of the home, and a token for it."""
    with bridge.services() as services:
        issued = services.clients.create(f"Bedside station {home}", home, "system/Observation.cru", services.now())
        client_id, secret = issued.client.client_id, issued.client_secret
    response = httpx.post(
        f"{bridge.url}/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def resident_of(bridge: Bridge, home: str = "demo-home-1", index: int = 0) -> dict[str, Any]:
    with bridge.services() as services:
        return dict(services.residents.patients_of_homes({home})[index])


# A room and a bed of demo-home-1 (bridge/demo/residents_data.py HOME_ROOMS)
ROOM_H1, BED_H1 = "demo-h1-room-301", "demo-h1-bed-301-1"
ROOM_H2, BED_H2 = "demo-h2-room-201", "demo-h2-bed-201-1"
