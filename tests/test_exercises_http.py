"""The self-checks of notebook 08: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import pytest

pytest.importorskip("flask", reason="the http extra is not installed")

from tokenlab.exercises import check, hint, list_exercises  # noqa: E402
from tokenlab.exercises import http as http_exercises  # noqa: E402

EXERCISE_IDS = ("http-refresh-request", "http-when-to-refresh", "http-logout-request")
MALFORMED = (None, "soon", [4], b"4", 3.5, True, object(), {"grant_type": None}, {1: "x"})

REFRESH_FORM = {"grant_type": "refresh_token", "refresh_token": "<refresh token>", "client_id": "app"}
LOGOUT_FORM = {"token": "<refresh token>", "token_type_hint": "refresh_token", "client_id": "app"}


def answer_id(answer: object) -> str:
    """Name a test case the same way in every process: sets sorted, a bare object() without its address."""
    if isinstance(answer, (set, frozenset)):
        return "set" + repr(sorted(answer))
    if type(answer) is object:
        return "object()"
    return repr(answer)


def test_exercises_are_registered_for_notebook_08():
    assert {item.exercise_id for item in list_exercises("08-over-the-wire")} == set(EXERCISE_IDS)


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_exercise_has_hints(exercise_id):
    assert "Hint 1 of" in hint(exercise_id, 1)


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
@pytest.mark.parametrize("answer", MALFORMED, ids=answer_id)
def test_malformed_answer_gives_not_yet(exercise_id, answer):
    feedback = check(exercise_id, answer)
    assert not feedback.correct
    assert str(feedback).startswith(f"[{exercise_id}] Not yet: ")


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_none_says_what_to_replace(exercise_id):
    assert "replace None" in check(exercise_id, None).message


# -- the refresh request ------------------------------------------------------------


def test_refresh_request_passes():
    assert check("http-refresh-request", REFRESH_FORM).correct


def test_refresh_request_may_narrow_scope():
    assert check("http-refresh-request", {**REFRESH_FORM, "scope": "profile"}).correct


@pytest.mark.parametrize("change", [
    {"grant_type": "refresh"},
    {"grant_type": "password"},
    {"client_id": "web"},
    {"scope": "profile notes:write"},
], ids=answer_id)
def test_refresh_request_wrong_field_fails(change):
    feedback = check("http-refresh-request", {**REFRESH_FORM, **change})
    assert not feedback.correct
    assert "refresh_token" not in feedback.message


@pytest.mark.parametrize("missing", ["grant_type", "client_id"])
def test_refresh_request_missing_field_fails(missing):
    form = {name: value for name, value in REFRESH_FORM.items() if name != missing}
    feedback = check("http-refresh-request", form)
    assert not feedback.correct
    assert missing not in feedback.message


def test_refresh_request_without_placeholder_asks_for_it():
    feedback = check("http-refresh-request", {**REFRESH_FORM, "refresh_token": "RT1"})
    assert "<refresh token>" in feedback.message


def test_refresh_request_login_instead_is_rejected():
    form = {"grant_type": "password", "username": "alice", "password": "alice-demo-password",
            "client_id": "app", "note": "<refresh token>"}
    feedback = check("http-refresh-request", form)
    assert not feedback.correct
    assert "login" in feedback.message


# -- when to refresh -------------------------------------------------------------------


def test_candidate_responses_come_from_the_server():
    statuses = [status for _, status, _ in http_exercises.candidate_responses()]
    assert statuses == [403, 401, 401, 400, 401]


def test_only_invalid_token_responses_call_for_refresh():
    # B (expired) and E (revoked access token) carry error="invalid_token"; A is 403, C has no
    # error because no token was sent, and D objects to where the token was put.
    assert http_exercises.letters_to_refresh() == frozenset({"B", "E"})


@pytest.mark.parametrize("answer", [{"B", "E"}, ["e", "b"], "B, E", ("B", "E")], ids=answer_id)
def test_when_to_refresh_passes(answer):
    assert check("http-when-to-refresh", answer).correct


@pytest.mark.parametrize("answer", [set(), {"B"}, {"A", "B", "E"}, {"B", "C", "E"}, {"B", "D", "E"}, {"C"}], ids=answer_id)
def test_when_to_refresh_wrong_sets_fail(answer):
    feedback = check("http-when-to-refresh", answer)
    assert not feedback.correct
    assert "{'B', 'E'}" not in feedback.message
    assert "B and E" not in feedback.message


def test_candidate_text_lists_five_letters():
    text = http_exercises.candidate_responses_text()
    assert [line[0] for line in text.splitlines() if not line.startswith(" ")] == list("ABCDE")


# -- the logout request ----------------------------------------------------------------


def test_logout_request_passes():
    assert check("http-logout-request", LOGOUT_FORM).correct


def test_logout_request_without_hint_passes():
    assert check("http-logout-request", {"token": "<refresh token>", "client_id": "app"}).correct


def test_logout_revoking_access_token_only_fails():
    feedback = check("http-logout-request", {"token": "<access token>", "client_id": "app"})
    assert not feedback.correct
    assert "session goes on" in feedback.message


def test_logout_with_unknown_token_explains_200():
    feedback = check("http-logout-request", {"token": "RT1", "client_id": "app"})
    assert not feedback.correct
    assert "200 alone proves nothing" in feedback.message


@pytest.mark.parametrize("form", [
    {"token": "<refresh token>"},
    {"client_id": "app"},
    {"token": "<refresh token>", "client_id": "web"},
], ids=answer_id)
def test_logout_request_rejected_by_server_fails(form):
    feedback = check("http-logout-request", form)
    assert not feedback.correct
    assert "refresh token" not in feedback.message
