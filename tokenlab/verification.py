"""The resource server's checks on an access token's claims (RFC 9068 §4, RFC 7519, RFC 8725).

:class:`~tokenlab.authority.TokenAuthority` runs these after the header and
signature checks, in the order the functions appear here. Each raises
:class:`~tokenlab.errors.InvalidToken` whose ``check`` names the rule that failed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .errors import InvalidToken
from .policy import TokenPolicy
from .store import AccessRecord, TokenStore

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope")
MAX_NUMERIC_DATE = 253402300799
"""9999-12-31T23:59:59Z, the last second a datetime can hold."""


def timestamp(moment: datetime) -> float:
    """Return ``moment`` as seconds since 1970, the unit of JWT times."""
    return moment.timestamp()


def from_timestamp(value: float) -> datetime:
    """Return the UTC datetime of a JWT time."""
    return datetime.fromtimestamp(value, tz=timezone.utc)


def clock_text(moment: datetime) -> str:
    """Write ``moment`` for messages: "2026-01-05 09:05:00 UTC"."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def check_issuer_and_audience(policy: TokenPolicy, claims: dict[str, Any]) -> None:
    """Raise :class:`InvalidToken` unless ``iss`` is the issuer exactly and ``aud`` is or contains the audience."""
    iss = claims.get("iss")
    if iss != policy.issuer:
        raise InvalidToken(
            f"the token's iss is {str(iss)[:80]!r}, not this authority's issuer {policy.issuer!r}; "
            "issuers must match exactly",
            check="iss",
        )
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if policy.audience not in [a for a in audiences if isinstance(a, str)]:
        raise InvalidToken(
            f"the token's aud is {str(aud)[:80]!r}, which does not include {policy.audience!r}; "
            "the token was issued for another API",
            check="aud",
        )


def check_claim_types(claims: dict[str, Any]) -> None:
    """Raise :class:`InvalidToken` unless every required claim is present with its type (RFC 9068 §2.2).

    A whole-number float in ``exp``, ``iat`` or ``nbf`` is replaced by its int in ``claims``.
    """
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise InvalidToken(f"the token lacks the required claim(s) {', '.join(missing)}", check="claims")
    for name in ("sub", "client_id", "jti", "scope"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise InvalidToken(f"the {name} claim must be a non-empty string, not {claims[name]!r:.60}", check="claims")
        try:
            claims[name].encode("utf-8")
        except UnicodeEncodeError:
            # A JSON escape such as "\ud800" decodes to a lone surrogate, which is not text
            # (RFC 8259 §8.2) and which SQLite cannot store or look up.
            raise InvalidToken(
                f"the {name} claim contains a lone surrogate escape, so it is not valid Unicode text",
                check="claims",
            ) from None
    for name in ("exp", "iat", "nbf"):
        if name not in claims:
            continue
        value = claims[name]
        # RFC 7519 allows any JSON number here; a float with no fraction (1767603900.0)
        # is the same second, so it is accepted and returned as an int.
        if isinstance(value, float) and value.is_integer():
            value = claims[name] = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidToken(
                f"the {name} claim must be a whole number of seconds since 1970, not {value!r:.60} "
                f"({type(value).__name__})",
                check="claims",
            )
        if not 0 <= value <= MAX_NUMERIC_DATE:
            raise InvalidToken(
                f"the {name} claim {value!r:.60} lies outside the years 1970 to 9999", check="claims"
            )


def check_times(policy: TokenPolicy, claims: dict[str, Any], now: datetime) -> None:
    """Raise :class:`InvalidToken` unless ``now < exp + leeway`` and ``nbf`` and ``iat`` are not later than ``now + leeway``."""
    current = timestamp(now)
    leeway = policy.leeway.total_seconds()
    exp = claims["exp"]
    if not current < exp + leeway:
        raise InvalidToken(
            f"the access token expired at {clock_text(from_timestamp(exp))} "
            f"(it is now {clock_text(now)}, leeway {leeway:g} s); refresh it to get a new one",
            check="exp",
        )
    if "nbf" in claims and claims["nbf"] > current + leeway:
        raise InvalidToken(
            f"the token is not valid before {clock_text(from_timestamp(claims['nbf']))} "
            f"(it is now {clock_text(now)}, leeway {leeway:g} s)",
            check="nbf",
        )
    if claims["iat"] > current + leeway:
        raise InvalidToken(
            f"the token claims to be issued at {clock_text(from_timestamp(claims['iat']))}, "
            f"in the future (it is now {clock_text(now)}, leeway {leeway:g} s); check the clocks",
            check="iat",
        )


def check_not_revoked(store: TokenStore, claims: dict[str, Any], access: AccessRecord | None) -> None:
    """Raise :class:`InvalidToken` if the token is unknown to ``store``, on the deny-list, or of a revoked family."""
    if access is None:
        raise InvalidToken(
            f"the token's jti {claims['jti'][:40]!r} is not in this authority's store, so its "
            "revocation cannot be checked; it was issued by another store",
            check="revocation",
        )
    # The family comes first: when it is revoked, refreshing cannot help, and the message must say so.
    family = store.get_family(access.family_id)
    if family is not None and family.revoked_at is not None:
        raise InvalidToken(
            f"access token {access.label} belongs to family {family.family_id}, revoked at "
            f"{clock_text(family.revoked_at)} ({family.revoked_reason}); the user must log in again",
            check="revocation",
        )
    if access.revoked_at is not None:
        raise InvalidToken(
            f"access token {access.label} was revoked at {clock_text(access.revoked_at)} "
            f"({access.revoked_reason}); get a new one by refreshing or logging in",
            check="revocation",
        )
