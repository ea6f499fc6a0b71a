"""SimulatedClock, OffsetClock and the authority's guard against a clock that goes backwards."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import tokenlab as tl

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def test_simulated_clock_default_start():
    assert tl.SimulatedClock().now() == START


def test_simulated_clock_stands_still(clock):
    first = clock.now()
    assert clock.now() == first


def test_simulated_clock_now_is_aware_utc(clock):
    assert clock.now().utcoffset() == timedelta(0)


def test_simulated_clock_parses_z_suffix():
    assert tl.SimulatedClock("2026-01-05T09:00:00Z").now() == START


def test_simulated_clock_converts_offset_to_utc():
    clock = tl.SimulatedClock("2026-01-05T10:00:00+01:00")
    assert clock.now() == START
    assert clock.now().tzinfo == timezone.utc


def test_simulated_clock_rejects_naive_datetime():
    with pytest.raises(tl.ClockError, match="pass an aware one"):
        tl.SimulatedClock(datetime(2026, 1, 5, 9, 0))


def test_simulated_clock_rejects_naive_iso_string():
    with pytest.raises(tl.ClockError, match="aware"):
        tl.SimulatedClock("2026-01-05T09:00:00")


def test_simulated_clock_rejects_unparsable_string():
    with pytest.raises(tl.ClockError, match="ISO-8601"):
        tl.SimulatedClock("next tuesday")


def test_simulated_clock_rejects_non_datetime():
    with pytest.raises(tl.ClockError):
        tl.SimulatedClock(1767603600)  # type: ignore[arg-type]


def test_set_rejects_naive_datetime(clock):
    with pytest.raises(tl.ClockError, match="aware"):
        clock.set(datetime(2026, 2, 1))


def test_clock_error_is_configuration_and_value_error():
    assert issubclass(tl.ClockError, tl.ConfigurationError)
    assert issubclass(tl.ClockError, ValueError)


def test_advance_adds_all_units(clock):
    clock.advance(timedelta(seconds=1), seconds=2, minutes=3, hours=4, days=5)
    assert clock.now() == START + timedelta(days=5, hours=4, minutes=3, seconds=3)


def test_advance_number_means_seconds(clock):
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)


def test_advance_keeps_fractions(clock):
    clock.advance(seconds=0.02)
    assert clock.now() == START + timedelta(milliseconds=20)


def test_advance_returns_new_time(clock):
    assert clock.advance(minutes=1) == START + timedelta(minutes=1)


def test_advance_by_zero_is_allowed(clock):
    clock.advance(0)
    assert clock.now() == START


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": -1},
        {"delta": timedelta(seconds=-1)},
        {"seconds": -0.001},
        {"days": -1},
        {"delta": 10, "seconds": -11},
    ],
)
def test_advance_backwards_raises(clock, kwargs):
    with pytest.raises(tl.ClockError, match="backwards"):
        clock.advance(**kwargs)


def test_advance_backwards_leaves_time_unchanged(clock):
    with pytest.raises(tl.ClockError):
        clock.advance(-5)
    assert clock.now() == START


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": True},
        {"delta": "5"},
        {"delta": float("nan")},
        {"delta": float("inf")},
        {"seconds": None},
        {"minutes": "1"},
    ],
)
def test_advance_rejects_non_numbers(clock, kwargs):
    with pytest.raises(tl.ClockError):
        clock.advance(**kwargs)


def test_advance_past_year_9999_raises(clock):
    with pytest.raises(tl.ClockError):
        clock.advance(days=3_000_000)


def test_set_moves_forward(clock):
    clock.set("2026-01-06T09:00:00+00:00")
    assert clock.now() == START + timedelta(days=1)


def test_set_to_same_time_is_allowed(clock):
    clock.set(START)
    assert clock.now() == START


def test_set_backwards_raises(clock):
    clock.advance(hours=1)
    with pytest.raises(tl.ClockError, match="only moves forward"):
        clock.set(START)


def test_offset_clock_follows_base(clock):
    skewed = tl.OffsetClock(clock, 30)
    clock.advance(10)
    assert skewed.now() == START + timedelta(seconds=40)


def test_offset_clock_allows_negative_offset(clock):
    assert tl.OffsetClock(clock, timedelta(seconds=-30)).now() == START - timedelta(seconds=30)


def test_offset_clock_rejects_non_clock():
    with pytest.raises(tl.ClockError):
        tl.OffsetClock(object(), 5)  # type: ignore[arg-type]


def test_system_clock_is_aware_whole_seconds():
    now = tl.SystemClock().now()
    assert now.utcoffset() == timedelta(0)
    assert now.microsecond == 0


class ScriptedClock:
    """A clock that returns the given times one after another."""

    def __init__(self, *times: datetime) -> None:
        self._times = list(times)

    def now(self) -> datetime:
        return self._times.pop(0)


def test_authority_raises_when_clock_goes_backwards(policy):
    clock = ScriptedClock(START, START - timedelta(seconds=1))
    auth = tl.TokenAuthority(policy=policy, clock=clock, key=tl.demo_key("HS256"))
    auth.issue("alice", client_id="app", scope="read")
    with pytest.raises(tl.ClockError, match="went backwards"):
        auth.issue("alice", client_id="app", scope="read")


def test_authority_backwards_clock_breaks_verify(policy):
    clock = ScriptedClock(START, START - timedelta(minutes=10))
    auth = tl.TokenAuthority(policy=policy, clock=clock, key=tl.demo_key("HS256"))
    pair = auth.issue("alice", client_id="app", scope="read")
    with pytest.raises(tl.ClockError):
        auth.verify(pair.access_token)


def test_authority_rejects_naive_clock_time(policy):
    clock = ScriptedClock(datetime(2026, 1, 5, 9, 0))
    auth = tl.TokenAuthority(policy=policy, clock=clock, key=tl.demo_key("HS256"))
    with pytest.raises(tl.ClockError, match="pass an aware one"):
        auth.issue("alice", client_id="app", scope="read")


def test_authority_rejects_object_without_now(policy):
    with pytest.raises(tl.ConfigurationError, match="now"):
        tl.TokenAuthority(policy=policy, clock=object(), key=tl.demo_key("HS256"))  # type: ignore[arg-type]


def test_authority_reads_only_injected_clock(authority, clock):
    auth = authority()
    pair = auth.issue("alice", client_id="app", scope="read")
    assert auth.verify(pair.access_token)["iat"] == int(START.timestamp())


def test_with_clock_view_uses_own_clock(authority, clock):
    auth = authority()
    pair = auth.issue("alice", client_id="app", scope="read")
    ahead = auth.with_clock(tl.OffsetClock(clock, timedelta(minutes=5)))
    with pytest.raises(tl.InvalidToken) as caught:
        ahead.verify(pair.access_token)
    assert caught.value.check == "exp"


def test_with_clock_view_leaves_original_clock(authority, clock):
    auth = authority()
    pair = auth.issue("alice", client_id="app", scope="read")
    auth.with_clock(tl.OffsetClock(clock, timedelta(minutes=5)))
    assert auth.verify(pair.access_token)["sub"] == "alice"
