"""Doctors' signing keys: made on first use, one active per doctor even under a race, rotated with the
old public key still published, private halves sealed."""

from __future__ import annotations

import threading
import time
import uuid

import jwt
from sqlalchemy import select

from bridge.prescriptions.signing_keys import SEAL_PURPOSE, jwks, key_for, retire
from bridge.prescriptions.tables import SigningKey
from bridge.sealing import seal, unseal
from tests.conftest import Bridge


def new_doctor() -> str:
    return f"doc-{uuid.uuid4().hex[:12]}"


def rows_of(bridge: Bridge, practitioner_id: str) -> list[SigningKey]:
    with bridge.services() as services:
        return list(services.db.scalars(select(SigningKey).where(SigningKey.practitioner_id == practitioner_id)))


def test_first_use_makes_a_key_and_later_uses_keep_it(bridge: Bridge) -> None:
    doctor = new_doctor()
    with bridge.services() as services:
        first = key_for(services, doctor)
    with bridge.services() as services:
        again = key_for(services, doctor)
    assert again.kid == first.kid and again.practitioner_id == doctor
    assert len(rows_of(bridge, doctor)) == 1
    # The unsealed private key is the pair of the published public key.
    token = jwt.api_jws.encode(b"payload", again.private_key, algorithm="ES256", headers={"kid": again.kid})
    assert jwt.api_jws.decode(token, jwt.PyJWK(first.public_jwk).key, algorithms=["ES256"]) == b"payload"


def test_the_jwks_publishes_public_halves_only_with_their_owner(bridge: Bridge) -> None:
    doctor = new_doctor()
    with bridge.services() as services:
        key = key_for(services, doctor)
        published = {entry["kid"]: entry for entry in jwks(services)["keys"]}
    entry = published[key.kid]
    assert {entry["kty"], entry["crv"], entry["alg"], entry["use"]} == {"EC", "P-256", "ES256", "sig"}
    assert entry["x"] and entry["y"] and "d" not in entry
    assert entry["practitioner"] == f"Practitioner/{doctor}"
    assert len(key.kid) <= 64


def test_private_keys_are_sealed_at_rest(bridge: Bridge) -> None:
    doctor = new_doctor()
    with bridge.services() as services:
        key_for(services, doctor)
        secret = services.settings.secret_key.get_secret_value()
    (row,) = rows_of(bridge, doctor)
    assert "PRIVATE KEY" not in row.private_key_sealed
    assert unseal(secret, SEAL_PURPOSE, row.private_key_sealed).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_retiring_rotates_and_keeps_the_old_public_key(bridge: Bridge) -> None:
    doctor = new_doctor()
    with bridge.services() as services:
        old = key_for(services, doctor)
    with bridge.services() as services:
        assert retire(services, doctor) == 1
        assert retire(services, doctor) == 0
    with bridge.services() as services:
        new = key_for(services, doctor)
        published = {entry["kid"] for entry in jwks(services)["keys"]}
    assert new.kid != old.kid and {old.kid, new.kid} <= published
    rows = {row.kid: row for row in rows_of(bridge, doctor)}
    assert rows[old.kid].retired_at is not None and rows[new.kid].retired_at is None


def test_a_key_sealed_under_an_old_secret_is_retired_and_replaced(bridge: Bridge) -> None:
    doctor = new_doctor()
    with bridge.services() as services:
        lost = key_for(services, doctor)
        row = services.db.get(SigningKey, lost.kid)
        row.private_key_sealed = seal("a-previous-bridge-secret-key-0123456789", SEAL_PURPOSE, b"x")
    with bridge.services() as services:
        replacement = key_for(services, doctor)
        published = {entry["kid"] for entry in jwks(services)["keys"]}
    assert replacement.kid != lost.kid and lost.kid in published
    rows = {row.kid: row for row in rows_of(bridge, doctor)}
    assert rows[lost.kid].retired_at is not None and rows[replacement.kid].retired_at is None


def test_two_first_signatures_at_once_share_one_key(bridge: Bridge) -> None:
    """B looks for a key while A's new key is not yet committed: B must end up with A's key, not a second one."""
    doctor = new_doctor()
    a_inserted = threading.Event()
    kids: dict[str, str] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with bridge.services() as services:
                kids["a"] = key_for(services, doctor).kid
                a_inserted.set()
                time.sleep(0.5)  # B now reads no committed key and tries to insert the same kid
        except BaseException as exc:
            errors.append(exc)
            a_inserted.set()

    def second() -> None:
        try:
            a_inserted.wait(10)
            with bridge.services() as services:
                kids["b"] = key_for(services, doctor).kid
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert kids["a"] == kids["b"]
    rows = rows_of(bridge, doctor)
    assert len(rows) == 1 and rows[0].retired_at is None
