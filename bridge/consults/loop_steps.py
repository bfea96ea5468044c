"""A video consult in the care loop: requested, accepted and ended, each a step about its Encounter.

The consult has its own deadlines (the queue rings, escalates and alerts supervisors: bridge/consults/
queue.py), so it starts no clock here; it records where the consult stands in the resident's loop, so
that advice or a prescription naming the consult's Encounter joins its loop and `?subject=Encounter/<id>`
shows the consult's timeline.
"""

from __future__ import annotations

from bridge.consults.caller import Caller
from bridge.db.tables import Consult
from bridge.loops.codes import Step
from bridge.loops.tracker import Parties, advance
from bridge.prescriptions.actors import ActorRef
from bridge.services import Services


def track_consult_step(services: Services, consult: Consult, step: Step, caller: Caller | None) -> None:
    home = consult.home_id
    # A bedside station answering a ward round by itself: the home's side acted.
    actor = caller or ActorRef(f"Organization/{home}", services.organizations.names({home}).get(home, home))
    advance(
        services,
        step=step,
        subject=f"Encounter/{consult.id}",
        parties=Parties(consult.patient_id, consult.home_id, consult.hospital_id),
        actor=actor,
        detail={"urgency": consult.urgency, "reason": consult.reason} if step is Step.CONSULT_REQUESTED else None,
    )
