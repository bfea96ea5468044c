"""The loop tracker's pages: the supervisor dashboard, a loop's timeline, and the deadline settings.

The supervisor's home page includes `loops_overdue.html`, which asks `loop_overdue_items()` (a template
global) for what is overdue now, read in a short transaction of its own; portal/static/loop-alerts.js
adds the `loop.overdue` alerts that arrive while the page is open.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import pass_context

import portal.consult_pages  # noqa: F401 - registers client_strings, which loops_overdue.html uses
from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.api.errors import request_translator
from bridge.auth.principal import Principal
from bridge.errors import InvalidInput
from bridge.loops.codes import Clock
from bridge.loops.dashboard import (
    DEFAULT_PERIOD,
    PERIODS,
    ROW_KINDS,
    OverdueItem,
    checked_period,
    loop_dashboard,
    responsible_overdue,
    supervised_overdue,
)
from bridge.loops.deadline_admin import (
    DeadlineInvalid,
    change_deadline,
    deadline_list,
    may_change_deadlines,
    refusal_params,
    require_deadline_admin,
    restore_deadline,
)
from bridge.loops.loop_json import timeline_link
from bridge.loops.timeline import loop_timeline
from bridge.runtime import Runtime
from bridge.services import Services
from portal.loop_display import (
    CHART_WIDTH,
    KIND_ROW_HEIGHT,
    LABEL_WIDTH,
    SHARE_ROW_HEIGHT,
    duration_text,
    kind_bars,
    percent,
    share_bars,
)
from portal.prescription_forms import FULL_WIDTH_DIGITS
from portal.rendering import render, templates
from portal.result_entry_pages import local_time

router = APIRouter(include_in_schema=False)
DEADLINES_PATH = "/admin/deadlines"


def _display(request: Request) -> dict[str, Any]:
    t = request_translator(request)
    return {
        "local_time": local_time,
        "duration": lambda value: duration_text(t, value),
        "percent": percent,
        "timeline_link": timeline_link,
    }


@router.get("/supervision/loops")
def dashboard_page(
    request: Request, principal: PrincipalDep, services: ServicesDep, period: str = str(DEFAULT_PERIOD)
) -> Response:
    dashboard = loop_dashboard(services, principal, checked_period(period))
    t = request_translator(request)
    context = {
        **_display(request),
        "dashboard": dashboard,
        "periods": PERIODS,
        "kind_bars": kind_bars(t, dashboard.totals),
        "row_kinds": [kind.value for kind in ROW_KINDS],
        "share_bars": {kind.value: share_bars(dashboard.rows_of(kind.value)) for kind in ROW_KINDS},
        "chart": {
            "width": CHART_WIDTH,
            "label": LABEL_WIDTH,
            "kind_row": KIND_ROW_HEIGHT,
            "share_row": SHARE_ROW_HEIGHT,
        },
        "overdue_items": dashboard.overdue,
    }
    return render(request, "loops_dashboard.html", context)


@router.get("/loops/timeline")
def timeline_page(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    loop: str | None = None,
    subject: str | None = None,
) -> Response:
    timeline = loop_timeline(services, principal, loop=loop or None, subject=subject or None)
    return render(request, "loops_timeline.html", {**_display(request), "timeline": timeline})


def _deadlines_page(request: Request, services: Services, status_code: int = 200, **context: object) -> Response:
    values = {
        **_display(request),
        "deadlines": deadline_list(services),
        "form": {},
        "errors": {},
        "done": request.query_params.get("done"),
        "done_kind": request.query_params.get("kind"),
        **context,
    }
    return render(request, "admin_deadlines.html", values, status_code)


@router.get(DEADLINES_PATH)
def deadlines_page(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    require_deadline_admin(principal)
    return _deadlines_page(request, services)


def _whole(raw: str) -> int | str:
    """A typed number as an int when it is one; otherwise as typed, for the deadline check to refuse."""
    text = raw.strip().translate(FULL_WIDTH_DIGITS) or "0"
    try:
        return int(text)
    except ValueError:
        return raw


@router.post(DEADLINES_PATH)
def save_deadline(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    kind: Annotated[str, Form()] = "",
    hours: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "",
) -> Response:
    require_deadline_admin(principal)
    typed_hours, typed_minutes = _whole(hours), _whole(minutes)
    if isinstance(typed_hours, str) or isinstance(typed_minutes, str):
        total: int | str = typed_hours if isinstance(typed_hours, str) else typed_minutes
    elif typed_hours < 0 or typed_minutes < 0:
        # Each part must make sense on its own: -1 h and 61 min is no way to write one minute.
        total = min(typed_hours, typed_minutes)
    else:
        total = typed_hours * 60 + typed_minutes
    try:
        change_deadline(services, principal, kind, total)
    except DeadlineInvalid as refused:
        return _refused(request, services, kind, refused, {"hours": hours, "minutes": minutes})
    return RedirectResponse(f"{DEADLINES_PATH}?done=saved&kind={kind}", status_code=303)


@router.post(f"{DEADLINES_PATH}/reset")
def reset_deadline_page(
    request: Request, principal: PrincipalDep, services: ServicesDep, kind: Annotated[str, Form()] = ""
) -> Response:
    try:
        restore_deadline(services, principal, kind)
    except DeadlineInvalid as refused:
        return _refused(request, services, kind, refused, {})
    return RedirectResponse(f"{DEADLINES_PATH}?done=reset&kind={kind}", status_code=303)


def _refused(request: Request, services: Services, kind: str, refused: InvalidInput, typed: dict[str, str]) -> Response:
    """The page again with the refusal at the kind's row (or above the table for an unknown kind)."""
    t = request_translator(request)
    error = refused.errors[0]
    message = (error.message_key, refusal_params(error.params, t))
    known = kind in {c.value for c in Clock}
    return _deadlines_page(
        request,
        services,
        422,
        form={kind: typed} if known else {},
        errors={kind: message} if known else {},
        problem=None if known else message,
    )


# Supervisors see what is late among the organisations they watch; staff what their own is late with.
OVERDUE_LIST_ROLES = frozenset({Role.SUPERVISOR, Role.NURSE, Role.DOCTOR, Role.PHARMACIST})


@pass_context
def loop_overdue_items(context: Any) -> list[OverdueItem]:
    principal: Principal | None = context.get("principal")
    request: Request | None = context.get("request")
    if principal is None or request is None or principal.role not in OVERDUE_LIST_ROLES:
        return []
    runtime: Runtime = request.app.state.runtime
    with runtime.session_factory.begin() as db:
        services = Services(db, runtime)
        if principal.role is Role.SUPERVISOR:
            return list(supervised_overdue(services, principal))
        return list(responsible_overdue(services, principal))


templates.env.globals["loop_overdue_items"] = loop_overdue_items
templates.env.globals["may_change_deadlines"] = may_change_deadlines
templates.env.globals["loop_timeline_link"] = timeline_link
templates.env.globals["loop_duration"] = duration_text
templates.env.globals["loop_local_time"] = local_time
