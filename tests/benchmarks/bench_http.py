"""Benchmark the lab server: refresh round trips over loopback against the same refresh in process, and start/stop time.

Run on its own: ``python tests/benchmarks/bench_http.py`` (needs the ``http``
extra). It prints one table. Rates are medians of interleaved trials, so a
burst of other work on the machine affects both sides of a ratio alike.

The HTTP figure includes what a real client pays per refresh: a new TCP
connection (Werkzeug's development server closes the connection after every
response), the form encoding, Flask's routing, the JSON response, and the
server's lock around the authority.

Target: a server starts and stops in under one second.
"""

from __future__ import annotations

import statistics
import sys
import time
from importlib.metadata import version
from typing import Callable

import requests

import tokenlab as tl
from tokenlab.http import LabServer

TRIALS = 5
REFRESHES_PER_TRIAL = 200
START_STOP_REPEATS = 10
CLIENT = "app"


def rate(operation: Callable[[], None], count: int) -> float:
    """Return operations per second for ``count`` calls of ``operation``."""
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - start)


def new_authority() -> tl.TokenAuthority:
    """An authority with the defaults a real server would use (random ids) and the demo RS256 key."""
    return tl.TokenAuthority(key=tl.demo_key("RS256"))


def refresh_rates() -> tuple[float, float, float]:
    """Return (over HTTP with requests, over HTTP with LabClient and its transcript, in process) refreshes per second."""
    authority = new_authority()
    with LabServer(authority) as server:
        session = requests.Session()
        session.trust_env = False
        token_url = server.url + "/token"
        lab_client = server.client(CLIENT, name="bench")

        def http_trial() -> float:
            refresh_token = authority.issue("alice", client_id=CLIENT, scope="profile").refresh_token

            def once() -> None:
                nonlocal refresh_token
                response = session.post(token_url, data={
                    "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT,
                }, timeout=10)
                refresh_token = response.json()["refresh_token"]

            return rate(once, REFRESHES_PER_TRIAL)

        def lab_client_trial() -> float:
            lab_client.login("alice", "alice-demo-password")
            return rate(lambda: lab_client.refresh(), REFRESHES_PER_TRIAL)

        def in_process_trial() -> float:
            refresh_token = authority.issue("alice", client_id=CLIENT, scope="profile").refresh_token

            def once() -> None:
                nonlocal refresh_token
                refresh_token = authority.refresh(refresh_token, client_id=CLIENT).refresh_token

            return rate(once, REFRESHES_PER_TRIAL)

        http, lab, local = [], [], []
        for _ in range(TRIALS):
            http.append(http_trial())
            lab.append(lab_client_trial())
            local.append(in_process_trial())
        session.close()
        lab_client.close()
    return statistics.median(http), statistics.median(lab), statistics.median(local)


def start_stop_times() -> tuple[list[float], list[float], list[float]]:
    """Return the seconds taken to build a server (the Flask app), to start it, and to stop it, per repeat."""
    authority = new_authority()
    builds, starts, stops = [], [], []
    session = requests.Session()
    session.trust_env = False
    for _ in range(START_STOP_REPEATS):
        began = time.perf_counter()
        server = LabServer(authority)
        built = time.perf_counter()
        server.start()
        started = time.perf_counter()
        # One request shows that the server responds before it is stopped.
        session.get(server.url + "/.well-known/jwks.json", timeout=10).raise_for_status()
        stopping = time.perf_counter()
        server.stop()
        stopped = time.perf_counter()
        builds.append(built - began)
        starts.append(started - built)
        stops.append(stopped - stopping)
    session.close()
    return builds, starts, stops


def main() -> None:
    rows: list[tuple[str, str, str, str]] = []

    http, lab, local = refresh_rates()
    rows.append(("refresh over loopback HTTP (requests)", f"{http:,.0f}/s vs in process {local:,.0f}/s",
                 f"{http / local:.2f}x", ""))
    rows.append(("refresh over loopback HTTP (LabClient + transcript)", f"{lab:,.0f}/s", f"{lab / local:.2f}x", ""))
    rows.append(("refresh in process (TokenAuthority.refresh)", f"{local:,.0f}/s", "1.00x", ""))

    builds, starts, stops = start_stop_times()
    for name, samples in (("build LabServer (Flask app)", builds), ("start (bind + thread)", starts),
                          ("stop (shutdown + join)", stops)):
        rows.append((name, f"median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms", "", ""))
    total = [b + s + t for b, s, t in zip(builds, starts, stops)]
    worst = max(total)
    rows.append(("build + start + stop", f"median {statistics.median(total) * 1000:.1f} ms, max {worst * 1000:.1f} ms",
                 "", "ok" if worst < 1.0 else "MISSED (target under 1 s)"))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'figures':<40} {'ratio':>6}  result")
    for name, figures, ratio, verdict in rows:
        print(f"{name:<{width}}  {figures:<40} {ratio:>6}  {verdict}")
    print(f"(refresh rates: median of {TRIALS} trials of {REFRESHES_PER_TRIAL} refreshes, RS256; "
          f"start/stop: {START_STOP_REPEATS} repeats; Python {sys.version.split()[0]}, Flask {version('flask')}, "
          f"Werkzeug {version('werkzeug')}, requests {version('requests')})")


if __name__ == "__main__":
    main()
