"""One table from error type to response, for the JSON API and (through a renderer) for pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.store.repository import SqlResourceRepository

from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.principal import Principal
from bridge.errors import AccessDenied, AuthenticationRequired, BridgeError, InvalidInput
from bridge.i18n import Translator, negotiate
from bridge.runtime import Runtime

logger = logging.getLogger(__name__)

HtmlRenderer = Callable[[Request, BridgeError], Response]
LANG_COOKIE = "bridge_lang"
_MACHINE_PREFIXES = ("/api/", "/auth/", "/fhir", "/.well-known/", "/healthz", "/ws/", "/ingest/")


def request_translator(request: Request) -> Translator:
    principal: Principal | None = getattr(request.state, "principal", None)
    return Translator(negotiate(principal.locale if principal else None, request.cookies.get(LANG_COOKIE)))


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(_MACHINE_PREFIXES) and "text/html" in request.headers.get("accept", "")


def error_json(request: Request, error: BridgeError) -> JSONResponse:
    t = request_translator(request)
    body: dict[str, Any] = {"error": error.message_key, "message": t(error.message_key, **error.params)}
    if isinstance(error, InvalidInput):
        body["fields"] = [
            {"field": e.field, "error": e.message_key, "message": t(e.message_key, **e.params)} for e in error.errors
        ]
    headers = {}
    if isinstance(error, AuthenticationRequired):
        challenge = 'Bearer realm="bridge"'
        if error.message_key == "error.token_invalid":
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    if isinstance(error, AccessDenied) and error.message_key == "error.insufficient_scope":
        headers["WWW-Authenticate"] = 'Bearer realm="bridge", error="insufficient_scope"'
    return JSONResponse(body, status_code=error.status, headers=headers)


def install_error_handlers(app: FastAPI, html_renderer: HtmlRenderer | None = None) -> None:
    async def on_bridge_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BridgeError)
        if isinstance(exc, AccessDenied):
            _audit_denial(request, exc)
        if html_renderer is not None and wants_html(request):
            return html_renderer(request, exc)
        return error_json(request, exc)

    async def on_fhir_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OperationOutcomeError)
        return JSONResponse(exc.outcome(), status_code=exc.status, media_type="application/fhir+json")

    app.add_exception_handler(BridgeError, on_bridge_error)
    app.add_exception_handler(OperationOutcomeError, on_fhir_error)


def _audit_denial(request: Request, error: AccessDenied) -> None:
    """In its own transaction: the request's own transaction is being rolled back."""
    runtime: Runtime = request.app.state.runtime
    principal: Principal | None = getattr(request.state, "principal", None)
    actor = Actor.of(principal) if principal else Actor("anonymous", "anonymous")
    address = request.client.host if request.client else None
    try:
        with runtime.session_factory.begin() as db:
            record_audit_event(
                SqlResourceRepository(db, now=runtime.clock.now),
                AuditKind.ACCESS_DENIED,
                Outcome.MINOR_FAILURE,
                actor,
                address,
                f"{request.method} {request.url.path}: {error.message_key}",
                runtime.clock.now(),
            )
    except Exception:  # an audit failure must not turn a 403 into a 500
        logger.exception("could not record access denial")
