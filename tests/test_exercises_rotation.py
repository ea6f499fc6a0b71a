"""The self-checks of notebook 03: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

import tokenlab as tl
from tokenlab.exercises import check, hint, list_exercises, rotation

from exercise_contract import contract_tests

EXERCISE_IDS = ("rotation-attacker-first", "rotation-active-tokens", "rotation-grace-window")
MALFORMED = (None, -7, b"RT4", {"RT4": True}, [4], float("nan"), float("inf"), True, object())


def reveals(message: str, answer: str) -> bool:
    """Return True if ``message`` contains ``answer`` as a whole word."""
    return re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w])", message, flags=re.IGNORECASE) is not None


def test_exercises_are_registered_for_notebook_03():
    ids = {item.exercise_id for item in list_exercises("03-rotation-and-reuse-detection")}
    assert ids == set(EXERCISE_IDS)


test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace = contract_tests(
    EXERCISE_IDS, MALFORMED
)


# -- who is locked out when the attacker refreshes first -----------------------------


def test_part_two_locks_out_user_and_attacker():
    # The user's refresh presents RT3, which the attacker rotated: reuse revokes family F2,
    # whose tokens are the user's RT3 and AT3 and the attacker's RT4 and AT4.
    assert rotation.locked_out_in_part_two() == {"user", "attacker"}


@pytest.mark.parametrize("answer", ["both", " Both ", "user and attacker", {"user", "attacker"}, ["attacker", "user"]])
def test_attacker_first_accepts_both(answer):
    assert check("rotation-attacker-first", answer).correct


@pytest.mark.parametrize("answer", ["user", "attacker", "nobody", {"user"}, set()])
def test_attacker_first_rejects_wrong_actors(answer):
    feedback = check("rotation-attacker-first", answer)
    assert not feedback.correct
    assert not reveals(feedback.message, "both")


def test_attacker_first_rejects_unknown_word():
    feedback = check("rotation-attacker-first", "the server")
    assert not feedback.correct
    assert "'user', 'attacker', 'both' or 'nobody'" in feedback.message


# -- which refresh tokens are active --------------------------------------------------


def test_two_devices_story_rotates_exchanged_tokens():
    statuses = rotation.two_devices_statuses()
    assert [label for label, status in sorted(statuses.items()) if status == "rotated"] == ["RT1", "RT2", "RT3"]


def test_two_devices_story_revokes_laptop_family_only():
    # The replayed RT3 belongs to the laptop's family F1, whose newest token is RT5.
    statuses = rotation.two_devices_statuses()
    assert statuses["RT5"] == "revoked"
    assert statuses["RT4"] == "active"


@pytest.mark.parametrize("answer", [{"RT4"}, frozenset({"RT4"}), ["RT4"], ("rt4",), "RT4", " RT4, "])
def test_active_tokens_accepts_the_phone_token(answer):
    assert check("rotation-active-tokens", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [
        ({"RT4", "RT5"}, "whole family"),
        ({"RT5"}, "whole family"),
        (set(), "one family"),
        ({"RT2"}, "exchanged"),
        ({"RT1", "RT2", "RT3", "RT4", "RT5"}, "exchanged"),
    ],
    ids=repr,
)
def test_active_tokens_rejects_wrong_sets(answer, advice):
    feedback = check("rotation-active-tokens", answer)
    assert not feedback.correct
    assert advice in feedback.message
    assert not reveals(feedback.message, "RT4")


@pytest.mark.parametrize("answer", [{"RT5"}, {"RT2"}, {"RT3", "RT5"}], ids=repr)
def test_active_tokens_says_active_token_missing(answer):
    # Each of these sets leaves out the phone's active token as well as naming a wrong one.
    assert "one active refresh token is missing" in check("rotation-active-tokens", answer).message


def test_active_tokens_complete_set_mentions_nothing_missing():
    assert "missing" not in check("rotation-active-tokens", {"RT4", "RT5"}).message


def test_active_tokens_names_unknown_labels():
    feedback = check("rotation-active-tokens", {"RT6", "AT1"})
    assert not feedback.correct
    assert "no refresh token AT1, RT6" in feedback.message


def test_active_tokens_rejects_non_string_items():
    feedback = check("rotation-active-tokens", {"RT4", 4})
    assert not feedback.correct
    assert "set of refresh token labels" in feedback.message


# -- a grace window for the two-tabs race ---------------------------------------------


def test_race_revokes_family_without_grace():
    assert not rotation.race_survives(timedelta(0))


def test_race_survives_with_ten_second_grace():
    assert rotation.race_survives(timedelta(seconds=10))


def test_race_needs_grace_beyond_twenty_milliseconds():
    # Tab B arrives exactly 20 ms after the rotation, and the window is open only while now < rotation + grace.
    assert not rotation.race_survives(timedelta(milliseconds=20))


def test_replay_at_window_end_is_reuse():
    assert rotation.delayed_replay_detected(timedelta(seconds=30))


def test_replay_inside_window_passes():
    assert not rotation.delayed_replay_detected(timedelta(seconds=31))


@pytest.mark.parametrize(
    "answer",
    [0.021, 1, 5, 30, timedelta(seconds=10), tl.TokenPolicy(reuse_grace=10)],
    ids=repr,
)
def test_grace_window_accepts_values_between_bounds(answer):
    assert check("rotation-grace-window", answer).correct


@pytest.mark.parametrize(
    "answer, advice",
    [(0, "Open a window"), (0.01, "Widen it"), (0.02, "Widen it"), (30.5, "Narrow the window"), (60, "Narrow the window")],
)
def test_grace_window_rejects_values_outside_bounds(answer, advice):
    feedback = check("rotation-grace-window", answer)
    assert not feedback.correct
    assert advice in feedback.message


def test_grace_window_too_wide_hides_upper_bound():
    feedback = check("rotation-grace-window", 45)
    assert not reveals(feedback.message, "30")


def test_grace_window_too_narrow_hides_lower_bound():
    feedback = check("rotation-grace-window", 0.01)
    assert not reveals(feedback.message, "0.02")
    assert not reveals(feedback.message, "20 ms")


@pytest.mark.parametrize("answer", [61, -1, timedelta(minutes=2)], ids=repr)
def test_grace_window_reports_policy_rejection(answer):
    feedback = check("rotation-grace-window", answer)
    assert not feedback.correct
    assert "TokenPolicy rejects that value" in feedback.message


def test_grace_window_rejects_string_number():
    feedback = check("rotation-grace-window", "5")
    assert not feedback.correct
    assert "number of seconds" in feedback.message
