"""SQLiteStore under faults: a writer killed at random moments, a read-only file or folder, locks, a newer schema.

The kill test starts a child process that rotates refresh tokens in several
families on one store file, kills it with SIGKILL after a random short delay,
reopens the file and checks it, many times over. The parent keeps nothing
from the child except what it reads from the file. test_sqlite_store.py
covers the file format, the files the store rejects when closed, locking of
each write and rollback after an error. This file adds crashes, read-only
files and folders, locks at opening time, and a newer schema left in the
-wal file.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import tokenlab as tl
from tokenlab.sqlite_store import SCHEMA_VERSION

SHORT_TIMEOUT = 0.05
KILL_ROUNDS = 20
CHILD_START_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL and POSIX file permissions")


def read_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table, read through a separate connection."""
    connection = sqlite3.connect(path)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall() for table in tables}
    finally:
        connection.close()


def folder_contents(folder: Path) -> dict[str, bytes]:
    """Return each file's bytes; for a ``-shm`` file only that it exists, since SQLite rebuilds it on open."""
    return {item.name: b"" if item.name.endswith("-shm") else item.read_bytes() for item in sorted(folder.iterdir())}


# -- a writer killed at random moments ----------------------------------------------------------

ROTATION_SCRIPT = """
import random, sys
import tokenlab as tl

path, seed, durable = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "durable"
rng = random.Random(seed)
clock = tl.SimulatedClock()
store = tl.SQLiteStore(path, durable=durable)
policy = tl.TokenPolicy(reuse_grace=rng.choice([0, 5]))
authority = tl.TokenAuthority(policy=policy, clock=clock, store=store, key=tl.demo_key("HS256"))

def login(number):
    return authority.issue(f"user{number}", client_id="app", scope="read write")

current = [login(n) for n in range(4)]
previous = list(current)
print("looping", flush=True)
while True:
    clock.advance(seconds=1)
    n = rng.randrange(len(current))
    action = rng.random()
    try:
        if action < 0.8:
            previous[n], current[n] = current[n], authority.refresh(current[n].refresh_token, client_id="app")
        elif action < 0.9:
            # A replay: a grace-window retry if the window is open, otherwise reuse, which revokes the family.
            current[n] = authority.refresh(previous[n].refresh_token, client_id="app")
        elif action < 0.95:
            authority.revoke(current[n].refresh_token, client_id="app")
        else:
            authority.revoke(current[n].access_token, client_id="app")
    except tl.InvalidGrant:
        current[n] = previous[n] = login(n)
"""


