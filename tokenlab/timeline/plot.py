"""Draw the timeline with matplotlib, which is imported only when a plot is drawn."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..clock import ensure_aware
from ..errors import ConfigurationError
from ..events import Event, EventKind
from .style import (
    ACCESS_BAR, AXIS_LABEL_SPACE, BACKGROUND, BAR_POINTS, BLACK, BLUE, CLIP_NOTE_OFFSET,
    CLUSTER_POINTS, COLUMN_GAP, FIGURE_WIDTH, FONT_SIZE, FUTURE_LEGEND, FUTURE_SHARE, GRACE_LEGEND,
    GRID_COLOR, KEY_FAMILY, KEY_SIGNING, KEY_VERIFYING, LANE_EDGE_COLOR, LANE_POINTS,
    LEGEND_ROW_HEIGHT, MARKER_STYLES, MAX_NOTE_SHARE, MAX_TICKS, MIN_EVENT_SHARE, MIN_WINDOW,
    MUTED_TEXT_COLOR, NOTE_GAP, RECORD_COLOR, RECORD_CUTS, RECORD_LEGEND, RECORD_POINTS,
    REFRESH_BAR, RIGHT_MARGIN, SEPARATOR_COLOR, SERVER_ACTORS, SLOT_POINTS, SPAN_ROW, STATELESS_BAR,
    TEXT_COLOR, TICK_STEPS, TITLE_LINE, TITLE_SIZE, TOP_MARGIN, YELLOW, _STYLE_OF_KIND,
)
from .model import (
    _Family, _Lane, _Model, _build_model, _duration_text, _event_list, _grace_length, _server_time,
)
from .summary import summarize

if TYPE_CHECKING:
    from matplotlib.axes import Axes


# -- plot: markers and their notes ----------------------------------------------


@dataclass
class _Mark:
    """One marker to draw: the events it stands for (none for a bar cut by a family revocation) and its note.

    ``text`` is the note as drawn, with a count, a step number and a time
    added by the layout. The layout also picks the marker's ``row`` in its
    lane and whether the note ``goes_left``. ``y`` is set once the lanes
    have their heights.
    """

    lane: int
    time: datetime
    style: str
    order: float
    events: list[Event] = field(default_factory=list)
    note: str | None = None
    count: int = 1
    x: float = 0.0
    y: float = 0.0
    row: int = 0
    goes_left: bool = False
    text: str | None = None

    def __post_init__(self) -> None:
        self.x = _to_num(self.time)

    @property
    def size(self) -> float:
        return MARKER_STYLES[self.style].size


def _to_num(moment: datetime) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(moment))


def _clock_text(moment: datetime) -> str:
    """Return ``moment`` as UTC HH:MM:SS, with milliseconds only when there are any."""
    moment = moment.astimezone(timezone.utc)
    text = f"{moment:%H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text


def _who(event: Event) -> str:
    return f"{event.actor}: " if event.actor else ""


def _server_qualifiers(event: Event, lane: _Lane) -> list[str]:
    """List what set the responding resource server apart: a stateless check, or a clock that differs from the true time."""
    qualifiers = []
    if event.detail.get("stateless"):
        qualifiers.append("stateless API")
    reading = _server_time(event)
    if reading is not None:
        qualifiers.append(f"API clock reads {_clock_text(reading)}")
        if event.kind is EventKind.VERIFIED and lane.expires_at is not None and reading >= lane.expires_at:
            qualifiers.append("within leeway")
    return qualifiers


def _with_qualifiers(text: str, qualifiers: list[str]) -> str:
    return f"{text} ({', '.join(qualifiers)})" if qualifiers else text


ACCESS_REASONS = {"exp": "exp", "revocation": "revoked", "scope": "scope", "signature": "bad signature"}
"""The words a rejected API call's note uses for each failed check; other checks keep their name."""


def _rejection_note(event: Event, lane: _Lane, family: _Family | None) -> str:
    """Describe a rejected API call ("tab A: 401 exp") or a refused refresh ("user: refresh refused: revoked")."""
    check = event.check or event.error or "rejected"
    if event.token_type == "access_token" or event.error in ("invalid_token", "insufficient_scope"):
        status = "403" if event.error == "insufficient_scope" else "401"
        reason = ACCESS_REASONS.get(check, check)
        if check == "kid":
            reason = f"unknown kid {lane.kid}" if lane.kid else "unknown kid"
        return _with_qualifiers(f"{_who(event)}{status} {reason}", _server_qualifiers(event, lane))

    if check == "reuse":
        reason = f"{event.label} already rotated"
    elif check == "revocation":
        reason = "revoked"
    elif check == "idle_expiry" and lane.expires_at is not None and lane.issued_at is not None:
        reason = f"idle expiry ({_duration_text(lane.expires_at - lane.issued_at)} unused)"
    elif check == "absolute_expiry" and family is not None and family.absolute_end and family.started_at:
        reason = f"absolute expiry ({_duration_text(family.absolute_end - family.started_at)} after login)"
    elif check in ("exp", "idle_expiry", "absolute_expiry"):
        reason = check.replace("_", " ")
    else:
        reason = check
    return f"{_who(event)}refresh refused: {reason}"


def _inactive_reason(event: Event) -> str:
    """Name why introspection found a token inactive, from the authority's reason."""
    reason = (event.reason or "").lower()
    for word in ("superseded", "rotated", "revoked", "expired"):
        if word in reason:
            return word
    if "unknown" in reason or event.label is None:
        return "unknown token"
    return ""


def _issued_note(event: Event, lane: _Lane, model: _Model, family: _Family | None) -> str | None:
    """Note an access token's signing key when keys rotate, and a login that starts a later family.

    A family is a second login ("logs in again") only when an earlier family
    belongs to the same subject; another user's first login is just a login.
    """
    if lane.token_type == "access_token" and model.has_key_events and lane.kid:
        return f"signed with {lane.kid}"
    if lane.token_type != "refresh_token" or family is None or event.detail.get("parent"):
        return None
    earlier = list(model.families.values())
    earlier = earlier[: earlier.index(family)] if family in earlier else []
    if not earlier:
        return None
    if any(other.subject == family.subject for other in earlier):
        return f"{_who(event)}logs in again → family {family.family_id}"
    who = family.subject or "another user"
    return f"{who} logs in → family {family.family_id}"


