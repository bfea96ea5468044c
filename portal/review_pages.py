"""Results awaiting the doctor's review on the resident's page, and the action marking one reviewed (已阅)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep, client_address
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.principal import Principal
from bridge.results.review import PendingReview, mark_reviewed, pending_reviews
from bridge.services import Services

router = APIRouter(include_in_schema=False)


def review_panel(services: Services, principal: Principal, patient_id: str) -> list[PendingReview] | None:
    """The resident's results awaiting review, for doctors; None (no panel) for everyone else."""
    if principal.role is not Role.DOCTOR:
        return None
    return pending_reviews(services, principal, patient_id)


@router.post("/residents/{patient_id}/results/review")
def review_result(
    patient_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    subject: Annotated[str, Form(max_length=140)],
) -> Response:
    clock = mark_reviewed(services, principal, subject)
    record_audit_event(
        services.repository,
        AuditKind.UPDATE,
        Outcome.SUCCESS,
        Actor.of(principal),
        client_address(request),
        f"mark reviewed {subject}",
        services.now(),
        [],
    )
    # The form names the resident only for the way back; the result's own clock says whose it is.
    return RedirectResponse(f"/residents/{clock.patient_id}#results-review", status_code=303)
