"""Timeline plots, the text timeline and the one-line summary, checked on the data they draw.

Event logs come from driving a real authority on the ``clock`` fixture with
readable ids and the HS256 demo key, or from the built-in scenarios. Plots
are read back through matplotlib's object model: lanes are the y tick labels
and their positions, bars are the patches with gid ``bar:<label>``, markers
are the Line2D with gid ``mark:<style>``, notes are texts with gid ``note``.
Nothing here compares pixels.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import matplotlib.dates as mdates
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text

import tokenlab as tl
from tokenlab import timeline
from tokenlab.events import Event, EventKind

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
MINUTE = 1 / (24 * 60)
"""One minute in matplotlib date units (days)."""
SECOND = MINUTE / 60


# -- helpers ----------------------------------------------------------------------------


def num(moment: datetime) -> float:
    return float(mdates.date2num(moment))


def lanes(ax: Any) -> list[str]:
    return [label.get_text() for label in ax.get_yticklabels()]


def lane_y(ax: Any, label: str) -> float:
    return float(ax.get_yticks()[lanes(ax).index(label)])


def lane_at(ax: Any, y: float) -> str | None:
    """Return the lane whose band contains ``y``; the lines with gid ``lane-edges`` mark where each lane begins and ends."""
    [collection] = [child for child in ax.collections if child.get_gid() == "lane-edges"]
    edges = sorted(segment[0][1] for segment in collection.get_segments())
    for label, centre in zip(lanes(ax), ax.get_yticks()):
        top = max(edge for edge in edges if edge < centre)
        bottom = min(edge for edge in edges if edge > centre)
        if top <= y <= bottom:
            return label
    return None


def bar(ax: Any, label: str, kind: str = "bar") -> Any:
    found = [patch for patch in ax.patches if patch.get_gid() == f"{kind}:{label}"]
    assert len(found) == 1, f"expected one {kind} for {label}, found {len(found)}"
    return found[0]


def bar_end(patch: Any) -> float:
    return patch.get_x() + patch.get_width()


def marker_line(ax: Any, style: str) -> Any:
    found = [line for line in ax.lines if line.get_gid() == f"mark:{style}"]
    return found[0] if found else None


def markers(ax: Any, style: str) -> list[tuple[float, float]]:
    line = marker_line(ax, style)
    if line is None:
        return []
    return list(zip(line.get_xdata(), line.get_ydata()))


def all_markers(ax: Any) -> list[tuple[str, float, float]]:
    """Return every drawn marker as (style, x, y)."""
    return [
        (line.get_gid().removeprefix("mark:"), x, y)
        for line in ax.lines if str(line.get_gid()).startswith("mark:")
        for x, y in zip(line.get_xdata(), line.get_ydata())
    ]


def has_marker(ax: Any, style: str, label: str, moment: datetime) -> bool:
    """Tell whether a ``style`` marker sits at exactly ``moment`` within ``label``'s lane."""
    x = num(moment)
    return any(abs(mx - x) < 1e-9 and lane_at(ax, my) == label for mx, my in markers(ax, style))


def notes(ax: Any) -> list[str]:
    return [text.get_text() for text in ax.texts if text.get_gid() == "note"]


def unnumbered(note: str) -> str:
    """Strip a note's step number and time ("3. +20 ms  tab B: 401 exp" gives "tab B: 401 exp")."""
    note = re.sub(r"^\d+\. ", "", note)
    return re.sub(r"^(\d\d:\d\d:\d\d(\.\d+)?|\+\S+ \S+)  ", "", note)


def text_with_gid(ax: Any, gid: str) -> Text | None:
    return next((text for text in ax.texts if text.get_gid() == gid), None)


def legend_labels(ax: Any) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def draw(ax: Any) -> Any:
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    return canvas.get_renderer()


