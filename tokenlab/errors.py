"""The exceptions tokenlab raises, each carrying its OAuth 2.0 error code.

Every error derives from :class:`TokenlabError`. The ``error`` attribute is the
code a real server would send: RFC 6749 §5.2 for the token endpoint
(``invalid_grant``, ``invalid_scope``, ``unauthorized_client``,
``invalid_request``) and RFC 6750 §3.1 for a protected resource
(``invalid_token``, ``insufficient_scope``). Errors that a resource server
returns also carry ``status_code`` and a ready ``www_authenticate`` value.
"""

from __future__ import annotations

from datetime import datetime


def _quote(value: str) -> str:
    """Quote a WWW-Authenticate parameter value (RFC 7235 quoted-string)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class TokenlabError(Exception):
    """Base class of every error tokenlab raises.

    ``message`` says what failed, on which value, and what to do. ``error``
    is the OAuth 2.0 error code. ``token`` is the short fingerprint of the
    token involved (never the token itself) and ``at`` the simulated time,
    when they are known.
    """

    error: str = "invalid_request"
    status_code: int | None = 400

    def __init__(
        self,
        message: str,
        *,
        token: str | None = None,
        at: datetime | None = None,
        check: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.token = token
        self.at = at
        self.check = check

    @property
    def www_authenticate(self) -> str | None:
        """The ``WWW-Authenticate`` header value for this error (RFC 6750 §3).

        Only errors that a protected resource returns have one; the token
        endpoint's errors (``invalid_grant`` and the like) return ``None``.
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error={self.error!r}, message={self.message!r})"


class BearerError(TokenlabError):
    """An error a resource server returns for a request with a bearer token."""

    scope: str | None = None

    @property
    def www_authenticate(self) -> str:
        # Descriptions must stay within the characters RFC 6750 §3 allows.
        description = "".join(
            ch if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\' else "?" for ch in self.message
        )
        params = [f"error={_quote(self.error)}", f"error_description={_quote(description)}"]
        if self.scope:
            params.append(f"scope={_quote(self.scope)}")
        return "Bearer " + ", ".join(params)


class InvalidRequest(BearerError):
    """A request or an argument is malformed (``invalid_request``, HTTP 400)."""

    error = "invalid_request"
    status_code = 400


class InvalidToken(BearerError):
    """An access token is malformed, forged, expired or revoked (``invalid_token``, HTTP 401)."""

    error = "invalid_token"
    status_code = 401


class InsufficientScope(BearerError):
    """An access token lacks a scope the request needs (``insufficient_scope``, HTTP 403)."""

    error = "insufficient_scope"
    status_code = 403

    def __init__(self, message: str, *, required_scope: str, **facts: object) -> None:
        super().__init__(message, **facts)  # type: ignore[arg-type]
        self.scope = required_scope


class InvalidGrant(TokenlabError):
    """A refresh token is unknown, expired, revoked, reused or another client's (``invalid_grant``)."""

    error = "invalid_grant"
    status_code = 400


class InvalidScope(TokenlabError):
    """A requested scope is malformed or wider than the grant (``invalid_scope``)."""

    error = "invalid_scope"
    status_code = 400


class UnauthorizedClient(TokenlabError):
    """A client acted on a token that belongs to another client (``unauthorized_client``)."""

    error = "unauthorized_client"
    status_code = 400


class ConfigurationError(TokenlabError, ValueError):
    """A policy, key, clock or argument value is invalid (``invalid_request``).

    It also derives from :class:`ValueError`, so code that validates input the
    usual Python way catches it too.
    """

    error = "invalid_request"
    status_code = None


class ClockError(ConfigurationError):
    """A time is naive, or a clock was asked to move backwards."""


class SigningKeyError(ConfigurationError):
    """A signing key is weak, malformed, or does not fit its algorithm."""


class StoreError(TokenlabError):
    """The token store cannot be read or written (``server_error``).

    Raised for a corrupt or foreign database file, a schema from another
    tokenlab version, a read-only or locked file. Nothing was changed.
    """

    error = "server_error"
    status_code = 500
