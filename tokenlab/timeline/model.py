"""Read an event log into lanes, token lifetimes, families, key periods and grace windows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from ..events import Event, EventKind, EventLog
from .style import KEY_FAMILY, RECORD_CUTS, UNKNOWN_LANE

# -- reading events -----------------------------------------------------------


def _event_list(events: Iterable[Event] | Any) -> list[Event]:
    """Copy ``events`` into a list; an object with an ``events`` attribute (an authority, a scenario run or result) gives those."""
    source = events.events if hasattr(events, "events") and not isinstance(events, EventLog) else events
    result = list(source)
    for item in result:
        if not isinstance(item, Event):
            raise TypeError(
                f"expected tokenlab Event records, got {type(item).__name__} ({item!r:.60}); "
                "pass authority.events, a scenario result's .events, or a list of its items"
            )
    return result


def _is_access_label(label: str) -> bool:
    return label.startswith("AT")


def _server_time(event: Event) -> datetime | None:
    """Return the clock reading of a server whose clock differs from the true time, or None."""
    reading = event.detail.get("server_time")
    return reading if isinstance(reading, datetime) else None


@dataclass
class _Lane:
    """One row of the plot: a token with the lifetime read from the events, or a signing key.

    ``cut_at`` is when something ended the token before its expiry, and
    ``cut_kind`` what: ``rotated``, ``superseded``, ``revoked``, or ``key``
    (its signing key was gone). ``stateless_until`` is set on an access token
    that a stateless check accepted after its revocation: it stays usable
    there until its expiry.
    """

    key: str
    family_id: str | None
    token_type: str | None
    holder: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    cut_at: datetime | None = None
    cut_kind: str | None = None
    cut_order: float = 0.0
    """The position in the event log of the event that cut the bar."""
    kid: str | None = None
    stateless_until: datetime | None = None
    record_until: datetime | None = None
    is_key: bool = False

    def end(self) -> tuple[datetime | None, str | None]:
        """Return when the bar ends and why: a cut (rotation, revocation, key removal) or ``expired``."""
        if self.cut_at is not None and (self.expires_at is None or self.cut_at < self.expires_at):
            return self.cut_at, self.cut_kind
        if self.expires_at is not None:
            return self.expires_at, "expired"
        return None, None

    def cut(self, moment: datetime, kind: str, order: int) -> None:
        """End the bar at ``moment`` unless it already ended earlier; ``order`` is the cutting event's position in the log."""
        current_end, _ = self.end()
        if current_end is None or moment < current_end:
            self.cut_at, self.cut_kind, self.cut_order = moment, kind, float(order)


@dataclass
class _KeyPeriod:
    """A time during which a signing key signs new tokens, or only verifies tokens it signed earlier."""

    kid: str
    start: datetime
    end: datetime | None
    signing: bool
    removal_recorded: bool = False


@dataclass
class _Family:
    """A token family as the plot shows it: its start, first holder, revocation and absolute expiry."""

    family_id: str
    started_at: datetime | None = None
    holder: str | None = None
    subject: str | None = None
    revoked_at: datetime | None = None
    absolute_end: datetime | None = None
    """The family's absolute expiry, known only once a refresh was refused for reaching it."""

    def end(self) -> datetime | None:
        """Return when the family ended: its revocation or its absolute expiry, whichever came first."""
        ends = [moment for moment in (self.revoked_at, self.absolute_end) if moment is not None]
        return min(ends) if ends else None


@dataclass
class _Grace:
    """The grace window of a rotated refresh token in which a retry with it was accepted."""

    lane: str
    start: datetime
    length: timedelta | None
    retry_at: datetime


@dataclass
class _Model:
    """The lanes in drawing order, the families, key periods and grace windows read from the events."""

    lanes: list[_Lane]
    event_lanes: list[str]
    families: dict[str, _Family]
    family_groups: list[tuple[str | None, list[int]]]
    key_periods: list[_KeyPeriod]
    graces: list[_Grace]
    has_key_events: bool

    def lane_index(self) -> dict[str, int]:
        return {lane.key: index for index, lane in enumerate(self.lanes)}


_KEY_KINDS = (EventKind.KEY_ROTATED, EventKind.KEY_REMOVED)


