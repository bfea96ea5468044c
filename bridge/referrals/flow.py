"""The receiving hospital's answers (accept with an appointment, decline with a reason, complete with an
outcome) and the referring doctor's cancel. Each checks the party and the state (context.py,
states.py), writes the Task and the ServiceRequest on the versions read, and records the step
(tracking.py).

Where things go: the appointment is the ServiceRequest's `occurrenceDateTime` (when the service is to
happen) and a Task output `appointment`; the outcome a Task output `outcome` and a note; a decline's or
cancel's reason the Task's `statusReason` and a note on the ServiceRequest (R4 ServiceRequest has no
statusReason). A declined or cancelled ServiceRequest is `revoked`; the Task says which it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bridge.auth.principal import Principal
from bridge.clock import as_utc, fhir_instant
from bridge.errors import FieldError, InvalidInput
from bridge.loops.codes import Clock, Step
from bridge.referrals.codes import APPOINTMENT_INPUT, MAX_NOTE_CHARS, MIN_DECLINE_CHARS, OUTCOME_OUTPUT
from bridge.referrals.context import ReferralContext, begin
from bridge.referrals.records import Referral, note_of, status_changes
from bridge.referrals.states import Operation
from bridge.referrals.tracking import record_step
from bridge.services import Services

# A form filled in a minute ago for "now" is not a booking in the past.
APPOINTMENT_GRACE = timedelta(minutes=5)


def accept(
    services: Services, principal: Principal, request_id: str, appointment: datetime | None, note: str | None = None
) -> Referral:
    ctx, target, request_status = begin(services, principal, request_id, Operation.ACCEPT)
    note = _note(note, "note")
    if appointment is None or appointment.tzinfo is None:
        raise InvalidInput([FieldError("appointment", "referral.error.appointment_required")])
    try:
        when_utc = as_utc(appointment)
    except OverflowError:  # year 1 east of Greenwich, or 9999 west of it: no instant in UTC
        raise InvalidInput([FieldError("appointment", "referral.error.datetime", {"name": "appointment"})]) from None
    if when_utc < as_utc(ctx.now) - APPOINTMENT_GRACE:
        raise InvalidInput([FieldError("appointment", "referral.error.appointment_past")])
    when = fhir_instant(appointment)
    outputs = [*ctx.task.get("output", []), {"type": {"text": APPOINTMENT_INPUT}, "valueDateTime": when}]
    task = ctx.save_task({**status_changes(target), "output": outputs, **_with_note(ctx, ctx.task, note)})
    ctx.save_request({"status": request_status, "occurrenceDateTime": when})
    _record(
        ctx,
        Step.REFERRAL_ACCEPTED,
        stops=[Clock.REFERRAL_RESPONSE],
        starts=[Clock.REFERRAL_COMPLETION],
        detail={"appointment": when, **({"note": note} if note else {})},
    )
    return Referral(ctx.request, task)


def decline(services: Services, principal: Principal, request_id: str, reason: str | None) -> Referral:
    ctx, target, request_status = begin(services, principal, request_id, Operation.DECLINE)
    text = (reason or "").strip()
    if len(text) < MIN_DECLINE_CHARS:
        raise InvalidInput([FieldError("reason", "referral.error.decline_reason")])
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidInput([FieldError("reason", "referral.error.too_long", {"n": MAX_NOTE_CHARS})])
    task = ctx.save_task({**status_changes(target), "statusReason": {"text": text}})
    ctx.save_request({"status": request_status, **_with_note(ctx, ctx.request, text)})
    _record(ctx, Step.REFERRAL_DECLINED, stops=[Clock.REFERRAL_RESPONSE], detail={"reason": text})
    return Referral(ctx.request, task)


def complete(services: Services, principal: Principal, request_id: str, outcome: str | None) -> Referral:
    ctx, target, request_status = begin(services, principal, request_id, Operation.COMPLETE)
    text = _note(outcome, "outcome")
    if not text:
        raise InvalidInput([FieldError("outcome", "referral.error.outcome_required")])
    outputs = [*ctx.task.get("output", []), {"type": {"text": OUTCOME_OUTPUT}, "valueString": text}]
    period = {**ctx.task.get("executionPeriod", {}), "end": fhir_instant(ctx.now)}
    task = ctx.save_task({**status_changes(target), "output": outputs, "executionPeriod": period})
    ctx.save_request({"status": request_status, **_with_note(ctx, ctx.request, text)})
    _record(ctx, Step.REFERRAL_COMPLETED, stops=[Clock.REFERRAL_COMPLETION], detail={"outcome": text})
    return Referral(ctx.request, task)


def cancel(services: Services, principal: Principal, request_id: str, reason: str | None = None) -> Referral:
    ctx, target, request_status = begin(services, principal, request_id, Operation.CANCEL)
    text = _note(reason, "reason")
    changes: dict[str, Any] = {**status_changes(target), **({"statusReason": {"text": text}} if text else {})}
    task = ctx.save_task(changes)
    ctx.save_request({"status": request_status, **_with_note(ctx, ctx.request, text)})
    _record(ctx, Step.REFERRAL_CANCELLED, cancel=True, detail={"reason": text} if text else None)
    return Referral(ctx.request, task)


def _note(text: str | None, field: str) -> str | None:
    cleaned = (text or "").strip() or None
    if cleaned and len(cleaned) > MAX_NOTE_CHARS:
        raise InvalidInput([FieldError(field, "referral.error.too_long", {"n": MAX_NOTE_CHARS})])
    return cleaned


def _with_note(ctx: ReferralContext, resource: dict[str, Any], text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    return {"note": [*resource.get("note", []), note_of(text, ctx.actor, ctx.now)]}


def _record(
    ctx: ReferralContext,
    step: Step,
    *,
    stops: list[Clock] | None = None,
    starts: list[Clock] | None = None,
    cancel: bool = False,
    detail: dict[str, Any] | None = None,
) -> None:
    record_step(
        ctx.services,
        step=step,
        patient=ctx.patient,
        home_id=ctx.home_id,
        request=ctx.request,
        task=ctx.task,
        actor=ctx.actor,
        stops=stops or [],
        starts=starts or [],
        cancel=cancel,
        detail=detail,
    )
