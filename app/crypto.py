"""Secrets at rest: channel tokens encrypted with Fernet, API keys stored as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

API_KEY_PREFIX = "mca_"


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt_token(plain: str, key: str) -> bytes:
    return _fernet(key).encrypt(plain.encode())


def decrypt_token(cipher: bytes, key: str) -> str:
    try:
        return _fernet(key).decrypt(cipher).decode()
    except InvalidToken as exc:
        raise ValueError("channel token cannot be decrypted with APP_ENCRYPTION_KEY") from exc


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sign(value: str, secret: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def verify_signature(raw: bytes, header: str | None, secret: str) -> bool:
    """Meta's X-Hub-Signature-256: `sha256=<hex HMAC of the raw body>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[7:].strip().lower())