def _lane_key(event: Event) -> str:
    if event.kind in _KEY_KINDS:
        return str(event.detail.get("kid") or "signing key")
    return event.label or UNKNOWN_LANE


_GRACE_PATTERN = re.compile(r"within the ([0-9.]+) s grace window")


def _grace_length(event: Event) -> timedelta | None:
    """Read the grace window's length from a grace_reuse event's reason, which the authority writes as "... 10 s grace window"."""
    found = _GRACE_PATTERN.search(event.reason or "")
    return timedelta(seconds=float(found.group(1))) if found else None


def _build_model(events: Sequence[Event]) -> _Model:
    """Work out the lanes, each token's lifetime and where it was cut short, the families and the signing keys."""
    families_by_label: dict[str, str] = {}
    for event in events:
        if event.label and event.family_id:
            families_by_label.setdefault(event.label, event.family_id)

    lanes: dict[str, _Lane] = {}
    families: dict[str, _Family] = {}
    graces: list[_Grace] = []
    rotated_at: dict[str, datetime] = {}

    def lane_for(key: str, event: Event) -> _Lane:
        if key not in lanes:
            if event.kind in _KEY_KINDS:
                lanes[key] = _Lane(key, None, None, is_key=True)
            else:
                token_type = event.token_type
                if key == UNKNOWN_LANE:
                    token_type = None
                elif token_type is None:
                    token_type = "access_token" if _is_access_label(key) else "refresh_token"
                lanes[key] = _Lane(key, families_by_label.get(key), token_type)
        return lanes[key]

    event_lanes = []
    for position, event in enumerate(events):
        key = _lane_key(event)
        event_lanes.append(key)
        lane = lane_for(key, event)
        family = families.setdefault(lane.family_id, _Family(lane.family_id)) if lane.family_id else None
        if family is not None and family.subject is None:
            family.subject = event.subject

        if event.kind is EventKind.ISSUED and event.label:
            lane.issued_at = event.issued_at or event.time
            lane.expires_at = event.expires_at
            lane.holder = event.actor
            lane.kid = event.detail.get("kid")
            if family is not None and family.started_at is None:
                family.started_at, family.holder = lane.issued_at, event.actor
        elif event.kind is EventKind.REFRESHED and event.expires_at is not None and event.label:
            # Without rotation the same refresh token stays; a refresh restarts its idle clock.
            lane.expires_at = event.expires_at
        elif event.kind is EventKind.ROTATED and event.label:
            lane.cut(event.time, "rotated", position)
            rotated_at[event.label] = event.time
        elif event.kind is EventKind.GRACE_REUSE:
            superseded = event.detail.get("superseded")
            if superseded in lanes:
                lanes[superseded].cut(event.time, "superseded", position)
            if event.label:
                start = rotated_at.get(event.label, event.time)
                graces.append(_Grace(event.label, start, _grace_length(event), event.time))
        elif event.kind is EventKind.REVOKED and event.outcome == "ok" and event.label:
            if event.detail.get("family_revoked"):
                if family is not None and family.revoked_at is None:
                    family.revoked_at = event.time
                for other in lanes.values():
                    if other.family_id == event.family_id and other.issued_at is not None:
                        other.cut(event.time, "revoked", position)
            else:
                lane.cut(event.time, "revoked", position)
        elif event.kind is EventKind.REJECTED and event.check == "kid" and lane.token_type == "access_token":
            lane.cut(event.time, "key", position)
        elif event.kind is EventKind.EXPIRED and event.check == "absolute_expiry" and family is not None:
            family.absolute_end = lane.expires_at or event.time
        elif event.kind is EventKind.VERIFIED and event.detail.get("stateless"):
            bar_end, cause = lane.end()
            if cause == "revoked" and bar_end is not None and event.time >= bar_end and lane.expires_at is not None:
                lane.stateless_until = lane.expires_at

    for lane in lanes.values():
        if lane.cut_kind in RECORD_CUTS:
            family = families.get(lane.family_id) if lane.family_id else None
            lane.record_until = family.end() if family is not None else None

    key_periods = _key_periods(events)
    ordered, groups = _order_lanes(lanes, key_periods)
    return _Model(ordered, event_lanes, families, groups, key_periods, graces,
                  has_key_events=any(e.kind in _KEY_KINDS for e in events))


