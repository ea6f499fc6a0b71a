"""Tests for the notebook widgets: each method changes state as the engine's rules require, and the buttons call those methods.

The views draw lazily, so most tests never render a figure; the tests that
build ``.widget`` render a PNG on every change, as a notebook does.
"""

from __future__ import annotations

import base64
import gc
import subprocess
import sys
import weakref
from datetime import timedelta
from typing import Any, Iterator

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import pytest  # noqa: E402

import tokenlab as tl  # noqa: E402
from tokenlab.scenarios import Scenario, get_scenario, repeatable_fields, run_scenario  # noqa: E402
from tokenlab.widgets import PolicyExplorer, ScenarioPlayer, TokenPlayground  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STOLEN = "stolen-refresh-token"


def descendants(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    """Yield ``widget`` and every widget inside it, depth first."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)


def find(view: Any, kind: type, description: str) -> Any:
    """Return the control of type ``kind`` labelled ``description`` in ``view.widget``."""
    matches = [w for w in descendants(view.widget) if isinstance(w, kind) and w.description == description]
    assert len(matches) == 1, f"expected one {kind.__name__} {description!r}, found {len(matches)}"
    return matches[0]


def image_of(view: Any) -> widgets.Image:
    images = [w for w in descendants(view.widget) if isinstance(w, widgets.Image)]
    assert len(images) == 1
    return images[0]


def repeatable(events: Any) -> list[tuple[Any, ...]]:
    return [repeatable_fields(event) for event in events]


@pytest.fixture(autouse=True)
def close_widgets() -> Iterator[None]:
    """Close the ipywidgets each test created, so that the widget registry does not grow across tests."""
    yield
    widgets.Widget.close_all()


# -- ScenarioPlayer --------------------------------------------------------------------


def test_player_starts_before_first_step() -> None:
    player = ScenarioPlayer(STOLEN)

    assert player.position == 0
    assert player.run.events == []
    assert "Step 0/15: not started" in player.text()


def test_player_step_runs_one_step() -> None:
    player = ScenarioPlayer(STOLEN)

    result = player.step()

    assert result is not None
    assert player.position == 1
    assert [e.kind.value for e in result.events] == ["issued", "issued"]
    assert player.run.events == result.events


def test_player_text_shows_step_note_and_events() -> None:
    player = ScenarioPlayer(STOLEN)
    for _ in range(6):
        player.step()
    step = get_scenario(STOLEN).steps[5]

    text = player.text()

    assert "Step 6/15 at 09:06:00" in text
    assert step.note in text
    assert "reuse_detected  RT1" in text


def test_player_back_equals_fresh_run() -> None:
    player = ScenarioPlayer(STOLEN)
    for _ in range(7):
        player.step()
    fresh = ScenarioPlayer(STOLEN)
    for _ in range(6):
        fresh.step()

    player.back()

    assert player.position == 6
    assert repeatable(player.run.events) == repeatable(fresh.run.events)
    assert player.text() == fresh.text()


def test_player_back_at_start_stays_at_start() -> None:
    player = ScenarioPlayer(STOLEN)

    player.back()

    assert player.position == 0


def test_player_reset_returns_to_start() -> None:
    player = ScenarioPlayer(STOLEN)
    for _ in range(3):
        player.step()

    player.reset()

    assert player.position == 0
    assert player.run.events == []
    assert player.text() == ScenarioPlayer(STOLEN).text()


def test_player_play_runs_to_end() -> None:
    player = ScenarioPlayer(STOLEN)

    player.play()

    assert player.run.done
    assert repeatable(player.run.events) == repeatable(run_scenario(STOLEN).events)


def test_player_step_at_end_returns_none() -> None:
    player = ScenarioPlayer("happy-path")
    player.play()

    assert player.step() is None
    assert player.position == len(get_scenario("happy-path").steps)


def test_player_go_to_moves_both_ways() -> None:
    player = ScenarioPlayer(STOLEN)

    player.go_to(9)
    forward = repeatable(player.run.events)
    player.go_to(4)

    assert forward == repeatable(run_scenario(STOLEN).events[: len(forward)])
    assert player.position == 4


def test_player_text_is_deterministic() -> None:
    first, second = ScenarioPlayer(STOLEN), ScenarioPlayer(STOLEN)
    texts = []
    for player in (first, second):
        shown = []
        while not player.run.done:
            player.step()
            shown.append(player.text())
        texts.append(shown)

    assert texts[0] == texts[1]


def test_player_overrides_change_policy() -> None:
    player = ScenarioPlayer("two-tabs-race", reuse_grace=10)
    player.play()

    assert player.run.policy.reuse_grace == timedelta(seconds=10)
    assert "reuse_detected" not in [e.kind.value for e in player.run.events]


def test_player_invalid_policy_raises() -> None:
    with pytest.raises(tl.ConfigurationError, match="reuse_grace only applies"):
        ScenarioPlayer("two-tabs-race", reuse_grace=10, rotate_refresh_tokens=False)


def test_player_step_that_cannot_run_is_shown() -> None:
    # Without rotation the rotation scenario never issues RT4, which its last step introspects.
    player = ScenarioPlayer("rotation", rotate_refresh_tokens=False)

    player.play()

    assert isinstance(player.error, tl.ConfigurationError)
    assert player.position == 9
    assert "Step 10 (introspect) cannot run with this policy" in player.text()
    assert "no token labelled 'RT4'" in player.text()


def test_player_window_stays_fixed_across_steps() -> None:
    player = ScenarioPlayer(STOLEN)
    player.step()
    early = player.figure().axes[0].get_xlim()
    player.go_to(12)
    late = player.figure().axes[0].get_xlim()

    assert early == late


def test_player_window_covers_whole_scenario() -> None:
    player = ScenarioPlayer(STOLEN)
    player.step()
    start, end = player.figure().axes[0].get_xlim()
    last = matplotlib.dates.date2num(run_scenario(STOLEN).now)

    assert start < matplotlib.dates.date2num(player.run.events[0].time)
    assert end > last


def test_player_window_fits_last_notes_on_right() -> None:
    # A note that does not fit right of its marker goes left, over the bars: the window must leave room.
    player = ScenarioPlayer(STOLEN)
    player.play()
    last = matplotlib.dates.date2num(player.run.events[-1].time)

    notes = [text for text in player.figure().axes[0].texts if text.get_gid() == "note"]
    last_notes = [note for note in notes if note.get_position()[0] == last]

    assert len(last_notes) >= 2
    assert [note.get_horizontalalignment() for note in last_notes] == ["left"] * len(last_notes)


def test_player_figure_shows_events_so_far() -> None:
    player = ScenarioPlayer(STOLEN)
    player.go_to(2)

    lanes = [label.get_text() for label in player.figure().axes[0].get_yticklabels()]

    assert lanes == ["RT1", "AT1"]


def test_player_buttons_call_methods() -> None:
    player = ScenarioPlayer(STOLEN)

    find(player, widgets.Button, "step").click()
    assert player.position == 1
    find(player, widgets.Button, "step").click()
    find(player, widgets.Button, "back").click()
    assert player.position == 1
    find(player, widgets.Button, "play").click()
    assert player.run.done
    find(player, widgets.Button, "reset").click()
    assert player.position == 0


def test_player_slider_moves_to_step() -> None:
    player = ScenarioPlayer(STOLEN)
    slider = find(player, widgets.IntSlider, "step")

    slider.value = 5

    assert player.position == 5


def test_player_slider_follows_steps() -> None:
    player = ScenarioPlayer(STOLEN)
    slider = find(player, widgets.IntSlider, "step")

    player.step()
    player.step()

    assert slider.value == 2


def test_player_image_redraws_on_step() -> None:
    player = ScenarioPlayer(STOLEN)
    image = image_of(player)
    before = bytes(image.value)

    player.step()

    assert bytes(image.value).startswith(PNG_SIGNATURE)
    assert bytes(image.value) != before


def test_player_step_button_disabled_at_end() -> None:
    player = ScenarioPlayer("happy-path")
    step_button = find(player, widgets.Button, "step")

    player.play()

    assert step_button.disabled


# -- display -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: ScenarioPlayer("happy-path"), TokenPlayground, lambda: PolicyExplorer("happy-path")],
    ids=["player", "playground", "explorer"],
)
def test_mimebundle_has_widget_png_and_text(make: Any) -> None:
    view = make()

    bundle = view._repr_mimebundle_()

    assert bundle["text/plain"] == view.text()
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_SIGNATURE)
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id


def test_views_leave_no_pyplot_figures() -> None:
    before = plt.get_fignums()
    player = ScenarioPlayer(STOLEN)
    player.widget
    playground = TokenPlayground()
    explorer = PolicyExplorer()

    player.play()
    playground.png()
    explorer.png()

    assert plt.get_fignums() == before


def test_figures_do_not_accumulate_over_20_steps() -> None:
    player = ScenarioPlayer(STOLEN)
    player.widget
    drawn: list[weakref.ref[Any]] = []
    for number in range(20):
        if number < 15:
            player.step()
        else:
            player.back()
        drawn.append(weakref.ref(player.figure()))

    gc.collect()
    alive = [ref for ref in drawn if ref() is not None]

    assert len(alive) == 1
    assert alive[0]() is player.figure()


def test_import_tokenlab_loads_no_widget_libraries() -> None:
    code = (
        "import sys, tokenlab\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'matplotlib'))\n"
        "print(loaded)\n"
    )

    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert finished.stdout.strip() == "[]"


KERNEL_CELLS = [
    "import tokenlab.widgets as tw",
    "player = tw.ScenarioPlayer('stolen-refresh-token')\nplayer.step()\nplayer",
    "playground = tw.TokenPlayground()\nplayground.steal(); playground.refresh(); playground.replay()\nplayground",
    "explorer = tw.PolicyExplorer('two-tabs-race', reuse_grace=10)\nexplorer.set(rotate_refresh_tokens=False)\nexplorer",
]


@pytest.mark.slow
def test_kernel_display_writes_no_streams() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in KERNEL_CELLS])

    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()

    outputs = [output for cell in notebook.cells for output in cell.outputs]
    assert [output.output_type for output in outputs] == ["execute_result"] * 3
    for output in outputs:
        assert set(output.data) == {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"}
    assert outputs[0].data["text/plain"].startswith("A stolen refresh token is caught by reuse detection")
    assert "Reuse detected: RT1 replayed by attacker" in outputs[1].data["text/plain"]
    assert "Invalid policy: invalid_request: reuse_grace only applies" in outputs[2].data["text/plain"]


# -- TokenPlayground -------------------------------------------------------------------


def test_playground_starts_logged_in() -> None:
    playground = TokenPlayground()

    held = playground.user.tokens
    assert held is not None
    assert (held.access_label, held.refresh_label) == ("AT1", "RT1")
    assert "logged in as alice" in playground.last_action


def test_playground_call_api_reports_each_actor() -> None:
    playground = TokenPlayground()

    line = playground.call_api()

    assert line == "user: sent AT1: 200 OK | resource server: accepted AT1 from user"


def test_playground_wait_moves_clock() -> None:
    playground = TokenPlayground()
    start = playground.clock.now()

    line = playground.wait(6)

    assert playground.clock.now() - start == timedelta(minutes=6)
    assert line == "clock: 6 min passed, now 09:06:00"


def test_playground_call_after_expiry_refreshes() -> None:
    playground = TokenPlayground()
    playground.wait(5)

    line = playground.call_api()

    assert "invalid_token (exp)" in line
    assert "refreshed with RT1" in line
    assert playground.user.calls[-1].ok
    assert playground.user.tokens.refresh_label == "RT2"


def test_playground_refresh_rotates() -> None:
    playground = TokenPlayground()

    line = playground.refresh()

    assert line == "user: refreshed RT1, got AT2 and RT2"


def test_playground_refresh_without_rotation_keeps_token() -> None:
    playground = TokenPlayground(tl.TokenPolicy(readable_ids=True, rotate_refresh_tokens=False))

    line = playground.refresh()

    assert "got AT2 and RT1 (the same refresh token" in line


def test_playground_steal_copies_refresh_token_only() -> None:
    playground = TokenPlayground()

    playground.steal()

    stolen = playground.attacker.tokens
    assert stolen is not None
    assert stolen.refresh_token == playground.user.tokens.refresh_token
    assert stolen.access_token is None


def test_playground_replay_after_user_refresh_detects_reuse() -> None:
    playground = TokenPlayground()
    playground.steal()
    playground.refresh()

    line = playground.replay()

    assert "replay of RT1 failed with invalid_grant" in line
    assert "whole family F1 is now revoked" in line
    assert "Reuse detected: RT1 replayed by attacker" in playground.text()
    assert [e.actor for e in playground.authority.events.of_kind("reuse_detected")] == ["attacker"]


def test_playground_user_call_fails_after_reuse() -> None:
    playground = TokenPlayground()
    playground.steal()
    playground.refresh()
    playground.replay()

    line = playground.call_api()

    assert not playground.user.calls[-1].ok
    assert "sent AT2: 401 Unauthorized invalid_token (revocation)" in line
    assert "resource server: rejected AT2 from user (revocation)" in line
    assert playground.last_failed


def test_playground_replay_first_lets_attacker_in() -> None:
    playground = TokenPlayground()
    playground.steal()

    line = playground.replay()

    assert line == "attacker: replayed RT1, got AT2 and RT2; sent AT2: 200 OK | resource server: accepted AT2 from attacker"


def test_playground_user_refresh_after_attacker_trips_reuse() -> None:
    playground = TokenPlayground()
    playground.steal()
    playground.replay()

    line = playground.refresh()

    assert line.startswith("user: failed with invalid_grant: refresh token RT1 was already rotated")
    assert playground.user.tokens is None
    assert playground.attacker.call_api(auto_refresh=False).status == 401


def test_playground_revoke_access_keeps_refresh_token() -> None:
    playground = TokenPlayground()
    playground.revoke_access()

    line = playground.call_api()

    assert "sent AT1: 401 Unauthorized invalid_token (revocation)" in line
    assert "retried with AT2: 200 OK" in line


def test_playground_revoke_access_twice_has_no_effect() -> None:
    playground = TokenPlayground()
    playground.revoke_access()

    line = playground.revoke_access()

    assert line == "user: revoking AT1 had no effect (already revoked)"


def test_playground_logout_ends_stolen_copy() -> None:
    playground = TokenPlayground()
    playground.steal()

    logout = playground.logout()
    replay = playground.replay()

    assert logout == "user: logged out: RT1 revoked, family F1 ended"
    assert playground.user.tokens is None
    assert "replay of RT1 failed with invalid_grant" in replay
    assert "revoked" in replay


def test_playground_login_after_logout_starts_new_family() -> None:
    playground = TokenPlayground()
    playground.logout()

    line = playground.login()

    assert line == "user: logged in as alice, got AT2 and RT2 (family F2)"


def test_playground_refresh_without_tokens_is_text() -> None:
    playground = TokenPlayground()
    playground.logout()

    line = playground.refresh()

    assert line.startswith("user: failed with invalid_request: client 'user' ")
    assert "no refresh token" in line
    assert playground.last_failed


def test_playground_negative_wait_is_text() -> None:
    playground = TokenPlayground()
    start = playground.clock.now()

    line = playground.wait(-1)

    assert line.startswith("clock: failed with invalid_request: cannot move the clock backwards")
    assert playground.clock.now() == start


def test_playground_replay_without_stolen_token() -> None:
    playground = TokenPlayground()

    line = playground.replay()

    assert line == "attacker: holds no refresh token: steal one first"


def test_playground_text_lists_holdings() -> None:
    playground = TokenPlayground()
    playground.steal()
    playground.wait(5)

    text = playground.text()

    assert "User app: holds AT1 (expired 09:05:00) and RT1" in text
    assert "Attacker: holds RT1;" in text


def test_playground_text_is_deterministic() -> None:
    texts = []
    for _ in range(2):
        playground = TokenPlayground()
        playground.steal()
        playground.refresh()
        playground.replay()
        playground.call_api()
        texts.append(playground.text())

    # The messages quote refresh token fingerprints, which differ between runs; the text shows labels only.
    assert texts[0] == texts[1]
    assert "RT1 (" not in texts[0]


def test_playground_buttons_call_methods() -> None:
    playground = TokenPlayground()

    find(playground, widgets.BoundedFloatText, "minutes").value = 6
    find(playground, widgets.Button, "Wait").click()
    assert playground.clock.now().minute == 6
    find(playground, widgets.Button, "Steal refresh token").click()
    assert playground.attacker.tokens.refresh_label == "RT1"
    find(playground, widgets.Button, "Call API").click()
    assert playground.user.tokens.refresh_label == "RT2"
    find(playground, widgets.Button, "Replay as attacker").click()
    assert len(playground.authority.events.of_kind("reuse_detected")) == 1
    find(playground, widgets.Button, "Log in").click()
    assert playground.user.tokens.refresh_label == "RT3"
    find(playground, widgets.Button, "Refresh").click()
    assert playground.user.tokens.refresh_label == "RT4"
    find(playground, widgets.Button, "Revoke access token").click()
    assert playground.authority.store.get_access("at-4").revoked_at is not None
    find(playground, widgets.Button, "Log out").click()
    assert playground.user.tokens is None


def test_playground_panes_show_outcomes() -> None:
    playground = TokenPlayground()
    playground.widget
    playground.steal()
    playground.replay()

    panes = [w.value for w in descendants(playground.widget) if isinstance(w, widgets.HTML) and "<b>" in w.value]
    text = " ".join(panes)

    assert "replayed RT1, got AT2 and RT2" in text
    assert "accepted AT2 from attacker" in text


def test_playground_rejects_non_policy() -> None:
    with pytest.raises(tl.ConfigurationError, match="policy must be a TokenPolicy"):
        TokenPlayground({"reuse_grace": 10})  # type: ignore[arg-type]


# -- PolicyExplorer ----------------------------------------------------------------------


def test_explorer_grace_avoids_reuse_on_two_tabs() -> None:
    explorer = PolicyExplorer("two-tabs-race", reuse_grace=10)

    assert explorer.result is not None
    assert "reuse_detected" not in explorer.result.kinds()
    assert "Reuse detection: not triggered" in explorer.text()


def test_explorer_without_grace_detects_reuse_on_two_tabs() -> None:
    explorer = PolicyExplorer("two-tabs-race")

    assert "reuse_detected" in explorer.result.kinds()
    assert "Reuse detection: triggered 1 time (RT1 replayed by tab B)" in explorer.text()


def test_explorer_set_replays_with_new_policy() -> None:
    explorer = PolicyExplorer(STOLEN)

    result = explorer.set(access_token_ttl=timedelta(minutes=10))

    assert result is explorer.result
    issued = result.events[1]
    assert issued.label == "AT1"
    assert issued.expires_at - issued.issued_at == timedelta(minutes=10)


def test_explorer_set_accepts_seconds() -> None:
    explorer = PolicyExplorer("two-tabs-race")

    explorer.set(reuse_grace=10)

    assert explorer.result.policy.reuse_grace == timedelta(seconds=10)
    assert "reuse_grace 10 s" in explorer.text()


def test_explorer_invalid_policy_shows_message() -> None:
    explorer = PolicyExplorer("two-tabs-race", reuse_grace=10)
    valid = explorer.result

    returned = explorer.set(rotate_refresh_tokens=False)

    assert returned is None
    assert isinstance(explorer.error, tl.ConfigurationError)
    assert explorer.result is valid
    text = explorer.text()
    assert "Invalid policy: invalid_request: reuse_grace only applies when rotate_refresh_tokens is True" in text
    assert "The run below used the last valid policy." in text


def test_explorer_invalid_initial_policy_shows_message() -> None:
    explorer = PolicyExplorer("two-tabs-race", reuse_grace=10, rotate_refresh_tokens=False)

    assert explorer.result is None
    assert "Invalid policy" in explorer.text()
    assert explorer.png().startswith(PNG_SIGNATURE)


def test_explorer_fixing_policy_clears_error() -> None:
    explorer = PolicyExplorer("two-tabs-race", reuse_grace=10, rotate_refresh_tokens=False)

    explorer.set(reuse_grace=0)

    assert explorer.error is None
    assert explorer.result.policy.rotate_refresh_tokens is False


def test_explorer_unknown_field_raises() -> None:
    explorer = PolicyExplorer()

    with pytest.raises(tl.ConfigurationError, match="unknown policy field"):
        explorer.set(grace=10)


def test_explorer_step_that_cannot_run_is_reported() -> None:
    explorer = PolicyExplorer("rotation", rotate_refresh_tokens=False)

    assert explorer.failed_step == 10
    assert len(explorer.result.steps) == 9
    assert "Step 10 (introspect) cannot run with this policy" in explorer.text()


def test_explorer_choose_keeps_changes() -> None:
    explorer = PolicyExplorer(STOLEN, reuse_grace=10)

    explorer.choose("two-tabs-race")

    assert explorer.scenario.name == "two-tabs-race"
    assert "reuse_detected" not in explorer.result.kinds()


def test_explorer_reset_drops_changes() -> None:
    explorer = PolicyExplorer("two-tabs-race", reuse_grace=10)

    explorer.reset()

    assert explorer.changes == {}
    assert "reuse_detected" in explorer.result.kinds()


def test_explorer_text_is_deterministic() -> None:
    assert PolicyExplorer(STOLEN).text() == PolicyExplorer(STOLEN).text()


def test_explorer_grace_slider_calls_set() -> None:
    explorer = PolicyExplorer("two-tabs-race")

    find(explorer, widgets.IntSlider, "grace (s)").value = 10

    assert explorer.changes == {"reuse_grace": 10}
    assert "reuse_detected" not in explorer.result.kinds()


def test_explorer_rotation_checkbox_shows_error() -> None:
    explorer = PolicyExplorer("two-tabs-race", reuse_grace=10)

    find(explorer, widgets.Checkbox, "rotate refresh tokens").value = False

    assert isinstance(explorer.error, tl.ConfigurationError)
    status = [w.value for w in descendants(explorer.widget) if isinstance(w, widgets.HTML)]
    assert any("reuse_grace only applies" in value for value in status)


def test_explorer_lifetime_slider_calls_set() -> None:
    explorer = PolicyExplorer(STOLEN)

    find(explorer, widgets.SelectionSlider, "access token").value = timedelta(minutes=10)

    assert explorer.result.policy.access_token_ttl == timedelta(minutes=10)


def test_explorer_dropdown_chooses_scenario() -> None:
    explorer = PolicyExplorer(STOLEN)

    find(explorer, widgets.Dropdown, "scenario").value = "idle-vs-absolute-expiry"

    assert explorer.scenario.name == "idle-vs-absolute-expiry"
    assert explorer.changes == {}


def test_explorer_controls_show_scenario_policy() -> None:
    explorer = PolicyExplorer("idle-vs-absolute-expiry")

    idle = find(explorer, widgets.SelectionSlider, "refresh, idle")
    absolute = find(explorer, widgets.SelectionSlider, "refresh, absolute")

    assert idle.value == timedelta(hours=1)
    assert absolute.value == timedelta(hours=4)
    assert explorer.changes == {}


def test_explorer_slider_adds_missing_stop() -> None:
    explorer = PolicyExplorer(STOLEN)
    slider = find(explorer, widgets.SelectionSlider, "access token")

    explorer.set(access_token_ttl=90)

    assert slider.value == timedelta(seconds=90)
    assert "90 s" in [label for label, _ in slider.options]


def test_explorer_dropdown_offers_custom_scenario() -> None:
    happy = get_scenario("happy-path")
    custom = Scenario(
        name="short-story", title="A short story", summary=happy.summary, explanation=happy.explanation,
        steps=happy.steps[:2],
    )
    explorer = PolicyExplorer(custom)
    dropdown = find(explorer, widgets.Dropdown, "scenario")

    dropdown.value = STOLEN
    dropdown.value = "short-story"

    assert explorer.scenario is custom
    assert len(explorer.result.steps) == 2
