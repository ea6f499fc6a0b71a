"""A state machine that runs two authorities in lockstep, one on MemoryStore and one on SQLiteStore.

Both authorities get the same policy, key, clock readings and operations, so
every operation must return the same result and record the same events on
both. Refresh tokens are random, so the two authorities hand out different
strings for the same label; the machine keeps each side's tokens by label. A
small model of families, refresh tokens and access tokens predicts each
outcome, and invariants check the stores against the model and the rules
that must hold after every step.

The default run is short. For a longer one set ``TOKENLAB_HYPOTHESIS_EXAMPLES``
(examples, default 100) and ``TOKENLAB_HYPOTHESIS_STEPS`` (steps per example,
default 40).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tokenlab as tl
from tokenlab.fingerprints import token_hash

START = "2026-01-05T09:00:00+00:00"
SIDES = ("memory", "sqlite")
SUBJECTS = ("alice", "bob")
CLIENTS = ("app", "cli")
GRANT_SCOPES = ("read", "read write", "read write admin")
# A refresh omits the scope half the time. Otherwise it requests a narrower, equal, reordered or
# wider scope, depending on the grant.
REFRESH_SCOPES = st.one_of(
    st.none(), st.sampled_from(("read", "write", "read write", "write read", "read write admin", "delete"))
)
REQUIRED_SCOPES = (None, "read", "write", "admin", "read write")
HINTS = (None, "access_token", "refresh_token", "id_token")
# Neither a JWT nor a refresh token this authority issued.
UNKNOWN_TOKENS = ("not-a-token", "q" * 43, "a.b.c")
INDEX = st.integers(min_value=0, max_value=1_000)
MAX_KEY_ROTATIONS = 4

EXAMPLES = int(os.environ.get("TOKENLAB_HYPOTHESIS_EXAMPLES", "100"))
STEPS = int(os.environ.get("TOKENLAB_HYPOTHESIS_STEPS", "40"))
settings.register_profile(
    "tokenlab-state-machine",
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    print_blob=True,
)

# Clock steps in seconds: hundredths (grace windows), minutes (access tokens) and, less often so
# that families stay alive for a while, hours (refresh tokens).
SHORT_STEPS = st.integers(min_value=1, max_value=500).map(lambda n: n / 100)
MEDIUM_STEPS = st.integers(min_value=5, max_value=900)
LONG_STEPS = st.integers(min_value=900, max_value=4 * 3600)
CLOCK_STEPS = st.one_of(SHORT_STEPS, SHORT_STEPS, MEDIUM_STEPS, MEDIUM_STEPS, LONG_STEPS)


@st.composite
def policies(draw: st.DrawFn) -> tl.TokenPolicy:
    """Draw a policy with lifetimes short enough that a run reaches every expiry."""
    rotate = draw(st.booleans())
    grace_seconds = draw(st.integers(min_value=0, max_value=60)) if rotate else 0
    return tl.TokenPolicy(
        access_token_ttl=timedelta(seconds=draw(st.integers(min_value=60, max_value=600))),
        refresh_token_idle_ttl=timedelta(minutes=draw(st.integers(min_value=60, max_value=180))),
        refresh_token_ttl=timedelta(minutes=draw(st.integers(min_value=120, max_value=360))),
        rotate_refresh_tokens=rotate,
        detect_reuse=draw(st.booleans()),
        reuse_grace=timedelta(seconds=grace_seconds),
        leeway=timedelta(seconds=draw(st.integers(min_value=0, max_value=60))),
        readable_ids=True,
    )


@dataclass
class FamilyModel:
    """What the model expects of one token family."""

    family_id: str
    client_id: str
    subject: str
    scope: str
    absolute_expiry: datetime
    refresh_labels: list[str] = field(default_factory=list)
    access_labels: list[str] = field(default_factory=list)
    revoked: bool = False


@dataclass
class RefreshModel:
    """What the model expects of one refresh token. ``parent`` and ``replaced_by`` are labels."""

    label: str
    family_id: str
    parent: str | None
    issued_at: datetime
    last_used_at: datetime | None = None
    status: str = "active"
    status_changed_at: datetime | None = None
    replaced_by: str | None = None


@dataclass
class AccessModel:
    """What the model expects of one access token, with times in whole seconds since 1970."""

    label: str
    jti: str
    family_id: str
    client_id: str
    subject: str
    scope: str
    issued_at: int
    expires_at: int
    kid: str
    revoked: bool = False


@dataclass(frozen=True)
class Failure:
    """An exception, reduced to what both authorities must agree on."""

    kind: type
    error: str
    check: str | None


@dataclass(frozen=True)
class Result:
    """One operation's normalised outcome on both sides, and the events it recorded."""

    outcome: Any
    events: list[tuple[Any, ...]]
    values: dict[str, Any]

    @property
    def failed(self) -> bool:
        return isinstance(self.outcome, Failure)

    def event_summary(self) -> list[tuple[str, str, str | None]]:
        return [(kind, outcome, label) for kind, outcome, label, *_ in self.events]


