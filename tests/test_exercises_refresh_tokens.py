"""The self-checks of notebook 02: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

import tokenlab as tl
from tokenlab.exercises import check, hint, list_exercises, refresh_tokens

from exercise_contract import contract_tests

EXERCISE_IDS = ("refresh-reactive-401s", "refresh-access-ttl", "refresh-first-expiry")
MALFORMED = (None, "many", [5], {"ttl": 600}, b"5", float("nan"), float("inf"), True, -300)


def reveals(message: str, answer: str) -> bool:
    """Return True if ``message`` contains ``answer`` as a whole word."""
    return re.search(rf"(?<![\w:.]){re.escape(answer)}(?![\w:])", message, flags=re.IGNORECASE) is not None


def test_exercises_are_registered_for_notebook_02():
    ids = {item.exercise_id for item in list_exercises("02-refresh-tokens")}
    assert ids == set(EXERCISE_IDS)


test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace = contract_tests(
    EXERCISE_IDS, MALFORMED
)


# -- 401 responses of a reactive client --------------------------------------------


def test_session_retries_after_each_expiry():
    # Tokens issued at 09:00, 09:06, 09:12, ... expire 5 minutes later; the calls at 09:06,
    # 09:12, 09:18, 09:24 and 09:30 each find the token expired, then refresh and retry.
    app = refresh_tokens.reactive_session()
    failed_first = [call.time.strftime("%H:%M") for call in app.calls if call.retried]
    assert failed_first == ["09:06", "09:12", "09:18", "09:24", "09:30"]


def test_session_retries_all_succeed():
    app = refresh_tokens.reactive_session()
    assert all(call.status == 200 for call in app.calls)


def test_session_count_matches_retried_calls():
    app = refresh_tokens.reactive_session()
    assert refresh_tokens.count_401_responses(app) == sum(call.retried for call in app.calls)


@pytest.mark.parametrize("answer", [5, "5", " 5 ", 5.0])
def test_reactive_401s_accepts_count(answer):
    assert check("refresh-reactive-401s", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [(0, "cannot last"), (10, "not every call"), (11, "not every call"), (4, "close"), (6, "close"), (2, "list the calls")],
)
def test_reactive_401s_rejects_wrong_counts(answer, advice):
    feedback = check("refresh-reactive-401s", answer)
    assert not feedback.correct
    assert advice in feedback.message
    assert not reveals(feedback.message, "5")


# -- choosing access_token_ttl ---------------------------------------------------------


@pytest.mark.parametrize(
    "ttl, passes",
    [(timedelta(minutes=15), False), (timedelta(minutes=15, seconds=1), True), (timedelta(minutes=5), False)],
)
def test_stolen_token_deadline_is_exact_second(ttl, passes):
    # A token issued at 09:00:00 with a 15-minute lifetime has exp 09:15:00 and fails from that second.
    assert refresh_tokens.stolen_token_passes_at_deadline(ttl) is passes


@pytest.mark.parametrize(
    "answer",
    [
        timedelta(minutes=10),
        timedelta(minutes=12, seconds=30),
        timedelta(minutes=15),
        600,
        900.0,
        tl.TokenPolicy(access_token_ttl=timedelta(minutes=12)),
    ],
    ids=str,
)
def test_access_ttl_accepts_lifetimes_between_limits(answer):
    assert check("refresh-access-ttl", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [
        (timedelta(minutes=15, seconds=1), "Shorten"),
        (timedelta(hours=1), "Shorten"),
        (tl.TokenPolicy(), "Lengthen"),
        (timedelta(minutes=9, seconds=59), "Lengthen"),
        (599, "Lengthen"),
    ],
    ids=str,
)
def test_access_ttl_rejects_lifetimes_outside_limits(answer, advice):
    feedback = check("refresh-access-ttl", answer)
    assert not feedback.correct
    assert advice in feedback.message


@pytest.mark.parametrize(
    "answer, rate",
    [
        (timedelta(minutes=9), "about 6.67 times"),  # 60 / 9 = 6.666...
        (timedelta(minutes=5), "refreshes 12 times"),
        (timedelta(minutes=9, seconds=59.9), "just over 6 times"),  # 6.0017 rounds to "6", hiding the excess
    ],
    ids=str,
)
def test_access_ttl_rounds_refresh_rate(answer, rate):
    assert rate in check("refresh-access-ttl", answer).message


@pytest.mark.parametrize("answer", [10, 15, 12.5])
def test_access_ttl_reads_bare_numbers_as_seconds(answer):
    feedback = check("refresh-access-ttl", answer)
    assert not feedback.correct
    assert "counts as seconds" in feedback.message


def test_access_ttl_reports_invalid_lifetime():
    feedback = check("refresh-access-ttl", timedelta(0))
    assert "must be positive" in feedback.message


# -- idle or absolute expiry -------------------------------------------------------------


def test_engine_ends_session_at_idle_expiry():
    # Last use on day 13 sets the idle deadline to day 28; the absolute deadline is day 30.
    assert refresh_tokens.first_expiry_check() == "idle_expiry"


@pytest.mark.parametrize("answer", ["idle", "Idle", "idle_expiry", "idle expiry", "refresh_token_idle_ttl"])
def test_first_expiry_accepts_idle(answer):
    assert check("refresh-first-expiry", answer).correct


@pytest.mark.parametrize("answer", ["absolute", "absolute_expiry", "refresh_token_ttl"])
def test_first_expiry_rejects_absolute(answer):
    feedback = check("refresh-first-expiry", answer)
    assert not feedback.correct
    assert not reveals(feedback.message, "idle")


def test_first_expiry_rejects_other_words():
    feedback = check("refresh-first-expiry", "both")
    assert "neither" in feedback.message
