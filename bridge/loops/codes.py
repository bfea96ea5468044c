"""The steps of a care loop and the clocks (deadlines) that run between them.

A *step* is something that happened (a result arrived, a nurse acknowledged advice, a pharmacy
dispensed); a *clock* is a step that is awaited: it starts when the step before it happens, is due after
the deadline in force for its kind, and stops when the awaited step happens. Each clock has a
responsible party (the home, the hospital or the pharmacy); an overdue clock alerts that party and the
supervisors (bridge/loops/overdue.py).
"""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    CONSULT_REQUESTED = "consult-requested"
    CONSULT_ACCEPTED = "consult-accepted"
    CONSULT_ENDED = "consult-ended"
    RESULT_RECEIVED = "result-received"
    RESULT_REVIEWED = "result-reviewed"
    CRITICAL_ALERTED = "critical-alerted"
    CRITICAL_ACKNOWLEDGED = "critical-acknowledged"
    ADVICE_SENT = "advice-sent"
    ADVICE_ACKNOWLEDGED = "advice-acknowledged"
    TASK_COMPLETED = "task-completed"
    TASK_CANCELLED = "task-cancelled"
    REFERRAL_REQUESTED = "referral-requested"
    REFERRAL_ACCEPTED = "referral-accepted"
    REFERRAL_DECLINED = "referral-declined"
    REFERRAL_COMPLETED = "referral-completed"
    REFERRAL_CANCELLED = "referral-cancelled"
    PRESCRIPTION_SIGNED = "prescription-signed"
    PRESCRIPTION_ACCEPTED = "prescription-accepted"
    PRESCRIPTION_REJECTED = "prescription-rejected"
    PRESCRIPTION_DISPENSED = "prescription-dispensed"
    PRESCRIPTION_DISPATCHED = "prescription-dispatched"
    PRESCRIPTION_DELIVERED = "prescription-delivered"
    PRESCRIPTION_RECEIVED = "prescription-received"
    PRESCRIPTION_CANCELLED = "prescription-cancelled"


class Party(StrEnum):
    HOME = "home"
    HOSPITAL = "hospital"
    PHARMACY = "pharmacy"


class Clock(StrEnum):
    RESULT_REVIEW = "result-review"
    CRITICAL_ACK = "critical-ack"
    ADVICE_ACK = "advice-ack"
    FOLLOW_UP = "follow-up"  # due when the task says, not after a configured deadline
    REFERRAL_RESPONSE = "referral-response"
    REFERRAL_COMPLETION = "referral-completion"
    PHARMACY_REVIEW = "pharmacy-review"
    DISPENSE = "dispense"
    DELIVERY = "delivery"
    RECEIPT = "receipt"


RESPONSIBLE: dict[Clock, Party] = {
    Clock.RESULT_REVIEW: Party.HOSPITAL,
    Clock.CRITICAL_ACK: Party.HOSPITAL,
    Clock.ADVICE_ACK: Party.HOME,
    Clock.FOLLOW_UP: Party.HOME,
    Clock.REFERRAL_RESPONSE: Party.HOSPITAL,
    Clock.REFERRAL_COMPLETION: Party.HOSPITAL,
    Clock.PHARMACY_REVIEW: Party.PHARMACY,
    Clock.DISPENSE: Party.PHARMACY,
    Clock.DELIVERY: Party.PHARMACY,
    Clock.RECEIPT: Party.HOME,
}

# Minutes, unless BRIDGE_LOOP_DEADLINES or an administrator (bridge/loops/deadlines.py) says otherwise.
# The critical-value acknowledgement defaults to BRIDGE_CRITICAL_ACK_MINUTES.
DEFAULT_DEADLINE_MINUTES: dict[Clock, int] = {
    Clock.RESULT_REVIEW: 24 * 60,
    Clock.ADVICE_ACK: 2 * 60,
    Clock.REFERRAL_RESPONSE: 24 * 60,
    Clock.REFERRAL_COMPLETION: 14 * 24 * 60,
    Clock.PHARMACY_REVIEW: 2 * 60,
    Clock.DISPENSE: 4 * 60,
    Clock.DELIVERY: 24 * 60,
    Clock.RECEIPT: 2 * 60,
}

CONFIGURABLE: tuple[Clock, ...] = tuple(c for c in Clock if c is not Clock.FOLLOW_UP)
MAX_DEADLINE_MINUTES = 90 * 24 * 60
# An acknowledgement of a critical value that may wait a day is no acknowledgement at all.
MAX_CRITICAL_ACK_MINUTES = 24 * 60


class Outcome(StrEnum):
    MET = "met"  # the awaited step happened
    CANCELLED = "cancelled"  # it will never happen (prescription cancelled, task withdrawn): not counted
