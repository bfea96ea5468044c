"""Overdue clocks alert the responsible party's staff and the supervisors, once, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bridge.clock import as_utc
from bridge.db.tables import SupervisorAlert
from bridge.loops import overdue
from bridge.loops.codes import Clock, Step
from bridge.loops.deadlines import deadlines_in_force
from bridge.loops.tables import LoopClock
from bridge.loops.tracker import ClockStart, Parties, advance, open_clocks, stop_clocks
from bridge.prescriptions.actors import ActorRef
from bridge.services import Services
from rtc.signalling_client import SignallingClient, SignallingError
from tests.bridge.results.critical_support import LiveBridge, running_live_bridge
from tests.bridge.signalling.support import run

DOCTOR = ActorRef("Practitioner/demo-dr-li", "李建国")


@pytest.fixture(scope="module")
def live(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    sweep, overdue.SWEEP_SECONDS = overdue.SWEEP_SECONDS, 0.1
    try:
        with running_live_bridge(backend, str(tmp_path_factory.mktemp(f"overdue-{backend}"))) as running:
            yield running
    finally:
        overdue.SWEEP_SECONDS = sweep


def signed(live: LiveBridge, clock: Clock = Clock.PHARMACY_REVIEW) -> str:
    """A prescription step starting `clock` for the demo pharmacy; the clock's subject."""
    tag = uuid.uuid4().hex[:8]
    task = f"Task/ov-{tag}"
    with live.runtime.session_factory.begin() as db:
        advance(
            Services(db, live.runtime),
            step=Step.PRESCRIPTION_SIGNED,
            subject=f"MedicationRequest/ov-{tag}",
            parties=Parties(f"pt-{tag}", "demo-home-1", "demo-hospital", "demo-pharmacy"),
            actor=DOCTOR,
            starts=[ClockStart(clock, task)],
        )
    return task


async def silent(client: SignallingClient, kind: str, seconds: float = 0.4) -> bool:
    with contextlib.suppress(SignallingError):
        await client.next_event(kind, timeout=seconds)
        return False
    return True


def test_an_overdue_clock_alerts_the_pharmacy_and_the_supervisors_once(live: LiveBridge) -> None:
    async def body() -> None:
        pharmacist, supervisor, nurse2 = (
            await live.socket("pharmacist"),
            await live.socket("supervisor"),
            await live.socket("nurse2"),
        )
        try:
            task = await asyncio.to_thread(signed, live)
            assert await silent(pharmacist, overdue.NEWS_TYPE)  # within the two hours
            with live.clock.advanced(timedelta(hours=2, seconds=1)):
                heard = await pharmacist.next_event(overdue.NEWS_TYPE, timeout=5)
                assert heard["subject"] == task and heard["clock"] == "pharmacy-review"
                assert heard["responsible"] == "demo-pharmacy" and heard["party"] == "pharmacy"
                assert heard["overdue_seconds"] >= 1
                seen = await supervisor.next_event(overdue.NEWS_TYPE, timeout=5)
                assert seen["subject"] == task
                await asyncio.sleep(0.5)  # several more sweeps
                assert await silent(pharmacist, overdue.NEWS_TYPE)
                assert await silent(nurse2, overdue.NEWS_TYPE)  # another home's nurse hears nothing
        finally:
            for client in (pharmacist, supervisor, nurse2):
                await client.close()
        with live.runtime.session_factory.begin() as db:
            alerts = db.scalars(select(SupervisorAlert).where(SupervisorAlert.detail.contains(task))).all()
            assert [(a.kind, a.home_id, a.hospital_id) for a in alerts] == [
                ("loop_overdue", "demo-home-1", "demo-hospital")
            ]
            (row,) = db.scalars(select(LoopClock).where(LoopClock.subject == task)).all()
            assert row.overdue_alerted_at is not None and row.done_at is None

    run(body)