def _key_periods(events: Sequence[Event]) -> list[_KeyPeriod]:
    """Read when each signing key signed, and until when it verified, from the key events."""
    rotations = [e for e in events if e.kind is EventKind.KEY_ROTATED]
    if not rotations:
        return []
    periods: list[_KeyPeriod] = []
    first_time = events[0].time
    current: _KeyPeriod | None = None
    for rotation in rotations:
        previous_kid = rotation.detail.get("previous_kid")
        if current is None and previous_kid:
            current = _KeyPeriod(str(previous_kid), first_time, None, signing=True)
            periods.append(current)
        if current is not None:
            current.end = rotation.time
            periods.append(_KeyPeriod(current.kid, rotation.time, None, signing=False))
        current = _KeyPeriod(str(rotation.detail.get("kid")), rotation.time, None, signing=True)
        periods.append(current)

    kid_of_label = {e.label: e.detail.get("kid") for e in events if e.kind is EventKind.ISSUED and e.detail.get("kid")}
    removed_at = {e.detail.get("kid"): e.time for e in events if e.kind is EventKind.KEY_REMOVED}
    for period in periods:
        if period.signing:
            continue
        if period.kid in removed_at:
            period.end = removed_at[period.kid]
            period.removal_recorded = True
            continue
        # Logs from before removals were recorded: the key was gone by the first rejection naming it.
        period.end = next(
            (e.time for e in events if e.kind is EventKind.REJECTED and e.check == "kid"
             and kid_of_label.get(e.label) == period.kid and e.time >= period.start),
            None,
        )
    return periods


def _order_lanes(
    lanes: dict[str, _Lane], key_periods: list[_KeyPeriod]
) -> tuple[list[_Lane], list[tuple[str | None, list[int]]]]:
    """Group lanes by family in order of appearance, refresh tokens first; then an unknown token, then the keys."""
    family_order: list[str | None] = []
    for lane in lanes.values():
        if lane.is_key or lane.key == UNKNOWN_LANE:
            continue
        if lane.family_id not in family_order:
            family_order.append(lane.family_id)
    if None in family_order:
        family_order.remove(None)
        family_order.append(None)

    ordered: list[_Lane] = []
    groups: list[tuple[str | None, list[int]]] = []
    for family_id in family_order:
        members = [
            lane for lane in lanes.values()
            if lane.family_id == family_id and not lane.is_key and lane.key != UNKNOWN_LANE
        ]
        members.sort(key=lambda lane: lane.token_type != "refresh_token")
        groups.append((family_id, list(range(len(ordered), len(ordered) + len(members)))))
        ordered.extend(members)
    if UNKNOWN_LANE in lanes:
        groups.append((None, [len(ordered)]))
        ordered.append(lanes[UNKNOWN_LANE])

    kids = list(dict.fromkeys(period.kid for period in key_periods))
    for lane in lanes.values():
        if lane.is_key and lane.key not in kids:
            kids.append(lane.key)
    if kids:
        indices = []
        for kid in kids:
            indices.append(len(ordered))
            ordered.append(lanes.get(kid) or _Lane(kid, None, None, is_key=True))
        groups.append((KEY_FAMILY, indices))
    return ordered, groups


# -- text helpers ---------------------------------------------------------------


def _duration_text(delta: timedelta, *, coarse: bool = False) -> str:
    """Round a duration to the unit a reader thinks in: "30 s", "5 min", "3 h", "1 d 6 h", "15 d".

    Below ten minutes or ten hours the remainder is kept ("4 min 30 s"),
    unless ``coarse`` rounds it to the whole unit ("5 min").
    """
    seconds = max(0, round(delta.total_seconds()))
    if coarse and 60 <= seconds < 86400:
        unit = 60 if seconds < 3600 else 3600
        seconds = round(seconds / unit) * unit
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" if rest == 0 or minutes >= 10 else f"{minutes} min {rest} s"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h" if rest < 60 or hours >= 10 else f"{hours} h {rest // 60} min"
    days, rest = divmod(seconds, 86400)
    if days >= 2:
        return f"{round(seconds / 86400)} d"
    hours = round(rest / 3600)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _short_check(event: Event) -> str:
    return event.check or event.error or "rejected"
