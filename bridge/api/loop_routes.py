"""JSON API of the loop tracker: a loop's timeline, the supervisor dashboard, and the deadlines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.api.errors import request_translator
from bridge.errors import FieldError, InvalidInput
from bridge.loops.dashboard import DEFAULT_PERIOD, checked_period, loop_dashboard
from bridge.loops.deadline_admin import (
    DeadlineInvalid,
    change_deadline,
    deadline_list,
    refusal_params,
    restore_deadline,
)
from bridge.loops.loop_json import dashboard_json, deadline_json, timeline_json
from bridge.loops.timeline import loop_timeline

router = APIRouter(prefix="/api/loops", tags=["loops"])


@router.get("/dashboard")
def dashboard(principal: PrincipalDep, services: ServicesDep, period: str = str(DEFAULT_PERIOD)) -> dict[str, Any]:
    return dashboard_json(loop_dashboard(services, principal, checked_period(period)))


@router.get("/timeline")
def timeline(
    principal: PrincipalDep, services: ServicesDep, loop: str | None = None, subject: str | None = None
) -> dict[str, Any]:
    if not loop and not subject:
        raise InvalidInput([FieldError("loop", "loops.error.loop_or_subject")])
    return timeline_json(loop_timeline(services, principal, loop=loop, subject=subject))


@router.get("/deadlines")
def deadlines(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return {"deadlines": [deadline_json(d) for d in deadline_list(services)]}


@router.put("/deadlines/{kind}")
def put_deadline(
    kind: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    try:
        return deadline_json(change_deadline(services, principal, kind, body.get("minutes")))
    except DeadlineInvalid as refused:
        raise _in_words(refused, request) from None


@router.delete("/deadlines/{kind}")
def delete_deadline(kind: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    try:
        return deadline_json(restore_deadline(services, principal, kind))
    except DeadlineInvalid as refused:
        raise _in_words(refused, request) from None


def _in_words(refused: DeadlineInvalid, request: Request) -> DeadlineInvalid:
    """The refusal naming the kind of clock in the caller's language rather than by its code."""
    t = request_translator(request)
    refused.params = refusal_params(refused.params, t)
    for error in refused.errors:
        error.params = refusal_params(error.params, t)
    return refused
