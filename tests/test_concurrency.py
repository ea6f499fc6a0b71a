"""Concurrent refreshes of one refresh token: the check and the swap of a rotation are one atomic step.

Several threads (sharing one authority) or several processes (each with its own
authority on one SQLite file) present the same refresh token at the same moment.
Exactly one of them performs the ordinary rotation. Without a grace window the
others count as reuse, so the family ends revoked. Within a grace window each
of the others gets a sibling pair, and the family keeps exactly one active
refresh token.
"""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tokenlab as tl
from tokenlab.fingerprints import token_hash

THREADS = 8
THREAD_ROUNDS = 30
PROCESSES = 2
PROCESS_ROUNDS = 10
GRACE_SECONDS = 10
SYNC_TIMEOUT_SECONDS = 30


@dataclass
class Round:
    """What one race did to one family."""

    family_id: str
    pairs: list[tl.TokenPair]
    errors: list[BaseException]
    kinds: Counter[str]
    family_revoked: bool
    active_hashes: list[str]


def race_threads(authority: tl.TokenAuthority, token: str) -> tuple[list[tl.TokenPair], list[BaseException]]:
    """Refresh ``token`` from THREADS threads released together by one barrier."""
    barrier = threading.Barrier(THREADS, timeout=SYNC_TIMEOUT_SECONDS)
    results: list[Any] = [None] * THREADS

    def refresh(index: int) -> None:
        barrier.wait()
        try:
            results[index] = authority.refresh(token, client_id="app")
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the test
            results[index] = exc

    threads = [threading.Thread(target=refresh, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SYNC_TIMEOUT_SECONDS)
    pairs = [result for result in results if isinstance(result, tl.TokenPair)]
    errors = [result for result in results if not isinstance(result, tl.TokenPair)]
    return pairs, errors


def family_state(store: tl.TokenStore, family_id: str) -> tuple[bool, list[str]]:
    """Return whether the family is revoked and the hashes of its active refresh tokens."""
    family = store.get_family(family_id)
    assert family is not None
    active = [t.token_hash for t in store.family_refresh_tokens(family_id) if t.status == "active"]
    return family.revoked, active


def run_thread_rounds(authority: tl.TokenAuthority) -> list[Round]:
    rounds = []
    for _ in range(THREAD_ROUNDS):
        issued = authority.issue("alice", client_id="app", scope="read write")
        before = len(authority.events)
        pairs, errors = race_threads(authority, issued.refresh_token)
        kinds = Counter(e.kind.value for e in authority.events[before:] if e.family_id == issued.family_id)
        revoked, active = family_state(authority.store, issued.family_id)
        rounds.append(Round(issued.family_id, pairs, errors, kinds, revoked, active))
    return rounds


def families_with_several_active(store: tl.TokenStore) -> list[str]:
    """Return the ids of families that have more than one active refresh token."""
    return [
        family.family_id
        for family in store.families()
        if sum(t.status == "active" for t in store.family_refresh_tokens(family.family_id)) > 1
    ]


def integrity_check(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


@pytest.fixture(params=["memory", "sqlite"])
def race_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """One store of each kind, shared by every round of a test."""
    if request.param == "memory":
        yield tl.MemoryStore()
        return
    store = tl.SQLiteStore(tmp_path / "race.db")
    yield store
    store.close()


def check_final_state(store: tl.TokenStore) -> None:
    assert families_with_several_active(store) == []
    if isinstance(store, tl.SQLiteStore):
        assert integrity_check(store.path) == ["ok"]


# -- threads ------------------------------------------------------------------


def test_threads_without_grace_rotate_once_then_revoke(race_store, clock, policy) -> None:  # type: ignore[no-untyped-def]
    authority = tl.TokenAuthority(policy=policy, clock=clock, store=race_store, key=tl.demo_key("HS256"))

    rounds = run_thread_rounds(authority)

    assert [r.kinds["rotated"] for r in rounds] == [1] * THREAD_ROUNDS
    assert [len(r.pairs) for r in rounds] == [1] * THREAD_ROUNDS
    assert [sorted(type(e).__name__ for e in r.errors) for r in rounds] == [["InvalidGrant"] * (THREADS - 1)] * THREAD_ROUNDS
    assert all(r.kinds["reuse_detected"] >= 1 for r in rounds), [r.kinds for r in rounds]
    assert [r.kinds["grace_reuse"] for r in rounds] == [0] * THREAD_ROUNDS
    assert [r.family_revoked for r in rounds] == [True] * THREAD_ROUNDS
    # Revoking the family also revokes the winner's new refresh token.
    assert [r.active_hashes for r in rounds] == [[]] * THREAD_ROUNDS
    check_final_state(race_store)


def test_threads_within_grace_all_get_pairs(race_store, clock, policy) -> None:  # type: ignore[no-untyped-def]
    policy = policy.replace(reuse_grace=GRACE_SECONDS)
    authority = tl.TokenAuthority(policy=policy, clock=clock, store=race_store, key=tl.demo_key("HS256"))

    rounds = run_thread_rounds(authority)

    assert [r.errors for r in rounds] == [[]] * THREAD_ROUNDS
    assert [len(r.pairs) for r in rounds] == [THREADS] * THREAD_ROUNDS
    assert [r.kinds["rotated"] for r in rounds] == [1] * THREAD_ROUNDS
    assert [r.kinds["grace_reuse"] for r in rounds] == [THREADS - 1] * THREAD_ROUNDS
    assert [r.kinds["reuse_detected"] for r in rounds] == [0] * THREAD_ROUNDS
    assert [r.family_revoked for r in rounds] == [False] * THREAD_ROUNDS
    assert [len(r.active_hashes) for r in rounds] == [1] * THREAD_ROUNDS
    # The one active token is the refresh token of one of the pairs handed out, not a lost one.
    for r in rounds:
        assert r.active_hashes[0] in {token_hash(p.refresh_token) for p in r.pairs}, r.family_id
    check_final_state(race_store)


# -- processes ----------------------------------------------------------------


def refresh_worker(
    path: str, start: str, tasks: Any, results: Any, barrier: Any
) -> None:
    """Serve refresh races in a child process until ``tasks`` yields None.

    Each task is ``(refresh_token, reuse_grace_seconds)``; the reply on
    ``results`` is ``(outcome, event kinds)``, where outcome is "pair" or
    "invalid_grant:<check>" naming the check that failed.
    """
    store = tl.SQLiteStore(path)
    clock = tl.SimulatedClock(start)
    authorities = {
        grace: tl.TokenAuthority(
            policy=tl.TokenPolicy(readable_ids=True, reuse_grace=grace),
            clock=clock,
            store=store,
            key=tl.demo_key("HS256"),
        )
        for grace in (0, GRACE_SECONDS)
    }
    try:
        while (task := tasks.get()) is not None:
            token, grace = task
            authority = authorities[grace]
            before = len(authority.events)
            barrier.wait(SYNC_TIMEOUT_SECONDS)
            try:
                authority.refresh(token, client_id="app")
                outcome = "pair"
            except tl.InvalidGrant as exc:
                outcome = f"invalid_grant:{exc.check}"
            except tl.TokenlabError as exc:
                outcome = f"{type(exc).__name__}: {exc.message}"
            results.put((outcome, [e.kind.value for e in authority.events[before:]]))
    finally:
        store.close()


@pytest.fixture
def process_pool(tmp_path: Path, clock: tl.SimulatedClock) -> Any:
    """PROCESSES spawned workers serving one SQLite file; yields (path, list of task queues, results queue)."""
    path = tmp_path / "shared.db"
    tl.SQLiteStore(path).close()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    task_queues = [context.Queue() for _ in range(PROCESSES)]
    workers = [
        context.Process(target=refresh_worker, args=(str(path), clock.now().isoformat(), tasks, results, barrier))
        for tasks in task_queues
    ]
    for worker in workers:
        worker.start()
    try:
        yield path, task_queues, results
    finally:
        for tasks in task_queues:
            tasks.put(None)
        for worker in workers:
            worker.join(SYNC_TIMEOUT_SECONDS)
            if worker.is_alive():
                worker.terminate()
                worker.join()


def race_processes(task_queues: list[Any], results: Any, token: str, grace: int) -> list[tuple[str, list[str]]]:
    for tasks in task_queues:
        tasks.put((token, grace))
    try:
        return [results.get(timeout=SYNC_TIMEOUT_SECONDS) for _ in task_queues]
    except queue.Empty:
        pytest.fail(f"a worker process sent no result within {SYNC_TIMEOUT_SECONDS} s")


@pytest.mark.parametrize("grace", [0, GRACE_SECONDS])
def test_processes_rotate_once(process_pool, clock, policy, grace) -> None:  # type: ignore[no-untyped-def]
    path, task_queues, results = process_pool
    store = tl.SQLiteStore(path)
    authority = tl.TokenAuthority(
        policy=policy.replace(reuse_grace=grace), clock=clock, store=store, key=tl.demo_key("HS256")
    )
    rotations, outcomes, revoked, active_counts = [], [], [], []

    for _ in range(PROCESS_ROUNDS):
        issued = authority.issue("alice", client_id="app", scope="read write")
        replies = race_processes(task_queues, results, issued.refresh_token, grace)
        rotations.append(sum(kinds.count("rotated") for _, kinds in replies))
        outcomes.append(sorted(outcome for outcome, _ in replies))
        family_revoked, active = family_state(store, issued.family_id)
        revoked.append(family_revoked)
        active_counts.append(len(active))

    assert rotations == [1] * PROCESS_ROUNDS
    if grace:
        assert outcomes == [["pair", "pair"]] * PROCESS_ROUNDS
        assert revoked == [False] * PROCESS_ROUNDS
        assert active_counts == [1] * PROCESS_ROUNDS
    else:
        assert outcomes == [["invalid_grant:reuse", "pair"]] * PROCESS_ROUNDS
        assert revoked == [True] * PROCESS_ROUNDS
        assert active_counts == [0] * PROCESS_ROUNDS
    check_final_state(store)
    store.close()
