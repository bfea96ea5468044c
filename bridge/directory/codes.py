"""Code systems, identifier systems and extensions the bridge defines, in one namespace.

These URLs name concepts; they are stable across deployments and never fetched.
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "https://nhbridge.org/fhir"

ORG_KIND_SYSTEM = f"{NAMESPACE}/CodeSystem/organization-kind"
CONTRACT_SYSTEM = f"{NAMESPACE}/CodeSystem/contract-kind"
ORG_IDENTIFIER_SYSTEM = f"{NAMESPACE}/sid/organization-code"
# The Unified Social Credit Code (统一社会信用代码) every Chinese organisation has.
USCC_SYSTEM = "https://www.gsxt.gov.cn/sid/uscc"
RESIDENT_NUMBER_SYSTEM = f"{NAMESPACE}/sid/resident-number"
PRACTITIONER_LICENCE_SYSTEM = f"{NAMESPACE}/sid/practitioner-licence"
LOCATION_CODE_SYSTEM = f"{NAMESPACE}/sid/location-code"
RESIDENT_BED_EXTENSION = f"{NAMESPACE}/StructureDefinition/resident-bed"

ORGANIZATION_ROLE_SYSTEM = "http://hl7.org/fhir/organization-role"
LOCATION_PHYSICAL_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
PRACTITIONER_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/practitioner-role"
ENCOUNTER_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


class OrgKind(StrEnum):
    NURSING_HOME = "nursing-home"
    INTERNET_HOSPITAL = "internet-hospital"
    PHARMACY = "pharmacy"
    LABORATORY = "laboratory"
    SUPERVISORY_AUTHORITY = "supervisory-authority"
    OPERATOR = "operator"  # runs the bridge; its admins manage every organisation's accounts


class ContractKind(StrEnum):
    """Which service one organisation provides to a nursing home."""

    TELEMEDICINE = "telemedicine"  # an internet hospital serves the home
    PHARMACY_SUPPLY = "pharmacy-supply"  # a pharmacy supplies the home
    LABORATORY_SERVICE = "laboratory-service"  # a laboratory tests the home's residents' samples


CONTRACT_ORGANIZATION_ROLE = {
    ContractKind.TELEMEDICINE: "provider",
    ContractKind.PHARMACY_SUPPLY: "supplier",
    ContractKind.LABORATORY_SERVICE: "diagnostics",
}
