"""Telling open pages that a resident has new results, or a critical one.

Topic `results:<organisation>`: the sockets of a home's nurses listen to their home's, a hospital's
doctors to their hospital's (bridge/signalling/connection.py). A result of a resident is announced on
the home's topic and on the topic of every internet hospital contracted to serve the home, after the
transaction that stored it commits (bridge/live_news.py). The message says what changed, not what it
is: a page fetches the record with its own access rights.
"""

from __future__ import annotations

from typing import Any

from bridge.directory.codes import ContractKind
from bridge.services import Services
from bridge.signalling.connection import RESULTS_TOPIC_PREFIX
from bridge.signalling.protocol import PROTOCOL_VERSION

RESULT_NEW = "result.new"


def results_topic(organization_id: str) -> str:
    return f"{RESULTS_TOPIC_PREFIX}{organization_id}"


def topics_for_home(services: Services, home_id: str) -> list[str]:
    hospitals = services.contracts.providers_of(home_id, ContractKind.TELEMEDICINE, services.now().date())
    return [results_topic(home_id), *(results_topic(h) for h in sorted(hospitals))]


def announce_results(
    services: Services, home_id: str, patient_id: str, references: list[str], kind: str, **extra: Any
) -> None:
    """`kind`: lab | ecg | vitals | critical; `references`: what was stored (``Type/id``)."""
    message: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "type": RESULT_NEW,
        "kind": kind,
        "patient_id": patient_id,
        "home_id": home_id,
        "resources": references,
        "at": services.now().isoformat(),
        **extra,
    }
    for topic in topics_for_home(services, home_id):
        services.announce(topic, message)
