"""A client application and a protected API, modelled on top of a :class:`~tokenlab.TokenAuthority`.

:class:`ProtectedApi` is a resource server endpoint: it reads the
``Authorization`` header (RFC 6750 §2.1), verifies the bearer token with the
authority and returns an HTTP-like response: a status, a JSON body and, on
errors, a ``WWW-Authenticate`` header (RFC 6750 §3).

:class:`Client` is an application that logs a user in, keeps the token pair,
calls the API and refreshes the access token with one of three strategies:

``reactive``
    Call with the access token; on ``401 invalid_token``, refresh once and
    retry once.
``proactive``
    Refresh before the call once a set fraction of the access token's
    lifetime has passed, and otherwise behave like ``reactive``.
``single-flight``
    Like ``reactive``, but clients that share one :class:`TokenStorage`
    take turns to refresh. A caller first checks whether another caller has
    already exchanged the refresh token it has and, if so, uses that result
    instead of presenting the token a second time. N callers with one expired
    token thus cause exactly one refresh, even from N threads at once.

Each client keeps its own copy of the tokens in memory, loaded from its
storage when it is created, the way a browser tab reads ``localStorage`` when
it opens. Tabs of one browser are modelled by several clients that share one
:class:`TokenStorage`; each writes its new pair back there, but only
``single-flight`` clients look at it again before refreshing.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Mapping

from .errors import (
    ConfigurationError,
    InsufficientScope,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    TokenlabError,
)
from .fingerprints import fingerprint

if TYPE_CHECKING:
    from .authority import TokenAuthority, TokenPair
    from .clock import Clock

Strategy = Literal["reactive", "proactive", "single-flight"]
STRATEGIES: tuple[str, ...] = ("reactive", "proactive", "single-flight")

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_CREDENTIALS = re.compile(r"(\S+)(\s*)(.*)", re.DOTALL)

_REASON_PHRASES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}


# -- the protected API ---------------------------------------------------------


@dataclass(frozen=True)
class ApiResponse:
    """An HTTP response from a :class:`ProtectedApi`.

    ``www_authenticate`` is the ``WWW-Authenticate`` header value, set on
    every response other than 200. ``exception`` is the error the verifier
    raised, kept for inspection; it takes no part in comparisons.
    """

    status: int
    body: Mapping[str, Any]
    www_authenticate: str | None = None
    exception: TokenlabError | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True for a 200 response."""
        return self.status == 200

    @property
    def error(self) -> str | None:
        """The RFC 6750 error code in the body, or ``None`` (also for a request without credentials)."""
        return self.body.get("error")

    @property
    def check(self) -> str | None:
        """The verification check that failed, such as ``exp`` or ``revocation``, when one did."""
        return self.exception.check if self.exception is not None else None

    def describe(self) -> str:
        """Return the status line, with the error code and failed check when there are any."""
        text = f"{self.status} {_REASON_PHRASES.get(self.status, '')}".rstrip()
        if self.error:
            text += f" {self.error}"
            if self.check:
                text += f" ({self.check})"
        elif self.status == 401:
            text += " (no bearer token)"
        return text


