"""tokenlab: learn how access tokens and refresh tokens work, on a simulated clock.

The engine (clock, policy, keys, authority, store, events) loads with
``import tokenlab``. Plots and widgets load matplotlib and ipywidgets only
when first used.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from .authority import TokenAuthority, TokenPair
from .clock import Clock, OffsetClock, SimulatedClock, SystemClock
from .errors import (
    ClockError,
    ConfigurationError,
    InsufficientScope,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    SigningKeyError,
    StoreError,
    TokenlabError,
    UnauthorizedClient,
)
from .events import Event, EventKind, EventLog
from .fingerprints import fingerprint
from .keys import KeySet, SigningKey, demo_key
from .policy import TokenPolicy
from .sqlite_store import SQLiteStore
from .store import AccessRecord, FamilyRecord, MemoryStore, RefreshRecord, TokenStore

__version__ = "0.1.0"

# Library logging stays silent unless the application configures a handler.
logging.getLogger("tokenlab").addHandler(logging.NullHandler())

# Submodules that pull in heavy libraries are imported on first attribute access.
_LAZY_MODULES = ("timeline", "widgets", "scenarios", "client", "exercises", "cli", "http", "naive")


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tokenlab' has no attribute {name!r}")


__all__ = [
    "AccessRecord",
    "Clock",
    "ClockError",
    "ConfigurationError",
    "Event",
    "EventKind",
    "EventLog",
    "FamilyRecord",
    "InsufficientScope",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "KeySet",
    "MemoryStore",
    "OffsetClock",
    "RefreshRecord",
    "SQLiteStore",
    "SigningKey",
    "SigningKeyError",
    "SimulatedClock",
    "StoreError",
    "SystemClock",
    "TokenAuthority",
    "TokenPair",
    "TokenPolicy",
    "TokenStore",
    "TokenlabError",
    "UnauthorizedClient",
    "demo_key",
    "fingerprint",
]
