"""Refresh: rotation, reuse detection, the grace window, absolute and idle expiry, scope, client binding."""

from __future__ import annotations

from datetime import timedelta

import pytest

import tokenlab as tl


def _refresh_error(auth: tl.TokenAuthority, token: str, client_id: str = "app", **kwargs) -> tl.TokenlabError:  # type: ignore[no-untyped-def]
    with pytest.raises(tl.TokenlabError) as caught:
        auth.refresh(token, client_id=client_id, **kwargs)
    return caught.value


def _verify_check(auth: tl.TokenAuthority, token: str) -> str | None:
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token)
    return caught.value.check


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("HS256")


@pytest.fixture
def first(auth):  # type: ignore[no-untyped-def]
    return auth.issue("alice", client_id="app", scope="read write")


# -- rotation -------------------------------------------------------------------


@pytest.mark.both_stores
def test_refresh_returns_new_pair(auth, first):
    second = auth.refresh(first.refresh_token, client_id="app")
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert (second.access_label, second.refresh_label) == ("AT2", "RT2")
    assert second.family_id == first.family_id
    assert auth.verify(second.access_token)["jti"] == "at-2"


def test_refresh_keeps_old_access_token_valid(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    assert auth.verify(first.access_token)["jti"] == "at-1"


@pytest.mark.both_stores
def test_rotated_token_is_inactive(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    assert auth.introspect(first.refresh_token) == {"active": False}


@pytest.mark.both_stores
def test_rotation_chain_keeps_working(auth, first, clock):
    token = first.refresh_token
    for _ in range(5):
        clock.advance(minutes=4)
        token = auth.refresh(token, client_id="app").refresh_token
    assert auth.introspect(token)["active"] is True


def test_refresh_token_is_opaque_and_long(first):
    assert first.refresh_token.count(".") == 0
    assert len(first.refresh_token) >= 43


# -- reuse detection ---------------------------------------------------------------


@pytest.mark.both_stores
def test_refresh_rejects_reused_token(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    error = _refresh_error(auth, first.refresh_token)
    assert isinstance(error, tl.InvalidGrant)
    assert error.check == "reuse"
    assert "whole family F1 is now revoked" in error.message


@pytest.mark.both_stores
def test_reuse_revokes_newest_refresh_token(auth, first):
    second = auth.refresh(first.refresh_token, client_id="app")
    _refresh_error(auth, first.refresh_token)
    assert _refresh_error(auth, second.refresh_token).check == "revocation"


@pytest.mark.both_stores
def test_reuse_revokes_every_access_token(auth, first):
    second = auth.refresh(first.refresh_token, client_id="app")
    _refresh_error(auth, first.refresh_token)
    assert _verify_check(auth, first.access_token) == "revocation"
    assert _verify_check(auth, second.access_token) == "revocation"


def test_reuse_leaves_other_families_alone(auth, first):
    other = auth.issue("alice", client_id="app", scope="read")
    auth.refresh(first.refresh_token, client_id="app")
    _refresh_error(auth, first.refresh_token)
    assert auth.verify(other.access_token)["sub"] == "alice"
    assert auth.refresh(other.refresh_token, client_id="app").family_id == other.family_id


def test_reuse_without_detection_keeps_family(authority):
    auth = authority("HS256", detect_reuse=False)
    first = auth.issue("alice", client_id="app", scope="read")
    second = auth.refresh(first.refresh_token, client_id="app")
    assert _refresh_error(auth, first.refresh_token).check == "reuse"
    assert auth.verify(second.access_token)["jti"] == "at-2"
    assert auth.refresh(second.refresh_token, client_id="app").refresh_label == "RT3"


# -- two tabs racing with one refresh token ----------------------------------------


@pytest.mark.both_stores
def test_two_tabs_without_grace_second_is_reuse(auth, first, clock):
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=0.02)
    assert _refresh_error(auth, first.refresh_token).check == "reuse"


@pytest.mark.both_stores
def test_two_tabs_without_grace_revoke_winner(auth, first, clock):
    winner = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=0.02)
    _refresh_error(auth, first.refresh_token)
    assert _refresh_error(auth, winner.refresh_token).check == "revocation"
    assert _verify_check(auth, winner.access_token) == "revocation"
    assert auth.introspect(winner.refresh_token) == {"active": False}


@pytest.mark.both_stores
def test_two_tabs_with_grace_both_get_pair(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    first = auth.issue("alice", client_id="app", scope="read write")
    tab_a = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=0.02)
    tab_b = auth.refresh(first.refresh_token, client_id="app")
    assert auth.verify(tab_a.access_token)["jti"] == "at-2"
    assert auth.verify(tab_b.access_token)["jti"] == "at-3"
    assert tab_b.family_id == tab_a.family_id


@pytest.mark.both_stores
def test_grace_retry_yields_usable_sibling(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    first = auth.issue("alice", client_id="app", scope="read write")
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=0.02)
    sibling = auth.refresh(first.refresh_token, client_id="app")
    assert auth.refresh(sibling.refresh_token, client_id="app").refresh_label == "RT4"


# -- grace window edges ---------------------------------------------------------------


@pytest.mark.both_stores
def test_grace_accepts_retry_just_inside(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    first = auth.issue("alice", client_id="app", scope="read")
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=9.999)
    auth.refresh(first.refresh_token, client_id="app")
    assert auth.events.of_kind("grace_reuse")[-1].label == "RT1"


@pytest.mark.both_stores
def test_grace_rejects_retry_at_window_end(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    first = auth.issue("alice", client_id="app", scope="read")
    second = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=10)
    assert _refresh_error(auth, first.refresh_token).check == "reuse"
    assert _verify_check(auth, second.access_token) == "revocation"
    assert auth.events.of_kind("grace_reuse") == []


@pytest.mark.both_stores
def test_grace_rejects_grandparent(authority, clock):
    # R1 -> R2 -> R3 under the largest grace window: R1 is no longer the newest token's parent.
    auth = authority("HS256", reuse_grace=60)
    r1 = auth.issue("alice", client_id="app", scope="read")
    r2 = auth.refresh(r1.refresh_token, client_id="app")
    clock.advance(seconds=1)
    r3 = auth.refresh(r2.refresh_token, client_id="app")
    clock.advance(seconds=1)
    assert _refresh_error(auth, r1.refresh_token).check == "reuse"
    assert _refresh_error(auth, r3.refresh_token).check == "revocation"


def test_grace_keeps_scope_rules(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    first = auth.issue("alice", client_id="app", scope="read write")
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=1)
    assert isinstance(_refresh_error(auth, first.refresh_token, scope="admin"), tl.InvalidScope)
    assert auth.refresh(first.refresh_token, client_id="app", scope="read").scope == "read"


def test_grace_retry_by_other_client_rejected(authority, clock):
    auth = authority("HS256", reuse_grace=10)
    first = auth.issue("alice", client_id="app", scope="read")
    second = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(seconds=1)
    assert _refresh_error(auth, first.refresh_token, client_id="evil").check == "client"
    assert auth.refresh(second.refresh_token, client_id="app").refresh_label == "RT3"


# -- absolute and idle expiry -------------------------------------------------------------


@pytest.mark.both_stores
def test_idle_expiry_allows_last_second(auth, first, clock):
    clock.advance(days=15, seconds=-1)
    assert auth.refresh(first.refresh_token, client_id="app").refresh_label == "RT2"


@pytest.mark.both_stores
def test_idle_expiry_hits_first_with_defaults(auth, first, clock):
    clock.advance(days=15)
    error = _refresh_error(auth, first.refresh_token)
    assert isinstance(error, tl.InvalidGrant)
    assert error.check == "idle_expiry"


@pytest.mark.both_stores
def test_rotation_resets_idle_expiry(auth, first, clock):
    clock.advance(days=14)
    second = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(days=14)
    assert auth.refresh(second.refresh_token, client_id="app").refresh_label == "RT3"


@pytest.mark.both_stores
def test_rotation_never_extends_absolute_expiry(auth, first, clock):
    clock.advance(days=14)
    token = auth.refresh(first.refresh_token, client_id="app").refresh_token
    clock.advance(days=14)
    token = auth.refresh(token, client_id="app").refresh_token
    clock.advance(days=2, seconds=-1)
    token = auth.refresh(token, client_id="app").refresh_token
    clock.advance(seconds=1)
    assert _refresh_error(auth, token).check == "absolute_expiry"


@pytest.mark.both_stores
def test_introspect_exp_is_earliest_expiry(auth, first, clock):
    day = 86400
    start = int(clock.now().timestamp())
    assert auth.introspect(first.refresh_token)["exp"] == start + 15 * day
    clock.advance(days=14)
    second = auth.refresh(first.refresh_token, client_id="app")
    assert auth.introspect(second.refresh_token)["exp"] == start + (14 + 15) * day
    clock.advance(days=14)
    third = auth.refresh(second.refresh_token, client_id="app")
    assert auth.introspect(third.refresh_token)["exp"] == start + 30 * day


@pytest.mark.both_stores
def test_rotation_off_returns_same_token(authority):
    auth = authority("HS256", rotate_refresh_tokens=False)
    first = auth.issue("alice", client_id="app", scope="read")
    again = auth.refresh(first.refresh_token, client_id="app")
    assert again.refresh_token == first.refresh_token
    assert again.refresh_label == "RT1"
    assert auth.refresh(first.refresh_token, client_id="app").access_label == "AT3"


@pytest.mark.both_stores
def test_rotation_off_use_restarts_idle(authority, clock):
    auth = authority("HS256", rotate_refresh_tokens=False)
    first = auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=10)
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(days=10)  # 20 days after issue, 10 after the last use
    assert auth.refresh(first.refresh_token, client_id="app").refresh_label == "RT1"


