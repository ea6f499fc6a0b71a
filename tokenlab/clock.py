"""Clocks: where every time in tokenlab comes from.

Nothing in the engine reads the wall clock directly. A :class:`SimulatedClock`
stands still until told to move, so a scenario replays the same way every time;
a :class:`SystemClock` reads the real time for use outside the course.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from .errors import ClockError

DEFAULT_START = "2026-01-05T09:00:00+00:00"


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` that returns a timezone-aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


def ensure_aware(value: datetime, name: str = "time") -> datetime:
    """Return ``value`` converted to UTC, or raise :class:`ClockError` if it is naive."""
    if not isinstance(value, datetime):
        raise ClockError(
            f"{name} must be a datetime, not {type(value).__name__} ({value!r}); "
            "pass a timezone-aware datetime such as datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ClockError(
            f"{name} {value.isoformat()} is a naive datetime (it has no time zone); "
            "pass an aware one, for example with tzinfo=timezone.utc or an ISO string ending in +00:00"
        )
    return value.astimezone(timezone.utc)


def parse_instant(value: datetime | str, name: str = "time") -> datetime:
    """Parse an aware datetime or an ISO-8601 string with an offset into a UTC datetime."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ClockError(
                f"{name} {value!r} is not an ISO-8601 date and time; "
                "write it like '2026-01-05T09:00:00+00:00'"
            ) from None
        return ensure_aware(parsed, name)
    return ensure_aware(value, name)


def to_timedelta(value: timedelta | int | float, name: str) -> timedelta:
    """Return ``value`` as a timedelta; a bare number counts as seconds."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ClockError(
            f"{name} must be a timedelta or a number of seconds, not {type(value).__name__} ({value!r})"
        )
    if isinstance(value, timedelta):
        return value
    if value != value or value in (float("inf"), float("-inf")):
        raise ClockError(f"{name} must be a finite number of seconds, not {value!r}")
    return timedelta(seconds=value)


class SimulatedClock:
    """A clock that only moves when :meth:`advance` or :meth:`set` is called.

    It starts at a fixed, timezone-aware instant (by default
    2026-01-05 09:00:00 UTC) and never goes backwards.
    """

    def __init__(self, start: datetime | str = DEFAULT_START) -> None:
        self._now = parse_instant(start, "start")

    def now(self) -> datetime:
        """Return the simulated current time (UTC)."""
        return self._now

    def advance(
        self,
        delta: timedelta | int | float | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> datetime:
        """Move the clock forward and return the new time.

        ``delta`` is a timedelta or a number of seconds; the keyword arguments
        add to it. Raises :class:`ClockError` for a negative total, because a
        clock going backwards would let an expired token become valid again.
        """
        total = to_timedelta(delta, "delta") if delta is not None else timedelta(0)
        for name, amount in (("seconds", seconds), ("minutes", minutes), ("hours", hours), ("days", days)):
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                raise ClockError(f"{name} must be a number, not {type(amount).__name__} ({amount!r})")
            if amount != amount or amount in (float("inf"), float("-inf")):
                raise ClockError(f"{name} must be a finite number, not {amount!r}")
        try:
            total += timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        except (OverflowError, ValueError) as exc:
            raise ClockError(f"cannot advance the clock by that much ({exc}); use a smaller step") from None
        if total < timedelta(0):
            raise ClockError(
                f"cannot move the clock backwards by {-total}; a SimulatedClock only moves forward. "
                "Create a new SimulatedClock to start again from an earlier time"
            )
        try:
            self._now = self._now + total
        except OverflowError:
            raise ClockError(f"advancing by {total} goes past the year 9999; use a smaller step") from None
        return self._now

    def set(self, instant: datetime | str) -> datetime:
        """Jump to ``instant``, which must not lie before the current time."""
        target = parse_instant(instant, "instant")
        if target < self._now:
            raise ClockError(
                f"cannot set the clock back from {self._now.isoformat()} to {target.isoformat()}; "
                "a SimulatedClock only moves forward"
            )
        self._now = target
        return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({self._now.isoformat()!r})"


class OffsetClock:
    """A view of another clock shifted by a fixed offset: a server whose clock is skewed."""

    def __init__(self, base: Clock, offset: timedelta | int | float) -> None:
        if not hasattr(base, "now"):
            raise ClockError(f"base must be a clock with a now() method, not {type(base).__name__}")
        self.base = base
        self.offset = to_timedelta(offset, "offset")

    def now(self) -> datetime:
        """Return the base clock's time plus the offset."""
        try:
            return self.base.now() + self.offset
        except OverflowError:
            raise ClockError(f"an offset of {self.offset} moves the clock past the year 1 or 9999; use a smaller offset") from None

    def __repr__(self) -> str:
        return f"OffsetClock({self.base!r}, offset={self.offset})"


class SystemClock:
    """The real UTC time, for use outside the simulated course."""

    def now(self) -> datetime:
        """Return the current UTC time, truncated to whole seconds like JWT times."""
        return datetime.now(timezone.utc).replace(microsecond=0)

    def __repr__(self) -> str:
        return "SystemClock()"
