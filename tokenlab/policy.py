"""The token policy: lifetimes, rotation, reuse detection and verification settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .clock import to_timedelta
from .errors import ConfigurationError

MAX_LEEWAY = timedelta(seconds=60)
MAX_REUSE_GRACE = timedelta(seconds=60)
MAX_LIFETIME = timedelta(days=36500)
MAX_URI_LENGTH = 1024
"""Longest lifetime a policy accepts (100 years), so every expiry stays a valid date."""
_DURATION_FIELDS = ("access_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl", "reuse_grace", "leeway")


@dataclass(frozen=True)
class TokenPolicy:
    """How an authority issues, refreshes and verifies tokens.

    Durations are :class:`~datetime.timedelta` values; a bare number is read as
    seconds. The defaults are what a security engineer would pick for a
    public client today (RFC 9700): short access tokens, rotated refresh
    tokens with reuse detection, no grace window and no leeway. The policy is
    validated when built and cannot change afterwards; use :meth:`replace`
    to derive a new one.
    """

    access_token_ttl: timedelta = timedelta(minutes=5)
    """Lifetime of an access token, from ``iat`` to ``exp``."""

    refresh_token_ttl: timedelta = timedelta(days=30)
    """Absolute lifetime of a token family, fixed at login; rotation never extends it."""

    refresh_token_idle_ttl: timedelta = timedelta(days=15)
    """A refresh token expires when unused for this long since it was issued or last used."""

    rotate_refresh_tokens: bool = True
    """Replace the refresh token on every refresh (RFC 9700 §4.14.2)."""

    detect_reuse: bool = True
    """Revoke the whole family when a rotated refresh token is presented again."""

    reuse_grace: timedelta = timedelta(0)
    """How long after a rotation its parent may still be exchanged once more (at most 60 s)."""

    leeway: timedelta = timedelta(0)
    """Tolerance for clock skew when checking ``exp``, ``nbf`` and ``iat`` (at most 60 s)."""

    issuer: str = "https://auth.tokenlab.example"
    """The ``iss`` claim; verification requires an exact match."""

    audience: str = "https://api.tokenlab.example"
    """The ``aud`` claim; verification requires it to be, or contain, this value."""

    readable_ids: bool = False
    """Use counters (``at-1``, ``F1``) for ``jti`` and family ids: for demos only, so outputs repeat."""

    def __post_init__(self) -> None:
        for name in _DURATION_FIELDS:
            value = to_timedelta(getattr(self, name), name)
            object.__setattr__(self, name, value)

        for name in ("access_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigurationError(
                    f"{name} must be positive, not {getattr(self, name)}; "
                    f"give a lifetime such as timedelta(minutes=5)"
                )
            if getattr(self, name) > MAX_LIFETIME:
                raise ConfigurationError(
                    f"{name} is {getattr(self, name).days} days, longer than the {MAX_LIFETIME.days} days "
                    "accepted; a token that lives that long is never meant to expire. Pick a shorter lifetime"
                )

        ttl = self.access_token_ttl
        if ttl < timedelta(seconds=1):
            raise ConfigurationError(
                f"access_token_ttl must be at least 1 second, not {ttl.total_seconds():g} s, "
                "because a JWT's exp counts whole seconds"
            )

        for name, cap in (("reuse_grace", MAX_REUSE_GRACE), ("leeway", MAX_LEEWAY)):
            value = getattr(self, name)
            if value < timedelta(0):
                raise ConfigurationError(f"{name} must not be negative, not {value}; use 0 to turn it off")
            if value > cap:
                raise ConfigurationError(
                    f"{name} is {value.total_seconds():g} s, above the cap of {cap.total_seconds():g} s; "
                    "a longer window lets a stolen token pass, so pick 60 seconds or less"
                )

        for name in ("rotate_refresh_tokens", "detect_reuse", "readable_ids"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{name} must be True or False, not {getattr(self, name)!r}")

        for name in ("issuer", "audience"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{name} must be a non-empty string, not {value!r}")
            if len(value) > MAX_URI_LENGTH or not value.isprintable():
                raise ConfigurationError(
                    f"{name} must be printable and at most {MAX_URI_LENGTH} characters, "
                    f"not {len(value)} characters starting {value[:40]!r}"
                )

        if self.reuse_grace > timedelta(0) and not self.rotate_refresh_tokens:
            raise ConfigurationError(
                "reuse_grace only applies when rotate_refresh_tokens is True; set reuse_grace=0 or turn rotation on"
            )

    def replace(self, **changes: Any) -> TokenPolicy:
        """Return a copy with ``changes`` applied, validated like a new policy."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigurationError(
                f"unknown policy field(s) {', '.join(unknown)}; the fields are: "
                + ", ".join(f.name for f in dataclasses.fields(self))
            )
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """Return the policy as plain values (seconds for durations), for printing and tables."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.total_seconds() if isinstance(value, timedelta) else value
        return out
