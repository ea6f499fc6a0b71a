"""Names the lab server and the lab client share."""

from __future__ import annotations

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""The only hosts a lab server listens on and a lab client talks to."""

ACTOR_HEADER = "Tokenlab-Actor"
"""Request header naming the actor in the event log. Self-declared and for teaching only: it authenticates nothing."""
