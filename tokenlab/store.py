"""Token storage: what the authority remembers about grants, refresh tokens and access tokens.

:class:`TokenStore` is the interface; :class:`MemoryStore` keeps everything in
a dict, and :class:`~tokenlab.sqlite_store.SQLiteStore` in an SQLite file that
several processes can share. Refresh tokens are stored only as SHA-256 hashes.
Records are kept after rotation and revocation, marked instead of deleted, so
that a replay can be recognised and explained (RFC 7009 §2.1, RFC 9700 §4.14).
"""

from __future__ import annotations

import dataclasses
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import ContextManager, Iterator, Literal, Protocol, runtime_checkable

RefreshStatus = Literal["active", "rotated", "revoked"]


@dataclass(frozen=True)
class FamilyRecord:
    """One grant: a login of one subject for one client, owning one token family."""

    family_id: str
    client_id: str
    subject: str
    scope: str
    created_at: datetime
    absolute_expiry: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    @property
    def revoked(self) -> bool:
        """True once the family has been revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True)
class RefreshRecord:
    """A refresh token as stored: its SHA-256 hash and its place in the family."""

    token_hash: str
    family_id: str
    parent_hash: str | None
    client_id: str
    subject: str
    scope: str
    issued_at: datetime
    expires_at: datetime
    label: str
    last_used_at: datetime | None = None
    status: RefreshStatus = "active"
    status_changed_at: datetime | None = None
    status_reason: str | None = None
    replaced_by: str | None = None

    @property
    def fingerprint(self) -> str:
        """The token's short fingerprint: the start of its hash."""
        return self.token_hash[:8]


@dataclass(frozen=True)
class AccessRecord:
    """An issued access token, kept so it can be revoked and tied to its family."""

    jti: str
    family_id: str
    client_id: str
    subject: str
    scope: str
    issued_at: datetime
    expires_at: datetime
    label: str
    fingerprint: str
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


@runtime_checkable
class TokenStore(Protocol):
    """Where an authority keeps families, refresh tokens and access tokens.

    Each authority operation runs inside one :meth:`transaction`, so its
    reads and writes are atomic with respect to other threads and, for
    stores that support it, other processes: that is what makes a rotation
    a compare-and-swap.
    """

    def transaction(self) -> ContextManager[None]:
        """Run the enclosed reads and writes as one atomic step."""
        ...

    def next_sequence(self, name: str) -> int:
        """Return 1, 2, 3... for each call with the same ``name``."""
        ...

    def add_family(self, family: FamilyRecord) -> None: ...

    def get_family(self, family_id: str) -> FamilyRecord | None: ...

    def families(self) -> list[FamilyRecord]: ...

    def revoke_family(self, family_id: str, at: datetime, reason: str) -> None:
        """Mark the family, its active refresh tokens and its access tokens revoked."""
        ...

    def add_refresh(self, record: RefreshRecord) -> None: ...

    def get_refresh(self, token_hash: str) -> RefreshRecord | None: ...

    def update_refresh(self, record: RefreshRecord) -> None:
        """Replace the stored record that has the same ``token_hash``."""
        ...

    def family_refresh_tokens(self, family_id: str) -> list[RefreshRecord]:
        """Return the family's refresh tokens, oldest first."""
        ...

    def add_access(self, record: AccessRecord) -> None: ...

    def get_access(self, jti: str) -> AccessRecord | None: ...

    def revoke_access(self, jti: str, at: datetime, reason: str) -> None:
        """Put ``jti`` on the deny-list."""
        ...

    def family_access_tokens(self, family_id: str) -> list[AccessRecord]: ...



class MemoryStore:
    """A :class:`TokenStore` in process memory, guarded by one re-entrant lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._families: dict[str, FamilyRecord] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._family_refresh: dict[str, list[str]] = {}
        self._access: dict[str, AccessRecord] = {}
        self._family_access: dict[str, list[str]] = {}
        self._sequences: dict[str, int] = {}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store's lock for one operation.

        NOTE: a failed operation is not rolled back; the authority does all
        its checks before its first write, so a failure leaves no partial change.
        """
        with self._lock:
            yield

    def next_sequence(self, name: str) -> int:
        with self._lock:
            value = self._sequences.get(name, 0) + 1
            self._sequences[name] = value
            return value

    def add_family(self, family: FamilyRecord) -> None:
        with self._lock:
            self._families[family.family_id] = family
            self._family_refresh.setdefault(family.family_id, [])
            self._family_access.setdefault(family.family_id, [])

    def get_family(self, family_id: str) -> FamilyRecord | None:
        return self._families.get(family_id)

    def families(self) -> list[FamilyRecord]:
        with self._lock:
            return list(self._families.values())

    def revoke_family(self, family_id: str, at: datetime, reason: str) -> None:
        with self._lock:
            family = self._families[family_id]
            if family.revoked_at is None:
                self._families[family_id] = dataclasses.replace(family, revoked_at=at, revoked_reason=reason)
            for token_hash in self._family_refresh.get(family_id, []):
                record = self._refresh[token_hash]
                if record.status == "active":
                    self._refresh[token_hash] = dataclasses.replace(
                        record, status="revoked", status_changed_at=at, status_reason=reason
                    )
            for jti in self._family_access.get(family_id, []):
                access = self._access[jti]
                if access.revoked_at is None:
                    self._access[jti] = dataclasses.replace(access, revoked_at=at, revoked_reason=reason)

    def add_refresh(self, record: RefreshRecord) -> None:
        with self._lock:
            self._refresh[record.token_hash] = record
            self._family_refresh.setdefault(record.family_id, []).append(record.token_hash)

    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        return self._refresh.get(token_hash)

    def update_refresh(self, record: RefreshRecord) -> None:
        with self._lock:
            if record.token_hash not in self._refresh:
                raise KeyError(record.token_hash[:8])
            self._refresh[record.token_hash] = record

    def family_refresh_tokens(self, family_id: str) -> list[RefreshRecord]:
        with self._lock:
            return [self._refresh[h] for h in self._family_refresh.get(family_id, [])]

    def add_access(self, record: AccessRecord) -> None:
        with self._lock:
            self._access[record.jti] = record
            self._family_access.setdefault(record.family_id, []).append(record.jti)

    def get_access(self, jti: str) -> AccessRecord | None:
        return self._access.get(jti)

    def revoke_access(self, jti: str, at: datetime, reason: str) -> None:
        with self._lock:
            access = self._access[jti]
            if access.revoked_at is None:
                self._access[jti] = dataclasses.replace(access, revoked_at=at, revoked_reason=reason)

    def family_access_tokens(self, family_id: str) -> list[AccessRecord]:
        with self._lock:
            return [self._access[j] for j in self._family_access.get(family_id, [])]

    def __repr__(self) -> str:
        return f"MemoryStore(families={len(self._families)}, refresh_tokens={len(self._refresh)})"
