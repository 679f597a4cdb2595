"""Tokens and password hashes (``copy/server/security.py``), for the mutants that
``tools/mutate.py`` found alive: a malformed stored hash, and the token's entropy."""

from __future__ import annotations

import base64

from mtponte.copy.server.security import (
    TOKEN_PREFIX,
    hash_password,
    new_token,
    verify_password,
)


def test_a_malformed_stored_hash_matches_nothing_and_raises_nothing():
    good = hash_password("s3cret")
    assert verify_password("s3cret", good) and not verify_password("other", good)
    for stored in ("", "plain", "scrypt$00", "scrypt$a$b$c", "scrypt$zz$00", "scrypt$0$00"):
        assert verify_password("s3cret", stored) is False, stored


def test_tokens_carry_256_random_bits():
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for t in tokens:
        assert t.startswith(TOKEN_PREFIX)
        body = t[len(TOKEN_PREFIX) :]
        assert len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == 32
