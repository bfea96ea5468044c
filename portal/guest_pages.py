"""Invited guests (a specialist, an interpreter, a family member): open the one-time link, give a name,
and join the consult's call page without an account. The link works once; the guest then holds a
guest token in a cookie, so a reload or a new network rejoins the same consult."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.api.deps import ServicesDep
from bridge.api.errors import request_translator
from bridge.consults.invitations import GUEST_TOKEN_LIFETIME, Invitations, guest_still_admitted
from bridge.consults.records import ConsultError
from bridge.db.tables import Consult
from bridge.signalling.auth import GUEST_COOKIE
from bridge.signalling.tokens import GUEST, SignalTokenRejected, issue_guest_token, verify_signal_token
from portal.consult_pages import call_context, render_call
from portal.rendering import render

router = APIRouter(include_in_schema=False)

# Why a link does not open, as message keys for the guest's page.
REFUSALS = {"invitation_invalid": "guest.invalid", "consult_ended": "guest.ended", "not_found": "guest.invalid"}


def _refused(request: Request, error: ConsultError) -> Response:
    key = REFUSALS.get(error.code, "guest.invalid")
    return render(request, "guest_join.html", {"refusal": key}, 410 if error.code == "consult_ended" else 404)


@router.get("/join/{token}")
def join_form(token: str, request: Request, services: ServicesDep) -> Response:
    try:
        invitation, _ = Invitations(services).check(token)
    except ConsultError as exc:
        return _refused(request, exc)
    return render(request, "guest_join.html", {"role": invitation.role, "token": token})


@router.post("/join/{token}")
def join(token: str, request: Request, services: ServicesDep, name: Annotated[str, Form()] = "") -> Response:
    invitations = Invitations(services)
    if not " ".join(name.split()):
        try:
            invitation, _ = invitations.check(token)
        except ConsultError as exc:
            return _refused(request, exc)
        context = {"role": invitation.role, "token": token, "error": "guest.name_required"}
        return render(request, "guest_join.html", context, 422)
    try:
        admission = invitations.redeem(token, name)
    except ConsultError as exc:
        return _refused(request, exc)
    guest_token = issue_guest_token(
        services.runtime,
        admission.guest_id,
        admission.consult_id,
        admission.role.value,
        admission.display,
        GUEST_TOKEN_LIFETIME,
    )
    response = RedirectResponse("/guest/call", status_code=303)
    response.set_cookie(
        GUEST_COOKIE,
        guest_token,
        httponly=True,
        samesite="strict",
        secure=services.settings.cookies_secure,
        path="/",
        max_age=int(GUEST_TOKEN_LIFETIME.total_seconds()),
    )
    return response


@router.get("/guest/call")
def guest_call(request: Request, services: ServicesDep) -> Response:
    refused = render(request, "guest_join.html", {"refusal": "guest.invalid"}, 404)
    try:
        claims = verify_signal_token(services.runtime, request.cookies.get(GUEST_COOKIE, ""))
    except SignalTokenRejected:
        return refused
    consult = services.db.get(Consult, claims.consult_id or "")
    if claims.kind != GUEST or consult is None:
        return refused
    if not guest_still_admitted(services, claims.subject_id):
        return render(request, "guest_join.html", {"refusal": "guest.ended"}, 410)
    call = call_context(
        request_translator(request),
        consult_id=consult.id,
        display=claims.display,
        role=claims.role,
        patient={"id": consult.patient_id, "display": consult.patient_display},
        urgency=consult.urgency,
        hang_up="leave",
    )
    return render_call(request, call)
