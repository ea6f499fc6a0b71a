"""Tests for the scripted scenarios: each event log step by step, determinism, back(), and overrides.

The expected kinds per step follow the engine's rules. A login records
``issued`` for the refresh token, then for the access token. A refresh with
rotation records ``refreshed``, ``rotated``, ``issued`` (access) and ``issued``
(refresh). Reuse records ``reuse_detected``, then ``revoked``. A verification
records ``verified``, or ``expired`` when ``exp`` has passed, or ``rejected``
when any other check fails.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import tokenlab as tl
from tokenlab.scenarios import (
    ACTIONS,
    SCENARIOS,
    Scenario,
    ScenarioRun,
    Step,
    get_scenario,
    list_scenarios,
    repeatable_fields,
    run_scenario,
)

NAMES = [
    "happy-path",
    "access-expiry",
    "refresh-flow",
    "rotation",
    "stolen-refresh-token",
    "two-tabs-race",
    "logout-revocation",
    "idle-vs-absolute-expiry",
    "clock-skew",
    "key-rotation",
]

LOGIN = ["issued", "issued"]
REFRESH = ["refreshed", "rotated", "issued", "issued"]
GRACE_REFRESH = ["refreshed", "grace_reuse", "issued", "issued"]
REUSE = ["reuse_detected", "revoked"]
CALL = ["verified"]
EXPIRED_CALL_THEN_REFRESH = ["expired", *REFRESH, "verified"]
NOTHING: list[str] = []


def step_kinds(result) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[event.kind.value for event in step.events] for step in result.steps]


def run_to(name: str, position: int, **overrides) -> ScenarioRun:  # type: ignore[no-untyped-def]
    run = ScenarioRun(name, **overrides)
    while run.position < position:
        run.step()
    return run


def snapshot(run: ScenarioRun) -> tuple:  # type: ignore[type-arg]
    """The parts of a run's state that must repeat exactly between runs."""
    return (
        [repeatable_fields(event) for event in run.events],
        [(result.index, result.ok, result.outcome, result.time) for result in run.results],
        run.now,
        run.position,
    )


# -- the catalogue ----------------------------------------------------------------------


