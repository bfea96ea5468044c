"""The referral Task's states and which operation each allows; anything else is a 409 naming the state.

    requested --accept--> accepted --complete--> completed
        |                     |
        +--decline--> rejected (the hospital cannot take the resident; the ServiceRequest is revoked)
        +--cancel---> cancelled <--cancel--+ (the referring doctor withdraws it; revoked too)

A declined referral is not reopened: the doctor refers again, to the same or another hospital, so each
hospital's answer stays on record. Once accepted a hospital no longer declines: it has an appointment
to keep, and the referring doctor cancels if the visit will not happen.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bridge.errors import Conflict
from bridge.referrals.codes import Status


class Operation(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    COMPLETE = "complete"
    CANCEL = "cancel"


# operation -> (states it may start from, the state it leads to, the ServiceRequest's status after)
TRANSITIONS: dict[Operation, tuple[frozenset[Status], Status, str]] = {
    Operation.ACCEPT: (frozenset({Status.REQUESTED}), Status.ACCEPTED, "active"),
    Operation.DECLINE: (frozenset({Status.REQUESTED}), Status.REJECTED, "revoked"),
    Operation.COMPLETE: (frozenset({Status.ACCEPTED}), Status.COMPLETED, "completed"),
    Operation.CANCEL: (frozenset({Status.REQUESTED, Status.ACCEPTED}), Status.CANCELLED, "revoked"),
}


def state_of(task: dict[str, Any]) -> str:
    return str(task.get("status", ""))


def transition(task: dict[str, Any], operation: Operation) -> tuple[Status, str]:
    """The Task's and the ServiceRequest's next status, or Conflict naming the current state."""
    allowed_from, target, request_status = TRANSITIONS[operation]
    current = state_of(task)
    if current not in {s.value for s in allowed_from}:
        raise Conflict(
            "referral.error.state",
            operation=f"${operation.value}",
            state=current,
            allowed=", ".join(sorted(s.value for s in allowed_from)),
        )
    return target, request_status


def allowed_operations(task: dict[str, Any]) -> list[Operation]:
    current = state_of(task)
    return [op for op, (allowed_from, _, _) in TRANSITIONS.items() if current in {s.value for s in allowed_from}]
