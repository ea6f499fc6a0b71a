"""The text timeline: one deterministic line per event, for terminals and notebook outputs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Sequence

from ..clock import ensure_aware
from ..events import Event, EventKind
from .model import _KEY_KINDS, _duration_text, _event_list, _short_check

# -- text timeline -----------------------------------------------------------------


def _clock_format(times: Sequence[datetime]) -> str:
    dates = {t.astimezone(timezone.utc).date() for t in times}
    return "%H:%M:%S" if len(dates) <= 1 else "%m-%d %H:%M:%S"


def _event_details(event: Event) -> str:
    """Describe an event's outcome in a few words, without fingerprints or wording that changes between runs."""
    kind = event.kind
    if kind is EventKind.ISSUED:
        token_kind = "access token" if event.token_type == "access_token" else "refresh token"
        text = f"{token_kind} of {event.family_id}" if event.family_id else token_kind
        if event.expires_at is not None:
            text += f", expires in {_duration_text(event.expires_at - (event.issued_at or event.time))}"
        return text

    if kind is EventKind.VERIFIED:
        return "accepted (stateless check)" if event.detail.get("stateless") else "accepted"

    if kind in (EventKind.REJECTED, EventKind.EXPIRED, EventKind.REUSE_DETECTED):
        text = f"rejected: {_short_check(event)}"
        if event.error:
            text += f" ({event.error})"
        return text

    if kind is EventKind.REFRESHED:
        text = f"new access token {event.related}"
        if event.expires_at is not None:
            text += ", same refresh token"
        return text

    if kind is EventKind.ROTATED:
        return f"replaced by {event.related}"

    if kind is EventKind.GRACE_REUSE:
        return f"retry within the grace window: new {event.related}, {event.detail.get('superseded')} superseded"

    if kind is EventKind.REVOKED:
        if event.outcome != "ok":
            reason = "unknown token" if event.label is None else (event.reason or "nothing to revoke")
            return f"no effect: {reason}"
        if event.detail.get("family_revoked"):
            return f"family {event.family_id} revoked"
        if event.expires_at is not None:
            return f"on the deny-list until {event.expires_at.astimezone(timezone.utc):%H:%M:%S}"
        return "revoked"

    if kind is EventKind.INTROSPECTED:
        return event.outcome

    if kind is EventKind.KEY_ROTATED:
        return f"new signing key {event.detail.get('kid')}, {event.detail.get('previous_kid')} still verifies"
    if kind is EventKind.KEY_REMOVED:
        return f"key {event.detail.get('kid')} removed: its tokens no longer verify"

    return event.outcome


def _event_subject(event: Event) -> str:
    """Name what an event concerns: the token's label, else "key" for a key rotation, else the token's fingerprint."""
    if event.label:
        return event.label
    if event.kind in _KEY_KINDS:
        return "key"
    return event.token or "-"


def format_timeline(events: Iterable[Event], now: datetime | None = None) -> str:
    """Return the events as text, one line per event: time, actor, kind, token, outcome.

    The output depends only on the events' times, labels, actors and outcomes,
    never on fingerprints (unless a token has no label) or on random ids, so
    two runs of a deterministic scenario give identical text. Times are UTC
    ``HH:MM:SS``, with the month and day added when the events span several
    dates. When ``now`` is given, a last line shows it (``09:11:00  now``).
    Events appear in the order they were recorded, which is also time order
    unless a server with a skewed clock recorded some of them.
    """
    items = _event_list(events)
    if now is not None:
        now = ensure_aware(now, "now")
    if not items:
        return "(no events)" if now is None else f"(no events)\n{now.astimezone(timezone.utc):%H:%M:%S}  now"

    time_format = _clock_format([e.time for e in items] + ([now] if now is not None else []))
    rows = [
        (e.time.astimezone(timezone.utc).strftime(time_format), e.actor or "-", e.kind.value, _event_subject(e), _event_details(e))
        for e in items
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]

    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths)] + [row[4]]
        lines.append("  ".join(cells).rstrip())
    if now is not None:
        lines.append(f"{now.astimezone(timezone.utc):{time_format}}  now")
    return "\n".join(lines)
