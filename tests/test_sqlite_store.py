"""SQLiteStore: the file format, what it refuses to open, sharing across processes, locking and rollback."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

import tokenlab as tl
from tokenlab.fingerprints import token_hash
from tokenlab.sqlite_store import APPLICATION_ID, BUSY_TIMEOUT_SECONDS, SCHEMA_VERSION

SHORT_TIMEOUT = 0.05


def read_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table in the file, read through a separate connection."""
    connection = sqlite3.connect(path)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall() for table in tables}
    finally:
        connection.close()


def pragma(path: Path, name: str) -> Any:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


def set_pragma(path: Path, name: str, value: int) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"PRAGMA {name} = {value}")
    finally:
        connection.close()


def folder_contents(folder: Path) -> dict[str, bytes]:
    """Return each file's bytes; for a ``-shm`` file only that it exists.

    SQLite rebuilds the ``-shm`` file (an index of the ``-wal`` file) whenever
    it opens a database in WAL mode, so its bytes carry no data of their own.
    """
    return {item.name: b"" if item.name.endswith("-shm") else item.read_bytes() for item in sorted(folder.iterdir())}


@pytest.fixture
def sqlite_authority(authority, tmp_path: Path) -> Callable[..., tl.TokenAuthority]:  # type: ignore[no-untyped-def]
    """Build an HS256 authority on a new SQLiteStore at ``tmp_path / name``; the stores are closed afterwards."""
    stores: list[tl.SQLiteStore] = []

    def build(name: str = "tokens.db", *, timeout: float = BUSY_TIMEOUT_SECONDS, **policy_changes: Any) -> tl.TokenAuthority:
        store = tl.SQLiteStore(tmp_path / name, timeout=timeout)
        stores.append(store)
        return authority("HS256", store=store, **policy_changes)

    yield build
    for store in stores:
        store.close()


def write_tokenlab_file(path: Path, clock: tl.SimulatedClock) -> None:
    """Write a closed tokenlab store holding two families, one of them refreshed."""
    with tl.SQLiteStore(path) as store:
        authority = tl.TokenAuthority(
            policy=tl.TokenPolicy(readable_ids=True), clock=clock, store=store, key=tl.demo_key("HS256")
        )
        first = authority.issue("alice", client_id="app", scope="read write")
        authority.issue("bob", client_id="app", scope="read")
        authority.refresh(first.refresh_token, client_id="app")


# -- file format ----------------------------------------------------------------


