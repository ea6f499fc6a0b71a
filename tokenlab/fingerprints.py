"""Short, non-reversible labels for tokens and keys, safe to log and show."""

from __future__ import annotations

import hashlib

FINGERPRINT_LENGTH = 8


def token_hash(token: str) -> str:
    """Return the SHA-256 hex digest of ``token``, the form in which stores keep refresh tokens."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(secret: str | bytes) -> str:
    """Return the first 8 hex digits of the SHA-256 of ``secret``.

    Logs, reprs, events and error messages show this instead of a token or a
    key. For a refresh token it is also the start of the stored hash, so a
    log line can be matched to a database row.
    """
    data = secret if isinstance(secret, bytes) else secret.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:FINGERPRINT_LENGTH]
