"""The event log: which events each operation records, in what order, and that none of them leaks a secret."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import pytest

import tokenlab as tl

TTL = 300


def _new_events(auth: tl.TokenAuthority, since: int) -> list[tl.Event]:
    return auth.events.since(since)


def _summary(events: list[tl.Event]) -> list[tuple[str, str | None, str | None, str]]:
    """Reduce events to (kind, label, related, outcome) for comparison."""
    return [(e.kind.value, e.label, e.related, e.outcome) for e in events]


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("HS256")


@pytest.fixture
def first(auth):  # type: ignore[no-untyped-def]
    return auth.issue("alice", client_id="app", scope="read write", actor="browser")


# -- issue -------------------------------------------------------------------------------------


def test_issue_records_refresh_then_access(auth, first):
    assert _summary(list(auth.events)) == [
        ("issued", "RT1", None, "ok"),
        ("issued", "AT1", None, "ok"),
    ]


def test_issue_event_fields(auth, first, clock):
    refresh_event, access_event = list(auth.events)
    assert refresh_event.token_type == "refresh_token"
    assert access_event.token_type == "access_token"
    for event in (refresh_event, access_event):
        assert event.time == clock.now()
        assert event.family_id == "F1"
        assert event.client_id == "app"
        assert event.subject == "alice"
        assert event.scope == "read write"
        assert event.actor == "browser"
    assert access_event.expires_at == clock.now() + timedelta(seconds=TTL)
    assert refresh_event.expires_at == clock.now() + timedelta(days=15)
    assert access_event.token == tl.fingerprint(first.access_token)
    assert refresh_event.token == tl.fingerprint(first.refresh_token)


def test_event_sequence_numbers_count_up(auth, first):
    auth.verify(first.access_token)
    assert [e.seq for e in auth.events] == [1, 2, 3]


# -- refresh -----------------------------------------------------------------------------------


@pytest.mark.both_stores
def test_refresh_records_rotation_events(auth, first):
    start = len(auth.events)
    auth.refresh(first.refresh_token, client_id="app")
    assert _summary(_new_events(auth, start)) == [
        ("refreshed", "RT1", "AT2", "ok"),
        ("rotated", "RT1", "RT2", "ok"),
        ("issued", "AT2", None, "ok"),
        ("issued", "RT2", None, "ok"),
    ]


def test_refresh_without_rotation_records_no_rotated(authority):
    auth = authority("HS256", rotate_refresh_tokens=False)
    pair = auth.issue("alice", client_id="app", scope="read")
    start = len(auth.events)
    auth.refresh(pair.refresh_token, client_id="app")
    assert _summary(_new_events(auth, start)) == [
        ("refreshed", "RT1", "AT2", "ok"),
        ("issued", "AT2", None, "ok"),
    ]


@pytest.mark.both_stores
def test_reuse_records_detection_then_revocation(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    start = len(auth.events)
    with pytest.raises(tl.InvalidGrant):
        auth.refresh(first.refresh_token, client_id="app")
    detected, revoked = _new_events(auth, start)
    assert (detected.kind, detected.label, detected.outcome) == (tl.EventKind.REUSE_DETECTED, "RT1", "rejected")
    assert detected.check == "reuse"
    assert detected.error == "invalid_grant"
    assert detected.detail["revoked"] == ["RT2"]
    assert (revoked.kind, revoked.label, revoked.outcome) == (tl.EventKind.REVOKED, "RT1", "ok")
    assert revoked.detail["family_revoked"] is True


@pytest.mark.both_stores
def test_grace_retry_records_grace_reuse(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    pair = auth.issue("alice", client_id="app", scope="read")
    auth.refresh(pair.refresh_token, client_id="app")
    clock.advance(seconds=0.02)
    start = len(auth.events)
    auth.refresh(pair.refresh_token, client_id="app")
    events = _new_events(auth, start)
    assert _summary(events) == [
        ("refreshed", "RT1", "AT3", "ok"),
        ("grace_reuse", "RT1", "RT3", "ok"),
        ("issued", "AT3", None, "ok"),
        ("issued", "RT3", None, "ok"),
    ]
    assert events[1].detail["superseded"] == "RT2"
    assert auth.events.of_kind("reuse_detected") == []


def test_idle_expiry_records_expired(auth, first, clock):
    clock.advance(days=15)
    with pytest.raises(tl.InvalidGrant):
        auth.refresh(first.refresh_token, client_id="app")
    event = auth.events.last()
    assert (event.kind, event.label, event.outcome, event.check) == (tl.EventKind.EXPIRED, "RT1", "rejected", "idle_expiry")
    assert event.error == "invalid_grant"
    assert "idle" in event.reason


def test_other_client_refresh_records_rejected(auth, first):
    with pytest.raises(tl.InvalidGrant):
        auth.refresh(first.refresh_token, client_id="other-app")
    event = auth.events.last()
    assert (event.kind, event.label, event.outcome, event.check) == (tl.EventKind.REJECTED, "RT1", "rejected", "client")
    assert event.client_id == "other-app"


def test_absolute_expiry_records_expired(authority, clock):
    auth = authority("HS256", refresh_token_ttl=timedelta(days=1))
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=1)
    with pytest.raises(tl.InvalidGrant):
        auth.refresh(pair.refresh_token, client_id="app")
    assert (auth.events.last().kind, auth.events.last().check) == (tl.EventKind.EXPIRED, "absolute_expiry")


def test_unknown_refresh_token_records_rejected(auth):
    with pytest.raises(tl.InvalidGrant):
        auth.refresh("x" * 43, client_id="app")
    event = auth.events.last()
    assert (event.kind, event.outcome, event.check) == (tl.EventKind.REJECTED, "rejected", "unknown")
    assert event.token == tl.fingerprint("x" * 43)
    assert event.label is None


def test_wider_scope_records_rejected(auth, first):
    with pytest.raises(tl.InvalidScope):
        auth.refresh(first.refresh_token, client_id="app", scope="admin")
    event = auth.events.last()
    assert (event.kind, event.check, event.error) == (tl.EventKind.REJECTED, "scope", "invalid_scope")


# -- verify ----------------------------------------------------------------------------------------


def test_verify_records_verified(auth, first):
    auth.verify(first.access_token, actor="api")
    event = auth.events.last()
    assert (event.kind, event.label, event.outcome, event.actor) == (tl.EventKind.VERIFIED, "AT1", "ok", "api")
    assert event.detail["stateless"] is False


def test_verify_at_exp_records_expired(auth, first, clock):
    clock.advance(seconds=TTL)
    with pytest.raises(tl.InvalidToken):
        auth.verify(first.access_token)
    event = auth.events.last()
    assert (event.kind, event.label, event.check, event.error) == (tl.EventKind.EXPIRED, "AT1", "exp", "invalid_token")


def test_verify_revoked_records_rejected(auth, first):
    auth.revoke(first.access_token, client_id="app")
    with pytest.raises(tl.InvalidToken):
        auth.verify(first.access_token)
    event = auth.events.last()
    assert (event.kind, event.label, event.outcome, event.check) == (tl.EventKind.REJECTED, "AT1", "rejected", "revocation")
    assert "revoked" in event.reason


def test_verify_scope_records_rejected(auth, first):
    with pytest.raises(tl.InsufficientScope):
        auth.verify(first.access_token, required_scope="admin")
    event = auth.events.last()
    assert (event.kind, event.check, event.error) == (tl.EventKind.REJECTED, "scope", "insufficient_scope")


def test_verify_junk_records_rejected(auth):
    with pytest.raises(tl.InvalidToken):
        auth.verify("a.b")
    event = auth.events.last()
    assert (event.kind, event.check, event.label) == (tl.EventKind.REJECTED, "format", None)


# -- revoke and introspect -------------------------------------------------------------------------


def test_revoke_refresh_records_family_revoked(auth, first):
    auth.revoke(first.refresh_token, client_id="app")
    event = auth.events.last()
    assert (event.kind, event.label, event.outcome) == (tl.EventKind.REVOKED, "RT1", "ok")
    assert event.detail == {"family_revoked": True, "revoked": ["RT1"]}


def test_revoke_access_records_deny_list(auth, first):
    auth.revoke(first.access_token, client_id="app")
    event = auth.events.last()
    assert (event.kind, event.label, event.token_type, event.outcome) == (
        tl.EventKind.REVOKED, "AT1", "access_token", "ok"
    )


def test_revoke_unknown_records_no_effect(auth):
    auth.revoke("x" * 43, client_id="app")
    event = auth.events.last()
    assert (event.kind, event.outcome) == (tl.EventKind.REVOKED, "no_effect")


def test_revoke_other_client_records_rejected(auth, first):
    with pytest.raises(tl.UnauthorizedClient):
        auth.revoke(first.refresh_token, client_id="other-app")
    event = auth.events.last()
    assert (event.kind, event.outcome, event.check, event.error) == (
        tl.EventKind.REJECTED, "rejected", "client", "unauthorized_client"
    )


def test_introspect_records_outcome(auth, first):
    auth.introspect(first.refresh_token)
    auth.introspect("x" * 43)
    active, inactive = auth.events[-2:]
    assert (active.kind, active.outcome, active.token_type, active.label) == (
        tl.EventKind.INTROSPECTED, "active", "refresh_token", "RT1"
    )
    assert (inactive.kind, inactive.outcome) == (tl.EventKind.INTROSPECTED, "inactive")
    assert inactive.reason


def test_key_rotation_records_key_rotated(auth):
    new_key = auth.rotate_signing_key(tl.SigningKey.from_secret(b"n" * 32, kid="hs-2"), actor="admin")
    event = auth.events.last()
    assert (event.kind, event.actor) == (tl.EventKind.KEY_ROTATED, "admin")
    assert event.detail == {"kid": "hs-2", "previous_kid": "demo-hs256", "algorithm": "HS256"}
    assert event.token == new_key.fingerprint


# -- the log itself ------------------------------------------------------------------------------------


def test_subscribe_receives_new_events(auth):
    received: list[tl.Event] = []
    stop = auth.events.subscribe(received.append)
    auth.issue("alice", client_id="app", scope="read")
    stop()
    auth.issue("bob", client_id="app", scope="read")
    assert [e.label for e in received] == ["RT1", "AT1"]


def test_of_kind_and_kinds(auth, first):
    auth.verify(first.access_token)
    assert auth.events.kinds() == ["issued", "issued", "verified"]
    assert [e.label for e in auth.events.of_kind("verified", tl.EventKind.ISSUED)] == ["RT1", "AT1", "AT1"]


def test_describe_names_label_and_outcome(auth, first, clock):
    clock.advance(seconds=TTL)
    with pytest.raises(tl.InvalidToken):
        auth.verify(first.access_token, actor="api")
    assert auth.events.last().describe().startswith("api: expired AT1 [rejected] (")


def test_view_with_other_clock_shares_log(auth, first, clock):
    view = auth.with_clock(tl.OffsetClock(clock, 10))
    view.verify(first.access_token)
    event = auth.events.last()
    assert event.kind is tl.EventKind.VERIFIED
    assert event.time == clock.now()
    assert event.detail["server_time"] == clock.now() + timedelta(seconds=10)


# -- no secret in events, reprs, errors or logs ----------------------------------------------------------


SECRET = bytes(range(100, 132))


def _run_scenario(auth: tl.TokenAuthority, clock: tl.SimulatedClock) -> tuple[list[str], list[Exception], list[object]]:
    """Drive every operation, including failures; return the tokens, the errors raised and the pairs."""
    tokens: list[str] = []
    errors: list[Exception] = []
    pairs: list[object] = []

    def attempt(operation) -> None:  # type: ignore[no-untyped-def]
        try:
            operation()
        except tl.TokenlabError as exc:
            errors.append(exc)

    first = auth.issue("alice", client_id="app", scope="read write")
    second = auth.refresh(first.refresh_token, client_id="app")
    other = auth.issue("bob", client_id="app", scope="read")
    pairs += [first, second, other]
    tokens += [p.access_token for p in pairs] + [p.refresh_token for p in pairs]

    attempt(lambda: auth.verify(first.access_token, required_scope="admin"))
    attempt(lambda: auth.refresh(other.refresh_token, client_id="evil"))
    attempt(lambda: auth.refresh(other.refresh_token, client_id="app", scope="admin"))
    attempt(lambda: auth.revoke(other.refresh_token, client_id="evil"))
    attempt(lambda: auth.revoke(other.access_token, client_id="evil"))
    attempt(lambda: auth.refresh(first.refresh_token, client_id="app"))  # reuse
    attempt(lambda: auth.verify(second.access_token))  # revoked family
    auth.introspect(first.access_token)
    auth.introspect(other.access_token)
    auth.introspect(other.refresh_token)
    auth.revoke(other.access_token, client_id="app")
    attempt(lambda: auth.verify(other.access_token))
    header, payload, signature = other.access_token.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    tokens.append(tampered)
    attempt(lambda: auth.verify(tampered))
    attempt(lambda: auth.refresh(other.refresh_token[::-1], client_id="app"))
    clock.advance(seconds=TTL)
    attempt(lambda: auth.verify(other.access_token, stateless=True))
    clock.advance(days=15)
    attempt(lambda: auth.refresh(other.refresh_token, client_id="app"))
    auth.revoke(other.refresh_token, client_id="app")
    return tokens, errors, pairs


def _secrets(tokens: list[str]) -> list[str]:
    """The strings no output may contain: each token, its signature, and a refresh token's first half."""
    found = list(tokens)
    for token in tokens:
        if token.count(".") == 2:
            found.append(token.split(".")[2])
        else:
            found.append(token[: len(token) // 2])
    found += [SECRET.hex(), base64.urlsafe_b64encode(SECRET).rstrip(b"=").decode()]
    return found


@pytest.mark.both_stores
@pytest.mark.parametrize("readable_ids", [True, False])
def test_no_output_contains_token_or_key(authority, clock, caplog, readable_ids):
    auth = authority("RS256", readable_ids=readable_ids)
    key = auth.rotate_signing_key(tl.SigningKey.from_secret(SECRET, kid="hs-test"))
    with caplog.at_level(logging.DEBUG, logger="tokenlab"):
        tokens, errors, pairs = _run_scenario(auth, clock)

    outputs = [repr(key), repr(auth), repr(auth.keys), repr(auth.store), repr(auth.events)]
    outputs += [text for event in auth.events for text in (str(event), repr(event), event.describe())]
    outputs += [text for pair in pairs for text in (str(pair), repr(pair))]
    outputs += [text for error in errors for text in (str(error), repr(error), str(error.www_authenticate))]
    outputs += [record.getMessage() for record in caplog.records]

    assert len(errors) >= 10
    for secret in _secrets(tokens):
        for text in outputs:
            assert secret not in text, f"{secret[:12]}... appears in {text[:100]!r}"


def test_pair_as_response_holds_tokens(first):
    # The token response is the one place the tokens themselves belong.
    response = first.as_response()
    assert response["access_token"] == first.access_token
    assert response["refresh_token"] == first.refresh_token
    assert response["token_type"] == "Bearer"
    assert response["expires_in"] == TTL
