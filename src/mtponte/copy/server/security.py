"""Tokens and passwords.

API tokens are 256-bit random strings, so a single SHA-256 is enough to store them
(nothing to brute-force); operator passwords use scrypt with a per-password salt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCOPES = ("publish", "follow", "admin")
TOKEN_PREFIX = "mtp_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed stored hash matches nothing."""
    try:
        _, salt_hex, digest = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:  # not three fields, or a salt that is not hex
        return False
    test = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return hmac.compare_digest(test.hex(), digest)
