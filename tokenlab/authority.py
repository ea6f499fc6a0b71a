"""The authorization server and resource server logic: issue, verify, refresh, revoke, introspect.

:class:`TokenAuthority` is the one place where token rules live. Widgets,
plots, scenarios and the command line only call it and read its event log.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Literal

from jwt.utils import base64url_decode

from .clock import Clock, SimulatedClock, ensure_aware
from .errors import (
    ClockError,
    ConfigurationError,
    InsufficientScope,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    TokenlabError,
    UnauthorizedClient,
)
from .events import EventKind, EventLog, ServerClockLog
from .fingerprints import fingerprint, token_hash
from .keys import KeySet, SigningKey, demo_key, read_header
from .policy import TokenPolicy
from .scope import format_scope, parse_scope
from .store import AccessRecord, FamilyRecord, MemoryStore, RefreshRecord, TokenStore
from .verification import (
    ACCESS_TOKEN_TYPES,
    MAX_NUMERIC_DATE,
    check_claim_types,
    check_issuer_and_audience,
    check_not_revoked,
    check_times,
    clock_text,
    from_timestamp,
    timestamp,
)

logger = logging.getLogger("tokenlab")

REFRESH_TOKEN_BYTES = 32
MAX_IDENTIFIER_LENGTH = 256
MAX_REFRESH_TOKEN_LENGTH = 512

TokenTypeHint = Literal["access_token", "refresh_token"]


@dataclass(frozen=True, repr=False)
class TokenPair:
    """The token endpoint's response: an access token and a refresh token (RFC 6749 §5.1).

    ``scope`` is the access token's scope. ``repr()`` shows labels and
    fingerprints, never the tokens.
    """

    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    family_id: str
    access_label: str
    refresh_label: str
    token_type: str = "Bearer"
    show_fingerprints: bool = dataclasses.field(default=True, compare=False)
    """Whether ``repr()`` adds fingerprints; off with readable ids, so notebook outputs repeat."""

    def as_response(self) -> dict[str, Any]:
        """Return the pair as the JSON body of a token response."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }

    def __repr__(self) -> str:
        access, refresh = self.access_label, self.refresh_label
        if self.show_fingerprints:
            access += " " + fingerprint(self.access_token)
            refresh += " " + fingerprint(self.refresh_token)
        return (
            f"TokenPair(access={access}, refresh={refresh}, "
            f"expires_in={self.expires_in}, scope={self.scope!r}, family={self.family_id})"
        )


@dataclass
class _Outcome:
    """The decision one refresh made inside its transaction, acted on after commit."""

    pair: TokenPair | None = None
    error: TokenlabError | None = None
    events: list[tuple[EventKind, dict[str, Any]]] = dataclasses.field(default_factory=list)


