"""The lab's HTTP server: a token endpoint, revocation, introspection, key discovery and a protected API.

:func:`create_app` builds a Flask application around one
:class:`~tokenlab.TokenAuthority`, so every request over HTTP records the
same events as a direct call, and timelines show HTTP traffic too.
:class:`LabServer` serves that application with Werkzeug's threaded server
on a free loopback port, in a background thread that a notebook cell starts
and stops.

The endpoints:

``POST /token``
    ``grant_type=password`` (the demo login, see below) and
    ``grant_type=refresh_token`` (RFC 6749 §6). JSON responses with
    ``Cache-Control: no-store`` and ``Pragma: no-cache`` (§5.1); errors as
    §5.2 JSON with status 400, or 401 and ``WWW-Authenticate: Basic`` for
    failed client authentication.
``POST /revoke``
    RFC 7009: 200 with an empty body, also for unknown tokens.
``POST /introspect``
    RFC 7662, for confidential clients (the API's own credentials).
``GET /.well-known/jwks.json`` and ``GET /.well-known/oauth-authorization-server``
    The public keys (RFC 7517) and the server metadata (RFC 8414).
``GET /api/profile`` and ``GET /api/notes``
    The protected API, needing scope ``profile`` and ``notes:read``: 401 and
    403 carry the RFC 6750 ``WWW-Authenticate: Bearer`` header.

Why the password grant: the login that starts a token family needs *some*
grant. The authorization code grant with PKCE is the right one for real
apps, but it needs a browser, a login page and redirects, which would bury
the token lifecycle this lab is about. The resource owner password grant
(RFC 6749 §4.3) fits in one request, and client libraries support it, so
Authlib can log in here unchanged. It is deprecated for real use (RFC 9700
§2.4: the client sees the user's password), so this server accepts it only
for the fixed demo users and only on loopback. A custom grant type such as
``urn:tokenlab:demo-login`` would mark the login as a demo more clearly, but
no client library could use it without extra code.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, TypeVar

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from ..authority import TokenAuthority
from ..client import ProtectedApi
from ..clock import SimulatedClock
from ..errors import ConfigurationError, InvalidRequest, StoreError, TokenlabError
from ..scope import parse_scope
from .forms import (
    ClientIdentity,
    Form,
    OAuthHttpError,
    authenticate_client,
    invalid_client,
    parse_form,
)
from .labclient import LabClient
from .registry import DEMO_CLIENT_SECRETS, DEMO_CLIENTS, DEMO_USERS, DemoUser, RegisteredClient
from .transcript import Transcript, authority_labeler
from .wire import ACTOR_HEADER, LOOPBACK_HOSTS

logger = logging.getLogger("tokenlab.http")

DEFAULT_MAX_BODY_BYTES = 8192
"""Largest request body accepted (MAX_CONTENT_LENGTH); a refresh request is under 200 bytes."""

MAX_ACTOR_LENGTH = 40

GRANT_TYPES = ("password", "refresh_token")
TOKEN_AUTH_METHODS = ("client_secret_basic", "none")
NO_STORE_PATHS = ("/token", "/revoke", "/introspect")
POLL_INTERVAL_SECONDS = 0.05
"""How often the serving loop checks for a stop request; it bounds how long stop() waits."""
HANDLER_TIMEOUT_SECONDS = 10
"""A connection that sends nothing for this long is closed, so a stalled client cannot hold stop() up."""

View = TypeVar("View", bound=Callable[..., Any])


# -- the Flask application ---------------------------------------------------------


def create_app(
    authority: TokenAuthority,
    *,
    users: Mapping[str, DemoUser] | None = None,
    clients: Mapping[str, RegisteredClient] | None = None,
    lock: threading.RLock | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Flask:
    """Build the Flask application serving ``authority`` over HTTP.

    ``users`` and ``clients`` default to the demo users and the demo client
    registry. ``lock`` serializes every request's work on the authority, so
    that a notebook can move the simulated clock under the same lock
    between requests (see :meth:`LabServer.advance`). The application can be
    tested without a socket through ``app.test_client()``.
    """
    if not isinstance(authority, TokenAuthority):
        raise ConfigurationError(f"authority must be a TokenAuthority, not {type(authority).__name__}")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1024:
        raise ConfigurationError(f"max_body_bytes must be a whole number of at least 1024, not {max_body_bytes!r}")
    users = dict(DEMO_USERS if users is None else users)
    clients = dict(DEMO_CLIENTS if clients is None else clients)
    lock = lock if lock is not None else threading.RLock()

    app = Flask("tokenlab.http")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["TOKENLAB_BASE_URL"] = None
    app.json.sort_keys = False  # type: ignore[attr-defined]
    apis = {
        "profile": ProtectedApi(authority, required_scope="profile", name="profile"),
        "notes": ProtectedApi(authority, required_scope="notes:read", name="notes"),
    }
    handlers = _Handlers(authority, users, clients, apis)

    def serialized(view: View) -> View:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return view(*args, **kwargs)

        return run  # type: ignore[return-value]

    app.add_url_rule("/token", "token", serialized(handlers.token), methods=["POST"])
    app.add_url_rule("/revoke", "revoke", serialized(handlers.revoke), methods=["POST"])
    app.add_url_rule("/introspect", "introspect", serialized(handlers.introspect), methods=["POST"])
    app.add_url_rule("/.well-known/jwks.json", "jwks", serialized(handlers.jwks), methods=["GET"])
    app.add_url_rule(
        "/.well-known/oauth-authorization-server", "metadata", serialized(handlers.metadata), methods=["GET"]
    )
    app.add_url_rule("/api/profile", "profile", serialized(handlers.profile), methods=["GET"])
    app.add_url_rule("/api/notes", "notes", serialized(handlers.notes), methods=["GET"])

    app.register_error_handler(OAuthHttpError, _oauth_error_response)
    app.register_error_handler(HTTPException, _http_error_response)
    app.register_error_handler(Exception, _unexpected_error_response)
    app.after_request(_add_cache_headers)
    return app


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = current_app.json.response(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _actor(default: str) -> str:
    """Return the actor named by the request's Tokenlab-Actor header, or ``default`` when it is absent or unusable."""
    value = request.headers.get(ACTOR_HEADER, "").strip()
    if value and len(value) <= MAX_ACTOR_LENGTH and value.isprintable():
        return value
    return default


