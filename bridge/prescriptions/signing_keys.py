"""Doctors' own keys for signing prescriptions: one active EC P-256 (ES256) key pair per practitioner.

A key is made on the doctor's first signature. `retire` ends it, so the next signature makes a new one;
every public key ever made stays in the JWKS, so a pharmacy can verify any old signature offline. The
private half is sealed at rest (bridge/sealing.py).

Key ids. A kid is HMAC-SHA256(BRIDGE_SECRET_KEY, practitioner id + the key's generation), truncated to
128 bits and base64url-encoded: deterministic, so two signatures by the same doctor at the same moment
compute the same kid for "the next key" and the primary key lets only one of them in (INSERT .. ON
CONFLICT DO NOTHING; the loser waits for the winner to commit on PostgreSQL, or for the write lock on
SQLite, and then uses the winner's key). A random kid or a thumbprint would differ between the two and
leave the doctor with two active keys. The secret keeps kids unlinkable across deployments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.prescriptions.tables import SigningKey
from bridge.sealing import UnsealError, seal, unseal

if TYPE_CHECKING:  # Services will offer prescribing services itself; an import here would then be circular
    from bridge.services import Services

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"
SEAL_PURPOSE = "prescription-signing-key"
# A JWK member beyond RFC 7517's: whose key this is, so a verifier can tie the signature to the
# prescribing doctor rather than to "some key of the bridge". Verifiers that do not know it ignore it.
OWNER_MEMBER = "practitioner"
# Tries at "read the active key, else insert the next one"; more than one only under contention.
_ATTEMPTS = 3


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    practitioner_id: str
    private_key: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, Any]
    algorithm: str = ALGORITHM


def key_for(services: Services, practitioner_id: str) -> ActiveKey:
    """The practitioner's current signing key, made on first use (or after `retire`)."""
    for _ in range(_ATTEMPTS):
        row = _active_row(services.db, practitioner_id)
        if row is not None:
            key = _usable(services, row)
            if key is not None:
                return key
            continue
        generation = _key_count(services.db, practitioner_id) + 1
        key, values = _new_key(services, practitioner_id, generation)
        if _insert_unless_exists(services.db, values):
            logger.info("new signing key %s for Practitioner/%s", key.kid, practitioner_id)
            return key
        # Another transaction made this generation's key first: loop round and use it.
    raise RuntimeError(f"could not obtain a signing key for Practitioner/{practitioner_id} (contention)")


def retire(services: Services, practitioner_id: str) -> int:
    """End the practitioner's active key; its public half stays published. Returns how many were retired."""
    result = services.db.execute(
        update(SigningKey)
        .where(SigningKey.practitioner_id == practitioner_id, SigningKey.retired_at.is_(None))
        .values(retired_at=services.now())
        .execution_options(synchronize_session="fetch")
    )
    retired: int = result.rowcount  # type: ignore[attr-defined]
    if retired:
        logger.info("retired %d signing key(s) of Practitioner/%s", retired, practitioner_id)
    return retired


def jwks(services: Services) -> dict[str, Any]:
    """Every public key ever made (retired ones too), as a JWK Set (RFC 7517)."""
    rows = services.db.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid)).all()
    return {"keys": [json.loads(row.public_jwk) for row in rows]}


def _active_row(db: Session, practitioner_id: str) -> SigningKey | None:
    return db.scalars(
        select(SigningKey)
        .where(SigningKey.practitioner_id == practitioner_id, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    ).first()


def _key_count(db: Session, practitioner_id: str) -> int:
    count = db.scalar(select(func.count()).select_from(SigningKey).where(SigningKey.practitioner_id == practitioner_id))
    return int(count or 0)


def _usable(services: Services, row: SigningKey) -> ActiveKey | None:
    """The row as a key, or None (and the row retired) when it was sealed under an earlier
    BRIDGE_SECRET_KEY: the doctor then simply gets a new key; old signatures stay verifiable."""
    try:
        pem = unseal(services.settings.secret_key.get_secret_value(), SEAL_PURPOSE, row.private_key_sealed)
    except UnsealError:
        logger.warning("signing key %s cannot be unsealed (BRIDGE_SECRET_KEY changed?): retiring it", row.kid)
        row.retired_at = services.now()
        services.db.flush()
        return None
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"signing key {row.kid} is not an EC key")
    return ActiveKey(row.kid, row.practitioner_id, private_key, json.loads(row.public_jwk), row.algorithm)


def _new_key(services: Services, practitioner_id: str, generation: int) -> tuple[ActiveKey, dict[str, Any]]:
    secret = services.settings.secret_key.get_secret_value()
    kid = _kid(secret, practitioner_id, generation)
    private_key = ec.generate_private_key(ec.SECP256R1())
    point = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    assert isinstance(point, dict)
    public_jwk: dict[str, Any] = {
        **point,
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
        OWNER_MEMBER: f"Practitioner/{practitioner_id}",
    }
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    values = {
        "kid": kid,
        "practitioner_id": practitioner_id,
        "algorithm": ALGORITHM,
        "public_jwk": json.dumps(public_jwk, sort_keys=True),
        "private_key_sealed": seal(secret, SEAL_PURPOSE, pem),
        "created_at": services.now(),
        "retired_at": None,
    }
    return ActiveKey(kid, practitioner_id, private_key, public_jwk), values


def _kid(secret: str, practitioner_id: str, generation: int) -> str:
    digest = hmac.new(secret.encode(), f"signing-key\x00{practitioner_id}\x00{generation}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode("ascii")


def _insert_unless_exists(db: Session, values: dict[str, Any]) -> bool:
    """Insert the key row; False when a row with its kid already exists (or was just committed by a
    concurrent transaction, which PostgreSQL waits for). No savepoint needed, so no error to recover from.
    RETURNING says whether the row went in: psycopg reports no rowcount for this statement."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(SigningKey).values(values).on_conflict_do_nothing(index_elements=["kid"])
    elif dialect == "sqlite":
        statement = sqlite.insert(SigningKey).values(values).on_conflict_do_nothing(index_elements=["kid"])
    else:  # pragma: no cover - the bridge runs on SQLite and PostgreSQL only
        raise NotImplementedError(f"signing keys on {dialect}")
    return db.execute(statement.returning(SigningKey.kid)).first() is not None
