"""Passwords, API tokens and secrets at rest.

Keys are derived from the master key with HKDF, one per purpose, so rotating one use never
exposes another. Secret values are sealed with AES-GCM; the workspace and name are bound as
associated data, so a ciphertext moved to another row does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "plt_"
_hasher = PasswordHasher()


def derive_key(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        master
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A new bearer token (shown once; only its hash is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are long random strings, so a plain SHA-256 is the right hash: no salt or
    slow hash is needed, and lookups by hash stay exact."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SecretBox:
    """AES-GCM with a key derived from the master key for secrets at rest."""

    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(derive_key(master, "plait secrets v1"))

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], context.encode()).decode()
