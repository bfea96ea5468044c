"""Doctors' signatures on prescriptions: a JWS over the canonical MedicationRequest in a Provenance, which
a pharmacy verifies offline against /.well-known/jwks.json; any alteration fails verification."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

import httpx
import jwt
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec
from fhir_adapter.validation import validate_resource

from bridge.prescriptions.signature import (
    Failure,
    canonical_prescription,
    sign_prescription,
    signature_status,
    verify_prescription_signature,
)
from bridge.prescriptions.signing_keys import jwks, key_for, retire
from tests.conftest import Bridge


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def draft(doctor: str, patient: str = "resident-1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": "Medication/drug-a10ba02", "display": "metformin"},
        "subject": {"reference": f"Patient/{patient}"},
        "requester": {"reference": f"Practitioner/{doctor}", "display": "Dr. Wang"},
        "dosageInstruction": [
            {
                "text": "500 mg twice a day",
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 500, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
                ],
            }
        ],
        "dispenseRequest": {
            "quantity": {"value": 60, "unit": "tablet"},
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
        },
    }


def signed(bridge: Bridge, doctor: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored, active prescription (version 2) and its stored signature Provenance."""
    doctor = doctor or new_id("doc")
    with bridge.services() as services:
        stored = services.repository.create(draft(doctor), new_id("mr"))
        active = services.repository.update({**stored, "status": "active"})
        provenance = services.repository.create(sign_prescription(services, doctor, active))
    return active, provenance


def published(bridge: Bridge) -> dict[str, Any]:
    with bridge.services() as services:
        return jwks(services)


def jws_of(provenance: dict[str, Any]) -> str:
    return base64.b64decode(provenance["signature"][0]["data"]).decode("ascii")


def with_jws(provenance: dict[str, Any], token: str) -> dict[str, Any]:
    forged = copy.deepcopy(provenance)
    forged["signature"][0]["data"] = base64.b64encode(token.encode()).decode()
    return forged


def test_a_signed_prescription_verifies(bridge: Bridge) -> None:
    request, provenance = signed(bridge)
    doctor = request["requester"]["reference"]
    result = verify_prescription_signature(provenance, request, published(bridge))
    assert result.ok, result
    assert result.practitioner == doctor and result.reason is None
    assert result.target == f"MedicationRequest/{request['id']}/_history/{request['meta']['versionId']}"


def test_the_provenance_has_the_documented_shape(bridge: Bridge) -> None:
    request, provenance = signed(bridge)
    validate_resource(provenance)
    doctor = request["requester"]["reference"]
    assert provenance["target"] == [{"reference": f"MedicationRequest/{request['id']}/_history/2"}]
    assert provenance["agent"][0]["who"] == {"reference": doctor}
    (signature,) = provenance["signature"]
    assert signature["type"][0]["system"] == "urn:iso-astm:E1762-95:2013"
    assert signature["type"][0]["code"] == "1.2.840.10065.1.12.1.1"
    assert signature["who"] == {"reference": doctor}
    assert signature["targetFormat"] == "application/fhir+json" and signature["sigFormat"] == "application/jose"
    assert signature["when"] == provenance["recorded"] and signature["when"].endswith("Z")
    header = jwt.get_unverified_header(jws_of(provenance))
    with bridge.services() as services:
        kid = key_for(services, doctor.removeprefix("Practitioner/")).kid
    assert header == {"alg": "ES256", "kid": kid}


def test_the_payload_is_the_canonical_prescription_without_meta_and_text(bridge: Bridge) -> None:
    request, provenance = signed(bridge)
    payload = jwt.api_jws.decode(jws_of(provenance), options={"verify_signature": False})
    assert payload == canonical_prescription(request)
    assert b'"meta"' not in payload and b'"status":"active"' in payload
    assert json.loads(payload) == {k: v for k, v in request.items() if k not in {"meta", "text"}}
    # Server bookkeeping and narrative may change without touching the signature.
    restamped = {**request, "meta": {**request["meta"], "lastUpdated": "2030-01-01T00:00:00Z"}, "text": {}}
    assert verify_prescription_signature(provenance, restamped, published(bridge)).ok


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(
            lambda r: r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value=5000), id="dose"
        ),
        pytest.param(lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(frequency=3), id="frequency"),
        pytest.param(lambda r: r["medicationReference"].update(reference="Medication/drug-b01aa03"), id="drug"),
        pytest.param(lambda r: r["subject"].update(reference="Patient/someone-else"), id="patient"),
        pytest.param(lambda r: r["dispenseRequest"]["quantity"].update(value=600), id="quantity"),
        pytest.param(lambda r: r.update(note=[{"text": "double it"}]), id="added-note"),
    ],
)
def test_an_altered_prescription_fails_verification(bridge: Bridge, alter: Any) -> None:
    request, provenance = signed(bridge)
    altered = copy.deepcopy(request)
    alter(altered)
    result = verify_prescription_signature(provenance, altered, published(bridge))
    assert not result.ok and result.reason is Failure.PAYLOAD_MISMATCH


