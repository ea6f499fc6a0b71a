"""The self-checks of notebook 07: right answers pass, wrong ones guide without revealing, bad input gives "Not yet"."""

from __future__ import annotations

import re

import pytest

import tokenlab as tl
from tokenlab import naive
from tokenlab.exercises import attacks, check, hint, list_exercises

from exercise_contract import contract_tests

EXERCISE_IDS = (
    "attack-unverified",
    "attack-alg-none",
    "attack-weak-key",
    "attack-jwk",
    "attack-jku",
    "attack-kid-path",
    "attack-alg-confusion",
    "attack-audience",
    "attack-issuer-prefix",
)
MALFORMED = (None, 42, 3.5, ["kid"], {"check": "kid"}, b"kid", "", print)
AUDIENCE = tl.TokenPolicy().audience


def reveals(message: str, answer: str) -> bool:
    """Return True if ``message`` contains ``answer`` as a whole word."""
    return re.search(rf"(?<![\w:/.-]){re.escape(answer)}(?![\w:/.-])", message, flags=re.IGNORECASE) is not None


def assert_not_yet_without(exercise_id: str, answer, right_answer: str) -> None:  # type: ignore[no-untyped-def]
    feedback = check(exercise_id, answer)
    assert not feedback.correct
    assert not reveals(feedback.message, right_answer)


@pytest.fixture(scope="module")
def mallory_token() -> str:
    return tl.TokenAuthority.demo().issue("mallory", client_id="app", scope="read").access_token


def test_exercises_are_registered_for_notebook_07():
    ids = {item.exercise_id for item in list_exercises("07-attack-lab")}
    assert ids == set(EXERCISE_IDS)


test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace = contract_tests(
    EXERCISE_IDS, MALFORMED
)


# -- 1. decode-only ---------------------------------------------------------------------


def edit(token: str, **changes) -> str:  # type: ignore[no-untyped-def]
    return naive.replace_claims(token, dict(naive.read_token(token)[1], **changes))


def test_unverified_accepts_alice_admin_for_a_day(mallory_token):
    claims = naive.read_token(mallory_token)[1]
    answer = edit(mallory_token, sub="alice", scope="read admin", exp=claims["iat"] + 24 * 3600)
    assert check("attack-unverified", answer).correct


@pytest.mark.parametrize(
    "changes",
    [{}, {"sub": "alice"}, {"sub": "alice", "scope": "read admin"}, {"scope": "admin", "exp": 1767690000}],
    ids=repr,
)
def test_unverified_rejects_incomplete_edits(mallory_token, changes):
    assert not check("attack-unverified", edit(mallory_token, **changes)).correct


def test_unverified_rejects_scope_as_substring(mallory_token):
    claims = naive.read_token(mallory_token)[1]
    answer = edit(mallory_token, sub="alice", scope="read administrator", exp=claims["iat"] + 24 * 3600)
    assert not check("attack-unverified", answer).correct


# -- 2. alg none --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["None", "NONE", "nOnE", "nONE"])
def test_alg_none_accepts_other_casings(spelling):
    assert check("attack-alg-none", spelling).correct


@pytest.mark.parametrize("spelling", ["none", "HS256", "RS256", "no"])
def test_alg_none_rejects_values_the_patch_or_the_api_stops(spelling):
    assert_not_yet_without("attack-alg-none", spelling, "None")


def test_alg_none_rejects_none_with_a_space():
    # The naive API compares the whole lowercased value, so " none" needs a signature.
    assert not check("attack-alg-none", " none").correct


# -- 3. weak key ----------------------------------------------------------------------------


def test_quiz_secret_is_another_listed_word():
    words = naive.load_wordlist()
    assert attacks.QUIZ_HMAC_SECRET in words
    assert attacks.QUIZ_HMAC_SECRET != naive.WEAK_HMAC_SECRET


def test_weak_key_accepts_cracked_secret():
    found = naive.crack_hmac_secret(attacks.weak_key_quiz_token(), naive.load_wordlist())
    assert check("attack-weak-key", found.secret).correct


@pytest.mark.parametrize("answer", [naive.WEAK_HMAC_SECRET, "secret", "password", attacks.QUIZ_HMAC_SECRET.upper()])
def test_weak_key_rejects_other_words(answer):
    assert_not_yet_without("attack-weak-key", answer, attacks.QUIZ_HMAC_SECRET)


