"""A readable record of HTTP exchanges, with every secret replaced by a label or a fingerprint.

A :class:`Transcript` records each request a lab client sends and the
response it gets: the method and path, the headers that matter, and the
body. It never stores a token, a password or a client secret: tokens become
``<AT1>`` or ``<RT2>`` (the labels of the authority's event log, found by a
*labeler*) or, for tokens the labeler does not know, ``<token 1a2b3c4d>``
(a fingerprint). Passwords and client secrets become ``<hidden>``.

The text is deterministic, so notebook outputs repeat: no dates, no port
numbers, no header that changes from run to run (``Date``, ``Server``,
``User-Agent``, ``Content-Length``). The server's address
``http://127.0.0.1:<port>`` is shown as ``http://lab``, and the time is
the simulated clock's.

:meth:`Transcript.widget` shows the exchanges in JupyterLab as an
ipywidgets accordion; ipywidgets is imported only then.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, overload
from urllib.parse import parse_qsl, unquote_plus

from ..fingerprints import fingerprint, token_hash

if TYPE_CHECKING:
    import requests

    from ..authority import TokenAuthority
    from ..clock import Clock

Labeler = Callable[[str], "str | None"]

LAB_ORIGIN = "http://lab"
_LOOPBACK_ORIGIN = re.compile(r"http://(?:127\.0\.0\.1|localhost|\[::1\]):\d+")

REQUEST_HEADERS = ("Authorization", "Content-Type")
RESPONSE_HEADERS = ("WWW-Authenticate", "Cache-Control", "Pragma", "Allow", "Location")
"""The headers a transcript shows; the others (Date, Server, Content-Length...) carry nothing about tokens."""

TOKEN_FIELDS = ("access_token", "refresh_token", "token", "id_token")
HIDDEN_FIELDS = ("password", "client_secret")
MAX_BLOB_LENGTH = 72
"""Values longer than this without a space, such as the RSA modulus in a JWK Set, are cut short."""


def authority_labeler(authority: TokenAuthority) -> Labeler:
    """Return a labeler that names the tokens ``authority`` issued: ``AT1`` for an access token, ``RT1`` for a refresh token.

    The labeler reads the store without verifying anything, and returns
    ``None`` for a token the authority never issued.
    """
    from jwt.utils import base64url_decode

    def label(token: str) -> str | None:
        record = authority.store.get_refresh(token_hash(token))
        if record is not None:
            return record.label
        if token.count(".") != 2 or len(token) > 8192:
            return None
        try:
            payload = json.loads(base64url_decode(token.split(".")[1]))
        except (ValueError, TypeError, binascii.Error, RecursionError):
            return None
        jti = payload.get("jti") if isinstance(payload, dict) else None
        access = authority.store.get_access(jti) if isinstance(jti, str) and len(jti) <= 256 else None
        if access is None or access.fingerprint != fingerprint(token):
            return None
        return access.label

    return label


def _shorten(text: str) -> str:
    """Cut an opaque value (no spaces) that is longer than 72 characters; leave sentences whole."""
    if len(text) <= MAX_BLOB_LENGTH or " " in text:
        return text
    return f"{text[:40]}...({len(text)} characters)"


def _format_json(value: Any, indent: str = "") -> list[str]:
    """Lay out JSON with one object member per line, and a list of plain values on one line."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        lines = ["{"]
        items = list(value.items())
        for index, (key, item) in enumerate(items):
            rendered = _format_json(item, inner)
            rendered[0] = f"{inner}{json.dumps(key, ensure_ascii=False)}: {rendered[0].lstrip()}"
            if index < len(items) - 1:
                rendered[-1] += ","
            lines += rendered
        lines.append(indent + "}")
        return lines
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        lines = ["["]
        for index, item in enumerate(value):
            rendered = _format_json(item, inner)
            rendered[0] = inner + rendered[0].lstrip()
            if index < len(value) - 1:
                rendered[-1] += ","
            lines += rendered
        lines.append(indent + "]")
        return lines
    return [indent + json.dumps(value, ensure_ascii=False)]


class _Redactor:
    """Replaces secrets with labels, fingerprints or ``<hidden>``, and the loopback origin with ``http://lab``."""

    def __init__(self, labeler: Labeler | None) -> None:
        self.labeler = labeler

    def token(self, token: str) -> str:
        label = self.labeler(token) if self.labeler is not None and token else None
        return f"<{label}>" if label else f"<token {fingerprint(token)}>"

    def text(self, value: str) -> str:
        return _shorten(_LOOPBACK_ORIGIN.sub(LAB_ORIGIN, value))

    def field(self, name: str, value: str) -> str:
        if name in HIDDEN_FIELDS:
            return "<hidden>"
        if name in TOKEN_FIELDS:
            return self.token(value)
        return self.text(value)

    def authorization(self, value: str) -> str:
        scheme, _, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            return f"{scheme} {self.token(credentials)}" if credentials else scheme
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return f"{scheme} <malformed credentials>"
            client_id, colon, _ = decoded.partition(":")
            if not colon:
                return f"{scheme} <malformed credentials>"
            return f"{scheme} <{self.text(unquote_plus(client_id))} + secret>"
        return f"{scheme} <hidden>"

    def header(self, name: str, value: str) -> str:
        return self.authorization(value) if name.lower() == "authorization" else self.text(value)

    def json_value(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.json_value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json_value(v) for v in value]
        if isinstance(value, str):
            return self.field(key, value) if key is not None else self.text(value)
        return value


@dataclass(frozen=True)
class Exchange:
    """One request and its response, with secrets already replaced.

    ``request_body`` and ``response_body`` are lines of text, ready to
    show: form fields one per line, JSON indented, anything else cut short.
    ``time`` is the simulated time when the response arrived, when the
    transcript has a clock. ``note`` gives the reason a client sent the request,
    such as ``refresh after a 401``.
    """

    number: int
    method: str
    target: str
    status: int
    request_headers: tuple[tuple[str, str], ...]
    request_body: tuple[str, ...]
    response_headers: tuple[tuple[str, str], ...]
    response_body: tuple[str, ...]
    actor: str | None = None
    time: datetime | None = None
    note: str | None = None
    response_json: Any = None

    @property
    def reason(self) -> str:
        """The status's reason phrase, such as ``Unauthorized``."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    def heading(self) -> str:
        """Return the one-line summary: number, time, actor, request line and status."""
        parts = [f"#{self.number}"]
        if self.time is not None:
            parts.append(f"{self.time:%H:%M:%S}")
        if self.actor:
            parts.append(self.actor)
        parts.append(f"{self.method} {self.target} -> {self.status} {self.reason}".rstrip())
        text = "  ".join(parts)
        if self.note:
            text += f"  ({self.note})"
        return text

    def text(self) -> str:
        """Return the exchange as lines: ``>`` for the request, ``<`` for the response, as ``curl -v`` shows them."""
        lines = [self.heading(), f"> {self.method} {self.target}"]
        lines += [f"> {name}: {value}" for name, value in self.request_headers]
        if self.request_body:
            lines.append(">")
            lines += [f"> {line}" for line in self.request_body]
        lines.append(f"< {self.status} {self.reason}".rstrip())
        lines += [f"< {name}: {value}" for name, value in self.response_headers]
        if self.response_body:
            lines.append("<")
            lines += [f"< {line}" for line in self.response_body]
        return "\n".join(lines)


def _content_type(headers: Any) -> str:
    return str(headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


def _body_lines(body: bytes | str | None, content_type: str, redactor: _Redactor) -> tuple[tuple[str, ...], Any]:
    """Return the body as display lines, and its parsed JSON (redacted) when it is JSON."""
    if body is None or body == b"" or body == "":
        return (), None
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return (f"<{len(raw)} bytes, not UTF-8>",), None
        return tuple(f"{redactor.text(name)}={redactor.field(name, value)}" for name, value in pairs), None
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            parsed = redactor.json_value(json.loads(raw))
        except ValueError:
            return (f"<{len(raw)} bytes of malformed JSON>",), None
        return tuple(_format_json(parsed)), parsed
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return (f"<{len(raw)} bytes>",), None
    return tuple(redactor.text(line) for line in text.strip().splitlines()[:5]), None


def _selected_headers(headers: Any, names: Sequence[str], redactor: _Redactor) -> tuple[tuple[str, str], ...]:
    selected = []
    for name in names:
        value = headers.get(name)
        if value is not None:
            selected.append((name, redactor.header(name, str(value))))
    return tuple(selected)


class Transcript:
    """The HTTP exchanges of one or more lab clients, in order, with secrets replaced.

    ``labeler`` names tokens (see :func:`authority_labeler`); ``clock``
    stamps each exchange with the simulated time. Index or slice it like a
    list; a slice is a new :class:`Transcript` of those exchanges. Printing
    it, or making it the last expression of a notebook cell, shows
    :meth:`text`.
    """

    def __init__(
        self,
        *,
        labeler: Labeler | None = None,
        clock: Clock | None = None,
        exchanges: Sequence[Exchange] = (),
    ) -> None:
        self.labeler = labeler
        self.clock = clock
        self._redactor = _Redactor(labeler)
        self._exchanges: list[Exchange] = list(exchanges)
        self._listeners: list[Callable[[Exchange], None]] = []
        self._count = len(self._exchanges)

    # -- recording -------------------------------------------------------------------

    def record(self, response: requests.Response, *, actor: str | None = None, note: str | None = None) -> Exchange:
        """Record the request behind ``response`` and the response itself; return the new exchange."""
        sent = response.request
        redactor = self._redactor
        request_type = _content_type(sent.headers)
        request_body, _ = _body_lines(sent.body, request_type, redactor)  # type: ignore[arg-type]
        response_body, response_json = _body_lines(response.content, _content_type(response.headers), redactor)
        request_headers = REQUEST_HEADERS if request_body else ("Authorization",)
        self._count += 1
        exchange = Exchange(
            number=self._count,
            method=str(sent.method),
            target=redactor.text(sent.path_url),
            status=response.status_code,
            request_headers=_selected_headers(sent.headers, request_headers, redactor),
            request_body=request_body,
            response_headers=_selected_headers(response.headers, RESPONSE_HEADERS, redactor),
            response_body=response_body,
            actor=actor,
            time=self.clock.now() if self.clock is not None else None,
            note=note,
            response_json=response_json,
        )
        self._exchanges.append(exchange)
        for listener in list(self._listeners):
            listener(exchange)
        return exchange

    def attach(self, session: requests.Session, *, actor: str | None = None) -> Callable[[], None]:
        """Record every response ``session`` receives from now on; return a function that stops it.

        This is how traffic of client libraries that tokenlab did not write,
        such as Authlib's ``OAuth2Session``, enters a transcript.
        """

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
            self.record(response, actor=actor)
            return response

        session.hooks.setdefault("response", []).append(hook)

        def detach() -> None:
            hooks = session.hooks.get("response", [])
            if hook in hooks:
                hooks.remove(hook)

        return detach

    def subscribe(self, listener: Callable[[Exchange], None]) -> Callable[[], None]:
        """Call ``listener`` with every exchange recorded from now on; return a function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- reading ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._exchanges))

    @overload
    def __getitem__(self, index: int) -> Exchange: ...

    @overload
    def __getitem__(self, index: slice) -> Transcript: ...

    def __getitem__(self, index: int | slice) -> Exchange | Transcript:
        if isinstance(index, slice):
            return Transcript(labeler=self.labeler, clock=self.clock, exchanges=self._exchanges[index])
        return self._exchanges[index]

    def text(self) -> str:
        """Return every exchange in full, separated by blank lines."""
        if not self._exchanges:
            return "(no HTTP exchanges yet)"
        return "\n\n".join(exchange.text() for exchange in self._exchanges)

    def summary(self) -> str:
        """Return one line per exchange: number, time, actor, request line, status and note."""
        if not self._exchanges:
            return "(no HTTP exchanges yet)"
        return "\n".join(exchange.heading() for exchange in self._exchanges)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Transcript({len(self)} exchanges)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def widget(self) -> TranscriptWidget:
        """Return a JupyterLab view of this transcript that grows as new exchanges are recorded."""
        return TranscriptWidget(self)