def test_a_signature_for_another_prescription_or_version_is_the_wrong_target(bridge: Bridge) -> None:
    request, provenance = signed(bridge)
    other, _ = signed(bridge)
    keys = published(bridge)
    assert verify_prescription_signature(provenance, other, keys).reason is Failure.WRONG_TARGET
    later = {**request, "meta": {**request["meta"], "versionId": "3"}}
    assert verify_prescription_signature(provenance, later, keys).reason is Failure.WRONG_TARGET
    # A copy without meta is judged by its content alone.
    bare = {k: v for k, v in request.items() if k != "meta"}
    assert verify_prescription_signature(provenance, bare, keys).ok


def test_a_jws_by_another_key_fails(bridge: Bridge) -> None:
    request, provenance = signed(bridge)
    real_kid = jwt.get_unverified_header(jws_of(provenance))["kid"]
    impostor = ec.generate_private_key(ec.SECP256R1())
    payload = canonical_prescription(request)
    keys = published(bridge)

    same_kid = jwt.api_jws.encode(payload, impostor, algorithm="ES256", headers={"kid": real_kid, "typ": None})
    result = verify_prescription_signature(with_jws(provenance, same_kid), request, keys)
    assert not result.ok and result.reason is Failure.BAD_SIGNATURE

    own_kid = jwt.api_jws.encode(payload, impostor, algorithm="ES256", headers={"kid": "impostor", "typ": None})
    result = verify_prescription_signature(with_jws(provenance, own_kid), request, keys)
    assert not result.ok and result.reason is Failure.UNKNOWN_KEY


def test_another_doctors_valid_signature_is_the_wrong_signer(bridge: Bridge) -> None:
    """Doctor B's key signs doctor A's prescription and the Provenance claims B: B is not the requester."""
    request, provenance = signed(bridge)
    other_doctor = new_id("doc")
    with bridge.services() as services:
        other_key = key_for(services, other_doctor)
    token = jwt.api_jws.encode(
        canonical_prescription(request), other_key.private_key, algorithm="ES256", headers={"kid": other_key.kid}
    )
    forged = with_jws(provenance, token)
    forged["signature"][0]["who"] = forged["agent"][0]["who"] = {"reference": f"Practitioner/{other_doctor}"}
    result = verify_prescription_signature(forged, request, published(bridge))
    assert not result.ok and result.reason is Failure.WRONG_SIGNER
    assert result.practitioner == f"Practitioner/{other_doctor}"

    # The Provenance's own claims, which the JWS does not cover, must name the key's owner too.
    relabelled = copy.deepcopy(provenance)
    relabelled["agent"][0]["who"] = {"reference": f"Practitioner/{other_doctor}"}
    assert verify_prescription_signature(relabelled, request, published(bridge)).reason is Failure.WRONG_SIGNER


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda p: p["signature"][0].update(data="not base64 at all!"), id="data"),
        pytest.param(lambda p: p["signature"][0].update(data=base64.b64encode(b"a.b").decode()), id="not-compact"),
        pytest.param(lambda p: p.update(signature=[]), id="no-signature"),
        pytest.param(lambda p: p.update(target=[{"reference": "MedicationRequest/x"}]), id="unversioned-target"),
        pytest.param(lambda p: p.update(resourceType="AuditEvent"), id="not-provenance"),
    ],
)
def test_a_malformed_provenance_is_reported_as_such(bridge: Bridge, spoil: Any) -> None:
    request, provenance = signed(bridge)
    spoiled = copy.deepcopy(provenance)
    spoil(spoiled)
    result = verify_prescription_signature(spoiled, request, published(bridge))
    assert not result.ok and result.reason is Failure.MALFORMED


