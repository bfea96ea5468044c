"""PID, OBR, OBX and NTE read into the model; every error is placed at its segment and field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from fhir_adapter.hl7v2.codes import CodedElement, read_coded
from fhir_adapter.hl7v2.errors import REQUIRED_FIELD_MISSING, TABLE_VALUE_NOT_FOUND, Hl7Error, content_error
from fhir_adapter.hl7v2.model import Note, PatientIdentifier, PatientIdentity, Result
from fhir_adapter.hl7v2.ranges import parse_range
from fhir_adapter.hl7v2.statuses import NO_RESULT, observation_status
from fhir_adapter.hl7v2.syntax import Segment, Value
from fhir_adapter.hl7v2.timestamps import Hl7Time, birth_date, parse_ts
from fhir_adapter.hl7v2.units import read_unit
from fhir_adapter.hl7v2.values import SUPPORTED_TYPES, QuantityValue, RangeValue, read_value


@dataclass
class ReadContext:
    zone: tzinfo | None  # the sender's zone for times sent without an offset
    warnings: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def time(self, segment: Segment, number: int) -> Hl7Time | None:
        text = segment.text(number)
        if not text:
            return None
        try:
            parsed = parse_ts(text, self.zone)
        except Hl7Error as error:
            raise error.at(segment.location(number)) from None
        if parsed.time_of_day_dropped:
            self.warn(f"{segment.location(number)}: {text!r} has no time zone and none is known; kept as a date")
        return parsed.time


def read_patient(segment: Segment, context: ReadContext) -> PatientIdentity:
    identifiers = [_identifier(rep) for rep in segment.repetitions(3)]
    # PID-2 (external id) was withdrawn in v2.5 but v2.3 senders still put the only id there.
    identifiers += [_identifier(rep) for rep in segment.repetitions(2)]
    found = tuple(i for i in identifiers if i is not None)
    if not found:
        raise content_error(
            "missing_patient_identifier",
            "PID-3 (patient identifier list) is empty: the results cannot be matched to a resident",
            REQUIRED_FIELD_MISSING,
            segment.location(3),
        )
    family = ""
    given: tuple[str, ...] = ()
    for name in segment.repetitions(5):
        family = name.component(1)
        given = tuple(part for part in (name.component(2), name.component(3)) if part)
        if family or given:
            break
    born_text = segment.text(7)
    born = birth_date(born_text) if born_text else None
    if born_text and born is None:
        context.warn(f"{segment.location(7)}: birth date {born_text!r} is not a valid date; left out")
    return PatientIdentity(found, family, given, born, segment.text(8) or None)


def _identifier(value: Value) -> PatientIdentifier | None:
    number = value.component(1)
    if not number:
        return None
    namespace, universal = value.component(4, 1), value.component(4, 2)
    return PatientIdentifier(number, namespace or universal or None, value.component(5) or None)


def read_service(segment: Segment) -> CodedElement:
    service = _coded(segment, 4)
    if service.is_empty:
        raise content_error(
            "missing_service",
            "OBR-4 (universal service identifier) is empty: the report has no code",
            REQUIRED_FIELD_MISSING,
            segment.location(4),
        )
    return service


def _coded(segment: Segment, number: int) -> CodedElement:
    try:
        return read_coded(segment.first(number))
    except Hl7Error as error:
        raise error.at(segment.location(number)) from None


def read_note(segment: Segment) -> Note | None:
    lines = [rep.text for rep in segment.repetitions(3)]
    text = "\n".join(line for line in lines if line)
    return Note(text, segment.text(2)) if text else None


def read_result(segment: Segment, context: ReadContext) -> Result:
    value_type = segment.text(2).upper()
    code = _coded(segment, 3)
    if code.is_empty:
        raise content_error(
            "missing_observation_code",
            "OBX-3 (observation identifier) is empty",
            REQUIRED_FIELD_MISSING,
            segment.location(3),
        )
    status = segment.text(11).upper()
    try:
        observation_status(status)
    except Hl7Error as error:
        raise error.at(segment.location(11)) from None
    repetitions = segment.repetitions(5)
    if repetitions and not value_type:
        raise content_error(
            "missing_value_type", "OBX-5 has a value but OBX-2 (value type) is empty", REQUIRED_FIELD_MISSING,
            segment.location(2),
        )  # fmt: skip
    if repetitions and value_type not in SUPPORTED_TYPES:
        raise content_error(
            "unsupported_value_type",
            f"value type {value_type!r} (OBX-2) is not supported; supported: {', '.join(sorted(SUPPORTED_TYPES))}",
            TABLE_VALUE_NOT_FOUND,
            segment.location(2),
        )
    if repetitions and status in NO_RESULT:
        context.warn(f"{segment.location(5)}: value ignored, as result status {status} means there is no result")
        repetitions = ()
    unit = read_unit(segment.first(6))

    def warn(text: str) -> None:
        context.warn(f"{segment.location(5)}: {text}")

    try:
        value = read_value(value_type, repetitions, context.zone, warn)
    except Hl7Error as error:
        raise error.at(segment.location(5)) from None
    numeric = isinstance(value, QuantityValue | RangeValue) or (value is None and value_type in ("NM", "SN"))
    flags = tuple(flag for flag in (rep.component(1) for rep in segment.repetitions(8)) if flag)
    return Result(
        set_id=segment.text(1),
        value_type=value_type,
        code=code,
        sub_id=segment.text(4),
        value=value,
        unit=unit,
        reference_range=parse_range(segment.whole_text(7), unit, numeric=numeric),
        flags=flags,
        status=status,
        effective=context.time(segment, 14),
        notes=(),
        key="",
        line=segment.line,
    )
