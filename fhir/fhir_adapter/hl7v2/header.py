"""MSH: who sent the message, what it is, and how to answer it.

The header is kept as sent (escaped field text by field number) because the ACK copies MSH-3 to MSH-6
back with the same delimiters. ``read_header`` never raises, so even a message refused for its content
or its version gets an ACK that names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_adapter.hl7v2.charset import charset_codec, first_segment, python_codec, unframe
from fhir_adapter.hl7v2.errors import (
    REQUIRED_FIELD_MISSING,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_VERSION_ID,
    ErrorLocation,
    Hl7Error,
    rejected,
)
from fhir_adapter.hl7v2.syntax import Delimiters, read_delimiters, unescape

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")


@dataclass(frozen=True)
class MessageHeader:
    fields: tuple[str, ...]  # fields[n - 1] is MSH-n as sent; MSH-1 is the field separator itself
    delimiters: Delimiters
    codec: str

    @classmethod
    def from_text(cls, msh: str, delimiters: Delimiters, codec: str) -> MessageHeader:
        parts = msh.split(delimiters.field)
        return cls((delimiters.field, *parts[1:]), delimiters, codec)

    def raw(self, number: int) -> str:
        return self.fields[number - 1] if 0 < number <= len(self.fields) else ""

    def component(self, number: int, component: int = 1) -> str:
        first = self.raw(number).split(self.delimiters.repetition)[0]
        parts = first.split(self.delimiters.component)
        text = parts[component - 1] if component <= len(parts) else ""
        return unescape(text, self.delimiters, self.codec).strip()

    def hd(self, number: int) -> str:
        """An HD field (application, facility) as one name: its namespace id, else its universal id."""
        return self.component(number, 1) or self.component(number, 2)

    @property
    def control_id(self) -> str:
        return self.component(10)

    @property
    def version(self) -> str:
        return self.component(12)

    @property
    def charset(self) -> str:
        return self.component(18)

    @property
    def sender_key(self) -> str:
        """Who owns this sender's local codes and order numbers: the facility, else the application."""
        return self.hd(4) or self.hd(3) or "unknown"

    def check_oru_r01(self) -> None:
        """Refuse (AR) anything but an ORU^R01 of a supported version with a control id."""
        message_type, event = self.component(9, 1), self.component(9, 2)
        if message_type != "ORU":
            raise rejected(
                "unsupported_message_type",
                f"message type {message_type or '(empty)'}^{event} is not supported: only ORU^R01 lab results",
                UNSUPPORTED_MESSAGE_TYPE,
                ErrorLocation("MSH", field=9, line=1),
            )
        if event != "R01":
            raise rejected(
                "unsupported_event",
                f"trigger event ORU^{event or '(empty)'} is not supported: only ORU^R01",
                UNSUPPORTED_EVENT_CODE,
                ErrorLocation("MSH", field=9, component=2, line=1),
            )
        if self.version not in SUPPORTED_VERSIONS:
            raise rejected(
                "unsupported_version",
                f"HL7 version {self.version or '(empty)'} (MSH-12) is not supported: {', '.join(SUPPORTED_VERSIONS)}",
                UNSUPPORTED_VERSION_ID,
                ErrorLocation("MSH", field=12, line=1),
            )
        if not self.control_id:
            raise rejected(
                "missing_control_id",
                "MSH-10 (message control id) is empty",
                REQUIRED_FIELD_MISSING,
                ErrorLocation("MSH", field=10, line=1),
            )


def read_header(raw: bytes, default_encoding: str = "utf-8") -> MessageHeader | None:
    """The MSH of raw input, as far as it can be read; None when there is no usable MSH."""
    first = first_segment(unframe(raw))
    if not first.startswith(b"MSH"):
        return None
    try:
        delimiters = read_delimiters(first.decode("latin-1"))
    except Hl7Error:
        return None
    default = _codec_or_utf8(default_encoding)
    header = MessageHeader.from_text(first.decode(default, errors="replace"), delimiters, default)
    try:
        codec = charset_codec(header.charset) if header.charset else default
    except Hl7Error:
        return header
    return MessageHeader.from_text(first.decode(codec, errors="replace"), delimiters, codec)


def _codec_or_utf8(name: str) -> str:
    try:
        return python_codec(name)
    except ValueError:
        return "utf-8"
