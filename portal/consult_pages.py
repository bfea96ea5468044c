"""Video consult pages: the nurse starts a consult, the doctor's queue rings, the call itself.

The pages only render; everything that happens in a consult goes over the signalling socket
(docs/signalling.md) from the page's JavaScript (portal/static/consult-*.js). The call page takes
all it shows from one context dict (:func:`call_context`), so an invited guest's route can render it
without a staff session.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fhir_adapter.errors import OperationOutcomeError

from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.api.errors import request_translator
from bridge.auth.principal import Principal
from bridge.consults.states import Urgency
from bridge.consults.stations import StationRegistry
from bridge.consults.views import instant
from bridge.db.tables import BedsideStation, Consult
from bridge.directory.residents import display_name, home_of
from bridge.errors import AccessDenied, FieldError, InvalidInput, NotFound
from bridge.i18n import DEFAULT_LOCALE, Translator, catalogue
from bridge.services import Services
from portal.rendering import render, templates

router = APIRouter(include_in_schema=False)

REASON_MAX = 500
# Message keys the browser scripts need, by prefix; the page hands them over as one JSON block.
CALL_STRINGS = ("consult.", "call.", "readings.")
QUEUE_STRINGS = ("consult.urgency.", "consult.error.", "queue.")
STATION_STRINGS = ("consult.error.", "consult.stations.")


def client_strings(t: Translator, *prefixes: str) -> dict[str, str]:
    """Every message whose key starts with one of the prefixes, in the translator's language."""
    return {key: t(key) for key in catalogue(DEFAULT_LOCALE) if key.startswith(prefixes)}


# Templates that embed consult scripts (the doctor's home page, the resident page) build their
# string blocks with this; the routes that render them need not know.
templates.env.globals["client_strings"] = client_strings


def call_context(
    t: Translator,
    *,
    consult_id: str | None,
    display: str,
    role: str,
    patient: dict[str, str],
    urgency: str,
    hang_up: str = "end",
    back_url: str | None = None,
    request: dict[str, Any] | None = None,
    signal_query: str = "",
    requested_at: str | None = None,
) -> dict[str, Any]:
    """Everything consult_call.html and consult-call.js need; nothing assumes a staff session.

    ``request`` (patient_id, urgency, reason, station_id) makes the page send ``consult.request``
    instead of ``consult.join``. ``hang_up`` is ``end`` for the home's side and the doctor and
    ``leave`` for guests. ``signal_query`` is appended to the socket URL (``guest=<token>``)."""
    return {
        "consult_id": consult_id,
        "me": {"display": display, "role": role},
        "patient": patient,
        "urgency": urgency,
        "requested_at": requested_at,
        "hang_up": hang_up,
        "back_url": back_url,
        "request": request,
        "signal_path": "/ws/signal" + (f"?{signal_query}" if signal_query else ""),
        "strings": client_strings(t, *CALL_STRINGS),
    }


def render_call(request: Request, call: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, "consult_call.html", {"call": call}, status_code)


def visible_consult(services: Services, principal: Principal, consult_id: str) -> Consult:
    """The consult if the principal is staff on one of its two sides and may see its resident; else 404."""
    consult = services.db.get(Consult, consult_id)
    if consult is None:
        raise NotFound()
    side = {Role.NURSE: consult.home_id, Role.DOCTOR: consult.hospital_id}.get(principal.role or Role.ADMIN)
    if not principal.is_user or side != principal.organization_id:
        raise NotFound()
    services.policy.require_resident(principal, consult.patient_id)
    return consult


def _station_of_home(services: Services, station_id: str, home_id: str) -> BedsideStation:
    station = StationRegistry(services).get(station_id)
    if station is None or station.home_id != home_id:
        raise NotFound()
    return station


@router.get("/consults/new")
def new_consult(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    patient: str = "",
    urgency: str = "routine",
    reason: str = "",
    station: str = "",
) -> Response:
    """The requester's page: it sends ``consult.request`` once, then stays the call page."""
    services.policy.require_role(principal, Role.NURSE, Role.DOCTOR)
    resident = services.policy.require_resident(principal, patient)
    errors = []
    if urgency not in {u.value for u in Urgency}:
        errors.append(FieldError("urgency", "consult.field.urgency"))
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        errors.append(FieldError("reason", "consult.field.reason_too_long", {"max": REASON_MAX}))
    if principal.role is Role.DOCTOR and not station:
        errors.append(FieldError("station", "field.required"))
    if errors:
        raise InvalidInput(errors)
    home_id = home_of(resident) or ""
    if station:
        _station_of_home(services, station, home_id)
    t = request_translator(request)
    call = call_context(
        t,
        consult_id=None,
        display=principal.display_name,
        role=principal.role.value if principal.role else "",
        patient={"id": resident["id"], "display": display_name(resident)},
        urgency=urgency,
        back_url=f"/residents/{resident['id']}",
        request={
            "patient_id": resident["id"],
            "urgency": urgency,
            "reason": reason or t(f"consult.default_reason.{urgency}"),
            "station_id": station or None,
        },
    )
    return render_call(request, call)


@router.get("/consults/queue")
def queue(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    services.policy.require_role(principal, Role.DOCTOR)
    return render(request, "consult_queue.html", {})


@router.get("/consults/stations")
def stations(patient: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """The bedside stations of a resident's home, for the resident page's consult card."""
    services.policy.require_role(principal, Role.NURSE, Role.DOCTOR)
    resident = services.policy.require_resident(principal, patient)
    home_id = home_of(resident) or ""
    registry = StationRegistry(services)
    names = _location_names(services, registry.for_home(home_id))
    items = [
        {
            "station_id": s.client_id,
            "room": names.get(s.room_id or "", s.room_id),
            "bed": names.get(s.bed_id or "", s.bed_id),
            "armed": registry.is_armed(s),
            "auto_answer": s.auto_answer,
            "armed_until": instant(s.armed_until) if registry.is_armed(s) else None,
        }
        for s in registry.for_home(home_id)
    ]
    can_arm = principal.role is Role.NURSE and principal.organization_id == home_id
    return JSONResponse({"stations": items, "can_arm": can_arm})


def _location_names(services: Services, stations: list[BedsideStation]) -> dict[str, str]:
    names: dict[str, str] = {}
    for location_id in {i for s in stations for i in (s.room_id, s.bed_id) if i}:
        try:
            names[location_id] = str(services.repository.read("Location", location_id).get("name", location_id))
        except OperationOutcomeError:  # a missing Location must not hide the station; its id still names it
            names[location_id] = location_id
    return names


@router.get("/consults/{consult_id}/call")
def call(consult_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    if principal.role not in {Role.NURSE, Role.DOCTOR}:
        raise AccessDenied()
    consult = visible_consult(services, principal, consult_id)
    call = call_context(
        request_translator(request),
        consult_id=consult.id,
        display=principal.display_name,
        role=principal.role.value if principal.role else "",
        patient={"id": consult.patient_id, "display": consult.patient_display},
        urgency=consult.urgency,
        requested_at=instant(consult.created_at),
        back_url=f"/residents/{consult.patient_id}",
    )
    return render_call(request, call)
