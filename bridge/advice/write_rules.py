"""What the plain FHIR API may not do to advice: advice and its follow-up tasks are written only by the
workflow (`$advise`, `$acknowledge`, `$complete`, `$cancel`), so no advice reaches a home without its
loop step and clocks, and no acknowledgement or completion escapes the checks of who may make it.

Refused: creating, changing or deleting a Communication in the advice category, or a follow-up Task,
or a Task whose focus or basedOn names advice (turning a record into one, or one into something else,
counts too).
"""

from __future__ import annotations

from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.advice.codes import is_advice, is_follow_up
from bridge.auth.principal import Principal
from bridge.services import Services

_COMMUNICATION_MESSAGE = (
    "advice is sent with POST /fhir/Patient/{id}/$advise and acknowledged with "
    "POST /fhir/Communication/{id}/$acknowledge; it is not created, changed or deleted directly"
)
_TASK_MESSAGE = (
    "a follow-up task is created by POST /fhir/Patient/{id}/$advise and closed with "
    "POST /fhir/Task/{id}/$complete (the home) or $cancel (the sending hospital)"
)


def check_advice_write(
    services: Services, principal: Principal, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    """Raise an OperationOutcomeError (422) when the FHIR API would write what only the workflow may."""
    del principal  # nobody may: not even the sending doctor bypasses the operations
    resources = [r for r in (new, old) if r]
    if any(is_advice(r) for r in resources):
        raise _refused(_COMMUNICATION_MESSAGE, "Communication.category")
    if any(is_follow_up(r) or _names_advice(services, r) for r in resources if r.get("resourceType") == "Task"):
        raise _refused(_TASK_MESSAGE, "Task")


def _names_advice(services: Services, task: dict[str, Any]) -> bool:
    references = [task.get("focus"), *(task.get("basedOn") or [])]
    for value in references:
        reference = str((value or {}).get("reference", "")) if isinstance(value, dict) else ""
        marker = reference.rfind("Communication/")
        if marker < 0:
            continue
        communication_id = reference[marker:].split("/")[1]
        try:
            communication = services.repository.read("Communication", communication_id)
        except OperationOutcomeError:
            continue
        if is_advice(communication):
            return True
    return False


def _refused(message: str, expression: str) -> OperationOutcomeError:
    return OperationOutcomeError.single(422, "business-rule", message, expression)
