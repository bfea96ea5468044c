"""`POST /fhir/DiagnosticReport/{id}/$mark-reviewed` and `POST /fhir/Observation/{id}/$mark-reviewed`.

A doctor marks a result reviewed (已阅: a review is a person's act, so not a system client's); this
meets the result-review clock of the loop tracker (bridge/results/review.py).
The answer is the result itself. 404 for a result nobody awaits a review of or out of sight, 403 for
anyone but a doctor, 409 when it was reviewed already.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.api.fhir_http import MediaTypeDep, fhir_response
from bridge.api.fhir_routes import ContextDep, interaction
from bridge.audit import AuditKind
from bridge.results.review import mark_reviewed

router = APIRouter(prefix="/fhir", tags=["fhir"])


@router.post("/{resource_type}/{resource_id}/$mark-reviewed")
def mark_result_reviewed(
    resource_type: Literal["DiagnosticReport", "Observation"],
    resource_id: str,
    request: Request,
    media: MediaTypeDep,
    ctx: ContextDep,
) -> Response:
    interaction(request, AuditKind.UPDATE, resource_type, resource_id)
    mark_reviewed(ctx.services, ctx.principal, f"{resource_type}/{resource_id}")
    result = ctx.services.repository.read(resource_type, resource_id)
    ctx.audit(AuditKind.UPDATE, f"$mark-reviewed {resource_type}/{resource_id}", [result])
    return fhir_response(result, media)
