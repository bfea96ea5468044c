"""Doctors' signatures on prescriptions: a compact JWS (ES256) over the canonical MedicationRequest, carried
in a Provenance (docs/prescriptions.md, "The signature").

The verifying half (`canonical_prescription`, `verify_prescription_signature`, `Verification`) needs only
PyJWT and rfc8785, so a pharmacy system can copy this module and verify offline against the bridge's
`/.well-known/jwks.json`. The bridge-side half (`sign_prescription`, `signature_status`) imports the rest
of the bridge inside the functions for that reason.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import jwt
import rfc8785

if TYPE_CHECKING:
    from bridge.services import Services

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"
SIGNATURE_TYPE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}
TARGET_FORMAT = "application/fhir+json"
SIG_FORMAT = "application/jose"
# The JWK member naming the key's owner (bridge/prescriptions/signing_keys.py, OWNER_MEMBER).
OWNER_MEMBER = "practitioner"
_AUTHOR = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}]
}
_UNSIGNED_ELEMENTS = frozenset({"meta", "text"})
# Relative or absolute; the version is required, since a signature covers one version.
_TARGET = re.compile(r"(?:^|/)MedicationRequest/([A-Za-z0-9\-.]{1,64})/_history/([A-Za-z0-9\-.]{1,64})$")
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")


class Failure(StrEnum):
    UNKNOWN_KEY = "unknown-key"  # the kid is not in the JWKS (or its entry is unusable)
    BAD_SIGNATURE = "bad-signature"  # the JWS does not verify under the published key
    PAYLOAD_MISMATCH = "payload-mismatch"  # signed content differs from the prescription given
    WRONG_TARGET = "wrong-target"  # the Provenance names another prescription or version
    WRONG_SIGNER = "wrong-signer"  # the key's owner is not the prescription's requester
    MALFORMED = "malformed"  # not a Provenance with a compact ES256 JWS as described


@dataclass(frozen=True)
class Verification:
    ok: bool
    kid: str | None = None
    practitioner: str | None = None  # "Practitioner/<id>" of the signer
    reason: Failure | None = None
    detail: str = ""
    target: str | None = None  # "MedicationRequest/<id>/_history/<version>"
    when: str | None = None  # signature.when, as written by the signer


class _Malformed(ValueError):
    pass


def canonical_prescription(medication_request: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of the MedicationRequest without `meta` and `text`, which the server
    rewrites on every store and which carry nothing the doctor decides."""
    return rfc8785.dumps({k: v for k, v in medication_request.items() if k not in _UNSIGNED_ELEMENTS})


