"""SCP-ECG (EN 1064 / ISO 11073-91064) files: sections 0-6, default Huffman table, rhythm data.

Supported: protocol versions 1.x-3.x as real resting ECGs use them: section 0 pointers, section 1 header
(acquisition date and time, device model), section 2 absent or naming the default Huffman table,
section 3 lead definitions (all leads simultaneous, equal sample ranges), section 6 rhythm data with no,
first or second difference encoding. Every CRC (the file's and each section's) is checked.

Refused with ``EcgFormatError("unsupported", ...)``: custom Huffman tables (section 2 not 19999),
reference beat subtraction (section 3 flag, with sections 4 and 5), bimodal compression (section 6), leads
recorded over different sample ranges. Sections 4, 5 (the median beat) and 7+ are not needed when the
rhythm is stored whole and are ignored.
"""

from __future__ import annotations

import binascii
import logging
import struct
from dataclasses import dataclass
from datetime import datetime

from fhir_adapter.ecg.lead_codes import lead_by_number
from fhir_adapter.ecg.recording import (
    EcgFormatError,
    EcgRecording,
    Lead,
    check_lead_count,
    check_sampling_rate,
)
from fhir_adapter.ecg.scp_huffman import DEFAULT_TABLE_MARKER, decode_default, undo_differences

logger = logging.getLogger(__name__)

_FILE_HEADER = 6  # CRC (2) and record size (4)
_SECTION_HEADER = 16  # CRC (2), id (2), length (4), section version, protocol version, 6 reserved
_POINTER = 10  # id (2), length (4), 1-based byte index (4)
_SECTION_0_OFFSET = _FILE_HEADER


def is_scp(data: bytes) -> bool:
    """Section 0 right after the file header, with the ``SCPECG`` mark versions 1.3 and later write."""
    return len(data) >= 22 and data[8:10] == b"\x00\x00" and data[16:22] == b"SCPECG"


