"""FastAPI dependencies: the unit of work and who is calling, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from bridge.auth.principal import Channel, Principal
from bridge.auth.resolve import principal_from_bearer, principal_from_session
from bridge.auth.sessions import SESSION_COOKIE
from bridge.errors import AccessDenied, AuthenticationRequired
from bridge.runtime import Runtime
from bridge.services import Services

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ENDED_BY_SERVER = frozenset({"idle", "expired", "disabled"})


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_services(request: Request) -> Iterator[Services]:
    """One transaction per request: committed when the route returns, rolled back when it raises."""
    runtime = get_runtime(request)
    with runtime.session_factory.begin() as db:
        yield Services(db, runtime)


# scope="function": commit before the response is sent, so a client never sees success for a
# change that then failed to commit.
ServicesDep = Annotated[Services, Depends(get_services, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def optional_principal(request: Request, services: ServicesDep) -> Principal | None:
    # Async only to read a form for the CSRF check; the database look-ups run in the thread pool so
    # they never hold up the event loop that every other connection shares.
    principal = await run_in_threadpool(_resolve_principal, request, services)
    if principal is not None and principal.channel is Channel.SESSION and request.method not in SAFE_METHODS:
        await _check_csrf(request, principal)
    return principal


def _resolve_principal(request: Request, services: Services) -> Principal | None:
    authorization = request.headers.get("Authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequired("error.token_invalid")
        bearer = principal_from_bearer(services, token.strip())
        request.state.principal = bearer
        return bearer
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    lookup = services.browser_sessions.resolve(cookie, services.now())
    request.state.session_end_reason = lookup.ended_reason
    if lookup.ended_reason in ENDED_BY_SERVER:
        _persist_session_end(services.runtime, cookie, lookup.ended_reason)
    principal = principal_from_session(services, lookup)
    request.state.principal = principal
    return principal


def _persist_session_end(runtime: Runtime, cookie: str, reason: str) -> None:
    """In its own transaction, because the request's is rolled back when it answers 401."""
    with runtime.session_factory.begin() as db:
        Services(db, runtime).browser_sessions.end(cookie, runtime.clock.now(), reason)


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise AuthenticationRequired()
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (header or form field)."""
    assert principal.channel is Channel.SESSION and principal.csrf_token
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, principal.csrf_token):
        raise AccessDenied("error.csrf")


PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
