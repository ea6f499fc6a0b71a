"""The lab server's demo users and its client registry.

Everything here is public demo material: the passwords and client secrets
below are printed in the course, so they protect nothing. The registry
stores only SHA-256 hashes of them and compares in constant time, the way a
real registry keeps secrets it has to check.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping

from ..errors import ConfigurationError
from ..scope import format_scope, parse_scope


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, repr=False)
class DemoUser:
    """A user who can log in with the demo login grant.

    ``password_sha256`` is the SHA-256 hex digest of the password.
    """

    username: str
    name: str
    password_sha256: str

    @classmethod
    def create(cls, username: str, password: str, name: str) -> DemoUser:
        """Build a user from a plain password, keeping only its hash."""
        return cls(username=username, name=name, password_sha256=_sha256(password))

    def check_password(self, password: str) -> bool:
        """Return True if ``password`` is this user's password, compared in constant time."""
        # NOTE: a real server stores passwords with a slow, salted hash (scrypt, Argon2);
        # SHA-256 is enough for demo passwords that are printed in the course anyway.
        return hmac.compare_digest(_sha256(password), self.password_sha256)

    def __repr__(self) -> str:
        return f"DemoUser({self.username!r}, name={self.name!r})"


@dataclass(frozen=True, repr=False)
class RegisteredClient:
    """A client registered with the authorization server (RFC 6749 §2).

    A *public* client (``secret_sha256`` is ``None``) cannot keep a secret,
    such as a single-page app or a mobile app, and identifies itself with
    ``client_id`` alone. A *confidential* client, such as a web server,
    authenticates with HTTP Basic (``client_secret_basic``, RFC 6749
    §2.3.1). ``grant_types`` lists the grants it may use at the token
    endpoint. ``scope`` is the widest scope it may ask for, and
    ``default_scope`` is what a login without ``scope`` gets. Only
    confidential clients may call the introspection endpoint.
    """

    client_id: str
    name: str
    secret_sha256: str | None
    grant_types: tuple[str, ...]
    scope: str
    default_scope: str

    @classmethod
    def public(cls, client_id: str, name: str, *, scope: str, default_scope: str,
               grant_types: tuple[str, ...] = ("password", "refresh_token")) -> RegisteredClient:
        """Register a public client, identified by ``client_id`` alone."""
        return cls._checked(client_id, name, None, grant_types, scope, default_scope)

    @classmethod
    def confidential(cls, client_id: str, name: str, secret: str, *, scope: str, default_scope: str,
                     grant_types: tuple[str, ...] = ("password", "refresh_token")) -> RegisteredClient:
        """Register a confidential client that authenticates with ``secret``; only its hash is kept."""
        if not isinstance(secret, str) or len(secret) < 8:
            raise ConfigurationError(f"the secret of client {client_id!r} must be a string of at least 8 characters")
        return cls._checked(client_id, name, _sha256(secret), grant_types, scope, default_scope)

    @classmethod
    def _checked(cls, client_id: str, name: str, secret_sha256: str | None, grant_types: tuple[str, ...],
                 scope: str, default_scope: str) -> RegisteredClient:
        # Basic credentials are split at the first colon, so a client_id cannot contain one.
        if not isinstance(client_id, str) or not client_id or ":" in client_id or not client_id.isprintable():
            raise ConfigurationError(f"client_id must be a printable string without ':', not {client_id!r}")
        allowed = parse_scope(scope)
        default = parse_scope(default_scope, "default_scope")
        if not set(default) <= set(allowed):
            raise ConfigurationError(
                f"default_scope {default_scope!r} of client {client_id!r} is wider than its scope {scope!r}"
            )
        return cls(client_id, name, secret_sha256, tuple(grant_types), format_scope(allowed), format_scope(default))

    @property
    def is_confidential(self) -> bool:
        """True if the client has a secret and must authenticate with it."""
        return self.secret_sha256 is not None

    def check_secret(self, secret: str) -> bool:
        """Return True if ``secret`` is this client's secret, compared in constant time."""
        if self.secret_sha256 is None:
            return False
        return hmac.compare_digest(_sha256(secret), self.secret_sha256)

    def __repr__(self) -> str:
        kind = "confidential" if self.is_confidential else "public"
        return f"RegisteredClient({self.client_id!r}, {kind}, grant_types={self.grant_types!r}, scope={self.scope!r})"


DEMO_PASSWORDS: Mapping[str, str] = {"alice": "alice-demo-password", "bob": "bob-demo-password"}
"""The demo users' passwords. DEMO ONLY: they are printed in the course."""

DEMO_CLIENT_SECRETS: Mapping[str, str] = {"web": "web-demo-secret", "resource-server": "rs-demo-secret"}
"""The confidential demo clients' secrets. DEMO ONLY: they are printed in the course."""

DEMO_USERS: Mapping[str, DemoUser] = {
    "alice": DemoUser.create("alice", DEMO_PASSWORDS["alice"], "Alice Example"),
    "bob": DemoUser.create("bob", DEMO_PASSWORDS["bob"], "Bob Example"),
}

DEMO_CLIENTS: Mapping[str, RegisteredClient] = {
    "app": RegisteredClient.public(
        "app", "single-page app (public client)", scope="profile notes:read", default_scope="profile",
    ),
    "web": RegisteredClient.confidential(
        "web", "web server app (confidential client)", DEMO_CLIENT_SECRETS["web"],
        scope="profile notes:read notes:write", default_scope="profile",
    ),
    "resource-server": RegisteredClient.confidential(
        "resource-server", "the notes API, calling introspection", DEMO_CLIENT_SECRETS["resource-server"],
        scope="profile", default_scope="profile", grant_types=(),
    ),
}
"""The demo client registry: a public app, a confidential web app, and the API as an introspection caller."""
