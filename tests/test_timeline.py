"""Timeline plots, the text timeline and the one-line summary, checked on the data they draw.

Event logs come from driving a real authority on the ``clock`` fixture with
readable ids and the HS256 demo key. Plots are read back through matplotlib's
object model: lanes are the y tick labels, bars are the patches with gid
``bar:<label>``, markers are the Line2D with gid ``mark:<kind>``, notes are
texts with gid ``note``. Nothing here compares pixels.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import matplotlib.dates as mdates
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text

import tokenlab as tl
from tokenlab import timeline
from tokenlab.events import EventKind

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
MINUTE = 1 / (24 * 60)
"""One minute in matplotlib date units (days)."""


# -- helpers ----------------------------------------------------------------------------


def num(moment: datetime) -> float:
    return float(mdates.date2num(moment))


def lanes(ax: Any) -> list[str]:
    return [label.get_text() for label in ax.get_yticklabels()]


def lane_y(ax: Any, label: str) -> int:
    return lanes(ax).index(label)


def bar(ax: Any, label: str) -> Any:
    found = [patch for patch in ax.patches if patch.get_gid() == f"bar:{label}"]
    assert len(found) == 1, f"expected one bar for {label}, found {len(found)}"
    return found[0]


def marker_line(ax: Any, kind: str) -> Any:
    found = [line for line in ax.lines if line.get_gid() == f"mark:{kind}"]
    return found[0] if found else None


def markers(ax: Any, kind: str) -> list[tuple[float, float]]:
    line = marker_line(ax, kind)
    if line is None:
        return []
    return list(zip(line.get_xdata(), line.get_ydata()))


def units_per_point(ax: Any) -> float:
    """Return how many x data units one point spans in this axes."""
    left, right = ax.get_xlim()
    width_points = ax.get_position().width * ax.figure.get_figwidth() * 72
    return (right - left) / width_points


def has_marker(
    ax: Any, kind: str, label: str, moment: datetime, slack_points: float = 0.0, merge_points: float = 0.0
) -> bool:
    """Tell whether a ``kind`` marker sits on ``label``'s lane at ``moment``, up to ``slack_points`` right of it.

    Markers at the same moment on one lane are drawn side by side, so one may
    sit a few points right of its time. Overlapping events of one kind share
    the first one's marker, which may sit up to ``merge_points`` left.
    """
    x, y = num(moment), lane_y(ax, label)
    scale = units_per_point(ax)
    low, high = x - merge_points * scale - 1e-9, x + slack_points * scale + 1e-9
    return any(my == y and low <= mx <= high for mx, my in markers(ax, kind))


def notes(ax: Any) -> list[str]:
    return [text.get_text() for text in ax.texts if text.get_gid() == "note"]


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
    assert set(auth.events.kinds()) == {kind.value for kind in EventKind}
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
    assert first_label is not None and first_label.get_text() == "F1"
    assert second_label is not None and second_label.get_text() == "F2"
    # Each family's label sits halfway between its two lanes.
    assert first_label.get_position()[1] == pytest.approx(0.5)
    assert second_label.get_position()[1] == pytest.approx(2.5)


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
    patch = bar(ax, "RT1")
    assert patch.get_x() + patch.get_width() == pytest.approx(num(rotated.time))


def test_reuse_cuts_every_live_bar_of_family(stolen):
    reuse = stolen.events.of_kind("reuse_detected")[0]
    ax = timeline.plot_timeline(stolen.events)
    for label in ("RT2", "AT2"):
        patch = bar(ax, label)
        assert patch.get_x() + patch.get_width() == pytest.approx(num(reuse.time)), label
        assert has_marker(ax, "revoked", label, reuse.time), label


def test_family_revocation_spares_bars_already_ended(stolen):
    ax = timeline.plot_timeline(stolen.events)
    expired_at = stolen.events.of_kind("issued")[1].expires_at
    patch = bar(ax, "AT1")
    assert patch.get_x() + patch.get_width() == pytest.approx(num(expired_at))


def test_access_revocation_cuts_only_that_token(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=2)
    auth.revoke(pair.access_token, client_id="app")
    ax = timeline.plot_timeline(auth.events)

    patch = bar(ax, "AT1")
    assert patch.get_x() + patch.get_width() == pytest.approx(num(clock.now()))
    assert bar(ax, "RT1").get_width() == pytest.approx(15.0)


def test_bar_end_marks_differ_by_cause(stolen):
    ax = timeline.plot_timeline(stolen.events)
    rotated_at = stolen.events.of_kind("rotated")[0].time
    revoked_at = stolen.events.of_kind("reuse_detected")[0].time
    expired_at = stolen.events.of_kind("issued")[1].expires_at

    assert has_marker(ax, "rotated", "RT1", rotated_at, slack_points=20)
    assert has_marker(ax, "revoked", "RT2", revoked_at)
    assert has_marker(ax, "expired", "AT1", expired_at)
    shapes = {marker_line(ax, kind).get_marker() for kind in ("rotated", "revoked", "expired")}
    assert len(shapes) == 3


def test_no_expiry_mark_before_token_expires(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=2)
    ax = timeline.plot_timeline(auth.events, now=clock.now())
    assert markers(ax, "expired") == []


def test_grace_retry_ends_superseded_token_as_rotated(every_kind):
    grace = every_kind.events.of_kind("grace_reuse")[0]
    superseded = grace.detail["superseded"]
    ax = timeline.plot_timeline(every_kind.events)
    patch = bar(ax, superseded)
    assert patch.get_x() + patch.get_width() == pytest.approx(num(grace.time))
    assert has_marker(ax, "rotated", superseded, grace.time, slack_points=20)


def test_bar_past_window_gets_expiry_note(auth, clock):
    auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=10)
    ax = timeline.plot_timeline(auth.events, now=clock.now())
    note = text_with_gid(ax, "clip:RT1")
    assert note is not None
    # 15 days of idle lifetime minus the 10 minutes gone round to 15 d.
    assert note.get_text() == "→ expires in 15 d"
    assert text_with_gid(ax, "clip:AT1") is None


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
    ax = timeline.plot_timeline(every_kind.events)
    for event in every_kind.events:
        lane = event.label or ("signing key" if event.kind is EventKind.KEY_ROTATED else "unknown token")
        assert has_marker(ax, event.kind.value, lane, event.time, slack_points=80), (event.seq, event.kind)


def test_key_rotation_gets_own_lane(every_kind):
    rotation = every_kind.events.of_kind("key_rotated")[0]
    ax = timeline.plot_timeline(every_kind.events)
    assert lanes(ax)[-1] == "signing key"
    assert has_marker(ax, "key_rotated", "signing key", rotation.time)
    lines = [line for line in ax.lines if line.get_gid() == "key-rotation"]
    assert [line.get_xdata()[0] for line in lines] == [pytest.approx(num(rotation.time))]


def test_simultaneous_markers_sit_side_by_side_in_order(stolen):
    refreshed = stolen.events.of_kind("refreshed")[0]
    ax = timeline.plot_timeline(stolen.events)
    [(refreshed_x, _)] = [m for m in markers(ax, "refreshed")]
    rotated_x = min(x for x, y in markers(ax, "rotated") if y == lane_y(ax, "RT1"))
    assert refreshed_x == pytest.approx(num(refreshed.time))
    assert rotated_x > refreshed_x


def test_rejection_note_names_failed_check(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    clock.advance(minutes=1)
    error(auth.verify, pair.access_token, required_scope="write", actor="user")
    clock.advance(minutes=5)
    error(auth.verify, pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)
    assert "scope" in notes(ax)
    assert "exp" in notes(ax)


def test_note_names_actor_other_than_token_holder(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert any("attacker" in note for note in notes(ax))
    assert not any("user" in note for note in notes(ax))


def test_revocation_rejection_note(stolen):
    ax = timeline.plot_timeline(stolen.events)
    assert "revocation" in notes(ax)


def test_reuse_marker_is_largest(every_kind):
    ax = timeline.plot_timeline(every_kind.events)
    sizes = {line.get_gid(): line.get_markersize() for line in ax.lines if str(line.get_gid()).startswith("mark:")}
    reuse_size = sizes.pop("mark:reuse_detected")
    assert reuse_size > max(sizes.values())


def test_each_event_kind_has_own_marker_shape(every_kind):
    ax = timeline.plot_timeline(every_kind.events)
    drawn = {line.get_gid(): line.get_marker() for line in ax.lines if str(line.get_gid()).startswith("mark:")}
    assert set(drawn) == {f"mark:{kind.value}" for kind in EventKind}
    assert len(set(drawn.values())) == len(EventKind)


def test_marker_styles_cover_every_kind():
    assert set(timeline.EVENT_STYLES) == set(EventKind)
    assert len({style.marker for style in timeline.EVENT_STYLES.values()}) == len(EventKind)


def test_marker_colours_from_okabe_ito(every_kind):
    ax = timeline.plot_timeline(every_kind.events)
    for line in ax.lines:
        if str(line.get_gid()).startswith("mark:"):
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
        "refresh token", "access token", "issued", "API call accepted", "rejected", "expired",
        "refreshed", "rotated", "reuse detected", "revoked",
    ]


# -- readability --------------------------------------------------------------------------------------


def test_all_text_at_least_12_points(every_kind):
    ax = timeline.plot_timeline(every_kind.events)
    draw(ax)
    small = [
        (text.get_text(), text.get_fontsize()) for text in ax.figure.findobj(Text)
        if text.get_visible() and text.get_text() and text.get_fontsize() < 12
    ]
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


def test_markers_merge_when_events_coincide(auth):
    pair = auth.issue("alice", client_id="app", scope="read", actor="user")
    for _ in range(3):
        auth.verify(pair.access_token, actor="user")
    ax = timeline.plot_timeline(auth.events)
    assert len(markers(ax, "verified")) == 1
    assert "×3" in notes(ax)


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


# -- scenarios ---------------------------------------------------------------------------------------------

scenarios = pytest.importorskip("tokenlab.scenarios")
SCENARIO_NAMES = list(scenarios.SCENARIOS)


@pytest.fixture(scope="module")
def scenario_results() -> dict[str, Any]:
    return {name: scenarios.run_scenario(name) for name in SCENARIO_NAMES}


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_plot_has_lane_per_labelled_token(scenario_results, name):
    result = scenario_results[name]
    ax = timeline.plot_timeline(result.events, now=result.now)
    labels = {event.label for event in result.events if event.label}
    assert set(lanes(ax)) - {"signing key", "unknown token"} == labels


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_plot_marks_every_event(scenario_results, name):
    result = scenario_results[name]
    ax = timeline.plot_timeline(result.events, now=result.now)
    for event in result.events:
        lane = event.label or ("signing key" if event.kind is EventKind.KEY_ROTATED else "unknown token")
        assert has_marker(ax, event.kind.value, lane, event.time, slack_points=80, merge_points=12), (
            event.seq, event.kind.value,
        )


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_plot_texts_do_not_overlap(scenario_results, name):
    result = scenario_results[name]
    ax = timeline.plot_timeline(result.events, now=result.now)
    assert overlapping_texts(ax) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_title_is_summary(scenario_results, name):
    result = scenario_results[name]
    ax = timeline.plot_timeline(result.events, now=result.now)
    assert ax.get_title() == timeline.summarize(result.events)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_text_timeline_repeats(scenario_results, name):
    again = scenarios.run_scenario(name)
    first = scenario_results[name]
    assert timeline.format_timeline(again.events, now=again.now) == timeline.format_timeline(first.events, now=first.now)
