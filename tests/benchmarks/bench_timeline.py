"""Benchmark: how long the stolen-refresh-token timeline takes to build and draw, against plain matplotlib.

Run it on its own (pytest does not collect it):

    python tests/benchmarks/bench_timeline.py [--repeat N]

Each round builds a figure and draws it on a new Agg canvas, as a notebook
does once per displayed plot. Three figures are timed, interleaved so that a
busy machine slows all of them alike:

- ``plot_timeline``: the real timeline.
- ``bare``: the same bars (one ``barh`` call) and the same markers (one
  ``plot`` call per marker style) on a figure and axes of the same size, with
  matplotlib's default ticks and nothing else.
- ``plain``: ``bare`` plus the same texts drawn with plain matplotlib calls:
  title, axis label, lane tick labels, time tick labels, a default legend with
  the same entries, the notes and the now line with its label. The gap
  between ``plain`` and ``plot_timeline`` is this module's own overhead; the
  gap between ``bare`` and ``plain`` is matplotlib's cost of rendering text.

The table gives the median wall time and the median CPU time of the process
(less disturbed by other processes on a shared machine), and each as a ratio
to ``bare``. Targets: at most 1.5 times ``bare`` and at most 150 ms.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any, Callable

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from tokenlab import scenarios, timeline

TARGET_RATIO = 1.5
TARGET_MILLISECONDS = 150.0


def timeline_figure(result: scenarios.ScenarioResult) -> Figure:
    """Build the real timeline figure."""
    return timeline.plot_timeline(result.events, now=result.now).figure


def reference_content(figure: Figure) -> dict[str, Any]:
    """Read back what the timeline drew, so the plain matplotlib figures draw the same amount."""
    ax = figure.axes[0]
    bars = [patch for patch in ax.patches if str(patch.get_gid()).startswith("bar:")]
    markers = [line for line in ax.lines if str(line.get_gid()).startswith("mark:")]
    legend = ax.get_legend()
    return {
        "size": figure.get_size_inches(),
        "position": ax.get_position().bounds,
        "bars": [(patch.get_y() + patch.get_height() / 2, patch.get_x(), patch.get_width()) for patch in bars],
        "markers": [(line.get_xdata(), line.get_ydata(), line.get_marker()) for line in markers],
        "title": ax.get_title(),
        "xlabel": ax.get_xlabel(),
        "yticks": [label.get_text() for label in ax.get_yticklabels()],
        "yticklocs": list(ax.get_yticks()),
        "xticks": list(ax.get_xticks()),
        "xticklabels": [label.get_text() for label in ax.get_xticklabels()],
        "xlim": ax.get_xlim(),
        "ylim": ax.get_ylim(),
        "legend": [text.get_text() for text in legend.get_texts()] if legend else [],
        "texts": [text.get_text() for text in ax.texts],
    }


def bare_figure(content: dict[str, Any]) -> Figure:
    """Draw the same bars and markers with default matplotlib settings and nothing else."""
    figure = Figure(figsize=content["size"])
    ax = figure.add_axes(content["position"])
    ys, lefts, widths = zip(*content["bars"])
    ax.barh(ys, widths, left=lefts, height=0.5)
    for xs, ys, marker in content["markers"]:
        ax.plot(xs, ys, linestyle="none", marker=marker)
    return figure


def plain_figure(content: dict[str, Any]) -> Figure:
    """Draw ``bare`` plus the same texts, legend and now line with plain matplotlib calls."""
    figure = Figure(figsize=content["size"])
    ax = figure.add_axes(content["position"])
    ys, lefts, widths = zip(*content["bars"])
    bars = ax.barh(ys, widths, left=lefts, height=0.5)
    lines = [ax.plot(xs, ys, linestyle="none", marker=marker)[0] for xs, ys, marker in content["markers"]]
    # One handle per legend entry: bars stand in for the entries that are not markers (bars, spans, lines).
    handles = [bars] * max(len(content["legend"]) - len(lines), 0) + lines
    ax.set_xlim(content["xlim"])
    ax.set_ylim(content["ylim"])
    ax.set_yticks(content["yticklocs"], content["yticks"], fontsize=13)
    ax.set_xticks(content["xticks"], content["xticklabels"], fontsize=13)
    ax.set_xlabel(content["xlabel"], fontsize=13)
    ax.set_title(content["title"], fontsize=16)
    for number, text in enumerate(content["texts"]):
        # The same texts, spread over the axes: their cost is in the glyphs, not in where they sit.
        ax.text(0.05 + 0.3 * (number % 3), 0.1 + 0.08 * number, text, transform=ax.transAxes, fontsize=13)
    ax.axvline(content["xlim"][1], linestyle="--")
    ax.legend(handles[: len(content["legend"])], content["legend"], loc="upper center",
              bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=13)
    return figure


def glyph_count(figure: Figure) -> tuple[int, int]:
    """Count the visible texts of a drawn figure and their characters, line breaks and spaces left out."""
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return len(texts), sum(len(t.get_text().replace(" ", "").replace("\n", "")) for t in texts)


def render(build: Callable[[], Figure]) -> tuple[float, float, Figure]:
    """Build a figure and draw it on a new Agg canvas; return the wall and CPU seconds taken, and the figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    figure = build()
    FigureCanvasAgg(figure).draw()
    return time.perf_counter() - wall, time.process_time() - cpu, figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="rounds per figure (default 30)")
    args = parser.parse_args()

    result = scenarios.run_scenario("stolen-refresh-token")
    content = reference_content(timeline_figure(result))
    builds: dict[str, Callable[[], Figure]] = {
        "plot_timeline": lambda: timeline_figure(result),
        "bare": lambda: bare_figure(content),
        "plain": lambda: plain_figure(content),
    }

    walls: dict[str, list[float]] = {name: [] for name in builds}
    cpus: dict[str, list[float]] = {name: [] for name in builds}
    glyphs: dict[str, tuple[int, int]] = {}
    for name, build in builds.items():
        glyphs[name] = glyph_count(render(build)[2])  # Warm-up round: font caches, imports.
    names = list(builds)
    for round_number in range(args.repeat):
        for name in names[round_number % 3:] + names[: round_number % 3]:
            wall, cpu, _ = render(builds[name])
            walls[name].append(wall)
            cpus[name].append(cpu)

    wall_bare = statistics.median(walls["bare"])
    cpu_bare = statistics.median(cpus["bare"])
    print(f"stolen-refresh-token: {len(result.events)} events, {len(content['bars'])} bars, "
          f"{sum(len(xs) for xs, _, _ in content['markers'])} markers; {args.repeat} rounds each")
    print(f"matplotlib {matplotlib.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print()
    print(f"| figure        | wall ms (median) | x bare | CPU ms (median) | x bare | texts | characters |")
    print(f"|---------------|-----------------:|-------:|----------------:|-------:|------:|-----------:|")
    for name in names:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        texts, characters = glyphs[name]
        print(f"| {name:<13} | {wall * 1000:16.1f} | {wall / wall_bare:6.2f} | {cpu * 1000:15.1f} | "
              f"{cpu / cpu_bare:6.2f} | {texts:5d} | {characters:10d} |")
    print()
    wall = statistics.median(walls["plot_timeline"])
    ratio = statistics.median(cpus["plot_timeline"]) / cpu_bare
    print(f"target: at most {TARGET_RATIO}x bare (CPU): {'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)")
    print(f"target: at most {TARGET_MILLISECONDS:.0f} ms (wall): "
          f"{'met' if wall * 1000 <= TARGET_MILLISECONDS else 'NOT met'} ({wall * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
