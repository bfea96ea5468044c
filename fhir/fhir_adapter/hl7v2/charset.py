"""From bytes to text: framing stripped, the character set chosen from MSH-18 (or the caller's default),
the whole message decoded, truncation and wrong encodings reported as such.

MSH-18 has to be read before the message can be decoded. Splitting raw bytes on ``|`` is unsafe for
GB18030, whose second bytes may be 0x5C ``\\`` or 0x7C ``|``, so only the MSH segment is split (CR never
occurs inside a GB18030 or UTF-8 character) and the result is checked by decoding MSH again with the
character set it names.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass

from fhir_adapter.hl7v2.errors import (
    DATA_TYPE_ERROR,
    SEGMENT_SEQUENCE_ERROR,
    TABLE_VALUE_NOT_FOUND,
    ErrorLocation,
    rejected,
)
from fhir_adapter.hl7v2.syntax import Delimiters, read_delimiters

logger = logging.getLogger(__name__)

# HL7 table 0211 values this receiver decodes, and the Python codec for each.
CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "GB 18030-2000": "gb18030",
    "BIG-5": "big5",
    "KS X 1001": "euc_kr",
}
# Names Chinese laboratory systems put in MSH-18 instead of the table's; GB18030 decodes GB2312 and GBK.
ALIASES: dict[str, str] = {
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "GBK": "gb18030",
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
}
# Table 0211 values that exist but that this receiver does not decode (16/32-bit units, ISO 2022 switching).
UNSUPPORTED = frozenset(
    {"UNICODE", "UNICODE UTF-16", "UNICODE UTF-32", "ISO IR14", "ISO IR87", "ISO IR159", "CNS 11643-1992"}
)

_MLLP_START = b"\x0b"
_MLLP_END = b"\x1c"
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class Decoded:
    text: str  # segments separated by CR, no trailing terminator
    codec: str
    charset: str  # MSH-18 as sent ("" when absent)
    delimiters: Delimiters


def python_codec(name: str) -> str:
    """A caller's codec name, normalised; ValueError if Python does not know it (a setup mistake)."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown character encoding {name!r}") from None


def decode_message(raw: bytes, default_encoding: str) -> Decoded:
    default = python_codec(default_encoding)
    body = unframe(raw).lstrip(b"\r\n\t ")
    if not body.strip():
        raise rejected("empty_message", "the message is empty", SEGMENT_SEQUENCE_ERROR)
    first = first_segment(body)
    if not first.startswith(b"MSH"):
        what = "a batch (FHS/BHS): send one message at a time" if first[:3] in (b"FHS", b"BHS") else repr(first[:20])
        raise rejected("not_hl7", f"not an HL7 v2 message: it must start with MSH, not {what}", SEGMENT_SEQUENCE_ERROR)
    if not body.endswith((b"\r", b"\n")):
        last = body.replace(b"\n", b"\r").rsplit(b"\r", 1)[-1]
        raise rejected(
            "truncated",
            f"the message is cut short: its last segment ({last[:3].decode('latin-1')!r}, {len(last)} bytes) "
            "has no segment terminator (CR)",
            SEGMENT_SEQUENCE_ERROR,
            ErrorLocation(last[:3].decode("latin-1") or "?", line=_line_count(body)),
        )
    delimiters = read_delimiters(first.decode("latin-1"))
    charset, codec = declared_charset(first, delimiters, default)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line = body.count(b"\r", 0, exc.start) + 1 if b"\r" in body else body.count(b"\n", 0, exc.start) + 1
        name = charset or f"the default {codec}"
        raise rejected(
            "undecodable",
            f"bytes {body[exc.start : exc.start + 4].hex(' ')} at offset {exc.start} are not valid {name}",
            DATA_TYPE_ERROR,
            ErrorLocation(_segment_at(body, exc.start), line=line),
        ).with_encoding(codec) from None
    return Decoded(_segments_text(text), codec, charset, delimiters)


def unframe(raw: bytes) -> bytes:
    """Without MLLP start/end bytes and a UTF-8 byte order mark, which some senders leave in."""
    body = raw.lstrip(_MLLP_START)
    if body.endswith(_MLLP_END + b"\r"):
        body = body[:-2]
    body = body.rstrip(_MLLP_END)
    return body.removeprefix(_BOM)


def first_segment(body: bytes) -> bytes:
    body = body.lstrip(b"\r\n\t ")
    end = min((i for i in (body.find(b"\r"), body.find(b"\n")) if i != -1), default=len(body))
    return body[:end]


def declared_charset(msh: bytes, delimiters: Delimiters, default: str) -> tuple[str, str]:
    """(MSH-18 as sent, Python codec). The default codec reads MSH first; when MSH-18 names another
    character set, MSH is decoded again with it and must name the same one."""
    where = ErrorLocation("MSH", field=18, line=1)
    first_read = _msh18(msh, delimiters, default) or _msh18(msh, delimiters, "latin-1") or ""
    if not first_read:
        return "", default
    codec = charset_codec(first_read, where)
    if codec != default and _msh18(msh, delimiters, codec) != first_read:
        raise rejected(
            "undecodable",
            f"MSH-18 names {first_read!r}, but the MSH segment does not decode consistently with it",
            DATA_TYPE_ERROR,
            where,
        )
    return first_read, codec


def charset_codec(value: str, where: ErrorLocation | None = None) -> str:
    key = " ".join(value.upper().split())
    if key in CHARSETS:
        return CHARSETS[key]
    if key in ALIASES:
        logger.debug("MSH-18 %r is not an HL7 table 0211 value; read as %s", value, ALIASES[key])
        return ALIASES[key]
    reason = (
        f"MSH-18 character set {value!r} is not supported (UTF-16/32 and ISO 2022 code switching are not)"
        if key in UNSUPPORTED
        else f"MSH-18 character set {value!r} is unknown"
    )
    raise rejected(
        "unsupported_charset",
        reason + "; use UNICODE UTF-8, GB 18030-2000, ASCII or 8859/n",
        TABLE_VALUE_NOT_FOUND,
        where,
    )


def _msh18(msh: bytes, delimiters: Delimiters, codec: str) -> str | None:
    try:
        text = msh.decode(codec)
    except UnicodeDecodeError:
        return None
    fields = text.split(delimiters.field)
    # fields[0] is "MSH" and fields[1] MSH-2, so MSH-n is fields[n - 1].
    value = fields[17] if len(fields) > 17 else ""
    return value.split(delimiters.repetition)[0].split(delimiters.component)[0].strip()


def _segments_text(text: str) -> str:
    # CR is the HL7 terminator. Files often use CRLF or LF instead; a lone LF inside a CR-terminated
    # message is left alone, as some laboratory systems put one in free text.
    text = text.replace("\r\n", "\r") if "\r" in text else text.replace("\n", "\r")
    return "\r".join(line for line in text.split("\r") if line.strip())


def _line_count(body: bytes) -> int:
    return len([line for line in body.replace(b"\n", b"\r").split(b"\r") if line.strip()])


def _segment_at(body: bytes, offset: int) -> str:
    start = max(body.rfind(b"\r", 0, offset), body.rfind(b"\n", 0, offset)) + 1
    return body[start : start + 3].decode("latin-1") or "?"
