"""The signalling WebSocket, `/ws/signal` (protocol v1, docs/signalling.md), as a plain ASGI endpoint.

It is served before the application's middleware and FastAPI's routing (see BridgeApplication): each
of those layers keeps a coroutine frame, an exit stack or wrapper objects alive for as long as a socket
is open, several KiB per socket for nothing a signalling socket uses. Sockets stay open for hours and
an instance holds thousands.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from bridge.signalling.auth import Handshake
from bridge.signalling.server import SignallingServer

SIGNAL_PATH = "/ws/signal"


async def serve_signal_socket(server: SignallingServer, scope: Scope, receive: Receive, send: Send) -> None:
    websocket = WebSocket(scope, receive, send)
    handshake = Handshake(
        authorization=websocket.headers.get("authorization"),
        cookies=dict(websocket.cookies),
        origin=websocket.headers.get("origin"),
        host=websocket.headers.get("host"),
        scheme=websocket.url.scheme,
        guest_token=websocket.query_params.get("guest"),
    )
    await server.serve(websocket, handshake)
