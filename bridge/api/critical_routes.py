"""The FHIR operation `POST /fhir/Communication/{id}/$acknowledge`: a doctor acknowledges a critical value.

Advice (a Communication in the advice category) is acknowledged on the same path by the home's nurses:
the operation dispatches on the category to bridge/advice/handling.py, which answers in the same way.

The body may be empty or a Parameters resource (its content is not used). The answer is the updated
Communication (status completed, `received`, a note naming the doctor); 404 when there is no such alert
or the caller may not see the resident, 403 for anyone but a doctor, 409 when it was acknowledged
already. Registered ahead of bridge/api/fhir_routes.py: no route there has three path segments after
/fhir, but keeping the operation first makes sure no future catch-all route takes it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.advice.handling import acknowledge_advice
from bridge.advice.parties import is_advice_id
from bridge.api.fhir_http import MediaTypeDep, fhir_response, version_headers
from bridge.api.fhir_routes import ContextDep, interaction
from bridge.audit import AuditKind
from bridge.results.alerts import acknowledge

router = APIRouter(prefix="/fhir", tags=["fhir"])


@router.post("/Communication/{communication_id}/$acknowledge")
def acknowledge_critical_result(
    communication_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep
) -> Response:
    interaction(request, AuditKind.UPDATE, "Communication", communication_id)
    if is_advice_id(ctx.services, communication_id):
        updated = acknowledge_advice(ctx.services, ctx.principal, communication_id)
    else:
        updated = acknowledge(ctx.services, ctx.principal, communication_id)
    ctx.audit(AuditKind.UPDATE, f"$acknowledge Communication/{communication_id}", [updated])
    return fhir_response(updated, media, headers=version_headers(updated))
