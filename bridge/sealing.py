"""Secrets the bridge must use again later (doctors' private signing keys, API clients' secrets for
signing notifications), sealed at rest with a key derived from BRIDGE_SECRET_KEY.

A database dump alone then yields no usable key; rotating BRIDGE_SECRET_KEY makes sealed values
unreadable (`UnsealError`), so the owners of those secrets must be issued new ones.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class UnsealError(ValueError):
    """The value was sealed under another secret key, or altered."""


def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"bridge-seal:{purpose}".encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret_key: str, purpose: str, plaintext: bytes) -> str:
    return _fernet(secret_key, purpose).encrypt(plaintext).decode("ascii")


def unseal(secret_key: str, purpose: str, sealed: str) -> bytes:
    try:
        return _fernet(secret_key, purpose).decrypt(sealed.encode("ascii"))
    except InvalidToken as exc:
        raise UnsealError(
            f"cannot unseal a {purpose} value: sealed under another BRIDGE_SECRET_KEY or altered"
        ) from exc
