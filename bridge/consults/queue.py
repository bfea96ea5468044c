"""Each internet hospital's queue: who is on duty, whom a waiting request rings, supervisors' alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bridge.clock import as_utc
from bridge.consults.events import Outcome, alerts_topic, home_topic, queue_topic, user_topic
from bridge.consults.states import ConsultState, Urgency
from bridge.consults.timings import ALERTED, RING_ALL
from bridge.consults.views import queue_item
from bridge.db.tables import Consult, LiveConnection, SupervisorAlert
from bridge.errors import NotFound
from bridge.services import Services

ALL_ORGANIZATIONS_ALERTS = alerts_topic("*")  # supervisory authorities and the operator see every alert


def is_fresh(seen_at: datetime, now: datetime, stale_after: timedelta) -> bool:
    return as_utc(seen_at) >= as_utc(now) - stale_after


class DoctorQueue:
    def __init__(self, services: Services, stale_after: timedelta) -> None:
        self.services = services
        self.db = services.db
        self.stale_after = stale_after

    def home_display(self, home_id: str) -> str:
        try:
            return str(self.services.organizations.get(home_id).get("name", home_id))
        except NotFound:  # a missing name must not stop a ring; the id still identifies it
            return home_id

    def item(self, consult: Consult) -> dict[str, Any]:
        return queue_item(consult, self.home_display(consult.home_id), self.services.now())

    def snapshot(self, hospital_id: str) -> list[dict[str, Any]]:
        waiting = self.db.scalars(
            select(Consult).where(
                Consult.hospital_id == hospital_id,
                Consult.state == ConsultState.RINGING.value,
                Consult.ward_round.is_(False),
            )
        )
        items = [self.item(c) for c in waiting]
        items.sort(key=lambda i: (Urgency(i["urgency"]).rank, i["requested_at"]))
        return items

    def on_duty_doctors(self, hospital_id: str) -> list[str]:
        now = self.services.now()
        rows = self.db.execute(
            select(LiveConnection.principal, LiveConnection.seen_at).where(
                LiveConnection.organization_id == hospital_id, LiveConnection.on_duty.is_(True)
            )
        )
        return sorted({principal for principal, seen in rows if is_fresh(seen, now, self.stale_after)})

    def longest_idle(self, doctors: list[str]) -> str | None:
        """The on-duty doctor whose last accepted consult is oldest (never accepted counts as oldest)."""
        if not doctors:
            return None
        rows = self.db.execute(
            select(Consult.accepted_by, func.max(Consult.accepted_at))
            .where(Consult.accepted_by.in_(doctors))
            .group_by(Consult.accepted_by)
        ).all()
        last: dict[str, datetime] = {doctor: as_utc(at) for doctor, at in rows if doctor and at is not None}
        never = datetime.min.replace(tzinfo=UTC)
        return min(doctors, key=lambda d: (d in last, last.get(d, never), d))

    def ring(self, consult: Consult, outcome: Outcome) -> None:
        """Tell the hospital's doctors (or, for a ward round, the home's nurses) about a waiting request."""
        item = self.item(consult)
        if consult.ward_round:
            outcome.tell(home_topic(consult.home_id), {"v": 1, "type": "queue.ring", "item": item})
            return
        if consult.escalation >= RING_ALL:
            outcome.tell(queue_topic(consult.hospital_id), {"v": 1, "type": "queue.ring", "item": item})
            return
        outcome.tell(queue_topic(consult.hospital_id), {"v": 1, "type": "queue.update", "item": item})
        chosen = self.longest_idle(self.on_duty_doctors(consult.hospital_id))
        if chosen is not None:
            outcome.tell(user_topic(chosen), {"v": 1, "type": "queue.ring", "item": item})

    def removed(self, consult: Consult, reason: str, outcome: Outcome) -> None:
        message = {"v": 1, "type": "queue.removed", "consult_id": consult.id, "reason": reason}
        topic = home_topic(consult.home_id) if consult.ward_round else queue_topic(consult.hospital_id)
        outcome.tell(topic, message)

    def alert_supervisors(self, consult: Consult, outcome: Outcome) -> None:
        now = self.services.now()
        waiting = int((as_utc(now) - as_utc(consult.created_at)).total_seconds())
        message = {
            "v": 1,
            "type": "alert",
            "kind": "consult_unanswered",
            "consult_id": consult.id,
            "urgency": consult.urgency,
            "waiting_seconds": waiting,
            "home": consult.home_id,
            "hospital": consult.hospital_id,
        }
        self.db.add(
            SupervisorAlert(
                kind="consult_unanswered",
                consult_id=consult.id,
                home_id=consult.home_id,
                hospital_id=consult.hospital_id,
                detail=json.dumps(message, ensure_ascii=False),
                created_at=now,
            )
        )
        consult.escalation = ALERTED
        for topic in (alerts_topic(consult.home_id), alerts_topic(consult.hospital_id), ALL_ORGANIZATIONS_ALERTS):
            outcome.tell(topic, message)
