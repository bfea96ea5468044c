"""View models of advice for pages: the home's advice and follow-up tasks (the nurse's page), a
resident's advice (the doctor's panel beside the chart), and the results advice may be about.

Times are aware datetimes in UTC; templates show them in the homes' time. A task is overdue when it is
still open and its due date has passed (by the bridge's clock).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.search.query import parse_search

from bridge.accounts.roles import Role
from bridge.advice.codes import ADVICE, CATEGORY_SYSTEM, FOLLOW_UP, TASK_CODE_SYSTEM
from bridge.advice.parties import staff_or_system
from bridge.advice.resources import due_of, text_of
from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.directory.codes import OrgKind
from bridge.directory.residents import display_name
from bridge.errors import AccessDenied
from bridge.services import Services

RECENT_DAYS = 30
RECENT_DONE = 20
RESIDENT_ADVICE = 20
RESULT_CHOICES = 12
ADVICE_CODE = f"{CATEGORY_SYSTEM}|{ADVICE}"
FOLLOW_UP_CODE = f"{TASK_CODE_SYSTEM}|{FOLLOW_UP}"


@dataclass(frozen=True)
class TaskItem:
    id: str
    version: str
    communication_id: str
    patient_id: str
    patient_name: str
    description: str
    due: datetime | None
    status: str  # requested | completed | cancelled
    overdue: bool
    closed_at: datetime | None
    notes: tuple[str, ...]

    @property
    def is_open(self) -> bool:
        return self.status == "requested"


@dataclass(frozen=True)
class AdviceItem:
    id: str
    version: str
    patient_id: str
    patient_name: str
    text: str
    sent: datetime | None
    sender: str
    acknowledged: bool
    received: datetime | None
    notes: tuple[str, ...]
    about: tuple[ResultChoice, ...]
    tasks: tuple[TaskItem, ...]


@dataclass(frozen=True)
class HomeAdvice:
    advice: list[AdviceItem]  # unacknowledged first (oldest first: the longest waiting), then recent ones
    open_tasks: list[TaskItem]  # soonest due first
    done_tasks: list[TaskItem]  # most recently closed first

    @property
    def unacknowledged(self) -> int:
        return sum(1 for a in self.advice if not a.acknowledged)

    @property
    def overdue(self) -> int:
        return sum(1 for t in self.open_tasks if t.overdue)


@dataclass(frozen=True)
class ResultChoice:
    reference: str
    label: str
    when: datetime | None


def home_advice(services: Services, principal: Principal) -> HomeAdvice:
    """The advice and follow-up tasks of the caller's home (a nurse or the home's system)."""
    if principal.organization_kind is not OrgKind.NURSING_HOME or not staff_or_system(principal, Role.NURSE):
        raise AccessDenied("advice.error.nurses_only")
    services.policy.require_scope(principal, "Communication", "s")
    home = f"Organization/{principal.organization_id}"
    now = as_utc(services.now())
    since = (now - timedelta(days=RECENT_DAYS)).date().isoformat()
    repository = services.repository
    waiting = repository.find("Communication", {"category": ADVICE_CODE, "recipient": home, "status": "in-progress"})
    recent = repository.find(
        "Communication", {"category": ADVICE_CODE, "recipient": home, "status": "completed", "sent": f"ge{since}"}
    )
    open_tasks = repository.find("Task", {"code": FOLLOW_UP_CODE, "owner": home, "status": "requested"})
    closed_since = {"code": FOLLOW_UP_CODE, "owner": home, "authored-on": f"ge{since}"}
    closed = repository.find("Task", {**closed_since, "status": ["completed", "cancelled"]})
    names = _names(services, [*waiting, *recent, *open_tasks, *closed])
    labels = _about_labels(services, [*waiting, *recent])
    task_items = [_task_item(t, names, now) for t in [*open_tasks, *closed]]
    by_advice: dict[str, list[TaskItem]] = {}
    for item in task_items:
        by_advice.setdefault(item.communication_id, []).append(item)
    waiting_items = sorted((_advice_item(c, names, labels, by_advice) for c in waiting), key=_sent_key)
    recent_items = sorted((_advice_item(c, names, labels, by_advice) for c in recent), key=_sent_key, reverse=True)
    open_items = sorted((t for t in task_items if t.is_open), key=_due_key)
    done_items = sorted((t for t in task_items if not t.is_open), key=_closed_key, reverse=True)
    return HomeAdvice([*waiting_items, *recent_items], open_items, done_items[:RECENT_DONE])


def resident_advice(services: Services, principal: Principal, patient_id: str) -> list[AdviceItem]:
    """A resident's advice with its tasks, newest first (for anyone who may see the resident)."""
    services.policy.require_resident(principal, patient_id)
    services.policy.require_scope(principal, "Communication", "s")
    found = services.repository.find("Communication", {"category": ADVICE_CODE, "patient": f"Patient/{patient_id}"})
    found = sorted(found, key=lambda c: str(c.get("sent", "")), reverse=True)[:RESIDENT_ADVICE]
    if not found:
        return []
    tasks = services.repository.find(
        "Task", {"code": FOLLOW_UP_CODE, "focus": [f"Communication/{c['id']}" for c in found]}
    )
    names = _names(services, found)
    now = as_utc(services.now())
    by_advice: dict[str, list[TaskItem]] = {}
    for task in tasks:
        item = _task_item(task, names, now)
        by_advice.setdefault(item.communication_id, []).append(item)
    for items in by_advice.values():
        items.sort(key=_due_key)
    labels = _about_labels(services, found)
    return [_advice_item(c, names, labels, by_advice) for c in found]


