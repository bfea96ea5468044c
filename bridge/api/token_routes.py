"""OAuth 2.0 token endpoint (client_credentials, password) and SMART discovery."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from bridge.accounts.roles import ROLE_MAX_SCOPES, Role
from bridge.api.deps import ServicesDep
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.resolve import client_principal
from bridge.auth.scopes import ScopeError, ScopeSet
from bridge.services import Services

logger = logging.getLogger(__name__)
router = APIRouter(tags=["auth"])

GRANT_TYPES = ("client_credentials", "password")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


@router.post("/auth/token")
def issue_token(
    request: Request,
    services: ServicesDep,
    grant_type: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
) -> JSONResponse:
    address = request.client.host if request.client else None
    if grant_type == "client_credentials":
        basic = _basic_credentials(request.headers.get("Authorization", ""))
        if basic is None and request.headers.get("Authorization"):
            return oauth_error(401, "invalid_client", "malformed Basic credentials", {"WWW-Authenticate": "Basic"})
        cid, secret = basic or (client_id, client_secret)
        return _client_credentials(services, cid, secret, scope, address)
    if grant_type == "password":
        return _password_grant(services, username, password, scope, address)
    return oauth_error(400, "unsupported_grant_type", f"grant_type must be one of {', '.join(GRANT_TYPES)}")


def _client_credentials(
    services: Services, client_id: str, secret: str, scope: str, address: str | None
) -> JSONResponse:
    now = services.now()
    if not client_id or not secret:
        return oauth_error(401, "invalid_client", "client authentication required", {"WWW-Authenticate": "Basic"})
    client = services.clients.authenticate(client_id, secret, now)
    if client is None:
        record_audit_event(
            services.repository,
            AuditKind.TOKEN,
            Outcome.MINOR_FAILURE,
            Actor(client_id, "client"),
            address,
            "client authentication failed",
            now,
        )
        return oauth_error(401, "invalid_client", "unknown client or wrong secret", {"WWW-Authenticate": "Basic"})
    try:
        granted = _grant(ScopeSet.parse(client.scopes), scope)
    except ScopeError as exc:
        return oauth_error(400, "invalid_scope", str(exc))
    principal = client_principal(services, client, granted)
    record_audit_event(
        services.repository,
        AuditKind.TOKEN,
        Outcome.SUCCESS,
        Actor.of(principal),
        address,
        "token issued (client_credentials)",
        now,
    )
    token = services.runtime.tokens.issue("client", client.client_id, str(granted), client.organization_id, now)
    return _token_response(token, services.runtime.tokens.lifetime_seconds, granted)


def _password_grant(services: Services, username: str, password: str, scope: str, address: str | None) -> JSONResponse:
    now = services.now()
    if not username or not password:
        return oauth_error(400, "invalid_request", "username and password are required")
    result = services.accounts.sign_in(username, password, now)
    if result.account is None:
        record_audit_event(
            services.repository,
            AuditKind.TOKEN,
            Outcome.MINOR_FAILURE,
            Actor(username, "account"),
            address,
            "password grant failed",
            now,
        )
        if result.locked_until is not None:
            retry = max(1, int((result.locked_until - now).total_seconds()))
            return oauth_error(
                429, "invalid_grant", "too many failed attempts; try again later", {"Retry-After": str(retry)}
            )
        return oauth_error(401, "invalid_grant", "wrong username or password")
    account = result.account
    try:
        granted = _grant(ScopeSet.parse(ROLE_MAX_SCOPES[Role(account.role)]), scope)
    except ScopeError as exc:
        return oauth_error(400, "invalid_scope", str(exc))
    record_audit_event(
        services.repository,
        AuditKind.TOKEN,
        Outcome.SUCCESS,
        Actor(account.username, "account", account.organization_id),
        address,
        "token issued (password)",
        now,
    )
    token = services.runtime.tokens.issue("user", account.id, str(granted), account.organization_id, now)
    return _token_response(token, services.runtime.tokens.lifetime_seconds, granted)


def _grant(allowed: ScopeSet, requested: str) -> ScopeSet:
    return allowed.narrowed_to(ScopeSet.parse(requested)) if requested.strip() else allowed


def _token_response(token: str, lifetime: int, scopes: ScopeSet) -> JSONResponse:
    return JSONResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": str(scopes)},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    cid, sep, secret = decoded.partition(":")
    # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
    return (unquote(cid), unquote(secret)) if sep else None


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request, services: ServicesDep) -> dict[str, Any]:
    base = services.settings.public_base_url
    scopes = sorted({str(s) for role in Role for s in ScopeSet.parse(ROLE_MAX_SCOPES[role])})
    return {
        "issuer": base,
        "token_endpoint": f"{base}/auth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "grant_types_supported": list(GRANT_TYPES),
        "scopes_supported": [*scopes, "system/*.cruds", "system/*.rs"],
        "response_types_supported": ["token"],
        "capabilities": ["client-confidential-symmetric", "permission-v1", "permission-v2", "permission-user"],
        "code_challenge_methods_supported": [],
    }
