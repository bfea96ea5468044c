"""The overdue items on the home pages of nurses, doctors and pharmacists: each sees what their own
organisation is late with, with the resident's name; nobody sees another organisation's."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from bridge.loops.codes import Clock, Step
from bridge.loops.tracker import ClockStart, Parties, advance, open_clocks
from bridge.prescriptions.actors import ActorRef
from tests.conftest import Bridge
from tests.portal.test_pages_http import sign_in

DOCTOR = ActorRef("Practitioner/demo-dr-li", "李建国")


def overdue_clock(bridge: Bridge, clock: Clock, home: str = "demo-home-1") -> tuple[int, str]:
    """A clock of a demo resident of `home`, due a minute ago: (its id, the resident's name)."""
    subject = f"Task/od-{uuid.uuid4().hex[:8]}"
    with bridge.services() as services:
        resident = services.residents.summaries(services.residents.patients_of_homes({home}))[0]
        advance(
            services,
            step=Step.ADVICE_SENT,
            subject=subject,
            parties=Parties(resident.id, home, "demo-hospital", "demo-pharmacy"),
            actor=DOCTOR,
            starts=[ClockStart(clock, subject, services.now() - timedelta(minutes=1))],
        )
        (row,) = open_clocks(services, subject)
        return row.id, resident.name


def listed(page: str) -> dict[str, str]:
    """The overdue rows of a page by clock id."""
    return dict(re.findall(r'<tr data-testid="loop-overdue-item" data-clock="(\d+)".*?>(.*?)</tr>', page, re.S))


def test_each_party_sees_what_it_is_late_with_and_no_more(bridge: Bridge) -> None:
    task, resident = overdue_clock(bridge, Clock.FOLLOW_UP)
    review, _ = overdue_clock(bridge, Clock.PHARMACY_REVIEW)
    other_home, _ = overdue_clock(bridge, Clock.FOLLOW_UP, home="demo-home-2")

    nurse = listed(sign_in(bridge, "nurse1").get("/").text)
    assert str(task) in nurse and resident in nurse[str(task)]
    assert str(review) not in nurse and str(other_home) not in nurse
    pharmacist_home = sign_in(bridge, "pharmacist")
    pharmacy = listed(pharmacist_home.get("/").text)
    assert str(review) in pharmacy and str(task) not in pharmacy
    assert str(review) in listed(pharmacist_home.get("/pharmacy").text)  # the desk too
    doctor = listed(sign_in(bridge, "doctor").get("/").text)
    assert not {str(task), str(review), str(other_home)} & set(doctor)
    nurse2 = listed(sign_in(bridge, "nurse2").get("/").text)
    assert str(other_home) in nurse2 and str(task) not in nurse2
    # Supervisors watch all three organisations and see each item, without the resident's name.
    supervisor = listed(sign_in(bridge, "supervisor").get("/").text)
    assert {str(task), str(review)} <= set(supervisor) and resident not in supervisor[str(task)]