def test_signatures_by_a_retired_key_still_verify(bridge: Bridge) -> None:
    doctor = new_id("doc")
    request, provenance = signed(bridge, doctor)
    with bridge.services() as services:
        retire(services, doctor)
    later, later_provenance = signed(bridge, doctor)
    keys = published(bridge)
    assert verify_prescription_signature(provenance, request, keys).ok
    assert verify_prescription_signature(later_provenance, later, keys).ok
    kids = {jwt.get_unverified_header(jws_of(p))["kid"] for p in (provenance, later_provenance)}
    assert len(kids) == 2


def test_only_the_requester_signs(bridge: Bridge) -> None:
    with bridge.services() as services:
        stored = services.repository.create(draft(new_id("doc")), new_id("mr"))
        with pytest.raises(ValueError, match="not requested by"):
            sign_prescription(services, new_id("doc"), stored)
        with pytest.raises(ValueError, match="versionId"):
            sign_prescription(services, "x", {k: v for k, v in stored.items() if k != "meta"})


def test_signature_status_checks_the_current_version(bridge: Bridge) -> None:
    with bridge.services() as services:
        unsigned = services.repository.create(draft(new_id("doc")), new_id("mr"))
        assert signature_status(services, unsigned["id"]) is None
    request, _ = signed(bridge)
    with bridge.services() as services:
        status = signature_status(services, request["id"])
    assert status is not None and status.ok and status.practitioner == request["requester"]["reference"]

    # Changed after signing: what the pharmacy would dispense is no longer what the doctor signed.
    changed = copy.deepcopy(request)
    changed["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 1000
    with bridge.services() as services:
        services.repository.update(changed)
        status = signature_status(services, request["id"])
    assert status is not None and not status.ok and status.reason is Failure.PAYLOAD_MISMATCH

    # The workflow's own later changes (cancelled, with a reason) leave the signature standing.
    cancelled = {**copy.deepcopy(request), "status": "cancelled", "statusReason": {"text": "家属要求停药"}}
    with bridge.services() as services:
        services.repository.update(cancelled)
        status = signature_status(services, request["id"])
    assert status is not None and status.ok


def test_the_jwks_is_public_and_cacheable(bridge: Bridge) -> None:
    request, provenance = signed(bridge)
    response = httpx.get(f"{bridge.url}/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    assert response.headers["cache-control"] == "public, max-age=300"
    kid = jwt.get_unverified_header(jws_of(provenance))["kid"]
    (entry,) = [key for key in response.json()["keys"] if key["kid"] == kid]
    assert entry["practitioner"] == request["requester"]["reference"] and "d" not in entry
    config = httpx.get(f"{bridge.url}/.well-known/smart-configuration").json()
    assert config["jwks_uri"] == f"{config['issuer']}/.well-known/jwks.json"


def test_a_pharmacy_verifies_with_pyjwt_and_the_published_keys_only(bridge: Bridge) -> None:
    """What docs/prescriptions.md tells a pharmacy to do: no bridge code, only PyJWT and rfc8785."""
    request, provenance = signed(bridge)

    def pharmacy_verifies(provenance: dict[str, Any], prescription: dict[str, Any]) -> bool:
        token = base64.b64decode(provenance["signature"][0]["data"]).decode("ascii")
        signing_key = jwt.PyJWKClient(f"{bridge.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
        try:
            payload = jwt.api_jws.decode(token, signing_key.key, algorithms=["ES256"])
        except jwt.InvalidSignatureError:
            return False
        unsigned = {k: v for k, v in prescription.items() if k not in ("meta", "text")}
        return payload == rfc8785.dumps(unsigned)

    assert pharmacy_verifies(provenance, request)
    altered = copy.deepcopy(request)
    altered["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 5000
    assert not pharmacy_verifies(provenance, altered)
    # The same verdicts from the module a pharmacy may copy, with the keys fetched over HTTP.
    keys = httpx.get(f"{bridge.url}/.well-known/jwks.json").json()
    assert verify_prescription_signature(provenance, request, keys).ok
    assert verify_prescription_signature(provenance, altered, keys).reason is Failure.PAYLOAD_MISMATCH
