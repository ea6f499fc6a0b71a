"""The one-line title of what an event log shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

from ..events import Event, EventKind
from .model import _build_model, _duration_text, _event_list, _server_time, _short_check

# -- summary ------------------------------------------------------------------------


def _by(event: Event) -> str:
    return f" by {event.actor}" if event.actor else ""


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _first(items: Sequence[Event], kind: EventKind, **fields: Any) -> Event | None:
    """Return the first event of ``kind`` whose attributes equal ``fields``, or None."""
    for event in items:
        if event.kind is kind and all(getattr(event, name) == value for name, value in fields.items()):
            return event
    return None


def _reuse_summary(items: Sequence[Event]) -> str | None:
    reuses = [e for e in items if e.kind is EventKind.REUSE_DETECTED]
    if not reuses:
        return None
    first = reuses[0]
    if len(reuses) == 1:
        return f"Reuse detected: {first.label} replayed{_by(first)}; family {first.family_id} revoked"
    later = ", then ".join(f"{e.label}{_by(e)} ({e.family_id} revoked)" for e in reuses[1:])
    return f"Reuse detected: {first.label} replayed{_by(first)} ({first.family_id} revoked), then {later}"


def _logout_summary(items: Sequence[Event]) -> str | None:
    revocation = next(
        (e for e in items if e.kind is EventKind.REVOKED and e.outcome == "ok" and e.detail.get("family_revoked")), None
    )
    if revocation is None:
        return None
    text = f"Logout: {revocation.label} revoked{_by(revocation)}; family {revocation.family_id} revoked"
    stateless_pass = next(
        (
            e for e in items
            if e.kind is EventKind.VERIFIED and e.detail.get("stateless") and e.time >= revocation.time
            and e.family_id == revocation.family_id
        ),
        None,
    )
    if stateless_pass is not None:
        text += f", yet {stateless_pass.label} still passes a stateless check"
    return text


def _grace_summary(items: Sequence[Event]) -> str | None:
    grace = _first(items, EventKind.GRACE_REUSE)
    if grace is None:
        return None
    return (
        f"Grace window: {grace.label} presented again{_by(grace)} and accepted; "
        f"{grace.detail.get('superseded')} superseded by {grace.related}, no reuse alarm"
    )


def _key_summary(items: Sequence[Event]) -> str | None:
    rotation = _first(items, EventKind.KEY_ROTATED)
    if rotation is None:
        return None
    previous = rotation.detail.get("previous_kid")
    text = f"Signing key rotated to {rotation.detail.get('kid')}"
    failed = next(
        (e for e in items if e.kind is EventKind.REJECTED and e.check == "kid" and e.time >= rotation.time), None
    )
    if failed is not None:
        return text + f"; {failed.label or 'a token'} rejected once {previous} was removed"
    return text + f"; tokens signed with {previous} still verify"


def _clock_skew_summary(items: Sequence[Event]) -> str | None:
    """Spot events from a server whose clock differs: they carry its reading in ``detail["server_time"]``."""
    ahead = [
        (event.detail["server_time"] - event.time, event)
        for event in items
        if isinstance(event.detail.get("server_time"), datetime) and event.detail["server_time"] > event.time
    ]
    if not ahead:
        return None
    skew = max(delta for delta, _ in ahead)
    early = [e for _, e in ahead if e.kind in (EventKind.EXPIRED, EventKind.REJECTED)]
    if not early:
        return f"Clock skew: a server clock runs {_duration_text(skew)} ahead of the authority's"
    text = f"Clock skew: a server clock {_duration_text(skew)} ahead rejected {early[0].label} early ({_short_check(early[0])})"
    if any(_accepted_by_leeway(e, items) for _, e in ahead if e.label == early[0].label):
        text += "; with leeway it was accepted"
    return text


def _accepted_by_leeway(event: Event, items: Sequence[Event]) -> bool:
    """Tell whether a server accepted a token although its own clock read the token's exp or later: only leeway allows that."""
    reading = _server_time(event)
    if event.kind is not EventKind.VERIFIED or reading is None:
        return False
    issued = _first(items, EventKind.ISSUED, label=event.label)
    return issued is not None and issued.expires_at is not None and reading >= issued.expires_at


def _refresh_expiry_summary(items: Sequence[Event]) -> str | None:
    expired = [e for e in items if e.kind is EventKind.EXPIRED and e.token_type == "refresh_token"]
    if not expired:
        return None
    parts = []
    for event in expired:
        if event.check == "idle_expiry":
            parts.append(f"{event.label} expired unused (idle expiry)")
        elif event.check == "absolute_expiry":
            parts.append(f"family {event.family_id} reached its absolute expiry")
        else:
            parts.append(f"{event.label} expired")
    parts = list(dict.fromkeys(parts))
    if len(parts) == 1:
        return _capitalized(parts[0]) + ": the user must log in again"
    return _capitalized("; ".join(parts))


def _access_revocation_summary(items: Sequence[Event]) -> str | None:
    revoked = next(
        (e for e in items if e.kind is EventKind.REVOKED and e.outcome == "ok" and e.token_type == "access_token"), None
    )
    if revoked is None:
        return None
    return f"{revoked.label} revoked: on the deny-list until it expires; its refresh token still works"


