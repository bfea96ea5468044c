"""Shared builders for the FHIR API tests: resources about demo residents, and a FHIR-speaking client."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Bridge

FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
HEART_RATE = "8867-4"


def resident_of(bridge: Bridge, home_id: str, index: int = 0) -> str:
    with bridge.services() as services:
        patients = sorted(services.residents.patients_of_homes([home_id]), key=lambda p: p["id"])
        return str(patients[index]["id"])


def observation(
    patient_id: str, value: float = 72, when: str = "2026-11-01T08:00:00+08:00", code: str = HEART_RATE
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def encounter(patient_id: str, status: str = "finished", **extra: Any) -> dict[str, Any]:
    """A video consult (virtual encounter) with a resident."""
    return {
        "resourceType": "Encounter",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
        "subject": {"reference": f"Patient/{patient_id}"},
        **extra,
    }


def fhir_client(bridge: Bridge, username: str, **kwargs: Any) -> httpx.Client:
    client = bridge.bearer(username, **kwargs)
    client.headers["Accept"] = FHIR_JSON
    client.headers["Content-Type"] = FHIR_JSON
    return client


def create(client: httpx.Client, resource: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def system_client(bridge: Bridge, organization: str, scope: str) -> httpx.Client:
    """A system (a home's or pharmacy's own software) signed in with client_credentials."""
    with bridge.services() as services:
        issued = services.clients.create(f"system {unique_tag()}", organization, scope, services.now())
    response = httpx.post(
        f"{bridge.url}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client.client_id,
            "client_secret": issued.client_secret,
        },
        timeout=20,
    )
    assert response.status_code == 200, response.text
    client = bridge.client(headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    client.headers["Content-Type"] = FHIR_JSON
    return client


def issue_text(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " | ".join(str(i.get("diagnostics", "")) for i in body["issue"])


def unique_tag() -> str:
    return uuid.uuid4().hex[:10]
