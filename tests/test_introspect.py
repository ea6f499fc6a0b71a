"""Introspection (RFC 7662): the fields of an active token, and exactly {"active": False} otherwise."""

from __future__ import annotations

import pytest

import tokenlab as tl

INACTIVE = {"active": False}
TTL = 300


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("RS256")


@pytest.fixture
def first(auth):  # type: ignore[no-untyped-def]
    return auth.issue("alice", client_id="app", scope="read write")


# -- active tokens -------------------------------------------------------------------


def test_active_access_token_fields(auth, first, clock):
    now = int(clock.now().timestamp())
    assert auth.introspect(first.access_token) == {
        "active": True,
        "token_type": "access_token",
        "scope": "read write",
        "client_id": "app",
        "sub": "alice",
        "aud": auth.policy.audience,
        "iss": auth.policy.issuer,
        "exp": now + TTL,
        "iat": now,
        "jti": "at-1",
    }


@pytest.mark.both_stores
def test_active_refresh_token_fields(auth, first, clock):
    now = int(clock.now().timestamp())
    assert auth.introspect(first.refresh_token) == {
        "active": True,
        "token_type": "refresh_token",
        "scope": "read write",
        "client_id": "app",
        "sub": "alice",
        "iss": auth.policy.issuer,
        "exp": now + 15 * 86400,
        "iat": now,
    }


def test_access_token_active_one_second_before_exp(auth, first, clock):
    clock.advance(seconds=TTL - 1)
    assert auth.introspect(first.access_token)["active"] is True


def test_access_token_inactive_at_exp(auth, first, clock):
    clock.advance(seconds=TTL)
    assert auth.introspect(first.access_token) == INACTIVE


def test_access_token_active_within_leeway(authority, clock):
    auth = authority(leeway=10)
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(seconds=TTL + 9)
    assert auth.introspect(pair.access_token)["active"] is True


def test_access_token_stays_active_after_rotation(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    assert auth.introspect(first.access_token)["active"] is True


def test_refresh_token_active_just_before_idle_expiry(auth, first, clock):
    clock.advance(days=15, seconds=-1)
    assert auth.introspect(first.refresh_token)["active"] is True


# -- inactive tokens: exactly {"active": False} ----------------------------------------


@pytest.mark.both_stores
def test_unknown_refresh_token_inactive(auth):
    assert auth.introspect("x" * 43) == INACTIVE


def test_token_of_other_authority_inactive(auth, authority):
    other = authority("RS256").issue("alice", client_id="app", scope="read")
    assert auth.introspect(other.access_token) == INACTIVE
    assert auth.introspect(other.refresh_token) == INACTIVE


@pytest.mark.both_stores
def test_idle_expired_refresh_token_inactive(auth, first, clock):
    clock.advance(days=15)
    assert auth.introspect(first.refresh_token) == INACTIVE


@pytest.mark.both_stores
def test_rotated_refresh_token_inactive(auth, first):
    auth.refresh(first.refresh_token, client_id="app")
    assert auth.introspect(first.refresh_token) == INACTIVE


@pytest.mark.both_stores
def test_revoked_access_token_inactive(auth, first):
    auth.revoke(first.access_token, client_id="app")
    assert auth.introspect(first.access_token) == INACTIVE


@pytest.mark.both_stores
def test_revoked_family_inactive(auth, first):
    auth.revoke(first.refresh_token, client_id="app")
    assert auth.introspect(first.access_token) == INACTIVE
    assert auth.introspect(first.refresh_token) == INACTIVE


def test_wrong_signature_inactive(auth, first):
    other = auth.issue("bob", client_id="app", scope="read")
    header, payload, _ = first.access_token.split(".")
    assert auth.introspect(f"{header}.{payload}.{other.access_token.split('.')[2]}") == INACTIVE


def test_crafted_token_with_unknown_jti_inactive(auth, access_claims):
    assert auth.introspect(auth.keys.current.sign(access_claims(auth))) == INACTIVE


def test_unsigned_token_inactive(auth, access_claims, forge):
    token = forge({"alg": "none", "typ": "at+jwt"}, access_claims(auth, jti="at-1"), unsigned=True)
    assert auth.introspect(token) == INACTIVE


def test_id_token_typ_inactive(auth, access_claims):
    assert auth.introspect(auth.keys.current.sign(access_claims(auth, jti="at-1"), typ="JWT")) == INACTIVE


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "a.b.c",
        "..",
        "not base64!.x.y",
        "e30.e30.",
        "x" * 1_000_000,
        "é" * 43,
        "\x00" * 43,
        None,
        5,
        3.5,
        True,
        b"bytes",
        ["a.b.c"],
        {"token": "a.b.c"},
        object(),
    ],
    ids=lambda value: f"{type(value).__name__}:{str(value)[:12]!r}",
)
def test_malformed_input_inactive(auth, first, token):
    assert auth.introspect(token) == INACTIVE


def test_valid_token_as_bytes_inactive(auth, first):
    assert auth.introspect(first.access_token.encode("ascii")) == INACTIVE


def test_response_is_fresh_dict(auth):
    response = auth.introspect("x" * 43)
    response["active"] = True
    assert auth.introspect("x" * 43) == INACTIVE
