"""Telling open pages that a prescription moved: the home's nurses, the prescribing hospital's doctors
and the supplying pharmacy's staff listen on their organisation's news topic (bridge/results/news.py
names it; the sockets of nurses, doctors and pharmacists join it). The message says what changed; a
page fetches the prescription with its own access rights."""

from __future__ import annotations

from typing import Any

from bridge.results.news import results_topic
from bridge.services import Services
from bridge.signalling.protocol import PROTOCOL_VERSION

PRESCRIPTION_CHANGED = "prescription.changed"


def announce_prescription(
    services: Services, task: dict[str, Any], step: str, *, home_id: str, hospital_id: str | None
) -> None:
    pharmacy = str((task.get("owner") or {}).get("reference", "")).removeprefix("Organization/")
    message = {
        "v": PROTOCOL_VERSION,
        "type": PRESCRIPTION_CHANGED,
        "step": step,
        "task_id": task["id"],
        "medication_request": (task.get("focus") or {}).get("reference"),
        "patient_id": str((task.get("for") or {}).get("reference", "")).removeprefix("Patient/"),
        "home_id": home_id,
        "status": task.get("status"),
        "at": services.now().isoformat(),
    }
    for organization in {home_id, hospital_id, pharmacy} - {None, ""}:
        services.announce(results_topic(str(organization)), message)
