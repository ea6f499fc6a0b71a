"""The self-checks of notebook 04: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tokenlab.exercises import check, hint, list_exercises, revocation

from exercise_contract import contract_tests

EXERCISE_IDS = ("revocation-stateless-minutes", "revocation-verifier-choices", "revocation-introspect-revoked")
MALFORMED = (None, "soon", [4], b"4", float("nan"), float("inf"), True, object(), 3 + 4j)


def reveals(message: str, answer: str) -> bool:
    """Return True if ``message`` contains ``answer`` as a whole word."""
    return re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w])", message, flags=re.IGNORECASE) is not None


def test_exercises_are_registered_for_notebook_04():
    ids = {item.exercise_id for item in list_exercises("04-revocation-and-logout")}
    assert ids == set(EXERCISE_IDS)


test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace = contract_tests(
    EXERCISE_IDS, MALFORMED
)


# -- how long a stateless API accepts the token after logout -------------------------


def test_stateless_api_accepts_copy_until_its_exp():
    # AT2 is issued at 09:01 with the default 5-minute lifetime, so its exp is 09:06,
    # four minutes after the logout at 09:02.
    assert revocation.stateless_acceptance_after_logout() == timedelta(minutes=4)


@pytest.mark.parametrize("answer", [4, 4.0, "4", " 4 ", timedelta(minutes=4)], ids=repr)
def test_stateless_minutes_accepts_four(answer):
    assert check("revocation-stateless-minutes", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [(0, "Does a stateless API ever hear"), (3, "work out the exp"), (5, "work out the exp"), (240, "seconds")],
)
def test_stateless_minutes_rejects_wrong_counts(answer, advice):
    feedback = check("revocation-stateless-minutes", answer)
    assert not feedback.correct
    assert advice in feedback.message
    assert not reveals(feedback.message, "4")


# -- which verifiers reject the token right after logout -------------------------------


def test_only_stateful_verifiers_see_logout():
    assert revocation.verifiers_rejecting_after_logout() == {"deny-list", "introspection"}


@pytest.mark.parametrize(
    "answer",
    [{"deny-list", "introspection"}, ["introspection", "stateful"], ("Deny list", "introspect"), frozenset({"denylist", "introspection"})],
    ids=repr,
)
def test_verifier_choices_accepts_stateful_pair(answer):
    assert check("revocation-verifier-choices", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [
        ({"stateless"}, "signature and exp only"),
        ({"stateless", "deny-list", "introspection"}, "signature and exp only"),
        ({"deny-list"}, "you left out"),
        ("introspection", "you left out"),
        (set(), "you left out"),
    ],
    ids=repr,
)
def test_verifier_choices_rejects_wrong_sets(answer, advice):
    feedback = check("revocation-verifier-choices", answer)
    assert not feedback.correct
    assert advice in feedback.message
    assert not reveals(feedback.message, "deny-list")
    assert not reveals(feedback.message, "introspection")


def test_verifier_choices_lists_names_for_unknown_one():
    feedback = check("revocation-verifier-choices", {"firewall"})
    assert not feedback.correct
    assert "'stateless', 'deny-list', 'introspection'" in feedback.message


# -- what introspection returns for a revoked token ---------------------------------


def test_revoked_token_introspects_as_inactive_only():
    assert dict(revocation.introspection_of_revoked_token()) == {"active": False}


def test_introspect_revoked_accepts_minimal_response():
    assert check("revocation-introspect-revoked", {"active": False}).correct


@pytest.mark.parametrize(
    "answer, advice",
    [
        ({"active": True}, "was revoked"),
        ({"active": False, "reason": "revoked"}, "more fields"),
        ({"active": False, "token_type": "access_token"}, "more fields"),
        ({}, "one field"),
        ({"active": "false"}, "a boolean"),
    ],
    ids=repr,
)
def test_introspect_revoked_rejects_wrong_responses(answer, advice):
    feedback = check("revocation-introspect-revoked", answer)
    assert not feedback.correct
    assert advice in feedback.message
    assert "{'active': False}" not in feedback.message


@pytest.mark.parametrize("answer", [False, "inactive", [("active", False)]], ids=repr)
def test_introspect_revoked_asks_for_dict(answer):
    feedback = check("revocation-introspect-revoked", answer)
    assert not feedback.correct
    assert "as a dict" in feedback.message
