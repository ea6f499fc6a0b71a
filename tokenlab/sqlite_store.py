"""A :class:`~tokenlab.store.TokenStore` in an SQLite file, shared safely by threads and processes.

The file uses write-ahead logging. By default every commit waits for the disk
(``synchronous = FULL``), so a committed rotation survives a power loss; with
``durable=False`` (``synchronous = NORMAL``) it survives a crash of the process
but the last commits may be lost with the machine, which is several times faster. Every authority operation is one ``BEGIN
IMMEDIATE`` transaction: it takes the database's write lock before its first
read, which makes the check and the swap of a rotation one atomic step across
processes. Refresh tokens are stored only as SHA-256 hashes.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from .errors import ConfigurationError, StoreError
from .store import AccessRecord, FamilyRecord, RefreshRecord

logger = logging.getLogger("tokenlab.store")

SCHEMA_VERSION = 1
APPLICATION_ID = 0x746B6C62  # "tklb": marks the file as a tokenlab store.
BUSY_TIMEOUT_SECONDS = 10.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""Whether this SQLite library supports RETURNING, which saves a statement per sequence number."""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_SCHEMA = """
CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE families (
    family_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    absolute_expiry INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);
CREATE TABLE refresh_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    family_id TEXT NOT NULL REFERENCES families(family_id),
    parent_hash TEXT,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    label TEXT NOT NULL,
    last_used_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    status_changed_at INTEGER,
    status_reason TEXT,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id, id);
CREATE TABLE access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    jti TEXT NOT NULL UNIQUE,
    family_id TEXT NOT NULL REFERENCES families(family_id),
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    label TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);
CREATE INDEX access_tokens_family ON access_tokens(family_id, id);
"""

_T = TypeVar("_T")


def _to_db(moment: datetime | None) -> int | None:
    """Store a time as whole microseconds since 1970, which round-trips exactly."""
    if moment is None:
        return None
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_db(value: int | None) -> datetime | None:
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value)


def _guard(method: Callable[..., _T]) -> Callable[..., _T]:
    """Turn sqlite3 errors into :class:`StoreError` with a message that says what to do."""

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._store_error(exc) from exc

    return wrapper