class TranscriptWidget:
    """An ipywidgets accordion with one panel per exchange, headed by its one-line summary.

    Displayed in a notebook, it sends the interactive widget together with
    the transcript's summary as ``text/plain``, which front ends without
    widgets show and nbval compares.
    """

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self._widget: Any = None
        self._unsubscribe = transcript.subscribe(lambda exchange: self._update())

    @property
    def widget(self) -> Any:
        """The ipywidgets container; built on first use."""
        if self._widget is None:
            import ipywidgets as widgets

            self._widget = widgets.Accordion(layout=widgets.Layout(width="100%"))
            self._update()
        return self._widget

    def _update(self) -> None:
        if self._widget is None:
            return
        import ipywidgets as widgets

        panels = []
        for exchange in self.transcript:
            body = "<pre style='font-size: 12px; line-height: 1.3'>" + html.escape(exchange.text()) + "</pre>"
            panels.append(widgets.HTML(body))
        self._widget.children = panels
        for index, exchange in enumerate(self.transcript):
            self._widget.set_title(index, exchange.heading())

    def text(self) -> str:
        """Return the transcript's one-line summaries."""
        return self.transcript.summary()

    def close(self) -> None:
        """Stop following the transcript and close the widgets."""
        self._unsubscribe()
        if self._widget is not None:
            for child in self._widget.children:
                child.close()
            self._widget.close()
            self._widget = None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_())
        bundle["text/plain"] = self.text()
        return bundle

    def __repr__(self) -> str:
        return f"TranscriptWidget({len(self.transcript)} exchanges)"
