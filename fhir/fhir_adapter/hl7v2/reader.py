"""``parse_oru``: bytes to an OruMessage, or an Hl7Error that says why not.

The message structure is walked the way HL7's receiving rules ask (v2.5.1 section 2.12): segments this
receiver has no use for (SFT, PV1, ORC details, TQ1, SPM, PRT, Z segments...) are skipped, and clinical
segments found where the structure has no place for them (an OBX before any OBR, a patient-level NTE)
are left out with a warning on the message, never silently. Content is read strictly: a value that
cannot be represented faithfully refuses the whole message, which the sender can correct and resend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import tzinfo

from fhir_adapter.hl7v2.charset import Decoded, decode_message
from fhir_adapter.hl7v2.errors import SEGMENT_SEQUENCE_ERROR, ErrorLocation, Hl7Error, content_error, rejected
from fhir_adapter.hl7v2.header import MessageHeader
from fhir_adapter.hl7v2.model import Note, Order, OruMessage, PatientIdentity, Result
from fhir_adapter.hl7v2.segments import ReadContext, read_note, read_patient, read_result, read_service
from fhir_adapter.hl7v2.statuses import report_status
from fhir_adapter.hl7v2.syntax import Segment, split_message
from fhir_adapter.hl7v2.timestamps import offset_zone

logger = logging.getLogger(__name__)


def parse_oru(raw: bytes, *, default_encoding: str = "utf-8", default_timezone: tzinfo | None = None) -> OruMessage:
    """Read one ORU^R01 (v2.3 to v2.5.1).

    ``default_encoding`` (a Python codec name) applies when MSH-18 is empty; ``default_timezone`` is
    the sender's zone for times sent without an offset when MSH-7 carries none either. Raises Hl7Error;
    ValueError only for a ``default_encoding`` Python does not know.
    """
    decoded = decode_message(raw, default_encoding)
    try:
        message = _parse(decoded, default_timezone)
    except Hl7Error as error:
        raise error.with_encoding(decoded.codec) from None
    logger.debug(
        "ORU^R01 %s from %s: %d orders, %d results, %d warnings",
        message.control_id,
        message.sender_key,
        len(message.orders),
        sum(len(order.results) for order in message.orders),
        len(message.warnings),
    )
    return message


@dataclass
class _ResultDraft:
    result: Result
    notes: list[Note] = field(default_factory=list)


@dataclass
class _OrderDraft:
    order: Order  # read when its OBR is met, so errors come in message order
    notes: list[Note] = field(default_factory=list)
    results: list[_ResultDraft] = field(default_factory=list)

    @classmethod
    def read(cls, segment: Segment, context: ReadContext) -> _OrderDraft:
        try:
            report_status(segment.text(25).upper(), [])
        except Hl7Error as error:
            raise error.at(segment.location(25)) from None
        return cls(
            Order(
                set_id=segment.text(1),
                placer=segment.text(2),
                filler=segment.text(3),
                service=read_service(segment),
                observed=context.time(segment, 7),
                reported=context.time(segment, 22),
                status=segment.text(25).upper(),
                notes=(),
                results=(),
                line=segment.line,
            )
        )

    def freeze(self, context: ReadContext) -> Order:
        results = tuple(replace(d.result, notes=tuple(d.notes)) for d in self.results)
        return replace(self.order, notes=tuple(self.notes), results=_with_keys(results, context))


def _parse(decoded: Decoded, default_timezone: tzinfo | None) -> OruMessage:
    segments = split_message(decoded.text, decoded.delimiters, decoded.codec)
    header = MessageHeader.from_text(decoded.text.split("\r", 1)[0], decoded.delimiters, decoded.codec)
    header.check_oru_r01()
    context = ReadContext(offset_zone(header.component(7)) or default_timezone)
    sent = context.time(segments[0], 7)
    patient: PatientIdentity | None = None
    orders: list[_OrderDraft] = []
    order: _OrderDraft | None = None
    result: _ResultDraft | None = None
    for segment in segments[1:]:
        name = segment.name
        if name == "MSH":
            raise rejected(
                "several_messages", "a second MSH: send one message at a time", SEGMENT_SEQUENCE_ERROR,
                segment.location(),
            )  # fmt: skip
        if name == "PID":
            patient = _patient(segment, context, patient, orders)
        elif name == "ORC":
            order, result = None, None  # a new order group starts; its OBR comes next
        elif name == "OBR":
            if patient is None:
                raise _missing_pid(segment.location())
            order, result = _OrderDraft.read(segment, context), None
            orders.append(order)
        elif name == "OBX":
            if order is None:
                context.warn(f"{segment.location()}: OBX outside an order group (no OBR before it) left out")
                result = None
                continue
            result = _ResultDraft(read_result(segment, context))
            order.results.append(result)
        elif name == "NTE":
            _note(segment, context, order, result)
        elif name == "SPM":
            result = None  # OBX after SPM describe the specimen and still belong to the order
    if patient is None:
        raise _missing_pid(ErrorLocation("PID"))
    if not orders:
        raise content_error(
            "missing_obr", "no OBR segment: the message holds no order to report", SEGMENT_SEQUENCE_ERROR,
            ErrorLocation("OBR"),
        )  # fmt: skip
    frozen = tuple(draft.freeze(context) for draft in orders)
    return OruMessage(header, patient, frozen, sent.moment if sent else None, tuple(context.warnings))


def _patient(
    segment: Segment, context: ReadContext, earlier: PatientIdentity | None, orders: list[_OrderDraft]
) -> PatientIdentity:
    if earlier is not None:
        raise content_error(
            "several_patients",
            "a second PID: one patient per message is supported",
            SEGMENT_SEQUENCE_ERROR,
            segment.location(),
        )
    if orders:
        raise content_error("segment_sequence", "PID after OBR", SEGMENT_SEQUENCE_ERROR, segment.location())
    return read_patient(segment, context)


def _note(segment: Segment, context: ReadContext, order: _OrderDraft | None, result: _ResultDraft | None) -> None:
    note = read_note(segment)
    if note is None:
        return
    if result is not None:
        result.notes.append(note)
    elif order is not None:
        order.notes.append(note)
    else:
        context.warn(f"{segment.location()}: note outside an order group (patient or order comment) left out")


def _missing_pid(location: ErrorLocation) -> Hl7Error:
    return content_error(
        "missing_pid",
        "no PID segment before the first OBR: the results cannot be linked to a patient",
        SEGMENT_SEQUENCE_ERROR,
        location,
    )


def _with_keys(results: tuple[Result, ...], context: ReadContext) -> tuple[Result, ...]:
    """Each result's key within its order: code and sub-id, which a correction repeats (OBX-1 need not).
    A key sent twice is told apart by its occurrence, which a resend in the same order keeps."""
    seen: dict[str, int] = {}
    keyed = []
    for result in results:
        key = result.code.key + (f"/{result.sub_id}" if result.sub_id else "")
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            context.warn(
                f"OBX (segment {result.line}): {key} appears {seen[key]} times in its order without a distinct "
                "OBX-4 sub-id; told apart by position"
            )
            key = f"{key}#{seen[key]}"
        keyed.append(replace(result, key=key))
    return tuple(keyed)