# -- 4. jwk ------------------------------------------------------------------------------------


def test_engine_rejects_jwk_with_own_kid_at_kid():
    # The kid is looked up among the authority's keys before any signature is checked.
    assert attacks.jwk_with_own_kid_check() == "kid"


@pytest.mark.parametrize("answer", ["kid", " KID ", "'kid'"])
def test_jwk_accepts_kid(answer):
    assert check("attack-jwk", answer).correct


@pytest.mark.parametrize("answer", ["signature", "jwk", "algorithm", "typ", "iss", "scope"])
def test_jwk_rejects_other_checks(answer):
    assert_not_yet_without("attack-jwk", answer, "kid")


# -- 5. jku ------------------------------------------------------------------------------------


def test_jku_accepts_configured():
    assert check("attack-jku", "configured").correct


@pytest.mark.parametrize("answer", ["jku", "jku-prefix", "jwk"])
def test_jku_rejects_sources_from_the_token(answer):
    assert_not_yet_without("attack-jku", answer, "configured")


@pytest.mark.parametrize("exercise_id", ["attack-jku", "attack-alg-confusion"])
def test_choice_rejects_unknown_name(exercise_id):
    feedback = check(exercise_id, "allow-list")
    assert not feedback.correct
    assert "one of the names" in feedback.message


# -- 6. kid path --------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["../../../dev/null", "../../../../../dev/null", "/dev/null"])
def test_kid_path_accepts_paths_to_dev_null(answer):
    assert check("attack-kid-path", answer).correct


@pytest.mark.parametrize("answer", ["../dev/null", "../../dev/null", "dev/null", "demo-rs256", "..\\..\\..\\dev\\null"])
def test_kid_path_rejects_paths_elsewhere(answer):
    assert_not_yet_without("attack-kid-path", answer, "../../../dev/null")


# -- 7. algorithm confusion -------------------------------------------------------------------


def test_alg_confusion_accepts_pinning():
    assert check("attack-alg-confusion", "pin-algorithm").correct


@pytest.mark.parametrize("answer", ["hide-public-key", "bigger-rsa-key", "shorter-lifetime"])
def test_alg_confusion_rejects_other_fixes(answer):
    assert_not_yet_without("attack-alg-confusion", answer, "pin-algorithm")


# -- 8. audience ---------------------------------------------------------------------------------


def test_engine_accepts_exactly_our_audience():
    # aud is, or is a list containing, exactly our audience; prefixes, suffixes and a missing aud fail.
    expected = {0: True, 2: True}
    outcomes = attacks.tokenlab_accepts_audience()
    assert outcomes == tuple(expected.get(index, False) for index in range(len(attacks.AUDIENCE_CASES)))


def correct_audience_ok(aud):  # type: ignore[no-untyped-def]
    if isinstance(aud, list):
        return AUDIENCE in aud
    return aud == AUDIENCE


def test_audience_accepts_correct_function():
    assert check("attack-audience", correct_audience_ok).correct


@pytest.mark.parametrize(
    "function",
    [
        lambda aud: aud == AUDIENCE,
        lambda aud: AUDIENCE in aud,
        lambda aud: str(aud).startswith(AUDIENCE),
        lambda aud: aud in AUDIENCE,
        lambda aud: True,
        lambda aud: None,
        lambda: True,
    ],
    ids=["equal-only", "substring", "prefix", "reversed-in", "always", "returns-none", "no-argument"],
)
def test_audience_rejects_flawed_functions(function):
    feedback = check("attack-audience", function)
    assert not feedback.correct
    assert "def " not in feedback.message


# -- 9. issuer prefix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", ["https://auth.tokenlab.example.mallory.test", "https://auth.tokenlab.example@mallory.test/"]
)
def test_issuer_prefix_accepts_other_host(answer):
    assert check("attack-issuer-prefix", answer).correct


@pytest.mark.parametrize(
    "answer",
    [
        "https://auth.tokenlab.example",
        "https://auth.tokenlab.example/tenants/mallory",
        "https://mallory.test",
        "http://auth.tokenlab.example.mallory.test",
    ],
)
def test_issuer_prefix_rejects_same_host_or_other_prefix(answer):
    assert_not_yet_without("attack-issuer-prefix", answer, "auth.tokenlab.example.mallory.test")
