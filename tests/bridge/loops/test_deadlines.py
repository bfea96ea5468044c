"""Deadlines: defaults, BRIDGE_LOOP_DEADLINES, administrators' settings, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bridge.loops.codes import DEFAULT_DEADLINE_MINUTES, Clock
from bridge.loops.deadline_rules import DeadlineRefused, checked_minutes
from bridge.loops.deadlines import deadlines_in_force, reset_deadline, set_deadline
from bridge.settings import Settings
from tests.conftest import TEST_SECRET, Bridge


@pytest.mark.parametrize(
    ("kind", "minutes", "key"),
    [
        ("pharmacy-review", 0, "loops.deadline.out_of_range"),
        ("pharmacy-review", -5, "loops.deadline.out_of_range"),
        ("pharmacy-review", 90 * 24 * 60 + 1, "loops.deadline.out_of_range"),
        ("critical-ack", 24 * 60 + 1, "loops.deadline.out_of_range"),
        ("pharmacy-review", "two hours", "loops.deadline.not_a_number"),
        ("pharmacy-review", 1.5, "loops.deadline.not_a_number"),
        ("pharmacy-review", True, "loops.deadline.not_a_number"),
        ("follow-up", 60, "loops.deadline.not_configurable"),
        ("coffee-break", 60, "loops.deadline.unknown_kind"),
    ],
)
def test_a_deadline_that_makes_no_sense_is_refused_with_its_reason(kind: str, minutes: Any, key: str) -> None:
    with pytest.raises(DeadlineRefused) as refused:
        checked_minutes(kind, minutes)
    assert refused.value.key == key


def test_whole_minutes_as_text_are_taken() -> None:
    assert checked_minutes("delivery", " 1440 ") == (Clock.DELIVERY, 1440)


def test_settings_refuse_a_bad_loop_deadline_and_name_it() -> None:
    with pytest.raises(ValidationError, match=r"loops\.deadline\.out_of_range"):
        Settings(secret_key=TEST_SECRET, loop_deadlines={"delivery": 0})
    with pytest.raises(ValidationError, match="unknown_kind"):
        Settings(secret_key=TEST_SECRET, loop_deadlines={"lunch": 30})
    assert Settings(secret_key=TEST_SECRET, loop_deadlines={"delivery": 600}).loop_deadlines == {"delivery": 600}


def test_administrators_deadline_wins_until_reset_and_a_refused_one_changes_nothing(bridge: Bridge) -> None:
    with bridge.services() as services:
        before = deadlines_in_force(services)
        assert before[Clock.DISPENSE].minutes == DEFAULT_DEADLINE_MINUTES[Clock.DISPENSE]
        assert before[Clock.CRITICAL_ACK].minutes == services.settings.critical_ack_minutes
    try:
        with bridge.services() as services:
            set_deadline(services, "dispense", 90, "account:admin")
        with bridge.services() as services, pytest.raises(DeadlineRefused):
            set_deadline(services, "dispense", 0, "account:admin")
        with bridge.services() as services:
            now = deadlines_in_force(services)[Clock.DISPENSE]
            assert (now.minutes, now.source, now.updated_by) == (90, "administrator", "account:admin")
    finally:
        with bridge.services() as services:
            reset_deadline(services, "dispense")
    with bridge.services() as services:
        assert deadlines_in_force(services)[Clock.DISPENSE].source == "default"
