"""HL7 v2 laboratory results (ORU^R01, v2.3 to v2.5.1) to FHIR R4, and the ACK that answers them.

Public API::

    parse_oru(raw: bytes, *, default_encoding: str = "utf-8",
              default_timezone: tzinfo | None = None) -> OruMessage          # raises Hl7Error
    OruMessage.to_fhir(subject_reference: str, *, performer_reference: str | None = None,
                       code_map: CodeMap | None = None) -> list[FhirEntry]   # (full_url, resource) pairs
    build_ack(source: bytes | OruMessage, code: "AA" | "AE" | "AR" | None = None, text: str = "",
              error: Hl7Error | None = None, *, default_encoding="utf-8", control_id=None, now=None) -> str
    build_ack_bytes(source, code=None, text="", error=None, *, default_encoding="utf-8") -> bytes
    read_header(raw: bytes, default_encoding="utf-8") -> MessageHeader | None   # never raises
    CodeMap.from_csv(text) / default_code_map()                                  # local code -> LOINC

``OruMessage`` (frozen) has ``control_id``, ``version``, ``sending_application``,
``sending_facility``, ``processing_id``, ``message_time``, ``encoding`` (the Python codec used, for the
ACK), ``patient`` (``PatientIdentity``: identifiers as (value, authority, type_code), family, given,
birth_date, sex/gender), ``orders`` (``Order``: OBR with its ``Result``s (OBX) and notes (NTE)) and
``warnings`` (what was read leniently or left out: say an OBX before any OBR, or a time of day dropped
for want of a time zone).

``Hl7Error`` carries ``code`` (snake_case, for programs), ``reason`` (for people), ``ack_code`` (AE:
the content is wrong; AR: the message is rejected as such), ``hl7_code`` (table 0357), ``location``
(segment, occurrence, field, component: the ERR segment's content) and ``encoding`` when known.

Mapping: each OBR is a DiagnosticReport (category LAB of v2-0074), each OBX an Observation (category
laboratory) of the given subject; codes keep the sender's coding and gain LOINC from the code map when
the sender gave none; NM/SN values are Quantities (ranges, ratios) with UCUM codes only when certain;
OBX-7 ranges keep their text, OBX-8 flags become v3 ObservationInterpretation codes, OBX-11 the status
(C corrected, X cancelled, ...), OBX-14 (else OBR-7) the effective time with its offset and precision.
NTE after an OBX become its notes, NTE after an OBR the report's conclusion; OBX of type ED or RP (a
document, a pointer to one) become the report's presentedForm, as an R4 Observation cannot hold one.
Every resource has one business identifier that a correction repeats, so the earlier version can be
found: system ``urn:nhbridge:hl7v2:<sender>:report`` or ``...:result`` (sender: MSH-4, else MSH-3),
value ``<filler, else placer:placer order number>/<OBR-4 code>[/<OBX-3 code>[/<OBX-4 sub-id>]]``.
The ``urn:uuid`` fullUrls derive from it, so a resent message gives the same entries.

Escapes (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\.br\\ \\Xhh\\``), repetitions, any unambiguous delimiters in
MSH-1/MSH-2, and the character sets of MSH-18 (UNICODE UTF-8, GB 18030-2000, 8859/n, ASCII, BIG-5,
KS X 1001) are understood. A message must end with its segment terminator: one that does not was cut
short and is refused as truncated.
"""

from fhir_adapter.hl7v2.ack import ack_encoding, build_ack, build_ack_bytes
from fhir_adapter.hl7v2.errors import AckCode, ErrorLocation, Hl7Error
from fhir_adapter.hl7v2.header import MessageHeader, read_header
from fhir_adapter.hl7v2.loinc_map import CodeMap, default_code_map
from fhir_adapter.hl7v2.model import Note, Order, OruMessage, PatientIdentifier, PatientIdentity, Result
from fhir_adapter.hl7v2.reader import parse_oru
from fhir_adapter.hl7v2.to_fhir import FhirEntry

__all__ = [
    "AckCode",
    "CodeMap",
    "ErrorLocation",
    "FhirEntry",
    "Hl7Error",
    "MessageHeader",
    "Note",
    "Order",
    "OruMessage",
    "PatientIdentifier",
    "PatientIdentity",
    "Result",
    "ack_encoding",
    "build_ack",
    "build_ack_bytes",
    "default_code_map",
    "parse_oru",
    "read_header",
]
