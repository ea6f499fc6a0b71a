"""Time a widget step (engine plus redraw) and the PNG render alone, for timelines of about 30 events.

Run it on its own, not under pytest:

    python tests/benchmarks/bench_widgets.py [--repeats N]

Each case builds the widget first, as a notebook does on display, so every
timed step renders the timeline to PNG and updates the ipywidgets Image. The
table gives the median and the slowest of N timed runs after one untimed
warm-up, and the number of events on the timeline. The target for a widget
step is a median of 150 ms or less. Timings depend on the machine and its
load; the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import matplotlib

matplotlib.use("Agg")

from tokenlab.scenarios import ScenarioRun  # noqa: E402
from tokenlab.timeline import plot_timeline  # noqa: E402
from tokenlab.widgets import PolicyExplorer, ScenarioPlayer, TokenPlayground, _render_png  # noqa: E402

TARGET_MS = 150.0
SCENARIO = "idle-vs-absolute-expiry"
"""The built-in scenario with the most events (33 when played to the end)."""


def measure(prepare: Callable[[], object], timed: Callable[[object], object], repeats: int) -> list[float]:
    """Return the milliseconds of ``timed(prepare())`` for ``repeats`` runs after one warm-up; ``prepare`` is untimed."""
    timed(prepare())
    durations = []
    for _ in range(repeats):
        state = prepare()
        started = time.perf_counter()
        timed(state)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def player_step(repeats: int) -> tuple[list[float], str]:
    """ScenarioPlayer.step() from step 13 to 14 of the idle-expiry scenario: one API call with a refresh."""
    player = ScenarioPlayer(SCENARIO)
    player.widget

    def prepare() -> ScenarioPlayer:
        player.go_to(13)
        return player

    durations = measure(prepare, lambda p: p.step(), repeats)  # type: ignore[attr-defined]
    return durations, str(len(player.run.events))


def playground_call(repeats: int) -> tuple[list[float], str]:
    """TokenPlayground.call_api() with about 30 events on the timeline; each call adds one."""
    playground = TokenPlayground()
    playground.widget
    while len(playground.authority.events) < 30 - repeats // 2 - 6:
        playground.wait(5)
        playground.call_api()
    durations = measure(lambda: playground, lambda p: p.call_api(), repeats)  # type: ignore[attr-defined]
    last = len(playground.authority.events)
    return durations, f"{last - repeats + 1}-{last}"


def explorer_set(repeats: int) -> tuple[list[float], str]:
    """PolicyExplorer.set(): replay the whole scenario (33 events) under a new grace window and redraw."""
    explorer = PolicyExplorer(SCENARIO)
    explorer.widget
    graces = iter(range(1, repeats + 3))
    durations = measure(lambda: explorer, lambda e: e.set(reuse_grace=next(graces)), repeats)  # type: ignore[attr-defined]
    return durations, str(len(explorer.result.events)) if explorer.result else "-"


def _events_at_step(position: int) -> tuple[list, object]:
    run = ScenarioRun(SCENARIO)
    while run.position < position:
        run.step()
    return run.events, run.now


def plot_alone(repeats: int) -> tuple[list[float], str]:
    """plot_timeline() alone: build the matplotlib Figure, without rendering it."""
    events, now = _events_at_step(14)
    return measure(lambda: None, lambda _: plot_timeline(events, now=now), repeats), str(len(events))


def png_alone(repeats: int) -> tuple[list[float], str]:
    """Rendering an already built Figure to PNG bytes, as the widgets do (a new Figure for each run)."""
    events, now = _events_at_step(14)
    return measure(lambda: plot_timeline(events, now=now).figure, _render_png, repeats), str(len(events))


CASES = [
    ("ScenarioPlayer.step() with redraw", player_step, True),
    ("TokenPlayground.call_api() with redraw", playground_call, True),
    ("PolicyExplorer.set() with replay and redraw", explorer_set, False),
    ("plot_timeline() alone", plot_alone, False),
    ("PNG render alone", png_alone, False),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per case (default 15)")
    args = parser.parse_args(argv)

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"Python {sys.version.split()[0]}, matplotlib {matplotlib.__version__}, {os.cpu_count()} CPUs, load average {load}")
    print(f"{args.repeats} timed runs per case after one warm-up; target for a widget step: median <= {TARGET_MS:.0f} ms")
    print()
    header = f"| {'case':45} | {'events':>6} | {'median ms':>9} | {'max ms':>7} | {'target':>6} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for name, case, has_target in CASES:
        durations, events = case(args.repeats)
        median = statistics.median(durations)
        verdict = ""
        if has_target:
            verdict = "met" if median <= TARGET_MS else "missed"
        print(f"| {name:45} | {events:>6} | {median:9.1f} | {max(durations):7.1f} | {verdict:>6} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