@pytest.mark.both_stores
def test_rotation_off_idle_counts_from_last_use(authority, clock):
    auth = authority("HS256", rotate_refresh_tokens=False, refresh_token_ttl=timedelta(days=90))
    first = auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=10)
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(days=15, seconds=-1)
    auth.refresh(first.refresh_token, client_id="app")
    clock.advance(days=15)
    assert _refresh_error(auth, first.refresh_token).check == "idle_expiry"


@pytest.mark.both_stores
def test_rotation_off_keeps_absolute_expiry(authority, clock):
    auth = authority("HS256", rotate_refresh_tokens=False)
    first = auth.issue("alice", client_id="app", scope="read")
    for _ in range(2):
        clock.advance(days=14)
        auth.refresh(first.refresh_token, client_id="app")
    clock.advance(days=2)
    assert _refresh_error(auth, first.refresh_token).check == "absolute_expiry"


def test_absolute_expiry_before_idle_with_short_family(authority, clock):
    auth = authority("HS256", refresh_token_ttl=timedelta(days=1))
    first = auth.issue("alice", client_id="app", scope="read")
    clock.advance(days=1)
    assert _refresh_error(auth, first.refresh_token).check == "absolute_expiry"


def test_expired_refresh_message_gives_time(auth, first, clock):
    clock.advance(days=15)
    with pytest.raises(tl.InvalidGrant, match="expired at 2026-01-20 09:00:00 UTC"):
        auth.refresh(first.refresh_token, client_id="app")


