"""The lab over real HTTP: an authorization server and a protected API on loopback, and a client that records every exchange.

Needs the ``http`` extra (Flask, Werkzeug, requests; Authlib for the
interoperability tests): ``pip install -e ".[http]"``.

``LabServer(authority).start()`` serves one :class:`~tokenlab.TokenAuthority`
on ``127.0.0.1`` in a background thread; :meth:`LabServer.client` gives a
:class:`LabClient` whose :class:`Transcript` shows each request and response
with tokens replaced by their labels. See :mod:`tokenlab.http.server` for
the endpoints.
"""

from __future__ import annotations

from .forms import OAuthHttpError
from .labclient import CallResult, LabClient, LabTokens, bearer_error, refresh_needed
from .registry import (
    DEMO_CLIENT_SECRETS,
    DEMO_CLIENTS,
    DEMO_PASSWORDS,
    DEMO_USERS,
    DemoUser,
    RegisteredClient,
)
from .server import LabServer, create_app
from .transcript import Exchange, Transcript, TranscriptWidget, authority_labeler
from .wire import ACTOR_HEADER, LOOPBACK_HOSTS

__all__ = [
    "ACTOR_HEADER",
    "CallResult",
    "DEMO_CLIENTS",
    "DEMO_CLIENT_SECRETS",
    "DEMO_PASSWORDS",
    "DEMO_USERS",
    "DemoUser",
    "Exchange",
    "LOOPBACK_HOSTS",
    "LabClient",
    "LabServer",
    "LabTokens",
    "OAuthHttpError",
    "RegisteredClient",
    "Transcript",
    "TranscriptWidget",
    "authority_labeler",
    "bearer_error",
    "create_app",
    "refresh_needed",
]
