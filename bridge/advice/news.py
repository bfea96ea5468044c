"""Telling open pages that advice moved: the home's nurses and the sending hospital's doctors listen on
their organisation's news topic (bridge/results/news.py). The message says what changed; a page fetches
the advice with its own access rights."""

from __future__ import annotations

from enum import StrEnum

from bridge.results.news import results_topic
from bridge.services import Services
from bridge.signalling.protocol import PROTOCOL_VERSION


class AdviceNews(StrEnum):
    SENT = "advice.sent"
    ACKNOWLEDGED = "advice.acknowledged"
    TASK_COMPLETED = "advice.task_completed"
    TASK_CANCELLED = "advice.task_cancelled"


def announce_advice(
    services: Services,
    news: AdviceNews,
    *,
    communication_id: str,
    patient_id: str,
    home_id: str,
    hospital_id: str | None,
    task_id: str | None = None,
    tasks: int = 0,
) -> None:
    message = {
        "v": PROTOCOL_VERSION,
        "type": news.value,
        "communication_id": communication_id,
        "task_id": task_id,
        "patient_id": patient_id,
        "home_id": home_id,
        "tasks": tasks,
        "at": services.now().isoformat(),
    }
    for organization in sorted({home_id, hospital_id or ""} - {""}):
        services.announce(results_topic(organization), message)
