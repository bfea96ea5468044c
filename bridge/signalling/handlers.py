"""What each client message does to the consults, inside one database transaction (run in a worker
thread). Returns an Outcome: the reply to the sender and the deliveries to publish after the commit."""

from __future__ import annotations

from collections.abc import Callable

from bridge.consults.caller import Caller
from bridge.consults.events import Outcome
from bridge.consults.invitations import Invitations
from bridge.consults.participation import Participation
from bridge.consults.records import ConsultError
from bridge.consults.service import ConsultService
from bridge.consults.stations import StationRegistry
from bridge.services import Services
from bridge.signalling import presence
from bridge.signalling.protocol import (
    ClientMessage,
    ConsultAction,
    ConsultDecline,
    ConsultInvite,
    ConsultRequest,
    StationArm,
    StationRegister,
)
from bridge.signalling.recording_calls import call_recorder_if_consented

Handler = Callable[[Services, Caller, str, ClientMessage], Outcome]


def _request(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultRequest)
    outcome = ConsultService(services).request(caller, connection_id, m.patient_id, m.urgency, m.reason, m.station_id)
    call_recorder_if_consented(services, outcome)
    return outcome


def _accept(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultAction)
    outcome = ConsultService(services).accept(caller, connection_id, m.consult_id)
    call_recorder_if_consented(services, outcome)
    return outcome


def _decline(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultDecline)
    return ConsultService(services).decline(caller, m.consult_id)


def _cancel(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultAction)
    return ConsultService(services).cancel(caller, m.consult_id)


def _end(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultAction)
    return ConsultService(services).end(caller, m.consult_id)


def _join(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultAction)
    return Participation(services).join(caller, connection_id, m.consult_id)


def _leave(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultAction)
    return Participation(services).leave(caller, m.consult_id)


def _invite(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, ConsultInvite)
    return Invitations(services).invite(caller, m.consult_id, m.role)


def _register(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, StationRegister)
    return StationRegistry(services).register(caller, m.room, m.bed, m.auto_answer)


def _arm(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    assert isinstance(m, StationArm)
    return StationRegistry(services).arm(caller, m.station_id, m.armed)


def _watch_queue(services: Services, caller: Caller, connection_id: str, m: ClientMessage) -> Outcome:
    if not caller.is_doctor:
        raise ConsultError("forbidden", "only hospital doctors watch a queue")
    presence.set_on_duty(services, connection_id, True)
    items = ConsultService(services).queue.snapshot(caller.organization_id)
    return Outcome(reply={"v": 1, "type": "queue.snapshot", "items": items})


HANDLERS: dict[str, Handler] = {
    "consult.request": _request,
    "consult.accept": _accept,
    "consult.decline": _decline,
    "consult.cancel": _cancel,
    "consult.end": _end,
    "consult.join": _join,
    "consult.leave": _leave,
    "consult.invite": _invite,
    "station.register": _register,
    "station.arm": _arm,
    "queue.watch": _watch_queue,
}
