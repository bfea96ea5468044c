"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.api.deps import OptionalPrincipalDep, ServicesDep
from bridge.api.errors import LANG_COOKIE
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.sessions import SESSION_COOKIE
from bridge.errors import AccessDenied
from bridge.i18n import SUPPORTED_LOCALES
from portal.rendering import render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "bridge_login_csrf"
ONE_YEAR = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(request: Request, next_path: str, status_code: int = 200, **context: object) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", {"login_csrf": token, "next": next_path, **context}, status_code)
    secure = request.app.state.runtime.settings.cookies_secure
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    return response


@router.get("/login")
def login_form(
    request: Request, principal: OptionalPrincipalDep, next: str = "/", reason: str | None = None
) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(
        request,
        safe_next(next),
        notice=f"login.notice_{reason}" if reason in {"idle", "logout", "expired", "required"} else None,
    )


@router.post("/login")
def login_submit(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not hmac.compare_digest(cookie, csrf_token):
        raise AccessDenied("error.csrf")
    field_errors = {
        name: "field.required" for name, value in (("username", username), ("password", password)) if not value.strip()
    }
    if field_errors:
        return _login_page(request, safe_next(next), 422, errors=field_errors, username=username)
    now = services.now()
    address = request.client.host if request.client else None
    result = services.accounts.sign_in(username, password, now)
    if result.account is None:
        record_audit_event(
            services.repository,
            AuditKind.LOGIN,
            Outcome.MINOR_FAILURE,
            Actor(username, "account"),
            address,
            "sign-in failed",
            now,
        )
        if result.locked_until is not None:
            minutes = max(1, round((result.locked_until - now).total_seconds() / 60))
            return _login_page(
                request,
                safe_next(next),
                429,
                error="login.locked",
                error_params={"minutes": minutes},
                username=username,
            )
        return _login_page(request, safe_next(next), 401, error="login.failed", username=username)
    account = result.account
    started = services.browser_sessions.start(account, now, address)
    record_audit_event(
        services.repository,
        AuditKind.LOGIN,
        Outcome.SUCCESS,
        Actor(account.username, "account", account.organization_id),
        address,
        "signed in",
        now,
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    settings = services.settings
    response.set_cookie(
        SESSION_COOKIE,
        started.cookie_value,
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
        path="/",
        max_age=settings.session_max_age_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    if account.locale:
        response.set_cookie(LANG_COOKIE, account.locale, max_age=ONE_YEAR, samesite="lax")
    return response


@router.post("/logout")
def logout(request: Request, services: ServicesDep, principal: OptionalPrincipalDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if principal is not None and cookie:
        services.browser_sessions.end(cookie, services.now())
        record_audit_event(
            services.repository,
            AuditKind.LOGOUT,
            Outcome.SUCCESS,
            Actor.of(principal),
            request.client.host if request.client else None,
            "signed out",
            services.now(),
        )
    response = RedirectResponse("/login?reason=logout", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang")
def switch_language(
    request: Request,
    services: ServicesDep,
    principal: OptionalPrincipalDep,
    locale: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if locale not in SUPPORTED_LOCALES:
        return response
    if principal is not None and principal.is_user:
        services.accounts.set_locale(services.accounts.get(principal.subject_id), locale)
    response.set_cookie(LANG_COOKIE, locale, max_age=ONE_YEAR, samesite="lax", secure=services.settings.cookies_secure)
    return response