# -- scope --------------------------------------------------------------------------------------


@pytest.mark.both_stores
def test_refresh_narrows_access_token_scope(auth, first):
    narrowed = auth.refresh(first.refresh_token, client_id="app", scope="read")
    assert narrowed.scope == "read"
    assert auth.verify(narrowed.access_token)["scope"] == "read"


@pytest.mark.both_stores
def test_narrowing_keeps_refresh_token_scope(auth, first):
    narrowed = auth.refresh(first.refresh_token, client_id="app", scope="read")
    assert auth.introspect(narrowed.refresh_token)["scope"] == "read write"


def test_narrowed_access_token_lacks_dropped_scope(auth, first):
    narrowed = auth.refresh(first.refresh_token, client_id="app", scope="read")
    with pytest.raises(tl.InsufficientScope):
        auth.verify(narrowed.access_token, required_scope="write")


def test_refresh_after_narrowing_restores_full_scope(auth, first):
    narrowed = auth.refresh(first.refresh_token, client_id="app", scope="read")
    assert auth.refresh(narrowed.refresh_token, client_id="app").scope == "read write"


def test_refresh_with_same_scope_allowed(auth, first):
    assert auth.refresh(first.refresh_token, client_id="app", scope="write read").scope == "write read"


@pytest.mark.parametrize("scope", ["admin", "read admin", "read write admin", "Read"])
def test_refresh_rejects_wider_scope(auth, first, scope):
    error = _refresh_error(auth, first.refresh_token, scope=scope)
    assert isinstance(error, tl.InvalidScope)
    assert error.error == "invalid_scope"


