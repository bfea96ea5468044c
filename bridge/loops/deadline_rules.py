"""What makes a deadline acceptable: a known, configurable kind and a whole number of minutes in range.

Kept apart from bridge/loops/deadlines.py so the settings can check BRIDGE_LOOP_DEADLINES without the
database layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.loops.codes import CONFIGURABLE, MAX_CRITICAL_ACK_MINUTES, MAX_DEADLINE_MINUTES, Clock


class DeadlineRefused(ValueError):
    """A deadline that makes no sense; `key` and `params` are a message for bridge/i18n."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key} {params}")
        self.key = key
        self.params = params


def checked_minutes(kind: str, minutes: object) -> tuple[Clock, int]:
    """The clock and a whole number of minutes it may be given, or DeadlineRefused saying why not."""
    try:
        clock = Clock(kind)
    except ValueError:
        raise DeadlineRefused("loops.deadline.unknown_kind", kind=kind) from None
    if clock not in CONFIGURABLE:
        raise DeadlineRefused("loops.deadline.not_configurable", kind=kind)
    if isinstance(minutes, bool) or not isinstance(minutes, int | str):
        raise DeadlineRefused("loops.deadline.not_a_number", kind=kind)
    try:
        value = int(str(minutes).strip())
    except ValueError:
        raise DeadlineRefused("loops.deadline.not_a_number", kind=kind) from None
    ceiling = MAX_CRITICAL_ACK_MINUTES if clock is Clock.CRITICAL_ACK else MAX_DEADLINE_MINUTES
    if not 1 <= value <= ceiling:
        raise DeadlineRefused("loops.deadline.out_of_range", kind=kind, low=1, high=ceiling)
    return clock, value


def checked_overrides(overrides: Mapping[str, object]) -> dict[str, int]:
    """BRIDGE_LOOP_DEADLINES, checked whole: the settings refuse to load when one entry is wrong."""
    return {clock.value: value for clock, value in (checked_minutes(k, v) for k, v in overrides.items())}
