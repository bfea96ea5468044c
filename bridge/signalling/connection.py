"""One open signalling socket: who is on it, which consults it joined, and its rate limit."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.consults.events import (
    alerts_topic,
    consult_topic,
    home_topic,
    participant_topic,
    station_topic,
    user_topic,
)
from bridge.consults.queue import ALL_ORGANIZATIONS_ALERTS
from bridge.directory.codes import OrgKind
from bridge.signalling.auth import Identity
from rtc.ratelimit import TokenBucket

RECORDERS_TOPIC = "recorders"
# bridge/results/news.py publishes there; spelled out here because results import the signalling protocol.
RESULTS_TOPIC_PREFIX = "results:"
# After this many refused messages the flood is not a burst any more: the socket is closed (4429).
MAX_REFUSED = 100


@dataclass
class SignalConnection:
    id: str
    identity: Identity
    bucket: TokenBucket
    # consult id -> this socket's participant id in it
    joined: dict[str, str] = field(default_factory=dict)

    def base_topics(self) -> list[str]:
        """What the socket hears from the moment it connects."""
        caller = self.identity.caller
        topics = [user_topic(caller.reference)]
        if caller.is_nurse:
            topics.append(home_topic(caller.organization_id))
        if self.identity.hears_results and caller.organization_id:
            topics.append(f"{RESULTS_TOPIC_PREFIX}{caller.organization_id}")
        if caller.is_station:
            topics.append(station_topic(caller.reference.removeprefix("client:")))
        if caller.is_recorder:
            topics.append(RECORDERS_TOPIC)
        if self.identity.is_supervisor:
            topics.append(alerts_topic(caller.organization_id))
            if self.identity.organization_kind in {OrgKind.SUPERVISORY_AUTHORITY, OrgKind.OPERATOR}:
                topics.append(ALL_ORGANIZATIONS_ALERTS)
        return topics

    def consult_topics(self, consult_id: str, participant_id: str) -> list[str]:
        return [consult_topic(consult_id), participant_topic(consult_id, participant_id)]

    def over_flood_limit(self) -> bool:
        return self.bucket.refused >= MAX_REFUSED
