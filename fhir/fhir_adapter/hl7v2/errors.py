"""Why a message was refused: one exception type carrying everything an HL7 ACK needs to say so.

``code`` is for programs (stable, snake_case), ``reason`` for people, ``ack_code`` is the MSA-1 to
answer with and ``hl7_code`` the HL7 table 0357 code for ERR. AR means "rejected as a message" (not
HL7, wrong type, version or character set, cut short); AE means "a message, but its content is wrong"
(a missing PID or OBR, a number that is not one, an unknown code).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

AckCode = Literal["AA", "AE", "AR"]

# HL7 table 0357, message error condition codes (the ones this package answers with).
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_VERSION_ID = "203"
APPLICATION_INTERNAL_ERROR = "207"

HL7_ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class ErrorLocation:
    """Where in the message (HL7 ERL): segment id, its occurrence among segments of that id, field,
    repetition and component numbers (1-based), plus the segment's line in the message for people."""

    segment: str
    occurrence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.segment if self.occurrence == 1 else f"{self.segment}[{self.occurrence}]"
        if self.field is not None:
            where += f"-{self.field}"
            if self.component is not None:
                where += f".{self.component}"
        if self.line is not None:
            where += f" (segment {self.line})"
        return where


@dataclass
class Hl7Error(Exception):
    """A message this package will not map, and the answer it deserves."""

    code: str
    reason: str
    ack_code: AckCode = "AE"
    hl7_code: str = APPLICATION_INTERNAL_ERROR
    location: ErrorLocation | None = None
    # Python codec of the message when it was known: the ACK is sent in the same character set.
    encoding: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    def __str__(self) -> str:
        return f"{self.reason} at {self.location}" if self.location is not None else self.reason

    def at(self, location: ErrorLocation) -> Hl7Error:
        """The same error placed in the message, unless it already knows a more precise place."""
        if self.location is not None and self.location.field is not None:
            return self
        return replace(self, location=location)

    def with_encoding(self, encoding: str) -> Hl7Error:
        return self if self.encoding is not None else replace(self, encoding=encoding)

    @property
    def hl7_text(self) -> str:
        return HL7_ERROR_TEXT.get(self.hl7_code, "Application error")

    @classmethod
    def too_large(cls, size: int, limit: int) -> Hl7Error:
        return cls("too_large", f"the message has {size} bytes; at most {limit} are accepted", "AR")


def rejected(code: str, reason: str, hl7_code: str, location: ErrorLocation | None = None) -> Hl7Error:
    """AR: the message as a whole is not one this receiver takes."""
    return Hl7Error(code, reason, "AR", hl7_code, location)


def content_error(code: str, reason: str, hl7_code: str, location: ErrorLocation | None = None) -> Hl7Error:
    """AE: a message, but something in it is wrong or cannot be represented."""
    return Hl7Error(code, reason, "AE", hl7_code, location)