def verify_prescription_signature(
    provenance: dict[str, Any], medication_request: dict[str, Any], jwks: dict[str, Any]
) -> Verification:
    """Check the Provenance's signature over this MedicationRequest with the published keys. Pure: no I/O."""
    try:
        target, token, who, when = _signature_parts(provenance)
        header = jwt.get_unverified_header(token)
    except (_Malformed, jwt.DecodeError) as exc:
        return Verification(False, reason=Failure.MALFORMED, detail=str(exc))
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") != ALGORITHM:
        return Verification(False, reason=Failure.MALFORMED, detail=f"the JWS header needs alg {ALGORITHM} and a kid")

    def outcome(signer: str | None, reason: Failure | None = None, detail: str = "") -> Verification:
        return Verification(reason is None, kid, signer, reason, detail, target, when)

    mismatch = _target_mismatch(target, medication_request)
    if mismatch:
        return outcome(who, Failure.WRONG_TARGET, mismatch)
    published = _published_key(jwks, kid)
    if published is None:
        return outcome(who, Failure.UNKNOWN_KEY, f"no usable key {kid} in the JWKS")
    entry, key = published
    owner = entry.get(OWNER_MEMBER)
    signer = owner if isinstance(owner, str) else who
    try:
        payload = jwt.api_jws.decode(token, key.key, algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError:
        return outcome(signer, Failure.BAD_SIGNATURE, f"not signed by key {kid}")
    except jwt.PyJWTError as exc:
        return outcome(signer, Failure.MALFORMED, str(exc))
    try:
        expected = canonical_prescription(medication_request)
    except rfc8785.CanonicalizationError as exc:
        return outcome(signer, Failure.MALFORMED, str(exc))
    if payload != expected:
        return outcome(signer, Failure.PAYLOAD_MISMATCH, "the prescription differs from what the doctor signed")

    requester = _reference_key(medication_request.get("requester"))
    agents = provenance.get("agent")
    first_agent = agents[0] if isinstance(agents, list) and agents and isinstance(agents[0], dict) else {}
    author = _reference_key(first_agent.get("who"))
    claimed = {"the key's owner": signer, "the requester": requester, "signature.who": who, "agent.who": author}
    if signer is None or len(set(claimed.values())) != 1:
        return outcome(signer, Failure.WRONG_SIGNER, ", ".join(f"{name} is {value}" for name, value in claimed.items()))
    return outcome(signer)


def sign_prescription(services: Services, practitioner_id: str, medication_request: dict[str, Any]) -> dict[str, Any]:
    """The Provenance carrying the doctor's signature of this (stored, active) version; not stored here:
    the caller stores it in the transaction that activates the prescription."""
    from bridge.prescriptions.signing_keys import key_for  # see the module docstring

    version = medication_request.get("meta", {}).get("versionId")
    resource_id = medication_request.get("id")
    if medication_request.get("resourceType") != "MedicationRequest" or not resource_id or not version:
        raise ValueError("sign a stored MedicationRequest: it needs an id and meta.versionId")
    who = f"Practitioner/{practitioner_id}"
    if _reference_key(medication_request.get("requester")) != who:
        # Verification ties the key's owner to the requester; such a signature would never verify.
        raise ValueError(f"MedicationRequest/{resource_id} is not requested by {who}")
    key = key_for(services, practitioner_id)
    token = jwt.api_jws.encode(
        canonical_prescription(medication_request),
        key.private_key,
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": None},  # None drops PyJWT's default typ "JWT": this is no JWT
    )
    when = _instant(services.now())
    logger.info("MedicationRequest/%s/_history/%s signed by %s with key %s", resource_id, version, who, key.kid)
    return {
        "resourceType": "Provenance",
        "target": [{"reference": f"MedicationRequest/{resource_id}/_history/{version}"}],
        "recorded": when,
        "agent": [{"type": _AUTHOR, "who": {"reference": who}}],
        "signature": [
            {
                "type": [SIGNATURE_TYPE],
                "when": when,
                "who": {"reference": who},
                "targetFormat": TARGET_FORMAT,
                "sigFormat": SIG_FORMAT,
                "data": base64.b64encode(token.encode("ascii")).decode("ascii"),
            }
        ],
    }


def signature_status(services: Services, medication_request_id: str) -> Verification | None:
    """How the prescription's signature stands against the bridge's own keys; None when it was never signed.

    The signed version is verified, then the current one is compared with it: the workflow may since have
    changed the status (cancelled, on hold after a pharmacy's rejection) and its reason, nothing else. Any
    other change means what a pharmacy would dispense is no longer what the doctor signed.
    """
    from fhir_adapter.errors import OperationOutcomeError

    from bridge.prescriptions.signing_keys import jwks  # see the module docstring

    current = services.repository.read("MedicationRequest", medication_request_id)
    candidates = [
        provenance
        for provenance in _signatures(services, medication_request_id)
        if any(s.get("sigFormat") == SIG_FORMAT for s in provenance.get("signature", []))
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda p: (int(_signed_version(p) or 0), str(p.get("recorded", ""))))
    provenance = candidates[-1]
    signed_version = _signed_version(provenance)
    signed = current
    if signed_version is not None and signed_version != str(current.get("meta", {}).get("versionId", "")):
        try:
            signed = services.repository.read_version("MedicationRequest", medication_request_id, int(signed_version))
        except OperationOutcomeError:
            return Verification(
                ok=False, reason=Failure.WRONG_TARGET, detail=f"the signed version {signed_version} does not exist"
            )
    verification = verify_prescription_signature(provenance, signed, jwks(services))
    if verification.ok and _content(signed) != _content(current):
        verification = replace(
            verification,
            ok=False,
            reason=Failure.PAYLOAD_MISMATCH,
            detail=f"changed since the signed version {signed_version}",
        )
    if not verification.ok:
        logger.warning(
            "signature of MedicationRequest/%s does not verify: %s %s",
            medication_request_id,
            verification.reason,
            verification.detail,
        )
    return verification


def _signatures(services: Services, medication_request_id: str) -> list[dict[str, Any]]:
    """The Provenances `$sign` stored for the request, as its Tasks name them; a request signed without a
    Task (a test, a migration) falls back to a search by target."""
    from fhir_adapter.errors import OperationOutcomeError

    from bridge.prescriptions.codes import signature_id

    tasks = services.repository.find("Task", {"focus": f"MedicationRequest/{medication_request_id}"})
    named = [pid for task in tasks if (pid := signature_id(task)) is not None]
    if not named:
        return services.repository.find("Provenance", {"target": f"MedicationRequest/{medication_request_id}"})
    found = []
    for provenance_id in named:
        try:
            found.append(services.repository.read("Provenance", provenance_id))
        except OperationOutcomeError:
            logger.warning(
                "Provenance/%s named by a Task of MedicationRequest/%s is gone", provenance_id, medication_request_id
            )
    return found


# What the workflow changes after signing (bridge/prescriptions/pharmacy_flow.py, home_flow.py).
_WORKFLOW_FIELDS = frozenset({"meta", "text", "status", "statusReason"})


def _content(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k not in _WORKFLOW_FIELDS}


def _signature_parts(provenance: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(target reference, compact JWS, signature.who, signature.when), or _Malformed."""
    if not isinstance(provenance, dict) or provenance.get("resourceType") != "Provenance":
        raise _Malformed("not a Provenance")
    targets = [t.get("reference") for t in provenance.get("target") or [] if isinstance(t, dict)]
    target = next((t for t in targets if isinstance(t, str) and _TARGET.search(t)), None)
    if target is None:
        raise _Malformed("the Provenance names no MedicationRequest/<id>/_history/<version>")
    signature = next(
        (s for s in provenance.get("signature") or [] if isinstance(s, dict) and s.get("sigFormat") == SIG_FORMAT),
        None,
    )
    if signature is None or not isinstance(signature.get("data"), str):
        raise _Malformed(f"the Provenance has no {SIG_FORMAT} signature with data")
    try:
        token = base64.b64decode(signature["data"], validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _Malformed("signature.data is not base64 of a compact JWS") from exc
    if token.count(".") != 2:
        raise _Malformed("signature.data is not a compact JWS")
    when = signature.get("when")
    return target, token, _reference_key(signature.get("who")), when if isinstance(when, str) else None


def _target_mismatch(target: str, medication_request: dict[str, Any]) -> str:
    match = _TARGET.search(target)
    assert match is not None  # _signature_parts chose a target that matches
    signed_id, signed_version = match.groups()
    if medication_request.get("resourceType") != "MedicationRequest" or medication_request.get("id") != signed_id:
        return f"the signature is for MedicationRequest/{signed_id}, not this resource"
    meta = medication_request.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    # A copy without meta is judged on its content alone; a stated version must be the signed one.
    if version is not None and str(version) != signed_version:
        return f"version {signed_version} was signed; this is version {version} (changed after signing)"
    return ""


def _published_key(jwks: dict[str, Any], kid: str) -> tuple[dict[str, Any], jwt.PyJWK] | None:
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kid") != kid:
            continue
        if entry.get("kty") != "EC" or entry.get("crv") != "P-256" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            return entry, jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            continue
    return None


def _signed_version(provenance: dict[str, Any]) -> str | None:
    for target in provenance.get("target") or []:
        match = _TARGET.search(str(target.get("reference", ""))) if isinstance(target, dict) else None
        if match:
            return match.group(2)
    return None


def _reference_key(reference: Any) -> str | None:
    """`Type/id` of a Reference element (relative or absolute), else None."""
    value = reference.get("reference") if isinstance(reference, dict) else None
    match = _REFERENCE.search(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
