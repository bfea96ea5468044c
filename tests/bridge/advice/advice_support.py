"""Residents, results and `$advise` bodies for advice tests: each test advises a resident of its own,
so no demo resident's advice list changes under another test."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from bridge.loops.tables import LoopClock, LoopStep
from tests.bridge.prescriptions.workflow_support import fhir
from tests.conftest import Bridge

__all__ = ["advice_resident", "advise", "clocks", "fhir", "observation_of", "steps", "task_part"]


def advice_resident(bridge: Bridge, home: str = "demo-home-1", name: str = "建议测试") -> str:
    tag = uuid.uuid4().hex[:10]
    with bridge.services() as services:
        patient = services.repository.create(
            {
                "resourceType": "Patient",
                "name": [{"text": name}],
                "gender": "male",
                "birthDate": "1938-03-02",
                "managingOrganization": {"reference": f"Organization/{home}"},
            },
            f"zz-adv-{tag}",
        )
    return str(patient["id"])


def observation_of(bridge: Bridge, patient_id: str, value: float = 5.9) -> str:
    """A potassium result of the resident (what advice is typically about)."""
    with bridge.services() as services:
        stored = services.repository.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}], "text": "血钾"},
                "subject": {"reference": f"Patient/{patient_id}"},
                "effectiveDateTime": services.now().isoformat(),
                "valueQuantity": {"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org"},
            }
        )
    return f"Observation/{stored['id']}"


def task_part(description: str, due: datetime | str) -> dict[str, Any]:
    due_value = {"valueDateTime": due.isoformat()} if isinstance(due, datetime) else {"valueDate": due}
    return {
        "name": "task",
        "part": [{"name": "description", "valueString": description}, {"name": "due", **due_value}],
    }


def advise(
    client: httpx.Client, patient_id: str, text: str, *tasks: dict[str, Any], about: tuple[str, ...] = ()
) -> httpx.Response:
    parameters: list[dict[str, Any]] = [{"name": "text", "valueString": text}, *tasks]
    parameters += [{"name": "about", "valueReference": {"reference": reference}} for reference in about]
    return client.post(
        f"/fhir/Patient/{patient_id}/$advise", json={"resourceType": "Parameters", "parameter": parameters}
    )


def _rows(bridge: Bridge, table: type[LoopStep] | type[LoopClock], patient_id: str) -> list[dict[str, Any]]:
    """The loop rows of the resident, as plain values (read inside the unit of work)."""
    with bridge.services() as services:
        found = services.db.scalars(select(table).where(table.patient_id == patient_id).order_by(table.id))
        return [{c.name: getattr(row, c.name) for c in table.__table__.columns} for row in found]


def steps(bridge: Bridge, patient_id: str) -> list[dict[str, Any]]:
    return _rows(bridge, LoopStep, patient_id)


def clocks(bridge: Bridge, patient_id: str) -> list[dict[str, Any]]:
    return _rows(bridge, LoopClock, patient_id)