@pytest.mark.both_stores
def test_wider_scope_changes_nothing(auth, first):
    _refresh_error(auth, first.refresh_token, scope="admin")
    assert auth.introspect(first.refresh_token)["active"] is True
    assert auth.verify(first.access_token)["scope"] == "read write"
    assert auth.refresh(first.refresh_token, client_id="app").refresh_label == "RT2"


@pytest.mark.parametrize("scope", ["", "   ", 'read "x"', "read\\write", 5])
def test_refresh_rejects_malformed_scope(auth, first, scope):
    assert isinstance(_refresh_error(auth, first.refresh_token, scope=scope), tl.InvalidScope)


# -- client binding and unknown tokens ------------------------------------------------------------


@pytest.mark.both_stores
def test_refresh_by_other_client_rejected(auth, first):
    error = _refresh_error(auth, first.refresh_token, client_id="other-app")
    assert isinstance(error, tl.InvalidGrant)
    assert error.check == "client"


@pytest.mark.both_stores
def test_refresh_by_other_client_changes_nothing(auth, first):
    _refresh_error(auth, first.refresh_token, client_id="other-app")
    assert auth.verify(first.access_token)["jti"] == "at-1"
    assert auth.refresh(first.refresh_token, client_id="app").refresh_label == "RT2"


def test_rotated_token_by_other_client_revokes_nothing(auth, first):
    second = auth.refresh(first.refresh_token, client_id="app")
    assert _refresh_error(auth, first.refresh_token, client_id="other-app").check == "client"
    assert auth.refresh(second.refresh_token, client_id="app").refresh_label == "RT3"


@pytest.mark.both_stores
def test_refresh_rejects_unknown_token(auth):
    error = _refresh_error(auth, "x" * 43)
    assert isinstance(error, tl.InvalidGrant)
    assert error.check == "unknown"


def test_refresh_rejects_token_of_other_authority(auth, authority):
    other = authority("HS256").issue("alice", client_id="app", scope="read")
    assert _refresh_error(auth, other.refresh_token).check == "unknown"


def test_refresh_rejects_access_token(auth, first):
    assert isinstance(_refresh_error(auth, first.access_token), tl.InvalidGrant)


@pytest.mark.both_stores
def test_refresh_after_logout_rejected(auth, first):
    auth.revoke(first.refresh_token, client_id="app")
    assert _refresh_error(auth, first.refresh_token).check == "revocation"


def test_refresh_error_carries_fingerprint_and_time(auth, first, clock):
    clock.advance(days=15)
    error = _refresh_error(auth, first.refresh_token)
    assert error.token == tl.fingerprint(first.refresh_token)
    assert error.at == clock.now()
    assert error.www_authenticate is None