def overlapping_texts(ax: Any) -> list[tuple[str, str]]:
    """Return the pairs of texts drawn on or around the axes whose boxes overlap."""
    renderer = draw(ax)
    texts = [t for t in ax.texts if t.get_visible() and t.get_text()]
    texts += [ax.title, ax.xaxis.label]
    texts += [t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_visible() and t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    pairs = []
    for index, (text, box) in enumerate(boxes):
        for other_text, other_box in boxes[index + 1:]:
            if box.overlaps(other_box):
                pairs.append((text, other_text))
    return pairs


def overlapping_markers(ax: Any) -> list[tuple[tuple[str, float], tuple[str, float]]]:
    """Return the pairs of markers whose squares (of their marker size, in points) overlap on screen."""
    draw(ax)
    to_points = 72 / ax.figure.dpi
    placed = []
    for line in ax.lines:
        if not str(line.get_gid()).startswith("mark:") or line.get_gid() == "mark:expired":
            continue
        half = line.get_markersize() / 2
        for x, y in zip(line.get_xdata(), line.get_ydata()):
            px, py = ax.transData.transform((x, y)) * to_points
            placed.append((line.get_gid(), x, px, py, half))
    pairs = []
    for index, (style, x, px, py, half) in enumerate(placed):
        for other_style, other_x, qx, qy, other_half in placed[index + 1:]:
            reach = half + other_half - 1
            if abs(px - qx) < reach and abs(py - qy) < reach:
                pairs.append(((style, x), (other_style, other_x)))
    return pairs


def marker_style(event: Event, events: list[Event]) -> str:
    """Return the marker style an event is drawn with: one marker per outcome.

    A rejected call or refresh is ``rejected`` whatever the reason, and so is
    the family revocation that a detected reuse causes at the same moment. A
    rotation or grace retry shares the marker of its refresh.
    """
    kind = event.kind
    if kind in (EventKind.REJECTED, EventKind.EXPIRED, EventKind.REUSE_DETECTED):
        return "rejected"
    if kind in (EventKind.ROTATED, EventKind.GRACE_REUSE):
        return "refreshed"
    if kind is EventKind.REVOKED:
        before = events[event.seq - 2] if event.seq >= 2 else None
        caused_by_reuse = (
            before is not None and before.kind is EventKind.REUSE_DETECTED and before.time == event.time
            and before.label == event.label
        )
        return "rejected" if caused_by_reuse else "revoked"
    if kind is EventKind.KEY_REMOVED:
        return "key_rotated"
    return kind.value


def event_lane(event: Event) -> str:
    if event.kind in (EventKind.KEY_ROTATED, EventKind.KEY_REMOVED):
        return str(event.detail["kid"])
    return event.label or "unknown token"


def error(call: Any, *args: Any, **kwargs: Any) -> tl.TokenlabError:
    with pytest.raises(tl.TokenlabError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("HS256")


@pytest.fixture
def stolen(auth, clock):  # type: ignore[no-untyped-def]
    """The user refreshes at 09:05; the attacker replays the copied RT1 at 09:08; the user is then rejected at 09:09."""
    pair = auth.issue("alice", client_id="app", scope="read write", actor="user")
    clock.advance(minutes=1)
    auth.verify(pair.access_token, actor="user")
    clock.advance(minutes=4)
    second = auth.refresh(pair.refresh_token, client_id="app", actor="user")
    clock.advance(minutes=3)
    error(auth.refresh, pair.refresh_token, client_id="app", actor="attacker")
    clock.advance(minutes=1)
    error(auth.verify, second.access_token, actor="user")
    return auth


@pytest.fixture
def every_kind(authority, clock):  # type: ignore[no-untyped-def]
    """An authority with a 30 s grace window whose log contains an event of every kind."""
    auth = authority("HS256", reuse_grace=30)
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.verify(pair.access_token, actor="user")
    error(auth.verify, pair.access_token, required_scope="write", actor="user")
    auth.introspect(pair.access_token, actor="resource server")
    clock.advance(minutes=5)
    error(auth.verify, pair.access_token, actor="user")
    auth.refresh(pair.refresh_token, client_id="app", actor="tab A")
    clock.advance(seconds=10)
    auth.refresh(pair.refresh_token, client_id="app", actor="tab B")
    clock.advance(minutes=2)
    auth.rotate_signing_key(tl.SigningKey.generate("HS256", kid="key-2"), actor="admin")
    clock.advance(minutes=1)
    error(auth.refresh, pair.refresh_token, client_id="app", actor="attacker")
    auth.remove_key("demo-hs256", actor="admin")
    assert set(auth.events.kinds()) == {kind.value for kind in EventKind}
    return auth


@pytest.fixture
def race(authority, clock):  # type: ignore[no-untyped-def]
    """Two tabs, 20 ms apart, each get a 401 with AT1 and refresh with RT1; one second later tab A is locked out."""
    auth = authority("HS256")
    pair = auth.issue("alice", client_id="app", scope="read", actor="tab A")
    clock.advance(minutes=5)
    error(auth.verify, pair.access_token, actor="tab A")
    second = auth.refresh(pair.refresh_token, client_id="app", actor="tab A")
    auth.verify(second.access_token, actor="tab A")
    clock.advance(seconds=0.02)
    error(auth.verify, pair.access_token, actor="tab B")
    error(auth.refresh, pair.refresh_token, client_id="app", actor="tab B")
    clock.advance(seconds=1)
    error(auth.verify, second.access_token, actor="tab A")
    return auth


@pytest.fixture
def logout(auth, clock):  # type: ignore[no-untyped-def]
    """The user logs out at 09:01; a stateless API still accepts the copied AT1, a checking API rejects it."""
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.revoke(pair.refresh_token, client_id="app", actor="user")
    auth.verify(pair.access_token, stateless=True, actor="attacker")
    error(auth.verify, pair.access_token, actor="attacker")
    return auth


# -- lanes and bars ---------------------------------------------------------------------------


def test_login_gives_one_lane_per_token(auth):
    auth.issue("alice", client_id="app", scope="read")
    ax = timeline.plot_timeline(auth.events)
    assert lanes(ax) == ["RT1", "AT1"]


def test_lanes_put_refresh_tokens_before_access_tokens(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert lanes(ax) == ["RT1", "RT2", "AT1", "AT2"]


def test_lanes_grouped_by_family(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=1)
    auth.issue("bob", client_id="app", scope="read")
    ax = timeline.plot_timeline(auth.events)

    assert lanes(ax) == ["RT1", "AT1", "RT2", "AT2"]
    first_label, second_label = text_with_gid(ax, "family:F1"), text_with_gid(ax, "family:F2")
    assert first_label is not None and first_label.get_text() == "family F1"
    assert second_label is not None and second_label.get_text() == "family F2"
    # Each family's label sits halfway between its two lanes.
    assert first_label.get_position()[1] == pytest.approx((lane_y(ax, "RT1") + lane_y(ax, "AT1")) / 2)
    assert second_label.get_position()[1] == pytest.approx((lane_y(ax, "RT2") + lane_y(ax, "AT2")) / 2)


def test_holder_column_names_each_tokens_holder(stolen, clock):
    pair = stolen.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    stolen.refresh(pair.refresh_token, client_id="app", actor="attacker")
    ax = timeline.plot_timeline(stolen.events)

    holders = {text.get_gid().removeprefix("holder:"): text.get_text()
               for text in ax.texts if str(text.get_gid()).startswith("holder:")}
    assert holders["RT1"] == "user"
    assert holders["RT4"] == "attacker"
    assert holders["AT4"] == "attacker"


def test_no_holder_column_with_one_actor(auth):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    auth.verify(pair.access_token, actor="user")
    auth.introspect(pair.access_token, actor="resource server")
    ax = timeline.plot_timeline(auth.events)
    assert not [text for text in ax.texts if str(text.get_gid()).startswith("holder:")]


def test_access_bar_spans_issue_to_expiry(auth, clock):
    issued_at = clock.now()
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=6)
    ax = timeline.plot_timeline(auth.events, now=clock.now())

    patch = bar(ax, "AT1")
    assert patch.get_x() == pytest.approx(num(issued_at))
    assert patch.get_width() == pytest.approx(5 * MINUTE)
    assert patch.get_y() + patch.get_height() / 2 == pytest.approx(lane_y(ax, "AT1"))


def test_refresh_bar_runs_to_idle_expiry(auth, clock):
    issued_at = clock.now()
    auth.issue("alice", client_id="app", scope="read")
    ax = timeline.plot_timeline(auth.events)
    patch = bar(ax, "RT1")
    assert patch.get_x() == pytest.approx(num(issued_at))
    assert patch.get_width() == pytest.approx(15.0)  # The default idle expiry, 15 days, comes before the 30-day absolute one.


def test_refresh_and_access_bars_differ_in_grayscale(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert bar(ax, "RT1").get_hatch()
    assert not bar(ax, "AT1").get_hatch()


def test_rotation_cuts_refresh_bar(stolen):
    rotated = stolen.events.of_kind("rotated")[0]
    ax = timeline.plot_timeline(stolen.events)
    assert bar_end(bar(ax, "RT1")) == pytest.approx(num(rotated.time))


def test_rotated_token_stays_on_record_until_family_revoked(stolen):
    rotated = stolen.events.of_kind("rotated")[0]
    reuse = stolen.events.of_kind("reuse_detected")[0]
    ax = timeline.plot_timeline(stolen.events)

    record = bar(ax, "RT1", "record")
    assert record.get_x() == pytest.approx(num(rotated.time))
    assert bar_end(record) == pytest.approx(num(reuse.time))
    assert record.get_height() < bar(ax, "RT1").get_height() / 3


def test_rotated_token_stays_on_record_to_window_edge(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=5)
    auth.refresh(pair.refresh_token, client_id="app", actor="user")
    ax = timeline.plot_timeline(auth.events)
    assert bar_end(bar(ax, "RT1", "record")) == pytest.approx(ax.get_xlim()[1])
    assert "rotated, kept on record" in legend_labels(ax)


def test_reuse_cuts_every_live_bar_of_family(stolen):
    reuse = stolen.events.of_kind("reuse_detected")[0]
    ax = timeline.plot_timeline(stolen.events)
    for label in ("RT2", "AT2"):
        assert bar_end(bar(ax, label)) == pytest.approx(num(reuse.time)), label
        assert has_marker(ax, "revoked", label, reuse.time), label


def test_family_revocation_spares_bars_already_ended(stolen):
    ax = timeline.plot_timeline(stolen.events)
    expired_at = stolen.events.of_kind("issued")[1].expires_at
    assert bar_end(bar(ax, "AT1")) == pytest.approx(num(expired_at))


def test_access_revocation_cuts_only_that_token(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=2)
    auth.revoke(pair.access_token, client_id="app")
    ax = timeline.plot_timeline(auth.events)

    assert bar_end(bar(ax, "AT1")) == pytest.approx(num(clock.now()))
    assert bar(ax, "RT1").get_width() == pytest.approx(15.0)


def test_stateless_acceptance_continues_revoked_bar_to_expiry(logout, clock):
    revoked_at = clock.now()
    expires_at = logout.events.of_kind("issued")[1].expires_at
    ax = timeline.plot_timeline(logout.events, now=expires_at)

    assert bar_end(bar(ax, "AT1")) == pytest.approx(num(revoked_at))
    continuation = bar(ax, "AT1", "stateless")
    assert continuation.get_x() == pytest.approx(num(revoked_at))
    assert bar_end(continuation) == pytest.approx(num(expires_at))
    assert continuation.get_hatch()
    assert "revoked, still accepted by stateless check" in legend_labels(ax)
    assert has_marker(ax, "expired", "AT1", expires_at)


def test_no_stateless_continuation_without_stateless_check(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.revoke(pair.refresh_token, client_id="app", actor="user")
    error(auth.verify, pair.access_token, actor="attacker")
    ax = timeline.plot_timeline(auth.events)
    assert not [patch for patch in ax.patches if str(patch.get_gid()).startswith("stateless:")]


def test_expiry_tick_ends_bar_that_ran_out(stolen):
    ax = timeline.plot_timeline(stolen.events)
    expired_at = stolen.events.of_kind("issued")[1].expires_at
    assert has_marker(ax, "expired", "AT1", expired_at)
    assert len(markers(ax, "expired")) == 1  # RT1 was rotated, RT2 and AT2 were revoked.


def test_expired_call_marked_as_rejection(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    expires_at = clock.now() + timedelta(minutes=5)
    clock.advance(minutes=6)
    error(auth.verify, pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)

    assert markers(ax, "expired") == [(pytest.approx(num(expires_at)), pytest.approx(lane_y(ax, "AT1")))]
    assert has_marker(ax, "rejected", "AT1", clock.now())
    assert not has_marker(ax, "rejected", "AT1", expires_at)
    assert notes(ax) == ["user: 401 exp"]


def test_bar_end_marks_differ_by_cause(stolen):
    ax = timeline.plot_timeline(stolen.events)
    rotated_at = stolen.events.of_kind("rotated")[0].time
    revoked_at = stolen.events.of_kind("reuse_detected")[0].time
    expired_at = stolen.events.of_kind("issued")[1].expires_at

    assert has_marker(ax, "refreshed", "RT1", rotated_at)
    assert has_marker(ax, "revoked", "RT2", revoked_at)
    assert has_marker(ax, "expired", "AT1", expired_at)
    shapes = {marker_line(ax, style).get_marker() for style in ("refreshed", "revoked", "expired")}
    assert len(shapes) == 3


def test_grace_retry_marks_superseded_token(every_kind):
    grace = every_kind.events.of_kind("grace_reuse")[0]
    superseded = grace.detail["superseded"]
    ax = timeline.plot_timeline(every_kind.events)
    assert bar_end(bar(ax, superseded)) == pytest.approx(num(grace.time))
    assert has_marker(ax, "superseded", superseded, grace.time)
    assert f"superseded by {grace.related}" in [unnumbered(note) for note in notes(ax)]


def test_grace_window_is_shaded_on_rotated_token(every_kind):
    rotated = every_kind.events.of_kind("rotated")[0]
    ax = timeline.plot_timeline(every_kind.events)
    [window] = [patch for patch in ax.patches if patch.get_gid() == f"grace:{rotated.label}"]
    assert window.get_x() == pytest.approx(num(rotated.time))
    assert window.get_width() == pytest.approx(30 * SECOND)  # The fixture's reuse_grace.
    assert abs(window.get_y() + window.get_height() / 2 - lane_y(ax, rotated.label)) < 1e-9


def test_bar_past_window_gets_expiry_note(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=10)
    ax = timeline.plot_timeline(auth.events, now=clock.now())
    note = text_with_gid(ax, "clip:RT1")
    assert note is not None
    # 15 days of idle lifetime minus the 10 minutes gone round to 15 d.
    assert note.get_text() == "→ expires in 15 d"
    assert text_with_gid(ax, "clip:AT1") is None


def test_key_removal_marked_on_its_key_lane(every_kind):
    removal = every_kind.events.of_kind("key_removed")[0]
    ax = timeline.plot_timeline(every_kind.events)
    assert has_marker(ax, "key_rotated", "demo-hs256", removal.time)


def test_key_rotation_gives_each_key_a_lane(every_kind):
    rotation = every_kind.events.of_kind("key_rotated")[0]
    ax = timeline.plot_timeline(every_kind.events)
    assert lanes(ax)[-2:] == ["demo-hs256", "key-2"]
    assert has_marker(ax, "key_rotated", "key-2", rotation.time)
    assert bar_end(bar(ax, "demo-hs256:signing", "key")) == pytest.approx(num(rotation.time))
    assert bar(ax, "demo-hs256:verifying", "key").get_x() == pytest.approx(num(rotation.time))
    assert bar(ax, "key-2:signing", "key").get_x() == pytest.approx(num(rotation.time))
    lines = [line for line in ax.lines if line.get_gid() == "key-rotation"]
    assert [line.get_xdata()[0] for line in lines] == [pytest.approx(num(rotation.time))]


def test_key_removal_ends_old_key_and_its_tokens(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.rotate_signing_key(tl.SigningKey.generate("HS256", kid="key-2"), actor="admin")
    clock.advance(minutes=1)
    auth.remove_key("demo-hs256")
    error(auth.verify, pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)

    assert bar_end(bar(ax, "demo-hs256:verifying", "key")) == pytest.approx(num(clock.now()))
    removal = auth.events.of_kind("key_removed")[0]
    assert has_marker(ax, "key_rotated", "demo-hs256", removal.time)
    assert "key removed" in [unnumbered(note) for note in notes(ax)]
    assert text_with_gid(ax, "key-removed") is None
    assert bar_end(bar(ax, "AT1")) == pytest.approx(num(clock.now()))
    assert text_with_gid(ax, "clip:AT1") is None
    assert "user: 401 unknown kid demo-hs256" in [unnumbered(note) for note in notes(ax)]


def test_absolute_lifetime_drawn_once_reached(authority, clock):
    auth = authority("HS256", refresh_token_idle_ttl=timedelta(hours=1), refresh_token_ttl=timedelta(hours=2))
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    for _ in range(2):
        clock.advance(minutes=55)
        pair = auth.refresh(pair.refresh_token, client_id="app", actor="user")
    clock.advance(minutes=10)
    error(auth.refresh, pair.refresh_token, client_id="app", actor="user")
    ax = timeline.plot_timeline(auth.events)

    [arrow] = [child for child in ax.texts if child.get_gid() == "lifetime:F1"]
    assert arrow.xy[0] == pytest.approx(num(clock.now()))
    label = text_with_gid(ax, "lifetime-label")
    assert label is not None and label.get_text() == "family F1: absolute lifetime 2 h"
    assert "user: refresh refused: absolute expiry (2 h after login)" in [unnumbered(note) for note in notes(ax)]


# -- markers ------------------------------------------------------------------------------------


def test_verified_marker_sits_on_access_lane(stolen):
    verified = stolen.events.of_kind("verified")[0]
    ax = timeline.plot_timeline(stolen.events)
    assert has_marker(ax, "verified", "AT1", verified.time)


def test_issued_markers_at_bar_starts(stolen):
    ax = timeline.plot_timeline(stolen.events)
    for event in stolen.events.of_kind("issued"):
        assert has_marker(ax, "issued", event.label, event.issued_at), event.label


def test_every_event_has_a_marker_on_its_lane(every_kind):
    events = list(every_kind.events)
    ax = timeline.plot_timeline(events)
    for event in events:
        assert has_marker(ax, marker_style(event, events), event_lane(event), event.time), (event.seq, event.kind)


def test_rejected_call_and_refused_refresh_share_rejected_marker(stolen):
    ax = timeline.plot_timeline(stolen.events)
    rejected = {lane_at(ax, y) for _, y in markers(ax, "rejected")}
    assert rejected == {"RT1", "AT2"}  # The attacker's replay of RT1, the user's call with the revoked AT2.
    assert marker_line(ax, "reuse_detected") is None


def test_refresh_and_rotation_share_one_marker(stolen):
    refreshed = stolen.events.of_kind("refreshed")[0]
    ax = timeline.plot_timeline(stolen.events)
    at_refresh = [(style, x) for style, x, y in all_markers(ax)
                  if abs(x - num(refreshed.time)) < 1e-9 and lane_at(ax, y) == "RT1"]
    assert at_refresh == [("refreshed", pytest.approx(num(refreshed.time)))]
    assert "user: refresh → AT2 + RT2" in [unnumbered(note) for note in notes(ax)]


def test_reuse_and_family_revocation_share_one_marker(stolen):
    reuse = stolen.events.of_kind("reuse_detected")[0]
    ax = timeline.plot_timeline(stolen.events)
    assert has_marker(ax, "rejected", "RT1", reuse.time)
    assert not has_marker(ax, "revoked", "RT1", reuse.time)
    assert "attacker: reuse → F1 revoked" in [unnumbered(note) for note in notes(ax)]


def test_same_time_markers_keep_their_time(race):
    now = race.events.last().time
    ax = timeline.plot_timeline(race.events)
    moments = {num(event.time) for event in race.events}
    moments |= {num(event.expires_at) for event in race.events if event.expires_at}
    for style, x, _ in all_markers(ax):
        assert any(abs(x - moment) < 1e-9 for moment in moments), style
        assert x <= num(now) + 1e-9, style


def test_same_time_markers_stack_without_overlap(race):
    ax = timeline.plot_timeline(race.events)
    assert overlapping_markers(ax) == []


def test_stacked_markers_read_top_down_in_event_order(race):
    ax = timeline.plot_timeline(race.events)
    y = lane_y(ax, "AT2")
    on_lane = sorted(((my, style) for style, _, my in all_markers(ax) if lane_at(ax, my) == "AT2"))
    assert [style for _, style in on_lane] == ["issued", "verified", "revoked", "rejected"]
    assert on_lane[0][0] < y < on_lane[-1][0]  # The y axis points down: the first event is on top.


def test_crowded_moment_notes_numbered_in_event_order(race):
    ax = timeline.plot_timeline(race.events)
    numbered = sorted(notes(ax), key=lambda note: int(note.split(".")[0]))
    assert [unnumbered(note) for note in numbered] == [
        "tab A: 401 exp",
        "tab A: refresh → AT2 + RT2",
        "tab A: 200 OK",
        "tab B: 401 exp",
        "tab B: reuse → F1 revoked",
        "tab A: 401 revoked",
    ]


def test_crowded_moment_notes_give_time_offsets(race):
    ax = timeline.plot_timeline(race.events)
    by_text = {unnumbered(note): note for note in notes(ax)}
    assert by_text["tab A: 401 exp"].startswith("1. 09:05:00.000  ")
    assert by_text["tab B: 401 exp"].startswith("4. +20 ms  ")
    assert by_text["tab A: 401 revoked"].startswith("6. +1.02 s  ")


def test_notes_unnumbered_when_no_moment_is_crowded(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.verify(pair.access_token, actor="user")
    clock.advance(minutes=1)
    auth.introspect(pair.access_token, actor="resource server")
    ax = timeline.plot_timeline(auth.events)
    assert sorted(notes(ax)) == ["resource server: introspection → active", "user: 200 OK"]


def test_rejection_note_names_actor_and_failed_check(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    error(auth.verify, pair.access_token, required_scope="write", actor="user")
    clock.advance(minutes=5)
    error(auth.verify, pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)
    assert sorted(notes(ax)) == ["user: 401 exp", "user: 403 scope"]


def test_notes_say_who_and_why(stolen):
    ax = timeline.plot_timeline(stolen.events)
    texts = [unnumbered(note) for note in notes(ax)]
    assert "user: 401 revoked" in texts
    assert "user: 200 OK" in texts


def test_refused_refresh_note_gives_reason(authority, clock):
    auth = authority("HS256", detect_reuse=False)
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    auth.refresh(pair.refresh_token, client_id="app", actor="user")
    clock.advance(minutes=1)
    error(auth.refresh, pair.refresh_token, client_id="app", actor="attacker")
    ax = timeline.plot_timeline(auth.events)
    assert "attacker: refresh refused: RT1 already rotated" in [unnumbered(note) for note in notes(ax)]


def test_introspection_note_says_why_inactive(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=6)
    auth.introspect(pair.access_token, actor="resource server")
    ax = timeline.plot_timeline(auth.events)
    assert notes(ax) == ["resource server: introspection → inactive (expired)"]


def test_skewed_server_event_at_true_time(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=4, seconds=30)
    ahead = auth.with_clock(tl.OffsetClock(clock, 45))
    error(ahead.verify, pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)

    assert has_marker(ax, "rejected", "AT1", clock.now())
    assert notes(ax) == ["user: 401 exp (API clock reads 09:05:15)"]
    assert bar_end(bar(ax, "AT1")) > num(clock.now())  # Rejected before the bar ends: early.


def test_leeway_acceptance_is_named(authority, clock):
    auth = authority("HS256")
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=4, seconds=30)
    lenient = auth.with_clock(tl.OffsetClock(clock, 45))
    lenient.policy = lenient.policy.replace(leeway=60)
    lenient.verify(pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)
    assert notes(ax) == ["user: 200 OK (API clock reads 09:05:15, within leeway)"]


def test_marker_styles_have_distinct_shapes():
    shapes = [style.marker for style in timeline.MARKER_STYLES.values()]
    assert len(set(shapes)) == len(shapes)


def test_only_rejections_use_a_triangle():
    triangles = {"v", "^", "<", ">", "1", "2", "3", "4"}
    assert [name for name, style in timeline.MARKER_STYLES.items() if style.marker in triangles] == ["rejected"]


def test_event_styles_cover_every_kind():
    assert set(timeline.EVENT_STYLES) == set(EventKind)
    assert set(timeline.EVENT_STYLES.values()) <= set(timeline.MARKER_STYLES.values())


def test_introspection_marker_contrasts_with_bars():
    def gray(colour: str) -> float:
        red, green, blue = to_rgb(colour)
        return 0.299 * red + 0.587 * green + 0.114 * blue

    fill = timeline.MARKER_STYLES["introspected"].color
    for bar_colour in (timeline.REFRESH_BAR["color"], timeline.ACCESS_BAR["color"]):
        assert abs(gray(fill) - gray(bar_colour)) > 0.25, bar_colour


def test_marker_colours_from_okabe_ito(every_kind):
    ax = timeline.plot_timeline(every_kind.events)
    for line in ax.lines:
        if str(line.get_gid()).startswith("mark:") and line.get_gid() != "mark:expired":
            assert to_hex(line.get_markerfacecolor()) in OKABE_ITO | {"#ffffff"}, line.get_gid()
            assert to_hex(line.get_markeredgecolor()) == "#000000", line.get_gid()


def test_bar_colours_from_okabe_ito(stolen):
    ax = timeline.plot_timeline(stolen.events)
    for label in ("RT1", "AT1"):
        assert to_hex(bar(ax, label).get_facecolor()) in OKABE_ITO


def test_unknown_token_gets_its_own_lane(auth):
    auth.issue("alice", client_id="app", scope="read")
    auth.introspect("not-a-token-at-all-really", actor="resource server")
    ax = timeline.plot_timeline(auth.events)
    assert lanes(ax)[-1] == "unknown token"
    assert has_marker(ax, "introspected", "unknown token", auth.events.last().time)


# -- now, window, title, legend -----------------------------------------------------------------------


def test_now_defaults_to_last_event(stolen):
    ax = timeline.plot_timeline(stolen.events)
    [now_line] = [line for line in ax.lines if line.get_gid() == "now"]
    assert now_line.get_xdata()[0] == pytest.approx(num(stolen.events.last().time))
    label = text_with_gid(ax, "now-label")
    assert label is not None and label.get_text() == "now 09:09:00"


def test_now_label_shows_milliseconds_when_present(race):
    ax = timeline.plot_timeline(race.events)
    label = text_with_gid(ax, "now-label")
    assert label is not None and label.get_text() == "now 09:05:01.020"


def test_now_argument_moves_line_and_shades_future(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    now = clock.advance(minutes=3)
    ax = timeline.plot_timeline(auth.events, now=now)
    [now_line] = [line for line in ax.lines if line.get_gid() == "now"]
    assert now_line.get_xdata()[0] == pytest.approx(num(now))
    [future] = [patch for patch in ax.patches if patch.get_gid() == "future"]
    assert future.get_x() == pytest.approx(num(now))
    assert ax.get_xlim()[1] > num(now)


def test_default_window_covers_events_and_now(stolen, clock):
    now = clock.advance(minutes=2)
    ax = timeline.plot_timeline(stolen.events, now=now)
    left, right = ax.get_xlim()
    assert left < num(stolen.events[0].time)
    assert right > num(now)


def test_default_window_leaves_room_for_notes(stolen):
    ax = timeline.plot_timeline(stolen.events)
    renderer = draw(ax)
    axes_box = ax.get_window_extent(renderer)
    for text in ax.texts:
        if text.get_gid() == "note":
            box = text.get_window_extent(renderer)
            assert axes_box.x0 <= box.x0, text.get_text()
            assert box.x1 <= axes_box.x1, text.get_text()


def test_default_window_shows_access_expiry_soon_after_now(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    expires_at = clock.now() + timedelta(minutes=5)
    clock.advance(minutes=2)
    ax = timeline.plot_timeline(auth.events, now=clock.now())
    assert ax.get_xlim()[1] > num(expires_at)
    assert has_marker(ax, "expired", "AT1", expires_at)


def test_window_argument_sets_limits(stolen):
    start = datetime(2026, 1, 5, 9, 2, tzinfo=timezone.utc)
    end = datetime(2026, 1, 5, 9, 7, tzinfo=timezone.utc)
    ax = timeline.plot_timeline(stolen.events, window=(start, end))
    assert ax.get_xlim() == (pytest.approx(num(start)), pytest.approx(num(end)))


def test_window_must_run_forward(stolen):
    start = datetime(2026, 1, 5, 9, 7, tzinfo=timezone.utc)
    with pytest.raises(tl.ConfigurationError, match="before its end"):
        timeline.plot_timeline(stolen.events, window=(start, start - timedelta(minutes=1)))


def test_window_must_be_a_pair(stolen):
    with pytest.raises(tl.ConfigurationError, match="pair"):
        timeline.plot_timeline(stolen.events, window=datetime(2026, 1, 5, tzinfo=timezone.utc))


def test_naive_now_rejected(stolen):
    with pytest.raises(tl.ClockError, match="naive"):
        timeline.plot_timeline(stolen.events, now=datetime(2026, 1, 5, 9, 0))


def test_time_axis_labels_clock_times_and_date(stolen):
    ax = timeline.plot_timeline(stolen.events)
    tick_labels = [label.get_text() for label in ax.get_xticklabels()]
    assert "09:00" in tick_labels
    assert ax.get_xlabel() == "simulated time (UTC), Mon 5 Jan 2026"


def test_time_axis_over_several_days_names_dates(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=3)
    ax = timeline.plot_timeline(auth.events, now=clock.now())
    assert ax.get_xlabel() == "simulated time (UTC), 5 Jan to 8 Jan 2026"
    assert any(label.get_text().endswith("Jan") for label in ax.get_xticklabels())


def test_title_is_summary_by_default(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert ax.get_title() == "Reuse detected: RT1 replayed by attacker; family F1 revoked"


def test_title_argument_overrides_summary(stolen):
    ax = timeline.plot_timeline(stolen.events, title="Lesson 3")
    assert ax.get_title() == "Lesson 3"


def test_legend_lists_bars_then_drawn_kinds(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert legend_labels(ax) == [
        "refresh token", "access token", "rotated, kept on record", "issued", "API call accepted",
        "rejected (call or refresh)", "refreshed", "revoked", "end of lifetime (exp)",
    ]


def test_legend_explains_pale_remaining_lifetime(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=2)
    ax = timeline.plot_timeline(auth.events, now=clock.now())
    assert "pale: lifetime left after now" in legend_labels(ax)


def test_long_title_wraps_onto_two_lines(auth, clock):
    ax = timeline.plot_timeline([], title="x")
    assert ax.get_title() == "x"
    auth.issue("alice", client_id="app", scope="read")
    title = "A title long enough to need two lines on the figure, because it names many tokens; RT1, RT2, RT3, RT4"
    ax = timeline.plot_timeline(auth.events, title=title)
    assert ax.get_title().count("\n") == 1
    assert ax.get_title().replace("\n", " ") == title
    assert overlapping_texts(ax) == []


# -- readability --------------------------------------------------------------------------------------


def test_all_text_at_least_12_points(every_kind):
    ax = timeline.plot_timeline(every_kind.events)
    draw(ax)
    small = [
        (text.get_text(), text.get_fontsize()) for text in ax.figure.findobj(Text)
        if text.get_visible() and text.get_text() and text.get_fontsize() < 12
    ]
    assert small == []


def test_rendered_text_at_least_12_points_tall(every_kind):
    """Measure each drawn text: the height of a line of DejaVu Sans is about one em, so 12 points or more."""
    ax = timeline.plot_timeline(every_kind.events)
    renderer = draw(ax)
    to_points = 72 / ax.figure.dpi
    small = []
    for text in ax.figure.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        line_height = text.get_window_extent(renderer).height * to_points / (text.get_text().count("\n") + 1)
        if line_height < 12:
            small.append((text.get_text(), round(line_height, 1)))
    assert small == []


def test_figure_white_with_dark_text(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert to_hex(ax.figure.get_facecolor()) == "#ffffff"
    assert to_hex(ax.get_facecolor()) == "#ffffff"
    for text in (ax.title, ax.xaxis.label, *ax.get_yticklabels(), *ax.get_xticklabels()):
        assert to_hex(text.get_color()) == "#1a1a1a", text.get_text()


def test_given_axes_on_transparent_figure_gets_white_background(stolen):
    figure = Figure(facecolor="none")
    ax = figure.add_subplot()
    assert timeline.plot_timeline(stolen.events, ax=ax) is ax
    assert to_hex(figure.get_facecolor(), keep_alpha=True) == "#ffffffff"


def test_given_axes_on_light_figure_keeps_its_background(stolen):
    figure = Figure(facecolor="#fafafa")
    ax = figure.add_subplot()
    timeline.plot_timeline(stolen.events, ax=ax)
    assert to_hex(figure.get_facecolor()) == "#fafafa"


def test_texts_do_not_overlap(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert overlapping_texts(ax) == []


# -- inputs --------------------------------------------------------------------------------------------


def test_empty_events_give_labelled_axes():
    ax = timeline.plot_timeline([])
    message = text_with_gid(ax, "empty")
    assert message is not None and "No events yet" in message.get_text()
    assert ax.get_title() == "No events yet"
    draw(ax)


def test_empty_events_keep_given_title():
    ax = timeline.plot_timeline([], title="Lesson 1")
    assert ax.get_title() == "Lesson 1"


def test_plot_leaves_events_unchanged(stolen):
    before = copy.deepcopy(list(stolen.events))
    timeline.plot_timeline(stolen.events)
    timeline.format_timeline(stolen.events)
    timeline.summarize(stolen.events)
    assert list(stolen.events) == before


def test_plot_accepts_list_and_generator(stolen):
    from_log = lanes(timeline.plot_timeline(stolen.events))
    assert lanes(timeline.plot_timeline(list(stolen.events))) == from_log
    assert lanes(timeline.plot_timeline(event for event in stolen.events)) == from_log


def test_plot_accepts_object_with_events(stolen):
    assert lanes(timeline.plot_timeline(stolen)) == ["RT1", "RT2", "AT1", "AT2"]


def test_plot_rejects_items_that_are_not_events():
    with pytest.raises(TypeError, match="Event"):
        timeline.plot_timeline(["issued"])


def test_plot_handles_thirty_events(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    for _ in range(8):
        clock.advance(minutes=2)
        auth.verify(pair.access_token, actor="user")
        clock.advance(minutes=4)
        pair = auth.refresh(pair.refresh_token, client_id="app", actor="user")
    assert len(auth.events) >= 30

    ax = timeline.plot_timeline(auth.events)
    assert lanes(ax) == [f"RT{n}" for n in range(1, 10)] + [f"AT{n}" for n in range(1, 10)]
    assert len(markers(ax, "verified")) == 8
    assert overlapping_texts(ax) == []
    assert overlapping_markers(ax) == []


def test_markers_merge_when_events_coincide(auth):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    for _ in range(3):
        auth.verify(pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)
    assert len(markers(ax, "verified")) == 1
    assert notes(ax) == ["user: 200 OK (3 calls)"]


def test_matplotlib_loaded_only_to_plot_and_never_pyplot():
    code = (
        "import sys, tokenlab\n"
        "assert 'matplotlib' not in sys.modules, 'import tokenlab loaded matplotlib'\n"
        "from tokenlab import timeline\n"
        "clock = tokenlab.SimulatedClock('2026-01-05T09:00:00+00:00')\n"
        "auth = tokenlab.TokenAuthority(tokenlab.TokenPolicy(readable_ids=True), clock, key=tokenlab.demo_key('HS256'))\n"
        "auth.issue('alice', client_id='app', scope='read')\n"
        "timeline.format_timeline(auth.events)\n"
        "timeline.summarize(auth.events)\n"
        "assert 'matplotlib' not in sys.modules, 'the text timeline loaded matplotlib'\n"
        "timeline.plot_timeline(auth.events)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'the plot loaded pyplot'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# -- text timeline ---------------------------------------------------------------------------------------


def test_format_gives_one_line_per_event(stolen):
    text = timeline.format_timeline(stolen.events)
    assert len(text.splitlines()) == len(stolen.events)


def test_format_line_shows_time_actor_kind_label_outcome(stolen):
    lines = timeline.format_timeline(stolen.events).splitlines()
    reuse_line = next(line for line in lines if "reuse_detected" in line)
    assert reuse_line.split() == ["09:08:00", "attacker", "reuse_detected", "RT1", "rejected:", "reuse", "(invalid_grant)"]


def test_format_names_rejection_check(stolen):
    lines = timeline.format_timeline(stolen.events).splitlines()
    assert lines[-1].split()[:4] == ["09:09:00", "user", "rejected", "AT2"]
    assert "rejected: revocation (invalid_token)" in lines[-1]


def test_format_has_no_trailing_spaces(every_kind):
    for line in timeline.format_timeline(every_kind.events).splitlines():
        assert line == line.rstrip()


def test_format_shows_no_fingerprints_for_labelled_tokens(stolen):
    text = timeline.format_timeline(stolen.events)
    for event in stolen.events:
        if event.label and event.token:
            assert event.token not in text


def test_format_repeats_exactly_across_runs(authority):
    """Two runs issue different random refresh tokens, yet print the same text."""

    first_clock = tl.SimulatedClock("2026-01-05T09:00:00+00:00")
    second_clock = tl.SimulatedClock("2026-01-05T09:00:00+00:00")
    texts = []
    for own_clock in (first_clock, second_clock):
        auth = authority("HS256", clock=own_clock)
        pair = auth.issue("alice", client_id="app", scope="read", actor="user")
        own_clock.advance(minutes=6)
        error(auth.verify, pair.access_token, actor="user")
        auth.refresh(pair.refresh_token, client_id="app", actor="user")
        own_clock.advance(minutes=1)
        error(auth.refresh, pair.refresh_token, client_id="app", actor="attacker")
        texts.append(timeline.format_timeline(auth.events))
    assert texts[0] == texts[1]


def test_format_marks_now_in_last_line(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    now = clock.advance(minutes=3)
    lines = timeline.format_timeline(auth.events, now=now).splitlines()
    assert lines[-1] == "09:03:00  now"


def test_format_accepts_now_by_keyword_or_position(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    now = clock.advance(minutes=3)
    assert timeline.format_timeline(auth.events, now=now) == timeline.format_timeline(auth.events, now)


def test_format_adds_date_when_events_span_days(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=2)
    auth.refresh(pair.refresh_token, client_id="app")
    lines = timeline.format_timeline(auth.events).splitlines()
    assert lines[0].startswith("01-05 09:00:00  ")
    assert lines[-1].startswith("01-07 09:00:00  ")


def test_format_of_no_events():
    assert timeline.format_timeline([]) == "(no events)"


def test_format_uses_fingerprint_when_label_missing(auth):
    auth.introspect("not-a-token-at-all-really", actor="resource server")
    event = auth.events.last()
    assert event.label is None
    assert event.token in timeline.format_timeline(auth.events)


def test_format_describes_issue_lifetime(auth):
    auth.issue("alice", client_id="app", scope="read", actor="user")
    lines = timeline.format_timeline(auth.events).splitlines()
    assert lines[0].endswith("refresh token of F1, expires in 15 d")
    assert lines[1].endswith("access token of F1, expires in 5 min")


# -- summary ----------------------------------------------------------------------------------------------


def test_summary_of_reuse(stolen):
    assert timeline.summarize(stolen.events) == "Reuse detected: RT1 replayed by attacker; family F1 revoked"


def test_summary_of_two_reuses(stolen, clock):
    pair = stolen.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    stolen.refresh(pair.refresh_token, client_id="app", actor="attacker")
    error(stolen.refresh, pair.refresh_token, client_id="app", actor="user")
    assert timeline.summarize(stolen.events) == (
        "Reuse detected: RT1 replayed by attacker (F1 revoked), then RT3 by user (F2 revoked)"
    )


def test_summary_of_logout(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.revoke(pair.refresh_token, client_id="app", actor="user")
    assert timeline.summarize(auth.events) == "Logout: RT1 revoked by user; family F1 revoked"


def test_summary_of_logout_notes_stateless_pass(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    auth.revoke(pair.refresh_token, client_id="app", actor="user")
    auth.verify(pair.access_token, stateless=True, actor="attacker")
    assert timeline.summarize(auth.events).endswith("yet AT1 still passes a stateless check")


def test_summary_of_grace_retry(authority, clock):
    auth = authority("HS256", reuse_grace=30)
    pair = auth.issue("alice", client_id="app", scope="read", actor="tab A")
    auth.refresh(pair.refresh_token, client_id="app", actor="tab A")
    clock.advance(seconds=1)
    auth.refresh(pair.refresh_token, client_id="app", actor="tab B")
    assert timeline.summarize(auth.events) == (
        "Grace window: RT1 presented again by tab B and accepted; RT2 superseded by RT3, no reuse alarm"
    )


def test_summary_of_key_rotation(auth):
    auth.issue("alice", client_id="app", scope="read")
    auth.rotate_signing_key(tl.SigningKey.generate("HS256", kid="key-2"))
    assert timeline.summarize(auth.events) == "Signing key rotated to key-2; tokens signed with demo-hs256 still verify"


def test_summary_of_idle_expiry(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=16)
    error(auth.refresh, pair.refresh_token, client_id="app")
    assert timeline.summarize(auth.events) == "RT1 expired unused (idle expiry): the user must log in again"


def test_summary_of_access_revocation(auth):
    pair = auth.issue("alice", client_id="app", scope="read")
    auth.revoke(pair.access_token, client_id="app")
    assert timeline.summarize(auth.events).startswith("AT1 revoked: on the deny-list")


def test_summary_of_rotations(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    for _ in range(2):
        clock.advance(minutes=5)
        pair = auth.refresh(pair.refresh_token, client_id="app")
    assert timeline.summarize(auth.events) == "2 refreshes rotated RT1 → RT2 → RT3"


def test_summary_of_access_expiry(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=5)
    error(auth.verify, pair.access_token)
    assert timeline.summarize(auth.events) == "AT1 expired: the API rejected it (exp); time to refresh"


def test_summary_of_clock_skew(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=4, seconds=30)
    ahead = auth.with_clock(tl.OffsetClock(clock, 45))
    error(ahead.verify, pair.access_token)
    auth.verify(pair.access_token)
    assert timeline.summarize(auth.events) == "Clock skew: a server clock 45 s ahead rejected AT1 early (exp)"


def test_summary_of_plain_login(auth):
    pair = auth.issue("alice", client_id="app", scope="read")
    auth.verify(pair.access_token)
    assert timeline.summarize(auth.events) == "alice logged in: AT1 and RT1 issued; 1 API call accepted"


def test_summary_of_rejected_call(auth):
    pair = auth.issue("alice", client_id="app", scope="read")
    error(auth.verify, pair.access_token, required_scope="write")
    assert timeline.summarize(auth.events) == "AT1 rejected (scope)"


def test_summary_of_no_events():
    assert timeline.summarize([]) == "No events yet"


def test_summary_of_refresh_triggers(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=5)
    error(auth.verify, pair.access_token, actor="user")
    pair = auth.refresh(pair.refresh_token, client_id="app", actor="user")
    clock.advance(minutes=4)
    auth.refresh(pair.refresh_token, client_id="app", actor="user")
    assert timeline.summarize(auth.events) == (
        "2 refreshes rotated RT1 → RT2 → RT3: after a 401, then ahead of expiry"
    )


def test_summary_keeps_rotation_chains_within_families(auth, clock):
    first = auth.issue("alice", client_id="app", scope="read", actor="user")
    second = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=5)
    auth.refresh(first.refresh_token, client_id="app", actor="user")
    auth.refresh(second.refresh_token, client_id="app", actor="user")
    assert timeline.summarize(auth.events) == "2 refreshes rotated RT1 → RT3 (F1) and RT2 → RT4 (F2)"


def test_summary_of_replays_without_reuse_detection(authority, clock):
    auth = authority("HS256", detect_reuse=False)
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    auth.refresh(pair.refresh_token, client_id="app", actor="attacker")
    error(auth.refresh, pair.refresh_token, client_id="app", actor="user")
    assert timeline.summarize(auth.events) == (
        "No reuse detection: replays of RT1 refused, no family revoked; attacker keeps a valid RT2"
    )


def test_summary_of_clock_skew_with_leeway(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=4, seconds=30)
    ahead = auth.with_clock(tl.OffsetClock(clock, 45))
    error(ahead.verify, pair.access_token)
    lenient = auth.with_clock(tl.OffsetClock(clock, 45))
    lenient.policy = lenient.policy.replace(leeway=60)
    lenient.verify(pair.access_token)
    assert timeline.summarize(auth.events) == (
        "Clock skew: a server clock 45 s ahead rejected AT1 early (exp); with leeway it was accepted"
    )


# -- scenarios ---------------------------------------------------------------------------------------------

scenarios = pytest.importorskip("tokenlab.scenarios")
SCENARIO_CASES = [(name, {}) for name in scenarios.SCENARIOS] + [
    ("two-tabs-race", {"reuse_grace": 10}),
    ("stolen-refresh-token", {"detect_reuse": False}),
]
CASE_IDS = [name + "".join(f"[{key}={value}]" for key, value in changes.items()) for name, changes in SCENARIO_CASES]


@pytest.fixture(scope="module")
def scenario_plots() -> dict[str, tuple[Any, Any]]:
    """Run every scenario and the two variants once, and plot each: case id -> (result, axes)."""
    plots = {}
    for case_id, (name, changes) in zip(CASE_IDS, SCENARIO_CASES):
        result = scenarios.run_scenario(name, **changes)
        plots[case_id] = (result, timeline.plot_timeline(result.events, now=result.now))
    return plots


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_plot_has_lane_per_token_and_key(scenario_plots, case):
    result, ax = scenario_plots[case]
    labels = {event.label for event in result.events if event.label}
    kids = {str(e.detail[key]) for e in result.events if e.kind is EventKind.KEY_ROTATED for key in ("kid", "previous_kid")}
    assert set(lanes(ax)) == labels | kids


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_plot_marks_every_event_at_its_time(scenario_plots, case):
    result, ax = scenario_plots[case]
    for event in result.events:
        assert has_marker(ax, marker_style(event, result.events), event_lane(event), event.time), (
            event.seq, event.kind.value,
        )


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_plot_has_no_marker_after_now(scenario_plots, case):
    result, ax = scenario_plots[case]
    late = [(style, x) for style, x, _ in all_markers(ax) if style != "expired" and x > num(result.now) + 1e-9]
    assert late == []


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_plot_markers_do_not_overlap(scenario_plots, case):
    _, ax = scenario_plots[case]
    assert overlapping_markers(ax) == []


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_plot_texts_do_not_overlap(scenario_plots, case):
    _, ax = scenario_plots[case]
    assert overlapping_texts(ax) == []


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_title_is_summary(scenario_plots, case):
    result, ax = scenario_plots[case]
    assert ax.get_title().replace("\n", " ") == timeline.summarize(result.events)


@pytest.mark.parametrize("case", CASE_IDS)
def test_scenario_text_timeline_repeats(scenario_plots, case):
    name, changes = SCENARIO_CASES[CASE_IDS.index(case)]
    first, _ = scenario_plots[case]
    again = scenarios.run_scenario(name, **changes)
    assert timeline.format_timeline(again.events, now=again.now) == timeline.format_timeline(first.events, now=first.now)


def test_undetected_reuse_title_per_family(scenario_plots):
    result, ax = scenario_plots["stolen-refresh-token[detect_reuse=False]"]
    title = ax.get_title().replace("\n", " ")
    assert "RT2 → RT4" not in title
    assert title.endswith("attacker keeps a valid RT4")


def test_grace_scenario_shades_ten_second_window(scenario_plots):
    _, ax = scenario_plots["two-tabs-race[reuse_grace=10]"]
    [window] = [patch for patch in ax.patches if patch.get_gid() == "grace:RT1"]
    assert window.get_width() == pytest.approx(10 * SECOND)


def test_other_users_login_not_called_login_again(auth, clock):
    auth.issue("alice", client_id="app", scope="read", actor="alice")
    clock.advance(minutes=1)
    auth.issue("bob", client_id="app", scope="read", actor="bob")
    clock.advance(minutes=1)
    auth.issue("alice", client_id="app", scope="read", actor="alice")
    texts = [unnumbered(note) for note in notes(timeline.plot_timeline(auth.events))]
    assert "bob logs in → family F2" in texts
    assert "alice: logs in again → family F3" in texts