def result_choices(services: Services, patient_id: str) -> list[ResultChoice]:
    """The resident's latest reports and results, for attaching to advice (the caller has seen the resident)."""
    choices: list[ResultChoice] = []
    for resource_type in ("DiagnosticReport", "Observation"):
        query = parse_search(
            resource_type,
            [("patient", f"Patient/{patient_id}"), ("_sort", "-date"), ("_count", str(RESULT_CHOICES))],
            strict=True,
        )
        for resource in services.repository.search(query).resources:
            choices.append(
                ResultChoice(f"{resource_type}/{resource['id']}", result_label(resource), _effective(resource))
            )
    choices.sort(key=lambda c: c.when or datetime.min.replace(tzinfo=UTC), reverse=True)
    return choices[:RESULT_CHOICES]


def result_label(resource: dict[str, Any]) -> str:
    code = resource.get("code") or {}
    name = code.get("text") or next((c.get("display") for c in code.get("coding", []) if c.get("display")), None)
    label = str(name or resource.get("resourceType"))
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        label += f" {quantity['value']} {quantity.get('unit', '')}".rstrip()
    elif resource.get("valueString"):
        label += f" {resource['valueString']}"
    return label


# --- helpers -----------------------------------------------------------------------------------------


def _names(services: Services, resources: Iterable[dict[str, Any]]) -> dict[str, str]:
    ids = {_patient_id(r) for r in resources}
    return {p["id"]: display_name(p) for p in services.residents.patients_by_id(ids - {""})}


def _patient_id(resource: dict[str, Any]) -> str:
    subject = resource.get("subject" if resource.get("resourceType") == "Communication" else "for") or {}
    return str(subject.get("reference", "")).removeprefix("Patient/")


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(moment)


def _effective(resource: dict[str, Any]) -> datetime | None:
    return _moment(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start"))


def _notes(resource: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(n.get("text", "")) for n in resource.get("note", []) if n.get("text"))


def _version(resource: dict[str, Any]) -> str:
    return str(resource.get("meta", {}).get("versionId", "1"))


def _task_item(task: dict[str, Any], names: dict[str, str], now: datetime) -> TaskItem:
    due = _moment(due_of(task))
    status = str(task.get("status", ""))
    patient_id = _patient_id(task)
    return TaskItem(
        id=str(task["id"]),
        version=_version(task),
        communication_id=str((task.get("focus") or {}).get("reference", "")).removeprefix("Communication/"),
        patient_id=patient_id,
        patient_name=names.get(patient_id, patient_id),
        description=str(task.get("description", "")),
        due=due,
        status=status,
        overdue=status == "requested" and due is not None and due < now,
        closed_at=_moment(task.get("lastModified")) if status != "requested" else None,
        notes=_notes(task),
    )


def _advice_item(
    communication: dict[str, Any],
    names: dict[str, str],
    labels: dict[str, ResultChoice],
    tasks: dict[str, list[TaskItem]],
) -> AdviceItem:
    patient_id = _patient_id(communication)
    return AdviceItem(
        id=str(communication["id"]),
        version=_version(communication),
        patient_id=patient_id,
        patient_name=names.get(patient_id, patient_id),
        text=text_of(communication),
        sent=_moment(communication.get("sent")),
        sender=str((communication.get("sender") or {}).get("display", "")),
        acknowledged=communication.get("status") == "completed",
        received=_moment(communication.get("received")),
        notes=_notes(communication),
        about=tuple(labels[r] for r in _about(communication) if r in labels),
        tasks=tuple(tasks.get(str(communication["id"]), [])),
    )


def _about(communication: dict[str, Any]) -> list[str]:
    return [str(a.get("reference", "")) for a in communication.get("about", []) if isinstance(a, dict)]


def _about_labels(services: Services, communications: Iterable[dict[str, Any]]) -> dict[str, ResultChoice]:
    labels: dict[str, ResultChoice] = {}
    for reference in {r for c in communications for r in _about(c)}:
        resource_type, _, resource_id = reference.partition("/")
        try:
            resource = services.repository.read(resource_type, resource_id)
        except OperationOutcomeError:
            continue  # a result since deleted: the advice stands without it
        labels[reference] = ResultChoice(reference, result_label(resource), _effective(resource))
    return labels


def _sent_key(item: AdviceItem) -> str:
    return item.sent.isoformat() if item.sent else ""


def _due_key(item: TaskItem) -> str:
    return item.due.isoformat() if item.due else "9999"


def _closed_key(item: TaskItem) -> str:
    return item.closed_at.isoformat() if item.closed_at else ""
