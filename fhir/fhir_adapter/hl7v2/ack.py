"""HL7 original-mode acknowledgements (ACK^R01) for a message, a failed parse, or input that is not HL7.

The ACK speaks the message's language: its delimiters, version (MSH-12) and character set (MSH-18,
copied), sender and receiver swapped, MSA-2 the message's control id. Errors go into an ERR segment
in the form the version knows: ERR-1 (ELD) up to v2.4, ERR-2..8 (ERL, CWE) from v2.5 on. Input without
a readable MSH still gets a valid ACK (v2.5.1, default delimiters, AR).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fhir_adapter.hl7v2.errors import AckCode, Hl7Error
from fhir_adapter.hl7v2.header import MessageHeader, read_header
from fhir_adapter.hl7v2.model import OruMessage
from fhir_adapter.hl7v2.syntax import Delimiters, escape
from fhir_adapter.hl7v2.timestamps import hl7_now

DEFAULT_VERSION = "2.5.1"
MSA_TEXT_LIMIT = 80  # MSA-3 is an ST of at most 80 characters in v2.3 to v2.5.1
CONTROL_ID_LIMIT = 20
LOCAL_ERROR_SYSTEM = "99NHB"  # local coding system of ERR-5, this bridge's error codes


def build_ack(
    source: bytes | OruMessage,
    code: AckCode | None = None,
    text: str = "",
    error: Hl7Error | None = None,
    *,
    default_encoding: str = "utf-8",
    control_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """The ACK as text (segments ending in CR); encode it with ``ack_encoding(source)``.

    ``code`` defaults to the error's ACK code, else AA; ``text`` (MSA-3) to the error's reason.
    """
    header = source.header if isinstance(source, OruMessage) else read_header(source, default_encoding)
    ack_code: AckCode = code or (error.ack_code if error is not None else "AA")
    if error is None and ack_code != "AA":
        error = Hl7Error("rejected" if ack_code == "AR" else "error", text or "the message was not accepted", ack_code)
    message_text = text or (error.reason if error is not None else "")
    d = header.delimiters if header is not None else Delimiters()
    version = (header.component(12) if header is not None else "") or DEFAULT_VERSION
    segments = [
        _msh(header, d, version, control_id, now),
        _msa(header, d, ack_code, message_text, error, version),
    ]
    if error is not None:
        segments.append(_err(d, error, version))
    return "".join(d.field.join(fields) + "\r" for fields in segments)


def build_ack_bytes(
    source: bytes | OruMessage,
    code: AckCode | None = None,
    text: str = "",
    error: Hl7Error | None = None,
    *,
    default_encoding: str = "utf-8",
) -> bytes:
    """``build_ack`` encoded in the message's character set (unencodable characters become ``?``)."""
    ack = build_ack(source, code, text, error, default_encoding=default_encoding)
    return ack.encode(ack_encoding(source, default_encoding), errors="replace")


def ack_encoding(source: bytes | OruMessage, default_encoding: str = "utf-8") -> str:
    if isinstance(source, OruMessage):
        return source.encoding
    header = read_header(source, default_encoding)
    return header.codec if header is not None else "utf-8"


def _msh(
    header: MessageHeader | None, d: Delimiters, version: str, control_id: str | None, now: datetime | None
) -> list[str]:
    def raw(number: int) -> str:
        return header.raw(number) if header is not None else ""

    event = (header.component(9, 2) if header is not None else "") or "R01"
    message_type = d.component.join(["ACK", escape(event, d)] + ([] if version == "2.3" else ["ACK"]))
    fields = [
        "MSH",
        d.encoding_characters,
        raw(5),
        raw(6),
        raw(3),
        raw(4),
        hl7_now(now or datetime.now().astimezone()),
        "",
        message_type,
        escape(control_id or "ACK" + uuid.uuid4().hex[: CONTROL_ID_LIMIT - 3], d),
        raw(11) or "P",
        raw(12) or DEFAULT_VERSION,
    ]
    if raw(18):
        fields += [""] * (18 - 1 - len(fields)) + [raw(18)]
    return fields


def _msa(
    header: MessageHeader | None, d: Delimiters, code: AckCode, text: str, error: Hl7Error | None, version: str
) -> list[str]:
    fields = ["MSA", code, header.raw(10) if header is not None else "", escape(text[:MSA_TEXT_LIMIT], d)]
    if error is not None and _before_v25(version):
        # MSA-6 (error condition) carried the table 0357 code until ERR-3 took over in v2.5.
        fields += ["", "", _coded(d, error.hl7_code, error.hl7_text, "HL70357", d.component)]
    return fields


def _err(d: Delimiters, error: Hl7Error, version: str) -> list[str]:
    where = error.location
    if _before_v25(version):
        # ERR-1 (ELD): segment ^ sequence ^ field ^ code&text&HL70357
        parts = [
            escape(where.segment, d) if where else "",
            str(where.occurrence) if where else "",
            str(where.field) if where and where.field is not None else "",
            _coded(d, error.hl7_code, error.hl7_text, "HL70357", d.subcomponent),
        ]
        return ["ERR", d.component.join(parts)]
    location = ""
    if where is not None:
        numbers = [where.occurrence, where.field, where.repetition, where.component]
        parts = [escape(where.segment, d)] + ["" if n is None else str(n) for n in numbers]
        location = d.component.join(parts).rstrip(d.component)
    return [
        "ERR",
        "",
        location,
        _coded(d, error.hl7_code, error.hl7_text, "HL70357", d.component),
        "E",
        _coded(d, error.code, "", LOCAL_ERROR_SYSTEM, d.component),
        "",
        escape(str(error), d),
        escape(error.reason, d),
    ]


def _coded(d: Delimiters, code: str, text: str, system: str, separator: str) -> str:
    return separator.join([escape(code, d), escape(text, d), system])


def _before_v25(version: str) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0) < (2, 5)
    except ValueError:
        return False
