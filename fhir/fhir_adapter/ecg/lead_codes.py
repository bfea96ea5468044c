"""Lead names, the SCP-ECG lead numbers and their codes in MDC (ISO/IEEE 11073-10101) and LOINC.

A waveform component is coded with the MDC *electric potential* term of its lead,
``MDC_ECG_ELEC_POTL_<lead>`` = 131328 + the lead number (131329 lead I, 131389 III), as in the FHIR R4
example observation-example-sample-data. (``MDC_ECG_LEAD_I`` is 131073, the lead itself, not its signal.)
The lead numbers are those of SCP-ECG (EN 1064) section 3 and DICOM's MDC "2:n" codes, so one table
serves every reader. LOINC has no observation code per lead; it has Part codes (LP7386-8 "Lead I"),
which HL7 Germany's EkgLeads value set uses for the twelve standard leads, so those are added.

MDC's FHIR system is ``urn:iso:std:iso:11073:10101`` (HL7 terminology, CodeSystem v3-mdc, whose
identifier is the OID 2.16.840.1.113883.6.24 that older examples put in ``system``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
LOINC_SYSTEM = "http://loinc.org"
MDC_ECG_ELEC_POTL = 131328  # the potential of an unspecified lead (lead number 0)


@dataclass(frozen=True)
class LeadCode:
    name: str  # the normalised name readers give the lead
    number: int  # SCP-ECG / MDC lead number
    loinc_part: str | None = None

    @property
    def mdc_code(self) -> int:
        return MDC_ECG_ELEC_POTL + self.number

    @property
    def mdc_display(self) -> str:
        return f"MDC_ECG_ELEC_POTL_{self.name.upper()}"


_LEADS = (
    LeadCode("I", 1, "LP7386-8"),
    LeadCode("II", 2, "LP7387-6"),
    LeadCode("III", 61, "LP7388-4"),
    LeadCode("aVR", 62, "LP7385-0"),
    LeadCode("aVL", 63, "LP7384-3"),
    LeadCode("aVF", 64, "LP7383-5"),
    LeadCode("V1", 3, "LP7389-2"),
    LeadCode("V2", 4, "LP7390-0"),
    LeadCode("V3", 5, "LP7391-8"),
    LeadCode("V4", 6, "LP7392-6"),
    LeadCode("V5", 7, "LP7393-4"),
    LeadCode("V6", 8, "LP7394-2"),
    LeadCode("V7", 9),
    LeadCode("V2R", 10),
    LeadCode("V3R", 11),
    LeadCode("V4R", 12),
    LeadCode("V5R", 13),
    LeadCode("V6R", 14),
    LeadCode("V7R", 15),
)
STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_BY_NAME = {lead.name: lead for lead in _LEADS}
_BY_KEY = {lead.name.upper(): lead for lead in _LEADS}
_BY_NUMBER = {lead.number: lead for lead in _LEADS}
# Roman-numeral "D" names are how many European and Chinese devices label the limb leads.
_SYNONYMS = {"DI": "I", "DII": "II", "DIII": "III", "D1": "I", "D2": "II", "D3": "III"}
_PREFIXES = re.compile(r"^(MDC_ECG_LEAD_|MDC_ECG_ELEC_POTL_|LEAD[ _-]?|ECG[ _-]?)", re.IGNORECASE)


def normalise_lead_name(raw: str) -> str:
    """``"MDC_ECG_LEAD_AVF"``, ``"avf"``, ``"Lead aVF"`` give ``"aVF"``; unknown names come back stripped."""
    name = raw.strip()
    key = _PREFIXES.sub("", name).strip().upper()
    key = _SYNONYMS.get(key, key)
    known = _BY_KEY.get(key)
    return known.name if known else name


def lead_by_number(number: int) -> str | None:
    """The lead name of an SCP-ECG / MDC lead number, or None if this table does not know it."""
    known = _BY_NUMBER.get(number)
    return known.name if known else None


def lead_code(name: str) -> LeadCode | None:
    """The codes of a normalised lead name, or None for leads without their own MDC term (MLII, vx)."""
    return _BY_NAME.get(name)


def lead_concept(name: str) -> dict[str, Any]:
    """The CodeableConcept of a lead's waveform component; unknown leads get the generic MDC term."""
    known = lead_code(name)
    if known is None:
        coding = [{"system": MDC_SYSTEM, "code": str(MDC_ECG_ELEC_POTL), "display": "MDC_ECG_ELEC_POTL"}]
        return {"coding": coding, "text": name}
    codings: list[dict[str, str]] = [{"system": MDC_SYSTEM, "code": str(known.mdc_code), "display": known.mdc_display}]
    if known.loinc_part:
        codings.append({"system": LOINC_SYSTEM, "code": known.loinc_part, "display": f"Lead {known.name.upper()}"})
    return {"coding": codings, "text": f"Lead {known.name}"}
