"""Benchmark the token engine against raw PyJWT, and the stores' rotation rate.

Run on its own: ``python tests/benchmarks/bench_engine.py``. It prints one
table. Each figure is the median of several interleaved trials, so a burst of
other work on the machine affects both sides of a ratio alike.

Targets: issue + verify at 0.7 times raw PyJWT encode + decode or better;
SQLiteStore at 2,000 rotations per second or more with durable commits;
``import tokenlab`` at most 150 ms slower than ``import jwt``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import jwt

import tokenlab as tl

TRIALS = 7
SUBJECT, CLIENT, SCOPE = "alice", "app", "read write"


def rate(operation: Callable[[], None], count: int) -> float:
    """Return operations per second for ``count`` calls of ``operation``."""
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - start)


def issue_verify_rates(algorithm: str, count: int) -> tuple[float, float]:
    """Return (tokenlab, raw PyJWT) issue+verify rates, medians of interleaved trials."""
    key = tl.SigningKey.generate(algorithm)
    authority = tl.TokenAuthority(key=key)
    policy = authority.policy
    signing, verifying = key._signing_key, key._verifying_key  # the same key material for PyJWT

    def tokenlab_once() -> None:
        pair = authority.issue(SUBJECT, client_id=CLIENT, scope=SCOPE)
        authority.verify(pair.access_token)

    def raw_once() -> None:
        now = int(time.time())
        claims = {"iss": policy.issuer, "sub": SUBJECT, "aud": policy.audience, "client_id": CLIENT,
                  "iat": now, "exp": now + 300, "jti": "x" * 22, "scope": SCOPE}
        token = jwt.encode(claims, signing, algorithm=algorithm, headers={"kid": key.kid, "typ": "at+jwt"})
        jwt.decode(token, verifying, algorithms=[algorithm], audience=policy.audience, issuer=policy.issuer)

    ours, raw = [], []
    for _ in range(TRIALS):
        ours.append(rate(tokenlab_once, count))
        raw.append(rate(raw_once, count))
    return statistics.median(ours), statistics.median(raw)


def rotation_rate(store: tl.TokenStore, count: int) -> float:
    """Return refreshes with rotation per second on ``store``, median of several trials."""
    authority = tl.TokenAuthority(store=store, key=tl.demo_key("HS256"))
    trials = []
    for _ in range(TRIALS):
        refresh_token = authority.issue(SUBJECT, client_id=CLIENT, scope=SCOPE).refresh_token

        def rotate_once() -> None:
            nonlocal refresh_token
            refresh_token = authority.refresh(refresh_token, client_id=CLIENT).refresh_token

        trials.append(rate(rotate_once, count))
    return statistics.median(trials)


def fsync_rate(path: Path, count: int) -> float:
    """Return how many one-byte write + fsync pairs per second the disk under ``path`` completes."""
    with open(path, "wb") as handle:
        def write_and_sync() -> None:
            handle.write(b"x")
            handle.flush()
            os.fsync(handle.fileno())

        return rate(write_and_sync, count)


def import_time(module: str) -> float:
    """Return the median wall time of ``python -c 'import module'`` minus a bare interpreter start, in ms."""
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    samples = [run(f"import {module}") - run("pass") for _ in range(TRIALS)]
    return statistics.median(samples) * 1000


def main() -> None:
    rows: list[tuple[str, str, str, str]] = []

    for algorithm, count in (("HS256", 2000), ("RS256", 300)):
        ours, raw = issue_verify_rates(algorithm, count)
        ratio = ours / raw
        rows.append((f"issue + verify, {algorithm}", f"{ours:,.0f}/s vs PyJWT {raw:,.0f}/s",
                     f"{ratio:.2f}x", "ok" if ratio >= 0.7 else "MISSED (target 0.7x)"))

    memory = rotation_rate(tl.MemoryStore(), 2000)
    rows.append(("rotations, MemoryStore", f"{memory:,.0f}/s", "", ""))
    for durable, setting in ((True, "FULL"), (False, "NORMAL")):
        with tempfile.TemporaryDirectory() as folder:
            store = tl.SQLiteStore(Path(folder) / "bench.db", durable=durable)
            sqlite = rotation_rate(store, 1000 if durable else 2000)
            store.close()
        rows.append((f"rotations, SQLiteStore (durable={durable}, synchronous={setting})", f"{sqlite:,.0f}/s", "",
                     "ok" if sqlite >= 2000 else "MISSED (target 2,000/s)"))

    with tempfile.TemporaryDirectory() as folder:
        fsyncs = fsync_rate(Path(folder) / "probe", 300)
    rows.append(("disk: bare fsync calls, the ceiling for durable commits", f"{fsyncs:,.0f}/s", "", ""))

    jwt_ms, tokenlab_ms = import_time("jwt"), import_time("tokenlab")
    extra = tokenlab_ms - jwt_ms
    rows.append(("import tokenlab vs import jwt", f"{tokenlab_ms:.0f} ms vs {jwt_ms:.0f} ms",
                 f"+{extra:.0f} ms", "ok" if extra <= 150 else "MISSED (target +150 ms)"))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'figures':<34} {'ratio':>7}  result")
    for name, figures, ratio, verdict in rows:
        print(f"{name:<{width}}  {figures:<34} {ratio:>7}  {verdict}")
    print(f"(median of {TRIALS} trials; Python {sys.version.split()[0]}, PyJWT {jwt.__version__})")


if __name__ == "__main__":
    main()
