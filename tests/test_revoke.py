"""Revocation (RFC 7009): refresh tokens end their family, access tokens go on the deny-list."""

from __future__ import annotations

import pytest

import tokenlab as tl

TTL = 300


def _verify_check(auth: tl.TokenAuthority, token: str, **kwargs) -> str | None:  # type: ignore[no-untyped-def]
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token, **kwargs)
    return caught.value.check


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("HS256")


@pytest.fixture
def first(auth):  # type: ignore[no-untyped-def]
    return auth.issue("alice", client_id="app", scope="read write")


# -- revoking a refresh token ------------------------------------------------------


@pytest.mark.both_stores
def test_revoke_refresh_token_returns_true(auth, first):
    assert auth.revoke(first.refresh_token, client_id="app") is True


@pytest.mark.both_stores
def test_revoke_newest_refresh_token_kills_family(auth, first, clock):
    second = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(minutes=1)
    third = auth.refresh(second.refresh_token, client_id="app")
    auth.revoke(third.refresh_token, client_id="app")
    for pair in (first, second, third):
        assert _verify_check(auth, pair.access_token) == "revocation"
        assert auth.introspect(pair.access_token) == {"active": False}
    assert auth.introspect(third.refresh_token) == {"active": False}


@pytest.mark.both_stores
def test_revoke_old_refresh_token_kills_family(auth, first):
    second = auth.refresh(first.refresh_token, client_id="app")
    assert auth.revoke(first.refresh_token, client_id="app") is True
    assert _verify_check(auth, second.access_token) == "revocation"
    with pytest.raises(tl.InvalidGrant):
        auth.refresh(second.refresh_token, client_id="app")


def test_revoke_leaves_other_family(auth, first):
    other = auth.issue("alice", client_id="app", scope="read")
    auth.revoke(first.refresh_token, client_id="app")
    assert auth.verify(other.access_token)["jti"] == "at-2"


# -- logout and the stateless verifier ---------------------------------------------------


@pytest.mark.both_stores
def test_logout_fails_stateful_verify(auth, first):
    auth.revoke(first.refresh_token, client_id="app")
    assert _verify_check(auth, first.access_token) == "revocation"


@pytest.mark.both_stores
def test_logout_passes_stateless_until_exp(auth, first, clock):
    auth.revoke(first.refresh_token, client_id="app")
    clock.advance(seconds=TTL - 1)
    assert auth.verify(first.access_token, stateless=True)["jti"] == "at-1"


def test_logout_stateless_fails_at_exp(auth, first, clock):
    auth.revoke(first.refresh_token, client_id="app")
    clock.advance(seconds=TTL)
    assert _verify_check(auth, first.access_token, stateless=True) == "exp"


# -- revoking an access token ---------------------------------------------------------------


@pytest.mark.both_stores
def test_revoke_access_token_denies_jti(auth, first):
    assert auth.revoke(first.access_token, client_id="app") is True
    assert _verify_check(auth, first.access_token) == "revocation"
    assert auth.introspect(first.access_token) == {"active": False}


@pytest.mark.both_stores
def test_revoke_access_token_keeps_refresh_token(auth, first):
    auth.revoke(first.access_token, client_id="app")
    second = auth.refresh(first.refresh_token, client_id="app")
    assert auth.verify(second.access_token)["jti"] == "at-2"


def test_revoke_access_token_keeps_sibling_access_tokens(auth, first):
    second = auth.refresh(first.refresh_token, client_id="app")
    auth.revoke(first.access_token, client_id="app")
    assert auth.verify(second.access_token)["jti"] == "at-2"


def test_revoked_access_token_passes_stateless(auth, first):
    auth.revoke(first.access_token, client_id="app")
    assert auth.verify(first.access_token, stateless=True)["jti"] == "at-1"


# -- tokens with nothing to revoke (RFC 7009 §2.2) ----------------------------------------------


@pytest.mark.both_stores
@pytest.mark.parametrize("token", ["x" * 43, "", "not.a.jwt", "a" * 10_000])
def test_revoke_unknown_token_is_no_effect(auth, first, token):
    assert auth.revoke(token, client_id="app") is False
    assert auth.verify(first.access_token)["jti"] == "at-1"


def test_revoke_foreign_token_is_no_effect(auth, authority):
    other = authority("HS256").issue("alice", client_id="app", scope="read")
    assert auth.revoke(other.refresh_token, client_id="app") is False
    assert auth.revoke(other.access_token, client_id="app") is False