def test_store_file_uses_wal(sqlite_authority, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sqlite_authority().issue("alice", client_id="app", scope="read")

    assert pragma(tmp_path / "tokens.db", "journal_mode") == "wal"


def test_store_file_is_marked_as_tokenlab(sqlite_authority, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sqlite_authority()

    assert pragma(tmp_path / "tokens.db", "application_id") == APPLICATION_ID
    assert pragma(tmp_path / "tokens.db", "user_version") == SCHEMA_VERSION


def test_store_keeps_no_refresh_token_plaintext(sqlite_authority, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority(reuse_grace=10)
    path = tmp_path / "tokens.db"
    first = auth.issue("alice", client_id="app", scope="read write")
    second = auth.refresh(first.refresh_token, client_id="app")
    sibling = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(minutes=1)
    other = auth.issue("bob", client_id="app", scope="read")
    auth.revoke(other.refresh_token, client_id="app")
    tokens = [first.refresh_token, second.refresh_token, sibling.refresh_token, other.refresh_token]

    stored_values = [
        value.encode("utf-8") if isinstance(value, str) else value
        for rows in read_rows(path).values()
        for row in rows
        for value in row
        if isinstance(value, (str, bytes))
    ]
    raw_files = {name: (tmp_path / name).read_bytes() for name in ("tokens.db", "tokens.db-wal")}

    assert raw_files["tokens.db-wal"], "the WAL file should hold the recent commits"
    for token in tokens:
        assert not [value for value in stored_values if token.encode("ascii") in value]
        for name, data in raw_files.items():
            assert token.encode("ascii") not in data, name
    assert {row[1] for row in read_rows(path)["refresh_tokens"]} == {token_hash(token) for token in tokens}


def test_store_reopens_with_every_family(clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_tokenlab_file(tmp_path / "old.db", clock)

    with tl.SQLiteStore(tmp_path / "old.db") as store:
        assert [family.family_id for family in store.families()] == ["F1", "F2"]


def test_store_accepts_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()

    with tl.SQLiteStore(path) as store:
        assert store.families() == []
    assert pragma(path, "application_id") == APPLICATION_ID


# -- files it refuses -----------------------------------------------------------


def make_newer_version(path: Path, clock: tl.SimulatedClock) -> None:
    write_tokenlab_file(path, clock)
    set_pragma(path, "user_version", SCHEMA_VERSION + 1)


def make_older_version(path: Path, clock: tl.SimulatedClock) -> None:
    write_tokenlab_file(path, clock)
    set_pragma(path, "user_version", SCHEMA_VERSION - 1)


def make_foreign_database(path: Path, clock: tl.SimulatedClock) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.execute("INSERT INTO notes (body) VALUES ('buy milk')")
    connection.commit()
    connection.close()


def make_foreign_wal_database(path: Path, clock: tl.SimulatedClock) -> None:
    make_foreign_database(path, clock)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()


def make_foreign_database_after_crash(path: Path, clock: tl.SimulatedClock) -> None:
    """Leave a foreign WAL database whose last commit is still only in its -wal file, as a crash does."""
    original = path.with_name("original.db")
    make_foreign_wal_database(original, clock)
    writer = sqlite3.connect(original)
    writer.execute("INSERT INTO notes (body) VALUES ('call home')")
    writer.commit()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{original}{suffix}", f"{path}{suffix}")
    writer.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{original}{suffix}").unlink(missing_ok=True)


def make_random_bytes(path: Path, clock: tl.SimulatedClock) -> None:
    path.write_bytes(random.Random(7).randbytes(8192))


def make_text_file(path: Path, clock: tl.SimulatedClock) -> None:
    path.write_text("family,token\nF1,not a database\n")


def make_truncated_store(path: Path, clock: tl.SimulatedClock) -> None:
    write_tokenlab_file(path, clock)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def make_header_only_store(path: Path, clock: tl.SimulatedClock) -> None:
    write_tokenlab_file(path, clock)
    path.write_bytes(path.read_bytes()[:100])


def make_corrupt_store(path: Path, clock: tl.SimulatedClock) -> None:
    write_tokenlab_file(path, clock)
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size : 2 * page_size] = random.Random(7).randbytes(page_size)
    path.write_bytes(bytes(data))


REFUSED_FILES = [
    (make_newer_version, "newer than the version"),
    (make_older_version, "older than"),
    (make_foreign_database, "another application"),
    (make_foreign_wal_database, "another application"),
    (make_foreign_database_after_crash, "another application"),
    (make_random_bytes, "not an SQLite database"),
    (make_text_file, "not an SQLite database"),
    (make_truncated_store, "damaged"),
    (make_header_only_store, "damaged"),
    (make_corrupt_store, "damaged"),
]


@pytest.mark.parametrize(("make_file", "message"), REFUSED_FILES, ids=[f.__name__[5:] for f, _ in REFUSED_FILES])
def test_store_refuses_file(make_file, message: str, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "store.db"
    make_file(path, clock)
    before = folder_contents(tmp_path)

    with pytest.raises(tl.StoreError, match=message):
        tl.SQLiteStore(path)

    assert folder_contents(tmp_path) == before


def test_store_rejects_directory(tmp_path: Path) -> None:
    with pytest.raises(tl.StoreError, match="is a directory"):
        tl.SQLiteStore(tmp_path)


def test_store_rejects_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(tl.StoreError, match="does not exist"):
        tl.SQLiteStore(tmp_path / "missing" / "tokens.db")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", [":memory:", "", "file:tokens.db?mode=memory"])
def test_store_rejects_memory_path(path: str) -> None:
    with pytest.raises(tl.StoreError, match="MemoryStore"):
        tl.SQLiteStore(path)


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), True, "1"])
def test_store_rejects_invalid_timeout(timeout: Any, tmp_path: Path) -> None:
    with pytest.raises(tl.ConfigurationError, match="timeout"):
        tl.SQLiteStore(tmp_path / "tokens.db", timeout=timeout)


# -- a second process -------------------------------------------------------------

REPLAY_SCRIPT = """
import json, sys
import tokenlab as tl

path, start = sys.argv[1:3]
token = sys.stdin.read()
with tl.SQLiteStore(path) as store:
    authority = tl.TokenAuthority(
        policy=tl.TokenPolicy(readable_ids=True), clock=tl.SimulatedClock(start),
        store=store, key=tl.demo_key("HS256"),
    )
    families = [family.family_id for family in store.families()]
    try:
        authority.refresh(token, client_id="app")
        outcome = "pair"
    except tl.InvalidGrant as exc:
        outcome = "invalid_grant:" + str(exc.check)
print(json.dumps({"families": families, "outcome": outcome, "kinds": authority.events.kinds()}))
"""


def test_second_process_detects_replayed_token(sqlite_authority, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority()
    first = auth.issue("alice", client_id="app", scope="read write")
    auth.issue("bob", client_id="app", scope="read")
    clock.advance(minutes=1)
    second = auth.refresh(first.refresh_token, client_id="app")

    child = subprocess.run(
        [sys.executable, "-c", REPLAY_SCRIPT, str(tmp_path / "tokens.db"), clock.now().isoformat()],
        input=first.refresh_token, capture_output=True, text=True, timeout=60, check=False,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)

    assert report["families"] == ["F1", "F2"]
    assert report["outcome"] == "invalid_grant:reuse"
    assert "reuse_detected" in report["kinds"]
    assert auth.store.get_family(first.family_id).revoked
    with pytest.raises(tl.InvalidGrant, match="revoked"):
        auth.refresh(second.refresh_token, client_id="app")
    with pytest.raises(tl.InvalidToken, match="revoked"):
        auth.verify(second.access_token)


# -- locking --------------------------------------------------------------------


@pytest.fixture
def lock_holder(tmp_path: Path) -> Any:
    """A second connection to ``tokens.db`` that can hold ``BEGIN EXCLUSIVE``."""
    connection = sqlite3.connect(tmp_path / "tokens.db", isolation_level=None)
    yield connection
    if connection.in_transaction:
        connection.execute("ROLLBACK")
    connection.close()


def do_issue(auth: tl.TokenAuthority, pair: tl.TokenPair) -> Any:
    return auth.issue("carol", client_id="app", scope="read")


def do_refresh(auth: tl.TokenAuthority, pair: tl.TokenPair) -> Any:
    return auth.refresh(pair.refresh_token, client_id="app")


def do_revoke_refresh(auth: tl.TokenAuthority, pair: tl.TokenPair) -> Any:
    return auth.revoke(pair.refresh_token, client_id="app")


def do_revoke_access(auth: tl.TokenAuthority, pair: tl.TokenPair) -> Any:
    return auth.revoke(pair.access_token, client_id="app", token_type_hint="access_token")


WRITES = [do_issue, do_refresh, do_revoke_refresh, do_revoke_access]


@pytest.mark.parametrize("operation", WRITES, ids=[f.__name__[3:] for f in WRITES])
def test_locked_file_fails_without_writing(operation, sqlite_authority, lock_holder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority(timeout=SHORT_TIMEOUT)
    pair = auth.issue("alice", client_id="app", scope="read write")
    before = read_rows(tmp_path / "tokens.db")

    lock_holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(tl.StoreError, match="locked"):
        operation(auth, pair)
    lock_holder.execute("ROLLBACK")

    assert read_rows(tmp_path / "tokens.db") == before
    assert operation(auth, pair)


def test_locked_file_still_verifies(sqlite_authority, lock_holder) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority(timeout=SHORT_TIMEOUT)
    pair = auth.issue("alice", client_id="app", scope="read write")

    # In WAL mode a writer's lock does not block readers.
    lock_holder.execute("BEGIN EXCLUSIVE")

    assert auth.verify(pair.access_token)["sub"] == "alice"
    assert auth.introspect(pair.refresh_token)["active"] is True


def test_lock_error_names_timeout(sqlite_authority, lock_holder) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority(timeout=SHORT_TIMEOUT)
    lock_holder.execute("BEGIN EXCLUSIVE")

    with pytest.raises(tl.StoreError, match=f"over {SHORT_TIMEOUT:g} s"):
        auth.issue("alice", client_id="app", scope="read")


# -- rollback ---------------------------------------------------------------------


class InjectedFailure(Exception):
    """Raised by a store method that a test broke on purpose."""


def break_method(store: tl.SQLiteStore, name: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``store.<name>`` raise InjectedFailure; return a list that receives the rows already changed by then."""
    changed_before_failure: list[int] = []

    def fail(*args: Any, **kwargs: Any) -> None:
        changed_before_failure.append(store._connection().total_changes - start_changes)
        raise InjectedFailure(name)

    start_changes = store._connection().total_changes
    monkeypatch.setattr(store, name, fail)
    return changed_before_failure


BROKEN_STEPS = [
    (do_issue, "add_access"),
    (do_refresh, "add_refresh"),
    (do_refresh, "add_access"),
]


@pytest.mark.parametrize(
    ("operation", "method"), BROKEN_STEPS, ids=[f"{op.__name__[3:]}-{method}" for op, method in BROKEN_STEPS]
)
def test_failed_operation_rolls_back(operation, method: str, sqlite_authority, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority()
    pair = auth.issue("alice", client_id="app", scope="read write")
    before = read_rows(tmp_path / "tokens.db")
    changed = break_method(auth.store, method, monkeypatch)

    with pytest.raises(InjectedFailure):
        operation(auth, pair)

    assert changed[0] > 0, "the failure should come after a write"
    assert read_rows(tmp_path / "tokens.db") == before


def test_refresh_after_rolled_back_failure_rotates(sqlite_authority, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority()
    pair = auth.issue("alice", client_id="app", scope="read write")
    break_method(auth.store, "add_refresh", monkeypatch)
    with pytest.raises(InjectedFailure):
        auth.refresh(pair.refresh_token, client_id="app")
    monkeypatch.undo()

    # Had the "rotated" mark survived, this would count as reuse and revoke the family.
    second = auth.refresh(pair.refresh_token, client_id="app")

    assert second.refresh_label == "RT2"
    assert auth.events.of_kind("reuse_detected") == []


def test_revoke_family_rolls_back_partial_update(sqlite_authority, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    auth = sqlite_authority()
    pair = auth.issue("alice", client_id="app", scope="read write")
    before = read_rows(tmp_path / "tokens.db")
    execute = auth.store._execute

    def fail_on_access_update(sql: str, parameters: tuple[Any, ...] = ()) -> Any:
        if sql.startswith("UPDATE access_tokens"):
            raise sqlite3.OperationalError("injected failure")
        return execute(sql, parameters)

    monkeypatch.setattr(auth.store, "_execute", fail_on_access_update)

    with pytest.raises(tl.StoreError, match="injected failure"):
        auth.revoke(pair.refresh_token, client_id="app")

    assert read_rows(tmp_path / "tokens.db") == before


# -- connections ----------------------------------------------------------------


def test_finished_threads_connections_are_closed(sqlite_authority) -> None:  # type: ignore[no-untyped-def]
    store = sqlite_authority().store
    threads = [threading.Thread(target=store.families) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    last = threading.Thread(target=store.families)
    last.start()
    last.join()

    # The main thread's connection and the last thread's remain; the five finished ones were closed.
    assert len(store._connections) == 2
