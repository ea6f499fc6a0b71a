"""Fixtures shared by the HTTP lab tests: a demo authority and a lab server around it."""

from __future__ import annotations

from typing import Iterator

import pytest

import tokenlab as tl
from tokenlab.http import LabServer


@pytest.fixture
def auth(authority) -> tl.TokenAuthority:  # type: ignore[no-untyped-def]
    """An authority on the ``clock`` fixture with the demo RS256 key and readable ids."""
    return authority()


@pytest.fixture
def lab(auth: tl.TokenAuthority) -> Iterator[LabServer]:
    """A lab server for ``auth`` on a free loopback port, always stopped afterwards."""
    server = LabServer(auth)
    server.start()
    try:
        yield server
    finally:
        server.stop()