class ProtectedApi:
    """A resource server endpoint that requires a bearer access token.

    :meth:`get` parses the ``Authorization`` header and verifies the token
    with ``authority`` (which may be a :meth:`~tokenlab.TokenAuthority.with_clock`
    view, for a server whose clock is skewed). ``stateless=True`` verifies
    signature and expiry only, like a server that never looks up revocation.
    ``required_scope`` is the scope each request needs.
    """

    def __init__(
        self,
        authority: TokenAuthority,
        *,
        required_scope: str | None = None,
        stateless: bool = False,
        name: str = "api",
    ) -> None:
        if not callable(getattr(authority, "verify", None)):
            raise ConfigurationError(f"authority must be a TokenAuthority, not {type(authority).__name__}")
        if not isinstance(name, str) or not name.strip() or '"' in name or "\\" in name:
            raise ConfigurationError(f"name must be a non-empty string without quotes or backslashes, not {name!r}")
        self.authority = authority
        self.required_scope = required_scope
        self.stateless = bool(stateless)
        self.name = name

    def get(self, authorization: str | None, *, actor: str | None = None) -> ApiResponse:
        """Handle one request whose ``Authorization`` header is ``authorization`` (``None`` if absent).

        Following RFC 6750 §3.1: a request without credentials, or with
        another scheme such as ``Basic``, gets 401 with a bare
        ``WWW-Authenticate: Bearer realm=...`` and no error code. A
        ``Bearer`` header without a token, with extra parts, or with
        characters outside the token syntax gets 400 ``invalid_request``. A
        token the authority rejects gets 401 ``invalid_token``, and a token
        without the required scope gets 403 ``insufficient_scope``. Only
        requests that carry a token reach the authority and record an
        event; ``actor`` names the caller in that event.
        """
        if authorization is None or not authorization.strip():
            return self._no_credentials("the request has no Authorization header")

        # The header is: the scheme, one or more spaces, the token (RFC 6750 §2.1).
        match = _CREDENTIALS.fullmatch(authorization.strip())
        assert match is not None
        scheme, gap, token = match.groups()
        # Authentication schemes are case-insensitive (RFC 7235 §2.1).
        if scheme.lower() != "bearer":
            return self._no_credentials(f"the Authorization scheme is {scheme[:20]!r}, not Bearer")

        if not token:
            return self._error(InvalidRequest(
                "the Authorization header says Bearer but carries no token; send 'Bearer <access token>'",
                check="header",
            ))
        if gap.strip(" ") or not _B64TOKEN.fullmatch(token):
            return self._error(InvalidRequest(
                "the bearer token has spaces or characters a token cannot contain; "
                "send the access token exactly as it was issued, after one space",
                check="header",
            ))

        try:
            claims = self.authority.verify(
                token, required_scope=self.required_scope, stateless=self.stateless, actor=actor
            )
        except (InvalidToken, InsufficientScope, InvalidRequest) as exc:
            return self._error(exc)

        body = {"api": self.name, "sub": claims["sub"], "client_id": claims["client_id"], "scope": claims["scope"]}
        return ApiResponse(200, body)

    def _no_credentials(self, message: str) -> ApiResponse:
        return ApiResponse(401, {"message": message}, f'Bearer realm="{self.name}"')

    def _error(self, exc: TokenlabError) -> ApiResponse:
        body = {"error": exc.error, "error_description": exc.message}
        status = exc.status_code or 400
        return ApiResponse(status, body, exc.www_authenticate, exc)

    def __repr__(self) -> str:
        mode = "stateless" if self.stateless else "stateful"
        return f"ProtectedApi({self.name!r}, {mode}, required_scope={self.required_scope!r})"


def bearer(access_token: str | None) -> str | None:
    """Return the ``Authorization`` header value for ``access_token``, or ``None`` when there is none."""
    return f"Bearer {access_token}" if access_token else None


# -- token storage -------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class SavedTokens:
    """The tokens a client keeps, with the labels the event log uses and when they arrived.

    ``access_token`` is ``None`` when only a refresh token is held, as for
    an attacker who copied just that. ``expires_at`` is when the access
    token expires, computed from ``expires_in`` at ``obtained_at``.
    ``repr()`` shows labels and fingerprints, never the tokens.
    """

    access_token: str | None
    refresh_token: str | None
    access_label: str | None
    refresh_label: str | None
    scope: str
    family_id: str
    obtained_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_pair(cls, pair: TokenPair, obtained_at: datetime) -> SavedTokens:
        """Keep ``pair`` as it arrived at ``obtained_at``."""
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            access_label=pair.access_label,
            refresh_label=pair.refresh_label,
            scope=pair.scope,
            family_id=pair.family_id,
            obtained_at=obtained_at,
            expires_at=obtained_at + timedelta(seconds=pair.expires_in),
        )

    def only_refresh_token(self) -> SavedTokens:
        """Return a copy with the refresh token only, as an attacker who copied just that has it."""
        return replace(self, access_token=None, access_label=None, expires_at=None)

    def only_access_token(self) -> SavedTokens:
        """Return a copy with the access token only."""
        return replace(self, refresh_token=None, refresh_label=None)

    def __repr__(self) -> str:
        def show(label: str | None, token: str | None) -> str:
            return f"{label} {fingerprint(token)}" if token else "none"

        return (
            f"SavedTokens(access={show(self.access_label, self.access_token)}, "
            f"refresh={show(self.refresh_label, self.refresh_token)}, family={self.family_id})"
        )