def _refresh_note(event: Event, partner: Event | None) -> str:
    """Describe a refresh and the rotation or grace retry merged into it: "user: refresh → AT2 + RT2"."""
    new_tokens = " + ".join(label for label in (event.related, partner.related if partner else None) if label)
    if partner is not None and partner.kind is EventKind.GRACE_REUSE:
        length = _grace_length(partner)
        window = f" in {_duration_text(length)} grace window" if length else " in grace window"
        return f"{_who(event)}retry{window} → {new_tokens}"
    return f"{_who(event)}refresh → {new_tokens}"


def _revocation_note(event: Event) -> str:
    if event.outcome != "ok":
        return f"{_who(event)}revoke: no effect"
    if event.detail.get("family_revoked"):
        return f"{_who(event)}revoke → {event.family_id} revoked"
    if event.expires_at is not None:
        return f"{_who(event)}revoke → deny-list until {_clock_text(event.expires_at)}"
    return f"{_who(event)}revoke"


def _introspection_note(event: Event) -> str:
    if event.outcome == "active":
        return f"{_who(event)}introspection → active"
    reason = _inactive_reason(event)
    return f"{_who(event)}introspection → inactive" + (f" ({reason})" if reason else "")


def _event_note(event: Event, lane: _Lane, model: _Model, partner: Event | None) -> str | None:
    """Return the note beside an event's marker: who, what came of it, and why. ``partner`` is the event merged into it."""
    family = model.families.get(lane.family_id) if lane.family_id else None
    kind = event.kind
    if kind is EventKind.ISSUED:
        return _issued_note(event, lane, model, family)
    if kind is EventKind.VERIFIED:
        return _with_qualifiers(f"{_who(event)}200 OK", _server_qualifiers(event, lane))
    if kind in (EventKind.REJECTED, EventKind.EXPIRED):
        return _rejection_note(event, lane, family)

    if kind is EventKind.REUSE_DETECTED:
        revoked_family = (partner.family_id if partner else None) or event.family_id
        return f"{_who(event)}reuse → {revoked_family} revoked" if revoked_family else f"{_who(event)}reuse detected"
    if kind is EventKind.REFRESHED:
        return _refresh_note(event, partner)
    if kind is EventKind.ROTATED:
        return f"{_who(event)}rotated → {event.related}"
    if kind is EventKind.GRACE_REUSE:
        return f"{_who(event)}grace retry → {event.related}"

    if kind is EventKind.REVOKED:
        return _revocation_note(event)
    if kind is EventKind.INTROSPECTED:
        return _introspection_note(event)
    if kind is EventKind.KEY_ROTATED:
        return f"{_who(event)}new signing key"
    if kind is EventKind.KEY_REMOVED:
        return f"{_who(event)}key removed"
    return None


def _partner_index(items: list[Event], position: int, kinds: tuple[EventKind, ...]) -> int | None:
    """Find the event right after ``items[position]``, at the same time and on the same token, whose kind is in ``kinds``."""
    event = items[position]
    for index in range(position + 1, min(position + 4, len(items))):
        other = items[index]
        if other.time != event.time or other.label != event.label:
            return None
        if other.kind in kinds:
            return index
    return None


def _collect_marks(items: list[Event], model: _Model) -> list[_Mark]:
    """List one marker per outcome, in the order of the events, plus an ``X`` where a family revocation cut a bar.

    A refresh and its rotation (or grace retry) share one marker, and so do
    a detected reuse and the family revocation it caused. Identical markers
    in a row at one moment merge into one with a count.
    """
    lane_index = model.lane_index()
    marks: list[_Mark] = []
    merged: set[int] = set()
    for position, (event, key) in enumerate(zip(items, model.event_lanes)):
        if position in merged:
            continue
        lane_number = lane_index[key]
        lane = model.lanes[lane_number]
        partner_at = None
        if event.kind is EventKind.REFRESHED:
            partner_at = _partner_index(items, position, (EventKind.ROTATED, EventKind.GRACE_REUSE))
        elif event.kind is EventKind.REUSE_DETECTED:
            partner_at = _partner_index(items, position, (EventKind.REVOKED,))
        partner = items[partner_at] if partner_at is not None else None
        group = [event]
        if partner_at is not None:
            merged.add(partner_at)
            group.append(items[partner_at])

        note = _event_note(event, lane, model, partner)
        marks.append(_Mark(lane_number, event.time, _STYLE_OF_KIND[event.kind], float(position), group, note))

        grace = event if event.kind is EventKind.GRACE_REUSE else partner
        if grace is not None and grace.kind is EventKind.GRACE_REUSE and grace.detail.get("superseded") in lane_index:
            marks.append(_Mark(
                lane_index[grace.detail["superseded"]], grace.time, "superseded", position + 0.5, [grace],
                f"superseded by {grace.related}",
            ))

    for index, lane in enumerate(model.lanes):
        bar_end, cause = lane.end()
        if cause != "revoked" or bar_end is None:
            continue
        if any(m.lane == index and m.time == bar_end and m.style == "revoked" for m in marks):
            continue
        marks.append(_Mark(index, bar_end, "revoked", lane.cut_order))
    return _merge_repeats(marks)


def _merge_repeats(marks: list[_Mark]) -> list[_Mark]:
    """Merge markers of one style, with one note, that follow each other on a lane at the same moment."""
    marks = sorted(marks, key=lambda m: (m.lane, m.time, m.order))
    result: list[_Mark] = []
    for mark in marks:
        last = result[-1] if result else None
        if (
            last is not None and last.lane == mark.lane and last.time == mark.time and last.style == mark.style
            and last.note == mark.note and last.events and mark.events
        ):
            last.count += 1
            last.events.extend(mark.events)
            continue
        result.append(mark)
    result.sort(key=lambda m: m.order)
    return result


