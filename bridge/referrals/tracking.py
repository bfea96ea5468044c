"""What every referral step does besides writing the resources, in the same unit of work: the loop
tracker's step and clocks, the live news for open pages, and the push to the hospital's FHIR server.

News (after commit, bridge/live_news.py) goes on `results:<receiving hospital>` and `results:<home>`:
`referral.requested` for a new referral, `referral.changed` for a change of status. Like every news
message it says what changed, not what it is: a page fetches the referral with its own access rights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bridge.loops.codes import Clock, Step
from bridge.loops.tracker import ClockStart, Parties, advance
from bridge.prescriptions.actors import ActorRef
from bridge.referrals.context import hospital_of
from bridge.referrals.push import enqueue_referral_push
from bridge.results.news import results_topic
from bridge.services import Services
from bridge.signalling.protocol import PROTOCOL_VERSION

REFERRAL_REQUESTED = "referral.requested"
REFERRAL_CHANGED = "referral.changed"


def record_step(
    services: Services,
    *,
    step: Step,
    patient: dict[str, Any],
    home_id: str,
    request: dict[str, Any],
    task: dict[str, Any],
    actor: ActorRef,
    links: Sequence[str] = (),
    stops: Iterable[Clock] = (),
    starts: Iterable[Clock] = (),
    cancel: bool = False,
    detail: dict[str, Any] | None = None,
) -> str:
    """Record `step` of the referral `request`; the loop id."""
    subject = f"ServiceRequest/{request['id']}"
    hospital = hospital_of(request)
    loop_id = advance(
        services,
        step=step,
        subject=subject,
        parties=Parties(patient["id"], home_id, hospital_id=hospital),
        actor=actor,
        links=links,
        stops=[(clock, subject) for clock in stops],
        cancels=[subject] if cancel else [],
        starts=[ClockStart(clock, subject) for clock in starts],
        detail=detail,
    )
    announce_referral(services, request, task, step, home_id)
    enqueue_referral_push(services, patient, request, task, with_results=step is Step.REFERRAL_REQUESTED)
    return loop_id


def announce_referral(
    services: Services, request: dict[str, Any], task: dict[str, Any], step: Step, home_id: str
) -> None:
    hospital = hospital_of(request)
    message = {
        "v": PROTOCOL_VERSION,
        "type": REFERRAL_REQUESTED if step is Step.REFERRAL_REQUESTED else REFERRAL_CHANGED,
        "step": step.value,
        "service_request": f"ServiceRequest/{request['id']}",
        "task_id": task["id"],
        "patient_id": str((request.get("subject") or {}).get("reference", "")).removeprefix("Patient/"),
        "home_id": home_id,
        "hospital_id": hospital,
        "status": task.get("status"),
        "priority": request.get("priority"),
        "at": services.now().isoformat(),
    }
    for organization in sorted({hospital, home_id} - {""}):
        services.announce(results_topic(organization), message)
