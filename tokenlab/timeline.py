"""Timelines of an authority's event log: a plot, a text listing and a one-line summary.

:func:`plot_timeline` draws one lane per token, grouped by token family: each
token's lifetime as a bar, and every event as a marker on the lane of the token
it concerns. :func:`format_timeline` lists the same events as deterministic
text, one line per event, for notebook outputs that are compared byte for
byte. :func:`summarize` returns the one-line title of what happened.

Everything here only reads :class:`~tokenlab.events.Event` records; nothing
calls the engine. matplotlib is imported by the plotting functions only, so
the text timeline and the summary work without loading it, and ``import
tokenlab`` never does. Plots use the object API
(:class:`matplotlib.figure.Figure`), never pyplot, so they work with any
backend and leave no global figure state behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .clock import ensure_aware
from .errors import ConfigurationError
from .events import Event, EventKind, EventLog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["EVENT_STYLES", "format_timeline", "plot_timeline", "summarize"]

# -- look ---------------------------------------------------------------------

# The Okabe-Ito palette, which stays distinct under the common colour-vision deficiencies.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"

TEXT_COLOR = "#1A1A1A"
GRID_COLOR = "#D0D0D0"
FAMILY_BAND_COLOR = "#F0F0F0"
BACKGROUND = "white"

FONT_SIZE = 12
"""Points; every text in the figure is at least this large so that it reads on a projector."""
TITLE_SIZE = 15

ACCESS_BAR = {"color": SKY_BLUE, "hatch": None, "legend": "access token"}
REFRESH_BAR = {"color": ORANGE, "hatch": "///", "legend": "refresh token"}
BAR_HEIGHT = 0.5
"""Bar thickness as a fraction of one lane."""


@dataclass(frozen=True)
class MarkerStyle:
    """The drawing style of one event kind: a marker shape, a fill colour, a size in points and its legend text."""

    marker: str
    color: str
    size: float
    legend: str


EVENT_STYLES: dict[EventKind, MarkerStyle] = {
    EventKind.ISSUED: MarkerStyle("o", "white", 9, "issued"),
    EventKind.VERIFIED: MarkerStyle("s", BLUISH_GREEN, 9, "API call accepted"),
    EventKind.REJECTED: MarkerStyle("v", VERMILLION, 11, "rejected"),
    EventKind.EXPIRED: MarkerStyle("p", REDDISH_PURPLE, 11, "expired"),
    EventKind.REFRESHED: MarkerStyle("D", BLUE, 8, "refreshed"),
    EventKind.ROTATED: MarkerStyle(">", SKY_BLUE, 11, "rotated"),
    EventKind.GRACE_REUSE: MarkerStyle("P", YELLOW, 11, "grace retry"),
    EventKind.REUSE_DETECTED: MarkerStyle("*", VERMILLION, 22, "reuse detected"),
    EventKind.REVOKED: MarkerStyle("X", BLACK, 10, "revoked"),
    EventKind.INTROSPECTED: MarkerStyle("^", ORANGE, 10, "introspected"),
    EventKind.KEY_ROTATED: MarkerStyle("H", "white", 11, "key rotated"),
}
"""The marker of each event kind. Every kind has its own shape, so the plot also reads in grayscale.

A bar that ends early carries the marker of what ended it: ``rotated``,
``revoked``, or ``expired`` where its lifetime ran out.
"""

NOTE_GAP = 5
"""Points between the edge of a marker and its note."""
CLIP_NOTE_OFFSET = 4
"""Points between the right edge of the axes and a clipped bar's note."""
MAX_NOTE_SHARE = 0.75
"""The largest share of the axes width that the window grows to fit one run of markers and its note."""
MARKER_GAP = 1.5
"""Points between markers moved side by side."""

KEY_LANE = "signing key"
UNKNOWN_LANE = "unknown token"

# Figure geometry, in inches, for figures this module creates.
FIGURE_WIDTH = 12.0
LANE_HEIGHT = 0.5
TOP_MARGIN = 0.95
AXIS_LABEL_SPACE = 0.95
LEGEND_ROW_HEIGHT = 0.3
FAMILY_COLUMN = 0.55
RIGHT_MARGIN = 0.35

MAX_TICKS = 8
TICK_STEPS = (
    15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
)
"""Candidate spacings between time ticks, in seconds; the smallest that gives at most MAX_TICKS wins."""
MIN_WINDOW = timedelta(minutes=2)


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


