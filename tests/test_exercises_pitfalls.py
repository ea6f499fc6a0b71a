"""The self-checks of notebook 05: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

import tokenlab as tl
from tokenlab.exercises import check, hint, list_exercises, pitfalls

from exercise_contract import contract_tests

EXERCISE_IDS = (
    "pitfalls-leeway-behind",
    "pitfalls-scope-after-narrowing",
    "pitfalls-key-removal",
    "pitfalls-halve-refreshes",
)
MALFORMED = (42j, ["read"], {"leeway": 20}, b"20", object(), float("nan"), "")


def reveals(message: str, answer: str) -> bool:
    """Return True if ``message`` contains ``answer`` as a whole word."""
    return re.search(rf"(?<![\w:-]){re.escape(answer)}(?![\w:-])", message, flags=re.IGNORECASE) is not None


def test_exercises_are_registered_for_notebook_05():
    ids = {item.exercise_id for item in list_exercises("05-pitfalls")}
    assert ids == set(EXERCISE_IDS)


test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace = contract_tests(
    EXERCISE_IDS, MALFORMED
)


# -- the smallest leeway for a clock that runs behind -------------------------------------


def test_server_behind_rejects_fresh_token_without_leeway():
    # The server reads 08:59:40 when a token with iat 09:00:00 arrives, so iat lies in its future.
    assert not pitfalls.accepted_with_leeway(0)


def test_smallest_leeway_equals_the_skew():
    # iat may lie at most `leeway` in the future, so the leeway must cover the whole 20 s.
    assert pitfalls.smallest_leeway() == int(pitfalls.BEHIND.total_seconds())


@pytest.mark.parametrize("answer", [20, 20.0, timedelta(seconds=20)], ids=repr)
def test_leeway_accepts_smallest_value(answer):
    assert check("pitfalls-leeway-behind", answer).correct


@pytest.mark.parametrize("answer", [0, 10, 19, 19.5, 21, 30, 60], ids=repr)
def test_leeway_rejects_other_values_without_revealing(answer):
    feedback = check("pitfalls-leeway-behind", answer)
    assert not feedback.correct
    assert not reveals(feedback.message, "20")


def test_leeway_says_larger_value_works():
    assert "a smaller one works too" in check("pitfalls-leeway-behind", 45).message


@pytest.mark.parametrize("answer", [61, 3600], ids=repr)
def test_leeway_rejects_values_above_cap(answer):
    assert "above 60 s" in check("pitfalls-leeway-behind", answer).message


def test_leeway_rejects_negative_value():
    assert "cannot be negative" in check("pitfalls-leeway-behind", -20).message


# -- the scope after a narrowed refresh ---------------------------------------------------


def test_refresh_without_scope_returns_grant_scope():
    # The refresh token keeps the grant's scope (RFC 6749 §6); omitting scope requests all of it.
    assert set(pitfalls.scope_after_two_refreshes().split()) == set(pitfalls.GRANTED_SCOPE.split())


@pytest.mark.parametrize("answer", ["read write", "write read", " 'read write' ", ["write", "read"]], ids=repr)
def test_scope_accepts_grant_scope(answer):
    assert check("pitfalls-scope-after-narrowing", answer).correct


@pytest.mark.parametrize("answer", ["read", "write", "admin", "read write admin"])
def test_scope_rejects_other_scopes_without_revealing(answer):
    feedback = check("pitfalls-scope-after-narrowing", answer)
    assert not feedback.correct
    assert "read write" not in feedback.message


def test_scope_read_names_narrowed_access_token():
    # "read" is the scope of AT2, the access token of the first, narrowed refresh; AT1 had the grant's scope.
    assert "first, narrowed refresh" in check("pitfalls-scope-after-narrowing", "read").message


# -- when the old signing key may go ------------------------------------------------------


def test_key_removal_after_last_expiry():
    # The last token signed with the old key is issued at 09:01:00 and lives 5 minutes; valid while now < exp.
    issued = tl.SimulatedClock().now() + pitfalls.KEY_ROTATED_AFTER
    assert pitfalls.safe_key_removal_time() == issued + tl.TokenPolicy().access_token_ttl


@pytest.mark.parametrize(
    "answer", ["09:06:00", "9:06:00", "09:06:00 UTC", datetime(2026, 1, 5, 9, 6, tzinfo=timezone.utc)], ids=repr
)
def test_key_removal_accepts_expiry_of_last_old_token(answer):
    assert check("pitfalls-key-removal", answer).correct


@pytest.mark.parametrize("answer", ["09:01:00", "09:02:00", "09:05:59", "09:06:01", "09:11:00"])
def test_key_removal_rejects_other_times_without_revealing(answer):
    feedback = check("pitfalls-key-removal", answer)
    assert not feedback.correct
    assert "09:06:00" not in feedback.message


def test_key_removal_rejects_naive_datetime():
    feedback = check("pitfalls-key-removal", datetime(2026, 1, 5, 9, 6))
    assert "no time zone" in feedback.message


def test_key_removal_rejects_other_date():
    feedback = check("pitfalls-key-removal", datetime(2026, 1, 6, 9, 6, tzinfo=timezone.utc))
    assert "date is off" in feedback.message


# -- which lifetime sets the refresh traffic ------------------------------------------------


def test_model_refreshes_once_per_access_token_lifetime():
    # 60 one-minute calls; each 5-minute token expires exactly on a call, so 60 / 5 refreshes, no failure.
    assert pitfalls.refresh_traffic(tl.TokenPolicy()) == (12, 0)


@pytest.mark.parametrize("minutes", [9, 10])
def test_halve_accepts_lifetimes_giving_six_refreshes(minutes):
    # Calls come every minute, so a 9-minute token is refreshed at minutes 9, 18, ..., 54 and a
    # 10-minute one at 10, 20, ..., 60: six refreshes in the hour either way.
    assert check("pitfalls-halve-refreshes", tl.TokenPolicy(access_token_ttl=timedelta(minutes=minutes))).correct


def test_halve_rejects_fewer_than_half():
    # An 11-minute token is refreshed at minutes 11, 22, 33, 44 and 55: five times, fewer than asked.
    feedback = check("pitfalls-halve-refreshes", tl.TokenPolicy(access_token_ttl=timedelta(minutes=11)))
    assert not feedback.correct
    assert "asks for exactly 6" in feedback.message


def test_halve_says_too_many_refreshes_need_longer_lifetime():
    feedback = check("pitfalls-halve-refreshes", tl.TokenPolicy(access_token_ttl=timedelta(minutes=8)))
    assert "live longer" in feedback.message


@pytest.mark.parametrize(
    "changes",
    [
        {"refresh_token_ttl": timedelta(days=60)},
        {"refresh_token_idle_ttl": timedelta(days=30)},
        {"access_token_ttl": timedelta(minutes=7)},
        {"access_token_ttl": timedelta(hours=1)},
    ],
    ids=lambda changes: next(iter(changes)) + "=" + str(next(iter(changes.values()))),
)
def test_halve_rejects_other_lifetimes_without_revealing(changes):
    feedback = check("pitfalls-halve-refreshes", tl.TokenPolicy(**changes))
    assert not feedback.correct
    assert not reveals(feedback.message, "10 min")
    assert "0:10:00" not in feedback.message


def test_halve_says_refresh_lifetimes_do_not_set_traffic():
    feedback = check("pitfalls-halve-refreshes", tl.TokenPolicy(refresh_token_ttl=timedelta(days=60)))
    assert "not how often an active client refreshes" in feedback.message


def test_halve_rejects_default_policy():
    assert "default policy" in check("pitfalls-halve-refreshes", tl.TokenPolicy()).message


def test_halve_rejects_two_changed_fields():
    policy = tl.TokenPolicy(access_token_ttl=timedelta(minutes=10), leeway=5)
    assert "one field only" in check("pitfalls-halve-refreshes", policy).message


def test_halve_rejects_field_that_is_no_lifetime():
    assert "not a lifetime" in check("pitfalls-halve-refreshes", tl.TokenPolicy(leeway=5)).message


def test_halve_rejects_policy_that_logs_user_out():
    policy = tl.TokenPolicy(refresh_token_idle_ttl=timedelta(seconds=30))
    assert "the session ended" in check("pitfalls-halve-refreshes", policy).message