def _rotation_chains(items: Sequence[Event]) -> list[tuple[str | None, list[str]]]:
    """Follow each family's rotations from token to token; return (family, [RT1, RT2, RT3]) chains in order of appearance.

    A chain never crosses families, because each link is a rotation event
    that names the token it produced. Where a grace retry branched a chain,
    the branch taken first is followed.
    """
    children: dict[str, str] = {}
    families: dict[str, str | None] = {}
    for event in items:
        if event.kind in (EventKind.ROTATED, EventKind.GRACE_REUSE) and event.label and event.related:
            children.setdefault(event.label, event.related)
            families.setdefault(event.label, event.family_id)
    produced = set(children.values())
    chains = []
    for root in children:
        if root in produced:
            continue
        chain = [root]
        while chain[-1] in children and children[chain[-1]] not in chain:
            chain.append(children[chain[-1]])
        chains.append((families[root], chain))
    return chains


def _refresh_trigger(items: Sequence[Event], index: int) -> str | None:
    """Say what led to the refresh ``items[index]``: "after a 401", "ahead of expiry", or None when neither shows."""
    refresh = items[index]
    for earlier in reversed(items[:index]):
        if earlier.time != refresh.time or earlier.kind is EventKind.REFRESHED:
            break
        if (
            earlier.kind in (EventKind.REJECTED, EventKind.EXPIRED) and earlier.token_type == "access_token"
            and earlier.actor == refresh.actor
        ):
            return "after a 401"
    latest_access = next(
        (
            e for e in reversed(items[:index])
            if e.kind is EventKind.ISSUED and e.token_type == "access_token" and e.family_id == refresh.family_id
        ),
        None,
    )
    if latest_access is not None and latest_access.expires_at is not None and latest_access.expires_at > refresh.time:
        return "ahead of expiry"
    return None


def _triggers_text(triggers: list[str | None]) -> str:
    """Join the refresh triggers: " after a 401", ", each after a 401", or ": after a 401, then ahead of expiry"."""
    if not any(triggers):
        return ""
    if len(set(triggers)) == 1:
        return f" {triggers[0]}" if len(triggers) == 1 else f", each {triggers[0]}"
    return ": " + ", then ".join(trigger or "after expiry" for trigger in triggers)


def _refresh_summary(items: Sequence[Event]) -> str | None:
    refresh_indices = [index for index, e in enumerate(items) if e.kind is EventKind.REFRESHED]
    if not refresh_indices:
        access_expired = _first(items, EventKind.EXPIRED, token_type="access_token")
        if access_expired is None:
            return None
        return f"{access_expired.label} expired: the API rejected it (exp); time to refresh"

    count = len(refresh_indices)
    plural = "es" if count > 1 else ""
    chains = _rotation_chains(items)
    if len(chains) == 1:
        text = f"{count} refresh{plural} rotated {' → '.join(chains[0][1])}"
    elif chains:
        parts = [f"{' → '.join(chain)} ({family_id})" if family_id else " → ".join(chain) for family_id, chain in chains]
        text = f"{count} refresh{plural} rotated {' and '.join(parts)}"
    else:
        text = f"{count} refresh{plural} with {items[refresh_indices[0]].label}, not rotated"
    return _capitalized(text + _triggers_text([_refresh_trigger(items, index) for index in refresh_indices]))


def _undetected_reuse_summary(items: Sequence[Event]) -> str | None:
    """Sum up replays of rotated refresh tokens that were refused while reuse detection was off."""
    replays = [e for e in items if e.kind is EventKind.REJECTED and e.check == "reuse"]
    if not replays or _first(items, EventKind.REUSE_DETECTED) is not None:
        return None
    labels = " and ".join(dict.fromkeys(e.label or "an unlabelled token" for e in replays))
    text = f"No reuse detection: replays of {labels} refused, no family revoked"
    model = _build_model(items)
    last_time = max(e.time for e in items)
    for lane in model.lanes:
        family = model.families.get(lane.family_id) if lane.family_id else None
        bar_end, _ = lane.end()
        if (
            lane.token_type == "refresh_token" and family is not None and lane.holder and family.holder
            and lane.holder != family.holder and bar_end is not None and bar_end > last_time
        ):
            text += f"; {lane.holder} keeps a valid {lane.key}"
            break
    return text


def _plain_summary(items: Sequence[Event]) -> str:
    rejected = _first(items, EventKind.REJECTED)
    if rejected is not None:
        return f"{rejected.label or 'A token'} rejected ({_short_check(rejected)})"
    accepted = sum(1 for e in items if e.kind is EventKind.VERIFIED)
    calls = f"{accepted} API call{'s' if accepted != 1 else ''} accepted"
    issued = [e for e in items if e.kind is EventKind.ISSUED and e.label]
    if not issued:
        return _capitalized(calls)
    issued.sort(key=lambda e: e.token_type != "access_token")
    labels = " and ".join(e.label for e in issued[:2])  # type: ignore[misc]
    return f"{issued[0].subject or 'The user'} logged in: {labels} issued; {calls}"


_SUMMARIES = (
    _reuse_summary,
    _undetected_reuse_summary,
    _logout_summary,
    _grace_summary,
    _key_summary,
    _clock_skew_summary,
    _refresh_expiry_summary,
    _access_revocation_summary,
    _refresh_summary,
)


def summarize(events: Iterable[Event]) -> str:
    """Return a one-line account of what happened, as the title of a timeline.

    The most telling story wins. The candidates, in order:

    1. reuse detection, then replays refused without reuse detection;
    2. a logout or other family revocation, then a grace-window retry;
    3. a signing key rotation, then clock skew between servers;
    4. an expired refresh token, then a revoked access token;
    5. refreshes, told as each family's rotation chain with what triggered
       them, or else an expired access token;
    6. a rejected call.

    A log with none of these reads as a plain login, and an empty log gives
    "No events yet".
    """
    items = _event_list(events)
    if not items:
        return "No events yet"
    for summary in _SUMMARIES:
        text = summary(items)
        if text is not None:
            return text
    return _plain_summary(items)