class SQLiteStore:
    """A token store in the SQLite file at ``path``, created on first use.

    Several authorities, threads and processes can open the same file; each
    sees every family, and a replayed refresh token is recognised whichever
    process rotated it. An existing file that is not a tokenlab store, or
    that was written by another schema version, raises :class:`StoreError`
    and is left untouched.

    ``timeout`` is how many seconds an operation waits for another
    connection's write lock before it raises :class:`StoreError`.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = BUSY_TIMEOUT_SECONDS, durable: bool = True
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise StoreError(f"path must be a file path, not {type(path).__name__}")
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise StoreError(
                f"SQLiteStore needs a file path, not {str(path)!r}; use MemoryStore() for a store in memory"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < float("inf"):
            raise ConfigurationError(f"timeout must be a finite number of seconds >= 0, not {timeout!r}")
        if not isinstance(durable, bool):
            raise ConfigurationError(f"durable must be True or False, not {durable!r}")
        self.path = Path(path)
        self.timeout = float(timeout)
        self.durable = durable
        self._local = threading.local()
        # One connection per thread. A thread that ended leaves its connection behind,
        # so each new connection first closes those of finished threads.
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._connections_lock = threading.Lock()
        try:
            self._check_file()
            self._open_schema()
        except (OSError, ValueError) as exc:
            self.close()
            raise StoreError(
                f"cannot open a token store at {str(path)[:80]!r} ({exc}); check the path and its folder's permissions"
            ) from None
        except BaseException:
            self.close()
            raise

    # -- opening ----------------------------------------------------------

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory; give the path of a database file inside it")
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not self.path.parent.exists():
                raise StoreError(f"the folder {self.path.parent} does not exist; create it first")
            return
        try:
            with open(self.path, "rb") as handle:
                magic = handle.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StoreError(f"cannot read {self.path} ({exc.strerror}); check its permissions") from None
        if magic != _SQLITE_MAGIC:
            raise StoreError(
                f"{self.path} is not an SQLite database; tokenlab will not overwrite it. "
                "Choose another path for the token store"
            )

    @_guard
    def _open_schema(self) -> None:
        # The checks run on a query-only connection that leaves the journal mode alone,
        # because switching a file to WAL rewrites its header and a foreign file must stay unchanged.
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            # Another connection has the file open, or one crashed. A read-only connection does not
            # copy the log into the file when it closes, as the last read-write connection would.
            inspector = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=self.timeout, isolation_level=None
            )
        else:
            inspector = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            inspector.execute("PRAGMA query_only = ON")
            is_empty = self._check_schema(inspector)
        finally:
            inspector.close()
        connection = self._connection()
        if is_empty:
            self._create_schema(connection)

    def _check_schema(self, connection: sqlite3.Connection) -> bool:
        """Raise :class:`StoreError` unless the file is a sound tokenlab store; return True if it is empty."""
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        objects = connection.execute("SELECT type, name FROM sqlite_master").fetchall()
        tables = {name for kind, name in objects if kind == "table"}

        if application_id == 0 and not objects:
            return True
        if application_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path} is an SQLite database of another application (tables: "
                f"{', '.join(sorted(tables)) or 'none'}); tokenlab will not change it. Choose another path"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} uses token store schema version {version}, newer than the version "
                f"{SCHEMA_VERSION} this tokenlab reads; upgrade tokenlab instead of opening it with this one"
            )
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} uses token store schema version {version}, older than {SCHEMA_VERSION}, "
                "and tokenlab has no migration for it; start a new store file"
            )
        problem = connection.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StoreError(f"{self.path} is damaged ({problem}); restore it from a copy or start a new store file")
        return False

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the schema while this one waited for the lock.
            if connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
                connection.execute("COMMIT")
                return
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        logger.info("created token store %s (schema version %d)", self.path, SCHEMA_VERSION)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL" if self.durable else "PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            connection.close()
            raise
        self._local.connection = connection
        self._local.depth = 0
        with self._connections_lock:
            finished = [thread for thread in self._connections if not thread.is_alive()]
            for thread in finished:
                self._connections.pop(thread).close()
            self._connections[threading.current_thread()] = connection
        return connection

    def _store_error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return StoreError(f"{self.path} is read-only ({text}); nothing was written. Make the file and its folder writable")
        if "unable to open" in text:
            # In WAL mode even a reader creates the -wal and -shm files beside the database.
            return StoreError(
                f"cannot open {self.path} ({text}); nothing was written. SQLite creates {self.path.name}-wal "
                "and -shm files beside it, so make the file and its folder writable"
            )
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{self.path} stayed locked by another connection for over {self.timeout:g} s ({text}); "
                "nothing was written. Try again once the other writer finishes"
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return StoreError(f"{self.path} is damaged or not a tokenlab store ({text}); nothing was written")
        return StoreError(f"the token store {self.path} failed: {type(exc).__name__}: {text}; nothing was written")

    def close(self) -> None:
        """Close every connection this store opened, in all threads."""
        with self._connections_lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions -----------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed reads and writes as one ``BEGIN IMMEDIATE`` transaction.

        Nested calls join the outer transaction. An exception rolls
        everything back, so no operation leaves a partial write.
        """
        try:
            connection = self._connection()
        except sqlite3.Error as exc:
            raise self._store_error(exc) from exc
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return

        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._store_error(exc) from exc
        self._local.depth = 1
        try:
            yield
        except BaseException:
            self._local.depth = 0
            # SQLite may already have rolled back by itself (after a full disk or an I/O error, for instance).
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self._local.depth = 0
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise self._store_error(exc) from exc

    def _execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._connection().execute(sql, parameters)

    # -- sequences and families ---------------------------------------------

    @_guard
    def next_sequence(self, name: str) -> int:
        if getattr(self._local, "depth", 0):
            return self._next_sequence(name)
        with self.transaction():
            return self._next_sequence(name)

    def _next_sequence(self, name: str) -> int:
        """Draw the next number. The caller must be inside a transaction, because the write and the read must be one step."""
        upsert = "INSERT INTO sequences(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1"
        if _HAS_RETURNING:
            return int(self._execute(upsert + " RETURNING value", (name,)).fetchone()[0])
        self._execute(upsert, (name,))
        return int(self._execute("SELECT value FROM sequences WHERE name = ?", (name,)).fetchone()[0])

    @_guard
    def add_family(self, family: FamilyRecord) -> None:
        self._execute(
            "INSERT INTO families VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (family.family_id, family.client_id, family.subject, family.scope, _to_db(family.created_at),
             _to_db(family.absolute_expiry), _to_db(family.revoked_at), family.revoked_reason),
        )

    @staticmethod
    def _family(row: tuple[Any, ...] | None) -> FamilyRecord | None:
        if row is None:
            return None
        return FamilyRecord(
            family_id=row[0], client_id=row[1], subject=row[2], scope=row[3], created_at=_from_db(row[4]),  # type: ignore[arg-type]
            absolute_expiry=_from_db(row[5]), revoked_at=_from_db(row[6]), revoked_reason=row[7],  # type: ignore[arg-type]
        )

    @_guard
    def get_family(self, family_id: str) -> FamilyRecord | None:
        return self._family(self._execute("SELECT * FROM families WHERE family_id = ?", (family_id,)).fetchone())

    @_guard
    def families(self) -> list[FamilyRecord]:
        rows = self._execute("SELECT * FROM families ORDER BY rowid").fetchall()
        return [self._family(row) for row in rows]  # type: ignore[misc]

    @_guard
    def revoke_family(self, family_id: str, at: datetime, reason: str) -> None:
        moment = _to_db(at)
        with self.transaction():
            self._execute(
                "UPDATE families SET revoked_at = ?, revoked_reason = ? WHERE family_id = ? AND revoked_at IS NULL",
                (moment, reason, family_id),
            )
            self._execute(
                "UPDATE refresh_tokens SET status = 'revoked', status_changed_at = ?, status_reason = ? "
                "WHERE family_id = ? AND status = 'active'",
                (moment, reason, family_id),
            )
            self._execute(
                "UPDATE access_tokens SET revoked_at = ?, revoked_reason = ? WHERE family_id = ? AND revoked_at IS NULL",
                (moment, reason, family_id),
            )

    # -- refresh tokens -------------------------------------------------------

    _REFRESH_COLUMNS = (
        "token_hash, family_id, parent_hash, client_id, subject, scope, issued_at, expires_at, label, "
        "last_used_at, status, status_changed_at, status_reason, replaced_by"
    )

    @staticmethod
    def _refresh(row: tuple[Any, ...] | None) -> RefreshRecord | None:
        if row is None:
            return None
        return RefreshRecord(
            token_hash=row[0], family_id=row[1], parent_hash=row[2], client_id=row[3], subject=row[4],
            scope=row[5], issued_at=_from_db(row[6]), expires_at=_from_db(row[7]), label=row[8],  # type: ignore[arg-type]
            last_used_at=_from_db(row[9]), status=row[10], status_changed_at=_from_db(row[11]),
            status_reason=row[12], replaced_by=row[13],
        )

    @staticmethod
    def _refresh_values(record: RefreshRecord) -> tuple[Any, ...]:
        return (
            record.token_hash, record.family_id, record.parent_hash, record.client_id, record.subject,
            record.scope, _to_db(record.issued_at), _to_db(record.expires_at), record.label,
            _to_db(record.last_used_at), record.status, _to_db(record.status_changed_at),
            record.status_reason, record.replaced_by,
        )

    @_guard
    def add_refresh(self, record: RefreshRecord) -> None:
        self._execute(
            f"INSERT INTO refresh_tokens ({self._REFRESH_COLUMNS}) VALUES ({', '.join('?' * 14)})",
            self._refresh_values(record),
        )

    @_guard
    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        row = self._execute(
            f"SELECT {self._REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = ?", (token_hash,)
        ).fetchone()
        return self._refresh(row)

    @_guard
    def update_refresh(self, record: RefreshRecord) -> None:
        values = self._refresh_values(record)
        cursor = self._execute(
            "UPDATE refresh_tokens SET family_id = ?, parent_hash = ?, client_id = ?, subject = ?, scope = ?, "
            "issued_at = ?, expires_at = ?, label = ?, last_used_at = ?, status = ?, status_changed_at = ?, "
            "status_reason = ?, replaced_by = ? WHERE token_hash = ?",
            values[1:] + values[:1],
        )
        if cursor.rowcount != 1:
            raise StoreError(f"refresh token {record.fingerprint} is not in the store; nothing was updated")

    @_guard
    def family_refresh_tokens(self, family_id: str) -> list[RefreshRecord]:
        rows = self._execute(
            f"SELECT {self._REFRESH_COLUMNS} FROM refresh_tokens WHERE family_id = ? ORDER BY id", (family_id,)
        ).fetchall()
        return [self._refresh(row) for row in rows]  # type: ignore[misc]

    # -- access tokens --------------------------------------------------------

    _ACCESS_COLUMNS = (
        "jti, family_id, client_id, subject, scope, issued_at, expires_at, label, fingerprint, revoked_at, revoked_reason"
    )

    @staticmethod
    def _access(row: tuple[Any, ...] | None) -> AccessRecord | None:
        if row is None:
            return None
        return AccessRecord(
            jti=row[0], family_id=row[1], client_id=row[2], subject=row[3], scope=row[4],
            issued_at=_from_db(row[5]), expires_at=_from_db(row[6]), label=row[7], fingerprint=row[8],  # type: ignore[arg-type]
            revoked_at=_from_db(row[9]), revoked_reason=row[10],
        )

    @_guard
    def add_access(self, record: AccessRecord) -> None:
        self._execute(
            f"INSERT INTO access_tokens ({self._ACCESS_COLUMNS}) VALUES ({', '.join('?' * 11)})",
            (record.jti, record.family_id, record.client_id, record.subject, record.scope,
             _to_db(record.issued_at), _to_db(record.expires_at), record.label, record.fingerprint,
             _to_db(record.revoked_at), record.revoked_reason),
        )

    @_guard
    def get_access(self, jti: str) -> AccessRecord | None:
        row = self._execute(f"SELECT {self._ACCESS_COLUMNS} FROM access_tokens WHERE jti = ?", (jti,)).fetchone()
        return self._access(row)

    @_guard
    def revoke_access(self, jti: str, at: datetime, reason: str) -> None:
        self._execute(
            "UPDATE access_tokens SET revoked_at = ?, revoked_reason = ? WHERE jti = ? AND revoked_at IS NULL",
            (_to_db(at), reason, jti),
        )

    @_guard
    def family_access_tokens(self, family_id: str) -> list[AccessRecord]:
        rows = self._execute(
            f"SELECT {self._ACCESS_COLUMNS} FROM access_tokens WHERE family_id = ? ORDER BY id", (family_id,)
        ).fetchall()
        return [self._access(row) for row in rows]  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
