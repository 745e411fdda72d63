"""Bearer secrets stored as a lookup half and a hash of the secret half (OAuth and app tokens)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new(lookup_length: int, secret_length: int) -> tuple[str, str]:
    """A fresh (lookup, secret) pair; the caller shows lookup + secret once and stores the rest."""
    return (
        secrets.token_urlsafe(lookup_length)[:lookup_length],
        secrets.token_urlsafe(secret_length)[:secret_length],
    )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(stored_digest: str, secret: str) -> bool:
    """Constant-time comparison of a presented secret with the stored digest."""
    return hmac.compare_digest(stored_digest, digest(secret))
