"""The referral state machine: each operation from each state, allowed or a conflict naming the state."""

from __future__ import annotations

import pytest

from bridge.errors import Conflict
from bridge.referrals.codes import Status
from bridge.referrals.states import Operation, allowed_operations, transition

ALLOWED = {
    (Operation.ACCEPT, Status.REQUESTED): (Status.ACCEPTED, "active"),
    (Operation.DECLINE, Status.REQUESTED): (Status.REJECTED, "revoked"),
    (Operation.CANCEL, Status.REQUESTED): (Status.CANCELLED, "revoked"),
    (Operation.CANCEL, Status.ACCEPTED): (Status.CANCELLED, "revoked"),
    (Operation.COMPLETE, Status.ACCEPTED): (Status.COMPLETED, "completed"),
}


@pytest.mark.parametrize("operation", list(Operation))
@pytest.mark.parametrize("status", list(Status))
def test_every_operation_from_every_state(operation: Operation, status: Status) -> None:
    task = {"resourceType": "Task", "status": status.value}
    expected = ALLOWED.get((operation, status))
    if expected is None:
        with pytest.raises(Conflict) as refused:
            transition(task, operation)
        assert refused.value.params["state"] == status.value
        assert operation not in allowed_operations(task)
    else:
        assert transition(task, operation) == expected
        assert operation in allowed_operations(task)