def _base_text(mark: _Mark) -> str | None:
    """Return the note of a marker with its count: "user: 200 OK (3 calls)", or "×2" for a marker without a note."""
    if mark.count > 1:
        calls = mark.style in ("verified", "rejected") and mark.events[0].token_type == "access_token"
        count = f"({mark.count} calls)" if calls else f"×{mark.count}"
        return f"{mark.note} {count}" if mark.note else count
    return mark.note


# -- plot: layout -----------------------------------------------------------------


def _moment_text(moment: datetime, first: datetime, with_milliseconds: bool) -> str:
    """Return the first time of a moment as a clock time, and later ones as an offset from it: "+20 ms", "+1.02 s"."""
    if moment == first:
        text = f"{first.astimezone(timezone.utc):%H:%M:%S}"
        return text + f".{first.microsecond // 1000:03d}" if with_milliseconds else text
    seconds = (moment - first).total_seconds()
    if seconds < 1:
        return f"+{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"+{seconds:.3g} s"
    return f"+{_duration_text(moment - first)}"


def _number_notes(marks: list[_Mark], units_per_point: float) -> None:
    """Set each marker's note as drawn; number all notes in event order when any moment has two or more.

    A moment is a run of noted markers, on any lanes, whose centres lie
    closer than CLUSTER_POINTS. Numbers make the order of a crowded moment
    readable ("1. tab A: 401 exp"). When a moment spans several times, its
    notes also get their time: the first as a clock time, later ones as an
    offset ("+20 ms").
    """
    noted = sorted((mark for mark in marks if _base_text(mark)), key=lambda m: (m.x, m.order))
    moments: list[list[_Mark]] = []
    for mark in noted:
        if moments and (mark.x - moments[-1][-1].x) / units_per_point < CLUSTER_POINTS:
            moments[-1].append(mark)
        else:
            moments.append([mark])

    for mark in marks:
        mark.text = _base_text(mark)
    for moment in moments:
        times = sorted({mark.time for mark in moment})
        if len(times) < 2:
            continue
        with_milliseconds = any(moment_time.microsecond for moment_time in times)
        for mark in moment:
            mark.text = f"{_moment_text(mark.time, times[0], with_milliseconds)}  {mark.text}"
    if any(len(moment) > 1 for moment in moments):
        for number, mark in enumerate(sorted(noted, key=lambda m: m.order), start=1):
            mark.text = f"{number}. {mark.text}"


def _layout(
    marks: list[_Mark], units_per_point: float, x_start: float, x_end: float | None,
    bars: dict[int, tuple[float, float]] | None = None,
) -> list[int]:
    """Give every marker a row within its lane and a side for its note; return the number of rows of each lane.

    Every marker keeps its exact time as x. Markers that would overlap, and
    markers whose notes would run into each other, go to different rows of
    the lane, drawn one above the other: markers at one moment read top to
    bottom in the order they happened. A note goes right of its marker, or
    left when only the left has room in some row. It also goes left when it
    would cover the lane's own bar on the right but not on the left. ``bars``
    maps a lane to its bar's start and end. ``x_end`` is the right edge that
    right-hand notes must fit before, or None while the window may still grow.
    """
    _number_notes(marks, units_per_point)
    limit = (x_end - x_start) / units_per_point if x_end is not None else None
    rows: dict[int, list[float]] = {}
    for mark in sorted(marks, key=lambda m: (m.lane, m.x, m.order)):
        ends = rows.setdefault(mark.lane, [])
        x = (mark.x - x_start) / units_per_point
        radius = mark.size / 2
        width = _text_width(mark.text) if mark.text else 0.0
        right_fits = not width or limit is None or x + radius + NOTE_GAP + width <= limit
        left_edge = x - radius - NOTE_GAP - width
        if width and bars and mark.lane in bars:
            bar_start, bar_end = ((value - x_start) / units_per_point for value in bars[mark.lane])
            covers_right = bar_end > x + radius + NOTE_GAP
            covers_left = bar_start < x - radius - NOTE_GAP and bar_end > left_edge
            right_fits = right_fits and not (covers_right and not covers_left and left_edge >= 0)

        choice = None
        if right_fits:
            choice = next(((row, False) for row, end in enumerate(ends) if end <= x - radius - 1), None)
        if choice is None and width and left_edge >= 0:
            choice = next(((row, True) for row, end in enumerate(ends) if end <= left_edge - 2), None)
        if choice is None:
            ends.append(float("-inf"))
            choice = (len(ends) - 1, not right_fits and left_edge >= 0)
        mark.row, mark.goes_left = choice
        ends[mark.row] = x + radius if mark.goes_left or not width else x + radius + NOTE_GAP + width
    return [len(rows.get(lane, [])) or 1 for lane in range(max(rows, default=-1) + 1)]


def _bar_spans(lanes: list[_Lane]) -> dict[int, tuple[float, float]]:
    """Return each token lane's bar, with its stateless continuation, as (start, end) in matplotlib date units."""
    spans = {}
    for index, lane in enumerate(lanes):
        bar_end, _ = lane.end()
        if lane.issued_at is not None and bar_end is not None:
            spans[index] = (_to_num(lane.issued_at), _to_num(lane.stateless_until or bar_end))
    return spans


def _fit_window(
    start: datetime, end: datetime, marks: list[_Mark], axes_width: float, bars: dict[int, tuple[float, float]]
) -> tuple[datetime, datetime, list[int]]:
    """Move ``end`` right until every note that goes right of its marker fits; return the window and the lanes' rows.

    A note at time t that needs w points fits when (end - t) / (end - start)
    * axes_width >= w, which gives the smallest end for it. A new scale can
    change the rows and the numbering, so a few rounds settle it. The window
    grows at most until the original span fills MIN_EVENT_SHARE of the
    axes, and never for a note needing more than MAX_NOTE_SHARE of it. Such
    notes go left of their marker, on a row of their own if need be.
    """
    latest_end = start + (end - start) / MIN_EVENT_SHARE
    for _ in range(3):
        x_start = _to_num(start)
        units_per_point = (_to_num(end) - x_start) / max(axes_width, 1.0)
        _layout(marks, units_per_point, x_start, None, bars)
        needed = end
        for mark in marks:
            if not mark.text or mark.goes_left:
                continue
            share = (mark.size / 2 + NOTE_GAP + _text_width(mark.text) + 4) / max(axes_width, 1.0)
            fitting_end = start + (mark.time - start) / (1 - share) if share < 1 else latest_end
            if share <= MAX_NOTE_SHARE and fitting_end <= latest_end:
                needed = max(needed, fitting_end)
        if needed <= end:
            break
        end = needed
    x_start, x_end = _to_num(start), _to_num(end)
    return start, end, _layout(marks, (x_end - x_start) / max(axes_width, 1.0), x_start, x_end, bars)


