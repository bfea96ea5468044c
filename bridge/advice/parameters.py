"""The `$advise` Parameters as the service's input, and the optional note of `$complete` / `$cancel`.

text        valueString (or valueMarkdown): the advice
task        0..*, parts: description (valueString), due (valueDateTime with a time zone, or
            valueDate: by the end of that day in the homes' time)
about       0..*, valueReference: a result of the resident (Observation, DiagnosticReport, ...)
encounter   0..1, valueReference: the consult the advice was given in
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bridge.advice.advice_input import FollowUp
from bridge.errors import FieldError, InvalidInput


@dataclass(frozen=True)
class AdviseInput:
    text: str
    tasks: list[FollowUp]
    about: list[str]
    encounter: str | None


def advise_input(parameters: Any) -> AdviseInput:
    parts = _parts(parameters)
    errors: list[FieldError] = []
    tasks: list[FollowUp] = []
    about: list[str] = []
    encounter: str | None = None
    text = ""
    for part in parts:
        name = part.get("name")
        if name == "text":
            value = part.get("valueString", part.get("valueMarkdown", ""))
            if not isinstance(value, str):
                raise InvalidInput([FieldError("text", "advice.error.text_required")])
            text = value
        elif name == "task":
            tasks.append(_task(len(tasks), part, errors))
        elif name == "about":
            about.append(_reference(part))
        elif name == "encounter":
            encounter = _reference(part) or None
    if errors:
        raise InvalidInput(errors)
    return AdviseInput(text, tasks, about, encounter)


def note_of(parameters: Any, name: str = "note") -> str | None:
    if parameters is None:
        return None
    for part in _parts(parameters):
        if part.get("name") == name:
            value = part.get("valueString", part.get("valueMarkdown"))
            return str(value) if value is not None else None
    return None


def _parts(parameters: Any) -> list[dict[str, Any]]:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise InvalidInput([FieldError("Parameters", "advice.error.parameters_expected")])
    parts = parameters.get("parameter", [])
    if not isinstance(parts, list):
        raise InvalidInput([FieldError("Parameters", "advice.error.parameters_expected")])
    return [p for p in parts if isinstance(p, dict)]


def _task(index: int, part: dict[str, Any], errors: list[FieldError]) -> FollowUp:
    nested = part.get("part")
    values = {p.get("name"): p for p in nested if isinstance(p, dict)} if isinstance(nested, list) else {}
    description = str((values.get("description") or {}).get("valueString", "") or "")
    due_part = values.get("due") or {}
    due: datetime | date | None = None
    raw = due_part.get("valueDateTime") or due_part.get("valueInstant")
    if raw is not None:
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        # A time without a zone would be guessed at; FHIR requires one whenever a time is given.
        if moment is None or moment.tzinfo is None:
            errors.append(FieldError(f"task.{index}.due", "advice.error.due_format"))
        else:
            due = moment
    elif due_part.get("valueDate") is not None:
        try:
            due = date.fromisoformat(str(due_part["valueDate"]))
        except ValueError:
            errors.append(FieldError(f"task.{index}.due", "advice.error.due_format"))
    return FollowUp(description, due)


def _reference(part: dict[str, Any]) -> str:
    value = part.get("valueReference")
    return str(value.get("reference", "")) if isinstance(value, dict) else ""