@dataclass
class _Lane:
    """One token's row in the plot, with the lifetime read from the events."""

    key: str
    family_id: str | None
    token_type: str | None
    owner: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    cut_at: datetime | None = None
    cut_kind: EventKind | None = None

    def end(self) -> tuple[datetime | None, EventKind | None]:
        """Return when the bar ends and which marker ends it: a rotation, a revocation, or the expiry."""
        if self.cut_at is not None and (self.expires_at is None or self.cut_at < self.expires_at):
            return self.cut_at, self.cut_kind
        if self.expires_at is not None:
            return self.expires_at, EventKind.EXPIRED
        return None, None

    def cut(self, moment: datetime, kind: EventKind) -> None:
        """End the bar at ``moment`` unless it already ended earlier."""
        current_end, _ = self.end()
        if current_end is None or moment < current_end:
            self.cut_at, self.cut_kind = moment, kind


@dataclass
class _Model:
    """The lanes in drawing order and, for each event, the key of the lane it belongs on."""

    lanes: list[_Lane]
    event_lanes: list[str]
    families: list[tuple[str | None, list[int]]]


def _lane_key(event: Event) -> str:
    if event.kind is EventKind.KEY_ROTATED:
        return KEY_LANE
    return event.label or UNKNOWN_LANE


def _build_model(events: Sequence[Event]) -> _Model:
    """Work out the lanes, each token's lifetime and where it was cut short."""
    families_by_label: dict[str, str] = {}
    for event in events:
        if event.label and event.family_id:
            families_by_label.setdefault(event.label, event.family_id)

    lanes: dict[str, _Lane] = {}

    def lane_for(key: str, event: Event) -> _Lane:
        if key not in lanes:
            token_type = event.token_type
            if key in (KEY_LANE, UNKNOWN_LANE):
                token_type = None
            elif token_type is None:
                token_type = "access_token" if _is_access_label(key) else "refresh_token"
            lanes[key] = _Lane(key, families_by_label.get(key), token_type)
        return lanes[key]

    event_lanes = []
    for event in events:
        key = _lane_key(event)
        event_lanes.append(key)
        lane = lane_for(key, event)

        if event.kind is EventKind.ISSUED and event.label:
            lane.issued_at = event.issued_at or event.time
            lane.expires_at = event.expires_at
            lane.owner = event.actor
        elif event.kind is EventKind.REFRESHED and event.expires_at is not None and event.label:
            # Without rotation the same refresh token stays; a refresh restarts its idle clock.
            lane.expires_at = event.expires_at
        elif event.kind is EventKind.ROTATED and event.label:
            lane.cut(event.time, EventKind.ROTATED)
        elif event.kind is EventKind.GRACE_REUSE:
            superseded = event.detail.get("superseded")
            if superseded in lanes:
                lanes[superseded].cut(event.time, EventKind.ROTATED)
        elif event.kind is EventKind.REVOKED and event.outcome == "ok" and event.label:
            if event.detail.get("family_revoked"):
                for other in lanes.values():
                    if other.family_id == event.family_id and other.issued_at is not None:
                        other.cut(event.time, EventKind.REVOKED)
            else:
                lane.cut(event.time, EventKind.REVOKED)

    ordered, families = _order_lanes(lanes)
    return _Model(ordered, event_lanes, families)


def _order_lanes(lanes: dict[str, _Lane]) -> tuple[list[_Lane], list[tuple[str | None, list[int]]]]:
    """Group lanes by family in order of appearance: refresh tokens first, then access tokens."""
    family_order: list[str | None] = []
    for lane in lanes.values():
        if lane.key in (KEY_LANE, UNKNOWN_LANE):
            continue
        if lane.family_id not in family_order:
            family_order.append(lane.family_id)
    if None in family_order:
        family_order.remove(None)
        family_order.append(None)

    ordered: list[_Lane] = []
    families: list[tuple[str | None, list[int]]] = []
    for family_id in family_order:
        members = [lane for lane in lanes.values() if lane.family_id == family_id and lane.key not in (KEY_LANE, UNKNOWN_LANE)]
        members.sort(key=lambda lane: lane.token_type != "refresh_token")
        families.append((family_id, list(range(len(ordered), len(ordered) + len(members)))))
        ordered.extend(members)
    for key in (UNKNOWN_LANE, KEY_LANE):
        if key in lanes:
            families.append((None, [len(ordered)]))
            ordered.append(lanes[key])
    return ordered, families


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
    if early:
        return f"Clock skew: a server clock {_duration_text(skew)} ahead rejected {early[0].label} early ({_short_check(early[0])})"
    return f"Clock skew: a server clock runs {_duration_text(skew)} ahead of the authority's"


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


