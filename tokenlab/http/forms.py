"""Reading and checking what a request to the token, revocation and introspection endpoints sends.

Every check that fails raises :class:`OAuthHttpError`, which the server turns
into an RFC 6749 §5.2 JSON error response. Nothing here touches tokens: the
engine judges them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import parse_qsl, unquote_plus

from .registry import RegisteredClient

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 20
MAX_FIELD_LENGTH = 4096
MAX_DESCRIPTION_LENGTH = 600
BASIC_REALM = "tokenlab"

SECRET_QUERY_PARAMETERS = ("client_secret", "password", "refresh_token", "token", "access_token", "code")
"""Parameters that must never travel in a URL, where proxies and server logs keep them (RFC 6749 §2.3.1, §3.2)."""

# RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
_DESCRIPTION_FORBIDDEN = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


def clean_description(text: str) -> str:
    """Return ``text`` within the characters RFC 6749 §5.2 allows in ``error_description``.

    Double quotes become single quotes, backslashes slashes, anything else
    outside printable ASCII a question mark; the result is cut to 600 characters.
    """
    text = text.replace('"', "'").replace("\\", "/")
    text = _DESCRIPTION_FORBIDDEN.sub("?", text)
    if len(text) > MAX_DESCRIPTION_LENGTH:
        text = text[: MAX_DESCRIPTION_LENGTH - 3] + "..."
    return text


class OAuthHttpError(Exception):
    """An error response: ``error`` and ``description`` go into the JSON body, with ``status``.

    ``www_authenticate`` is set for ``invalid_client`` (RFC 6749 §5.2 requires
    it when the client tried HTTP authentication) and for errors of the
    protected API (RFC 6750 §3). ``client_id`` and ``token`` (a
    fingerprint) are for the server log only.
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        www_authenticate: str | None = None,
        client_id: str | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = clean_description(description)
        self.status = status
        self.www_authenticate = www_authenticate
        self.client_id = client_id
        self.token = token
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """Return the JSON body of the error response (RFC 6749 §5.2)."""
        return {"error": self.error, "error_description": self.description}


def invalid_request(description: str) -> OAuthHttpError:
    """Build a 400 ``invalid_request`` error."""
    return OAuthHttpError("invalid_request", description)


def invalid_client(description: str, client_id: str | None = None) -> OAuthHttpError:
    """Build a 401 ``invalid_client`` error with a ``WWW-Authenticate: Basic`` challenge."""
    return OAuthHttpError(
        "invalid_client", description, status=401,
        www_authenticate=f'Basic realm="{BASIC_REALM}", charset="UTF-8"', client_id=client_id,
    )


class Form:
    """The parameters of one form-encoded request body, as :func:`parse_form` accepted them.

    A parameter sent with an empty value counts as absent (RFC 6749 §3.1).
    """

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = {name: value for name, value in fields.items() if value != ""}

    def get(self, name: str) -> str | None:
        """Return the value of ``name``, or ``None`` when it was not sent or sent empty."""
        return self._fields.get(name)

    def require(self, name: str, advice: str = "") -> str:
        """Return the value of ``name``; raise ``invalid_request`` naming it, plus ``advice``, when it is missing."""
        value = self._fields.get(name)
        if value is None:
            raise invalid_request(f"the request has no {name} parameter{advice}")
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def names(self) -> list[str]:
        """Return the names of the parameters that have a value, in the order sent."""
        return list(self._fields)


