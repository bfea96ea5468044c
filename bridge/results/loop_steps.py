"""Results in the care loop: what came up, the doctor's review, and critical values.

Each laboratory report or ECG that arrives starts a review clock for the hospital that serves the
home (the first contracted one: the dashboard counts each clock once). Vital signs a nurse enters do
not: a doctor does not sign off every blood pressure; a critical one raises an alert with its own clock.
The review clock is met by the doctor marking the result reviewed (bridge/results/review.py) or by
acknowledging a critical value in it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from bridge.auth.principal import Principal
from bridge.directory.codes import ContractKind
from bridge.directory.residents import home_of
from bridge.loops.codes import Clock, Step
from bridge.loops.tables import LoopStep
from bridge.loops.tracker import Actor, ClockStart, Parties, advance
from bridge.prescriptions.actors import ActorRef, actor_of
from bridge.services import Services

REVIEWED_KINDS = frozenset({"lab", "ecg"})


def sender_actor(services: Services, sender: Principal | None, home_id: str) -> Actor:
    """Who a result came up from: the sender when known, else the resident's home (a caller without one)."""
    if sender is not None:
        return actor_of(sender)
    return ActorRef(f"Organization/{home_id}", services.organizations.names({home_id}).get(home_id, home_id))


def review_units(stored: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """What a doctor reviews as one: each DiagnosticReport with its results, and each Observation no
    report in the batch lists."""
    units: dict[str, list[str]] = {}
    listed: set[str] = set()
    for resource in stored:
        if resource["resourceType"] == "DiagnosticReport":
            results = [r["reference"] for r in resource.get("result", []) if "reference" in r]
            units[f"DiagnosticReport/{resource['id']}"] = results
            listed.update(results)
    for resource in stored:
        reference = f"Observation/{resource['id']}"
        if resource["resourceType"] == "Observation" and reference not in listed:
            units[reference] = [reference]
    return units


def serving_hospital(services: Services, home_id: str) -> str | None:
    hospitals = sorted(services.contracts.providers_of(home_id, ContractKind.TELEMEDICINE, services.now().date()))
    return hospitals[0] if hospitals else None


def track_results_received(
    services: Services,
    patient: dict[str, Any],
    stored: Sequence[dict[str, Any]],
    kind: str,
    sender: Principal | None = None,
) -> None:
    home = home_of(patient)
    if home is None or kind not in REVIEWED_KINDS:
        return
    parties = Parties(patient["id"], home, serving_hospital(services, home))
    actor = sender_actor(services, sender, home)
    for unit, results in review_units(stored).items():
        advance(
            services,
            step=Step.RESULT_RECEIVED,
            subject=unit,
            parties=parties,
            actor=actor,
            starts=[ClockStart(Clock.RESULT_REVIEW, unit)],
            detail={"kind": kind, "results": results},
        )


def units_holding(services: Services, patient_id: str, observation: str) -> list[str]:
    """The received results (reports or lone Observations) that hold `observation`."""
    rows = services.db.scalars(
        select(LoopStep).where(LoopStep.patient_id == patient_id, LoopStep.step == Step.RESULT_RECEIVED.value)
    )
    return [row.subject for row in rows if observation in json.loads(row.detail).get("results", [])]


def track_critical_alerted(
    services: Services,
    communication_id: str,
    patient_id: str,
    observation_id: str,
    home_id: str,
    hospitals: list[str],
    sender: Principal | None = None,
) -> None:
    observation = f"Observation/{observation_id}"
    communication = f"Communication/{communication_id}"
    advance(
        services,
        step=Step.CRITICAL_ALERTED,
        subject=communication,
        parties=Parties(patient_id, home_id, hospitals[0] if hospitals else None),
        actor=sender_actor(services, sender, home_id),
        links=[*units_holding(services, patient_id, observation), observation],
        starts=[ClockStart(Clock.CRITICAL_ACK, communication)],
        detail={"observation": observation},
    )


def track_critical_acknowledged(
    services: Services,
    actor: Actor,
    communication_id: str,
    patient_id: str,
    observation_id: str,
    home_id: str,
    hospital_id: str,
) -> None:
    """The acknowledgement meets the alert's clock and the review of the result that held the value."""
    communication = f"Communication/{communication_id}"
    units = units_holding(services, patient_id, f"Observation/{observation_id}")
    advance(
        services,
        step=Step.CRITICAL_ACKNOWLEDGED,
        subject=communication,
        parties=Parties(patient_id, home_id, hospital_id),
        actor=actor,
        stops=[(Clock.CRITICAL_ACK, communication), *((Clock.RESULT_REVIEW, unit) for unit in units)],
    )