class TokenStorage:
    """The place clients persist their tokens: one browser's ``localStorage``, shared by its tabs.

    ``single-flight`` clients also coordinate through it. Its
    :attr:`refresh_lock` lets one refresh run at a time, and it keeps the
    errors of failed refreshes. A waiting caller thus gets the same error
    instead of presenting the same dead refresh token again.
    """

    def __init__(self, tokens: SavedTokens | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self._failures: dict[str, TokenlabError] = {}
        self.refresh_lock = threading.Lock()
        """Held by a single-flight client for the whole of its refresh."""

    def load(self) -> SavedTokens | None:
        """Return the saved tokens, or ``None`` when nothing is saved."""
        with self._lock:
            return self._tokens

    def save(self, tokens: SavedTokens) -> None:
        """Replace the saved tokens."""
        with self._lock:
            self._tokens = tokens

    def clear(self, only: SavedTokens | None = None) -> None:
        """Remove the saved tokens; with ``only``, remove them only if they are still ``only``."""
        with self._lock:
            if only is None or self._tokens == only:
                self._tokens = None

    def record_failure(self, refresh_token: str, error: TokenlabError) -> None:
        """Remember that exchanging ``refresh_token`` failed with ``error``."""
        with self._lock:
            self._failures[refresh_token] = error

    def failure_for(self, refresh_token: str) -> TokenlabError | None:
        """Return the error of an earlier failed exchange of ``refresh_token``, if any."""
        with self._lock:
            return self._failures.get(refresh_token)

    def __repr__(self) -> str:
        return f"TokenStorage({self.load()!r})"


# -- the client ----------------------------------------------------------------


@dataclass(frozen=True)
class ClientCall:
    """The record of one :meth:`Client.call_api`, from the client's side.

    ``access_label`` is the access token sent first and ``status`` the
    final response's status; ``error`` is that response's error code.
    ``refreshed`` is True when the call exchanged a refresh token, and
    ``refresh_label`` names the refresh token it presented. ``shared_refresh``
    is True when a single-flight client took the pair that another caller had
    just refreshed instead. ``refresh_error`` is the token endpoint's error
    code when the refresh failed. ``retried`` is True when the request was
    sent a second time, with ``retry_access_label``.
    """

    time: datetime
    client: str
    api: str
    access_label: str | None
    status: int
    error: str | None
    refreshed: bool = False
    refresh_label: str | None = None
    refresh_reason: Literal["rejected", "proactive", "no_access_token"] | None = None
    shared_refresh: bool = False
    refresh_error: str | None = None
    retried: bool = False
    retry_access_label: str | None = None
    response: ApiResponse | None = field(default=None, compare=False, repr=False)
    first_response: ApiResponse | None = field(default=None, compare=False, repr=False)
    """The response to the first attempt of a retried call; ``None`` when the request was sent once."""
    exception: TokenlabError | None = field(default=None, compare=False, repr=False)
    """The error that ended the call: the refresh's when it failed, else the API's; ``None`` on success."""

    @property
    def ok(self) -> bool:
        """True when the final response was 200."""
        return self.status == 200

    def describe(self) -> str:
        """Return a one-line account of the call, as the scenarios show it."""
        parts: list[str] = []
        if self.refresh_reason in ("proactive", "no_access_token"):
            parts.append(self._refresh_text())
        first = self.first_response or self.response
        first_text = first.describe() if first is not None else str(self.status)
        parts.append(f"sent {self.access_label or 'no token'}: {first_text}")
        if self.refresh_reason == "rejected":
            parts.append(self._refresh_text())
        if self.retried and self.response is not None:
            parts.append(f"retried with {self.retry_access_label}: {self.response.describe()}")
        return "; ".join(parts)

    def _refresh_text(self) -> str:
        presented = self.refresh_label or "no refresh token"
        if self.refresh_error:
            check = self.exception.check if self.exception is not None else None
            return f"refresh with {presented} failed: {self.refresh_error}" + (f" ({check})" if check else "")
        if self.shared_refresh:
            return f"took the pair another caller had just refreshed from {presented}"
        return f"refreshed with {presented}"


@dataclass
class _RefreshResult:
    tokens: SavedTokens | None = None
    error: TokenlabError | None = None
    shared: bool = False


class Client:
    """A client application holding one user's tokens and calling a :class:`ProtectedApi`.

    ``strategy`` picks when it refreshes (see the module docstring);
    ``proactive_fraction`` is the share of the access token's lifetime after
    which a ``proactive`` client refreshes before calling. ``storage`` is
    shared between clients to model tabs of one browser. ``name`` is the
    actor recorded in the authority's events. Time comes from ``clock``, by
    default the authority's clock.

    A refresh that fails with ``invalid_grant`` means the session is over:
    the client forgets its tokens, and the user has to log in again.
    """

    def __init__(
        self,
        authority: TokenAuthority,
        api: ProtectedApi,
        *,
        client_id: str,
        strategy: Strategy = "reactive",
        proactive_fraction: float = 0.75,
        name: str = "client",
        storage: TokenStorage | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(api, ProtectedApi):
            raise ConfigurationError(f"api must be a ProtectedApi, not {type(api).__name__}")
        if isinstance(proactive_fraction, bool) or not isinstance(proactive_fraction, (int, float)) or not (
            0 < proactive_fraction <= 1
        ):
            raise ConfigurationError(
                f"proactive_fraction must be a number above 0 and at most 1, not {proactive_fraction!r}; "
                "0.75 refreshes once three quarters of the access token's lifetime have passed"
            )
        if storage is not None and not isinstance(storage, TokenStorage):
            raise ConfigurationError(f"storage must be a TokenStorage, not {type(storage).__name__}")
        self.authority = authority
        self.api = api
        self.client_id = client_id
        self.strategy = strategy
        self.proactive_fraction = float(proactive_fraction)
        self.name = name
        self.storage = storage if storage is not None else TokenStorage()
        self.clock: Clock = clock if clock is not None else authority.clock
        self.calls: list[ClientCall] = []
        self._lock = threading.Lock()
        self._tokens = self.storage.load()

    @property
    def strategy(self) -> str:
        """When the client refreshes: ``reactive``, ``proactive`` or ``single-flight``."""
        return self._strategy

    @strategy.setter
    def strategy(self, value: str) -> None:
        if value not in STRATEGIES:
            raise ConfigurationError(f"strategy must be one of {', '.join(STRATEGIES)}, not {value!r}")
        self._strategy = value

    @property
    def tokens(self) -> SavedTokens | None:
        """The tokens in this client's memory, or ``None`` after a logout or a failed refresh."""
        with self._lock:
            return self._tokens

    def load(self) -> SavedTokens | None:
        """Read the tokens from storage into memory, as a tab does when it is reloaded; return them."""
        loaded = self.storage.load()
        with self._lock:
            self._tokens = loaded
        return loaded

    def hold(self, tokens: SavedTokens | None) -> None:
        """Keep ``tokens`` in memory and in storage, as if they had arrived from the token endpoint."""
        with self._lock:
            self._tokens = tokens
        if tokens is None:
            self.storage.clear()
        else:
            self.storage.save(tokens)

    def forget(self) -> None:
        """Drop the tokens from memory, and from storage if storage still contains the same ones."""
        with self._lock:
            dropped, self._tokens = self._tokens, None
        if dropped is not None:
            self.storage.clear(only=dropped)

    # -- the token endpoint --------------------------------------------------

    def login(self, subject: str, scope: str = "read") -> TokenPair:
        """Log ``subject`` in: start a new grant and keep its token pair."""
        pair = self.authority.issue(subject, client_id=self.client_id, scope=scope, actor=self.name)
        self.hold(SavedTokens.from_pair(pair, self.clock.now()))
        return pair

    def refresh(self) -> SavedTokens:
        """Exchange the refresh token now, whatever the strategy; return the new tokens.

        Raises the token endpoint's error (``invalid_grant`` and the like)
        when the exchange fails, and :class:`~tokenlab.ConfigurationError`
        when the client has no refresh token.
        """
        held = self.tokens
        if held is None or held.refresh_token is None:
            raise ConfigurationError(f"client {self.name!r} has no refresh token; call login() first")
        result = self._refresh(held)
        if result.error is not None:
            raise result.error
        assert result.tokens is not None
        return result.tokens

    def logout(self) -> bool:
        """Log out: revoke the refresh token (which ends the whole family) and forget the tokens.

        Returns True if the authority revoked anything. A client that holds
        only an access token revokes that one. Without tokens it returns
        False and records nothing.
        """
        held = self.tokens
        if held is None:
            return False
        if held.refresh_token is not None:
            changed = self.authority.revoke(
                held.refresh_token, client_id=self.client_id, token_type_hint="refresh_token", actor=self.name
            )
        else:
            assert held.access_token is not None
            changed = self.authority.revoke(
                held.access_token, client_id=self.client_id, token_type_hint="access_token", actor=self.name
            )
        self.forget()
        return changed

    def _refresh(self, observed: SavedTokens) -> _RefreshResult:
        """Exchange ``observed``'s refresh token; single-flight clients first look for a shared result."""
        if self.strategy != "single-flight":
            return self._exchange(observed)

        assert observed.refresh_token is not None
        with self.storage.refresh_lock:
            current = self.storage.load()
            if current is not None and current.refresh_token not in (None, observed.refresh_token):
                # Another caller exchanged this refresh token while we waited: use its pair.
                with self._lock:
                    self._tokens = current
                return _RefreshResult(tokens=current, shared=True)
            failure = self.storage.failure_for(observed.refresh_token)
            if failure is not None:
                self.forget()
                return _RefreshResult(error=failure, shared=True)
            result = self._exchange(observed)
            if result.error is not None:
                self.storage.record_failure(observed.refresh_token, result.error)
            return result

    def _exchange(self, observed: SavedTokens) -> _RefreshResult:
        assert observed.refresh_token is not None
        try:
            pair = self.authority.refresh(observed.refresh_token, client_id=self.client_id, actor=self.name)
        except InvalidGrant as exc:
            self.forget()
            return _RefreshResult(error=exc)
        except TokenlabError as exc:
            return _RefreshResult(error=exc)
        tokens = SavedTokens.from_pair(pair, self.clock.now())
        self.hold(tokens)
        return _RefreshResult(tokens=tokens)

    # -- calling the API -----------------------------------------------------

    def refresh_due(self, tokens: SavedTokens | None = None) -> bool:
        """Return True when a ``proactive`` client would refresh ``tokens`` (by default its own) before calling."""
        tokens = tokens if tokens is not None else self.tokens
        if tokens is None or tokens.expires_at is None:
            return False
        lifetime = tokens.expires_at - tokens.obtained_at
        return self.clock.now() >= tokens.obtained_at + lifetime * self.proactive_fraction

    def call_api(self, *, api: ProtectedApi | None = None, auto_refresh: bool = True) -> ClientCall:
        """Call the API once with the client's access token, refreshing as the strategy requires.

        At most one refresh and one retry happen per call: a second 401 is
        returned, not retried. ``auto_refresh=False`` sends the access token
        as it is and never refreshes. ``api`` replaces the client's API for
        this call. The call is appended to :attr:`calls` and returned.
        """
        api = api if api is not None else self.api
        started = self.clock.now()
        held = self.tokens
        facts: dict[str, Any] = {}
        refresh_error: TokenlabError | None = None

        can_refresh = auto_refresh and held is not None and held.refresh_token is not None
        if can_refresh and held is not None:
            reason = None
            if held.access_token is None:
                reason = "no_access_token"
            elif self.strategy == "proactive" and self.refresh_due(held):
                reason = "proactive"
            if reason is not None:
                held, refresh_error = self._refresh_for_call(held, reason, facts)
                can_refresh = False

        sent = held.access_token if held is not None else None
        response = api.get(bearer(sent), actor=self.name)
        facts["access_label"] = held.access_label if held is not None and sent else None

        if can_refresh and held is not None and response.status == 401 and response.error == "invalid_token":
            renewed, refresh_error = self._refresh_for_call(held, "rejected", facts)
            if renewed is not None and renewed.access_token is not None:
                facts.update(retried=True, retry_access_label=renewed.access_label, first_response=response)
                response = api.get(bearer(renewed.access_token), actor=self.name)

        exception = refresh_error or response.exception
        call = ClientCall(
            time=started, client=self.name, api=api.name, status=response.status, error=response.error,
            response=response, exception=None if response.ok else exception, **facts,
        )
        with self._lock:
            self.calls.append(call)
        return call

    def _refresh_for_call(
        self, held: SavedTokens, reason: str, facts: dict[str, Any]
    ) -> tuple[SavedTokens | None, TokenlabError | None]:
        """Refresh during a call and note what happened in ``facts``; return the tokens to send next and the error."""
        result = self._refresh(held)
        facts.update(refresh_label=held.refresh_label, refresh_reason=reason, shared_refresh=result.shared)
        if result.error is not None:
            facts["refresh_error"] = result.error.error
            # A proactive refresh that failed still leaves an access token that may be valid.
            return (held if reason == "proactive" else None), result.error
        facts["refreshed"] = not result.shared
        return result.tokens, None

    def __repr__(self) -> str:
        return f"Client({self.name!r}, strategy={self.strategy!r}, tokens={self.tokens!r})"
