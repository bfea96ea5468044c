"""One table from error type to response, for the JSON API and (through a renderer) for pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fhir_adapter.errors import Issue, OperationOutcomeError
from fhir_adapter.store.repository import SqlResourceRepository
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.principal import Principal
from bridge.errors import AccessDenied, AuthenticationRequired, BridgeError, InvalidInput
from bridge.fhir_api.context import Attempt, attempted_entities
from bridge.fhir_api.outcomes import as_outcome_error
from bridge.i18n import Translator, negotiate
from bridge.runtime import Runtime
from bridge.services import Services

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
        if is_fhir(request):
            return await fhir_error(request, as_outcome_error(exc, request_translator(request)))
        if isinstance(exc, AccessDenied):
            await run_in_threadpool(_audit_denial, request, exc)
        if html_renderer is not None and wants_html(request):
            return html_renderer(request, exc)
        return error_json(request, exc)

    async def on_fhir_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OperationOutcomeError)
        return await fhir_error(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_fhir(request):
            return await http_exception_handler(request, exc)
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        return await fhir_error(
            request,
            OperationOutcomeError.single(exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}"),
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_fhir(request):
            return await request_validation_exception_handler(request, exc)
        issues = [
            Issue("error", "invalid", str(e.get("msg")), (".".join(map(str, e.get("loc", ()))),)) for e in exc.errors()
        ]
        return await fhir_error(request, OperationOutcomeError(400, issues))

    app.add_exception_handler(BridgeError, on_bridge_error)
    app.add_exception_handler(OperationOutcomeError, on_fhir_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


async def fhir_error(request: Request, error: OperationOutcomeError) -> Response:
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="bridge", error="invalid_token"'
    await run_in_threadpool(_audit_fhir_failure, request, error)
    return JSONResponse(error.outcome(), status_code=error.status, media_type="application/fhir+json", headers=headers)


def _audit_fhir_failure(request: Request, error: OperationOutcomeError) -> None:
    """A refused or failed FHIR interaction by a known caller, in its own transaction (the request's rolled back)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    attempted: Attempt | None = getattr(request.state, "fhir_interaction", None)
    if principal is None or attempted is None:
        return
    runtime: Runtime = request.app.state.runtime
    outcome = Outcome.MINOR_FAILURE if error.status < 500 else Outcome.SERIOUS_FAILURE
    try:
        with runtime.session_factory.begin() as db:
            services = Services(db, runtime)
            record_audit_event(
                services.repository,
                attempted.kind,
                outcome,
                Actor.of(principal),
                request.client.host if request.client else None,
                f"{attempted.description}: {error.status} {error}",
                runtime.clock.now(),
                attempted_entities(services, attempted.target),
            )
    except Exception:  # an audit failure must not turn a 4xx into a 500
        logger.exception("could not record a failed FHIR interaction")


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
