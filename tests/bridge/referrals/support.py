"""A care network of the referral tests' own, so no demo home or hospital changes: a home contracted with
two internet hospitals (A, the referring doctors', and B), a third hospital C with no contract with it,
staff accounts at each, and residents with results made per test."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from bridge.accounts.roles import Role
from bridge.accounts.service import NewAccount
from bridge.demo.seed import DEMO_PASSWORD
from bridge.directory.clinicians import practitioner_resource, practitioner_role_resource
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.contracts import contract_resource
from bridge.directory.organizations import organization_resource
from tests.conftest import Bridge

FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Network:
    home: str
    hospital_a: str
    hospital_b: str
    hospital_c: str
    doctor_a: str  # usernames
    doctor_a2: str
    doctor_b: str
    doctor_c: str
    nurse: str
    practitioner_a: str


def _organization(bridge: Bridge, kind: OrgKind, label: str) -> str:
    code = uuid.uuid4().hex[:8]
    with bridge.services() as services:
        return str(services.repository.create(organization_resource(kind, f"{label} {code}", f"R-{code}"))["id"])


def _staff(bridge: Bridge, role: Role, organization: str, family: str) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    username, practitioner = f"ref-{role.value}-{tag}", f"zz-ref-pr-{tag}"
    with bridge.services() as services:
        services.repository.update(practitioner_resource(practitioner, family, "测试", "female"))
        services.repository.update(practitioner_role_resource(f"{practitioner}-role", practitioner, organization, role))
        services.accounts.create(
            NewAccount(username, role.value, organization, DEMO_PASSWORD, f"{family}测试", practitioner),
            services.now(),
        )
    return username, practitioner


def build_network(bridge: Bridge) -> Network:
    home = _organization(bridge, OrgKind.NURSING_HOME, "转诊测试养老院")
    a = _organization(bridge, OrgKind.INTERNET_HOSPITAL, "转诊测试医院甲")
    b = _organization(bridge, OrgKind.INTERNET_HOSPITAL, "转诊测试医院乙")
    c = _organization(bridge, OrgKind.INTERNET_HOSPITAL, "转诊测试医院丙")
    with bridge.services() as services:
        for hospital in (a, b):
            services.repository.create(contract_resource(ContractKind.TELEMEDICINE, hospital, home, date(2024, 1, 1)))
    doctor_a, practitioner_a = _staff(bridge, Role.DOCTOR, a, "甲")
    doctor_a2, _ = _staff(bridge, Role.DOCTOR, a, "甲二")
    doctor_b, _ = _staff(bridge, Role.DOCTOR, b, "乙")
    doctor_c, _ = _staff(bridge, Role.DOCTOR, c, "丙")
    nurse, _ = _staff(bridge, Role.NURSE, home, "护")
    return Network(home, a, b, c, doctor_a, doctor_a2, doctor_b, doctor_c, nurse, practitioner_a)


def resident(bridge: Bridge, home: str) -> str:
    with bridge.services() as services:
        patient = services.repository.create(
            {
                "resourceType": "Patient",
                "name": [{"text": "转诊测试", "family": "转", "given": ["诊测试"]}],
                "gender": "male",
                "birthDate": "1940-03-02",
                "managingOrganization": {"reference": f"Organization/{home}"},
            },
            f"zz-ref-{uuid.uuid4().hex[:10]}",
        )
    return str(patient["id"])


def observation(bridge: Bridge, patient_id: str, taken: datetime, value: float = 8.9, code: str = "2345-7") -> str:
    """A glucose result (mmol/L) of the resident, taken at `taken`; its reference."""
    with bridge.services() as services:
        stored = services.repository.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": LOINC, "code": code, "display": "Glucose"}], "text": "血糖"},
                "subject": {"reference": f"Patient/{patient_id}"},
                "effectiveDateTime": taken.isoformat(),
                "valueQuantity": {
                    "value": value,
                    "unit": "mmol/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "mmol/L",
                },
            }
        )
    return f"Observation/{stored['id']}"


def recent(bridge: Bridge, days: float = 1) -> datetime:
    return bridge.clock.now() - timedelta(days=days)


def fhir(bridge: Bridge, username: str) -> httpx.Client:
    client = bridge.bearer(username)
    client.headers["Content-Type"] = FHIR_JSON
    client.headers["Accept"] = FHIR_JSON
    return client


def parameters(**values: Any) -> dict[str, Any]:
    """Parameters from keyword values: a str is a valueString, a dict the value part itself, a list repeats."""
    parts: list[dict[str, Any]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append({"name": name, **item} if isinstance(item, dict) else {"name": name, "valueString": str(item)})
    return {"resourceType": "Parameters", "parameter": parts}


def reference(value: str) -> dict[str, Any]:
    return {"valueReference": {"reference": value}}


def refer_body(reason: str = "反复头晕，需神经内科面诊", urgency: str = "urgent", **more: Any) -> dict[str, Any]:
    return parameters(reason=reason, urgency={"valueCode": urgency}, **more)