def _default_window(events: Sequence[Event], now: datetime, lanes: list[_Lane]) -> tuple[datetime, datetime]:
    """Span the events and ``now``, and an access token's expiry soon after ``now``, with a margin either side."""
    times = [e.time for e in events]
    first, last = min(times), max(max(times), now)
    if last - first < MIN_WINDOW:
        last = first + MIN_WINDOW
    horizon = now + (last - first) * FUTURE_SHARE
    for lane in lanes:
        bar_end, cause = lane.end()
        ending = lane.stateless_until or (bar_end if cause == "expired" else None)
        if lane.token_type == "access_token" and ending is not None and last < ending <= horizon:
            last = ending
    span = last - first
    return first - span * 0.04, last + span * 0.06


@dataclass
class _Rows:
    """The vertical layout: each lane's centre and height, in y data units of one standard lane, top to bottom."""

    centers: list[float]
    heights: list[float]
    total: float
    span_rows: dict[str, float]
    groups: list[tuple[str | None, float, float]]
    """Each group's label, top and bottom: a family, or the signing keys."""


def _lane_heights(lane_count: int, row_counts: list[int]) -> list[float]:
    """Give each lane room for its rows of markers: a standard lane fits one row, and each further row adds SLOT_POINTS."""
    heights = []
    for lane in range(lane_count):
        count = row_counts[lane] if lane < len(row_counts) else 1
        heights.append(max(1.0, (count * SLOT_POINTS + 6) / LANE_POINTS))
    return heights


def _rows(model: _Model, heights: list[float]) -> _Rows:
    centers = [0.0] * len(model.lanes)
    span_rows: dict[str, float] = {}
    groups = []
    y = 0.0
    for family_id, indices in model.family_groups:
        top = y
        family = model.families.get(family_id) if family_id else None
        if family is not None and family.absolute_end is not None and family.started_at is not None:
            span_rows[family.family_id] = y + SPAN_ROW / 2
            y += SPAN_ROW
        for index in indices:
            centers[index] = y + heights[index] / 2
            y += heights[index]
        groups.append((family_id, top, y))
    return _Rows(centers, heights, y, span_rows, groups)


def _place_marks(marks: list[_Mark], row_counts: list[int], rows: _Rows, points_per_unit: float) -> None:
    """Set each marker's y: a lane's rows lie SLOT_POINTS apart, centred on the lane, the first row on top."""
    for mark in marks:
        count = row_counts[mark.lane] if mark.lane < len(row_counts) else 1
        slot = min(SLOT_POINTS / points_per_unit, rows.heights[mark.lane] * 0.9 / count)
        mark.y = rows.centers[mark.lane] + (mark.row - (count - 1) / 2) * slot


# -- plot: text sizes, ticks and the figure ----------------------------------------


