"""Guards against inputs a new user tried: each gets a typed error that names the fix."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

import tokenlab as tl


@pytest.fixture
def demo() -> tl.TokenAuthority:
    return tl.TokenAuthority.demo()


@pytest.fixture
def pair(demo: tl.TokenAuthority) -> tl.TokenPair:
    return demo.issue("alice", client_id="app", scope="read write")


@pytest.mark.parametrize("value", ["no", "false", 0, 1, None])
def test_verify_rejects_non_bool_stateless(demo, pair, value):
    demo.revoke(pair.refresh_token, client_id="app")
    with pytest.raises(tl.InvalidRequest, match="stateless must be True or False"):
        demo.verify(pair.access_token, stateless=value)


def test_demo_authority_rejects_other_demo_token(demo, pair):
    other = tl.TokenAuthority.demo()
    other.issue("bob", client_id="app", scope="read")
    with pytest.raises(tl.InvalidToken) as caught:
        other.verify(pair.access_token)
    assert caught.value.check == "revocation"
    assert "not in this authority's store" in str(caught.value)
    assert other.introspect(pair.access_token) == {"active": False}


def test_verify_names_bearer_prefix(demo, pair):
    with pytest.raises(tl.InvalidToken, match="Bearer "):
        demo.verify("Bearer " + pair.access_token)


@pytest.mark.parametrize("padding", [" {} ", "{}\n", "\t{}"])
def test_verify_names_surrounding_whitespace(demo, pair, padding):
    with pytest.raises(tl.InvalidToken, match="spaces or line breaks"):
        demo.verify(padding.format(pair.access_token))


def test_verify_rejects_bytes_with_fix(demo, pair):
    with pytest.raises(tl.InvalidToken, match=r"decode\('ascii'\)"):
        demo.verify(pair.access_token.encode())


def test_introspect_bytes_is_inactive(demo, pair):
    assert demo.introspect(pair.access_token.encode()) == {"active": False}


def test_refresh_names_surrounding_whitespace(demo, pair):
    with pytest.raises(tl.InvalidGrant, match="spaces or line breaks"):
        demo.refresh(" " + pair.refresh_token + "\n", client_id="app")
    assert demo.refresh(pair.refresh_token, client_id="app").refresh_label == "RT2"


def test_null_kid_is_a_kid_error(demo, pair):
    header, payload, signature = pair.access_token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=="))
    fields["kid"] = None
    forged_header = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    with pytest.raises(tl.InvalidToken) as caught:
        demo.verify(f"{forged_header}.{payload}.{signature}")
    assert caught.value.check == "kid"


def test_authority_rejects_datetime_as_clock():
    with pytest.raises(tl.ConfigurationError, match="SimulatedClock"):
        tl.TokenAuthority(clock=datetime.now(timezone.utc))


def test_clock_before_1970_rejected():
    auth = tl.TokenAuthority.demo(start="1969-12-31T23:00:00+00:00")
    with pytest.raises(tl.ClockError, match="before 1970"):
        auth.issue("alice", client_id="app", scope="read")


@pytest.mark.parametrize("field", ["issuer", "audience"])
def test_policy_caps_issuer_and_audience_length(field):
    with pytest.raises(tl.ConfigurationError, match="at most 1024 characters"):
        tl.TokenPolicy(**{field: "h" * 1025})


@pytest.mark.parametrize("ttl", [timedelta(seconds=0.5), timedelta(microseconds=1)])
def test_policy_rejects_access_ttl_under_one_second(ttl):
    with pytest.raises(tl.ConfigurationError, match="at least 1 second"):
        tl.TokenPolicy(access_token_ttl=ttl)


@pytest.mark.parametrize("path", ["a\x00b.db", "a" * 5000 + ".db"])
def test_sqlite_store_odd_path_is_store_error(tmp_path, path):
    with pytest.raises(tl.StoreError, match="cannot open a token store"):
        tl.SQLiteStore(tmp_path / path)


def test_offset_clock_overflow_is_clock_error():
    clock = tl.OffsetClock(tl.SimulatedClock(), timedelta(days=3_000_000))  # past the year 9999
    with pytest.raises(tl.ClockError, match="smaller offset"):
        clock.now()


@pytest.mark.parametrize("amount", [float("nan"), float("inf")])
def test_advance_rejects_non_finite_seconds(amount):
    clock = tl.SimulatedClock()
    with pytest.raises(tl.ClockError, match="finite"):
        clock.advance(seconds=amount)
    assert clock.now() == tl.SimulatedClock().now()
