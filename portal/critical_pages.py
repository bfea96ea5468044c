"""Critical-value alerts on the doctor's and the nurse's home pages, and the page action acknowledging one.

The home pages include `_critical_alerts.html`, which asks `critical_alerts()` (a template global) for
the open alerts of the signed-in doctor's or nurse's residents; portal/static/critical-alerts.js adds
alerts raised while the page is open. The home page route does not know about alerts, so the list is
read in a short transaction of its own when the template is rendered.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import pass_context

from bridge.api.deps import PrincipalDep, ServicesDep, client_address
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.principal import Principal
from bridge.fhir_api.context import audit_entities
from bridge.results.alerts import AlertItem, acknowledge, open_alert_items
from bridge.results.critical import limits_for
from bridge.runtime import Runtime
from bridge.services import Services
from portal.auth_pages import safe_next
from portal.rendering import templates

router = APIRouter(include_in_schema=False)


@router.post("/results/alerts/{communication_id}/acknowledge")
def acknowledge_alert(
    communication_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    next: Annotated[str, Form()] = "/",
) -> Response:
    updated = acknowledge(services, principal, communication_id)
    record_audit_event(
        services.repository,
        AuditKind.UPDATE,
        Outcome.SUCCESS,
        Actor.of(principal),
        client_address(request),
        f"acknowledge critical result Communication/{communication_id}",
        services.now(),
        audit_entities(services, [updated]),
    )
    return RedirectResponse(safe_next(next), status_code=303)


@pass_context
def critical_alerts(context: Any) -> list[AlertItem]:
    principal: Principal | None = context.get("principal")
    request: Request | None = context.get("request")
    if principal is None or request is None:
        return []
    runtime: Runtime = request.app.state.runtime
    with runtime.session_factory.begin() as db:
        return open_alert_items(Services(db, runtime), principal, context["t"], limits_for(runtime.settings))


templates.env.globals["critical_alerts"] = critical_alerts
