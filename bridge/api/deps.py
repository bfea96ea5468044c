"""FastAPI dependencies: the unit of work and who is calling, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import anyio.to_thread
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


async def get_services(request: Request) -> AsyncIterator[Services]:
    """One transaction per request: committed when the route returns, rolled back when it raises.

    The transaction begins here on the event loop, which costs no I/O (the first statement takes the
    connection), saving a thread hop per request. Commit or rollback run in the thread pool, shielded
    from cancellation, exactly as FastAPI ends a plain generator dependency.
    """
    runtime = get_runtime(request)
    transaction = runtime.session_factory.begin()
    db = transaction.__enter__()
    # FastAPI's rule for a blocking exit: a limiter of its own, so ending a transaction (and returning
    # its connection to the pool) never waits for a worker thread.
    exit_limiter = anyio.CapacityLimiter(1)
    try:
        yield Services(db, runtime)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            suppressed = await anyio.to_thread.run_sync(
                transaction.__exit__, type(exc), exc, exc.__traceback__, limiter=exit_limiter
            )
        if not suppressed:
            raise
    else:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(transaction.__exit__, None, None, None, limiter=exit_limiter)


# scope="function": commit before the response is sent, so a client never sees success for a
# change that then failed to commit.
ServicesDep = Annotated[Services, Depends(get_services, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def optional_principal(request: Request, services: ServicesDep) -> Principal | None:
    # Async to read a form for the CSRF check and to answer a cached bearer token without a thread
    # hop; the database look-ups run in the thread pool so they never hold up the event loop that
    # every other connection shares.
    token = _bearer_token(request)
    principal = services.runtime.principals.get(token, services.now()) if token else None
    if principal is not None:
        request.state.principal = principal
        return principal
    principal = await run_in_threadpool(_resolve_principal, request, services, token)
    if principal is not None and principal.channel is Channel.SESSION and request.method not in SAFE_METHODS:
        await _check_csrf(request, principal)
    return principal


def _bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without the header; 401 for another scheme."""
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("error.token_invalid")
    return token.strip()


def _resolve_principal(request: Request, services: Services, token: str | None) -> Principal | None:
    if token is not None:
        bearer = principal_from_bearer(services, token)
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