@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size: float = FONT_SIZE, *, bold: bool = False) -> float:
    """Measure the width in points of ``text``'s longest line in the default font, as the Agg backend lays it out."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties(weight="bold" if bold else "normal")))
    font.set_size(size, 72)
    widths = []
    for line in text.split("\n"):
        font.set_text(line, 0.0)
        widths.append(font.get_width_height()[0] / 64)
    return max(widths)


def _wrap_title(title: str, width: float) -> str:
    """Break a title that is wider than ``width`` points into two lines, at the separator that balances them best."""
    if _text_width(title, TITLE_SIZE) <= width or " " not in title:
        return title
    best: tuple[float, int, int] | None = None
    for found in re.finditer(r"; |, | → | ", title):
        first, second = title[: found.start() + len(found.group().rstrip())], title[found.end():]
        # Prefer a break after a clause: a semicolon or comma weighs as if the longer line were 20 characters shorter.
        bonus = 20 if found.group().strip() in (";", ",") else 0
        score = max(len(first), len(second)) - bonus
        if best is None or score < best[0]:
            best = (score, found.start() + len(found.group().rstrip()), found.end())
    assert best is not None
    return f"{title[: best[1]]}\n{title[best[2]:]}"


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


@dataclass(frozen=True)
class _Columns:
    """The widths, in points, of the label columns left of the axes: lane names, holders and family names."""

    ticks: float
    holders: float
    families: float

    @property
    def total(self) -> float:
        return self.ticks + self.holders + self.families


def _label_columns(model: _Model, show_holders: bool) -> _Columns:
    ticks = max(_text_width(lane.key) for lane in model.lanes) + 8
    holders = 0.0
    if show_holders:
        holders = max(_text_width(lane.holder or "") for lane in model.lanes) + COLUMN_GAP * 72
    names = [_group_label(family_id) or "" for family_id, _ in model.family_groups]
    families = max(_text_width(name, bold=True) for name in names) + COLUMN_GAP * 72
    return _Columns(ticks, holders, families)


def _group_label(family_id: str | None) -> str | None:
    if family_id == KEY_FAMILY:
        return KEY_FAMILY
    return f"family {family_id}" if family_id else None


def _legend_columns(labels: list[str], width: float) -> int:
    """Return how many legend columns fit in ``width`` points, at most 4."""
    column = FONT_SIZE * (1.6 + 0.8 + 1.4) + max(_text_width(label) for label in labels)
    return max(1, min(4, int(width // column)))


def _new_figure(total_units: float, left: float, right: float, title_lines: int, legend_rows: int) -> Axes:
    """Create a white figure whose axes hold ``total_units`` standard lanes, with the given margins in inches."""
    from matplotlib.figure import Figure

    axes_height = max(total_units, 2.0) * LANE_POINTS / 72
    bottom = AXIS_LABEL_SPACE + legend_rows * LEGEND_ROW_HEIGHT + 0.15
    top = TOP_MARGIN + title_lines * TITLE_LINE
    # A height in whole twentieths of an inch keeps the figure's pixel size a round number at common resolutions.
    height = math.ceil((top + axes_height + bottom) * 20) / 20
    figure = Figure(figsize=(FIGURE_WIDTH, height), facecolor=BACKGROUND)
    return figure.add_axes((
        left / FIGURE_WIDTH,
        bottom / height,
        (FIGURE_WIDTH - left - right) / FIGURE_WIDTH,
        axes_height / height,
    ))


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


# -- plot -----------------------------------------------------------------------------


def plot_timeline(
    events: Iterable[Event],
    ax: Axes | None = None,
    now: datetime | None = None,
    *,
    title: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> Axes:
    """Draw the events as a timeline of token lifetimes and return the Axes.

    Each token gets a lane (``AT1``, ``RT1``), grouped under its family
    ("family F1"), refresh tokens first. When the events name more than one
    client-side actor (two tabs, an attacker), each lane also names the
    actor its token was issued to. A bar runs from the token's issue to its
    expiry: access tokens plain blue, refresh tokens hatched orange. A bar
    that runs its full life ends in a tick at its expiry. A rotation, a
    revocation, or the removal of its signing key cuts a bar short. After a
    cut, a thin grey line shows a rotated refresh token kept on record, and
    a hatched continuation shows a revoked access token that a stateless
    check still accepted, up to its expiry. A retry in a grace window shades
    that window. A family's absolute lifetime is drawn above its lanes once
    a refresh hit it, and key rotations add a lane per signing key.

    Each outcome is one marker at the exact time it happened, with a note
    saying who and why ("tab A: 401 exp", "attacker: reuse → F1 revoked").
    Markers at the same moment on one lane are stacked one above the other
    and never moved along the time axis. When any moment has two or more
    notes, every note is numbered in the order the events happened. A moment
    that spans several times also shows them ("+20 ms"). Events from a
    server whose clock differs sit at the true time, and their note gives
    the server's reading. A dashed line marks ``now`` (by default the last
    event's time), and the time after it is shaded pale.

    The default window runs from the first event to ``now`` or the last
    event, whichever is later, and on to an access token's expiry when that
    comes soon after, with a margin and room for the notes. Bars running past
    it are clipped at the right edge with a note such as "expires in 15 d".
    ``window`` sets the visible span instead. ``title`` replaces the
    :func:`summarize` title, which is wrapped onto two lines when too wide.

    Without ``ax`` a new :class:`~matplotlib.figure.Figure` with a white
    background is created (use ``ax.figure`` to save or display it), as tall
    as its lanes need. With an ``ax``, its figure's background is set to
    white if it is transparent or dark, so that the dark text stays
    readable, and stacked markers are squeezed to fit its height. ``events``
    is only read.
    """
    items = _event_list(events)
    if now is not None:
        now = ensure_aware(now, "now")
    if window is not None:
        window = _check_window(window)

    if not items:
        if ax is None:
            ax = _new_figure(2, 0.6, RIGHT_MARGIN, 1, 0)
        _prepare_background(ax)
        return _plot_empty(ax, title)

    model = _build_model(items)
    now = now if now is not None else items[-1].time
    marks = _collect_marks(items, model)
    show_holders = len({e.actor for e in items if e.actor and e.actor not in SERVER_ACTORS}) > 1
    columns = _label_columns(model, show_holders)
    title_text = title if title is not None else summarize(items)

    created = ax is None
    if ax is None:
        rough_end = window[1] if window is not None else _default_window(items, now, model.lanes)[1]
        clip_texts = [_clip_text(lane, now) for _, lane in _lanes_running_past(model.lanes, rough_end)]
        right = max([RIGHT_MARGIN] + [(_text_width(text) + CLIP_NOTE_OFFSET + 8) / 72 for text in clip_texts])
        left = columns.total / 72 + 0.1
        axes_width = (FIGURE_WIDTH - left - right) * 72
    else:
        axes_width = ax.get_position().width * ax.figure.get_figwidth() * 72

    bars = _bar_spans(model.lanes)
    if window is None:
        start, end, row_counts = _fit_window(*_default_window(items, now, model.lanes), marks, axes_width, bars)
    else:
        start, end = window
        x_start, x_end = _to_num(start), _to_num(end)
        row_counts = _layout(marks, (x_end - x_start) / max(axes_width, 1.0), x_start, x_end, bars)
    rows = _rows(model, _lane_heights(len(model.lanes), row_counts))
    wrapped_title = _wrap_title(title_text, axes_width)
    legend = _legend_entries(model, marks, now, end, (end - start) * (2 / max(axes_width, 1.0)))
    legend_columns = _legend_columns([label for _, label in legend], FIGURE_WIDTH * 72 if created else axes_width)

    if ax is None:
        legend_rows = -(-len(legend) // legend_columns)
        ax = _new_figure(rows.total, left, right, wrapped_title.count("\n") + 1, legend_rows)
    axes_height = ax.get_position().height * ax.figure.get_figheight()
    points_per_unit = axes_height * 72 / max(rows.total, 1.0)
    _place_marks(marks, row_counts, rows, points_per_unit)

    _prepare_background(ax)
    _style_axes(ax)
    _draw_groups(ax, model, rows, columns, show_holders)
    _draw_bars(ax, model.lanes, rows, points_per_unit)
    _draw_continuations(ax, model, rows, row_counts, points_per_unit, end)
    _draw_key_periods(ax, model, rows, points_per_unit, end)
    _draw_graces(ax, model, rows)
    _draw_lifetimes(ax, model, rows)
    _draw_marks(ax, marks)
    _draw_expiry_ticks(ax, model.lanes, rows, start, end)
    _draw_notes(ax, marks)
    _draw_clip_notes(ax, _lanes_running_past(model.lanes, end), rows, now)
    _draw_key_rotations(ax, items)
    _draw_now(ax, now, start, end)
    _label_axes(ax, model.lanes, rows, start, end, wrapped_title)
    _draw_legend(ax, legend, legend_columns, axes_height, centre_on_figure=created)
    return ax


def _lanes_running_past(lanes: list[_Lane], moment: datetime) -> list[tuple[int, _Lane]]:
    """Return the token lanes, with their index, whose bar ends after ``moment``."""
    found = []
    for index, lane in enumerate(lanes):
        bar_end, _ = lane.end()
        if lane.issued_at is not None and bar_end is not None and bar_end > moment:
            found.append((index, lane))
    return found


def _label_axes(ax: Axes, lanes: list[_Lane], rows: _Rows, start: datetime, end: datetime, title: str) -> None:
    """Set the limits, the lane and time ticks, the grid, the time axis label and the title."""
    ax.set_xlim(_to_num(start), _to_num(end))
    ax.set_ylim(rows.total, 0)
    ax.set_yticks(rows.centers, [lane.key for lane in lanes])
    ticks, tick_labels, axis_label = _time_ticks(start, end)
    ax.set_xticks(ticks, tick_labels)
    ax.grid(axis="x", color=GRID_COLOR, linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    ax.set_xlabel(axis_label, fontsize=FONT_SIZE, color=TEXT_COLOR, labelpad=6)
    ax.set_title(title, fontsize=TITLE_SIZE, color=TEXT_COLOR, pad=26, linespacing=1.3)


def _left_of_axes(ax: Axes, points: float) -> Any:
    """Return a transform whose x is ``points`` left of the axes' left edge and whose y is in data units."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    shift = ScaledTranslation(-points / 72, 0, ax.figure.dpi_scale_trans)
    return blended_transform_factory(ax.transAxes, ax.transData) + shift


