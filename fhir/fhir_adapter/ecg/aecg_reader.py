"""HL7 v3 annotated ECG (aECG, the FDA's XML format): the rhythm series of an AnnotatedECG.

The rhythm waveforms are ``AnnotatedECG/component/series`` with code RHYTHM; the representative
(median) beat lives under ``series/derivation`` and is not read. Of the rhythm series' sequence sets the
first is taken (the usual file has one, all leads simultaneous). Its TIME_ABSOLUTE (GLIST_TS) or
TIME_RELATIVE (GLIST_PQ) sequence gives the sampling interval; each lead is an SLIST_PQ whose value is
``origin + scale * digit``.

Parsing goes through defusedxml: entity declarations and external references are refused, so neither a
billion-laughs file nor an XXE probe gets past the parser.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from datetime import datetime

import defusedxml  # type: ignore[import-untyped]  # no stubs; its exception base is used below
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]  # no stubs; wrapped in _parse
import numpy as np

from fhir_adapter.ecg.lead_codes import normalise_lead_name
from fhir_adapter.ecg.recording import EcgFormatError, EcgRecording, Lead, check_sampling_rate
from fhir_adapter.ecg.timestamps import parse_compact_datetime

logger = logging.getLogger(__name__)

_NS = {"v3": "urn:hl7-org:v3"}
_ROOT = "{urn:hl7-org:v3}AnnotatedECG"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
# Millivolts per unit of each voltage unit aECG files use (UCUM spellings and the micro sign).
_MV_PER_UNIT = {"V": 1000.0, "mV": 1.0, "uV": 1e-3, "µV": 1e-3, "nV": 1e-6}
_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
# A character that is no digit, sign or space; a sign not before a digit; a digit glued to a sign.
_NOT_INTEGERS = re.compile(r"[^0-9+\-\s]|[+-](?![0-9])|[0-9][+-]")


def read_aecg(data: bytes) -> EcgRecording:
    root = _parse(data)
    if root.tag != _ROOT:
        raise EcgFormatError("unknown-format", f"XML with root {root.tag!r} is not an HL7 aECG AnnotatedECG")
    series = _rhythm_series(root)
    sequence_sets = series.findall("v3:component/v3:sequenceSet", _NS)
    if not sequence_sets:
        raise EcgFormatError("malformed", "the aECG rhythm series has no sequenceSet")
    if len(sequence_sets) > 1:
        logger.info("aECG rhythm series has %d sequence sets; the first is read", len(sequence_sets))
    interval_s, head = None, None
    leads: list[Lead] = []
    for sequence in sequence_sets[0].findall("v3:component/v3:sequence", _NS):
        code = _attr(sequence.find("v3:code", _NS), "code") or "(uncoded)"
        value = sequence.find("v3:value", _NS)
        if value is None:
            raise EcgFormatError("malformed", f"aECG sequence {code} has no value")
        if code in ("TIME_ABSOLUTE", "TIME_RELATIVE"):
            interval_s = _interval_seconds(value)
            head = parse_compact_datetime(_attr(value.find("v3:head", _NS), "value"))
        else:
            leads.append(_lead(code, value))
    if interval_s is None:
        raise EcgFormatError("malformed", "the aECG rhythm series has no TIME_ABSOLUTE or TIME_RELATIVE sequence")
    rate = check_sampling_rate(1.0 / interval_s)
    start = head or _series_start(series)
    return EcgRecording(tuple(leads), rate, "hl7-aecg", start, _device(series))


def _parse(data: bytes) -> ET.Element:
    try:
        root = SafeET.fromstring(data)
    except defusedxml.DefusedXmlException as exc:
        raise EcgFormatError("unsafe-xml", f"the XML declares entities or external references ({exc})") from None
    except ET.ParseError as exc:
        raise EcgFormatError("malformed", f"the XML is not well-formed ({exc})") from None
    if not isinstance(root, ET.Element):
        raise EcgFormatError("malformed", "the XML has no root element")
    return root


def _rhythm_series(root: ET.Element) -> ET.Element:
    candidates = root.findall("v3:component/v3:series", _NS)
    rhythm = [s for s in candidates if _attr(s.find("v3:code", _NS), "code") == "RHYTHM"]
    if not rhythm:
        raise EcgFormatError("malformed", "the aECG has no RHYTHM series (a median beat alone is not accepted)")
    if len(rhythm) > 1:
        logger.info("aECG has %d rhythm series; the first is read", len(rhythm))
    return rhythm[0]


def _interval_seconds(value: ET.Element) -> float:
    increment = value.find("v3:increment", _NS)
    unit = _attr(increment, "unit") or "s"
    if unit not in _SECONDS_PER_UNIT:
        raise EcgFormatError("malformed", f"aECG time increment in unknown unit {unit!r}")
    seconds = _number(_attr(increment, "value"), "time increment") * _SECONDS_PER_UNIT[unit]
    if seconds <= 0:
        raise EcgFormatError("sampling-rate", f"aECG time increment {seconds} s is not positive")
    return seconds


def _lead(code: str, value: ET.Element) -> Lead:
    kind = value.get(_XSI_TYPE, "")
    if kind != "SLIST_PQ":
        raise EcgFormatError("unsupported", f"aECG lead {code}: value type {kind!r} is not supported (SLIST_PQ is)")
    origin_element, scale_element = value.find("v3:origin", _NS), value.find("v3:scale", _NS)
    origin = _number(_attr(origin_element, "value"), f"{code} origin") * _mv_per(origin_element, code)
    scale = _number(_attr(scale_element, "value"), f"{code} scale") * _mv_per(scale_element, code)
    if scale <= 0:
        raise EcgFormatError("malformed", f"aECG lead {code}: scale must be positive")
    text = value.findtext("v3:digits", default="", namespaces=_NS)
    # Validated before numpy parses it: numpy would only warn on a non-integer and return a short array.
    if _NOT_INTEGERS.search(text):
        raise EcgFormatError("malformed", f"aECG lead {code}: digits are not all integers")
    samples = np.fromstring(text, dtype=np.int64, sep=" ")
    if samples.size == 0:
        raise EcgFormatError("malformed", f"aECG lead {code} has no digits")
    return Lead(normalise_lead_name(code), samples, gain=1.0 / scale, baseline=-origin / scale)


def _mv_per(element: ET.Element | None, code: str) -> float:
    unit = _attr(element, "unit") or ""
    if unit not in _MV_PER_UNIT:
        raise EcgFormatError("unsupported", f"aECG lead {code}: unit {unit!r} is not a voltage")
    return _MV_PER_UNIT[unit]


def _series_start(series: ET.Element) -> datetime | None:
    return parse_compact_datetime(_attr(series.find("v3:effectiveTime/v3:low", _NS), "value"))


def _device(series: ET.Element) -> dict[str, str]:
    author = "v3:author/v3:seriesAuthor/"
    found = {
        "device_model": series.findtext(f"{author}v3:manufacturedSeriesDevice/v3:manufacturerModelName", None, _NS),
        "manufacturer": series.findtext(f"{author}v3:manufacturerOrganization/v3:name", None, _NS),
    }
    return {key: value.strip() for key, value in found.items() if value and value.strip()}


def _attr(element: ET.Element | None, name: str) -> str | None:
    return None if element is None else element.get(name)


def _number(text: str | None, what: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise EcgFormatError("malformed", f"aECG {what} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise EcgFormatError("malformed", f"aECG {what} {text!r} is not a finite number")
    return value
