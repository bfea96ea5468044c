"""The composition root: builds the FastAPI application from a Runtime and mounts the portal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.api import (
    advice_routes,
    critical_routes,
    fhir_routes,
    health,
    ingest_routes,
    jwks_routes,
    loop_routes,
    people_routes,
    prescription_routes,
    recording_routes,
    referral_routes,
    review_routes,
    subscription_routes,
    token_routes,
)
from bridge.api.errors import install_error_handlers
from bridge.api.signal_routes import SIGNAL_PATH, serve_signal_socket
from bridge.ingest.mllp_service import BridgeMllp
from bridge.live_news import LivePublisher
from bridge.loops.overdue import run_overdue_alerts
from bridge.outbox.worker import run_outbox_worker
from bridge.recording.worker import run_recorder
from bridge.results.critical_escalation import run_escalation
from bridge.runtime import Runtime
from bridge.settings import Settings, get_settings
from bridge.signalling.server import SignallingServer
from bridge.subscriptions.heartbeat import run_heartbeats

logger = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self' ws: wss:; media-src 'self' blob:; frame-ancestors 'none'"
    ),
}


class BridgeApplication(FastAPI):
    """FastAPI, with `/ws/signal` answered ahead of the middleware stack (bridge/api/signal_routes.py)."""

    signalling: SignallingServer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == SIGNAL_PATH:
            scope["app"] = self
            await serve_signal_socket(self.signalling, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class SecurityHeaders:
    """Adds the security headers to every HTTP response, as plain ASGI: the decorator form
    (BaseHTTPMiddleware) costs a task and a stream per request, 1.5 to 3 ms of CPU per FHIR create."""

    def __init__(self, app: ASGIApp, *, strict_transport: bool) -> None:
        self.app = app
        self.headers = dict(SECURITY_HEADERS)
        if strict_transport:
            self.headers["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, recorder_url: str | None = None
) -> FastAPI:
    """`recorder_url`: this instance's own /ws/signal, for the in-process recorder worker."""
    runtime = runtime or Runtime.from_settings(settings or get_settings())
    signalling = SignallingServer(runtime)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        await signalling.start()
        # Pages hear of new results through the same hub as consult news (bridge/live_news.py).
        runtime.live = LivePublisher(signalling.hub.publish, asyncio.get_running_loop())
        recorder = None
        s = runtime.settings
        if recorder_url and s.recording_enabled and s.recording_in_process:
            recorder = asyncio.create_task(run_recorder(runtime, recorder_url), name="recorder")
        mllp = BridgeMllp(runtime) if s.mllp_port else None
        if mllp is not None and s.mllp_port:
            await mllp.start(s.mllp_host, s.mllp_port)
        application.state.mllp = mllp
        escalation = asyncio.create_task(run_escalation(runtime), name="critical-escalation")
        outbox = asyncio.create_task(run_outbox_worker(runtime), name="outbox")
        heartbeats = asyncio.create_task(run_heartbeats(runtime), name="subscription-heartbeats")
        overdue = asyncio.create_task(run_overdue_alerts(runtime), name="loop-overdue")
        try:
            yield
        finally:
            escalation.cancel()
            outbox.cancel()
            heartbeats.cancel()
            overdue.cancel()
            await asyncio.gather(escalation, outbox, heartbeats, overdue, return_exceptions=True)
            if mllp is not None:
                await mllp.stop()
            if recorder is not None:
                recorder.cancel()
                await asyncio.gather(recorder, return_exceptions=True)
            runtime.live = None
            await signalling.stop()

    app = BridgeApplication(
        lifespan=lifespan,
        title="Nursing-home telemedicine bridge",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.runtime = runtime
    app.state.signalling = signalling
    app.signalling = signalling
    app.add_middleware(SecurityHeaders, strict_transport=runtime.settings.cookies_secure)

    app.include_router(health.router)
    app.include_router(jwks_routes.router)  # public: pharmacies verify signatures offline
    app.include_router(token_routes.router)
    app.include_router(people_routes.router)
    app.include_router(loop_routes.router)
    app.include_router(critical_routes.router)  # before fhir_routes: its operation path must win
    app.include_router(review_routes.router)
    app.include_router(advice_routes.router)  # the same; before prescription_routes ($cancel dispatches)
    app.include_router(prescription_routes.router)  # the same
    app.include_router(referral_routes.router)  # the same
    app.include_router(subscription_routes.router)  # the same (and /fhir/SubscriptionTopic)
    app.include_router(fhir_routes.router)
    app.include_router(recording_routes.router)
    app.include_router(ingest_routes.router)

    # Only the composition root knows the portal exists.
    from portal import critical_pages
    from portal.mount import error_page, mount_portal

    mount_portal(app)
    app.include_router(critical_pages.router)
    install_error_handlers(app, html_renderer=error_page)
    return app
