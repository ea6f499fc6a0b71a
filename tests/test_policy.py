"""TokenPolicy: defaults, validation of every field, caps, and replace()."""

from __future__ import annotations

from datetime import timedelta

import pytest

import tokenlab as tl

LIFETIMES = ("access_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl")
CAPPED = ("reuse_grace", "leeway")
FLAGS = ("rotate_refresh_tokens", "detect_reuse", "readable_ids")


def test_policy_defaults():
    policy = tl.TokenPolicy()
    assert policy.access_token_ttl == timedelta(minutes=5)
    assert policy.refresh_token_ttl == timedelta(days=30)
    assert policy.refresh_token_idle_ttl == timedelta(days=15)
    assert policy.rotate_refresh_tokens is True
    assert policy.detect_reuse is True
    assert policy.reuse_grace == timedelta(0)
    assert policy.leeway == timedelta(0)
    assert policy.readable_ids is False


def test_policy_is_frozen():
    policy = tl.TokenPolicy()
    with pytest.raises(AttributeError):
        policy.leeway = timedelta(seconds=5)  # type: ignore[misc]


@pytest.mark.parametrize("name", LIFETIMES + CAPPED)
def test_policy_reads_numbers_as_seconds(name):
    policy = tl.TokenPolicy(**{name: 30})
    assert getattr(policy, name) == timedelta(seconds=30)


def test_policy_reads_float_seconds():
    assert tl.TokenPolicy(access_token_ttl=1.5).access_token_ttl == timedelta(seconds=1.5)


@pytest.mark.parametrize("name", LIFETIMES)
@pytest.mark.parametrize("value", [0, -1, timedelta(0), timedelta(seconds=-5)])
def test_policy_rejects_non_positive_lifetime(name, value):
    with pytest.raises(tl.ConfigurationError, match=f"{name} must be positive"):
        tl.TokenPolicy(**{name: value})


@pytest.mark.parametrize("name", CAPPED)
def test_policy_accepts_cap_exactly(name):
    assert getattr(tl.TokenPolicy(**{name: 60}), name) == timedelta(seconds=60)


@pytest.mark.parametrize("name", CAPPED)
@pytest.mark.parametrize("value", [60.001, 61, timedelta(minutes=2)])
def test_policy_rejects_above_cap(name, value):
    with pytest.raises(tl.ConfigurationError, match=f"{name} is .* above the cap of 60 s"):
        tl.TokenPolicy(**{name: value})


@pytest.mark.parametrize("name", CAPPED)
def test_policy_rejects_negative_window(name):
    with pytest.raises(tl.ConfigurationError, match=f"{name} must not be negative"):
        tl.TokenPolicy(**{name: -1})


@pytest.mark.parametrize("name", LIFETIMES + CAPPED)
@pytest.mark.parametrize("value", ["300", None, True, float("nan"), float("inf"), [5]])
def test_policy_rejects_non_duration(name, value):
    with pytest.raises(tl.ConfigurationError, match=name):
        tl.TokenPolicy(**{name: value})


@pytest.mark.parametrize("name", FLAGS)
@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_policy_rejects_non_bool_flag(name, value):
    with pytest.raises(tl.ConfigurationError, match=f"{name} must be True or False"):
        tl.TokenPolicy(**{name: value})


@pytest.mark.parametrize("name", ("issuer", "audience"))
@pytest.mark.parametrize("value", ["", "   ", None, 5])
def test_policy_rejects_empty_issuer_or_audience(name, value):
    with pytest.raises(tl.ConfigurationError, match=f"{name} must be a non-empty string"):
        tl.TokenPolicy(**{name: value})


def test_policy_rejects_grace_without_rotation():
    with pytest.raises(tl.ConfigurationError, match="reuse_grace only applies"):
        tl.TokenPolicy(rotate_refresh_tokens=False, reuse_grace=10)


def test_policy_allows_no_rotation_without_grace():
    assert tl.TokenPolicy(rotate_refresh_tokens=False).rotate_refresh_tokens is False


def test_policy_error_is_value_error():
    with pytest.raises(ValueError):
        tl.TokenPolicy(leeway=120)


def test_policy_error_code_is_invalid_request():
    with pytest.raises(tl.ConfigurationError) as caught:
        tl.TokenPolicy(leeway=120)
    assert caught.value.error == "invalid_request"


def test_replace_validates_changes():
    with pytest.raises(tl.ConfigurationError, match="above the cap"):
        tl.TokenPolicy().replace(reuse_grace=61)


def test_replace_keeps_other_fields():
    policy = tl.TokenPolicy(readable_ids=True).replace(leeway=5)
    assert policy.readable_ids is True
    assert policy.leeway == timedelta(seconds=5)


def test_replace_rejects_unknown_field():
    with pytest.raises(tl.ConfigurationError, match="unknown policy field.*grace_period"):
        tl.TokenPolicy().replace(grace_period=5)


def test_replace_returns_new_policy():
    policy = tl.TokenPolicy()
    policy.replace(leeway=5)
    assert policy.leeway == timedelta(0)


def test_describe_gives_seconds():
    described = tl.TokenPolicy().describe()
    assert described["access_token_ttl"] == 300
    assert described["refresh_token_idle_ttl"] == 15 * 86400
    assert described["rotate_refresh_tokens"] is True


def test_authority_rejects_non_policy():
    with pytest.raises(tl.ConfigurationError, match="TokenPolicy"):
        tl.TokenAuthority(policy={"leeway": 5}, key=tl.demo_key("HS256"))  # type: ignore[arg-type]


def test_authority_uses_policy_lifetime(authority):
    auth = authority(access_token_ttl=timedelta(minutes=1))
    pair = auth.issue("alice", client_id="app", scope="read")
    claims = auth.verify(pair.access_token)
    assert pair.expires_in == 60
    assert claims["exp"] - claims["iat"] == 60