@pytest.mark.both_stores
def test_revoke_absolutely_expired_refresh_no_effect(auth, first, clock):
    clock.advance(days=14)
    second = auth.refresh(first.refresh_token, client_id="app")
    clock.advance(days=14)
    third = auth.refresh(second.refresh_token, client_id="app")
    clock.advance(days=2)
    assert auth.revoke(third.refresh_token, client_id="app") is False


@pytest.mark.both_stores
def test_revoke_idle_expired_refresh_no_effect(auth, first, clock):
    clock.advance(days=15)
    assert auth.revoke(first.refresh_token, client_id="app") is False


def test_revoke_refresh_just_before_idle_expiry_works(auth, first, clock):
    clock.advance(days=15, seconds=-1)
    assert auth.revoke(first.refresh_token, client_id="app") is True


def test_revoke_expired_access_token_is_no_effect(auth, first, clock):
    clock.advance(seconds=TTL)
    assert auth.revoke(first.access_token, client_id="app") is False


@pytest.mark.both_stores
def test_revoke_refresh_twice_is_no_effect(auth, first):
    auth.revoke(first.refresh_token, client_id="app")
    assert auth.revoke(first.refresh_token, client_id="app") is False


def test_revoke_access_twice_is_no_effect(auth, first):
    auth.revoke(first.access_token, client_id="app")
    assert auth.revoke(first.access_token, client_id="app") is False


def test_revoke_access_in_revoked_family_no_effect(auth, first):
    auth.revoke(first.refresh_token, client_id="app")
    assert auth.revoke(first.access_token, client_id="app") is False


def test_revoke_after_reuse_is_no_effect(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    with pytest.raises(tl.InvalidGrant):
        auth.refresh(first.refresh_token, client_id="app")
    assert auth.revoke(first.refresh_token, client_id="app") is False


# -- token_type_hint ------------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "id_token", "", "REFRESH_TOKEN"])
def test_hint_never_stops_refresh_revocation(auth, first, hint):
    assert auth.revoke(first.refresh_token, client_id="app", token_type_hint=hint) is True
    assert _verify_check(auth, first.access_token) == "revocation"


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "bogus"])
def test_hint_never_stops_access_revocation(auth, first, hint):
    assert auth.revoke(first.access_token, client_id="app", token_type_hint=hint) is True
    assert _verify_check(auth, first.access_token) == "revocation"


# -- another client's token ----------------------------------------------------------------------


@pytest.mark.both_stores
def test_revoke_other_clients_refresh_token_raises(auth, first):
    with pytest.raises(tl.UnauthorizedClient) as caught:
        auth.revoke(first.refresh_token, client_id="other-app")
    assert caught.value.error == "unauthorized_client"


@pytest.mark.both_stores
def test_revoke_other_clients_refresh_token_revokes_nothing(auth, first):
    with pytest.raises(tl.UnauthorizedClient):
        auth.revoke(first.refresh_token, client_id="other-app")
    assert auth.verify(first.access_token)["jti"] == "at-1"
    assert auth.refresh(first.refresh_token, client_id="app").refresh_label == "RT2"


def test_revoke_other_clients_access_token_revokes_nothing(auth, first):
    with pytest.raises(tl.UnauthorizedClient):
        auth.revoke(first.access_token, client_id="other-app", token_type_hint="access_token")
    assert auth.verify(first.access_token)["jti"] == "at-1"


def test_unauthorized_client_error_facts(auth, first, clock):
    with pytest.raises(tl.UnauthorizedClient) as caught:
        auth.revoke(first.refresh_token, client_id="other-app")
    assert caught.value.token == tl.fingerprint(first.refresh_token)
    assert caught.value.at == clock.now()


# -- bad arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, 5, b"token", ["token"]])
def test_revoke_rejects_non_string_token(auth, token):
    with pytest.raises(tl.InvalidRequest):
        auth.revoke(token, client_id="app")  # type: ignore[arg-type]


@pytest.mark.parametrize("client_id", ["", "  ", None, "a\nb", "c" * 300])
def test_revoke_rejects_bad_client_id(auth, first, client_id):
    with pytest.raises(tl.InvalidRequest):
        auth.revoke(first.refresh_token, client_id=client_id)  # type: ignore[arg-type]
