"""Jinja2 rendering with the request's translator, principal, CSRF token and role navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bridge.accounts.roles import Role
from bridge.api.errors import request_translator
from bridge.auth.principal import Principal
from bridge.i18n import LOCALE_NAMES

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

# (path, message key) of each role's navigation, first entry being its home page.
NAVIGATION: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.NURSE: (("/", "nav.residents"), ("/prescriptions", "nav.prescriptions")),
    Role.DOCTOR: (("/", "nav.residents"),),
    Role.PHARMACIST: (("/pharmacy", "nav.prescriptions"), ("/", "nav.residents")),
    Role.SUPERVISOR: (("/", "nav.organizations"), ("/supervision/audit", "nav.audit")),
    Role.ADMIN: (("/", "nav.accounts"), ("/admin/clients", "nav.clients")),
}


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    runtime = request.app.state.runtime
    values: dict[str, Any] = {
        "t": request_translator(request),
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else None,
        "navigation": NAVIGATION.get(principal.role, ()) if principal and principal.role else (),
        "locales": LOCALE_NAMES,
        "current_path": request.url.path,
        "idle_timeout_seconds": runtime.settings.session_idle_timeout_minutes * 60,
        **(context or {}),
    }
    return templates.TemplateResponse(request, template, values, status_code=status_code)
