"""Coded elements (CE/CWE/CNE: OBX-3, OBR-4, coded values) to FHIR CodeableConcepts.

HL7 coding-system names (table 0396) with a well-known FHIR URI get it (LN is LOINC). Local ones (L,
99xxx and anything unrecognised) get a URI that is stable per sender and system,
``urn:nhbridge:hl7v2:<sending facility>:<system>``, so the same local code from the same laboratory is
always the same Coding, and never mistaken for another laboratory's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fhir_adapter.hl7v2.errors import DATA_TYPE_ERROR, content_error
from fhir_adapter.hl7v2.syntax import Value

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
LOCAL_PREFIX = "urn:nhbridge:hl7v2"
_CODE = re.compile(r"^\S+( \S+)*$")  # FHIR's code type

KNOWN_SYSTEMS: dict[str, str] = {
    "LN": LOINC,
    "LOINC": LOINC,
    "SCT": SNOMED,
    "SNOMED-CT": SNOMED,
    "SNOMEDCT": SNOMED,
    "UCUM": "http://unitsofmeasure.org",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9CDX": "http://hl7.org/fhir/sid/icd-9-cm",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "CDCREC": "urn:oid:2.16.840.1.113883.6.238",
}


@dataclass(frozen=True)
class Code:
    code: str
    display: str
    system: str  # the HL7 coding-system name as sent
    version: str = ""


@dataclass(frozen=True)
class CodedElement:
    """Primary and alternate code of a CE/CWE, and its original text."""

    primary: Code | None
    alternate: Code | None
    original_text: str

    @property
    def key(self) -> str:
        """What identifies the concept within one sender: the primary code, else the alternate, else text."""
        for code in (self.primary, self.alternate):
            if code is not None and code.code:
                return code.code
        return self.text

    @property
    def text(self) -> str:
        displays = [code.display for code in (self.primary, self.alternate) if code is not None]
        return next((text for text in (self.original_text, *displays) if text), "")

    @property
    def is_empty(self) -> bool:
        return not self.key

    def codes(self) -> tuple[Code, ...]:
        return tuple(c for c in (self.primary, self.alternate) if c is not None and c.code)

    def has_loinc(self) -> bool:
        return any(system_uri(c.system, "") == LOINC for c in self.codes())


def read_coded(value: Value) -> CodedElement:
    """Raises Hl7Error (no location) for a code FHIR cannot carry (line breaks, runs of spaces)."""
    for number in (1, 4):
        code = value.component(number)
        if code and not _CODE.match(code):
            raise content_error(
                "invalid_code", f"code {code!r} contains line breaks or repeated spaces", DATA_TYPE_ERROR
            )
    return CodedElement(
        _code(value.component(1), value.component(2), value.component(3), value.component(7)),
        _code(value.component(4), value.component(5), value.component(6), value.component(8)),
        value.component(9),
    )


def _code(code: str, display: str, system: str, version: str) -> Code | None:
    if not (code or display):
        return None
    return Code(code, display, system, version)


def system_uri(hl7_system: str, sender: str) -> str:
    key = hl7_system.strip().upper()
    if key in KNOWN_SYSTEMS:
        return KNOWN_SYSTEMS[key]
    if key.startswith("HL7") and key[3:].isdigit():
        return f"http://terminology.hl7.org/CodeSystem/v2-{key[3:]}"
    return local_system(sender, hl7_system.strip() or "local")


def local_system(sender: str, name: str) -> str:
    return f"{LOCAL_PREFIX}:{uri_part(sender or 'unknown')}:{uri_part(name)}"


def uri_part(text: str) -> str:
    """Text made safe inside a URN; percent-encoding keeps distinct names distinct."""
    return quote(text, safe="-._~!$'()*+,;=@")


def coding(code: Code, sender: str) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system_uri(code.system, sender), "code": code.code}
    if code.version:
        out["version"] = code.version
    if code.display:
        out["display"] = code.display
    return out


def codeable_concept(element: CodedElement, sender: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    codings = [coding(c, sender) for c in element.codes()]
    for added in extra or []:
        if added not in codings:
            codings.append(added)
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = codings
    if element.text:
        out["text"] = element.text
    return out