def crc_ccitt(data: bytes) -> int:
    """CRC-CCITT (polynomial 0x1021, initial 0xFFFF) as EN 1064 specifies: binascii's CRC-HQX, in C."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class _LeadSpan:
    number: int
    first: int  # 1-based sample numbers, inclusive
    last: int


def read_scp(data: bytes) -> EcgRecording:
    sections = _sections(data)
    if 3 not in sections or 6 not in sections:
        missing = " and ".join(str(s) for s in (3, 6) if s not in sections)
        raise EcgFormatError("malformed", f"SCP-ECG file without section {missing} (lead definition, rhythm data)")
    _check_huffman_table(sections.get(2))
    spans, subtraction = _lead_definitions(sections[3])
    if subtraction:
        raise EcgFormatError(
            "unsupported",
            "SCP-ECG rhythm data stored with reference beat subtraction (sections 4 and 5) is not supported",
        )
    start, metadata = _header_fields(sections.get(1, b""))
    leads, rate = _rhythm(sections[6], spans)
    return EcgRecording(tuple(leads), rate, "scp-ecg", start, metadata)


def _sections(data: bytes) -> dict[int, bytes]:
    """Section id to its body (after the 16-byte section header), every CRC and bound checked."""
    if len(data) < _FILE_HEADER + _SECTION_HEADER:
        raise EcgFormatError("truncated", f"an SCP-ECG file of {len(data)} bytes is too short for its headers")
    crc, declared = struct.unpack_from("<HI", data, 0)
    if declared != len(data):
        raise EcgFormatError("truncated", f"the SCP-ECG file declares {declared} bytes but holds {len(data)}")
    if crc_ccitt(data[2:]) != crc:
        raise EcgFormatError("checksum", "the SCP-ECG file CRC does not match its content")
    section0 = _section_at(data, _SECTION_0_OFFSET + 1, expected_id=0)
    sections = {0: section0}
    for offset in range(0, len(section0) - _POINTER + 1, _POINTER):
        section_id, length, index = struct.unpack_from("<HII", section0, offset)
        if section_id == 0 or length == 0 or index == 0:
            continue
        if index - 1 + length > len(data) or length < _SECTION_HEADER:
            raise EcgFormatError("truncated", f"SCP-ECG section {section_id} lies outside the file")
        body = _section_at(data, index, expected_id=section_id)
        if len(body) + _SECTION_HEADER != length:
            raise EcgFormatError("malformed", f"SCP-ECG section {section_id}: its header and pointer disagree")
        sections[section_id] = body
    return sections


def _section_at(data: bytes, index: int, *, expected_id: int) -> bytes:
    start = index - 1
    if start + _SECTION_HEADER > len(data):
        raise EcgFormatError("truncated", f"SCP-ECG section {expected_id} lies outside the file")
    crc, section_id, length = struct.unpack_from("<HHI", data, start)
    if section_id != expected_id:
        raise EcgFormatError("malformed", f"SCP-ECG pointer to section {expected_id} finds section {section_id}")
    if length < _SECTION_HEADER or start + length > len(data):
        raise EcgFormatError("truncated", f"SCP-ECG section {section_id} runs past the end of the file")
    if crc_ccitt(data[start + 2 : start + length]) != crc:
        raise EcgFormatError("checksum", f"the CRC of SCP-ECG section {section_id} does not match its content")
    return data[start + _SECTION_HEADER : start + length]


def _check_huffman_table(section2: bytes | None) -> None:
    if section2 is None:
        return
    if len(section2) < 2:
        raise EcgFormatError("truncated", "SCP-ECG section 2 is empty")
    (tables,) = struct.unpack_from("<H", section2, 0)
    if tables != DEFAULT_TABLE_MARKER:
        raise EcgFormatError("unsupported", "SCP-ECG files with their own Huffman tables (section 2) are not supported")


def _lead_definitions(section3: bytes) -> tuple[list[_LeadSpan], bool]:
    if len(section3) < 2:
        raise EcgFormatError("truncated", "SCP-ECG section 3 is too short")
    count, flags = section3[0], section3[1]
    check_lead_count(count)
    if len(section3) < 2 + 9 * count:
        raise EcgFormatError("truncated", f"SCP-ECG section 3 declares {count} leads but describes fewer")
    spans = [
        _LeadSpan(number, first, last)
        for first, last, number in struct.iter_unpack("<IIB", section3[2 : 2 + 9 * count])
    ]
    return spans, bool(flags & 0x01)


def _header_fields(section1: bytes) -> tuple[datetime | None, dict[str, str]]:
    """Acquisition date (tag 25) and time (26), device model (14); other tags, patient data included, stay."""
    tags: dict[int, bytes] = {}
    offset = 0
    while offset + 3 <= len(section1):
        tag, length = section1[offset], struct.unpack_from("<H", section1, offset + 1)[0]
        if tag == 255:
            break
        tags.setdefault(tag, section1[offset + 3 : offset + 3 + length])
        offset += 3 + length
    metadata: dict[str, str] = {}
    device = tags.get(14, b"")
    if len(device) >= 14:
        model = device[8:14].split(b"\x00", 1)[0].decode("latin-1").strip()
        if model:
            metadata["device_model"] = model
    start = None
    date, time = tags.get(25, b""), tags.get(26, b"")
    if len(date) >= 4 and len(time) >= 3:
        (year,) = struct.unpack_from("<H", date, 0)
        try:
            start = datetime(year, date[2], date[3], time[0], time[1], time[2])
        except ValueError:
            logger.info("SCP-ECG acquisition date/time is not a valid date; start left unknown")
    return start, metadata


def _rhythm(section6: bytes, spans: list[_LeadSpan]) -> tuple[list[Lead], float]:
    if len(section6) < 6 + 2 * len(spans):
        raise EcgFormatError("truncated", "SCP-ECG section 6 is too short for its lead table")
    avm_nv, interval_us, differences, bimodal = struct.unpack_from("<HHBB", section6, 0)
    if bimodal:
        raise EcgFormatError("unsupported", "SCP-ECG rhythm data with bimodal compression is not supported")
    if avm_nv == 0:
        raise EcgFormatError("malformed", "SCP-ECG section 6 gives an amplitude value multiplier of 0")
    if interval_us == 0:
        raise EcgFormatError("sampling-rate", "SCP-ECG section 6 gives a sample interval of 0")
    rate = check_sampling_rate(1e6 / interval_us)
    if len({(span.first, span.last) for span in spans}) > 1:
        raise EcgFormatError("lead-length", "SCP-ECG leads recorded over different sample ranges are not supported")
    count = spans[0].last - spans[0].first + 1
    if count <= 0:
        raise EcgFormatError("malformed", "SCP-ECG section 3 gives an empty sample range")
    lengths = struct.unpack_from(f"<{len(spans)}H", section6, 6)
    offset = 6 + 2 * len(spans)
    if offset + sum(lengths) > len(section6):
        raise EcgFormatError("truncated", "SCP-ECG section 6 holds less data than its lead table declares")
    gain = 1e6 / avm_nv  # AVM is nanovolts per unit; gain is units per mV
    leads = []
    for span, length in zip(spans, lengths, strict=True):
        name = lead_by_number(span.number) or f"SCP lead {span.number}"
        encoded = decode_default(section6[offset : offset + length], count, what=f"SCP-ECG lead {name}")
        leads.append(Lead(name, undo_differences(encoded, differences, what="SCP-ECG section 6"), gain))
        offset += length
    return leads, rate
