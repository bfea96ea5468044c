"""OBX-5 read by its OBX-2 value type (HL7 table 0125).

NM is one number; SN a structured numeric (comparator ^ number ^ separator ^ number: ``>^11.0``,
``^1^:^128``, ``^10^-^20``); ST, TX and FT text (repetitions are lines); CE, CWE, CNE and CF a coded
value; DT, TS and DTM a date/time; TM a time of day; ED and RP a document or a pointer to one. Anything
else is refused: a value this package cannot represent faithfully is not guessed at.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal

from fhir_adapter.hl7v2.codes import CodedElement, read_coded
from fhir_adapter.hl7v2.errors import DATA_TYPE_ERROR, TABLE_VALUE_NOT_FOUND, content_error
from fhir_adapter.hl7v2.syntax import Value
from fhir_adapter.hl7v2.timestamps import Hl7Time, parse_ts

NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_COMPARED = re.compile(r"^(<=|>=|<|>)\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))$")
_TIME = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,4}))?(?:[+-]\d{4})?$")
COMPARATORS = {"": None, "=": None, "<": "<", ">": ">", "<=": "<=", ">=": ">="}
TEXT_TYPES = frozenset({"ST", "TX", "FT"})
CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF"})
SUPPORTED_TYPES = frozenset({"NM", "SN", "DT", "TS", "DTM", "TM", "ED", "RP"} | TEXT_TYPES | CODED_TYPES)
# ED/RP subtypes (HL7 table 0291) to MIME types; others are application/octet-stream.
MIME_TYPES = {
    "PDF": "application/pdf",
    "JPEG": "image/jpeg",
    "JPG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "PICT": "image/pict",
    "HTML": "text/html",
    "XML": "text/xml",
    "RTF": "application/rtf",
    "PLAIN": "text/plain",
    "DICOM": "application/dicom",
}


@dataclass(frozen=True)
class QuantityValue:
    value: Decimal
    comparator: str | None = None


@dataclass(frozen=True)
class RangeValue:
    low: Decimal
    high: Decimal


@dataclass(frozen=True)
class RatioValue:
    numerator: Decimal
    denominator: Decimal


@dataclass(frozen=True)
class TextValue:
    text: str


@dataclass(frozen=True)
class CodedValue:
    element: CodedElement


@dataclass(frozen=True)
class DateTimeValue:
    time: Hl7Time


@dataclass(frozen=True)
class TimeValue:
    text: str  # FHIR time, hh:mm:ss


@dataclass(frozen=True)
class AttachmentValue:
    content_type: str
    data: str | None = None  # base64
    url: str | None = None


ResultValue = (
    QuantityValue | RangeValue | RatioValue | TextValue | CodedValue | DateTimeValue | TimeValue | AttachmentValue
)


def read_value(
    value_type: str, repetitions: tuple[Value, ...], zone: tzinfo | None, warn: Callable[[str], None]
) -> ResultValue | None:
    """The value, or None when OBX-5 is empty. Raises Hl7Error (no location) when it cannot be read."""
    if not repetitions:
        return None
    if value_type not in SUPPORTED_TYPES:
        raise content_error(
            "unsupported_value_type",
            f"value type {value_type!r} (OBX-2) is not supported; supported: {', '.join(sorted(SUPPORTED_TYPES))}",
            TABLE_VALUE_NOT_FOUND,
        )
    if value_type in TEXT_TYPES:
        return TextValue("\n".join(rep.text for rep in repetitions))
    if len(repetitions) > 1:
        raise content_error(
            "value_repeats",
            f"OBX-5 holds {len(repetitions)} values ({' ~ '.join(r.raw for r in repetitions)[:80]}) but a "
            f"{value_type} result holds one",
            DATA_TYPE_ERROR,
        )
    value = repetitions[0]
    if value_type == "NM":
        return _numeric(value.text, warn)
    if value_type == "SN":
        return _structured_numeric(value)
    if value_type in CODED_TYPES:
        element = read_coded(value)
        if element.is_empty:
            reason = f"{value_type} value {value.raw!r} has no code and no text"
            raise content_error("invalid_value", reason, DATA_TYPE_ERROR)
        return CodedValue(element)
    if value_type in ("DT", "TS", "DTM"):
        parsed = parse_ts(value.component(1), zone)
        if parsed.time_of_day_dropped:
            warn(f"OBX-5 {value.component(1)!r} has no time zone and none is known: kept as a date")
        return DateTimeValue(parsed.time)
    if value_type == "TM":
        return _time(value.component(1))
    if value_type == "ED":
        return _encapsulated(value)
    return _pointer(value)


def number(text: str) -> Decimal:
    if not NUMBER.match(text):
        raise content_error("invalid_number", f"{text!r} is not a number", DATA_TYPE_ERROR)
    return Decimal(text)


def _numeric(text: str, warn: Callable[[str], None]) -> QuantityValue:
    compared = _COMPARED.match(text)
    if compared:
        # Laboratories often send "<0.5" in an NM field where HL7 wants SN; the meaning is unambiguous.
        warn(f"NM value {text!r} has a comparator; read as a structured numeric")
        return QuantityValue(Decimal(compared.group(2)), compared.group(1))
    if not NUMBER.match(text):
        raise content_error("invalid_number", f"NM value {text!r} is not a number", DATA_TYPE_ERROR)
    return QuantityValue(Decimal(text))


def _structured_numeric(value: Value) -> ResultValue:
    comparator, first, separator, second = (value.component(i) for i in range(1, 5))
    if comparator not in COMPARATORS:
        raise content_error("invalid_value", f"SN comparator {comparator!r} is not one of = < > <= >=", DATA_TYPE_ERROR)
    if not first:
        raise content_error("invalid_number", f"SN value {value.raw!r} has no number", DATA_TYPE_ERROR)
    low = number(first)
    if not separator and not second:
        return QuantityValue(low, COMPARATORS[comparator])
    if separator == "+" and not second:
        return TextValue(f"{first}+")
    if comparator not in ("", "="):
        raise content_error("invalid_value", f"SN {value.raw!r} has a comparator and two numbers", DATA_TYPE_ERROR)
    if separator == "-" and second:
        return RangeValue(low, number(second))
    if separator in (":", "/") and second:
        return RatioValue(low, number(second))
    raise content_error("invalid_value", f"SN {value.raw!r}: separator {separator!r} is not supported", DATA_TYPE_ERROR)


def _time(text: str) -> TimeValue:
    match = _TIME.match(text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2) or 0) > 59 or int(match.group(3) or 0) > 59:
        raise content_error("invalid_timestamp", f"TM value {text!r} is not a valid time", DATA_TYPE_ERROR)
    hours, minutes, seconds, fraction = match.groups()
    out = f"{hours}:{minutes or '00'}:{seconds or '00'}"
    return TimeValue(out + (f".{fraction}" if fraction else ""))


def _encapsulated(value: Value) -> AttachmentValue:
    kind, subtype, encoding, data = (value.component(i) for i in range(2, 6))
    if not data:
        raise content_error("invalid_value", "ED value has no data (component 5)", DATA_TYPE_ERROR)
    try:
        raw = _decoded(encoding.upper(), data)
    except (binascii.Error, ValueError):
        raise content_error(
            "invalid_value", f"ED data is not valid {encoding or 'Base64'} encoding", DATA_TYPE_ERROR
        ) from None
    return AttachmentValue(_mime(kind, subtype), data=base64.b64encode(raw).decode("ascii"))


def _decoded(encoding: str, data: str) -> bytes:
    if encoding in ("A", "NONE"):
        return data.encode("utf-8")
    if encoding == "HEX":
        return bytes.fromhex(data)
    if encoding in ("BASE64", ""):
        return base64.b64decode("".join(data.split()), validate=True)
    raise ValueError(encoding)


def _pointer(value: Value) -> AttachmentValue:
    pointer = value.component(1)
    if not pointer or any(char.isspace() for char in pointer):
        raise content_error("invalid_value", f"RP pointer {pointer!r} is not a usable URL", DATA_TYPE_ERROR)
    return AttachmentValue(_mime(value.component(3), value.component(4)), url=pointer)


def _mime(kind: str, subtype: str) -> str:
    return MIME_TYPES.get(subtype.upper()) or MIME_TYPES.get(kind.upper()) or "application/octet-stream"
