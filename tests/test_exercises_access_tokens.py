"""The self-checks of notebook 01: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import pytest

from tokenlab.exercises import access_tokens, check, hint, list_exercises

from exercise_contract import contract_tests

EXERCISE_IDS = ("access-edited-payload", "access-user-claim", "access-expiry-time", "access-check-order")
MALFORMED = (None, 42, 3.5, ["exp"], {"check": "exp"}, b"exp", "")


def reveals(message: str, answer: str) -> bool:
    """Return True if ``message`` contains ``answer`` as a whole word."""
    return re.search(rf"(?<![\w:-]){re.escape(answer)}(?![\w:-])", message, flags=re.IGNORECASE) is not None


def test_exercises_are_registered_for_notebook_01():
    ids = {item.exercise_id for item in list_exercises("01-access-tokens")}
    assert ids == set(EXERCISE_IDS)


test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace = contract_tests(
    EXERCISE_IDS, MALFORMED
)


# -- edited payload ----------------------------------------------------------------


def test_engine_rejects_edited_payload_at_signature():
    # Changing any byte of the payload invalidates the signature, checked before any claim.
    assert access_tokens.edited_payload_check() == "signature"


@pytest.mark.parametrize("answer", ["signature", " Signature ", "'signature'"])
def test_edited_payload_accepts_signature(answer):
    assert check("access-edited-payload", answer).correct


@pytest.mark.parametrize("answer", ["exp", "typ", "kid", "claims", "iss", "revocation", "scope"])
def test_edited_payload_rejects_other_checks(answer):
    feedback = check("access-edited-payload", answer)
    assert not feedback.correct
    assert not reveals(feedback.message, "signature")


def test_edited_payload_rejects_unknown_check_name():
    feedback = check("access-edited-payload", "expiry")
    assert "not one of the check names" in feedback.message


def test_edited_payload_points_down_to_check_table():
    # Exercise 1 comes before the table of checks in the notebook, so "scroll up" would send learners the wrong way.
    message = check("access-edited-payload", "expiry").message
    assert "further down" in message
    assert "scroll up" not in message.lower()


@pytest.mark.parametrize("exercise_id", ["access-edited-payload", "access-check-order"])
@pytest.mark.parametrize("answer", ["invalid_token", "insufficient_scope"])
def test_error_code_answer_is_told_apart_from_check(exercise_id, answer):
    feedback = check(exercise_id, answer)
    assert not feedback.correct
    assert "error.error" in feedback.message
    assert "error.check" in feedback.message
    assert not reveals(feedback.message, "signature")
    assert not reveals(feedback.message, "aud")


# -- the user claim ------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["sub", "SUB", "subject"])
def test_user_claim_accepts_sub(answer):
    assert check("access-user-claim", answer).correct


@pytest.mark.parametrize("answer", ["client_id", "iss", "aud", "jti", "scope", "iat", "exp", "alice", "kid", "user"])
def test_user_claim_rejects_other_answers(answer):
    feedback = check("access-user-claim", answer)
    assert not feedback.correct
    assert not reveals(feedback.message, "sub")


def test_user_claim_explains_client_id():
    assert "application" in check("access-user-claim", "client_id").message


def test_user_claim_points_from_value_to_name():
    assert "name of the claim" in check("access-user-claim", "alice").message


# -- expiry time -----------------------------------------------------------------------

# The quiz token is issued at 09:12:30 and lives 15 minutes, so exp is 09:27:30, the first rejected second.
EXPIRY = datetime(2026, 1, 5, 9, 27, 30, tzinfo=timezone.utc)


def test_engine_quiz_token_expires_at_exp():
    assert access_tokens.quiz_token_expiry() == EXPIRY


@pytest.mark.parametrize(
    "answer",
    [
        "09:27:30",
        "9:27:30",
        "09:27:30 UTC",
        "2026-01-05T09:27:30+00:00",
        "2026-01-05T09:27:30Z",
        EXPIRY,
        EXPIRY.astimezone(timezone(timedelta(hours=2))),
        time(9, 27, 30),
    ],
    ids=str,
)
def test_expiry_time_accepts_exp(answer):
    assert check("access-expiry-time", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [
        ("09:27:29", "still accepted"),
        ("09:12:30", "issued"),
        ("10:27:30", "UTC"),
        ("09:28:00", "long been rejected"),
        ("09:20:00", "still passes"),
        ("2026-01-06T09:27:30+00:00", "date"),
        ("09:27", "seconds"),
    ],
)
def test_expiry_time_rejects_wrong_times(answer, advice):
    feedback = check("access-expiry-time", answer)
    assert not feedback.correct
    assert advice in feedback.message
    assert not reveals(feedback.message, "09:27:30")


def test_expiry_time_rejects_naive_datetime():
    feedback = check("access-expiry-time", EXPIRY.replace(tzinfo=None))
    assert not feedback.correct
    assert "time zone" in feedback.message


@pytest.mark.parametrize("answer", ["25:00:00", "noon", "09:61:00"])
def test_expiry_time_rejects_non_times(answer):
    feedback = check("access-expiry-time", answer)
    assert not feedback.correct
    assert "HH:MM:SS" in feedback.message


# -- check order -----------------------------------------------------------------------


def test_engine_reports_aud_before_exp():
    # The audience check (step 4) runs before the time checks (step 6).
    assert access_tokens.other_api_check() == "aud"


@pytest.mark.parametrize("answer", ["aud", "AUD", "audience"])
def test_check_order_accepts_aud(answer):
    assert check("access-check-order", answer).correct


@pytest.mark.parametrize("answer", ["exp", "signature", "iss", "typ", "scope", "revocation", "claims"])
def test_check_order_rejects_other_checks(answer):
    feedback = check("access-check-order", answer)
    assert not feedback.correct
    assert not reveals(feedback.message, "aud")


def test_check_order_explains_exp_is_later():
    assert "earlier" in check("access-check-order", "exp").message
