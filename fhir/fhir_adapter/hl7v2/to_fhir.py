"""An OruMessage as FHIR R4: per OBR a DiagnosticReport (category LAB), per OBX an Observation
(category laboratory), linked to the caller's subject and to each other by ``urn:uuid`` fullUrls.

Each resource carries one business identifier that a correction of the same result repeats: the sender
(MSH-4, else MSH-3) in the system; the order number (filler, else placer), the order's code (OBR-4) and,
for an Observation, the result's code and sub-id (OBX-3, OBX-4) in the value. A caller
finds the version it stored before by that identifier and stores the correction as its new version.
The fullUrls are derived from the same identifiers, so a resent message yields the same bundle.

OBX of type ED or RP carry a document, which an R4 Observation cannot hold: they become the report's
``presentedForm``. Order notes become the report's ``conclusion`` (R4 has no DiagnosticReport.note).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, NamedTuple

from fhir_adapter.hl7v2.codes import LOCAL_PREFIX, LOINC, CodedElement, codeable_concept, uri_part
from fhir_adapter.hl7v2.loinc_map import CodeMap, default_code_map
from fhir_adapter.hl7v2.model import Order, OruMessage, Result
from fhir_adapter.hl7v2.statuses import interpretation, observation_status, report_status
from fhir_adapter.hl7v2.units import Unit, bare_quantity
from fhir_adapter.hl7v2.values import (
    AttachmentValue,
    CodedValue,
    DateTimeValue,
    QuantityValue,
    RangeValue,
    RatioValue,
    ResultValue,
    TextValue,
    TimeValue,
)

OBSERVATION_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
            "display": "Laboratory",
        }
    ]
}
REPORT_CATEGORY = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB", "display": "Laboratory"}]
}
NOT_PERFORMED = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
            "code": "not-performed",
            "display": "Not Performed",
        }
    ]
}


class FhirEntry(NamedTuple):
    full_url: str  # urn:uuid:...
    resource: dict[str, Any]


def message_entries(
    message: OruMessage, subject: str, performer: str | None, code_map: CodeMap | None
) -> list[FhirEntry]:
    mapper = _Mapper(message.sender_key, subject, performer, code_map or default_code_map())
    entries = [entry for order in message.orders for entry in mapper.order(order)]
    # Resources share constant parts (categories, subject); a caller editing one must not edit all.
    return [FhirEntry(entry.full_url, copy.deepcopy(entry.resource)) for entry in entries]


def result_identifier(sender: str, order: Order, result: Result) -> dict[str, str]:
    return {"system": f"{LOCAL_PREFIX}:{uri_part(sender)}:result", "value": f"{order.key}/{result.key}"}


def report_identifier(sender: str, order: Order) -> dict[str, str]:
    """One identifier, unique to the report. The bare filler and placer numbers are not identifiers of
    their own, since the OBRs of one requisition may share them and a lookup by them would find another
    report of the same requisition."""
    return {"system": f"{LOCAL_PREFIX}:{uri_part(sender)}:report", "value": order.key}


def _full_url(identifier: dict[str, Any]) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{identifier['system']}|{identifier['value']}"))


class _Mapper:
    def __init__(self, sender: str, subject: str, performer: str | None, code_map: CodeMap) -> None:
        self.sender = sender
        self.subject = {"reference": subject}
        self.performer = [{"reference": performer}] if performer else None
        self.code_map = code_map

    def order(self, order: Order) -> list[FhirEntry]:
        observations = [self.observation(order, r) for r in order.results if not isinstance(r.value, AttachmentValue)]
        report: dict[str, Any] = {
            "resourceType": "DiagnosticReport",
            "identifier": [report_identifier(self.sender, order)],
            "status": report_status(order.status, [entry.resource["status"] for entry in observations]),
            "category": [REPORT_CATEGORY],
            "code": self.concept(order.service, None),
            "subject": self.subject,
        }
        if order.observed is not None:
            report["effectiveDateTime"] = order.observed.fhir_datetime()
        issued = order.reported.fhir_instant() if order.reported is not None else None
        if issued:
            report["issued"] = issued
        if self.performer:
            report["performer"] = self.performer
        if observations:
            report["result"] = [{"reference": entry.full_url} for entry in observations]
        if order.notes:
            report["conclusion"] = "\n".join(note.text for note in order.notes)
        forms = [_attachment(r, r.value) for r in order.results if isinstance(r.value, AttachmentValue)]
        if forms:
            report["presentedForm"] = forms
        return [FhirEntry(_full_url(report["identifier"][0]), report), *observations]

    def observation(self, order: Order, result: Result) -> FhirEntry:
        identifier = result_identifier(self.sender, order, result)
        unit_code = result.unit.code if result.unit is not None else None
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "identifier": [identifier],
            "status": observation_status(result.status),
            "category": [OBSERVATION_CATEGORY],
            "code": self.concept(result.code, unit_code),
            "subject": self.subject,
        }
        effective = result.effective or order.observed
        if effective is not None:
            resource["effectiveDateTime"] = effective.fhir_datetime()
        issued = order.reported.fhir_instant() if order.reported is not None else None
        if issued:
            resource["issued"] = issued
        if self.performer:
            resource["performer"] = self.performer
        if result.value is not None:
            resource.update(self.value(result.value, result.unit))
        elif result.status == "X":
            resource["dataAbsentReason"] = NOT_PERFORMED
        if result.flags:
            resource["interpretation"] = [interpretation(flag) for flag in result.flags]
        if result.notes:
            resource["note"] = [{"text": note.text} for note in result.notes]
        if result.reference_range is not None:
            resource["referenceRange"] = [result.reference_range.fhir(result.unit)]
        return FhirEntry(_full_url(identifier), resource)

    def concept(self, element: CodedElement, unit_code: str | None) -> dict[str, Any]:
        """The codes as sent, plus LOINC from the code map when the sender gave none."""
        extra = []
        if not element.has_loinc():
            for code in element.codes():
                row = self.code_map.lookup(self.sender, code, unit_code)
                if row is not None:
                    extra.append({"system": LOINC, "code": row.loinc, "display": row.display})
                    break
        return codeable_concept(element, self.sender, extra)

    def value(self, value: ResultValue, unit: Unit | None) -> dict[str, Any]:
        def quantity(number: Any, comparator: str | None = None) -> dict[str, Any]:
            return unit.quantity(number, comparator) if unit is not None else bare_quantity(number, comparator)

        match value:
            case QuantityValue():
                return {"valueQuantity": quantity(value.value, value.comparator)}
            case RangeValue():
                return {"valueRange": {"low": quantity(value.low), "high": quantity(value.high)}}
            case RatioValue():
                ratio = {"numerator": bare_quantity(value.numerator), "denominator": bare_quantity(value.denominator)}
                return {"valueRatio": ratio}
            case TextValue():
                return {"valueString": value.text}
            case CodedValue():
                return {"valueCodeableConcept": codeable_concept(value.element, self.sender)}
            case DateTimeValue():
                return {"valueDateTime": value.time.fhir_datetime()}
            case TimeValue():
                return {"valueTime": value.text}
        raise AssertionError(f"unmapped value {value!r}")  # attachments never reach here


def _attachment(result: Result, value: AttachmentValue) -> dict[str, Any]:
    out: dict[str, Any] = {"contentType": value.content_type}
    if value.data is not None:
        out["data"] = value.data
    if value.url is not None:
        out["url"] = value.url
    if result.code.text:
        out["title"] = result.code.text
    return out
