"""What each prescription step means to the loop tracker: which clock it meets and which it starts.

Signing starts the pharmacy's review; acceptance starts dispensing; dispensing starts delivery;
delivery starts the nurse's receipt. A rejection meets the review (the pharmacy answered; the doctor's
revision is a new signing), a cancellation makes every clock of the Task moot.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.loops.codes import Clock
from bridge.loops.codes import Step as LoopStepKind
from bridge.loops.tracker import ClockStart, Parties, advance
from bridge.prescriptions.actors import ActorRef
from bridge.prescriptions.codes import Step
from bridge.services import Services

LOOP_STEP: dict[Step, LoopStepKind] = {
    Step.SIGNED: LoopStepKind.PRESCRIPTION_SIGNED,
    Step.ACCEPTED: LoopStepKind.PRESCRIPTION_ACCEPTED,
    Step.REJECTED: LoopStepKind.PRESCRIPTION_REJECTED,
    Step.DISPENSED: LoopStepKind.PRESCRIPTION_DISPENSED,
    Step.DISPATCHED: LoopStepKind.PRESCRIPTION_DISPATCHED,
    Step.DELIVERED: LoopStepKind.PRESCRIPTION_DELIVERED,
    Step.RECEIVED: LoopStepKind.PRESCRIPTION_RECEIVED,
    Step.CANCELLED: LoopStepKind.PRESCRIPTION_CANCELLED,
}
# A nurse may confirm receipt of what a courier handed over before the pharmacy recorded the delivery:
# the receipt then meets the delivery too.
MEETS: dict[Step, tuple[Clock, ...]] = {
    Step.ACCEPTED: (Clock.PHARMACY_REVIEW,),
    Step.REJECTED: (Clock.PHARMACY_REVIEW,),
    Step.DISPENSED: (Clock.DISPENSE,),
    Step.DELIVERED: (Clock.DELIVERY,),
    Step.RECEIVED: (Clock.DELIVERY, Clock.RECEIPT),
}
STARTS: dict[Step, Clock] = {
    Step.SIGNED: Clock.PHARMACY_REVIEW,
    Step.ACCEPTED: Clock.DISPENSE,
    Step.DISPENSED: Clock.DELIVERY,
    Step.DELIVERED: Clock.RECEIPT,
}


def track_prescription_step(
    services: Services,
    step: Step,
    actor: ActorRef,
    *,
    medication_request_id: str,
    task_id: str | None,
    parties: Parties,
    links: Sequence[str] = (),
) -> None:
    request = f"MedicationRequest/{medication_request_id}"
    task = f"Task/{task_id}" if task_id else None
    # Signing is about the prescription (and joins the loop of what it names); the pharmacy's steps are
    # about its Task and join the prescription's loop.
    subject = request if step is Step.SIGNED or task is None else task
    advance(
        services,
        step=LOOP_STEP[step],
        subject=subject,
        parties=parties,
        actor=actor,
        links=[request, *links] if subject != request else list(links),
        stops=[(clock, task) for clock in MEETS.get(step, ())] if task else [],
        # A rejection may come after acceptance: whatever else the Task awaited will not happen now.
        cancels=[task] if step in (Step.CANCELLED, Step.REJECTED) and task else [],
        starts=[ClockStart(STARTS[step], task)] if step in STARTS and task else [],
    )


def prescription_links(request: dict[str, object]) -> list[str]:
    """The records a prescription names (its consult, the results behind it), in the loop's order of preference."""
    links: list[str] = []
    encounter = request.get("encounter")
    if isinstance(encounter, dict) and isinstance(encounter.get("reference"), str):
        links.append(encounter["reference"])
    for field in ("supportingInformation", "reasonReference", "basedOn"):
        values = request.get(field)
        for value in values if isinstance(values, list) else []:
            if isinstance(value, dict) and isinstance(value.get("reference"), str):
                links.append(value["reference"])
    return links
