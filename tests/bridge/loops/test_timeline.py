"""A loop's timeline: steps in time order, each clock's state and time taken, what a full loop still has
to come, finding a loop by a record of it, and who may see it. On both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.accounts.roles import Role
from bridge.auth.principal import Channel, Principal, PrincipalKind
from bridge.auth.scopes import ScopeSet
from bridge.directory.codes import OrgKind
from bridge.errors import NotFound
from bridge.loops.clock_states import ClockState
from bridge.loops.codes import Clock, Step
from bridge.loops.timeline import CANONICAL_STEPS, LoopTimeline, loop_timeline, still_to_come
from bridge.loops.tracker import ClockStart, advance
from tests.bridge.loops.loop_support import DOCTOR, NURSE, PHARMACIST, LoopBuilder, new_builder
from tests.conftest import Bridge


def principal(role: Role, org: str, kind: OrgKind) -> Principal:
    return Principal(
        PrincipalKind.USER, f"{role}-{org}", str(role), org, kind, ScopeSet.parse(""), Channel.BEARER, role
    )


def full_loop(loops: LoopBuilder) -> tuple[str, str]:
    """Result reviewed on time (20 of 60 min), advice acknowledged late (150 of 120 min), prescription
    accepted on time (30 of 120 min), dispensing overdue (due 60 min after acceptance, 90 min ago)."""
    who = loops.parties(pharmacy=True)
    tag = who.patient_id
    report, advice, order, task = (
        f"DiagnosticReport/{tag}",
        f"Communication/{tag}",
        f"MedicationRequest/{tag}",
        f"Task/{tag}",
    )
    with loops.services() as s:
        loop = advance(
            s,
            step=Step.RESULT_RECEIVED,
            subject=report,
            parties=who,
            actor=NURSE,
            starts=[ClockStart(Clock.RESULT_REVIEW, report, loops.due(60))],
        )
    loops.move(20)
    with loops.services() as s:
        advance(
            s,
            step=Step.RESULT_REVIEWED,
            subject=report,
            parties=who,
            actor=DOCTOR,
            stops=[(Clock.RESULT_REVIEW, report)],
        )
        advance(
            s,
            step=Step.ADVICE_SENT,
            subject=advice,
            parties=who,
            actor=DOCTOR,
            links=[report],
            starts=[ClockStart(Clock.ADVICE_ACK, advice, loops.due(120))],
        )
    loops.move(150)
    with loops.services() as s:
        advance(
            s,
            step=Step.ADVICE_ACKNOWLEDGED,
            subject=advice,
            parties=who,
            actor=NURSE,
            stops=[(Clock.ADVICE_ACK, advice)],
        )
        advance(
            s,
            step=Step.PRESCRIPTION_SIGNED,
            subject=order,
            parties=who,
            actor=DOCTOR,
            links=[report],
            starts=[ClockStart(Clock.PHARMACY_REVIEW, task, loops.due(120))],
        )
    loops.move(30)
    with loops.services() as s:
        advance(
            s,
            step=Step.PRESCRIPTION_ACCEPTED,
            subject=task,
            parties=who,
            actor=PHARMACIST,
            links=[order],
            stops=[(Clock.PHARMACY_REVIEW, task)],
            starts=[ClockStart(Clock.DISPENSE, task, loops.due(60))],
        )
    loops.move(150)  # now: 90 minutes past the dispensing deadline
    return loop, order


def timeline_for(loops: LoopBuilder, who: Principal, **find: str) -> LoopTimeline:
    with loops.services() as services:
        return loop_timeline(services, who, **find)


def test_the_timeline_shows_steps_in_order_clock_states_and_what_is_to_come(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    loop, _ = full_loop(loops)
    nurse = principal(Role.NURSE, loops.home, OrgKind.NURSING_HOME)
    timeline = timeline_for(loops, nurse, loop=loop)
    assert [s.step for s in timeline.steps] == [
        "result-received",
        "result-reviewed",
        "advice-sent",
        "advice-acknowledged",
        "prescription-signed",
        "prescription-accepted",
    ]
    assert [s.actor for s in timeline.steps][:2] == [NURSE.display, DOCTOR.display]
    assert [s.at for s in timeline.steps] == sorted(s.at for s in timeline.steps)
    clocks = {c.kind: c for c in timeline.clocks}
    assert clocks["result-review"].state is ClockState.ON_TIME
    assert clocks["result-review"].taken == timedelta(minutes=20) and clocks["result-review"].late_by is None
    assert clocks["advice-ack"].state is ClockState.LATE
    assert clocks["advice-ack"].taken == timedelta(minutes=150)
    assert clocks["advice-ack"].late_by == timedelta(minutes=30)
    assert clocks["advice-ack"].responsible_id == loops.home and clocks["advice-ack"].party == "home"
    assert clocks["pharmacy-review"].state is ClockState.ON_TIME
    assert clocks["dispense"].state is ClockState.OVERDUE and clocks["dispense"].done_at is None
    assert clocks["dispense"].late_by == timedelta(minutes=90)
    assert clocks["dispense"].taken == timedelta(minutes=150)
    assert timeline.to_come == (
        "prescription-dispensed",
        "prescription-dispatched",
        "prescription-delivered",
        "prescription-received",
    )
    assert not timeline.closed and not timeline.on_time
    assert set(timeline.organisations) == {"home", "hospital", "pharmacy"}
    assert timeline.resident_name is None  # a made-up resident: nobody's record to name


def test_a_loop_is_found_by_any_record_of_it(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    loop, order = full_loop(loops)
    doctor = principal(Role.DOCTOR, loops.hospital, OrgKind.INTERNET_HOSPITAL)
    assert timeline_for(loops, doctor, subject=order).loop_id == loop
    assert timeline_for(loops, doctor, subject=f"Task/{order.split('/')[1]}").loop_id == loop
    with pytest.raises(NotFound):
        timeline_for(loops, doctor, subject="MedicationRequest/no-such-thing")
    with pytest.raises(NotFound):
        timeline_for(loops, doctor, loop="DiagnosticReport/no-such-loop")


def test_only_the_loops_organisations_and_their_supervisors_see_it(bridge: Bridge) -> None:
    loops, elsewhere = new_builder(bridge), new_builder(bridge)
    loop, _ = full_loop(loops)
    allowed = [
        principal(Role.NURSE, loops.home, OrgKind.NURSING_HOME),
        principal(Role.DOCTOR, loops.hospital, OrgKind.INTERNET_HOSPITAL),
        principal(Role.PHARMACIST, loops.pharmacy, OrgKind.PHARMACY),
        principal(Role.SUPERVISOR, loops.home, OrgKind.NURSING_HOME),
        principal(Role.SUPERVISOR, loops.pharmacy, OrgKind.PHARMACY),
        principal(Role.SUPERVISOR, "demo-supervision", OrgKind.SUPERVISORY_AUTHORITY),
    ]
    for who in allowed:
        assert timeline_for(loops, who, loop=loop).loop_id == loop, who
    refused = [
        principal(Role.NURSE, elsewhere.home, OrgKind.NURSING_HOME),
        principal(Role.DOCTOR, elsewhere.hospital, OrgKind.INTERNET_HOSPITAL),
        principal(Role.SUPERVISOR, elsewhere.home, OrgKind.NURSING_HOME),
        principal(Role.ADMIN, loops.home, OrgKind.NURSING_HOME),
    ]
    for who in refused:
        with pytest.raises(NotFound):
            timeline_for(loops, who, loop=loop)


def test_a_closed_loop_and_loops_that_ended_otherwise() -> None:
    assert still_to_come([]) == tuple(s.value for s in CANONICAL_STEPS)
    assert still_to_come(["advice-sent"])[0] == "advice-acknowledged"
    assert still_to_come(["prescription-signed", "prescription-received"]) == ()
    assert still_to_come(["prescription-signed", "prescription-cancelled"]) == ()
    assert still_to_come(["prescription-signed", "prescription-rejected", "prescription-signed"])[0] == (
        "prescription-accepted"
    )


def test_a_loop_whose_clocks_were_all_met_on_time_is_closed_on_time(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    loop = loops.result_loop(review_after=59)
    timeline = timeline_for(loops, principal(Role.DOCTOR, loops.hospital, OrgKind.INTERNET_HOSPITAL), loop=loop)
    assert timeline.closed and timeline.on_time
    assert [c.state for c in timeline.clocks] == [ClockState.ON_TIME]
    assert timeline.to_come[0] == "advice-sent"
