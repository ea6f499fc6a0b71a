"""A small OAuth client built on requests, for driving the lab server from a notebook.

:class:`LabClient` logs in at the token endpoint, keeps the token pair,
calls the protected API with ``Authorization: Bearer``, and refreshes the
access token either after the API responds ``401`` with
``WWW-Authenticate: Bearer error="invalid_token"`` (``reactive``) or before
the token expires (``proactive``, which also handles the 401). Every
request and response goes into its :class:`~tokenlab.http.Transcript`.

Each method returns a :class:`CallResult`, which shows the exchanges the
call caused when it is the last expression of a notebook cell.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping
from urllib.parse import quote_plus, urlsplit

import requests

from ..clock import Clock, SystemClock
from ..errors import ConfigurationError
from ..fingerprints import fingerprint
from .transcript import Exchange, Transcript
from .wire import ACTOR_HEADER, LOOPBACK_HOSTS

STRATEGIES = ("reactive", "proactive")
DEFAULT_TIMEOUT_SECONDS = 10.0

# One auth-param of a challenge: name="quoted value" or name=token (RFC 9110 §11.2).
_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def bearer_error(www_authenticate: str | None) -> str | None:
    """Return the ``error`` of a ``Bearer`` challenge (RFC 6750 §3), or ``None`` when it has none.

    ``Bearer realm="api"`` alone, the response to a request without a token,
    gives ``None``.
    """
    if not www_authenticate:
        return None
    scheme, _, params = www_authenticate.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    for match in _CHALLENGE_PARAM.finditer(params):
        if match.group(1).lower() == "error":
            return match.group(2) if match.group(2) is not None else match.group(3)
    return None


def refresh_needed(status: int, www_authenticate: str | None) -> bool:
    """Return True when an API response means "refresh the access token and try again".

    Only ``401`` with ``error="invalid_token"`` means that (RFC 6750 §3.1):
    the token expired or was revoked, and a new one may pass. ``403
    insufficient_scope`` will not pass with a refreshed token of the same
    scope, ``400 invalid_request`` is a malformed request, and a ``401``
    without an error code means no token was sent at all.
    """
    return status == 401 and bearer_error(www_authenticate) == "invalid_token"


def _check_loopback_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or parts.path not in ("", "/"):
        raise ConfigurationError(
            f"a LabClient talks only to a lab server on loopback, such as http://127.0.0.1:8000, not {base_url!r}"
        )
    return base_url.rstrip("/")


@dataclass(frozen=True, repr=False)
class LabTokens:
    """The tokens a lab client keeps, and when the access token expires by the client's own clock.

    ``expires_at`` is ``obtained_at`` plus the response's ``expires_in``:
    the client counts from when the response arrived and never reads the
    token's ``exp``, so its own clock's offset does not matter.
    """

    access_token: str
    refresh_token: str | None
    scope: str
    expires_in: int
    obtained_at: datetime

    @property
    def expires_at(self) -> datetime:
        """When the access token expires, by the client's clock."""
        return self.obtained_at + timedelta(seconds=self.expires_in)

    def __repr__(self) -> str:
        refresh = fingerprint(self.refresh_token) if self.refresh_token else "none"
        return (f"LabTokens(access={fingerprint(self.access_token)}, refresh={refresh}, "
                f"scope={self.scope!r}, expires_in={self.expires_in})")


class CallResult:
    """The exchanges that one client call caused, and its final response.

    As the last expression of a notebook cell it shows those exchanges.
    ``body`` is the final response's JSON with secrets replaced by labels,
    or ``None``.
    """

    def __init__(self, exchanges: list[Exchange], response: requests.Response) -> None:
        self.exchanges = exchanges
        self.response = response

    @property
    def status(self) -> int:
        """The final response's status code."""
        return self.response.status_code

    @property
    def ok(self) -> bool:
        """True when the final response is a 2xx."""
        return 200 <= self.status < 300

    @property
    def body(self) -> Any:
        """The final response's JSON body with secrets replaced, or ``None`` when it has none."""
        return self.exchanges[-1].response_json if self.exchanges else None

    @property
    def error(self) -> str | None:
        """The ``error`` of the final response's JSON body, if any."""
        body = self.body
        return body.get("error") if isinstance(body, dict) else None

    def text(self) -> str:
        """Return the exchanges in full."""
        return "\n\n".join(exchange.text() for exchange in self.exchanges)

    def summary(self) -> str:
        """Return one line per exchange."""
        return "\n".join(exchange.heading() for exchange in self.exchanges)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def __repr__(self) -> str:
        return f"CallResult({len(self.exchanges)} exchanges, final status {self.status})"