def start_rotating_child(path: Path, seed: int, durable: bool) -> subprocess.Popen[str]:
    """Start the rotation loop in a child process and return once it is looping."""
    child = subprocess.Popen(
        [sys.executable, "-c", ROTATION_SCRIPT, str(path), str(seed), "durable" if durable else "fast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    ready, _, _ = select.select([child.stdout], [], [], CHILD_START_TIMEOUT)
    line = child.stdout.readline() if ready else ""  # type: ignore[union-attr]
    if line.strip() != "looping":
        child.kill()
        _, errors = child.communicate(timeout=10)
        pytest.fail(f"the rotation child did not start looping: {errors[-2000:]}")
    return child


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    _, errors = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL, f"the child ended by itself ({child.returncode}): {errors[-2000:]}"


def check_snapshot(connection: sqlite3.Connection) -> None:
    """Assert the invariants one store file must satisfy whenever it is read."""
    assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []

    doubly_active = connection.execute(
        "SELECT family_id, count(*) FROM refresh_tokens WHERE status = 'active' GROUP BY family_id HAVING count(*) > 1"
    ).fetchall()
    assert doubly_active == [], "a family has more than one active refresh token"

    active_in_revoked = connection.execute(
        "SELECT r.label FROM refresh_tokens r JOIN families f USING (family_id) "
        "WHERE f.revoked_at IS NOT NULL AND r.status = 'active'"
    ).fetchall()
    assert active_in_revoked == [], "a revoked family kept an active refresh token"
    live_access_in_revoked = connection.execute(
        "SELECT a.label FROM access_tokens a JOIN families f USING (family_id) "
        "WHERE f.revoked_at IS NOT NULL AND a.revoked_at IS NULL"
    ).fetchall()
    assert live_access_in_revoked == [], "a revoked family kept an access token off the deny-list"

    # A rotation marks the parent and inserts its successor in one transaction.
    orphaned = connection.execute(
        "SELECT r.label FROM refresh_tokens r LEFT JOIN refresh_tokens n "
        "ON n.token_hash = r.replaced_by AND n.family_id = r.family_id "
        "WHERE r.status = 'rotated' AND n.token_hash IS NULL"
    ).fetchall()
    assert orphaned == [], "a rotated token has no successor in its family"
    bad_parents = connection.execute(
        "SELECT r.label, p.status FROM refresh_tokens r LEFT JOIN refresh_tokens p "
        "ON p.token_hash = r.parent_hash AND p.family_id = r.family_id "
        "WHERE r.parent_hash IS NOT NULL AND (p.status IS NULL OR p.status != 'rotated')"
    ).fetchall()
    assert bad_parents == [], "a refresh token's parent is missing or was not rotated"


class History:
    """What the parent has read from the file so far: statuses must only move forward."""

    def __init__(self) -> None:
        self.refresh_status: dict[str, str] = {}
        self.family_revoked_at: dict[str, int | None] = {}
        self.access_revoked_at: dict[str, int | None] = {}
        self.sequences: dict[str, int] = {}

    def check_and_update(self, connection: sqlite3.Connection) -> None:
        refresh = dict(connection.execute("SELECT token_hash, status FROM refresh_tokens").fetchall())
        families = dict(connection.execute("SELECT family_id, revoked_at FROM families").fetchall())
        access = dict(connection.execute("SELECT jti, revoked_at FROM access_tokens").fetchall())
        sequences = dict(connection.execute("SELECT name, value FROM sequences").fetchall())

        for token_hash, status in self.refresh_status.items():
            assert token_hash in refresh, f"refresh token {token_hash[:8]}, seen before, is gone"
            if status != "active":
                assert refresh[token_hash] == status, f"refresh token {token_hash[:8]} went from {status} to {refresh[token_hash]}"
        for family_id, revoked_at in self.family_revoked_at.items():
            assert family_id in families, f"family {family_id}, seen before, is gone"
            if revoked_at is not None:
                assert families[family_id] == revoked_at, f"family {family_id} is no longer revoked as it was"
        for jti, revoked_at in self.access_revoked_at.items():
            assert jti in access, f"access token {jti}, seen before, is gone"
            if revoked_at is not None:
                assert access[jti] == revoked_at, f"access token {jti} left the deny-list"
        for name, value in self.sequences.items():
            assert sequences.get(name, 0) >= value, f"sequence {name} went back"

        self.refresh_status, self.family_revoked_at = refresh, families
        self.access_revoked_at, self.sequences = access, sequences


def check_file(path: Path, history: History, *, through_store: bool) -> None:
    """Check the file a killed child left, opened as a restarted authority or as a plain reader.

    Opening it with SQLiteStore runs the store's own checks and copies the
    -wal file into the database when the store closes. A read-only connection
    leaves the -wal file as it is, so the next child has to recover it.
    """
    with contextlib.ExitStack() as stack:
        if through_store:
            store = stack.enter_context(tl.SQLiteStore(path))
            assert store.families(), "the store lost its families"
            connection = sqlite3.connect(path)
        else:
            connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        stack.callback(connection.close)
        check_snapshot(connection)
        history.check_and_update(connection)


@pytest.mark.slow
def test_killed_writer_leaves_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    history = History()

    for round_number in range(KILL_ROUNDS):
        child = start_rotating_child(path, seed + round_number, durable=round_number % 2 == 0)
        time.sleep(rng.uniform(0.01, 0.3))
        kill(child)
        try:
            check_file(path, history, through_store=round_number % 3 != 2)
        except AssertionError as exc:
            raise AssertionError(f"after kill {round_number + 1} of {KILL_ROUNDS} (seed {seed}): {exc}") from exc

    rotated = [status for status in history.refresh_status.values() if status == "rotated"]
    assert len(rotated) > KILL_ROUNDS, f"the children rotated only {len(rotated)} tokens (seed {seed})"


# -- a lock held by a process that is killed ----------------------------------------------------

LOCK_SCRIPT = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""


def test_lock_of_killed_process_is_released(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    store = tl.SQLiteStore(path, timeout=SHORT_TIMEOUT)
    authority = tl.TokenAuthority(clock=tl.SimulatedClock(), store=store, key=tl.demo_key("HS256"))
    pair = authority.issue("alice", client_id="app", scope="read")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
        before = read_rows(path)

        with pytest.raises(tl.StoreError, match="locked"):
            authority.refresh(pair.refresh_token, client_id="app")
        assert read_rows(path) == before

        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert authority.refresh(pair.refresh_token, client_id="app").refresh_label == "RT2"
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()  # type: ignore[union-attr]
        store.close()


def test_locked_empty_file_open_fails_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    path.touch()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(tl.StoreError, match=f"locked by another connection for over {SHORT_TIMEOUT:g} s"):
            tl.SQLiteStore(path, timeout=SHORT_TIMEOUT)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert path.stat().st_size == 0


# -- a read-only file or folder -------------------------------------------------------------------


def _chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    result = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    return result.returncode == 0


@contextlib.contextmanager
def write_protected(*paths: Path) -> Iterator[None]:
    """Make ``paths`` read-only at the operating-system level, or skip the test.

    File modes do not stop root, so as root the paths are made immutable
    with ``chattr +i``, which needs a file system that supports it.
    """
    if os.geteuid() == 0:
        if not _chattr("+i", *paths):
            pytest.skip("running as root, and chattr +i is not available here to make a file read-only")
        try:
            yield
        finally:
            _chattr("-i", *paths)
        return
    modes = {path: path.stat().st_mode for path in paths}
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def do_issue(authority: tl.TokenAuthority, first: tl.TokenPair, second: tl.TokenPair) -> Any:
    return authority.issue("carol", client_id="app", scope="read")


def do_refresh(authority: tl.TokenAuthority, first: tl.TokenPair, second: tl.TokenPair) -> Any:
    return authority.refresh(second.refresh_token, client_id="app")


def do_replay(authority: tl.TokenAuthority, first: tl.TokenPair, second: tl.TokenPair) -> Any:
    # Reuse detection, whose write is the revocation of the whole family.
    return authority.refresh(first.refresh_token, client_id="app")


def do_revoke_refresh(authority: tl.TokenAuthority, first: tl.TokenPair, second: tl.TokenPair) -> Any:
    return authority.revoke(second.refresh_token, client_id="app")


def do_revoke_access(authority: tl.TokenAuthority, first: tl.TokenPair, second: tl.TokenPair) -> Any:
    return authority.revoke(second.access_token, client_id="app", token_type_hint="access_token")


WRITES = [do_issue, do_refresh, do_replay, do_revoke_refresh, do_revoke_access]


def make_query_only(store: tl.SQLiteStore, path: Path) -> contextlib.AbstractContextManager[None]:
    """Refuse writes on the store's own connection, as SQLite does for a file it opened read-only."""
    store._connection().execute("PRAGMA query_only = ON")
    return contextlib.nullcontext()


def make_file_read_only(store: tl.SQLiteStore, path: Path) -> contextlib.AbstractContextManager[None]:
    """Protect the closed file, then reopen the store on it: SQLite opens it read-only."""
    store.close()
    return write_protected(path)


PROTECTIONS: dict[str, Callable[[tl.SQLiteStore, Path], contextlib.AbstractContextManager[None]]] = {
    "query-only": make_query_only,
    "file-protected": make_file_read_only,
}


@pytest.mark.parametrize("protection", PROTECTIONS)
@pytest.mark.parametrize("operation", WRITES, ids=[f.__name__[3:] for f in WRITES])
def test_read_only_store_fails_without_writing(protection: str, operation, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tokens.db"
    store = tl.SQLiteStore(path)
    clock = tl.SimulatedClock()
    authority = tl.TokenAuthority(policy=tl.TokenPolicy(readable_ids=True), clock=clock, store=store, key=tl.demo_key("HS256"))
    first = authority.issue("alice", client_id="app", scope="read write")
    second = authority.refresh(first.refresh_token, client_id="app")
    before = read_rows(path)

    with PROTECTIONS[protection](store, path):
        if protection == "file-protected":
            store = authority.store = tl.SQLiteStore(path)
        events_before = len(authority.events)

        with pytest.raises(tl.StoreError, match="is read-only .*nothing was written") as caught:
            operation(authority, first, second)
        claimed = [event.kind.value for event in authority.events[events_before:] if event.outcome == "ok"]
        after = read_rows(path)
        still_verified = authority.verify(second.access_token)
        store.close()

    assert caught.value.error == "server_error"
    assert after == before
    assert claimed == [], "an event reports a change that was never written"
    assert still_verified["sub"] == "alice"


def test_read_only_folder_open_fails_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "tokens.db"
    with tl.SQLiteStore(path) as store:
        tl.TokenAuthority(clock=tl.SimulatedClock(), store=store, key=tl.demo_key("HS256")).issue(
            "alice", client_id="app", scope="read"
        )
    before = folder_contents(folder)

    with write_protected(path, folder):
        with pytest.raises(tl.StoreError, match="make the file and its folder writable") as caught:
            tl.SQLiteStore(path)

    assert "nothing was written" in caught.value.message
    assert folder_contents(folder) == before


# -- a newer schema whose last commit is still in the -wal file ------------------------------------


def test_newer_schema_in_wal_is_refused_unchanged(tmp_path: Path) -> None:
    original = tmp_path / "original.db"
    with tl.SQLiteStore(original) as store:
        tl.TokenAuthority(clock=tl.SimulatedClock(), store=store, key=tl.demo_key("HS256")).issue(
            "alice", client_id="app", scope="read"
        )
    # A newer tokenlab that migrated the file and crashed before the log was copied into it.
    newer = sqlite3.connect(original, isolation_level=None)
    newer.execute("PRAGMA wal_autocheckpoint = 0")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{original}{suffix}", crashed / f"tokens.db{suffix}")
    newer.close()
    path = crashed / "tokens.db"
    before = folder_contents(crashed)
    assert before["tokens.db-wal"], "the version change should still be only in the -wal file"

    with pytest.raises(tl.StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        tl.SQLiteStore(path)

    assert folder_contents(crashed) == before
