"""The event log: one typed record for every step an authority takes.

Timelines, widgets, tests and the command line all read this log; the engine
never prints. Events name tokens by a readable label (``AT1``, ``RT2``) and a
short fingerprint, never by the token itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Iterator, Literal, overload

Outcome = Literal["ok", "rejected", "no_effect", "active", "inactive"]


class EventKind(str, Enum):
    """The kind of an event; the values are the words the course uses."""

    ISSUED = "issued"
    VERIFIED = "verified"
    REJECTED = "rejected"
    REFRESHED = "refreshed"
    ROTATED = "rotated"
    GRACE_REUSE = "grace_reuse"
    REUSE_DETECTED = "reuse_detected"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INTROSPECTED = "introspected"
    KEY_ROTATED = "key_rotated"
    KEY_REMOVED = "key_removed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Event:
    """One thing an authority did, at one simulated time.

    ``token`` is the short fingerprint and ``label`` the readable name of the
    token involved. ``outcome`` is ``ok``, ``rejected`` or ``no_effect``
    (``active``/``inactive`` for introspection); ``reason`` explains a
    rejection and ``check`` names the verification check that failed.
    ``expires_at`` is set on ``issued`` events. ``related`` names another
    token the event concerns, such as the refresh token a rotation produced.
    """

    seq: int
    time: datetime
    kind: EventKind
    outcome: Outcome = "ok"
    token: str | None = None
    label: str | None = None
    token_type: Literal["access_token", "refresh_token"] | None = None
    family_id: str | None = None
    client_id: str | None = None
    subject: str | None = None
    scope: str | None = None
    actor: str | None = None
    reason: str | None = None
    check: str | None = None
    error: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    related: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Return a one-line English summary, as the text timeline shows it."""
        who = f"{self.actor}: " if self.actor else ""
        what = self.label or self.token or ""
        text = f"{who}{self.kind.value} {what}".rstrip()
        if self.related:
            text += f" -> {self.related}"
        if self.outcome not in ("ok",):
            text += f" [{self.outcome}]"
        if self.reason:
            text += f" ({self.reason})"
        return text


class EventLog:
    """An append-only, thread-safe list of :class:`Event`, with listeners.

    Indexing and iteration work as on a list. :meth:`subscribe` registers a
    callback that receives each new event, which is how widgets redraw.
    """

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Event], None]] = []

    def record(self, time: datetime, kind: EventKind, **fields: Any) -> Event:
        """Append a new event and return it."""
        with self._lock:
            event = Event(seq=len(self._events) + 1, time=time, kind=EventKind(kind), **fields)
            self._events.append(event)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        return event

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener`` with every event recorded from now on; return a function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def of_kind(self, *kinds: EventKind | str) -> list[Event]:
        """Return the events whose kind is one of ``kinds``."""
        wanted = {EventKind(k) for k in kinds}
        return [e for e in self if e.kind in wanted]

    def since(self, seq: int) -> list[Event]:
        """Return the events recorded after event number ``seq``."""
        return list(self)[seq:]

    def kinds(self) -> list[str]:
        """Return the kinds of all events in order, as plain strings."""
        return [e.kind.value for e in self]

    def last(self) -> Event | None:
        """Return the newest event, or ``None`` when the log is empty."""
        with self._lock:
            return self._events[-1] if self._events else None

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        with self._lock:
            return self._events[index]

    def __repr__(self) -> str:
        return f"EventLog({len(self)} events)"


class ServerClockLog:
    """An :class:`EventLog` seen through a server whose clock differs from the true one.

    Events recorded here go to ``log`` stamped with ``true_clock``'s time;
    the server's own reading is kept in ``detail["server_time"]`` when it
    differs. Everything else reads and behaves as ``log``.
    """

    def __init__(self, log: EventLog, *, true_clock: Any) -> None:
        self._log = log
        self._true_clock = true_clock

    def record(self, time: datetime, kind: EventKind, **fields: Any) -> Event:
        """Append an event at the true time, noting the server's time if it differs."""
        true_time = self._true_clock.now()
        if true_time != time:
            fields["detail"] = {**fields.get("detail", {}), "server_time": time}
        return self._log.record(true_time, kind, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._log)

    def __len__(self) -> int:
        return len(self._log)

    def __getitem__(self, index: Any) -> Any:
        return self._log[index]

    def __repr__(self) -> str:
        return f"ServerClockLog({self._log!r})"