class LabClient:
    """An OAuth client for the lab server, built on a ``requests.Session``.

    ``client_secret`` makes it a confidential client, which authenticates
    with HTTP Basic; without it, it is a public client that sends
    ``client_id`` in the body. ``strategy`` is ``reactive`` (refresh after a
    401 ``invalid_token``, then retry once) or ``proactive`` (also refresh
    before a call once ``proactive_fraction`` of the access token's
    lifetime has passed on ``clock``). ``name`` is sent in the
    ``Tokenlab-Actor`` header and names this client in the authority's
    events and in the transcript.

    The session ignores proxy settings and ``.netrc`` (``trust_env`` off),
    so lab traffic stays on loopback and no stored credential is sent.
    A refresh that fails with ``invalid_grant`` ends the session: the
    client forgets its tokens.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        name: str = "user",
        strategy: str = "reactive",
        proactive_fraction: float = 0.75,
        clock: Clock | None = None,
        transcript: Transcript | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = _check_loopback_url(base_url)
        if strategy not in STRATEGIES:
            raise ConfigurationError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
        if isinstance(proactive_fraction, bool) or not isinstance(proactive_fraction, (int, float)) or not (
            0 < proactive_fraction <= 1
        ):
            raise ConfigurationError(f"proactive_fraction must be above 0 and at most 1, not {proactive_fraction!r}")
        if not isinstance(name, str) or not name.strip() or not name.isprintable() or len(name) > 40:
            raise ConfigurationError(f"name must be 1 to 40 printable characters, not {name!r}")
        self.client_id = client_id
        self.client_secret = client_secret
        self.name = name
        self.strategy = strategy
        self.proactive_fraction = float(proactive_fraction)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.transcript = transcript if transcript is not None else Transcript(clock=clock)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.tokens: LabTokens | None = None

    # -- sending -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, str] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = False,
        note: str | None = None,
    ) -> CallResult:
        """Send one request exactly as given, record it, and return the result; no token logic.

        ``data`` is a dict of form fields (sent form-encoded) or a raw body.
        ``authenticate=True`` adds this client's credentials as the token
        endpoint expects them: HTTP Basic for a confidential client, or
        ``client_id`` in the form for a public one.
        """
        response, exchange = self._send(method, path, data=data, headers=headers, authenticate=authenticate, note=note)
        return CallResult([exchange], response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, str] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = False,
        note: str | None = None,
    ) -> tuple[requests.Response, Exchange]:
        if not path.startswith("/"):
            raise ConfigurationError(f"path must start with '/', such as '/api/profile', not {path!r}")
        sent_headers = {ACTOR_HEADER: self.name}
        sent_headers.update(headers or {})
        if authenticate:
            data = self._with_client_credentials(data, sent_headers)
        try:
            response = self.session.request(
                method, self.base_url + path, data=data, headers=sent_headers,
                timeout=self.timeout, allow_redirects=False,
            )
        except requests.ConnectionError:
            raise ConfigurationError(
                f"cannot reach the lab server at {self.base_url}; is it running? Start it with LabServer(...).start()"
            ) from None
        return response, self.transcript.record(response, actor=self.name, note=note)

    def _with_client_credentials(self, data: Any, headers: dict[str, str]) -> Any:
        if self.client_secret is not None:
            # RFC 6749 §2.3.1: form-encode client_id and secret, join them with ':', then base64.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
            return data
        if data is None:
            return {"client_id": self.client_id}
        if isinstance(data, Mapping):
            return {**data, "client_id": self.client_id}
        raise ConfigurationError("authenticate=True needs data as a dict of form fields")

    # -- the token endpoint --------------------------------------------------------

    def login(self, username: str, password: str, scope: str | None = None) -> CallResult:
        """Log in with the demo login grant (``grant_type=password``) and keep the token pair."""
        form = {"grant_type": "password", "username": username, "password": password}
        if scope is not None:
            form["scope"] = scope
        response, exchange = self._send("POST", "/token", data=form, authenticate=True, note="log in")
        self._keep(response)
        return CallResult([exchange], response)

    def refresh(self, scope: str | None = None) -> CallResult:
        """Exchange the refresh token now (``grant_type=refresh_token``, RFC 6749 §6) and keep the new pair."""
        response, exchange = self._refresh(scope=scope, note="refresh")
        return CallResult([exchange], response)

    def _refresh(self, *, scope: str | None = None, note: str) -> tuple[requests.Response, Exchange]:
        if self.tokens is None or self.tokens.refresh_token is None:
            raise ConfigurationError(f"client {self.name!r} has no refresh token; call login() first")
        form = {"grant_type": "refresh_token", "refresh_token": self.tokens.refresh_token}
        if scope is not None:
            form["scope"] = scope
        response, exchange = self._send("POST", "/token", data=form, authenticate=True, note=note)
        if response.status_code == 400 and _json(response).get("error") == "invalid_grant":
            self.tokens = None
        self._keep(response)
        return response, exchange

    def _keep(self, response: requests.Response) -> None:
        if response.status_code != 200:
            return
        body = _json(response)
        if not isinstance(body.get("access_token"), str):
            return
        previous = self.tokens
        self.tokens = LabTokens(
            access_token=body["access_token"],
            # A server that does not rotate may leave refresh_token out (RFC 6749 §6); keep the old one then.
            refresh_token=body.get("refresh_token") or (previous.refresh_token if previous else None),
            scope=body.get("scope", previous.scope if previous else ""),
            expires_in=int(body.get("expires_in", 0)),
            obtained_at=self.clock.now(),
        )

    def revoke(self, token_type: str = "refresh_token") -> CallResult:
        """Revoke this client's ``refresh_token`` (which ends the whole family) or its ``access_token`` (RFC 7009)."""
        if token_type not in ("refresh_token", "access_token"):
            raise ConfigurationError(f"token_type must be 'refresh_token' or 'access_token', not {token_type!r}")
        token = getattr(self.tokens, token_type, None) if self.tokens is not None else None
        if token is None:
            raise ConfigurationError(f"client {self.name!r} has no {token_type}; call login() first")
        form = {"token": token, "token_type_hint": token_type}
        note = f"revoke the {token_type.replace('_', ' ')}"
        return self.request("POST", "/revoke", data=form, authenticate=True, note=note)

    def logout(self) -> CallResult:
        """Log out: revoke the refresh token, which ends its family, and forget the tokens."""
        result = self.revoke("refresh_token")
        self.tokens = None
        return result

    def introspect(self, token: str) -> CallResult:
        """Ask the introspection endpoint about ``token`` (RFC 7662); only a confidential client may."""
        return self.request("POST", "/introspect", data={"token": token}, authenticate=True, note="introspect")

    # -- the protected API ---------------------------------------------------------

    def refresh_due(self) -> bool:
        """Return True when a proactive client would refresh before its next call."""
        tokens = self.tokens
        if tokens is None or tokens.expires_in <= 0:
            return False
        lifetime = tokens.expires_at - tokens.obtained_at
        return self.clock.now() >= tokens.obtained_at + lifetime * self.proactive_fraction

    def get(self, path: str, *, auto_refresh: bool = True) -> CallResult:
        """Call the API at ``path`` with the access token, refreshing as the strategy requires.

        At most one refresh and one retry happen per call. With
        ``auto_refresh=False`` the token is sent as it is and a 401 is
        returned as it came.
        """
        exchanges: list[Exchange] = []
        can_refresh = auto_refresh and self.tokens is not None and self.tokens.refresh_token is not None
        if can_refresh and self.strategy == "proactive" and self.refresh_due():
            exchanges.append(self._refresh(note="refresh before expiry")[1])
            can_refresh = False

        response, exchange = self._call(path, note=None)
        exchanges.append(exchange)
        if can_refresh and refresh_needed(response.status_code, response.headers.get("WWW-Authenticate")):
            refreshed, exchange = self._refresh(note="refresh after a 401")
            exchanges.append(exchange)
            if refreshed.status_code == 200:
                response, exchange = self._call(path, note="retry with the new access token")
                exchanges.append(exchange)
        return CallResult(exchanges, response)

    def _call(self, path: str, *, note: str | None) -> tuple[requests.Response, Exchange]:
        headers = {"Authorization": f"Bearer {self.tokens.access_token}"} if self.tokens is not None else {}
        return self._send("GET", path, headers=headers, note=note)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __repr__(self) -> str:
        kind = "confidential" if self.client_secret is not None else "public"
        return f"LabClient({self.name!r}, client_id={self.client_id!r}, {kind}, strategy={self.strategy!r})"


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