def _draw_groups(ax: Axes, model: _Model, rows: _Rows, columns: _Columns, show_holders: bool) -> None:
    """Separate the lanes with faint lines and the families with darker ones; name each family and each token's holder.

    Lanes holding stacked markers are taller than the rest, so the faint
    lines (one collection, gid ``lane-edges``) show where each lane ends.
    """
    edges = sorted({
        round(centre + sign * height / 2, 9) for centre, height in zip(rows.centers, rows.heights) for sign in (-1, 1)
    })
    ax.hlines(edges, 0, 1, transform=ax.get_yaxis_transform(), colors=LANE_EDGE_COLOR, linewidth=0.8, zorder=0.6,
              gid="lane-edges")
    family_transform = _left_of_axes(ax, columns.ticks + columns.holders + 4)
    for number, (family_id, top, bottom) in enumerate(rows.groups):
        if number > 0:
            ax.axhline(top, color=SEPARATOR_COLOR, linewidth=1, zorder=1)
        label = _group_label(family_id)
        if label is not None:
            ax.text(
                0, (top + bottom) / 2, label, transform=family_transform, ha="right", va="center_baseline",
                fontsize=FONT_SIZE, fontweight="bold", color=TEXT_COLOR, gid=f"family:{family_id}", clip_on=False,
            )
    if not show_holders:
        return
    holder_transform = _left_of_axes(ax, columns.ticks + 4)
    for index, lane in enumerate(model.lanes):
        if lane.holder:
            ax.text(
                0, rows.centers[index], lane.holder, transform=holder_transform, ha="right", va="center_baseline",
                fontsize=FONT_SIZE, color=MUTED_TEXT_COLOR, gid=f"holder:{lane.key}", clip_on=False,
            )


def _bar_height(points_per_unit: float, points: float, rows: _Rows) -> float:
    return min(points / points_per_unit, 0.8 * min(rows.heights))


def _draw_bars(ax: Axes, lanes: list[_Lane], rows: _Rows, points_per_unit: float) -> None:
    """Draw each token's lifetime up to its end or cut, one horizontal bar call per token type."""
    height = _bar_height(points_per_unit, BAR_POINTS, rows)
    for token_type, look in (("refresh_token", REFRESH_BAR), ("access_token", ACCESS_BAR)):
        found = []
        for index, lane in enumerate(lanes):
            bar_end, _ = lane.end()
            if lane.token_type != token_type or lane.issued_at is None or bar_end is None:
                continue
            left = _to_num(lane.issued_at)
            found.append((rows.centers[index], left, _to_num(bar_end) - left, lane.key))
        if not found:
            continue
        bars = ax.barh(
            [row[0] for row in found], [row[2] for row in found], left=[row[1] for row in found], height=height,
            color=look["color"], edgecolor="#333333", linewidth=0.8, hatch=look["hatch"], zorder=2,
            label=look["legend"],
        )
        for patch, row in zip(bars.patches, found):
            patch.set_gid(f"bar:{row[3]}")


def _record_end(lane: _Lane, end: datetime) -> datetime:
    """Return where a rotated token's record line ends: at its family's end, or at the window's end."""
    return min(lane.record_until or end, end)


def _record_offset(row_count: int) -> float:
    """Return how far below a lane's centre, in points, the record line runs: inside the bar's band, between the lines of notes.

    Notes are placed with ``va="center_baseline"``. In DejaVu Sans, measured
    with matplotlib 3.11, their letters then reach about 0.42 em above the
    row's height and 0.63 em below it. The rows lie SLOT_POINTS
    apart around the centre. The line goes to the free height nearest the
    bar's bottom edge, or to that edge when no height is free.
    """
    covered = []
    for row in range(row_count):
        middle = (row - (row_count - 1) / 2) * SLOT_POINTS
        covered.append((middle - 0.42 * FONT_SIZE, middle + 0.63 * FONT_SIZE))
    half_bar = (BAR_POINTS - RECORD_POINTS) / 2
    candidates = [half_bar - step * 0.25 for step in range(int(8 * half_bar) + 1)]
    for candidate in candidates:
        top, bottom = candidate - RECORD_POINTS / 2, candidate + RECORD_POINTS / 2
        if all(bottom <= low or top >= high for low, high in covered):
            return candidate
    return half_bar


