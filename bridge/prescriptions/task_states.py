"""The pharmacy Task's states and which operation each allows.

A state is the pair (Task.status, businessStatus): "accepted" and "waiting for review" are both
"with the pharmacy" to the home, but only an accepted Task may be dispensed. An operation not allowed
in the current state is a conflict (409) that names the state and what it would need, so the caller
knows whether to wait, refresh or give up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bridge.errors import Conflict
from bridge.prescriptions.codes import Delivery, delivery_of


class Operation(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    DISPENSE = "dispense"
    DISPATCH = "dispatch"
    DELIVER = "deliver"
    CONFIRM_RECEIPT = "confirm-receipt"
    CANCEL = "cancel"


@dataclass(frozen=True)
class TaskState:
    status: str
    delivery: Delivery | None

    @property
    def label(self) -> str:
        return f"{self.status}/{self.delivery.value if self.delivery else '-'}"


READY = TaskState("ready", Delivery.WITH_PHARMACY)
ACCEPTED = TaskState("in-progress", Delivery.WITH_PHARMACY)
DISPENSED = TaskState("in-progress", Delivery.DISPENSED)
DISPATCHED = TaskState("in-progress", Delivery.DISPATCHED)
DELIVERED = TaskState("in-progress", Delivery.DELIVERED)
RECEIVED = TaskState("completed", Delivery.RECEIVED)
REJECTED = TaskState("rejected", Delivery.REJECTED)
CANCELLED = TaskState("cancelled", Delivery.CANCELLED)

# operation -> (states it may start from, the state it leads to)
TRANSITIONS: dict[Operation, tuple[frozenset[TaskState], TaskState]] = {
    Operation.ACCEPT: (frozenset({READY}), ACCEPTED),
    Operation.REJECT: (frozenset({READY, ACCEPTED}), REJECTED),
    Operation.DISPENSE: (frozenset({ACCEPTED}), DISPENSED),
    Operation.DISPATCH: (frozenset({DISPENSED}), DISPATCHED),
    Operation.DELIVER: (frozenset({DISPATCHED}), DELIVERED),
    # A nurse may confirm what arrived even if the courier's delivery report has not come in.
    Operation.CONFIRM_RECEIPT: (frozenset({DISPATCHED, DELIVERED}), RECEIVED),
    # Once a drug is dispensed it exists and must be returned, not cancelled by a click.
    Operation.CANCEL: (frozenset({READY, ACCEPTED}), CANCELLED),
}

OPEN_STATES = frozenset({READY, ACCEPTED, DISPENSED, DISPATCHED, DELIVERED})


def state_of(task: dict[str, Any]) -> TaskState:
    return TaskState(str(task.get("status", "")), delivery_of(task))


def transition(task: dict[str, Any], operation: Operation) -> TaskState:
    """The state `operation` leads to from the Task's current state, or Conflict naming both."""
    allowed_from, target = TRANSITIONS[operation]
    current = state_of(task)
    if current not in allowed_from:
        raise Conflict(
            "prescription.error.state",
            operation=f"${operation.value}",
            state=current.label,
            allowed=", ".join(sorted(s.label for s in allowed_from)),
        )
    return target


def allowed_operations(task: dict[str, Any]) -> list[Operation]:
    current = state_of(task)
    return [op for op, (allowed_from, _) in TRANSITIONS.items() if current in allowed_from]