def test_scenarios_are_in_teaching_order():
    assert list(SCENARIOS) == NAMES
    assert [scenario.name for scenario in list_scenarios()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_scenario_has_learner_texts(name):
    scenario = get_scenario(name)
    assert scenario.title.strip()
    assert "\n" not in scenario.summary
    assert len(scenario.explanation.split(". ")) >= 3
    for step in scenario.steps:
        assert step.note.endswith((".", "?")), step.note


def test_get_scenario_suggests_close_names():
    with pytest.raises(tl.ConfigurationError, match="stolen-refresh-token"):
        get_scenario("stolen-refresh")


def test_unknown_scenario_is_value_error():
    with pytest.raises(ValueError):
        get_scenario("no-such-story")


def test_step_rejects_unknown_action():
    with pytest.raises(tl.ConfigurationError, match="unknown step action"):
        Step("teleport", {}, "Nothing happens.")


def test_step_rejects_wrong_arguments():
    with pytest.raises(tl.ConfigurationError, match="call_api"):
        Step("call_api", {"client": "user", "colour": "red"}, "A call.")


def test_step_args_are_read_only():
    step = get_scenario("happy-path").steps[0]
    with pytest.raises(TypeError):
        step.args["client"] = "attacker"  # type: ignore[index]


@pytest.mark.parametrize("name", NAMES)
def test_steps_round_trip_through_json(name):
    for step in get_scenario(name).steps:
        data = json.loads(json.dumps(step.as_dict()))
        assert Step(**data) == step


def test_step_describe_shows_call():
    assert Step("advance", {"minutes": 5}, "Time passes.").describe() == "advance(minutes=5)"


def test_actions_list_every_action_method():
    assert {"login", "call_api", "refresh", "advance", "steal", "logout", "introspect"} <= set(ACTIONS)


def test_scenario_rejects_unknown_policy_field():
    with pytest.raises(tl.ConfigurationError):
        Scenario("x", "X", "x", "x", (Step("advance", {"seconds": 1}, "Time passes."),), {"ttl": 5})


# -- each scenario, step by step -----------------------------------------------------------


def test_happy_path_events():
    result = run_scenario("happy-path")
    assert step_kinds(result) == [LOGIN, CALL, NOTHING, CALL, ["introspected"]]
    assert all(step.ok for step in result.steps)
    assert result.steps[4].events[0].outcome == "active"


def test_access_expiry_events():
    result = run_scenario("access-expiry")
    assert step_kinds(result) == [LOGIN, CALL, NOTHING, CALL, NOTHING, ["expired"], ["introspected"]]
    expired = result.steps[5]
    assert expired.time == expired.events[0].time
    assert expired.events[0].check == "exp"
    assert expired.events[0].error == "invalid_token"
    assert expired.error.status_code == 401
    assert not expired.ok
    assert result.steps[6].events[0].outcome == "inactive"
    assert result.steps[6].events[0].label == "AT1"


def test_access_expiry_rejects_exactly_at_exp():
    result = run_scenario("access-expiry")
    issued_access = result.steps[0].events[1]
    assert result.steps[3].time == issued_access.expires_at - timedelta(seconds=1)
    assert result.steps[5].time == issued_access.expires_at


def test_refresh_flow_events():
    result = run_scenario("refresh-flow")
    assert step_kinds(result) == [
        LOGIN, CALL, NOTHING, EXPIRED_CALL_THEN_REFRESH, NOTHING, NOTHING, [*REFRESH, "verified"], NOTHING, CALL,
    ]
    assert [event.label for event in result.steps[3].events] == ["AT1", "RT1", "RT1", "AT2", "RT2", "AT2"]
    assert result.steps[6].events[0].label == "RT2"
    assert result.steps[8].events[0].label == "AT3"
    assert all(step.ok for step in result.steps)


def test_refresh_flow_proactive_part_has_no_rejection():
    result = run_scenario("refresh-flow")
    later = [event for step in result.steps[4:] for event in step.events]
    assert not [event for event in later if event.outcome == "rejected"]


def test_rotation_events():
    result = run_scenario("rotation")
    assert step_kinds(result) == [
        LOGIN, NOTHING, REFRESH, NOTHING, REFRESH, NOTHING, REFRESH, NOTHING, ["introspected"], ["introspected"],
    ]
    rotations = [(event.label, event.related) for event in result.events if event.kind == tl.EventKind.ROTATED]
    assert rotations == [("RT1", "RT2"), ("RT2", "RT3"), ("RT3", "RT4")]
    assert "RT1 rotated, RT2 rotated, RT3 rotated, RT4 active" in result.steps[7].outcome
    assert result.steps[8].events[0].outcome == "inactive"
    assert result.steps[9].events[0].outcome == "active"


def test_stolen_refresh_token_events():
    result = run_scenario("stolen-refresh-token")
    assert step_kinds(result) == [
        LOGIN, NOTHING, NOTHING, EXPIRED_CALL_THEN_REFRESH, NOTHING, REUSE, ["rejected", "rejected"],
        LOGIN, NOTHING, NOTHING, REFRESH, CALL, NOTHING, ["expired", *REUSE], ["rejected", "rejected"],
    ]


def test_stolen_refresh_token_replay_is_reuse():
    replay = run_scenario("stolen-refresh-token").steps[5]
    detected, revoked = replay.events
    assert (detected.label, detected.actor, detected.outcome) == ("RT1", "attacker", "rejected")
    assert detected.check == "reuse"
    assert detected.detail["revoked"] == ["RT2"]
    assert revoked.detail["family_revoked"] is True
    assert isinstance(replay.error, tl.InvalidGrant)


def test_stolen_refresh_token_locks_user_out():
    locked_out = run_scenario("stolen-refresh-token").steps[6]
    access, refresh = locked_out.events
    assert (access.label, access.check) == ("AT2", "revocation")
    assert (refresh.label, refresh.token_type, refresh.check) == ("RT2", "refresh_token", "revocation")
    assert refresh.actor == "user"
    assert not locked_out.ok


def test_stolen_refresh_token_attacker_first_locks_attacker_out():
    result = run_scenario("stolen-refresh-token")
    assert result.steps[11].ok
    assert result.steps[11].events[0].actor == "attacker"
    detected = result.steps[13].events[1]
    assert (detected.label, detected.actor, detected.family_id) == ("RT3", "user", "F2")
    access, refresh = result.steps[14].events
    assert (access.label, access.check) == ("AT4", "revocation")
    assert (refresh.label, refresh.check) == ("RT4", "revocation")


def test_two_tabs_race_default_revokes_family():
    result = run_scenario("two-tabs-race")
    assert step_kinds(result) == [
        LOGIN, NOTHING, NOTHING, EXPIRED_CALL_THEN_REFRESH, NOTHING, ["expired", *REUSE], NOTHING,
        ["rejected", "rejected"],
    ]
    assert result.steps[5].events[1].actor == "tab B"
    assert result.steps[5].time - result.steps[3].time == timedelta(milliseconds=20)
    assert not result.steps[7].ok


def test_two_tabs_race_grace_window_gives_two_pairs():
    result = run_scenario("two-tabs-race", reuse_grace=10)
    assert "reuse_detected" not in result.kinds()
    assert step_kinds(result)[5] == ["expired", *GRACE_REFRESH, "verified"]
    assert result.steps[5].ok
    assert result.steps[7].ok
    assert result.steps[7].events[0].label == "AT2"


def test_two_tabs_race_single_flight_refreshes_once():
    result = run_scenario("two-tabs-race", strategy="single-flight")
    assert result.kinds().count("rotated") == 1
    assert "reuse_detected" not in result.kinds()
    assert step_kinds(result)[5] == ["expired", "verified"]
    assert result.steps[5].events[1].label == "AT2"
    assert all(step.ok for step in result.steps)


def test_logout_revocation_events():
    result = run_scenario("logout-revocation")
    assert step_kinds(result) == [
        LOGIN, CALL, NOTHING, NOTHING, ["revoked"], CALL, ["rejected"], ["introspected"], NOTHING, ["expired"],
    ]
    assert result.steps[4].events[0].detail["family_revoked"] is True
    assert result.steps[5].events[0].detail["stateless"] is True
    assert result.steps[6].events[0].check == "revocation"
    assert result.steps[7].events[0].outcome == "inactive"
    assert result.steps[9].events[0].check == "exp"


def test_logout_revocation_stateless_api_accepts_until_exp():
    result = run_scenario("logout-revocation")
    exp = result.steps[0].events[1].expires_at
    assert result.steps[5].ok
    assert result.steps[5].time < exp
    assert result.steps[9].time == exp


def test_idle_vs_absolute_expiry_events():
    result = run_scenario("idle-vs-absolute-expiry")
    visit = EXPIRED_CALL_THEN_REFRESH
    assert step_kinds(result) == [
        LOGIN, CALL, NOTHING, ["expired", "expired"], LOGIN,
        NOTHING, visit, NOTHING, visit, NOTHING, visit, NOTHING, visit, NOTHING, ["expired", "expired"],
    ]
    assert result.steps[3].events[1].check == "idle_expiry"
    assert result.steps[14].events[1].check == "absolute_expiry"
    assert result.steps[14].events[1].family_id == "F2"


def test_idle_vs_absolute_expiry_deadlines():
    result = run_scenario("idle-vs-absolute-expiry")
    assert result.steps[3].time == result.steps[0].time + timedelta(hours=1)
    assert result.steps[14].time == result.steps[4].time + timedelta(hours=4)


def test_clock_skew_events():
    result = run_scenario("clock-skew")
    assert step_kinds(result) == [LOGIN, CALL, NOTHING, CALL, ["expired"], CALL, EXPIRED_CALL_THEN_REFRESH]
    early = result.steps[4]
    assert early.events[0].check == "exp"
    assert early.time < result.steps[0].events[1].expires_at
    assert result.steps[5].ok


def test_key_rotation_events():
    result = run_scenario("key-rotation")
    assert step_kinds(result) == [
        LOGIN, NOTHING, NOTHING, ["key_rotated"], NOTHING, CALL, NOTHING, ["key_removed"], NOTHING, ["rejected"],
        ["rejected", *REFRESH, "verified"],
    ]
    assert result.steps[0].events[1].detail["kid"] == "demo-rs256"
    assert result.steps[3].events[0].detail == {
        "kid": "demo-es256", "previous_kid": "demo-rs256", "algorithm": "ES256",
    }
    assert result.steps[9].events[0].check == "kid"
    assert result.steps[10].events[3].detail["kid"] == "demo-es256"


def test_key_rotation_jwks_lists_keys():
    result = run_scenario("key-rotation")
    assert "1 key(s): demo-rs256" in result.steps[1].outcome
    assert "2 key(s): demo-rs256 (RS256), demo-es256 (ES256)" in result.steps[4].outcome
    assert "1 key(s): demo-es256" in result.steps[8].outcome


# -- determinism, back() and reset() --------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_two_runs_are_identical(name):
    first = run_to(name, len(get_scenario(name).steps))
    second = run_to(name, len(get_scenario(name).steps))
    assert snapshot(first) == snapshot(second)


@pytest.mark.parametrize("name", NAMES)
def test_back_equals_fresh_run(name):
    total = len(get_scenario(name).steps)
    for position in (1, total // 2, total):
        run = run_to(name, position)
        run.back()
        assert snapshot(run) == snapshot(run_to(name, position - 1))


def test_back_at_start_does_nothing():
    run = ScenarioRun("happy-path")
    run.back()
    assert run.position == 0
    assert run.events == []


def test_reset_starts_again():
    run = run_to("rotation", 5)
    run.reset()
    assert run.position == 0
    assert run.events == []
    assert run.now == tl.SimulatedClock().now()


def test_step_after_last_raises():
    run = ScenarioRun("happy-path")
    run.run()
    assert run.done
    with pytest.raises(tl.ConfigurationError, match="reset"):
        run.step()


def test_step_result_carries_note_and_events():
    run = ScenarioRun("happy-path")
    result = run.step()
    assert result.index == 0
    assert result.note == run.scenario.steps[0].note
    assert result.events == run.events
    assert result.describe().startswith(" 1. 09:00:00 user: logged in")


# -- overrides ------------------------------------------------------------------------------


def test_runs_use_readable_ids_even_with_given_policy():
    run = ScenarioRun("happy-path", policy=tl.TokenPolicy())
    assert run.policy.readable_ids


def test_scenario_policy_applies_over_given_policy():
    run = ScenarioRun("idle-vs-absolute-expiry", policy=tl.TokenPolicy(refresh_token_idle_ttl=timedelta(days=2)))
    assert run.policy.refresh_token_idle_ttl == timedelta(hours=1)


def test_keyword_override_beats_scenario_policy():
    result = run_scenario("idle-vs-absolute-expiry", refresh_token_idle_ttl=timedelta(hours=2))
    assert result.steps[3].ok
    assert "idle_expiry" not in [event.check for event in result.events]


def test_leeway_override_removes_early_rejection():
    result = run_scenario("clock-skew", leeway=60)
    assert result.steps[4].ok
    assert "expired" not in result.kinds()


def test_reuse_detection_off_keeps_user_logged_in():
    result = run_scenario("stolen-refresh-token", detect_reuse=False)
    assert "reuse_detected" not in result.kinds()
    assert result.steps[5].events[0].check == "reuse"
    assert result.steps[6].ok


def test_unknown_override_is_rejected():
    with pytest.raises(tl.ConfigurationError, match="unknown policy field"):
        ScenarioRun("happy-path", reuse_window=10)


def test_unknown_strategy_is_rejected():
    with pytest.raises(tl.ConfigurationError, match="strategy"):
        ScenarioRun("two-tabs-race", strategy="eager")


def test_run_accepts_custom_scenario():
    scenario = Scenario(
        name="short",
        title="Short",
        summary="A login and one call.",
        explanation="A tiny scenario.",
        steps=(
            Step("login", {"client": "user", "scope": "read"}, "The user logs in."),
            Step("call_api", {"client": "user"}, "The user calls the API."),
        ),
    )
    result = run_scenario(scenario)
    assert step_kinds(result) == [LOGIN, CALL]
    assert result.scenario is scenario


def test_notes_apply_under_the_scenarios_own_policy():
    result = run_scenario("stolen-refresh-token")
    assert all(step.note_applies for step in result.steps)


def test_notes_flagged_where_override_changes_outcome():
    result = run_scenario("stolen-refresh-token", detect_reuse=False)
    flagged = [step for step in result.steps if not step.note_applies]
    assert flagged
    assert all("outcome differs" in step.display_note for step in flagged)
    default = run_scenario("stolen-refresh-token")
    replay_index = next(
        step.index for step in default.steps if any(e.kind is tl.EventKind.REUSE_DETECTED for e in step.events)
    )
    assert not result.steps[replay_index].note_applies


def test_override_without_effect_flags_no_note():
    result = run_scenario("happy-path", access_token_ttl=360)
    assert all(step.note_applies for step in result.steps)