def _draw_continuations(
    ax: Axes, model: _Model, rows: _Rows, row_counts: list[int], points_per_unit: float, end: datetime
) -> None:
    """Continue cut bars: a thin grey line while a rotated token stays on record, a hatched bar while a stateless check still accepts a revoked one."""
    record_height = _bar_height(points_per_unit, RECORD_POINTS, rows)
    for index, lane in enumerate(model.lanes):
        if lane.cut_at is None:
            continue
        if lane.cut_kind in RECORD_CUTS:
            until = _record_end(lane, end)
            if until > lane.cut_at:
                left = _to_num(lane.cut_at)
                offset = _record_offset(row_counts[index] if index < len(row_counts) else 1) / points_per_unit
                [patch] = ax.barh(
                    [rows.centers[index] + offset], [_to_num(until) - left], left=[left],
                    height=record_height, color=RECORD_COLOR, linewidth=0, zorder=1.9,
                ).patches
                patch.set_gid(f"record:{lane.key}")
        if lane.stateless_until is not None and lane.stateless_until > lane.cut_at:
            left = _to_num(lane.cut_at)
            [patch] = ax.barh(
                [rows.centers[index]], [_to_num(lane.stateless_until) - left], left=[left],
                height=_bar_height(points_per_unit, BAR_POINTS, rows), color=STATELESS_BAR["color"],
                edgecolor=STATELESS_BAR["edge"], hatch=STATELESS_BAR["hatch"], linewidth=0.8, zorder=2,
            ).patches
            patch.set_gid(f"stateless:{lane.key}")


def _draw_key_periods(ax: Axes, model: _Model, rows: _Rows, points_per_unit: float, end: datetime) -> None:
    """Draw each signing key's lane: solid while it signs new tokens, dotted while it only verifies older ones.

    A retired key's bar ends at its ``key_removed`` event. Logs without one
    end it where a token it signed was first rejected for its unknown
    ``kid``, with the word "removed".
    """
    lane_index = model.lane_index()
    height = _bar_height(points_per_unit, BAR_POINTS, rows)
    for period in model.key_periods:
        until = period.end or end
        if period.kid not in lane_index or until <= period.start:
            continue
        look = KEY_SIGNING if period.signing else KEY_VERIFYING
        left = _to_num(period.start)
        [patch] = ax.barh(
            [rows.centers[lane_index[period.kid]]], [_to_num(until) - left], left=[left], height=height,
            color=look["color"], edgecolor="#555555", hatch=look["hatch"], linewidth=0.8, zorder=2,
        ).patches
        patch.set_gid(f"key:{period.kid}:{'signing' if period.signing else 'verifying'}")
        if not period.signing and period.end is not None and not period.removal_recorded:
            ax.annotate(
                "removed", (_to_num(period.end), rows.centers[lane_index[period.kid]]), xytext=(NOTE_GAP, 0),
                textcoords="offset points", ha="left", va="center_baseline", fontsize=FONT_SIZE, color=TEXT_COLOR,
                zorder=4.6, gid="key-removed",
            )


def _draw_graces(ax: Axes, model: _Model, rows: _Rows) -> None:
    """Shade the grace window in which a rotated refresh token's retry was accepted, over that token's lane."""
    from matplotlib.patches import Rectangle

    lane_index = model.lane_index()
    for grace in model.graces:
        if grace.lane not in lane_index:
            continue
        index = lane_index[grace.lane]
        until = grace.start + grace.length if grace.length is not None else grace.retry_at
        height = rows.heights[index] * 0.9
        ax.add_patch(Rectangle(
            (_to_num(grace.start), rows.centers[index] - height / 2), _to_num(until) - _to_num(grace.start), height,
            facecolor=YELLOW, alpha=0.7, edgecolor=BLACK, linestyle="--", linewidth=1, zorder=1.8,
            gid=f"grace:{grace.lane}",
        ))


def _draw_lifetimes(ax: Axes, model: _Model, rows: _Rows) -> None:
    """Draw a family's absolute lifetime as a two-headed arrow in the row above its lanes."""
    for family_id, y in rows.span_rows.items():
        family = model.families[family_id]
        assert family.started_at is not None and family.absolute_end is not None
        left, right = _to_num(family.started_at), _to_num(family.absolute_end)
        ax.annotate(
            "", xy=(right, y), xytext=(left, y), gid=f"lifetime:{family_id}",
            arrowprops={"arrowstyle": "<|-|>", "color": TEXT_COLOR, "linewidth": 1.5, "shrinkA": 0, "shrinkB": 0},
        )
        ax.text(
            (left + right) / 2, y, f"family {family_id}: absolute lifetime "
            f"{_duration_text(family.absolute_end - family.started_at)}",
            ha="center", va="center", fontsize=FONT_SIZE, color=TEXT_COLOR, zorder=4.6,
            bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none"}, gid="lifetime-label",
        )


def _draw_marks(ax: Axes, marks: list[_Mark]) -> None:
    """Draw one Line2D per marker style, with every marker of that style."""
    by_style: dict[str, tuple[list[float], list[float]]] = {}
    for mark in marks:
        xs, ys = by_style.setdefault(mark.style, ([], []))
        xs.append(mark.x)
        ys.append(mark.y)
    for name, style in MARKER_STYLES.items():
        if name not in by_style:
            continue
        xs, ys = by_style[name]
        prominent = name == "rejected"
        ax.plot(
            xs, ys, linestyle="none", marker=style.marker, markersize=style.size, markerfacecolor=style.color,
            markeredgecolor=BLACK, markeredgewidth=1.4 if prominent else 1.2, zorder=6 if prominent else 5,
            label=style.legend, gid=f"mark:{name}",
        )


def _natural_ends(lanes: list[_Lane]) -> list[tuple[int, datetime]]:
    """Return each token's expiry where its bar, or its stateless continuation, ends at it."""
    ends = []
    for index, lane in enumerate(lanes):
        bar_end, cause = lane.end()
        if lane.issued_at is None:
            continue
        if cause == "expired" and bar_end is not None:
            ends.append((index, bar_end))
        elif lane.stateless_until is not None:
            ends.append((index, lane.stateless_until))
    return ends


def _draw_expiry_ticks(ax: Axes, lanes: list[_Lane], rows: _Rows, start: datetime, end: datetime) -> None:
    """End each bar that ran its full life with a black tick at its expiry; this marks no event."""
    found = [(_to_num(moment), rows.centers[index]) for index, moment in _natural_ends(lanes) if start <= moment <= end]
    if not found:
        return
    style = MARKER_STYLES["expired"]
    ax.plot(
        [x for x, _ in found], [y for _, y in found], linestyle="none", marker=style.marker,
        markersize=style.size, markeredgecolor=style.color, markeredgewidth=2.5, zorder=4.8,
        label=style.legend, gid="mark:expired",
    )