def _log_error(status: int, error: str, client_id: str | None = None, token: str | None = None) -> None:
    logger.info(
        "%s %s -> %d %s (client %s, token %s)",
        request.method, request.path, status, error, client_id or "-", token or "-",
    )


def _oauth_error_response(exc: OAuthHttpError) -> Response:
    _log_error(exc.status, exc.error, exc.client_id, exc.token)
    headers = dict(exc.headers)
    if exc.www_authenticate:
        headers["WWW-Authenticate"] = exc.www_authenticate
    return _json(exc.body(), exc.status, headers)


def _http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 400
    headers: dict[str, str] = {}
    if isinstance(exc, RequestEntityTooLarge):
        limit = request.max_content_length
        error, description = "invalid_request", f"the request body is larger than the {limit} bytes this server accepts"
    elif status == 405:
        allowed = ", ".join(m for m in exc.valid_methods or () if m not in ("HEAD", "OPTIONS"))  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(exc.valid_methods or ())  # type: ignore[attr-defined]
        error, description = "invalid_request", f"{request.method} is not allowed on {request.path}; use {allowed}"
    elif status == 404:
        error, description = "not_found", f"there is no endpoint at {request.path[:80]}; see /.well-known/oauth-authorization-server"
    else:
        error, description = "invalid_request", f"the request is malformed ({exc.name})"
    _log_error(status, error)
    return _json(OAuthHttpError(error, description).body(), status, headers)


def _unexpected_error_response(exc: Exception) -> Response:
    logger.exception("%s %s failed unexpectedly", request.method, request.path)
    body = {"error": "server_error", "error_description": "the lab server failed on this request; see the tokenlab.http log"}
    return _json(body, 500)


def _add_cache_headers(response: Response) -> Response:
    # Token responses and user data must not be cached (RFC 6749 §5.1, RFC 7662 §2.2).
    if request.path in NO_STORE_PATHS or request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


