"""The supervisor dashboard's figures from loops of known durations: counts, medians and 90th
percentiles, shares of clocks and of loops on time, the overdue list, the period, and whose rows a
supervisor sees. On both backends (the `bridge` fixture)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bridge.errors import AccessDenied, InvalidInput
from bridge.loops.codes import Clock, Step
from bridge.loops.dashboard import Dashboard, OrganisationRow, build_dashboard, checked_period, loop_dashboard
from bridge.loops.overdue import alert_overdue
from bridge.loops.tables import LoopClock
from bridge.loops.tracker import ClockStart, advance, stop_clocks
from tests.bridge.loops.loop_support import DOCTOR, PHARMACIST, LoopBuilder, new_builder
from tests.conftest import Bridge


def row(dashboard: Dashboard, org: str) -> OrganisationRow:
    (found,) = [r for r in dashboard.rows if r.id == org]
    return found


def build_reviews(loops: LoopBuilder) -> None:
    """Ten results reviewed after 10, 20, ..., 100 minutes against a 60-minute deadline; one overdue
    now; one still in time; one whose only clock was cancelled; one prescription accepted in 30 minutes."""
    for n in range(1, 11):
        loops.result_loop(review_after=10 * n)
    loops.result_loop(review_after=None, deadline=-5)  # due five minutes ago, not reviewed
    loops.result_loop(review_after=None, deadline=30)  # awaited, in time
    who = loops.parties()
    report = f"DiagnosticReport/{who.patient_id}"
    with loops.services() as services:
        advance(
            services,
            step=Step.RESULT_RECEIVED,
            subject=report,
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.RESULT_REVIEW, report, loops.due(60))],
        )
        advance(
            services,
            step=Step.TASK_CANCELLED,
            subject=f"Task/{who.patient_id}",
            parties=who,
            actor=DOCTOR,
            links=[report],
            cancels=[report],
        )
    who = loops.parties(pharmacy=True)
    task = f"Task/{who.patient_id}"
    with loops.services() as services:
        advance(
            services,
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/{who.patient_id}",
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.PHARMACY_REVIEW, task, loops.due(120))],
        )
    loops.move(30)
    with loops.services() as services:
        advance(
            services,
            step=Step.PRESCRIPTION_ACCEPTED,
            subject=task,
            parties=who,
            actor=PHARMACIST,
            links=[f"MedicationRequest/{who.patient_id}"],
            stops=[(Clock.PHARMACY_REVIEW, task)],
        )
    loops.move(-30)


def test_medians_percentiles_and_on_time_shares_are_exact_for_known_durations(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    build_reviews(loops)
    scope = frozenset({loops.home, loops.hospital, loops.pharmacy})
    with loops.services() as services:
        dashboard = build_dashboard(services, scope, 30)

    hospital = row(dashboard, loops.hospital)
    (review,) = hospital.kinds
    assert review.kind == Clock.RESULT_REVIEW.value
    assert (review.met, review.met_on_time, review.open, review.overdue) == (10, 6, 2, 1)
    assert review.median_seconds == 55 * 60  # of 10, 20, ..., 100 minutes
    assert review.p90_seconds == 91 * 60  # interpolated between 90 and 100 minutes, as numpy does
    # Met on time over met or overdue now: the clock still in time is not decided yet.
    assert review.share_on_time == pytest.approx(6 / 11)
    assert hospital.share_clocks_on_time == pytest.approx(6 / 11)
    # 14 loops name the hospital; 13 have a clock that counts (one was cancelled); 10 closed, 6 of
    # them on time; 5 late (4 met late, 1 overdue); the loop in time is not decided.
    assert hospital.loops.loops == 14
    assert (hospital.loops.tracked, hospital.loops.closed, hospital.loops.closed_on_time, hospital.loops.late) == (
        13,
        11,
        7,
        5,
    )
    assert hospital.share_loops_on_time == pytest.approx(7 / 12)
    assert hospital.steps == 10 * 2 + 1 + 1 + 2 + 2

    pharmacy = row(dashboard, loops.pharmacy)
    (accepted,) = pharmacy.kinds
    assert (accepted.met, accepted.median_seconds, accepted.p90_seconds) == (1, 1800.0, 1800.0)
    assert accepted.deadline_minutes is not None
    assert pharmacy.loops.loops == 1 and pharmacy.share_loops_on_time == 1.0 and pharmacy.steps == 2

    home = row(dashboard, loops.home)
    assert home.kinds == () and home.share_clocks_on_time is None  # the home was responsible for nothing
    assert home.loops.loops == 14 and home.steps == hospital.steps

    totals = {k.kind: k for k in dashboard.totals}
    assert totals[Clock.RESULT_REVIEW.value].p90_seconds == 91 * 60
    assert totals[Clock.PHARMACY_REVIEW.value].median_seconds == 1800
    assert totals[Clock.DISPENSE.value].median_seconds is None


def test_the_overdue_list_holds_what_is_awaited_past_due_with_how_late(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    late_loop = loops.result_loop(review_after=None, deadline=-45)
    loops.result_loop(review_after=None, deadline=45)
    loops.result_loop(review_after=90)  # met late: not overdue now
    with loops.services() as services:
        dashboard = build_dashboard(services, frozenset({loops.home}), 7)
    (item,) = dashboard.overdue
    assert item.loop_id == late_loop and item.kind == Clock.RESULT_REVIEW.value
    assert item.responsible_id == loops.hospital and item.party == "hospital"
    assert item.late_by == timedelta(minutes=45)
    assert row(dashboard, loops.home).loops.late == 2
    # An hour later the second one is overdue too, 15 minutes.
    loops.move(60)
    with loops.services() as services:
        later = build_dashboard(services, frozenset({loops.home}), 7)
    assert [i.late_by for i in later.overdue] == [timedelta(minutes=105), timedelta(minutes=15)]


def test_the_period_counts_loops_opened_within_it(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    loops.move(-40 * 24 * 60)
    loops.result_loop(review_after=20)
    loops.move(40 * 24 * 60)
    loops.result_loop(review_after=80)
    scope = frozenset({loops.hospital})
    with loops.services() as services:
        month, quarter = build_dashboard(services, scope, 30), build_dashboard(services, scope, 90)
    assert row(month, loops.hospital).loops.loops == 1
    assert row(month, loops.hospital).kinds[0].median_seconds == 80 * 60
    assert row(quarter, loops.hospital).loops.loops == 2
    assert row(quarter, loops.hospital).kinds[0].median_seconds == 50 * 60
    assert row(quarter, loops.hospital).share_loops_on_time == 0.5


def test_a_supervisor_sees_the_rows_of_the_organisations_supervised_and_no_others(bridge: Bridge) -> None:
    ours, theirs = new_builder(bridge), new_builder(bridge)
    ours.result_loop(review_after=10)
    theirs.result_loop(review_after=None, deadline=-10)
    with ours.services() as services:
        mine = build_dashboard(services, frozenset({ours.home}), 30)
        everyone = build_dashboard(services, None, 30)
    assert [r.id for r in mine.rows] == [ours.home]
    assert theirs.home not in {i.home_id for i in mine.overdue}
    ids = {r.id for r in everyone.rows}
    assert {ours.home, ours.hospital, ours.pharmacy, theirs.home, theirs.hospital} <= ids
    assert any(i.home_id == theirs.home for i in everyone.overdue)


def test_only_supervisors_see_the_dashboard_and_the_period_is_checked(bridge: Bridge) -> None:
    from bridge.accounts.roles import Role
    from bridge.auth.principal import Channel, Principal, PrincipalKind
    from bridge.auth.scopes import ScopeSet
    from bridge.directory.codes import OrgKind

    nurse = Principal(
        PrincipalKind.USER,
        "x",
        "n",
        "demo-home-1",
        OrgKind.NURSING_HOME,
        ScopeSet.parse(""),
        Channel.BEARER,
        Role.NURSE,
    )
    with bridge.services() as services, pytest.raises(AccessDenied):
        loop_dashboard(services, nurse, 30)
    for wrong in ("0", "-3", "abc", "367", "1.5"):
        with pytest.raises(InvalidInput):
            checked_period(wrong)
    assert checked_period(" 90 ") == 90


def test_the_alert_handling_rate_counts_alerted_clocks_whose_step_was_done_since(bridge: Bridge) -> None:
    """The city platform's figure: overdue alerts raised on an organisation's clocks, and the share of
    them whose awaited step was done after all (处置率)."""
    loops = new_builder(bridge)
    handled = loops.result_loop(review_after=None, deadline=-30)  # overdue, alerted, reviewed later
    loops.result_loop(review_after=None, deadline=-20)  # overdue, alerted, still awaited
    loops.result_loop(review_after=10)  # in time: never alerted
    with loops.services() as services:
        alerted = alert_overdue(services)  # the sweep, on the test's stopped clock
    assert len(alerted) >= 2
    with loops.services() as services:
        report = services.db.scalars(select(LoopClock.subject).where(LoopClock.loop_id == handled)).one()
        stop_clocks(services, report, None, by=DOCTOR.reference)
    with loops.services() as services:
        hospital = row(build_dashboard(services, frozenset({loops.hospital}), 7), loops.hospital)
    assert (hospital.alerts, hospital.alerts_handled, hospital.share_alerts_handled) == (2, 1, 0.5)
    (review,) = hospital.kinds
    assert (review.alerted, review.alerted_handled) == (2, 1)