def _draw_notes(ax: Axes, marks: list[_Mark]) -> None:
    """Write each marker's note on its row, right of the marker or left of it as the layout chose.

    A white halo around the letters keeps a note readable where it crosses a
    bar or a line, while the bar still shows between the letters.
    """
    from matplotlib.patheffects import withStroke
    from matplotlib.transforms import ScaledTranslation

    halo = [withStroke(linewidth=3, foreground=BACKGROUND)]
    for mark in marks:
        if not mark.text:
            continue
        gap = mark.size / 2 + NOTE_GAP
        shift = ScaledTranslation((-gap if mark.goes_left else gap) / 72, 0, ax.figure.dpi_scale_trans)
        ax.text(
            mark.x, mark.y, mark.text, transform=ax.transData + shift, ha="right" if mark.goes_left else "left",
            va="center_baseline", fontsize=FONT_SIZE, color=TEXT_COLOR, zorder=4.6, gid="note", path_effects=halo,
        )


def _clip_text(lane: _Lane, now: datetime) -> str:
    """Return the note for a bar that runs past the right edge: when it ends, counted from ``now``."""
    bar_end, _ = lane.end()
    assert bar_end is not None
    if bar_end > now:
        return f"→ expires in {_duration_text(bar_end - now, coarse=True)}"
    return f"→ ended {bar_end.day} {bar_end:%b %H:%M}"


def _draw_clip_notes(ax: Axes, clipped: list[tuple[int, _Lane]], rows: _Rows, now: datetime) -> None:
    """Write "expires in 15 d" right of the axes for each bar that runs past the window."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    shift = ScaledTranslation(CLIP_NOTE_OFFSET / 72, 0, ax.figure.dpi_scale_trans)
    transform = blended_transform_factory(ax.transAxes, ax.transData) + shift
    for index, lane in clipped:
        ax.text(
            1, rows.centers[index], _clip_text(lane, now), transform=transform, ha="left", va="center",
            fontsize=FONT_SIZE, color=TEXT_COLOR, gid=f"clip:{lane.key}", clip_on=False,
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
        x, 1.01, f"now {_clock_text(now)}", transform=blended_transform_factory(ax.transData, ax.transAxes),
        ha="center", va="bottom", fontsize=FONT_SIZE, fontweight="bold", color=TEXT_COLOR, gid="now-label",
        clip_on=False,
    )


def _legend_entries(
    model: _Model, marks: list[_Mark], now: datetime, end: datetime, visible: timedelta
) -> list[tuple[Any, str]]:
    """List the legend's handles and labels: the kinds of bar and span drawn, then the markers drawn.

    A record line shorter than ``visible`` (about two points) gets no entry.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def bar(look: dict[str, Any], edge: str = "#333333", alpha: float = 1.0) -> Patch:
        return Patch(facecolor=look["color"], edgecolor=edge, hatch=look["hatch"], linewidth=0.8, alpha=alpha)

    lanes = model.lanes
    entries: list[tuple[Any, str]] = []
    if any(lane.token_type == "refresh_token" and lane.issued_at for lane in lanes):
        entries.append((bar(REFRESH_BAR), REFRESH_BAR["legend"]))
    if any(lane.token_type == "access_token" and lane.issued_at for lane in lanes):
        entries.append((bar(ACCESS_BAR), ACCESS_BAR["legend"]))
    if any(_record_end(lane, end) - lane.cut_at >= visible for lane in lanes if lane.cut_at and lane.cut_kind in RECORD_CUTS):
        entries.append((Line2D([], [], color=RECORD_COLOR, linewidth=RECORD_POINTS), RECORD_LEGEND))
    if any(lane.stateless_until for lane in lanes):
        entries.append((bar(STATELESS_BAR, edge=BLUE), STATELESS_BAR["legend"]))
    if model.graces:
        entries.append((Patch(facecolor=YELLOW, alpha=0.7, edgecolor=BLACK, linestyle="--"), GRACE_LEGEND))
    if any(period.signing for period in model.key_periods):
        entries.append((bar(KEY_SIGNING, edge="#555555"), KEY_SIGNING["legend"]))
    if any(not period.signing for period in model.key_periods):
        entries.append((bar(KEY_VERIFYING, edge="#555555"), KEY_VERIFYING["legend"]))
    if now < end and any((lane.end()[0] or now) > now for lane in lanes if lane.issued_at):
        entries.append((bar(ACCESS_BAR, alpha=0.45), FUTURE_LEGEND))

    drawn = {mark.style for mark in marks}
    if _natural_ends(lanes):
        drawn.add("expired")
    for name, style in MARKER_STYLES.items():
        if name not in drawn:
            continue
        if name == "expired":
            handle = Line2D([], [], linestyle="none", marker=style.marker, markersize=style.size * 0.7,
                            markeredgecolor=style.color, markeredgewidth=2.5)
        else:
            handle = Line2D([], [], linestyle="none", marker=style.marker, markersize=style.size,
                            markerfacecolor=style.color, markeredgecolor=BLACK, markeredgewidth=1.2)
        entries.append((handle, style.legend))
    return entries


def _draw_legend(
    ax: Axes, entries: list[tuple[Any, str]], columns: int, axes_height: float, *, centre_on_figure: bool
) -> None:
    """Put the legend just below the time axis label."""
    below = -(AXIS_LABEL_SPACE - 0.02) / max(axes_height, 0.5)
    anchor_x = 0.5
    if centre_on_figure:
        position = ax.get_position()
        anchor_x = (0.5 - position.x0) / position.width
    legend = ax.legend(
        handles=[handle for handle, _ in entries], labels=[label for _, label in entries], loc="upper center",
        bbox_to_anchor=(anchor_x, below), ncol=columns, frameon=False, fontsize=FONT_SIZE,
        handlelength=1.6, columnspacing=1.4, labelcolor=TEXT_COLOR, borderaxespad=0, handletextpad=0.6,
    )
    legend.set_gid("legend")
