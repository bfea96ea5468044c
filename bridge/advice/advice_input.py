"""What a doctor sends as advice, checked before anything is written: the text, the follow-up tasks
(each with a description and a due date that is not in the past) and the results it is about.

Every problem is collected and raised at once as InvalidInput, each naming its field the way the
form and the `$advise` Parameters name it (`text`, `task.0.description`, `task.0.due`, `about.0`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.clock import as_utc
from bridge.errors import FieldError, InvalidInput
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.services import Services

MAX_TEXT_CHARS = 4000
MAX_DESCRIPTION_CHARS = 500
MAX_TASKS = 10
MAX_ABOUT = 20
# What advice may be about: the resident's results (and the files behind an ECG).
ABOUT_TYPES = frozenset({"Observation", "DiagnosticReport", "DocumentReference"})


@dataclass(frozen=True)
class FollowUp:
    """A follow-up task as given: a date alone means by the end of that day in the homes' time."""

    description: str
    due: datetime | date | None


@dataclass(frozen=True)
class CheckedFollowUp:
    description: str
    due: datetime  # aware, UTC


@dataclass(frozen=True)
class CheckedAdvice:
    text: str
    tasks: tuple[CheckedFollowUp, ...]
    about: tuple[str, ...]  # "Observation/1", ...
    encounter: str | None


def due_instant(due: datetime | date) -> datetime:
    """When a task is due, in UTC; naive times and dates are the homes' own (China Standard Time)."""
    if isinstance(due, datetime):
        return as_utc(due if due.tzinfo else due.replace(tzinfo=CHINA_STANDARD_TIME))
    return as_utc(datetime.combine(due, time(23, 59, 59), CHINA_STANDARD_TIME))


def as_follow_up(task: FollowUp | Mapping[str, Any]) -> FollowUp:
    if isinstance(task, FollowUp):
        return task
    return FollowUp(str(task.get("description") or ""), task.get("due"))


def check_advice(
    services: Services,
    patient_id: str,
    text: str,
    tasks: Sequence[FollowUp | Mapping[str, Any]],
    about: Sequence[str],
    encounter: str | None,
) -> CheckedAdvice:
    errors: list[FieldError] = []
    text = (text or "").strip()
    if not text:
        errors.append(FieldError("text", "advice.error.text_required"))
    elif len(text) > MAX_TEXT_CHARS:
        errors.append(FieldError("text", "advice.error.too_long", {"max": MAX_TEXT_CHARS}))
    if len(tasks) > MAX_TASKS:
        errors.append(FieldError("task", "advice.error.too_many_tasks", {"max": MAX_TASKS}))
    checked_tasks = [_check_task(services, i, as_follow_up(task), errors) for i, task in enumerate(tasks[:MAX_TASKS])]
    if len(about) > MAX_ABOUT:
        errors.append(FieldError("about", "advice.error.too_many_about", {"max": MAX_ABOUT}))
    references = list(dict.fromkeys(r.strip() for r in about[:MAX_ABOUT] if r and r.strip()))
    for i, reference in enumerate(references):
        if not _of_resident(services, reference, patient_id, ABOUT_TYPES):
            errors.append(FieldError(f"about.{i}", "advice.error.about", {"reference": reference}))
    if encounter and not _of_resident(services, encounter, patient_id, frozenset({"Encounter"})):
        errors.append(FieldError("encounter", "advice.error.encounter", {"reference": encounter}))
    if errors:
        raise InvalidInput(errors)
    return CheckedAdvice(text, tuple(t for t in checked_tasks if t is not None), tuple(references), encounter or None)


def _check_task(services: Services, index: int, task: FollowUp, errors: list[FieldError]) -> CheckedFollowUp | None:
    description = task.description.strip()
    ok = True
    if not description:
        errors.append(FieldError(f"task.{index}.description", "advice.error.description_required"))
        ok = False
    elif len(description) > MAX_DESCRIPTION_CHARS:
        errors.append(FieldError(f"task.{index}.description", "advice.error.too_long", {"max": MAX_DESCRIPTION_CHARS}))
        ok = False
    if task.due is None:
        errors.append(FieldError(f"task.{index}.due", "advice.error.due_required"))
        return None
    try:
        due = due_instant(task.due)
    except OverflowError:  # year 1 east of Greenwich, or 9999 west of it: no instant in UTC
        errors.append(FieldError(f"task.{index}.due", "advice.error.due_format"))
        return None
    if due <= as_utc(services.now()):
        errors.append(FieldError(f"task.{index}.due", "advice.error.due_past"))
        return None
    return CheckedFollowUp(description, due) if ok else None


def _of_resident(services: Services, reference: str, patient_id: str, types: frozenset[str]) -> bool:
    """Whether `reference` (Type/id) names a current record of one of `types` about this resident."""
    parts = reference.split("/")
    if len(parts) != 2 or parts[0] not in types or not parts[1]:
        return False
    try:
        resource = services.repository.read(parts[0], parts[1])
    except OperationOutcomeError:
        return False
    subject = (resource.get("subject") or {}).get("reference")
    return bool(subject == f"Patient/{patient_id}")