def test_a_clock_met_in_time_or_a_critical_acknowledgement_is_not_alerted_here(live: LiveBridge) -> None:
    met = signed(live)
    critical = signed(live, Clock.CRITICAL_ACK)
    with live.runtime.session_factory.begin() as db:
        services = Services(db, live.runtime)
        advance(
            services,
            step=Step.PRESCRIPTION_ACCEPTED,
            subject=met,
            parties=Parties("pt", "demo-home-1", "demo-hospital", "demo-pharmacy"),
            actor=ActorRef("Organization/demo-pharmacy", "药房"),
            stops=[(Clock.PHARMACY_REVIEW, met)],
        )
    with live.clock.advanced(timedelta(days=2)):
        overdue.sweep_once(live.runtime)
    with live.runtime.session_factory.begin() as db:
        rows = db.scalars(select(LoopClock).where(LoopClock.subject.in_([met, critical]))).all()
        assert all(r.overdue_alerted_at is None for r in rows) and len(rows) == 2
        assert db.scalars(select(SupervisorAlert).where(SupervisorAlert.detail.contains(met))).all() == []


def started(live: LiveBridge, clock: Clock, due_at: datetime | None = None) -> tuple[str, datetime]:
    """A clock of `clock`'s kind on a subject of its own, for demo parties; (subject, due time)."""
    subject = f"Task/dl-{uuid.uuid4().hex[:8]}"
    with live.runtime.session_factory.begin() as db:
        services = Services(db, live.runtime)
        advance(
            services,
            step=Step.RESULT_RECEIVED,
            subject=subject,
            parties=Parties(f"pt-{subject}", "demo-home-1", "demo-hospital", "demo-pharmacy"),
            actor=DOCTOR,
            starts=[ClockStart(clock, subject, due_at)],
        )
        (row,) = open_clocks(services, subject)
        return subject, as_utc(row.due_at)


def meet(live: LiveBridge, clock: Clock, subject: str) -> LoopClock:
    with live.runtime.session_factory.begin() as db:
        (row,) = stop_clocks(Services(db, live.runtime), subject, [clock], by="Practitioner/demo-nurse-wang")
        db.flush()
        db.expunge(row)
        return row


def alerted(live: LiveBridge, subject: str) -> bool:
    with live.runtime.session_factory.begin() as db:
        row = db.scalars(select(LoopClock).where(LoopClock.subject == subject)).one()
        return row.overdue_alerted_at is not None


@pytest.mark.parametrize("clock", [c for c in Clock if c is not Clock.CRITICAL_ACK])
def test_each_deadline_met_in_time_alerts_nobody_and_missed_alerts_once(live: LiveBridge, clock: Clock) -> None:
    with live.runtime.session_factory.begin() as db:
        in_force = deadlines_in_force(Services(db, live.runtime))
    now = live.clock.now()
    # A follow-up task is due when the doctor says; the others after the deadline in force for their kind.
    due_at = now + timedelta(days=3) if clock is Clock.FOLLOW_UP else None
    deadline = timedelta(days=3) if clock is Clock.FOLLOW_UP else timedelta(minutes=in_force[clock].minutes)
    in_time, due = started(live, clock, due_at)
    late, _ = started(live, clock, due_at)
    assert abs(due - as_utc(now) - deadline) < timedelta(seconds=5)

    with live.clock.advanced(deadline - timedelta(minutes=1)):
        met = meet(live, clock, in_time)
        time.sleep(0.4)  # several sweeps
        assert not alerted(live, late)
    assert met.outcome == "met" and as_utc(met.done_at) <= as_utc(met.due_at)

    with live.clock.advanced(deadline + timedelta(minutes=1)):
        waited = time.monotonic() + 5
        while not alerted(live, late) and time.monotonic() < waited:
            time.sleep(0.1)
        assert alerted(live, late) and not alerted(live, in_time)
        stopped = meet(live, clock, late)  # met at last, after its due time: late, and it stays alerted once
    assert as_utc(stopped.done_at) > as_utc(stopped.due_at)
    with live.runtime.session_factory.begin() as db:
        alerts = db.scalars(select(SupervisorAlert).where(SupervisorAlert.detail.contains(late))).all()
        assert (
            len(alerts) == 1
            and db.scalars(select(SupervisorAlert).where(SupervisorAlert.detail.contains(in_time))).all() == []
        )
