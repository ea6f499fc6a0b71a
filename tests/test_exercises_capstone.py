"""The self-checks of notebook 06: each requirement's story fails the designs it should and passes the others.

The reference designs below meet every requirement; they live here and never
in the notebook. Each requirement is then tested at its edges by changing one
field of a reference design, with the boundary reasoned from the engine's rules.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

import tokenlab as tl
from tokenlab.exercises import capstone, check, hint, list_exercises

EXERCISE_IDS = ("capstone-bank", "capstone-tv", "capstone-spa")
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

BANK = tl.TokenPolicy(
    access_token_ttl=4 * MINUTE,
    refresh_token_ttl=10 * HOUR,
    refresh_token_idle_ttl=20 * MINUTE,
    reuse_grace=0,
    leeway=5,
)
TV = tl.TokenPolicy(
    access_token_ttl=30 * MINUTE,
    refresh_token_ttl=365 * DAY,
    refresh_token_idle_ttl=60 * DAY,
    reuse_grace=10,
    leeway=5,
)
SPA_POLICY = tl.TokenPolicy(
    access_token_ttl=5 * MINUTE,
    refresh_token_ttl=30 * DAY,
    refresh_token_idle_ttl=2 * DAY,
    reuse_grace=5,
    leeway=3,
)
SPA = {"policy": SPA_POLICY, "strategy": "single-flight"}

# The first drafts stored in the notebook.
DRAFTS = {
    "bank": tl.TokenPolicy(access_token_ttl=5 * MINUTE, refresh_token_ttl=DAY, refresh_token_idle_ttl=HOUR,
                           reuse_grace=0, leeway=5),
    "tv": tl.TokenPolicy(access_token_ttl=30 * MINUTE, refresh_token_ttl=90 * DAY, refresh_token_idle_ttl=30 * DAY,
                         reuse_grace=0, leeway=5),
    "spa": {"policy": tl.TokenPolicy(access_token_ttl=5 * MINUTE, refresh_token_ttl=30 * DAY,
                                     refresh_token_idle_ttl=DAY, reuse_grace=30, leeway=0),
            "strategy": "reactive"},
}
POLICY_FIELDS = [field.name for field in dataclasses.fields(tl.TokenPolicy)]


def passes(app: str, requirement: str, design) -> bool:  # type: ignore[no-untyped-def]
    return capstone.judge(app, requirement, design)[0]


def spa_with(strategy: str = "single-flight", **changes) -> dict:  # type: ignore[no-untyped-def]
    return {"policy": SPA_POLICY.replace(**changes), "strategy": strategy}


# -- registration and answer shapes ------------------------------------------------------------


def test_exercises_are_registered_for_notebook_06():
    ids = {item.exercise_id for item in list_exercises("06-capstone")}
    assert ids == set(EXERCISE_IDS)


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_exercise_has_three_hints(exercise_id):
    assert "Hint 3 of 3" in hint(exercise_id, 3)


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
@pytest.mark.parametrize(
    "answer",
    [3, "reactive", [BANK], {"pol": BANK}, {"policy": "fast"}, {"policy": BANK, "strategy": "eager"}],
    ids=repr,
)
def test_malformed_answer_gives_not_yet(exercise_id, answer):
    feedback = check(exercise_id, answer)
    assert not feedback.correct
    assert str(feedback).startswith(f"[{exercise_id}] Not yet: ")


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_none_says_what_to_replace(exercise_id):
    assert "replace None" in check(exercise_id, None).message


def test_bare_policy_means_reactive_client():
    assert capstone.as_design(BANK) == capstone.Design(BANK, "reactive")


@pytest.mark.parametrize("answer", [SPA_POLICY, {"policy": SPA_POLICY}], ids=["bare policy", "dict without strategy"])
def test_spa_says_which_strategy_it_assumed(answer):
    # Without a strategy the tabs run reactively, so two-tabs fails and the report must say why.
    feedback = check("capstone-spa", answer)
    assert not feedback.correct
    assert "checked with the 'reactive' strategy" in feedback.message


def test_spa_with_strategy_has_no_assumption_note():
    assert "no strategy was given" not in check("capstone-spa", SPA).message


def test_bank_bare_policy_has_no_strategy_note():
    # The bank's stories have one client each, so the strategy is not part of its exercise.
    assert "no strategy was given" not in check("capstone-bank", BANK).message


def test_tv_last_hint_names_no_duration():
    # The last hint leads to the reasoning (gap, last visit, exact-second rule) and leaves the numbers to the learner.
    text = hint("capstone-tv", 3)
    assert not any(character.isdigit() for character in text.split(":", 1)[1])


def test_unknown_app_names_the_apps():
    with pytest.raises(KeyError, match="bank, tv, spa"):
        capstone.requirements("web")


def test_unknown_requirement_names_the_requirements():
    with pytest.raises(KeyError, match="idle-logout"):
        capstone.run_test("bank", "idle", BANK)


# -- the reference designs and the stored drafts ---------------------------------------------------


@pytest.mark.parametrize(("exercise_id", "design"), [("capstone-bank", BANK), ("capstone-tv", TV),
                                                     ("capstone-spa", SPA)], ids=["bank", "tv", "spa"])
def test_reference_design_passes(exercise_id, design):
    feedback = check(exercise_id, design)
    assert feedback.correct, feedback.message


@pytest.mark.parametrize("app", list(DRAFTS))
def test_notebook_draft_fails(app):
    assert not check(f"capstone-{app}", DRAFTS[app]).correct


@pytest.mark.parametrize("app", list(DRAFTS))
def test_draft_report_lists_every_requirement(app):
    message = check(f"capstone-{app}", DRAFTS[app]).message
    for requirement in capstone.get_app(app).requirements:
        assert f"  {requirement.key}" in message


@pytest.mark.parametrize("app", list(DRAFTS))
def test_draft_report_names_no_policy_field(app):
    # The report describes what happened in each story, never which setting to change or to what.
    message = check(f"capstone-{app}", DRAFTS[app]).message
    for name in POLICY_FIELDS:
        assert name not in message


@pytest.mark.parametrize("app", list(DRAFTS))
def test_draft_report_points_to_hint(app):
    assert f"hint('capstone-{app}', 1)" in check(f"capstone-{app}", DRAFTS[app]).message


def test_designs_table_shows_each_app():
    table = capstone.designs_table({"bank": BANK, "spa": SPA})
    assert table.splitlines()[0].split() == ["bank", "spa"]
    assert table.splitlines()[-1].split() == ["strategy", "reactive", "single-flight"]


# -- bank: each requirement at its edges -------------------------------------------------------


def test_bank_refresh_load_counts_the_leeway():
    # A 5 s leeway lets each 2-minute token pass the call at its exp, so the app refreshes every 3 minutes.
    assert passes("bank", "refresh-load", BANK.replace(access_token_ttl=2 * MINUTE, leeway=5))


def test_bank_stolen_access_token_counts_the_leeway():
    # A token passes while now < exp + leeway: 5 min of lifetime plus 3 s of leeway still passes at 5:00.
    assert not passes("bank", "stolen-access-token", BANK.replace(access_token_ttl=5 * MINUTE, leeway=3))


def test_bank_stolen_access_token_passes_at_exact_limit():
    assert passes("bank", "stolen-access-token", BANK.replace(access_token_ttl=timedelta(seconds=297), leeway=3))


def test_bank_refresh_load_fails_for_two_minute_tokens():
    # Without leeway, one refresh per lifetime: 60 min / 2 min = 30 refreshes, above the 20 allowed.
    ok, observed = capstone.judge("bank", "refresh-load", BANK.replace(access_token_ttl=2 * MINUTE, leeway=0))
    assert not ok
    assert "30 refreshes" in observed


@pytest.mark.parametrize(("leeway", "expected"), [(2, False), (2.5, False), (3, True)])
def test_bank_clock_skew_needs_leeway_of_whole_skew(leeway, expected):
    # Behind by 3 s, a fresh token's iat lies 3 s in the future: iat <= now + leeway needs leeway >= 3.
    assert passes("bank", "clock-skew", BANK.replace(leeway=leeway)) is expected


def test_bank_clock_skew_names_the_check():
    ok, observed = capstone.judge("bank", "clock-skew", BANK.replace(leeway=0))
    assert "(iat)" in observed


def test_bank_replayed_refresh_token_fails_without_rotation():
    assert not passes("bank", "replayed-refresh-token", BANK.replace(rotate_refresh_tokens=False))


def test_bank_thief_first_fails_with_grace_window():
    ok, observed = capstone.judge("bank", "thief-refreshes-first", BANK.replace(reuse_grace=2))
    assert not ok
    assert "grace window" in observed


def test_bank_thief_first_fails_without_reuse_detection():
    ok, observed = capstone.judge("bank", "thief-refreshes-first", BANK.replace(detect_reuse=False))
    assert not ok
    assert "left the thief's tokens valid" in observed


def test_bank_thief_first_fails_without_rotation():
    assert not passes("bank", "thief-refreshes-first", BANK.replace(rotate_refresh_tokens=False))


@pytest.mark.parametrize(("idle", "expected"), [(30 * MINUTE, True), (31 * MINUTE, False)])
def test_bank_idle_logout_edge(idle, expected):
    # A refresh token is expired when now >= its idle deadline, so 30 minutes of idle expiry ends it at 30 minutes.
    assert passes("bank", "idle-logout", BANK.replace(refresh_token_idle_ttl=idle)) is expected


def test_bank_idle_logout_fails_with_long_access_token():
    # An access token that outlives the 30 minutes gets through without any refresh.
    assert not passes("bank", "idle-logout", BANK.replace(access_token_ttl=HOUR, leeway=0))


def test_bank_working_day_short_idle_expiry():
    ok, observed = capstone.judge("bank", "working-day", BANK.replace(refresh_token_idle_ttl=10 * MINUTE))
    assert not ok
    assert "(idle_expiry)" in observed


@pytest.mark.parametrize(("absolute", "expected"), [(8 * HOUR, False), (8 * HOUR + MINUTE, True)])
def test_bank_working_day_edge(absolute, expected):
    # The last call comes exactly 8 h after login, when an 8 h family has just expired.
    assert passes("bank", "working-day", BANK.replace(refresh_token_ttl=absolute)) is expected


@pytest.mark.parametrize(("absolute", "expected"), [(12 * HOUR, True), (12 * HOUR + MINUTE, False)])
def test_bank_session_cap_edge(absolute, expected):
    assert passes("bank", "session-cap", BANK.replace(refresh_token_ttl=absolute)) is expected


# -- tv: each requirement at its edges ------------------------------------------------------------


def test_tv_refresh_load_fails_for_default_lifetime():
    assert not passes("tv", "refresh-load", TV.replace(access_token_ttl=5 * MINUTE))


def test_tv_stolen_token_two_hour_lifetime():
    assert not passes("tv", "stolen-access-token", TV.replace(access_token_ttl=2 * HOUR))


@pytest.mark.parametrize(("grace", "expected"), [(0, False), (4, False), (5, True)])
def test_tv_lost_response_needs_grace_longer_than_retry(grace, expected):
    # The retry comes 4 s after the rotation; the window is open while now < rotation time + grace.
    assert passes("tv", "lost-response", TV.replace(reuse_grace=grace)) is expected


def test_tv_lost_response_reports_reuse():
    ok, observed = capstone.judge("tv", "lost-response", TV.replace(reuse_grace=0))
    assert "taken for reuse" in observed


def test_tv_thief_first_fails_without_reuse_detection():
    assert not passes("tv", "thief-refreshes-first", TV.replace(detect_reuse=False))


@pytest.mark.parametrize(("idle", "expected"), [(30 * DAY, False), (31 * DAY, True)])
def test_tv_holiday_edge(idle, expected):
    assert passes("tv", "holiday", TV.replace(refresh_token_idle_ttl=idle)) is expected


@pytest.mark.parametrize(("absolute", "expected"), [(182 * DAY, False), (183 * DAY, True)])
def test_tv_half_year_edge(absolute, expected):
    # 26 weekly visits: the last one is 182 days after login.
    assert passes("tv", "half-year", TV.replace(refresh_token_ttl=absolute)) is expected


def test_tv_half_year_short_idle_expiry():
    assert not passes("tv", "half-year", TV.replace(refresh_token_idle_ttl=6 * DAY))


# -- spa: each requirement at its edges -------------------------------------------------------------


@pytest.mark.parametrize(("strategy", "expected"), [("reactive", False), ("proactive", False),
                                                    ("single-flight", True)])
def test_spa_two_tabs_needs_single_flight(strategy, expected):
    assert passes("spa", "two-tabs", spa_with(strategy)) is expected


def test_spa_two_tabs_grace_fails_later():
    # The grace window saves the first race, but the faster tab's superseded token is reuse next time.
    ok, observed = capstone.judge("spa", "two-tabs", spa_with("reactive", reuse_grace=30))
    assert not ok
    assert "second expiry" in observed


@pytest.mark.parametrize(("grace", "expected"), [(10, True), (11, False)])
def test_spa_thief_first_edge(grace, expected):
    # The app comes 10 s after the thief's rotation: inside the window only while now < rotation time + grace.
    assert passes("spa", "thief-refreshes-first", spa_with(reuse_grace=grace)) is expected


@pytest.mark.parametrize(("grace", "expected"), [(2, False), (3, True)])
def test_spa_lost_response_edge(grace, expected):
    assert passes("spa", "lost-response", spa_with(reuse_grace=grace)) is expected


@pytest.mark.parametrize(("idle", "expected"), [(DAY, False), (DAY + MINUTE, True)])
def test_spa_next_day_edge(idle, expected):
    assert passes("spa", "next-day", spa_with(refresh_token_idle_ttl=idle)) is expected


@pytest.mark.parametrize(("idle", "expected"), [(7 * DAY, True), (8 * DAY, False)])
def test_spa_week_away_edge(idle, expected):
    assert passes("spa", "week-away", spa_with(refresh_token_idle_ttl=idle)) is expected


def test_spa_replayed_refresh_token_fails_without_rotation():
    assert not passes("spa", "replayed-refresh-token", spa_with(rotate_refresh_tokens=False, reuse_grace=0))


# -- looking at one story -------------------------------------------------------------------------


def test_run_test_replays_requirement_story():
    result = capstone.run_test("spa", "two-tabs", tl.TokenPolicy())
    assert "reuse_detected" in result.kinds()


def test_run_test_is_repeatable():
    first = capstone.run_test("bank", "idle-logout", DRAFTS["bank"])
    second = capstone.run_test("bank", "idle-logout", DRAFTS["bank"])
    assert [step.describe() for step in first.steps] == [step.describe() for step in second.steps]


def test_requirements_lists_every_key():
    text = capstone.requirements("tv")
    for requirement in capstone.TV.requirements:
        assert f"{requirement.key}:" in text