def event_facts(event: tl.Event) -> tuple[Any, ...]:
    """Return the fields of ``event`` that must match across stores.

    Refresh tokens differ between the two authorities, so their fingerprints,
    parent hashes and the reasons quoting them are left out. Access tokens
    are identical JWTs, so their fingerprints stay in.
    """
    detail = {name: value for name, value in event.detail.items() if name != "parent"}
    token = event.token if event.token_type == "access_token" else None
    return (
        event.kind.value, event.outcome, event.label, event.token_type, event.family_id, event.client_id,
        event.subject, event.scope, event.check, event.error, event.related, event.time, event.issued_at,
        event.expires_at, token, detail,
    )


def normalise(value: Any) -> Any:
    """Replace what differs between the two authorities (refresh tokens, key objects) by labels."""
    if isinstance(value, tl.TokenPair):
        return ("pair", value.access_label, value.refresh_label, value.expires_in, value.scope, value.family_id)
    if isinstance(value, tl.SigningKey):
        return ("key", value.kid)
    return value


class LockstepAuthorities(RuleBasedStateMachine):
    """Drive a MemoryStore authority and an SQLiteStore authority through the same operations."""

    def __init__(self) -> None:
        super().__init__()
        self.started = False
        self.folder = tempfile.mkdtemp(prefix="tokenlab-lockstep-")
        self.sqlite_store: tl.SQLiteStore | None = None
        self.families: dict[str, FamilyModel] = {}
        self.refresh_models: dict[str, RefreshModel] = {}
        self.access_models: dict[str, AccessModel] = {}
        self.refresh_tokens: dict[str, dict[str, str]] = {side: {} for side in SIDES}
        self.access_tokens: dict[str, str] = {}
        self.ever_rotated: set[str] = set()
        self.kids: list[str] = []
        self.removed_kids: set[str] = set()

    @initialize(policy=policies())
    def start(self, policy: tl.TokenPolicy) -> None:
        self.policy = policy
        self.sqlite_store = tl.SQLiteStore(os.path.join(self.folder, "tokens.db"))
        stores: dict[str, tl.TokenStore] = {"memory": tl.MemoryStore(), "sqlite": self.sqlite_store}
        self.clocks = {side: tl.SimulatedClock(START) for side in SIDES}
        key = tl.demo_key("HS256")
        self.authorities = {
            side: tl.TokenAuthority(policy=policy, clock=self.clocks[side], store=stores[side], key=key)
            for side in SIDES
        }
        self.kids.append(key.kid)
        self.started = True

    def teardown(self) -> None:
        if self.sqlite_store is not None:
            self.sqlite_store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ------------------------------------------------------------

    def now(self) -> datetime:
        moments = {clock.now() for clock in self.clocks.values()}
        assert len(moments) == 1, f"the two clocks drifted apart: {moments}"
        return moments.pop()

    def now_seconds(self) -> float:
        return self.now().timestamp()

    @property
    def leeway(self) -> float:
        return self.policy.leeway.total_seconds()

    def run_both(self, operation: Callable[[tl.TokenAuthority, str], Any]) -> Result:
        """Run ``operation(authority, side)`` on both authorities and check that they agree."""
        outcomes: dict[str, Any] = {}
        events: dict[str, list[tuple[Any, ...]]] = {}
        values: dict[str, Any] = {}
        for side in SIDES:
            authority = self.authorities[side]
            before = len(authority.events)
            try:
                value = operation(authority, side)
            except tl.TokenlabError as exc:
                value = exc
                outcomes[side] = Failure(type(exc), exc.error, exc.check)
            else:
                outcomes[side] = normalise(value)
            values[side] = value
            events[side] = [event_facts(event) for event in authority.events[before:]]

        assert outcomes["memory"] == outcomes["sqlite"], "the two stores returned different outcomes"
        assert events["memory"] == events["sqlite"], "the two stores recorded different events"
        return Result(outcomes["memory"], events["memory"], values)

    def pick(self, items: list[Any], index: int) -> Any:
        return items[index % len(items)]

    def pick_recent(self, items: list[Any], index: int) -> Any:
        """Pick from the newest end, where tokens are most likely still alive. Index 0 is the newest."""
        return items[-1 - index % len(items)]

    def family_list(self) -> list[FamilyModel]:
        return list(self.families.values())

    def next_label(self, prefix: str, existing: dict[str, Any]) -> str:
        return f"{prefix}{len(existing) + 1}"

    def newest_active(self, family: FamilyModel) -> RefreshModel | None:
        active = [self.refresh_models[label] for label in family.refresh_labels
                  if self.refresh_models[label].status == "active"]
        return active[-1] if active else None

    def idle_deadline(self, token: RefreshModel) -> datetime:
        return (token.last_used_at or token.issued_at) + self.policy.refresh_token_idle_ttl

    def family_can_refresh(self, family: FamilyModel) -> bool:
        """Return True while the family's active refresh token is within its absolute and idle expiry."""
        now = self.now()
        return any(
            now < min(family.absolute_expiry, self.idle_deadline(token))
            for token in (self.refresh_models[label] for label in family.refresh_labels)
            if token.status == "active"
        )

    def family_has_live_access(self, family: FamilyModel) -> bool:
        """Return True while some access token of the family is neither revoked nor expired."""
        return any(
            not access.revoked and not self.access_expired(access)
            for access in (self.access_models[label] for label in family.access_labels)
        )

    def access_expired(self, access: AccessModel) -> bool:
        return not self.now_seconds() < access.expires_at + self.leeway

    def revoke_family_in_model(self, family: FamilyModel) -> None:
        now = self.now()
        family.revoked = True
        for label in family.refresh_labels:
            token = self.refresh_models[label]
            if token.status == "active":
                token.status = "revoked"
                token.status_changed_at = now
        for label in family.access_labels:
            self.access_models[label].revoked = True

    def add_refresh_to_model(self, result: Result, family: FamilyModel, label: str, parent: str | None) -> None:
        self.refresh_models[label] = RefreshModel(label, family.family_id, parent, issued_at=self.now())
        family.refresh_labels.append(label)
        for side in SIDES:
            self.refresh_tokens[side][label] = result.values[side].refresh_token

    def add_access_to_model(self, result: Result, family: FamilyModel, label: str, scope: str) -> None:
        token = result.values["memory"].access_token
        assert result.values["sqlite"].access_token == token, "the same claims and key must give the same JWT"
        issued_at = int(self.now_seconds())
        self.access_models[label] = AccessModel(
            label=label, jti="at-" + label[2:], family_id=family.family_id, client_id=family.client_id,
            subject=family.subject, scope=scope, issued_at=issued_at,
            expires_at=issued_at + int(self.policy.access_token_ttl.total_seconds()), kid=self.kids[-1],
        )
        self.access_tokens[label] = token
        family.access_labels.append(label)

    # -- issuing and refreshing -----------------------------------------------

    @precondition(lambda self: self.started)
    @rule(subject=st.sampled_from(SUBJECTS), client_id=st.sampled_from(CLIENTS), scope=st.sampled_from(GRANT_SCOPES))
    def issue(self, subject: str, client_id: str, scope: str) -> None:
        family_id = self.next_label("F", self.families)
        refresh_label = self.next_label("RT", self.refresh_models)
        access_label = self.next_label("AT", self.access_models)

        result = self.run_both(lambda auth, side: auth.issue(subject, client_id=client_id, scope=scope))

        expires_in = int(self.policy.access_token_ttl.total_seconds())
        assert result.outcome == ("pair", access_label, refresh_label, expires_in, scope, family_id)
        assert result.event_summary() == [("issued", "ok", refresh_label), ("issued", "ok", access_label)]
        family = FamilyModel(family_id, client_id, subject, scope, self.now() + self.policy.refresh_token_ttl)
        self.families[family_id] = family
        self.add_refresh_to_model(result, family, refresh_label, parent=None)
        self.add_access_to_model(result, family, access_label, scope)

    def expect_refresh(self, label: str, client_id: str, requested: str | None) -> tuple[Any, list[tuple[str, str]]]:
        """Predict a refresh: ``(Failure or "rotate"/"grace"/"same", [(event kind, outcome), ...])``."""
        token = self.refresh_models[label]
        family = self.families[token.family_id]
        now = self.now()
        wider = requested is not None and any(word not in family.scope.split() for word in requested.split())
        rejected = [("rejected", "rejected")]

        if client_id != family.client_id:
            return Failure(tl.InvalidGrant, "invalid_grant", "client"), rejected
        if family.revoked:
            return Failure(tl.InvalidGrant, "invalid_grant", "revocation"), rejected
        if now >= family.absolute_expiry:
            return Failure(tl.InvalidGrant, "invalid_grant", "absolute_expiry"), [("expired", "rejected")]

        if token.status == "rotated":
            newest = self.newest_active(family)
            assert token.status_changed_at is not None
            in_grace = (
                self.policy.reuse_grace > timedelta(0)
                and newest is not None
                and newest.parent == label
                and now < token.status_changed_at + self.policy.reuse_grace
            )
            if in_grace and wider:
                return Failure(tl.InvalidScope, "invalid_scope", "scope"), rejected
            if in_grace:
                return "grace", [("refreshed", "ok"), ("grace_reuse", "ok"), ("issued", "ok"), ("issued", "ok")]
            if not self.policy.detect_reuse:
                return Failure(tl.InvalidGrant, "invalid_grant", "reuse"), rejected
            return Failure(tl.InvalidGrant, "invalid_grant", "reuse"), [("reuse_detected", "rejected"), ("revoked", "ok")]

        assert token.status == "active", f"{label} is {token.status} although its family is not revoked"
        if now >= self.idle_deadline(token):
            return Failure(tl.InvalidGrant, "invalid_grant", "idle_expiry"), [("expired", "rejected")]
        if wider:
            return Failure(tl.InvalidScope, "invalid_scope", "scope"), rejected
        if not self.policy.rotate_refresh_tokens:
            return "same", [("refreshed", "ok"), ("issued", "ok")]
        return "rotate", [("refreshed", "ok"), ("rotated", "ok"), ("issued", "ok"), ("issued", "ok")]

    def refresh_and_check(self, label: str, client_id: str, requested: str | None, actor: str | None) -> Result:
        """Refresh with ``label`` on both sides, check the prediction, and update the model."""
        token = self.refresh_models[label]
        family = self.families[token.family_id]
        family_was_revoked = family.revoked
        expected, expected_events = self.expect_refresh(label, client_id, requested)
        access_label = self.next_label("AT", self.access_models)
        new_label = label if expected == "same" else self.next_label("RT", self.refresh_models)

        result = self.run_both(lambda auth, side: auth.refresh(
            self.refresh_tokens[side][label], client_id=client_id, scope=requested, actor=actor))

        if isinstance(expected, Failure):
            labels = [label] * len(expected_events)
        elif expected == "same":
            labels = [label, access_label]
        else:
            labels = [label, label, access_label, new_label]
        assert result.event_summary() == [(kind, outcome, name) for (kind, outcome), name in zip(expected_events, labels)]
        if family_was_revoked:
            assert result.failed, f"{label} refreshed although family {family.family_id} is revoked"
        if isinstance(expected, Failure):
            assert result.outcome == expected
            if expected.check == "reuse" and self.policy.detect_reuse:
                self.revoke_family_in_model(family)
            return result

        scope = " ".join(requested.split()) if requested is not None else family.scope
        expires_in = int(self.policy.access_token_ttl.total_seconds())
        assert result.outcome == ("pair", access_label, new_label, expires_in, scope, family.family_id)
        now = self.now()
        if expected == "same":
            for side in SIDES:
                assert result.values[side].refresh_token == self.refresh_tokens[side][label]
            token.last_used_at = now
        elif expected == "rotate":
            token.status, token.status_changed_at, token.last_used_at = "rotated", now, now
            token.replaced_by = new_label
            self.add_refresh_to_model(result, family, new_label, parent=label)
        else:
            superseded = self.newest_active(family)
            assert superseded is not None
            superseded.status, superseded.status_changed_at = "rotated", now
            superseded.replaced_by = new_label
            self.add_refresh_to_model(result, family, new_label, parent=label)
        self.add_access_to_model(result, family, access_label, scope)
        return result

    @precondition(lambda self: self.families)
    @rule(family_index=INDEX, requested=REFRESH_SCOPES)
    def refresh_newest(self, family_index: int, requested: str | None) -> None:
        family = self.pick_recent(self.family_list(), family_index)
        self.refresh_and_check(family.refresh_labels[-1], family.client_id, requested, actor="user")

    @precondition(lambda self: any(len(f.refresh_labels) > 1 for f in self.families.values()))
    @rule(family_index=INDEX, token_index=INDEX, requested=REFRESH_SCOPES)
    def replay_older_token(self, family_index: int, token_index: int, requested: str | None) -> None:
        families = [f for f in self.family_list() if len(f.refresh_labels) > 1]
        family = self.pick_recent(families, family_index)
        label = self.pick_recent(family.refresh_labels[:-1], token_index)
        self.refresh_and_check(label, family.client_id, requested, actor="attacker")

    @precondition(lambda self: self.families)
    @rule(family_index=INDEX, token_index=INDEX)
    def refresh_by_wrong_client(self, family_index: int, token_index: int) -> None:
        family = self.pick_recent(self.family_list(), family_index)
        label = self.pick_recent(family.refresh_labels, token_index)
        other_client = next(client for client in CLIENTS if client != family.client_id)
        result = self.refresh_and_check(label, other_client, None, actor="other client")
        assert result.outcome == Failure(tl.InvalidGrant, "invalid_grant", "client")

    @precondition(lambda self: any(f.revoked for f in self.families.values()))
    @rule(family_index=INDEX)
    def probe_revoked_family(self, family_index: int) -> None:
        """Try every token of a revoked family: none verifies statefully and none refreshes."""
        family = self.pick_recent([f for f in self.family_list() if f.revoked], family_index)
        for label in family.access_labels:
            result = self.run_both(lambda auth, side: auth.verify(self.access_tokens[label]))
            assert result.failed, f"{label} verified although family {family.family_id} is revoked"
            assert result.outcome.kind is tl.InvalidToken
        for label in family.refresh_labels:
            result = self.refresh_and_check(label, family.client_id, None, actor="user")
            assert result.outcome == Failure(tl.InvalidGrant, "invalid_grant", "revocation")

    # -- verification and introspection ---------------------------------------

    def expect_verify(self, access: AccessModel, stateless: bool, required: str | None) -> Failure | None:
        if access.kid in self.removed_kids:
            return Failure(tl.InvalidToken, "invalid_token", "kid")
        if self.access_expired(access):
            return Failure(tl.InvalidToken, "invalid_token", "exp")
        if not stateless and (access.revoked or self.families[access.family_id].revoked):
            return Failure(tl.InvalidToken, "invalid_token", "revocation")
        if required is not None and any(word not in access.scope.split() for word in required.split()):
            return Failure(tl.InsufficientScope, "insufficient_scope", "scope")
        return None

    @precondition(lambda self: self.access_models)
    @rule(access_index=INDEX, stateless=st.booleans(), required=st.sampled_from(REQUIRED_SCOPES))
    def verify(self, access_index: int, stateless: bool, required: str | None) -> None:
        access = self.pick_recent(list(self.access_models.values()), access_index)
        expected = self.expect_verify(access, stateless, required)

        result = self.run_both(lambda auth, side: auth.verify(
            self.access_tokens[access.label], required_scope=required, stateless=stateless, actor="api"))

        if expected is None:
            assert not self.access_expired(access), f"{access.label} verified at or after exp + leeway"
            claims = result.outcome
            assert (claims["jti"], claims["scope"], claims["exp"]) == (access.jti, access.scope, access.expires_at)
            assert result.event_summary() == [("verified", "ok", access.label)]
        else:
            assert result.outcome == expected
            kind = "expired" if expected.check == "exp" else "rejected"
            assert result.event_summary() == [(kind, "rejected", access.label)]

    def expect_introspection(self, kind: str, label: str) -> dict[str, Any]:
        inactive = {"active": False}
        if kind == "access":
            access = self.access_models[label]
            if self.expect_verify(access, stateless=False, required=None) is not None:
                return inactive
            return {
                "active": True, "token_type": "access_token", "scope": access.scope, "client_id": access.client_id,
                "sub": access.subject, "aud": self.policy.audience, "iss": self.policy.issuer,
                "exp": access.expires_at, "iat": access.issued_at, "jti": access.jti,
            }
        token = self.refresh_models[label]
        family = self.families[token.family_id]
        expiry = min(family.absolute_expiry, self.idle_deadline(token))
        if family.revoked or token.status != "active" or self.now() >= expiry:
            return inactive
        return {
            "active": True, "token_type": "refresh_token", "scope": family.scope, "client_id": family.client_id,
            "sub": family.subject, "iss": self.policy.issuer, "exp": int(expiry.timestamp()),
            "iat": int(token.issued_at.timestamp()),
        }

    @precondition(lambda self: self.families)
    @rule(kind=st.sampled_from(["access", "refresh", "unknown"]), index=INDEX)
    def introspect(self, kind: str, index: int) -> None:
        if kind == "unknown":
            token_text = self.pick(list(UNKNOWN_TOKENS), index)
            result = self.run_both(lambda auth, side: auth.introspect(token_text))
            assert result.outcome == {"active": False}
            assert result.event_summary() == [("introspected", "inactive", None)]
            return

        labels = list(self.access_models) if kind == "access" else list(self.refresh_models)
        label = self.pick_recent(labels, index)
        expected = self.expect_introspection(kind, label)
        if kind == "access":
            result = self.run_both(lambda auth, side: auth.introspect(self.access_tokens[label]))
        else:
            result = self.run_both(lambda auth, side: auth.introspect(self.refresh_tokens[side][label]))

        assert isinstance(result.outcome, dict), f"introspect returned {result.outcome!r}"
        assert result.outcome == expected
        outcome = "active" if expected["active"] else "inactive"
        assert result.event_summary() == [("introspected", outcome, label)]

    # -- revocation -----------------------------------------------------------

    @precondition(lambda self: self.access_models)
    @rule(access_index=INDEX, right_client=st.booleans(), hint=st.sampled_from(HINTS))
    def revoke_access_token(self, access_index: int, right_client: bool, hint: str | None) -> None:
        access = self.pick_recent(list(self.access_models.values()), access_index)
        client_id = access.client_id if right_client else next(c for c in CLIENTS if c != access.client_id)
        family = self.families[access.family_id]

        result = self.run_both(lambda auth, side: auth.revoke(
            self.access_tokens[access.label], client_id=client_id, token_type_hint=hint))

        if access.kid in self.removed_kids:
            # A token whose key was removed is unknown to the authority, whichever client sends it.
            assert result.outcome is False
            assert result.event_summary() == [("revoked", "no_effect", None)]
        elif not right_client:
            assert result.outcome == Failure(tl.UnauthorizedClient, "unauthorized_client", None)
            assert result.event_summary() == [("rejected", "rejected", None)]
        elif access.revoked or family.revoked or self.access_expired(access):
            assert result.outcome is False
            assert result.event_summary() == [("revoked", "no_effect", access.label)]
        else:
            assert result.outcome is True
            assert result.event_summary() == [("revoked", "ok", access.label)]
            access.revoked = True

    @precondition(lambda self: self.families)
    @rule(family_index=INDEX, token_index=INDEX, right_client=st.booleans(), hint=st.sampled_from(HINTS))
    def revoke_refresh_token(self, family_index: int, token_index: int, right_client: bool, hint: str | None) -> None:
        family = self.pick_recent(self.family_list(), family_index)
        label = self.pick_recent(family.refresh_labels, token_index)
        client_id = family.client_id if right_client else next(c for c in CLIENTS if c != family.client_id)

        result = self.run_both(lambda auth, side: auth.revoke(
            self.refresh_tokens[side][label], client_id=client_id, token_type_hint=hint))

        if not right_client:
            assert result.outcome == Failure(tl.UnauthorizedClient, "unauthorized_client", None)
            assert result.event_summary() == [("rejected", "rejected", None)]
        elif family.revoked or not (self.family_can_refresh(family) or self.family_has_live_access(family)):
            assert result.outcome is False
            assert result.event_summary() == [("revoked", "no_effect", label)]
        else:
            assert result.outcome is True
            assert result.event_summary() == [("revoked", "ok", label)]
            self.revoke_family_in_model(family)

    @precondition(lambda self: self.started)
    @rule(index=INDEX, hint=st.sampled_from(HINTS))
    def revoke_unknown_token(self, index: int, hint: str | None) -> None:
        token_text = self.pick(list(UNKNOWN_TOKENS), index)
        result = self.run_both(lambda auth, side: auth.revoke(token_text, client_id="app", token_type_hint=hint))
        assert result.outcome is False
        assert result.event_summary() == [("revoked", "no_effect", None)]

    # -- time and keys --------------------------------------------------------

    def advance_both(self, delta: timedelta) -> None:
        for clock in self.clocks.values():
            clock.advance(delta)

    @precondition(lambda self: self.started)
    @rule(seconds=CLOCK_STEPS)
    def advance_clock(self, seconds: float) -> None:
        self.advance_both(timedelta(seconds=seconds))

    def deadlines(self) -> list[datetime]:
        """Return the instants at which some token's state changes: expiries and grace-window ends."""
        moments = []
        for access in self.access_models.values():
            expiry = datetime.fromtimestamp(access.expires_at, tz=timezone.utc)
            moments += [expiry, expiry + self.policy.leeway]
        for family in self.families.values():
            moments.append(family.absolute_expiry)
        for token in self.refresh_models.values():
            if token.status == "active":
                moments.append(self.idle_deadline(token))
            elif token.status == "rotated" and token.status_changed_at is not None:
                moments.append(token.status_changed_at + self.policy.reuse_grace)
        return sorted(moment for moment in set(moments) if moment > self.now())

    @precondition(lambda self: self.started and self.deadlines())
    @rule(index=INDEX, offset=st.sampled_from([-0.01, 0.0, 0.01]))
    def advance_to_deadline(self, index: int, offset: float) -> None:
        """Move the clock to just before, exactly onto, or just past an expiry or a grace-window end."""
        target = self.pick(self.deadlines(), index) + timedelta(seconds=offset)
        self.advance_both(max(target - self.now(), timedelta(0)))

    @precondition(lambda self: self.started and len(self.kids) <= MAX_KEY_ROTATIONS)
    @rule()
    def rotate_signing_key(self) -> None:
        kid = f"key-{len(self.kids)}"
        secret = hashlib.sha256(kid.encode("ascii")).digest()
        result = self.run_both(lambda auth, side: auth.rotate_signing_key(tl.SigningKey.from_secret(secret, kid=kid)))
        assert result.outcome == ("key", kid)
        assert result.event_summary() == [("key_rotated", "ok", None)]
        self.kids.append(kid)

    @precondition(lambda self: self.started)
    @rule(index=INDEX, current=st.booleans())
    def remove_key(self, index: int, current: bool) -> None:
        retired = [kid for kid in self.kids[:-1] if kid not in self.removed_kids]
        kid = self.kids[-1] if current or not retired else self.pick(retired, index)

        result = self.run_both(lambda auth, side: auth.remove_key(kid))

        if kid == self.kids[-1]:
            assert isinstance(result.outcome, Failure)
            assert result.outcome.kind is tl.SigningKeyError
            assert result.events == []
        else:
            assert result.outcome == ("key", kid)
            assert [kind for kind, *_ in result.event_summary()] == ["key_removed"]
            self.removed_kids.add(kid)

    # -- invariants -----------------------------------------------------------

    def refresh_facts(self, side: str, family_id: str) -> list[tuple[Any, ...]]:
        """Return a store's refresh records of a family, with hashes replaced by labels."""
        records = self.authorities[side].store.family_refresh_tokens(family_id)
        labels = {record.token_hash: record.label for record in records}
        for record in records:
            assert record.token_hash == token_hash(self.refresh_tokens[side][record.label])
        return [
            (r.label, r.status, labels.get(r.parent_hash), labels.get(r.replaced_by), r.issued_at, r.last_used_at,
             r.status_changed_at, r.expires_at, r.client_id, r.subject, r.scope)
            for r in records
        ]

    @precondition(lambda self: self.started)
    @invariant()
    def stores_match_each_other_and_the_model(self) -> None:
        for family in self.families.values():
            facts = {side: self.refresh_facts(side, family.family_id) for side in SIDES}
            assert facts["memory"] == facts["sqlite"], f"the stores disagree on family {family.family_id}"

            model = [
                (t.label, t.status, t.parent, t.replaced_by, t.issued_at, t.last_used_at, t.status_changed_at)
                for t in (self.refresh_models[label] for label in family.refresh_labels)
            ]
            assert [fact[:7] for fact in facts["memory"]] == model

            for side in SIDES:
                stored = self.authorities[side].store.get_family(family.family_id)
                assert stored is not None
                assert (stored.revoked_at is not None) == family.revoked

    @precondition(lambda self: self.started)
    @invariant()
    def family_has_at_most_one_active_refresh_token(self) -> None:
        for family in self.families.values():
            for side in SIDES:
                records = self.authorities[side].store.family_refresh_tokens(family.family_id)
                active = [record.label for record in records if record.status == "active"]
                assert len(active) <= 1, f"family {family.family_id} has active refresh tokens {active}"

    @precondition(lambda self: self.started)
    @invariant()
    def rotated_token_never_active_again(self) -> None:
        for family in self.families.values():
            for record in self.authorities["sqlite"].store.family_refresh_tokens(family.family_id):
                if record.label in self.ever_rotated:
                    assert record.status != "active", f"{record.label} became active after it was rotated"
                if record.status == "rotated":
                    self.ever_rotated.add(record.label)

    @precondition(lambda self: self.started)
    @invariant()
    def revoked_family_keeps_nothing_alive(self) -> None:
        for family in self.families.values():
            if not family.revoked:
                continue
            for side in SIDES:
                store = self.authorities[side].store
                active = [r.label for r in store.family_refresh_tokens(family.family_id) if r.status == "active"]
                assert active == [], f"revoked family {family.family_id} still has active {active}"
                live = [a.label for a in store.family_access_tokens(family.family_id) if a.revoked_at is None]
                assert live == [], f"revoked family {family.family_id} still has unrevoked {live}"


TestLockstepAuthorities = LockstepAuthorities.TestCase
TestLockstepAuthorities.settings = settings.get_profile("tokenlab-state-machine")


# -- cases found while building the machine, kept as plain tests ---------------------


def test_revoke_within_leeway_denies_access_token(authority, clock):
    auth = authority("HS256", leeway=30)
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=5)  # exactly exp, and the leeway keeps the token valid for 30 s more

    assert auth.revoke(pair.access_token, client_id="app") is True
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(pair.access_token)
    assert caught.value.check == "revocation"


def test_logout_after_refresh_expiry_ends_access_token(authority, clock):
    auth = authority("HS256", refresh_token_ttl=timedelta(hours=1))
    first = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=59)
    second = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(minutes=1)  # the family's absolute expiry, while second.access_token lives 4 minutes more

    auth.revoke(second.refresh_token, client_id="app")
    with pytest.raises(tl.InvalidToken):
        auth.verify(second.access_token)
