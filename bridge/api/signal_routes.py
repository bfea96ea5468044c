"""The signalling WebSocket, `/ws/signal` (protocol v1, docs/signalling.md)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from bridge.signalling.auth import Handshake
from bridge.signalling.server import SignallingServer

router = APIRouter()


@router.websocket("/ws/signal")
async def signal(websocket: WebSocket) -> None:
    server: SignallingServer = websocket.app.state.signalling
    handshake = Handshake(
        authorization=websocket.headers.get("authorization"),
        cookies=dict(websocket.cookies),
        origin=websocket.headers.get("origin"),
        host=websocket.headers.get("host"),
        scheme=websocket.url.scheme,
        guest_token=websocket.query_params.get("guest"),
    )
    await server.serve(websocket, handshake)
