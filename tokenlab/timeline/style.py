"""How timelines look: the colour-blind-safe palette, marker shapes, bar styles and sizes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..events import EventKind

# -- look ---------------------------------------------------------------------

# The Okabe-Ito palette, which stays distinct under the common colour-vision deficiencies.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"

TEXT_COLOR = "#1A1A1A"
MUTED_TEXT_COLOR = "#4D4D4D"
GRID_COLOR = "#D0D0D0"
SEPARATOR_COLOR = "#9A9A9A"
LANE_EDGE_COLOR = "#EBEBEB"
RECORD_COLOR = "#8C8C8C"
BACKGROUND = "white"

FONT_SIZE = 13
"""Points; every text in the figure is at least this large so that it reads on a projector."""
TITLE_SIZE = 16

ACCESS_BAR = {"color": SKY_BLUE, "hatch": None, "legend": "access token"}
REFRESH_BAR = {"color": ORANGE, "hatch": "///", "legend": "refresh token"}
STATELESS_BAR = {"color": "#D9EEFA", "hatch": "xx", "edge": BLUE, "legend": "revoked, still accepted by stateless check"}
RECORD_LEGEND = "rotated, kept on record"
GRACE_LEGEND = "grace window"
KEY_SIGNING = {"color": "#A6A6A6", "hatch": None, "legend": "key signs new tokens"}
KEY_VERIFYING = {"color": "white", "hatch": "..", "legend": "key only verifies"}
FUTURE_LEGEND = "pale: lifetime left after now"

LANE_POINTS = 36.0
"""The height of a standard lane, with one row of markers (0.5 inch); lanes with more rows are taller."""
BAR_POINTS = 18.0
"""The thickness of a token's bar."""
RECORD_POINTS = 3.0
"""The thickness of the grey line that continues a rotated refresh token kept on record."""
SLOT_POINTS = 17.0
"""The vertical distance between the rows of a lane: markers stacked at one moment, and their notes."""
CLUSTER_POINTS = 16.0
"""Noted markers on any lanes whose centres lie closer than this horizontally form one moment."""
SPAN_ROW = 0.9
"""The height, in lanes, of the row above a family that shows its absolute lifetime."""


@dataclass(frozen=True)
class MarkerStyle:
    """The drawing style of one kind of outcome: a marker shape, a fill colour, a size in points and its legend text."""

    marker: str
    color: str
    size: float
    legend: str


MARKER_STYLES: dict[str, MarkerStyle] = {
    "issued": MarkerStyle("o", "white", 9, "issued"),
    "verified": MarkerStyle("s", BLUISH_GREEN, 10, "API call accepted"),
    "rejected": MarkerStyle("v", VERMILLION, 13, "rejected (call or refresh)"),
    "refreshed": MarkerStyle("D", BLUE, 9, "refreshed"),
    "superseded": MarkerStyle("p", SKY_BLUE, 12, "superseded (grace retry)"),
    "revoked": MarkerStyle("X", BLACK, 11, "revoked"),
    "introspected": MarkerStyle("P", "white", 13, "introspected"),
    "key_rotated": MarkerStyle("H", "white", 12, "key rotated or removed"),
    "expired": MarkerStyle("|", BLACK, BAR_POINTS + 6, "end of lifetime (exp)"),
}
"""The marker of each kind of outcome; every one has its own shape, so the plot also reads in grayscale.

One outcome gets one marker: a rejected API call and a refused refresh are
both ``rejected``, whatever the reason (expiry, revocation, reuse), and the
note beside the marker gives the reason. A refresh and the rotation it
causes are one ``refreshed`` marker. ``expired`` is the tick that ends a
bar at the token's own expiry; it marks no event.
"""

_STYLE_OF_KIND: dict[EventKind, str] = {
    EventKind.ISSUED: "issued",
    EventKind.VERIFIED: "verified",
    EventKind.REJECTED: "rejected",
    EventKind.EXPIRED: "rejected",
    EventKind.REUSE_DETECTED: "rejected",
    EventKind.REFRESHED: "refreshed",
    EventKind.ROTATED: "refreshed",
    EventKind.GRACE_REUSE: "refreshed",
    EventKind.REVOKED: "revoked",
    EventKind.INTROSPECTED: "introspected",
    EventKind.KEY_ROTATED: "key_rotated",
    EventKind.KEY_REMOVED: "key_rotated",
}

EVENT_STYLES: dict[EventKind, MarkerStyle] = {kind: MARKER_STYLES[name] for kind, name in _STYLE_OF_KIND.items()}
"""The marker each event kind is drawn with.

An ``expired`` event is a call or refresh rejected because the token had
expired, so it gets the rejected marker. A ``rotated`` or ``grace_reuse``
event shares the marker of the refresh it belongs to, and a
``reuse_detected`` event's marker also stands for the family revocation it
caused. A grace retry also puts a ``superseded`` marker on the token it
replaced.
"""

NOTE_GAP = 5
"""Points between the edge of a marker and its note."""
CLIP_NOTE_OFFSET = 4
"""Points between the right edge of the axes and a clipped bar's note."""
MAX_NOTE_SHARE = 0.75
"""The largest share of the axes width that the window grows to fit one note right of its marker."""
MIN_EVENT_SHARE = 0.55
"""The window grows for notes only while the default window's span keeps at least this share of the axes width."""
FUTURE_SHARE = 1.5
"""The default window runs on past ``now`` to an access token's expiry if that lies within this many times the events' span."""

SERVER_ACTORS = ("resource server", "admin")
"""Actors that hold no tokens; when events name any other two actors, each lane names its token's holder."""
RECORD_CUTS = ("rotated", "superseded")
"""The cuts after which a refresh token stays on record, drawn as a thin grey line."""
KEY_FAMILY = "signing keys"
UNKNOWN_LANE = "unknown token"

# Figure geometry, in inches, for figures this module creates.
FIGURE_WIDTH = 12.0
TOP_MARGIN = 0.55
TITLE_LINE = 0.32
AXIS_LABEL_SPACE = 0.75
LEGEND_ROW_HEIGHT = 0.27
RIGHT_MARGIN = 0.35
COLUMN_GAP = 0.15

MAX_TICKS = 8
TICK_STEPS = (
    15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
)
"""Candidate spacings between time ticks, in seconds; the smallest that gives at most MAX_TICKS wins."""
MIN_WINDOW = timedelta(minutes=2)