def parse_form(content_type: str | None, body: bytes, query: str = "") -> Form:
    """Parse a form-encoded request body, rejecting anything RFC 6749 §3.1-3.2 does not allow.

    Raises :class:`OAuthHttpError` (``invalid_request``) for another or
    missing content type and for a body that is not UTF-8 form encoding.
    It also raises it for more than 20 parameters, a parameter sent twice
    or without a name, a value over 4096 characters or with control
    characters, and a secret parameter in the URL query instead of the body.
    """
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name in SECRET_QUERY_PARAMETERS:
            raise invalid_request(
                f"{name} was sent in the URL query; send it in the form-encoded request body, "
                "because URLs end up in server logs and browser history"
            )

    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype != FORM_CONTENT_TYPE:
        received = mimetype or "missing"
        raise invalid_request(
            f"the Content-Type is {received[:60]!r}; send the parameters as {FORM_CONTENT_TYPE} "
            "(RFC 6749 section 3.2), for example grant_type=refresh_token&refresh_token=..."
        )

    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS, errors="strict"
        )
    except UnicodeDecodeError:
        raise invalid_request("the request body is not UTF-8; encode parameter values as UTF-8") from None
    except ValueError as exc:
        if "Max number of fields" in str(exc):
            raise invalid_request(f"the request has more than {MAX_FIELDS} parameters") from None
        raise invalid_request(
            "the request body is not valid form encoding; send name=value pairs joined by '&'"
        ) from None

    fields: dict[str, str] = {}
    for name, value in pairs:
        if not name:
            raise invalid_request("the request body has a parameter without a name; send name=value pairs")
        if name in fields:
            raise invalid_request(
                f"the parameter {name[:40]!r} is sent more than once; each parameter may appear only once "
                "(RFC 6749 section 3.1)"
            )
        if len(value) > MAX_FIELD_LENGTH or not value.isprintable():
            raise invalid_request(
                f"the parameter {name[:40]!r} is longer than {MAX_FIELD_LENGTH} characters or contains "
                "control characters"
            )
        fields[name] = value
    return Form(fields)


@dataclass(frozen=True)
class ClientIdentity:
    """The client a request came from, and how it proved it (``client_secret_basic`` or ``none``)."""

    client: RegisteredClient
    method: str

    @property
    def client_id(self) -> str:
        """The client's id."""
        return self.client.client_id


def _basic_credentials(header: str) -> tuple[str, str]:
    """Return (client_id, secret) from an HTTP Basic ``Authorization`` value; raise ``invalid_client``."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client(
            f"the Authorization scheme is {scheme[:20]!r}; a client authenticates to this endpoint with "
            "HTTP Basic (client_secret_basic), or sends only client_id if it is a public client"
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client("the Basic credentials are not base64 of UTF-8 'client_id:client_secret'") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client("the Basic credentials have no ':' between client_id and client_secret")
    # RFC 6749 §2.3.1: both parts are form-encoded before they are joined and base64-encoded.
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(
    form: Form, authorization: str | None, clients: Mapping[str, RegisteredClient]
) -> ClientIdentity:
    """Identify and authenticate the client of a token, revocation or introspection request.

    A confidential client sends HTTP Basic credentials (RFC 6749
    §2.3.1); a public client sends ``client_id`` in the body (§3.2.1).
    ``client_secret`` in the body (``client_secret_post``) is not offered by
    this server. Every failure raises a 401 ``invalid_client`` with a
    ``WWW-Authenticate: Basic`` challenge, and the message is the same for
    an unknown client and a wrong secret.
    """
    if "client_secret" in form:
        raise invalid_client(
            "client_secret was sent in the request body; this server accepts a client secret only "
            "by HTTP Basic (client_secret_basic)"
        )

    if authorization is not None and authorization.strip():
        client_id, secret = _basic_credentials(authorization)
        body_client_id = form.get("client_id")
        if body_client_id is not None and body_client_id != client_id:
            raise invalid_client(
                f"client_id {body_client_id[:40]!r} in the body differs from the client in the Basic credentials"
            )
        client = clients.get(client_id)
        if client is None or not client.check_secret(secret):
            raise invalid_client(
                f"client authentication failed for client_id {client_id[:40]!r}: unknown client or wrong secret",
                client_id=client_id[:40],
            )
        return ClientIdentity(client, "client_secret_basic")

    client_id = form.get("client_id")
    if client_id is None:
        raise invalid_client(
            "the request names no client: a public client sends client_id in the body, "
            "a confidential client authenticates with HTTP Basic"
        )
    client = clients.get(client_id)
    if client is None:
        raise invalid_client(f"client_id {client_id[:40]!r} is not registered here", client_id=client_id[:40])
    if client.is_confidential:
        raise invalid_client(
            f"client {client_id!r} is a confidential client, so it must authenticate with HTTP Basic "
            "(client_id and client_secret)",
            client_id=client_id,
        )
    return ClientIdentity(client, "none")