def _duration_text(delta: timedelta) -> str:
    """Write a duration the way people say it: "15 days", "1 hour 30 minutes", "45 seconds"."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {unit}{'s' if amount != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def _check_identifier(value: object, name: str, error: type[TokenlabError] = InvalidRequest) -> str:
    if not isinstance(value, str) or not value.strip():
        raise error(f"{name} must be a non-empty string, not {value!r}")
    if len(value) > MAX_IDENTIFIER_LENGTH or not value.isprintable():
        raise error(f"{name} must be printable and at most {MAX_IDENTIFIER_LENGTH} characters, not {value[:40]!r}...")
    return value


class TokenAuthority:
    """An authorization server and the resource server's verifier, sharing one policy, store and key set.

    Time comes only from ``clock``. Every operation records events in
    :attr:`events` and returns a value; nothing is printed. Defaults: a
    :class:`TokenPolicy` with the secure defaults, a :class:`SimulatedClock`,
    a :class:`MemoryStore` and a freshly generated RS256 key.
    """

    def __init__(
        self,
        policy: TokenPolicy | None = None,
        clock: Clock | None = None,
        store: TokenStore | None = None,
        key: SigningKey | None = None,
    ) -> None:
        if policy is not None and not isinstance(policy, TokenPolicy):
            raise ConfigurationError(f"policy must be a TokenPolicy, not {type(policy).__name__}")
        if isinstance(clock, datetime):
            raise ConfigurationError(
                "clock must be a clock object, not a datetime; wrap the start time: clock=SimulatedClock(start)"
            )
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise ConfigurationError(f"clock must have a now() method, not {type(clock).__name__}")
        if store is not None and not isinstance(store, TokenStore):
            raise ConfigurationError(f"store must implement TokenStore (MemoryStore, SQLiteStore), not {type(store).__name__}")

        self.policy: TokenPolicy = policy or TokenPolicy()
        self.clock: Clock = clock or SimulatedClock()
        self.store: TokenStore = store if store is not None else MemoryStore()
        self.keys = KeySet(key if key is not None else SigningKey.generate("RS256"))
        self.events = EventLog()
        self._last_now: datetime | None = None
        self._time_lock = threading.Lock()

    @classmethod
    def demo(
        cls,
        policy: TokenPolicy | None = None,
        *,
        algorithm: str = "RS256",
        start: datetime | str | None = None,
        **policy_changes: Any,
    ) -> TokenAuthority:
        """Build an authority for the course: simulated clock, fixed demo key, readable ids.

        Two authorities built the same way and driven the same way give the
        same tokens, labels and events, which is what makes notebook outputs
        repeatable. The key is public demo material: never use it elsewhere.
        ``policy_changes`` override fields of ``policy`` (or of the defaults).
        """
        base = (policy or TokenPolicy()).replace(readable_ids=True, **policy_changes)
        clock = SimulatedClock(start) if start is not None else SimulatedClock()
        return cls(policy=base, clock=clock, store=MemoryStore(), key=demo_key(algorithm))

    # -- time -------------------------------------------------------------

    def now(self) -> datetime:
        """Return the clock's time; raise :class:`ClockError` if it is naive, went backwards, or is too late.

        "Too late" means a token issued now would expire after the year 9999,
        the last date a JWT time or a datetime can hold here.
        """
        # The clock is read under the lock too: two threads reading it and then checking in
        # the other order would otherwise see time go backwards.
        with self._time_lock:
            current = ensure_aware(self.clock.now(), "clock.now()")
            self._check_range(current)
            if self._last_now is not None and current < self._last_now:
                raise ClockError(
                    f"the clock went backwards from {clock_text(self._last_now)} to {clock_text(current)}; "
                    "expiry checks need a clock that never goes back. Fix the clock, or start a new authority"
                )
            self._last_now = current
        return current

    def _check_range(self, current: datetime) -> None:
        if current.timestamp() < 0:
            raise ClockError(
                f"the clock reads {current.isoformat()}, before 1970, which JWT times cannot express; "
                "use a clock set to a later date"
            )
        longest = max(self.policy.access_token_ttl, self.policy.refresh_token_ttl)
        if current.timestamp() + longest.total_seconds() > MAX_NUMERIC_DATE:
            raise ClockError(
                f"the clock reads {clock_text(current)}, so tokens issued now would expire after the year 9999; "
                "use a clock set to an earlier date"
            )

    def with_clock(self, clock: Clock) -> TokenAuthority:
        """Return a view of this authority that reads time from ``clock``.

        The view shares the policy, store, keys and event log, so it acts as
        a second server of the same deployment whose clock differs: a
        resource server whose clock runs ahead, for instance. It checks
        tokens against its own clock, but records its events at this
        authority's time, with its own reading in ``detail["server_time"]``,
        so the shared log stays in the order things happened.
        """
        if not callable(getattr(clock, "now", None)):
            raise ConfigurationError(f"clock must have a now() method, not {type(clock).__name__}")
        view = copy.copy(self)
        view.clock = clock
        view._last_now = None
        view._time_lock = threading.Lock()
        view.events = ServerClockLog(self.events, true_clock=self.clock)
        return view

    # -- issuing ----------------------------------------------------------

    def issue(self, subject: str, *, client_id: str, scope: str | Iterable[str], actor: str | None = None) -> TokenPair:
        """Start a grant: issue an access token and a refresh token in a new token family.

        The family's absolute expiry is fixed now, at ``refresh_token_ttl``
        from the current time, and never extended (RFC 9700 §4.14.2).
        """
        subject = _check_identifier(subject, "subject")
        client_id = _check_identifier(client_id, "client_id")
        scopes = format_scope(parse_scope(scope))
        now = self.now()

        refresh_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        with self.store.transaction():
            family_number = self.store.next_sequence("family")
            family_id = f"F{family_number}" if self.policy.readable_ids else "fam-" + secrets.token_hex(8)
            family = FamilyRecord(
                family_id=family_id,
                client_id=client_id,
                subject=subject,
                scope=scopes,
                created_at=now,
                absolute_expiry=now + self.policy.refresh_token_ttl,
            )
            self.store.add_family(family)
            record = self._new_refresh_record(refresh_token, family, parent=None, now=now)
            self.store.add_refresh(record)
            access_token, access = self._mint_access_token(family, scopes, now)

        self._record_issued(now, record, actor)
        self._record_access_issued(now, access, actor)
        logger.info("issued family %s to client %s: %s, %s", family_id, client_id, access.label, record.label)
        return self._pair(access_token, access, refresh_token, record)

    def _new_refresh_record(
        self, refresh_token: str, family: FamilyRecord, parent: RefreshRecord | None, now: datetime
    ) -> RefreshRecord:
        return RefreshRecord(
            token_hash=token_hash(refresh_token),
            family_id=family.family_id,
            parent_hash=parent.token_hash if parent else None,
            client_id=family.client_id,
            subject=family.subject,
            scope=family.scope,
            issued_at=now,
            expires_at=family.absolute_expiry,
            label=f"RT{self.store.next_sequence('refresh_token')}",
        )

    def _mint_access_token(self, family: FamilyRecord, scopes: str, now: datetime) -> tuple[str, AccessRecord]:
        number = self.store.next_sequence("access_token")
        jti = f"at-{number}" if self.policy.readable_ids else secrets.token_urlsafe(16)
        issued_at = int(timestamp(now))
        expires_at = issued_at + int(self.policy.access_token_ttl.total_seconds())
        claims = {
            "iss": self.policy.issuer,
            "sub": family.subject,
            "aud": self.policy.audience,
            "client_id": family.client_id,
            "iat": issued_at,
            "exp": expires_at,
            "jti": jti,
            "scope": scopes,
        }
        token = self.keys.current.sign(claims)
        record = AccessRecord(
            jti=jti,
            family_id=family.family_id,
            client_id=family.client_id,
            subject=family.subject,
            scope=scopes,
            issued_at=from_timestamp(issued_at),
            expires_at=from_timestamp(expires_at),
            label=f"AT{number}",
            fingerprint=fingerprint(token),
        )
        self.store.add_access(record)
        return token, record

    def _pair(self, access_token: str, access: AccessRecord, refresh_token: str, refresh: RefreshRecord) -> TokenPair:
        return TokenPair(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_in=int(self.policy.access_token_ttl.total_seconds()),
            scope=access.scope,
            family_id=access.family_id,
            access_label=access.label,
            refresh_label=refresh.label,
            show_fingerprints=not self.policy.readable_ids,
        )

    def _refresh_name(self, record: RefreshRecord) -> str:
        """Name a refresh token in messages: its label, plus its fingerprint unless ids are readable.

        Refresh tokens are random even in demo mode, so their fingerprints would make
        notebook outputs differ from run to run; the label alone identifies them there.
        """
        if self.policy.readable_ids:
            return record.label
        return f"{record.label} ({record.fingerprint})"

    def _refresh_expiry(self, record: RefreshRecord) -> datetime:
        """Return when ``record`` expires: the family's absolute expiry or its idle deadline, whichever is first."""
        idle_deadline = (record.last_used_at or record.issued_at) + self.policy.refresh_token_idle_ttl
        return min(record.expires_at, idle_deadline)

    def _record_issued(self, now: datetime, record: RefreshRecord, actor: str | None) -> None:
        self.events.record(now, EventKind.ISSUED, actor=actor, **self._refresh_fields(record))

    def _record_access_issued(self, now: datetime, access: AccessRecord, actor: str | None) -> None:
        self.events.record(now, EventKind.ISSUED, actor=actor, **self._access_fields(access))

    # -- verification -----------------------------------------------------

    def verify(
        self,
        access_token: str,
        *,
        required_scope: str | Iterable[str] | None = None,
        stateless: bool = False,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Verify an access token as a resource server does and return its claims.

        The checks run in this order, and the first that fails raises
        :class:`InvalidToken` naming it (RFC 9068 §4, RFC 8725): the
        ``typ`` header, the algorithm pinned to the ``kid``'s key, the
        signature, ``iss`` and ``aud``, the claims' presence and types, the
        times against the clock (valid while ``now < exp + leeway``), and,
        unless ``stateless`` is true, the deny-list and the family's
        revocation. Finally each scope in ``required_scope`` must be
        granted, or :class:`InsufficientScope` is raised (RFC 6750 §3.1).

        ``stateless=True`` skips the revocation lookups, as a resource
        server that only checks signatures and ``exp`` does: a revoked
        token then still passes until it expires.
        """
        if not isinstance(stateless, bool):
            raise InvalidRequest(f"stateless must be True or False, not {stateless!r}")
        required = parse_scope(required_scope, "required_scope") if required_scope is not None else ()
        now = self.now()
        token_fp = fingerprint(access_token) if isinstance(access_token, (str, bytes)) else None

        try:
            claims, access = self._check_access_token(access_token, now, stateless=stateless)
        except InvalidToken as exc:
            exc.at = now
            exc.token = token_fp
            kind = EventKind.EXPIRED if exc.check == "exp" else EventKind.REJECTED
            self.events.record(
                now, kind, outcome="rejected", token=token_fp, token_type="access_token",
                label=self._label_for(access_token), actor=actor, reason=exc.message, check=exc.check,
                error=exc.error, detail={"stateless": stateless},
            )
            raise

        granted = set(claims["scope"].split())
        missing = [s for s in required if s not in granted]
        label = access.label if access else self._label_for(access_token)
        family_id = access.family_id if access else None
        if missing:
            needed = format_scope(required)
            exc = InsufficientScope(
                f"access token {label or token_fp} has scope {claims['scope']!r} but this request needs "
                f"{needed!r}; ask for a token with {' '.join(missing)!r} in its scope",
                required_scope=needed,
                token=token_fp,
                at=now,
                check="scope",
            )
            self.events.record(
                now, EventKind.REJECTED, outcome="rejected", token=token_fp, token_type="access_token",
                label=label, family_id=family_id, actor=actor, reason=exc.message, check="scope",
                error=exc.error, scope=claims["scope"],
            )
            raise exc

        self.events.record(
            now, EventKind.VERIFIED, token=token_fp, token_type="access_token", label=label,
            family_id=family_id, client_id=claims["client_id"], subject=claims["sub"],
            scope=claims["scope"], actor=actor, detail={"stateless": stateless},
        )
        return claims

    def _label_for(self, access_token: object) -> str | None:
        """Find a token's readable label from its ``jti``, without trusting or verifying anything."""
        try:
            payload = json.loads(_segment_json(access_token))
            jti = payload.get("jti") if isinstance(payload, dict) else None
            record = self.store.get_access(jti) if isinstance(jti, str) else None
        except (ValueError, TypeError, RecursionError, TokenlabError):
            return None
        if record is None or record.fingerprint != fingerprint(access_token):  # type: ignore[arg-type]
            return None
        return record.label

    def _check_access_token(
        self, token: object, now: datetime, *, stateless: bool, check_time: bool = True
    ) -> tuple[dict[str, Any], AccessRecord | None]:
        # 1. The header says this is an access token (RFC 9068 §4, RFC 8725 §3.11).
        header = read_header(token)
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken(
                f"the token's typ header is {typ!r}, not 'at+jwt'; only access tokens are accepted here, "
                "so an ID token or another kind of JWT cannot pass as one",
                check="typ",
            )

        # 2 and 3. The kid picks one of our keys; its pinned algorithm verifies the signature.
        key = self.keys.select(header)
        _, payload_bytes = key.verify_signature(token, header)  # type: ignore[arg-type]

        try:
            claims = json.loads(payload_bytes)
        except (ValueError, RecursionError):
            raise InvalidToken("the token payload is not valid JSON", check="format") from None
        if not isinstance(claims, dict):
            raise InvalidToken("the token payload is not a JSON object", check="format")

        # 4. Issuer and audience.
        check_issuer_and_audience(self.policy, claims)

        # 5. Required claims and their types.
        check_claim_types(claims)

        # 6. Time, against the injected clock.
        if check_time:
            check_times(self.policy, claims, now)

        # 7. Revocation, unless the caller verifies statelessly. A record whose fingerprint differs
        # belongs to another token with the same jti, issued by another authority sharing the key.
        access = self.store.get_access(claims["jti"])
        if access is not None and access.fingerprint != fingerprint(token):  # type: ignore[arg-type]
            access = None
        if not stateless:
            check_not_revoked(self.store, claims, access)
        return claims, access

    # -- refreshing -------------------------------------------------------

    def refresh(
        self,
        refresh_token: str,
        *,
        client_id: str,
        scope: str | Iterable[str] | None = None,
        actor: str | None = None,
    ) -> TokenPair:
        """Exchange a refresh token for a new access token, rotating the refresh token (RFC 6749 §6).

        With rotation on, the presented token is marked ``rotated`` and a new
        one in the same family is returned; check and swap are one atomic
        step in the store. Presenting a rotated token again is reuse: the
        whole family is revoked and :class:`InvalidGrant` raised (RFC 9700
        §4.14.2), except for the immediate parent of the family's newest
        token within ``reuse_grace``, which gets a fresh pair.

        ``scope`` may narrow the new access token's scope; the refresh token
        keeps the grant's original scope. A wider scope raises
        :class:`InvalidScope`. A token of another client raises
        :class:`InvalidGrant` and changes nothing.
        """
        if not isinstance(refresh_token, str):
            raise InvalidRequest(f"refresh_token must be a string, not {type(refresh_token).__name__}")
        client_id = _check_identifier(client_id, "client_id")
        requested = parse_scope(scope) if scope is not None else None
        now = self.now()
        presented_fp = fingerprint(refresh_token)

        if refresh_token != refresh_token.strip():
            outcome = _Outcome(error=InvalidGrant(
                f"refresh token {presented_fp} has spaces or line breaks around it; "
                "send the refresh_token value exactly as it was returned",
                check="format",
            ))
        elif not 16 <= len(refresh_token) <= MAX_REFRESH_TOKEN_LENGTH or not refresh_token.isascii():
            outcome = _Outcome(error=InvalidGrant(
                f"refresh token {presented_fp} is not a token this authority issues (wrong length or characters); "
                "send the refresh_token value exactly as it was returned",
                check="format",
            ))
        else:
            with self.store.transaction():
                outcome = self._decide_refresh(refresh_token, client_id, requested, now)

        for kind, fields in outcome.events:
            self.events.record(now, kind, actor=actor, **fields)
        if outcome.error is not None:
            outcome.error.at = now
            outcome.error.token = presented_fp
            if not outcome.events:
                self.events.record(
                    now, EventKind.REJECTED, outcome="rejected", token=presented_fp, token_type="refresh_token",
                    actor=actor, reason=outcome.error.message, error=outcome.error.error, check=outcome.error.check,
                )
            raise outcome.error
        assert outcome.pair is not None
        return outcome.pair

    def _decide_refresh(
        self, refresh_token: str, client_id: str, requested: tuple[str, ...] | None, now: datetime
    ) -> _Outcome:
        """Check a refresh token and rotate it, all inside one store transaction."""
        record = self.store.get_refresh(token_hash(refresh_token))
        if record is None:
            return _Outcome(error=InvalidGrant(
                f"refresh token {fingerprint(refresh_token)} is unknown to this authority; "
                "it was never issued here, or was issued by another store. Log in again",
                check="unknown",
            ))

        base = {"token": record.fingerprint, "label": record.label, "token_type": "refresh_token",
                "family_id": record.family_id, "client_id": client_id, "subject": record.subject}

        def reject(error: TokenlabError, kind: EventKind = EventKind.REJECTED) -> _Outcome:
            fields = dict(base, outcome="rejected", reason=error.message, error=error.error, check=error.check)
            return _Outcome(error=error, events=[(kind, fields)])

        if record.client_id != client_id:
            return reject(InvalidGrant(
                f"refresh token {self._refresh_name(record)} was issued to another client, "
                f"not {client_id!r}; nothing was changed. Each client must use its own tokens",
                check="client",
            ))

        family = self.store.get_family(record.family_id)
        assert family is not None
        if family.revoked_at is not None:
            return reject(InvalidGrant(
                f"refresh token {record.label} belongs to family {family.family_id}, revoked at "
                f"{clock_text(family.revoked_at)} ({family.revoked_reason}); the user must log in again",
                check="revocation",
            ))
        if now >= family.absolute_expiry:
            return reject(InvalidGrant(
                f"refresh token {record.label} expired at {clock_text(family.absolute_expiry)}, the family's "
                f"absolute lifetime of {_duration_text(self.policy.refresh_token_ttl)}; rotation never extends it. Log in again",
                check="absolute_expiry",
            ), EventKind.EXPIRED)

        if record.status == "rotated":
            return self._decide_rotated(record, family, requested, now, base, reject, refresh_token)
        if record.status == "revoked":
            return reject(InvalidGrant(
                f"refresh token {record.label} was revoked at {clock_text(record.status_changed_at or now)} "
                f"({record.status_reason}); log in again",
                check="revocation",
            ))

        idle_deadline = (record.last_used_at or record.issued_at) + self.policy.refresh_token_idle_ttl
        if now >= idle_deadline:
            return reject(InvalidGrant(
                f"refresh token {record.label} expired at {clock_text(idle_deadline)} after "
                f"{_duration_text(self.policy.refresh_token_idle_ttl)} without use (idle expiry); log in again",
                check="idle_expiry",
            ), EventKind.EXPIRED)

        try:
            access_scope = self._narrowed_scope(family, requested)
        except InvalidScope as exc:
            return reject(exc)

        return self._exchange(record, family, access_scope, now, base, refresh_token, grace=False)

    def _decide_rotated(self, record, family, requested, now, base, reject, presented_token):  # type: ignore[no-untyped-def]
        """Handle a refresh token that was already rotated: a grace-window retry, or reuse."""
        rotated_at = record.status_changed_at or now
        tokens = self.store.family_refresh_tokens(family.family_id)
        active = [t for t in tokens if t.status == "active"]
        newest = active[-1] if active else None
        grace = self.policy.reuse_grace

        in_grace = (
            grace > timedelta(0)
            and newest is not None
            and newest.parent_hash == record.token_hash
            and now < rotated_at + grace
        )
        if in_grace:
            try:
                access_scope = self._narrowed_scope(family, requested)
            except InvalidScope as exc:
                return reject(exc)
            return self._exchange(record, family, access_scope, now, base, presented_token, grace=True, superseded=newest)

        if not self.policy.detect_reuse:
            return reject(InvalidGrant(
                f"refresh token {record.label} was already rotated at {clock_text(rotated_at)}; "
                "use the newest refresh token of the family",
                check="reuse",
            ))

        reason = f"reuse of rotated refresh token {self._refresh_name(record)}"
        self.store.revoke_family(family.family_id, now, reason)
        logger.warning("reuse detected: %s in family %s; family revoked", record.fingerprint, family.family_id)
        error = InvalidGrant(
            f"refresh token {self._refresh_name(record)} was already rotated at "
            f"{clock_text(rotated_at)}; presenting it again means it was copied, so the whole family "
            f"{family.family_id} is now revoked. The user must log in again",
            check="reuse",
        )
        revoked_labels = [t.label for t in tokens if t.status == "active"]
        fields = dict(base, outcome="rejected", reason=error.message, error=error.error, check="reuse",
                      detail={"revoked": revoked_labels, "rotated_at": rotated_at.isoformat()})
        revoked_fields = dict(base, outcome="ok", reason=reason, detail={"family_revoked": True, "revoked": revoked_labels})
        return _Outcome(error=error, events=[(EventKind.REUSE_DETECTED, fields), (EventKind.REVOKED, revoked_fields)])

    def _narrowed_scope(self, family: FamilyRecord, requested: tuple[str, ...] | None) -> str:
        if requested is None:
            return family.scope
        granted = family.scope.split(" ")
        extra = [s for s in requested if s not in granted]
        if extra:
            raise InvalidScope(
                f"the refresh asks for {' '.join(extra)!r}, which the grant does not include "
                f"(granted: {family.scope!r}); a refresh may keep or narrow the scope, never widen it",
                check="scope",
            )
        return format_scope(requested)

    def _exchange(self, record, family, access_scope, now, base, presented_token, *, grace, superseded=None):  # type: ignore[no-untyped-def]
        """Swap a refresh token for a new pair. The caller must already be inside the store's transaction."""
        events: list[tuple[EventKind, dict[str, Any]]] = []

        if not self.policy.rotate_refresh_tokens:
            # Without rotation the same refresh token is used again; only its idle clock restarts.
            updated = dataclasses.replace(record, last_used_at=now)
            self.store.update_refresh(updated)
            access_token, access = self._mint_access_token(family, access_scope, now)
            events.append((EventKind.REFRESHED, dict(base, related=access.label, scope=access_scope,
                                                     expires_at=self._refresh_expiry(updated))))
            events.append((EventKind.ISSUED, self._access_fields(access)))
            return _Outcome(pair=self._pair(access_token, access, presented_token, updated), events=events)

        new_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        new_record = self._new_refresh_record(new_token, family, parent=record, now=now)
        if grace:
            assert superseded is not None
            self.store.update_refresh(dataclasses.replace(
                superseded, status="rotated", status_changed_at=now, replaced_by=new_record.token_hash,
                status_reason=f"superseded by a grace-window retry of its parent {record.label}",
            ))
        else:
            self.store.update_refresh(dataclasses.replace(
                record, status="rotated", status_changed_at=now, last_used_at=now,
                replaced_by=new_record.token_hash, status_reason="rotated by a refresh",
            ))
        self.store.add_refresh(new_record)
        access_token, access = self._mint_access_token(family, access_scope, now)

        events.append((EventKind.REFRESHED, dict(base, related=access.label, scope=access_scope)))
        if grace:
            events.append((EventKind.GRACE_REUSE, dict(
                base, related=new_record.label,
                reason=f"retry within the {self.policy.reuse_grace.total_seconds():g} s grace window",
                detail={"superseded": superseded.label, "grace_seconds": self.policy.reuse_grace.total_seconds()},
            )))
        else:
            events.append((EventKind.ROTATED, dict(base, related=new_record.label)))
        events.append((EventKind.ISSUED, self._access_fields(access)))
        events.append((EventKind.ISSUED, self._refresh_fields(new_record)))
        pair = self._pair(access_token, access, new_token, new_record)
        return _Outcome(pair=pair, events=events)

    def _access_fields(self, access: AccessRecord) -> dict[str, Any]:
        return {"token": access.fingerprint, "label": access.label, "token_type": "access_token",
                "family_id": access.family_id, "client_id": access.client_id, "subject": access.subject,
                "scope": access.scope, "issued_at": access.issued_at, "expires_at": access.expires_at,
                "detail": {"jti": access.jti, "kid": self.keys.current.kid}}

    def _refresh_fields(self, record: RefreshRecord) -> dict[str, Any]:
        return {"token": record.fingerprint, "label": record.label, "token_type": "refresh_token",
                "family_id": record.family_id, "client_id": record.client_id, "subject": record.subject,
                "scope": record.scope, "issued_at": record.issued_at, "expires_at": self._refresh_expiry(record),
                "detail": {"parent": record.parent_hash[:8] if record.parent_hash else None}}

    # -- revocation -------------------------------------------------------

    def revoke(
        self,
        token: str,
        *,
        client_id: str,
        token_type_hint: str | None = None,
        actor: str | None = None,
    ) -> bool:
        """Revoke an access token or a refresh token (RFC 7009); return True if anything changed.

        Revoking a refresh token revokes its whole family and every access
        token minted from it (§2.1). Revoking an access token puts its
        ``jti`` on the deny-list until it expires; the refresh token stays
        valid, so "kill this token" and "log this device out" differ. An
        unknown, expired or already revoked token is success with no effect
        (§2.2). A wrong or unknown ``token_type_hint`` is ignored and both
        kinds are tried. A token of another client raises
        :class:`UnauthorizedClient` and nothing is revoked.
        """
        if not isinstance(token, str):
            raise InvalidRequest(f"token must be a string, not {type(token).__name__}")
        client_id = _check_identifier(client_id, "client_id")
        now = self.now()
        token_fp = fingerprint(token)

        order = ["refresh_token", "access_token"]
        if token_type_hint == "access_token":
            order.reverse()

        try:
            for kind in order:
                revoke = self._revoke_refresh_token if kind == "refresh_token" else self._revoke_access_token
                result = revoke(token, client_id, now, actor)
                if result is not None:
                    return result
        except UnauthorizedClient as exc:
            exc.at, exc.token = now, token_fp
            self.events.record(now, EventKind.REJECTED, outcome="rejected", token=token_fp, actor=actor,
                               client_id=client_id, reason=exc.message, error=exc.error, check="client")
            raise

        self.events.record(now, EventKind.REVOKED, outcome="no_effect", token=token_fp, actor=actor,
                           client_id=client_id, reason="unknown token: nothing to revoke (RFC 7009 §2.2)")
        return False

    def _revoke_refresh_token(self, token: str, client_id: str, now: datetime, actor: str | None) -> bool | None:
        with self.store.transaction():
            record = self.store.get_refresh(token_hash(token))
            if record is None:
                return None
            if record.client_id != client_id:
                raise UnauthorizedClient(
                    f"refresh token {record.label} belongs to another client, not {client_id!r}; "
                    "nothing was revoked. A client may only revoke its own tokens"
                )
            family = self.store.get_family(record.family_id)
            assert family is not None
            base = {"token": record.fingerprint, "label": record.label, "token_type": "refresh_token",
                    "family_id": family.family_id, "client_id": client_id, "actor": actor}
            active_records = [t for t in self.store.family_refresh_tokens(family.family_id) if t.status == "active"]
            # The family is over once no active refresh token can be used (absolute or idle
            # expiry) and none of its access tokens still verifies; until then logout must end it.
            refresh_expired = all(now >= self._refresh_expiry(t) for t in active_records)
            live_access = [
                t for t in self.store.family_access_tokens(family.family_id)
                if t.revoked_at is None and now < t.expires_at + self.policy.leeway
            ]
            if family.revoked_at is not None or (refresh_expired and not live_access):
                already = "already revoked" if family.revoked_at is not None else "already expired"
                effect = False
            else:
                active = [t.label for t in active_records]
                self.store.revoke_family(family.family_id, now, f"the client revoked {record.label}")
                effect = True

        if not effect:
            self.events.record(now, EventKind.REVOKED, outcome="no_effect", reason=f"family {already}", **base)
            return False
        logger.info("family %s revoked by client %s with %s", family.family_id, client_id, record.fingerprint)
        self.events.record(now, EventKind.REVOKED, reason="refresh token revoked: the whole family ends",
                           detail={"family_revoked": True, "revoked": active}, **base)
        return True

    def _revoke_access_token(self, token: str, client_id: str, now: datetime, actor: str | None) -> bool | None:
        try:
            claims, access = self._check_access_token(token, now, stateless=True, check_time=False)
        except InvalidToken:
            return None
        if access is None:
            return None
        if access.client_id != client_id:
            raise UnauthorizedClient(
                f"access token {access.label} belongs to another client, not {client_id!r}; "
                "nothing was revoked. A client may only revoke its own tokens"
            )

        base = {"token": access.fingerprint, "label": access.label, "token_type": "access_token",
                "family_id": access.family_id, "client_id": client_id, "actor": actor}
        # The leeway counts here as in verify(), because a token that still verifies must stay revocable.
        if access.revoked_at is not None or now >= access.expires_at + self.policy.leeway:
            already = "already revoked" if access.revoked_at is not None else "already expired"
            self.events.record(now, EventKind.REVOKED, outcome="no_effect", reason=already, **base)
            return False
        with self.store.transaction():
            self.store.revoke_access(access.jti, now, "revoked by the client")
        self.events.record(now, EventKind.REVOKED, reason="access token put on the deny-list until it expires",
                           expires_at=access.expires_at, **base)
        return True

    # -- introspection ----------------------------------------------------

    def introspect(self, token: object, *, actor: str | None = None) -> dict[str, Any]:
        """Describe a token as RFC 7662 does; never raises for a bad token.

        An inactive token (unknown, expired, revoked, malformed, wrongly
        signed) gives exactly ``{"active": False}``, so that the response
        reveals nothing about why.
        """
        now = self.now()
        token_fp = fingerprint(token) if isinstance(token, (str, bytes)) else None
        response: dict[str, Any] = {"active": False}
        label = family_id = None
        reason = None

        try:
            if isinstance(token, str) and token.count(".") == 2:
                claims, access = self._check_access_token(token, now, stateless=False)
                response = {
                    "active": True,
                    "token_type": "access_token",
                    "scope": claims["scope"],
                    "client_id": claims["client_id"],
                    "sub": claims["sub"],
                    "aud": claims["aud"],
                    "iss": claims["iss"],
                    "exp": claims["exp"],
                    "iat": claims["iat"],
                    "jti": claims["jti"],
                }
                label = access.label if access else None
                family_id = access.family_id if access else None
            elif isinstance(token, str) and 16 <= len(token) <= MAX_REFRESH_TOKEN_LENGTH:
                response, label, family_id, reason = self._introspect_refresh(token, now)
            else:
                reason = "not a token this authority issues"
        except TokenlabError as exc:
            reason = exc.message
            # The event names an inactive access token too, as rejected verifications do.
            label = self._label_for(token)

        self.events.record(
            now, EventKind.INTROSPECTED, outcome="active" if response["active"] else "inactive",
            token=token_fp, label=label, family_id=family_id, actor=actor, reason=reason,
            token_type=response.get("token_type"),
        )
        return response

    def _introspect_refresh(self, token: str, now: datetime) -> tuple[dict[str, Any], str | None, str | None, str | None]:
        record = self.store.get_refresh(token_hash(token))
        if record is None:
            return {"active": False}, None, None, "unknown refresh token"
        family = self.store.get_family(record.family_id)
        expiry = self._refresh_expiry(record)
        if family is None or family.revoked_at is not None:
            return {"active": False}, record.label, record.family_id, "family revoked"
        if record.status != "active":
            return {"active": False}, record.label, record.family_id, f"refresh token {record.status}"
        if now >= expiry:
            return {"active": False}, record.label, record.family_id, "refresh token expired"
        response = {
            "active": True,
            "token_type": "refresh_token",
            "scope": record.scope,
            "client_id": record.client_id,
            "sub": record.subject,
            "iss": self.policy.issuer,
            "exp": int(timestamp(expiry)),
            "iat": int(timestamp(record.issued_at)),
        }
        return response, record.label, record.family_id, None

    # -- keys ---------------------------------------------------------------

    def rotate_signing_key(self, new_key: SigningKey | None = None, *, actor: str | None = None) -> SigningKey:
        """Sign new tokens with ``new_key`` (by default a new key of the same algorithm); return it.

        Tokens signed with the previous key keep verifying until
        :meth:`remove_key` removes it, so no user is logged out by a rotation.
        """
        if new_key is None:
            new_key = SigningKey.generate(self.keys.current.algorithm)
        now = self.now()
        previous = self.keys.rotate(new_key)
        self.events.record(now, EventKind.KEY_ROTATED, actor=actor, token=new_key.fingerprint,
                           reason=f"new tokens are signed with {new_key.kid}; {previous.kid} still verifies",
                           detail={"kid": new_key.kid, "previous_kid": previous.kid, "algorithm": new_key.algorithm})
        logger.info("signing key rotated from %s to %s", previous.kid, new_key.kid)
        return new_key

    def remove_key(self, kid: str, *, actor: str | None = None) -> SigningKey:
        """Stop accepting tokens signed with the retired key ``kid``; return the removed key."""
        now = self.now()
        removed = self.keys.remove(kid)
        self.events.record(now, EventKind.KEY_REMOVED, actor=actor, token=removed.fingerprint,
                           reason=f"tokens signed with {kid} no longer verify",
                           detail={"kid": kid, "algorithm": removed.algorithm})
        logger.info("signing key %s removed", kid)
        return removed

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Return the public keys as a JWK Set (RFC 7517); HMAC keys are never published."""
        return self.keys.jwks()

    def __repr__(self) -> str:
        return (
            f"TokenAuthority(issuer={self.policy.issuer!r}, key={self.keys.current.kid!r}, "
            f"store={type(self.store).__name__}, events={len(self.events)})"
        )


def _segment_json(token: object) -> bytes:
    """Return a compact JWS's decoded payload segment, unverified. Raises ValueError or TypeError."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
        raise ValueError("not a compact JWS")
    return base64url_decode(token.split(".")[1])
