"""The loop tracker's bookkeeping: which loop a step joins, clocks started, met, cancelled, never doubled."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from bridge.clock import as_utc
from bridge.loops.codes import Clock, Outcome, Step
from bridge.loops.tables import LoopClock, LoopStep
from bridge.loops.tracker import ClockStart, Parties, advance, loop_of, open_clocks
from bridge.prescriptions.actors import ActorRef
from tests.conftest import Bridge

DOCTOR = ActorRef("Practitioner/loop-test-doctor", "Dr Loop")
NURSE = ActorRef("Practitioner/loop-test-nurse", "Nurse Loop")


def parties() -> Parties:
    tag = uuid.uuid4().hex[:8]
    return Parties(f"pt-{tag}", f"home-{tag}", f"hosp-{tag}", f"pharm-{tag}")


def test_a_step_naming_a_record_joins_that_records_loop_and_an_unrelated_resident_gets_a_new_one(
    bridge: Bridge,
) -> None:
    who = parties()
    with bridge.services() as services:
        first = advance(services, step=Step.RESULT_RECEIVED, subject="DiagnosticReport/lt-1", parties=who, actor=DOCTOR)
        advice = advance(
            services,
            step=Step.ADVICE_SENT,
            subject="Communication/lt-2",
            parties=who,
            actor=DOCTOR,
            links=["DiagnosticReport/lt-1"],
        )
        other = advance(
            services, step=Step.RESULT_RECEIVED, subject="DiagnosticReport/lt-3", parties=parties(), actor=DOCTOR
        )
        assert first == "DiagnosticReport/lt-1"
        assert advice == first
        assert other == "DiagnosticReport/lt-3"
        assert loop_of(services, ["Communication/lt-2"]) == first


def test_an_unlinked_step_joins_the_residents_loop_within_the_window_and_not_after(bridge: Bridge) -> None:
    who = parties()
    tag = who.patient_id
    with bridge.services() as services:
        opened = advance(services, step=Step.RESULT_RECEIVED, subject=f"Observation/{tag}-a", parties=who, actor=NURSE)
    with bridge.clock.advanced(timedelta(hours=71)), bridge.services() as services:
        joined = advance(services, step=Step.ADVICE_SENT, subject=f"Communication/{tag}-b", parties=who, actor=DOCTOR)
    with bridge.clock.advanced(timedelta(hours=73)), bridge.services() as services:
        fresh = advance(services, step=Step.RESULT_RECEIVED, subject=f"Observation/{tag}-c", parties=who, actor=NURSE)
    assert joined == opened
    assert fresh == f"Observation/{tag}-c"


def test_clocks_start_with_the_deadline_in_force_and_stop_once_when_met(bridge: Bridge) -> None:
    who = parties()
    task = f"Task/{who.patient_id}"
    with bridge.services() as services:
        started_at = services.now()
        advance(
            services,
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/{who.patient_id}",
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.PHARMACY_REVIEW, task)],
        )
        # A second start of the same clock on the same subject keeps the one running.
        advance(
            services,
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/{who.patient_id}",
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.PHARMACY_REVIEW, task)],
        )
        (clock,) = open_clocks(services, task)
        assert clock.responsible_id == who.pharmacy_id
        assert abs(as_utc(clock.due_at) - started_at - timedelta(hours=2)) < timedelta(seconds=5)
    with bridge.clock.advanced(timedelta(minutes=30)), bridge.services() as services:
        advance(
            services,
            step=Step.PRESCRIPTION_ACCEPTED,
            subject=task,
            parties=who,
            actor=ActorRef(f"Organization/{who.pharmacy_id}", "Pharmacy"),
            stops=[(Clock.PHARMACY_REVIEW, task)],
            starts=[ClockStart(Clock.DISPENSE, task)],
        )
    with bridge.services() as services:
        rows = services.db.scalars(select(LoopClock).where(LoopClock.subject == task).order_by(LoopClock.id)).all()
        assert [(r.kind, r.outcome) for r in rows] == [("pharmacy-review", "met"), ("dispense", None)]
        took = as_utc(rows[0].done_at) - as_utc(rows[0].started_at)
        assert abs(took - timedelta(minutes=30)) < timedelta(seconds=5)
        steps = services.db.scalars(select(LoopStep.step).where(LoopStep.patient_id == who.patient_id)).all()
        assert steps.count("prescription-signed") == 2 and "prescription-accepted" in steps


def test_a_cancelled_subject_cancels_its_open_clocks_and_a_party_nobody_can_be_alerted_starts_none(
    bridge: Bridge,
) -> None:
    who = parties()
    task = f"Task/{who.patient_id}"
    with bridge.services() as services:
        advance(
            services,
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/{who.patient_id}",
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.PHARMACY_REVIEW, task)],
        )
        advance(
            services,
            step=Step.PRESCRIPTION_CANCELLED,
            subject=task,
            parties=who,
            actor=DOCTOR,
            cancels=[task],
        )
        no_pharmacy = Parties(who.patient_id, who.home_id, who.hospital_id, None)
        advance(
            services,
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/{who.patient_id}-2",
            parties=no_pharmacy,
            actor=DOCTOR,
            starts=[ClockStart(Clock.PHARMACY_REVIEW, f"{task}-2")],
        )
        rows = services.db.scalars(select(LoopClock).where(LoopClock.patient_id == who.patient_id)).all()
        assert [(r.subject, r.outcome) for r in rows] == [(task, Outcome.CANCELLED.value)]


def test_a_link_to_another_residents_record_does_not_pull_a_step_into_that_residents_loop(bridge: Bridge) -> None:
    first, second = parties(), parties()
    with bridge.services() as services:
        theirs = advance(
            services, step=Step.ADVICE_SENT, subject=f"Communication/{first.patient_id}", parties=first, actor=DOCTOR
        )
        mine = advance(
            services,
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/{second.patient_id}",
            parties=second,
            actor=DOCTOR,
            links=[f"Communication/{first.patient_id}"],
        )
    assert theirs == f"Communication/{first.patient_id}"
    assert mine == f"MedicationRequest/{second.patient_id}"