def _refresh_summary(items: Sequence[Event]) -> str | None:
    refreshes = [e for e in items if e.kind is EventKind.REFRESHED]
    access_expired = _first(items, EventKind.EXPIRED, token_type="access_token")
    if not refreshes:
        if access_expired is None:
            return None
        return f"{access_expired.label} expired: the API rejected it (exp); time to refresh"
    plural = "es" if len(refreshes) > 1 else ""
    rotations = [e for e in items if e.kind is EventKind.ROTATED]
    if rotations:
        chain = " → ".join([rotations[0].label or "?"] + [e.related or "?" for e in rotations])
        text = f"{len(refreshes)} refresh{plural} rotated {chain}"
    else:
        text = f"{len(refreshes)} refresh{plural} with {refreshes[0].label}, not rotated"
    if access_expired is not None:
        return f"{access_expired.label} expired; {text}"
    return _capitalized(text)


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

    The most telling story wins. In order: reuse detection, a logout or other
    family revocation, a grace-window retry, a signing key rotation, clock
    skew between servers, an expired refresh token, a revoked access token,
    refreshes or an expired access token, a rejected call. A log with none of
    these reads as a plain login, and an empty log gives "No events yet".
    """
    items = _event_list(events)
    if not items:
        return "No events yet"
    for summary in _SUMMARIES:
        text = summary(items)
        if text is not None:
            return text
    return _plain_summary(items)


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

    return event.outcome


def _event_subject(event: Event) -> str:
    """Name what an event concerns: the token's label, else "key" for a key rotation, else the token's fingerprint."""
    if event.label:
        return event.label
    if event.kind is EventKind.KEY_ROTATED:
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


# -- plot -----------------------------------------------------------------------------


@dataclass
class _Mark:
    """One marker to draw: an event, or the end of a bar (``event`` is None)."""

    lane: int
    time: datetime
    kind: EventKind
    order: float
    event: Event | None = None
    x: float = 0.0
    """``time`` in matplotlib date units, converted once."""

    def __post_init__(self) -> None:
        self.x = _to_num(self.time)


@dataclass
class _Placed:
    """A marker as drawn: the marks it stands for, where it sits and how large it is (points)."""

    marks: list[_Mark]
    x: float
    size: float

    @property
    def count(self) -> int:
        """Return how many events (not bar ends) this marker stands for."""
        return sum(1 for mark in self.marks if mark.event is not None)


def _to_num(moment: datetime) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(moment))


def _check_window(window: Any) -> tuple[datetime, datetime]:
    try:
        start, end = window
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"window must be a (start, end) pair of aware datetimes, not {window!r:.80}"
        ) from None
    start = ensure_aware(start, "window start")
    end = ensure_aware(end, "window end")
    if not start < end:
        raise ConfigurationError(
            f"window start {start.isoformat()} must lie before its end {end.isoformat()}; swap them or widen the window"
        )
    return start, end


def _default_window(events: Sequence[Event], now: datetime) -> tuple[datetime, datetime]:
    """Span the events and ``now``, with a margin either side."""
    times = [e.time for e in events]
    first, last = min(times), max(max(times), now)
    if last - first < MIN_WINDOW:
        last = first + MIN_WINDOW
    span = last - first
    return first - span * 0.04, last + span * 0.06


def _fit_window(
    start: datetime, end: datetime, marks: list[_Mark], notes: dict[int, str], axes_width: float
) -> tuple[datetime, datetime, list[list[_Placed]]]:
    """Move ``end`` right until every run of markers and its note fit right of their time; return the window and the runs.

    A run starting at time t that needs w points fits when (end - t) / (end -
    start) * axes_width >= w, which gives the smallest end for it. Markers are
    placed in points, so a new scale can merge or split runs; a few rounds
    settle it. A run needing more than MAX_NOTE_SHARE of the axes width is
    left out, and its note goes left of it.
    """
    for _ in range(3):
        units_per_point = (_to_num(end) - _to_num(start)) / max(axes_width, 1.0)
        runs = _layout(marks, units_per_point)
        needed = end
        for run in runs:
            width = (run[-1].x - run[0].x) / units_per_point + run[-1].size / 2
            note = _run_note(run, notes)
            if note:
                width += NOTE_GAP + _text_width(note) + 4
            share = width / max(axes_width, 1.0)
            if share <= MAX_NOTE_SHARE:
                needed = max(needed, start + (run[0].marks[0].time - start) / (1 - share))
        if needed <= end:
            return start, end, runs
        end = needed
    return start, end, _layout(marks, (_to_num(end) - _to_num(start)) / max(axes_width, 1.0))


def _time_ticks(start: datetime, end: datetime) -> tuple[list[float], list[str], str]:
    """Choose round tick times, their labels and the axis label, for the window ``start``-``end``."""
    span = (end - start).total_seconds()
    step = next((s for s in TICK_STEPS if span / s <= MAX_TICKS), TICK_STEPS[-1])
    base = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first = base + timedelta(seconds=((start - base).total_seconds() // step + 1) * step)

    several_dates = start.date() != end.date()
    ticks: list[datetime] = []
    moment = first
    while moment <= end:
        ticks.append(moment)
        moment += timedelta(seconds=step)

    labels = []
    previous_date = None
    for moment in ticks:
        if step >= 86400:
            text = f"{moment.day} {moment:%b}"
        else:
            text = moment.strftime("%H:%M:%S" if step < 60 else "%H:%M")
            if several_dates and moment.date() != previous_date:
                text += f"\n{moment.day} {moment:%b}"
        previous_date = moment.date()
        labels.append(text)

    if several_dates:
        axis_label = f"simulated time (UTC), {start.day} {start:%b} to {end.day} {end:%b %Y}"
    else:
        axis_label = f"simulated time (UTC), {start:%a} {start.day} {start:%b %Y}"
    return [_to_num(t) for t in ticks], labels, axis_label


def _mark_note(mark: _Mark, owners: dict[int, str | None]) -> str | None:
    """Return the short text shown next to a marker, or None.

    Rejections show the failed check. An actor other than the one who
    received the lane's token is named, so an attacker's or a second tab's
    actions stand out.
    """
    event = mark.event
    if event is None:
        return None
    owner = owners.get(mark.lane)
    other_actor = event.actor if event.actor and event.actor != owner else None
    kind = event.kind
    if kind in (EventKind.REJECTED, EventKind.EXPIRED):
        note = _short_check(event)
        return f"{note} ({other_actor})" if other_actor else note
    if kind is EventKind.REUSE_DETECTED:
        return f"replayed by {event.actor}" if event.actor else "replayed"
    if kind is EventKind.REVOKED:
        if event.outcome != "ok":
            return "no effect"
        if event.detail.get("family_revoked"):
            return f"family {event.family_id} revoked"
        return f"revoked by {other_actor}" if other_actor else None
    if kind is EventKind.VERIFIED:
        note = "stateless" if event.detail.get("stateless") else None
        if other_actor:
            note = f"{note} ({other_actor})" if note else other_actor
        return note
    if kind is EventKind.GRACE_REUSE:
        return "grace retry"  # The refreshed event just before it names the actor.
    if kind is EventKind.INTROSPECTED:
        return event.outcome
    if kind is EventKind.REFRESHED and other_actor:
        return f"by {other_actor}"
    return None


def _layout(marks: list[_Mark], units_per_point: float) -> list[list[_Placed]]:
    """Place the markers of each lane left to right so that none overlaps the one before; return runs of them.

    A marker that would overlap the previous one on its lane moves right until
    it touches it, so events at (nearly) the same time read in the order they
    happened. An overlapping marker of the same kind as the previous one
    merges into it and the note shows a count. A run is a sequence of markers
    that touch; it gets one note.
    """
    by_lane: dict[int, list[_Mark]] = {}
    for mark in marks:
        by_lane.setdefault(mark.lane, []).append(mark)

    runs: list[list[_Placed]] = []
    for lane_marks in by_lane.values():
        lane_marks.sort(key=lambda m: (m.time, m.order))
        last: _Placed | None = None
        for mark in lane_marks:
            size = EVENT_STYLES[mark.kind].size
            x = mark.x
            if last is not None:
                earliest = last.x + ((last.size + size) / 2 + MARKER_GAP) * units_per_point
                if x < earliest:
                    if last.marks[0].kind is mark.kind:
                        last.marks.append(mark)
                        continue
                    last = _Placed([mark], earliest, size)
                    runs[-1].append(last)
                    continue
            last = _Placed([mark], x, size)
            runs.append([last])
    return runs


def _run_note(run: list[_Placed], notes: dict[int, str]) -> str:
    """Join the notes of a run of markers; a note that repeats within the run gets a count ("exp ×2")."""
    counts: dict[str, int] = {}
    for placed in run:
        noted = 0
        for mark in placed.marks:
            if id(mark) in notes:
                counts[notes[id(mark)]] = counts.get(notes[id(mark)], 0) + 1
                noted += 1
        if placed.count - noted > 1:
            counts[f"×{placed.count - noted}"] = 1
    return ", ".join(f"{text} ×{count}" if count > 1 else text for text, count in counts.items())


def _text_width(text: str) -> float:
    """Estimate the width in points of ``text`` at the base font size (DejaVu Sans averages 0.6 em a character)."""
    return len(text) * FONT_SIZE * 0.6


def _legend_columns(labels: list[str], width: float) -> int:
    """Return how many legend columns fit in ``width`` points, at most 5."""
    column = FONT_SIZE * (1.6 + 0.8 + 1.4) + max(_text_width(label) for label in labels)
    return max(1, min(5, int(width // column)))


def _new_figure(lane_count: int, label_width: float, legend_rows: int, right: float) -> tuple[Figure, Axes, float]:
    """Create a white figure sized for ``lane_count`` lanes; return it, its axes and the axes height in inches.

    ``label_width`` and ``right`` are the inches to keep left of the axes for
    lane labels and right of it for notes on clipped bars.
    """
    from matplotlib.figure import Figure

    axes_height = max(lane_count, 2) * LANE_HEIGHT + 0.3
    bottom = AXIS_LABEL_SPACE + legend_rows * LEGEND_ROW_HEIGHT + 0.2
    height = TOP_MARGIN + axes_height + bottom
    left = FAMILY_COLUMN + label_width
    figure = Figure(figsize=(FIGURE_WIDTH, height), facecolor=BACKGROUND)
    ax = figure.add_axes((
        left / FIGURE_WIDTH,
        bottom / height,
        (FIGURE_WIDTH - left - right) / FIGURE_WIDTH,
        axes_height / height,
    ))
    return figure, ax, axes_height


def _prepare_background(ax: Axes) -> None:
    """Give the plot a white background, so its dark text reads under light and dark notebook themes."""
    from matplotlib.colors import to_rgba

    ax.set_facecolor(BACKGROUND)
    red, green, blue, alpha = to_rgba(ax.figure.get_facecolor())
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    if alpha < 1 or luminance < 0.6:
        ax.figure.set_facecolor(BACKGROUND)


def _style_axes(ax: Axes) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(TEXT_COLOR)
    ax.tick_params(axis="both", labelsize=FONT_SIZE, colors=TEXT_COLOR, length=0, pad=6)
    ax.tick_params(axis="x", length=5)


def _plot_empty(ax: Axes, title: str | None) -> Axes:
    _style_axes(ax)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.text(
        0.5, 0.5, "No events yet: run a step, or issue a token, to see the timeline",
        transform=ax.transAxes, ha="center", va="center", fontsize=FONT_SIZE + 1, color=TEXT_COLOR, gid="empty",
    )
    ax.set_xlabel("simulated time (UTC)", fontsize=FONT_SIZE, color=TEXT_COLOR)
    ax.set_title(title if title is not None else "No events yet", fontsize=TITLE_SIZE, color=TEXT_COLOR, pad=12)
    return ax


def plot_timeline(
    events: Iterable[Event],
    ax: Axes | None = None,
    now: datetime | None = None,
    *,
    title: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> Axes:
    """Draw the events as a timeline of token lifetimes and return the Axes.

    Each token gets a lane (``AT1``, ``RT1``), grouped by family, refresh
    tokens first. A bar runs from the token's issue to its expiry: access
    tokens as plain blue bars, refresh tokens as hatched orange bars. A
    rotation or a revocation of the token or its family cuts a bar short, and
    the bar ends with that event's marker. A bar that ran out ends with the
    expired marker. Each event is a marker on its token's lane, and events at the
    same moment sit side by side in the order they happened. Rejections carry
    the failed check ("exp", "revocation", "scope"). A dashed line marks
    ``now`` (by default the last event's time) and the time after it is
    shaded as the future.

    The default window runs from the first event to ``now`` or the last event,
    whichever is later, with a margin and room for the notes. Bars running
    past it are clipped at the right edge with a note such as "expires in
    15 d". ``window`` sets the visible span instead; ``title`` replaces the
    :func:`summarize` title.

    Without ``ax`` a new :class:`~matplotlib.figure.Figure` with a white
    background is created (use ``ax.figure`` to save or display it). With an
    ``ax``, its figure's background is set to white if it is transparent or
    dark, so that the dark text stays readable. ``events`` is only read.
    """
    items = _event_list(events)
    if now is not None:
        now = ensure_aware(now, "now")
    if window is not None:
        window = _check_window(window)

    if not items:
        if ax is None:
            _, ax, _ = _new_figure(4, 0.6, 0, RIGHT_MARGIN)
        _prepare_background(ax)
        return _plot_empty(ax, title)

    model = _build_model(items)
    now = now if now is not None else items[-1].time
    lanes = model.lanes
    marks = _collect_marks(items, model, now)
    owners = {index: lane.owner or _family_owner(lanes, lane) for index, lane in enumerate(lanes)}
    notes = {id(mark): note for mark in marks if (note := _mark_note(mark, owners)) is not None}

    present_kinds = {mark.kind for mark in marks}
    legend_labels = [REFRESH_BAR["legend"], ACCESS_BAR["legend"]]
    legend_labels += [style.legend for kind, style in EVENT_STYLES.items() if kind in present_kinds]

    created = ax is None
    if ax is None:
        rough_end = window[1] if window is not None else _default_window(items, now)[1]
        clip_texts = [_clip_text(lane, now) for _, lane in _lanes_running_past(lanes, rough_end)]
        ax = _sized_axes(lanes, legend_labels, clip_texts)
    figure_width, figure_height = ax.figure.get_size_inches()
    axes_width = ax.get_position().width * figure_width * 72
    axes_height = ax.get_position().height * figure_height

    if window is None:
        start, end, runs = _fit_window(*_default_window(items, now), marks, notes, axes_width)
    else:
        start, end = window
        runs = _layout(marks, (_to_num(end) - _to_num(start)) / max(axes_width, 1.0))
    x_start, x_end = _to_num(start), _to_num(end)

    _prepare_background(ax)
    _style_axes(ax)
    _draw_family_bands(ax, model)
    _draw_bars(ax, lanes)
    _draw_marks(ax, runs)
    _draw_notes(ax, runs, notes, x_start, x_end, (x_end - x_start) / max(axes_width, 1.0))
    _draw_clip_notes(ax, _lanes_running_past(lanes, end), now)
    _draw_key_rotations(ax, items)
    _draw_now(ax, now, start, end)
    _label_axes(ax, lanes, start, end, title if title is not None else summarize(items))
    columns = _legend_columns(legend_labels, axes_width if not created else FIGURE_WIDTH * 72)
    _draw_legend(ax, columns, axes_height, centre_on_figure=created)
    return ax


def _lanes_running_past(lanes: list[_Lane], moment: datetime) -> list[tuple[int, _Lane]]:
    """Return the lanes, with their index, whose bar ends after ``moment``."""
    found = []
    for index, lane in enumerate(lanes):
        bar_end, _ = lane.end()
        if lane.issued_at is not None and bar_end is not None and bar_end > moment:
            found.append((index, lane))
    return found


def _sized_axes(lanes: list[_Lane], legend_labels: list[str], clip_texts: list[str]) -> Axes:
    """Create the figure and axes for ``lanes``, with room for the lane labels, the clip notes and the legend."""
    right = max([RIGHT_MARGIN] + [(_text_width(text) + CLIP_NOTE_OFFSET + 8) / 72 for text in clip_texts])
    label_width = 0.15 + 0.11 * max(len(lane.key) for lane in lanes)
    columns = _legend_columns(legend_labels, FIGURE_WIDTH * 72)
    rows = -(-len(legend_labels) // columns)
    _, ax, _ = _new_figure(len(lanes), label_width, rows, right)
    return ax


def _label_axes(ax: Axes, lanes: list[_Lane], start: datetime, end: datetime, title: str) -> None:
    """Set the limits, the lane and time ticks, the grid, the time axis label and the title."""
    ax.set_xlim(_to_num(start), _to_num(end))
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_yticks(range(len(lanes)), [lane.key for lane in lanes])
    ticks, tick_labels, axis_label = _time_ticks(start, end)
    ax.set_xticks(ticks, tick_labels)
    ax.grid(axis="x", color=GRID_COLOR, linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    ax.set_xlabel(axis_label, fontsize=FONT_SIZE, color=TEXT_COLOR, labelpad=8)
    ax.set_title(title, fontsize=TITLE_SIZE, color=TEXT_COLOR, pad=28)


def _family_owner(lanes: list[_Lane], lane: _Lane) -> str | None:
    return next((other.owner for other in lanes if other.family_id == lane.family_id and other.owner), None)


def _draw_family_bands(ax: Axes, model: _Model) -> None:
    """Shade alternate families, separate them with a line and name each one left of its lane labels."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    label_points = 8 + 7.5 * max(len(lane.key) for lane in model.lanes)
    shift = ScaledTranslation(-(label_points + 6) / 72, 0, ax.figure.dpi_scale_trans)
    transform = blended_transform_factory(ax.transAxes, ax.transData) + shift
    for number, (family_id, indices) in enumerate(model.families):
        top, bottom = indices[0] - 0.5, indices[-1] + 0.5
        if number % 2 == 1:
            ax.axhspan(top, bottom, facecolor=FAMILY_BAND_COLOR, edgecolor="none", zorder=0.5)
        if number > 0:
            ax.axhline(top, color="#9A9A9A", linewidth=1, zorder=1)
        if family_id is not None:
            ax.text(
                0, (top + bottom) / 2, family_id, transform=transform, ha="right", va="center", fontsize=FONT_SIZE,
                fontweight="bold", color=TEXT_COLOR, gid=f"family:{family_id}", clip_on=False,
            )


def _draw_bars(ax: Axes, lanes: list[_Lane]) -> None:
    """Draw each token's lifetime, one horizontal bar call per token type."""
    for token_type, look in (("refresh_token", REFRESH_BAR), ("access_token", ACCESS_BAR)):
        rows = []
        for index, lane in enumerate(lanes):
            bar_end, _ = lane.end()
            if lane.token_type != token_type or lane.issued_at is None or bar_end is None:
                continue
            left = _to_num(lane.issued_at)
            rows.append((index, left, _to_num(bar_end) - left, lane.key))
        if not rows:
            continue
        bars = ax.barh(
            [row[0] for row in rows], [row[2] for row in rows], left=[row[1] for row in rows], height=BAR_HEIGHT,
            color=look["color"], edgecolor="#333333", linewidth=0.8, hatch=look["hatch"], zorder=2,
            label=look["legend"],
        )
        for patch, row in zip(bars.patches, rows):
            patch.set_gid(f"bar:{row[3]}")


def _collect_marks(items: list[Event], model: _Model, now: datetime) -> list[_Mark]:
    """List a marker for each event, plus one at each bar end that no event of the same kind already marks.

    A bar end that lies after ``now`` gets no marker: that token has not ended yet.
    """
    lane_index = {lane.key: index for index, lane in enumerate(model.lanes)}
    marks = [
        _Mark(lane_index[key], event.time, event.kind, float(order), event)
        for order, (event, key) in enumerate(zip(items, model.event_lanes))
    ]
    occupied = {(m.lane, m.time, m.kind) for m in marks}
    for index, lane in enumerate(model.lanes):
        bar_end, end_kind = lane.end()
        if lane.issued_at is None or bar_end is None or end_kind is None or bar_end > now:
            continue
        if (index, bar_end, end_kind) in occupied:
            continue
        later = next((m.order for m in marks if m.time >= bar_end), float(len(items)))
        marks.append(_Mark(index, bar_end, end_kind, later - 0.5))
    return marks


def _draw_marks(ax: Axes, runs: list[list[_Placed]]) -> None:
    """Draw one Line2D per event kind, with every marker of that kind."""
    by_kind: dict[EventKind, tuple[list[float], list[float]]] = {}
    for run in runs:
        for placed in run:
            xs, ys = by_kind.setdefault(placed.marks[0].kind, ([], []))
            xs.append(placed.x)
            ys.append(placed.marks[0].lane)
    for kind, style in EVENT_STYLES.items():
        if kind not in by_kind:
            continue
        xs, ys = by_kind[kind]
        prominent = kind is EventKind.REUSE_DETECTED
        ax.plot(
            xs, ys, linestyle="none", marker=style.marker, markersize=style.size, markerfacecolor=style.color,
            markeredgecolor=BLACK, markeredgewidth=1.5 if prominent else 1.2, zorder=6 if prominent else 5,
            label=style.legend, gid=f"mark:{kind.value}",
        )


def _draw_notes(
    ax: Axes, runs: list[list[_Placed]], notes: dict[int, str], x_start: float, x_end: float, units_per_point: float
) -> None:
    """Write one note beside each run of markers that has any: right of it, or left when only the left has room.

    The room on each side runs to the next or previous run of markers on the
    same lane (and that run's note, if it went right), or to the edge of the
    axes. When neither side has room the note takes the wider one.

    NOTE: on an axes narrower than the default figure's, a long note can then
    run under the next run's markers; the markers stay on top.
    """
    from matplotlib.transforms import ScaledTranslation

    previous_end: dict[int, float] = {}
    for index, run in enumerate(runs):
        lane = run[0].marks[0].lane
        following = runs[index + 1] if index + 1 < len(runs) and runs[index + 1][0].marks[0].lane == lane else None
        note = _run_note(run, notes)
        if not note:
            previous_end[lane] = run[-1].x + run[-1].size / 2 * units_per_point
            continue

        first, last = run[0], run[-1]
        gap_right = last.size / 2 + NOTE_GAP
        gap_left = first.size / 2 + NOTE_GAP
        right_limit = following[0].x - following[0].size / 2 * units_per_point if following else x_end
        left_limit = previous_end.get(lane, x_start)
        room_right = (right_limit - last.x) / units_per_point - gap_right
        room_left = (first.x - left_limit) / units_per_point - gap_left
        width = _text_width(note)
        goes_left = room_right < width and room_left > room_right

        shift = ScaledTranslation((-gap_left if goes_left else gap_right) / 72, 0, ax.figure.dpi_scale_trans)
        ax.text(
            first.x if goes_left else last.x, lane, note, transform=ax.transData + shift,
            ha="right" if goes_left else "left", va="center", fontsize=FONT_SIZE, color=TEXT_COLOR,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=4.6, gid="note",
        )
        previous_end[lane] = last.x + (last.size / 2 if goes_left else gap_right + width) * units_per_point


def _clip_text(lane: _Lane, now: datetime) -> str:
    """Return the note for a bar that runs past the right edge: when it ends, counted from ``now``."""
    bar_end, _ = lane.end()
    assert bar_end is not None
    if bar_end > now:
        return f"→ expires in {_duration_text(bar_end - now, coarse=True)}"
    return f"→ ended {bar_end.day} {bar_end:%b %H:%M}"


def _draw_clip_notes(ax: Axes, clipped: list[tuple[int, _Lane]], now: datetime) -> None:
    """Write "expires in 15 d" right of the axes for each bar that runs past the window."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    shift = ScaledTranslation(CLIP_NOTE_OFFSET / 72, 0, ax.figure.dpi_scale_trans)
    transform = blended_transform_factory(ax.transAxes, ax.transData) + shift
    for index, lane in clipped:
        text = _clip_text(lane, now)
        ax.text(
            1, index, text, transform=transform, ha="left", va="center", fontsize=FONT_SIZE, color=TEXT_COLOR,
            gid=f"clip:{lane.key}", clip_on=False,
        )


def _draw_key_rotations(ax: Axes, items: list[Event]) -> None:
    for event in items:
        if event.kind is EventKind.KEY_ROTATED:
            ax.axvline(_to_num(event.time), color="#555555", linestyle=":", linewidth=1.5, zorder=1.5, gid="key-rotation")


def _draw_now(ax: Axes, now: datetime, start: datetime, end: datetime) -> None:
    """Draw the dashed "now" line with its label above the axes, and shade the future after it."""
    from matplotlib.transforms import blended_transform_factory

    if not start <= now <= end:
        return
    x = _to_num(now)
    ax.axvspan(x, _to_num(end), facecolor="white", alpha=0.55, edgecolor="none", zorder=2.5, gid="future")
    ax.axvline(x, color=TEXT_COLOR, linestyle=(0, (5, 3)), linewidth=2, zorder=4.5, gid="now", label="now")
    ax.text(
        x, 1.01, f"now {now:%H:%M:%S}", transform=blended_transform_factory(ax.transData, ax.transAxes),
        ha="center", va="bottom", fontsize=FONT_SIZE, fontweight="bold", color=TEXT_COLOR, gid="now-label",
        clip_on=False,
    )


def _draw_legend(ax: Axes, columns: int, axes_height: float, *, centre_on_figure: bool) -> None:
    """Put a legend below the time axis: the two kinds of bar, then the kinds of marker drawn."""
    handles: list[Any] = [
        container for container in ax.containers if container.get_label() in (REFRESH_BAR["legend"], ACCESS_BAR["legend"])
    ]
    handles += [line for line in ax.lines if str(line.get_gid()).startswith("mark:")]
    below = -(AXIS_LABEL_SPACE - 0.05) / max(axes_height, 0.5)
    anchor_x = 0.5
    if centre_on_figure:
        position = ax.get_position()
        anchor_x = (0.5 - position.x0) / position.width
    legend = ax.legend(
        handles=handles, labels=[h.get_label() for h in handles], loc="upper center",
        bbox_to_anchor=(anchor_x, below), ncol=columns, frameon=False, fontsize=FONT_SIZE,
        handlelength=1.6, columnspacing=1.4, labelcolor=TEXT_COLOR, borderaxespad=0,
    )
    legend.set_gid("legend")
