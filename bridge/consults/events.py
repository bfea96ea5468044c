"""What a consult change must tell whom: messages addressed to hub topics, published after commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def user_topic(principal_ref: str) -> str:
    return f"user:{principal_ref}"


def consult_topic(consult_id: str) -> str:
    return f"consult:{consult_id}"


def participant_topic(consult_id: str, participant_id: str) -> str:
    # Carries the consult id so that only a socket that joined this consult as this participant hears it.
    return f"consult:{consult_id}:p:{participant_id}"


def queue_topic(hospital_id: str) -> str:
    return f"queue:{hospital_id}"


def home_topic(home_id: str) -> str:
    return f"home:{home_id}"


def station_topic(client_id: str) -> str:
    return f"station:{client_id}"


def alerts_topic(organization_id: str) -> str:
    return f"alerts:{organization_id}"


@dataclass(frozen=True)
class Delivery:
    topic: str
    message: dict[str, Any]


@dataclass
class Outcome:
    """The reply to the sender (if any) and the deliveries to publish once the transaction commits."""

    reply: dict[str, Any] | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def tell(self, topic: str, message: dict[str, Any]) -> None:
        self.deliveries.append(Delivery(topic, message))

    def extend(self, other: Outcome) -> None:
        self.deliveries.extend(other.deliveries)
