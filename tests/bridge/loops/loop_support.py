"""Building loops for the view tests: the bridge's database through a clock that stands still between
steps (an AdjustableClock whose real time is frozen), so durations are exact to the second; and fresh
organisations, so the dashboard's rows for them hold only what a test built."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.directory.codes import OrgKind
from bridge.loops.codes import Clock, Step
from bridge.loops.tracker import ClockStart, Parties, advance
from bridge.prescriptions.actors import ActorRef
from bridge.runtime import Runtime
from bridge.services import Services
from tests.bridge.api.test_access_http import new_org
from tests.conftest import Bridge
from tests.support import AdjustableClock

DOCTOR = ActorRef("Practitioner/view-test-doctor", "王医生")
NURSE = ActorRef("Practitioner/view-test-nurse", "李护士")
PHARMACIST = ActorRef("Practitioner/view-test-pharmacist", "刘药师")


class StoppedClock(AdjustableClock):
    """An AdjustableClock whose base does not run: only moving the offset moves time."""

    def __init__(self, base: datetime) -> None:
        super().__init__()
        self.base = base

    def now(self) -> datetime:
        return self.base + self.offset


@dataclass
class LoopBuilder:
    """Loops of one home, hospital and pharmacy made for a test, on a stopped clock."""

    bridge: Bridge
    home: str
    hospital: str
    pharmacy: str
    clock: StoppedClock

    @contextmanager
    def services(self) -> Iterator[Services]:
        runtime = Runtime(
            self.bridge.runtime.settings, self.bridge.runtime.engine, self.bridge.runtime.session_factory, self.clock
        )
        with runtime.session_factory.begin() as db:
            yield Services(db, runtime)

    def parties(self, *, pharmacy: bool = False) -> Parties:
        """A new resident's parties; the pharmacy only for loops with a prescription."""
        return Parties(f"pt-{uuid.uuid4().hex[:10]}", self.home, self.hospital, self.pharmacy if pharmacy else None)

    def move(self, minutes: float) -> None:
        self.clock.offset += timedelta(minutes=minutes)

    def due(self, minutes: float) -> datetime:
        return self.clock.now() + timedelta(minutes=minutes)

    def result_loop(self, review_after: float | None, deadline: float = 60) -> str:
        """A result received, reviewed `review_after` minutes later (None: not reviewed); the loop id."""
        who = self.parties()
        report = f"DiagnosticReport/{who.patient_id}"
        with self.services() as services:
            loop = advance(
                services,
                step=Step.RESULT_RECEIVED,
                subject=report,
                parties=who,
                actor=NURSE,
                starts=[ClockStart(Clock.RESULT_REVIEW, report, self.due(deadline))],
            )
        if review_after is not None:
            self.move(review_after)
            with self.services() as services:
                advance(
                    services,
                    step=Step.RESULT_REVIEWED,
                    subject=report,
                    parties=who,
                    actor=DOCTOR,
                    stops=[(Clock.RESULT_REVIEW, report)],
                )
            self.move(-review_after)
        return loop


def new_builder(bridge: Bridge, base: datetime | None = None) -> LoopBuilder:
    home = new_org(bridge, OrgKind.NURSING_HOME)
    hospital = new_org(bridge, OrgKind.INTERNET_HOSPITAL, contract_with=home)
    pharmacy = new_org(bridge, OrgKind.PHARMACY)
    start = base or datetime.now(UTC).replace(microsecond=0)
    return LoopBuilder(bridge, home, hospital, pharmacy, StoppedClock(start))
