"""The public keys of doctors' prescription signatures, for pharmacies to verify offline (RFC 7517)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bridge.api.deps import ServicesDep
from bridge.prescriptions.signing_keys import jwks

logger = logging.getLogger(__name__)
router = APIRouter(tags=["prescriptions"])

JWKS_PATH = "/.well-known/jwks.json"
JWK_SET_MEDIA_TYPE = "application/jwk-set+json"


@router.get(JWKS_PATH)
def jwk_set(services: ServicesDep) -> JSONResponse:
    # Public by design: no authentication. Five minutes of caching; a verifier that meets an unknown kid
    # (a doctor's first signature) fetches again, as PyJWKClient does.
    return JSONResponse(jwks(services), media_type=JWK_SET_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=300"})