class _Handlers:
    """The view functions, sharing the authority, the registries and the protected APIs."""

    def __init__(
        self,
        authority: TokenAuthority,
        users: Mapping[str, DemoUser],
        clients: Mapping[str, RegisteredClient],
        apis: Mapping[str, ProtectedApi],
    ) -> None:
        self.authority = authority
        self.users = users
        self.clients = clients
        self.apis = apis

    # -- reading requests --------------------------------------------------------

    def _form(self) -> Form:
        return parse_form(request.headers.get("Content-Type"), request.get_data(cache=True), request.query_string.decode("latin-1"))

    def _client(self, form: Form) -> ClientIdentity:
        return authenticate_client(form, request.headers.get("Authorization"), self.clients)

    def _engine(self, call: Callable[[], Any], client_id: str) -> Any:
        """Run one engine operation and turn its errors into error responses."""
        try:
            return call()
        except StoreError as exc:
            logger.error("token store failed on %s %s: %s", request.method, request.path, exc.message)
            raise OAuthHttpError("server_error", "the token store failed; see the tokenlab.http log",
                                 status=500, client_id=client_id) from None
        except ConfigurationError as exc:
            # A clock that went backwards or a broken policy is the server's fault, not the client's.
            logger.error("configuration error on %s %s: %s", request.method, request.path, exc.message)
            raise OAuthHttpError("server_error", "the lab server is misconfigured; see the tokenlab.http log",
                                 status=500, client_id=client_id) from None
        except TokenlabError as exc:
            raise OAuthHttpError(exc.error, exc.message, status=exc.status_code or 400,
                                 client_id=client_id, token=exc.token) from None

    # -- token endpoint ------------------------------------------------------------

    def token(self) -> Response:
        """Handle POST /token (RFC 6749 §4.3 and §6)."""
        form = self._form()
        identity = self._client(form)
        client = identity.client
        grant_type = form.require("grant_type", "; send grant_type=password to log in or grant_type=refresh_token")
        if grant_type not in GRANT_TYPES:
            # A long value may be a token pasted into the wrong field, so it is not echoed.
            echoed = repr(grant_type) if len(grant_type) <= 40 else f"of {len(grant_type)} characters"
            raise OAuthHttpError(
                "unsupported_grant_type",
                f"grant_type {echoed} is not supported here; this server supports {', '.join(GRANT_TYPES)}",
                client_id=client.client_id,
            )
        if grant_type not in client.grant_types:
            raise OAuthHttpError(
                "unauthorized_client",
                f"client {client.client_id!r} is not allowed to use the {grant_type} grant",
                client_id=client.client_id,
            )

        actor = _actor(client.client_id)
        if grant_type == "password":
            pair = self._password_grant(form, client, actor)
        else:
            refresh_token = form.require("refresh_token")
            scope = form.get("scope")
            pair = self._engine(
                lambda: self.authority.refresh(refresh_token, client_id=client.client_id, scope=scope, actor=actor),
                client.client_id,
            )
        return _json(pair.as_response())

    def _password_grant(self, form: Form, client: RegisteredClient, actor: str) -> Any:
        username = form.require("username")
        password = form.require("password")
        user = self.users.get(username)
        if user is None or not user.check_password(password):
            # One message for an unknown user and a wrong password, so usernames cannot be probed.
            raise OAuthHttpError("invalid_grant", "the username or password is wrong", client_id=client.client_id)

        requested = self._engine(lambda: parse_scope(form.get("scope") or client.default_scope), client.client_id)
        allowed = client.scope.split(" ")
        extra = [s for s in requested if s not in allowed]
        if extra:
            raise OAuthHttpError(
                "invalid_scope",
                f"client {client.client_id!r} may not ask for {' '.join(extra)!r}; it may ask for {client.scope!r}",
                client_id=client.client_id,
            )
        return self._engine(
            lambda: self.authority.issue(user.username, client_id=client.client_id, scope=requested, actor=actor),
            client.client_id,
        )

    # -- revocation and introspection ---------------------------------------------------

    def revoke(self) -> Response:
        """Handle POST /revoke (RFC 7009): 200 with an empty body whether or not the token was known."""
        form = self._form()
        identity = self._client(form)
        token = form.require("token")
        # RFC 7009 §2.1 makes token_type_hint optional; the engine tries the hinted kind first and ignores unknown hints.
        hint = form.get("token_type_hint")
        actor = _actor(identity.client_id)
        self._engine(
            lambda: self.authority.revoke(token, client_id=identity.client_id, token_type_hint=hint, actor=actor),
            identity.client_id,
        )
        return Response(status=200)

    def introspect(self) -> Response:
        """Handle POST /introspect (RFC 7662); only confidential clients may ask."""
        form = self._form()
        identity = self._client(form)
        if not identity.client.is_confidential:
            raise invalid_client(
                f"client {identity.client_id!r} is a public client; introspection is only for confidential "
                "clients such as an API, which authenticate with HTTP Basic",
                client_id=identity.client_id,
            )
        token = form.require("token")
        actor = _actor(identity.client_id)
        response = self._engine(lambda: self.authority.introspect(token, actor=actor), identity.client_id)
        return _json(response)

    # -- discovery ---------------------------------------------------------------------

    def jwks(self) -> Response:
        """Handle GET /.well-known/jwks.json: the public keys, for resource servers that verify tokens themselves."""
        return _json(self.authority.jwks())

    def metadata(self) -> Response:
        """Handle GET /.well-known/oauth-authorization-server (RFC 8414 §3).

        ``issuer`` is the policy's issuer, the ``iss`` in every token, while the
        endpoints are the loopback URLs the server really listens on.
        """
        # NOTE: RFC 8414 §3.3 expects the issuer to be the URL the metadata came from. A lab on a
        # random loopback port cannot be https://auth.tokenlab.example, and tokens must keep one
        # fixed iss so that notebook outputs repeat, so clients that enforce §3.3 reject this document.
        base = current_app.config["TOKENLAB_BASE_URL"] or request.url_root.rstrip("/")
        scopes = sorted({s for client in self.clients.values() for s in client.scope.split(" ")})
        return _json({
            "issuer": self.authority.policy.issuer,
            "token_endpoint": f"{base}/token",
            "revocation_endpoint": f"{base}/revoke",
            "introspection_endpoint": f"{base}/introspect",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": list(GRANT_TYPES),
            "response_types_supported": [],
            "scopes_supported": scopes,
            "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        })

    # -- the protected API --------------------------------------------------------------

    def profile(self) -> Response:
        """Handle GET /api/profile: the user's name, for a token with scope ``profile``."""
        return self._protected("profile", lambda body: {
            "sub": body["sub"], "name": self.users[body["sub"]].name if body["sub"] in self.users else body["sub"],
        })

    def notes(self) -> Response:
        """Handle GET /api/notes: the user's notes, for a token with scope ``notes:read``."""
        return self._protected("notes", lambda body: {
            "sub": body["sub"], "notes": [f"{body['sub']}'s first note", f"{body['sub']}'s second note"],
        })

    def _protected(self, name: str, make_body: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Response:
        if "access_token" in request.args or request.get_data(cache=True):
            # RFC 6750 §2.2-2.3 allow the token in a form body or the URL, but both leak more easily
            # than a header, so this API accepts only the Authorization header (§2.1).
            error = InvalidRequest(
                "send the access token in the Authorization header (Bearer), not in the URL or the body",
                check="header",
            )
            raise OAuthHttpError(error.error, error.message, www_authenticate=error.www_authenticate)

        api = self.apis[name]
        result = api.get(request.headers.get("Authorization"), actor=_actor("http client"))
        headers = {"WWW-Authenticate": result.www_authenticate} if result.www_authenticate else {}
        if not result.ok:
            token = result.exception.token if result.exception is not None else None
            _log_error(result.status, result.error or "no_token", token=token)
            return _json(dict(result.body), result.status, headers)
        return _json(make_body(result.body))


# -- serving on loopback --------------------------------------------------------------


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, logging to ``tokenlab.http`` at DEBUG instead of printing.

    Werkzeug's own logger would write a line per request to stderr, which
    lands in notebook cells as red text. The request line is logged without
    its query string, where a misbehaving client might have put a token.
    """

    protocol_version = "HTTP/1.1"
    timeout = HANDLER_TIMEOUT_SECONDS

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "").split("?", 1)[0]
        logger.debug("%s %s -> %s", getattr(self, "command", "-"), path[:200], code)

    def log(self, type: str, message: str, *args: Any) -> None:
        # http.server reports malformed requests as "error"; they are the client's mistakes, so INFO.
        level = logging.INFO if type == "error" else logging.DEBUG
        logger.log(level, "werkzeug: " + message.rstrip(), *args)


class _LabWSGIServer(ThreadedWSGIServer):
    """Werkzeug's threaded WSGI server, as ``werkzeug.serving.make_server(threaded=True)`` builds it, logging quietly."""

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.error("werkzeug: " + message.rstrip(), *args)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; log it instead.
        logger.error("connection from %s failed", client_address, exc_info=True)


def _check_host(host: object) -> str:
    if host not in LOOPBACK_HOSTS:
        raise ConfigurationError(
            f"the lab server listens only on loopback ({', '.join(LOOPBACK_HOSTS)}), not {host!r}; "
            "it serves demo keys and demo passwords, so it must never be reachable from another machine"
        )
    return "127.0.0.1" if host == "localhost" else str(host)


class LabServer:
    """The lab's authorization server and protected API, served on a loopback port in a background thread.

    ``LabServer(authority).start()`` binds ``127.0.0.1`` on a free port
    (``port=0``) and returns at once, ready for requests; :meth:`stop` shuts
    it down and waits for requests in flight. As a context manager it
    starts on entry and always stops on exit. Any ``host`` other than
    ``127.0.0.1``, ``localhost`` or ``::1`` raises :class:`ConfigurationError`.

    Requests run one at a time against the authority, under :attr:`lock`.
    Move the simulated clock with :meth:`advance`, which takes the same lock.
    """

    def __init__(
        self,
        authority: TokenAuthority | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Mapping[str, DemoUser] | None = None,
        clients: Mapping[str, RegisteredClient] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.host = _check_host(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigurationError(f"port must be a whole number from 0 to 65535 (0 picks a free port), not {port!r}")
        self.authority = authority if authority is not None else TokenAuthority.demo()
        self.lock = threading.RLock()
        self.clients = dict(DEMO_CLIENTS if clients is None else clients)
        self.app = create_app(
            self.authority, users=users, clients=self.clients, lock=self.lock, max_body_bytes=max_body_bytes
        )
        self._requested_port = port
        self._transcript: Transcript | None = None
        self._server: _LabWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port the server listens on; raises :class:`ConfigurationError` when it is not running."""
        if self._server is None:
            raise ConfigurationError("the lab server is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:54321``; raises :class:`ConfigurationError` when not running."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LabServer:
        """Bind the loopback port and serve in a background thread; return the server itself.

        Raises :class:`ConfigurationError` when already running or when the
        address cannot be bound (``::1`` on a machine without IPv6, say).
        """
        if self._server is not None:
            raise ConfigurationError("the lab server is already running; call stop() before starting it again")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # Bind the socket here and hand it to Werkzeug, so a bind failure is an exception
        # instead of Werkzeug's message on stderr followed by sys.exit().
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.bind((self.host, self._requested_port))
            listener.listen(64)
            server = _LabWSGIServer(self.host, self._requested_port, self.app,
                                    handler=_QuietRequestHandler, fd=listener.fileno())
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {self.host} port {self._requested_port}: {exc.strerror or exc}"
            ) from None
        finally:
            # Werkzeug keeps its own duplicate of the listening socket.
            listener.close()

        self._server = server
        self.app.config["TOKENLAB_BASE_URL"] = self.url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_SECONDS},
            name="tokenlab-lab-server", daemon=True,
        )
        self._thread.start()
        logger.info("lab server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close the port and wait for requests in flight; a stopped server may start again."""
        server, thread = self._server, self._thread
        if server is None:
            return
        url = self.url
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=HANDLER_TIMEOUT_SECONDS)
        self._server = None
        self._thread = None
        self.app.config["TOKENLAB_BASE_URL"] = None
        logger.info("lab server on %s stopped", url)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the simulated clock -------------------------------------------------------------

    def advance(
        self,
        delta: timedelta | int | float | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> datetime:
        """Move the authority's simulated clock forward between requests; return the new time.

        Takes :attr:`lock`, so the clock never changes in the middle of a request.
        Raises :class:`ConfigurationError` if the authority's clock is not a
        :class:`~tokenlab.SimulatedClock`.
        """
        clock = self.authority.clock
        if not isinstance(clock, SimulatedClock):
            raise ConfigurationError(f"only a SimulatedClock can be advanced, and this authority has {type(clock).__name__}")
        with self.lock:
            return clock.advance(delta, seconds=seconds, minutes=minutes, hours=hours, days=days)

    # -- clients ---------------------------------------------------------------------

    @property
    def transcript(self) -> Transcript:
        """The :class:`~tokenlab.http.Transcript` shared by this server's clients, naming tokens by their labels."""
        if self._transcript is None:
            self._transcript = Transcript(labeler=authority_labeler(self.authority), clock=self.authority.clock)
        return self._transcript

    def client(
        self,
        client_id: str = "app",
        *,
        secret: str | None = None,
        name: str = "user",
        strategy: str = "reactive",
        proactive_fraction: float = 0.75,
        transcript: Transcript | None = None,
    ) -> LabClient:
        """Return a :class:`~tokenlab.http.LabClient` for this server, recording into :attr:`transcript`.

        The clients of one server share its transcript unless given their
        own, so exchanges are numbered in the order they happened. For the
        demo's confidential clients ``secret`` defaults to their demo secret.
        """
        # The demo secret fits only while the registry still contains the demo client of that id.
        if secret is None and client_id in DEMO_CLIENT_SECRETS and self.clients.get(client_id) is DEMO_CLIENTS[client_id]:
            secret = DEMO_CLIENT_SECRETS[client_id]
        if transcript is None:
            transcript = self.transcript
        return LabClient(
            self.url, client_id=client_id, client_secret=secret, name=name, strategy=strategy,
            proactive_fraction=proactive_fraction, clock=self.authority.clock, transcript=transcript,
        )

    def __repr__(self) -> str:
        # The port is left out: it differs on every run, and notebook outputs must repeat.
        state = "running on loopback" if self.running else "stopped"
        return f"LabServer({state}, issuer={self.authority.policy.issuer!r})"


__all__ = ["LabServer", "create_app", "GRANT_TYPES"]
