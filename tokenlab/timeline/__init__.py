"""Timelines of an authority's event log: a plot, a text listing and a one-line summary.

:func:`plot_timeline` draws one lane per token, grouped by token family: each
token's lifetime as a bar, and every outcome as a marker at the time it
happened on the lane of the token it concerns. :func:`format_timeline` lists
the same events as deterministic text, one line per event, for notebook
outputs that are compared byte for byte. :func:`summarize` returns the
one-line title of what happened.

Everything here only reads :class:`~tokenlab.events.Event` records; nothing
calls the engine. matplotlib is imported by the plotting functions only, so
the text timeline and the summary work without loading it, and ``import
tokenlab`` never does. Plots use the object API
(:class:`matplotlib.figure.Figure`), never pyplot, so they work with any
backend and leave no global figure state behind.
"""

from __future__ import annotations

from .plot import plot_timeline
from .style import ACCESS_BAR, EVENT_STYLES, MARKER_STYLES, REFRESH_BAR
from .summary import summarize
from .text import format_timeline

__all__ = ["ACCESS_BAR", "EVENT_STYLES", "MARKER_STYLES", "REFRESH_BAR", "format_timeline", "plot_timeline", "summarize"]
