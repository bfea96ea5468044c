"""Codes of the advice workflow (a Communication.category and a Task.code in the bridge's namespace).

Advice shares the communication-category code system with critical-value alerts
(bridge/results/critical_communication.py), so `Communication?category=...|advice` finds it.
"""

from __future__ import annotations

from typing import Any

from bridge.directory.codes import NAMESPACE
from bridge.results.critical_communication import CATEGORY_SYSTEM, HL7_CATEGORY_SYSTEM

ADVICE = "advice"
TASK_CODE_SYSTEM = f"{NAMESPACE}/CodeSystem/task-code"
FOLLOW_UP = "follow-up"
# HL7's communication-category has no "advice"; an instruction to the care team is what it is.
HL7_INSTRUCTION = "instruction"

__all__ = [
    "ADVICE",
    "CATEGORY_SYSTEM",
    "FOLLOW_UP",
    "HL7_CATEGORY_SYSTEM",
    "HL7_INSTRUCTION",
    "TASK_CODE_SYSTEM",
    "is_advice",
    "is_follow_up",
]


def _codings(concepts: Any) -> set[tuple[Any, Any]]:
    items = concepts if isinstance(concepts, list) else [concepts]
    return {
        (coding.get("system"), coding.get("code"))
        for concept in items
        if isinstance(concept, dict)
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    }


def is_advice(resource: dict[str, Any] | None) -> bool:
    """A Communication the advice workflow wrote (or one that claims to be advice)."""
    if not resource or resource.get("resourceType") != "Communication":
        return False
    return (CATEGORY_SYSTEM, ADVICE) in _codings(resource.get("category"))


def is_follow_up(resource: dict[str, Any] | None) -> bool:
    if not resource or resource.get("resourceType") != "Task":
        return False
    return (TASK_CODE_SYSTEM, FOLLOW_UP) in _codings(resource.get("code"))
