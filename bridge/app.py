"""The composition root: builds the FastAPI application from a Runtime and mounts the portal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from bridge.api import fhir_routes, health, people_routes, recording_routes, signal_routes, token_routes
from bridge.api.errors import install_error_handlers
from bridge.recording.worker import run_recorder
from bridge.runtime import Runtime
from bridge.settings import Settings, get_settings
from bridge.signalling.server import SignallingServer

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


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, *, recorder_url: str | None = None
) -> FastAPI:
    """`recorder_url`: this instance's own /ws/signal, for the in-process recorder worker."""
    runtime = runtime or Runtime.from_settings(settings or get_settings())
    signalling = SignallingServer(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await signalling.start()
        recorder = None
        s = runtime.settings
        if recorder_url and s.recording_enabled and s.recording_in_process:
            recorder = asyncio.create_task(run_recorder(runtime, recorder_url), name="recorder")
        try:
            yield
        finally:
            if recorder is not None:
                recorder.cancel()
                await asyncio.gather(recorder, return_exceptions=True)
            await signalling.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Nursing-home telemedicine bridge",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.runtime = runtime
    app.state.signalling = signalling

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if runtime.settings.cookies_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    app.include_router(health.router)
    app.include_router(token_routes.router)
    app.include_router(people_routes.router)
    app.include_router(fhir_routes.router)
    app.include_router(signal_routes.router)
    app.include_router(recording_routes.router)

    # Only the composition root knows the portal exists.
    from portal.mount import error_page, mount_portal

    mount_portal(app)
    install_error_handlers(app, html_renderer=error_page)
    return app
