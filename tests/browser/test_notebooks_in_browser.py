"""Run every notebook of the course in JupyterLab in Chromium, then work its widgets as a learner would.

Each notebook in ``notebooks/`` is opened in its own browser context, its
stored outputs are cleared, and Run > Run All Cells runs it in a fresh
kernel. The widget tests then click the buttons and drag the sliders of
every scenario player, token playground and policy explorer the notebook
shows, and check the texts and the timeline picture the kernel sends back.

Where a view's state is known, the expected text comes from the same view
built here in the test process (the views are thin layers over plain
methods, so the browser must show what those methods return). The rules of
``README.md`` give the checks that do not need such a copy: a replayed,
rotated refresh token fails with ``invalid_grant`` and revokes its family,
and a revoked access token is rejected at the revocation check.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import pytest

from tokenlab.policy import TokenPolicy
from tokenlab.scenarios import SCENARIOS, Scenario
from tokenlab.timeline import format_timeline
from tokenlab.widgets import LIFETIME_CHOICES, PolicyExplorer, ScenarioPlayer

pytestmark = pytest.mark.slow

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))
TEXT_TIMEOUT = 30
"""Seconds to wait for a widget's text to reach an expected value."""
SETTLE_SECONDS = 1.0
"""How long a timeline picture must stay the same to count as the current one."""


def code_sources(name: str) -> list[str]:
    cells = json.loads((NOTEBOOK_DIR / name).read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def notebooks_using(view: str) -> list[str]:
    """Return the notebooks with a code cell that builds ``view`` (a class name of tokenlab.widgets)."""
    call = re.compile(rf"\b{view}\(")
    return [name for name in NOTEBOOKS if any(call.search(source) for source in code_sources(name))]


# -- page helpers ---------------------------------------------------------------------------




def cell_source(view: Any) -> str:
    """Return the source of the code cell whose output is ``view``, as the page shows it, with its lines run together."""
    cell = view.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-CodeCell ')]")
    return cell.locator(".jp-InputArea-editor .cm-content").text_content() or ""


def button(view: Any, label: str) -> Any:
    """Return the widget button labelled ``label`` inside ``view``.

    Matched on its text, not with get_by_role: the accessible name also
    contains the Font Awesome icon's glyph, which CSS adds before the label.
    """
    return view.locator("button.jupyter-button").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def widget_views(page: Any, label: str) -> Any:
    """Return the widget outputs that contain a button labelled ``label``, the mark of one kind of view."""
    return page.locator(".jp-OutputArea-output").filter(has=button(page, label))


def wait_for_text(read: Callable[[], str], expected: str, what: str) -> None:
    """Poll ``read()`` until it returns ``expected``; fail with both texts when it does not within TEXT_TIMEOUT."""
    deadline = time.monotonic() + TEXT_TIMEOUT
    shown = read()
    while shown != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        shown = read()
    assert shown == expected, f"{what} shows:\n{shown}\n--- expected:\n{expected}"


class Picture:
    """The timeline image of a view, to check that the kernel sent a new picture after a click.

    ipywidgets sends an Image value only when its bytes change, so a click
    brings a new ``blob:`` URL exactly when the view's PNG changed.
    """

    def __init__(self, view: Any) -> None:
        self.image = view.locator("img.widget-image")
        self.source = self.image.get_attribute("src")

    def expect_new(self, after: str) -> None:
        """Wait until the image shows a new picture, then check that the browser decoded it."""
        from playwright.sync_api import expect

        expect(self.image, f"the timeline picture after {after}").not_to_have_attribute("src", self.source or "")
        self.source = self.image.get_attribute("src")
        width = self.image.evaluate("image => image.decode().then(() => image.naturalWidth)")
        assert width > 0, f"the timeline picture after {after} did not decode"

    def settle(self) -> None:
        """Wait until the picture has not changed for SETTLE_SECONDS, after a click that may or may not redraw it.

        The picture is the last update of a redraw, so it can still be on
        its way when the texts already show the new state.
        """
        steady_since = time.monotonic()
        while time.monotonic() - steady_since < SETTLE_SECONDS:
            time.sleep(0.1)
            source = self.image.get_attribute("src")
            if source != self.source:
                self.source, steady_since = source, time.monotonic()

    def follow(self, old_png: bytes | None, new_png: bytes | None, after: str) -> None:
        """Expect a new picture when the PNGs that a copy of the view rendered here differ, else settle."""
        if old_png is not None and new_png is not None and old_png != new_png:
            self.expect_new(after)
        else:
            self.settle()


def drag_slider(page: Any, slider: Any, stop: int, stops: int) -> None:
    """Drag the handle of a noUiSlider ``slider`` with the mouse to ``stop`` of ``stops`` evenly spaced stops (from 0)."""
    handle = slider.locator(".noUi-handle")
    track = slider.locator(".noUi-base").bounding_box()
    grip = handle.bounding_box()
    assert track is not None and grip is not None, "the slider is not visible"
    x = track["x"] + track["width"] * stop / (stops - 1)
    y = grip["y"] + grip["height"] / 2
    page.mouse.move(grip["x"] + grip["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


def scroll_to_top_of(element: Any) -> None:
    """Scroll the notebook so that ``element`` starts at the top of the window, as a learner reading it would."""
    element.evaluate("element => element.scrollIntoView({block: 'start'})")


def screenshot_view(notebooks: Any, notebook: Any, view: Any, suffix: str) -> None:
    scroll_to_top_of(view)
    notebooks.screenshot(notebook, suffix)


def assert_stayed_offline(notebook: Any) -> None:
    assert notebook.offsite_requests == [], f"{notebook.name} tried to reach other hosts: {notebook.offsite_requests}"


# -- running the notebooks -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_all_cells(notebooks, name):
    notebook = notebooks.run(name)
    page = notebook.page

    # The screenshot shows the first widget, or else the last figure, or else the last output.
    outputs = page.locator(".jp-OutputArea-output")
    for candidate in (outputs.filter(has=page.locator(".widget-image")).first, outputs.locator("img").last, outputs.last):
        if candidate.count():
            scroll_to_top_of(candidate)
            break
    notebooks.screenshot(notebook)

    assert page.get_by_text("Error displaying widget").count() == 0
    assert_stayed_offline(notebook)


# -- scenario player -----------------------------------------------------------------------------


def scenario_titled(title: str) -> Scenario:
    by_title = {scenario.title: scenario for scenario in SCENARIOS.values()}
    assert title in by_title, f"the player shows the title {title!r}, which no scenario has"
    return by_title[title]


def shown_position(status: Any) -> int:
    """Return the step number in the player's status line, "Step 3 of 9 at ..."."""
    found = re.search(r"Step (\d+) of \d+", status.inner_text())
    assert found is not None, f"the player's status line names no step: {status.inner_text()!r}"
    return int(found.group(1))


class PlayerCopy:
    """A ScenarioPlayer built here from the scenario name alone, moved to the positions the browser's player shows."""

    def __init__(self, scenario: str) -> None:
        self.player = ScenarioPlayer(scenario)

    def at(self, position: int) -> tuple[str, bytes]:
        """Return the event list and the timeline PNG the player shows after ``position`` steps."""
        self.player.go_to(position)
        result = self.player.result
        events = format_timeline(result.events) if result is not None and result.events else ""
        return events, self.player.png()


@pytest.mark.parametrize("name", notebooks_using("ScenarioPlayer"))
def test_scenario_player_steps_and_slides(notebooks, name):
    from playwright.sync_api import expect

    notebook = notebooks.run(name)
    page = notebook.page
    players = widget_views(page, "play")
    assert players.count() > 0, f"{name} builds a ScenarioPlayer but shows none"

    compared_events = 0
    for index in range(players.count()):
        view = players.nth(index)
        view.scroll_into_view_if_needed()
        texts = view.locator(".widget-html-content")
        header, status, events = texts.nth(0), texts.nth(1), texts.nth(2)
        slider = view.locator(".widget-slider")
        readout = slider.locator(".widget-readout")
        picture = Picture(view)

        scenario = scenario_titled(header.locator("h3").inner_text())
        count = len(scenario.steps)
        # A player built from the name alone uses the scenario's own policy, so a copy here must show the same.
        built_from_name = re.search(rf"ScenarioPlayer\(\s*[\"']{re.escape(scenario.name)}[\"']\s*\)", cell_source(view))
        copy = PlayerCopy(scenario.name) if built_from_name else None
        shown_png = copy.at(shown_position(status))[1] if copy is not None else None

        def expect_position(position: int, after: str) -> None:
            nonlocal compared_events, shown_png
            if position == 0:
                expect(status).to_contain_text(f"Step 0 of {count}: press step to begin.")
            else:
                expect(status).to_contain_text(f"Step {position} of {count} at ")
                expect(status).to_contain_text(scenario.steps[position - 1].note)
            expect(readout).to_have_text(str(position))
            if copy is None:
                picture.settle()
                return
            expected_events, png = copy.at(position)
            wait_for_text(events.inner_text, expected_events, f"the event list after {after}")
            compared_events += bool(expected_events)
            picture.follow(shown_png, png, after)
            shown_png = png

        if button(view, "reset").is_enabled():
            button(view, "reset").click()
            expect_position(0, "reset")
        expect(button(view, "reset")).to_be_disabled()
        expect(button(view, "back")).to_be_disabled()
        expect(events).to_have_text("")

        for position in range(1, min(count, 2) + 1):
            button(view, "step").click()
            expect_position(position, f"step {position}")

        drag_slider(page, slider, count, count + 1)
        expect_position(count, "dragging the slider to the end")
        expect(button(view, "step")).to_be_disabled()
        expect(button(view, "play")).to_be_disabled()

        button(view, "back").click()
        expect_position(count - 1, "back")
        expect(button(view, "step")).to_be_enabled()

        button(view, "play").click()
        expect_position(count, "play")

        screenshot_view(notebooks, notebook, view, f"-player{index + 1}")

    if any(re.search(r"ScenarioPlayer\(\s*[\"'][\w-]+[\"']\s*\)", source) for source in code_sources(name)):
        assert compared_events > 0, "no player's event list was compared with a player built in the test process"
    assert_stayed_offline(notebook)


# -- token playground ------------------------------------------------------------------------------


def panes_of(view: Any) -> dict[str, Any]:
    """Return the playground's three actor panes, by the title each starts with."""
    return {
        title: view.locator(".widget-html-content").filter(has_text=re.compile(rf"^{title}"))
        for title in ("User app", "Attacker", "Resource server")
    }


def shown_time(status: Any) -> datetime:
    """Return the simulated time in the playground's status line (HH:MM:SS, maybe after a date) as a time of day."""
    text = status.locator("b").first.inner_text()
    return datetime.strptime(text[-8:], "%H:%M:%S")


@pytest.mark.parametrize("name", notebooks_using("TokenPlayground"))
def test_token_playground_buttons(notebooks, name):
    from playwright.sync_api import expect

    notebook = notebooks.run(name)
    page = notebook.page
    playgrounds = widget_views(page, "Steal refresh token")
    assert playgrounds.count() > 0, f"{name} builds a TokenPlayground but shows none"

    for index in range(playgrounds.count()):
        view = playgrounds.nth(index)
        view.scroll_into_view_if_needed()
        panes = panes_of(view)
        user, attacker, server = panes["User app"], panes["Attacker"], panes["Resource server"]
        status = view.locator(".widget-html-content").filter(has_text=re.compile(r"^(\d+ \w+ )?\d\d:\d\d:\d\d"))
        picture = Picture(view)
        # The defaults rotate refresh tokens and detect reuse; a playground given another policy skips those checks.
        default_policy = re.search(r"TokenPlayground\(\s*\)", cell_source(view)) is not None

        # Log in: a new token family, whatever the notebook's cells did with this playground before.
        button(view, "Log in").click()
        picture.expect_new("Log in")
        expect(user).to_contain_text(re.compile(r"logged in as \w+, got AT\d+ and RT\d+ \(family F\d+\)"))
        login = re.search(r"got (AT\d+) and (RT\d+) \(family (F\d+)\)", user.inner_text())
        assert login is not None
        access, refresh, family = login.groups()
        expect(user).to_contain_text(f"holds {access} (expires ")

        button(view, "Call API").click()
        picture.expect_new("Call API")
        expect(user).to_contain_text(f"sent {access}: 200 OK")
        expect(server).to_contain_text(f"accepted {access} from user")

        # Stealing records no event, so the picture may stay the same.
        button(view, "Steal refresh token").click()
        expect(attacker).to_contain_text(f"copied {refresh} from the user")
        expect(attacker).to_contain_text(f"holds {refresh}")

        button(view, "Refresh").click()
        picture.expect_new("Refresh")
        expect(user).to_contain_text(re.compile(rf"refreshed {refresh}, got AT\d+ and RT\d+"))
        refreshed = re.search(rf"refreshed {refresh}, got (AT\d+) and (RT\d+)", user.inner_text())
        assert refreshed is not None
        new_access, new_refresh = refreshed.groups()

        button(view, "Replay as attacker").click()
        picture.expect_new("Replay as attacker")
        expect(attacker).to_contain_text(re.compile(rf"replay(ed| of) {refresh}"))
        screenshot_view(notebooks, notebook, view, f"-playground{index + 1}")
        if default_policy:
            assert new_refresh != refresh, "with rotation on, a refresh must return a new refresh token"
            expect(attacker).to_contain_text(f"replay of {refresh} failed with invalid_grant")
            expect(status).to_contain_text("Reuse detected")
            expect(status).to_contain_text(f"{refresh}")

            # Reuse detection revoked the whole family, the user's new access token with it.
            button(view, "Call API").click()
            picture.expect_new("Call API after the replay")
            expect(server).to_contain_text(f"rejected {new_access} from user (revocation)")
            expect(user).to_contain_text(f"sent {new_access}: 401 Unauthorized invalid_token (revocation)")
            expect(user).to_contain_text(f"refresh with {new_refresh} failed: invalid_grant")

        button(view, "Log in").click()
        picture.expect_new("Log in again")
        expect(user).to_contain_text(re.compile(r"logged in as \w+, got AT\d+ and RT\d+ \(family F\d+\)"))
        expect(user).not_to_contain_text(f"(family {family})")
        login = re.search(r"got (AT\d+) and (RT\d+) \(family (F\d+)\)", user.inner_text())
        assert login is not None
        access, refresh, family = login.groups()

        button(view, "Revoke access token").click()
        picture.expect_new("Revoke access token")
        expect(user).to_contain_text(f"revoked {access}: the API rejects it from now on")

        # The user's app is a reactive client: after the 401 it refreshes once and retries with a new access token.
        button(view, "Call API").click()
        picture.expect_new("Call API after revoking the access token")
        expect(server).to_contain_text(f"rejected {access} from user (revocation)")
        expect(user).to_contain_text(re.compile(rf"sent {access}: 401 .*; refreshed with {refresh}; retried with AT\d+: 200 OK"))

        before = shown_time(status)
        minutes = view.locator(".widget-text input")
        minutes.fill("10")
        minutes.press("Enter")
        button(view, "Wait").click()
        picture.expect_new("Wait")
        expect(status).to_contain_text("10 min passed")
        assert shown_time(status) - before == timedelta(minutes=10)
        if default_policy:
            expect(user).to_contain_text("(expired ")

        button(view, "Log out").click()
        picture.expect_new("Log out")
        expect(user).to_contain_text(re.compile(rf"logged out: RT\d+ revoked, family {family} ended"))
        expect(user).to_contain_text("holds no tokens")

    assert_stayed_offline(notebook)


# -- policy explorer -------------------------------------------------------------------------------


def explorer_text(view: Any) -> str:
    """Return what the explorer shows below its controls, in the form of PolicyExplorer.text() without its title."""
    texts = view.locator(".widget-html-content")
    status, steps = texts.nth(0).inner_text(), texts.nth(1).inner_text()
    return f"{status}\nSteps:\n{steps}" if steps else status


class ExplorerCopy:
    """PolicyExplorers built here, to give the text and picture the browser's explorer must show for a set of changes."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario

    def at(self, **changes: Any) -> tuple[str, bytes]:
        """Return the explorer's text below its title and its timeline PNG, with ``changes`` to the scenario's policy."""
        explorer = PolicyExplorer(self.scenario, **changes)
        return "\n".join(explorer.text().splitlines()[1:]), explorer.png()


@pytest.mark.parametrize("name", notebooks_using("PolicyExplorer"))
def test_policy_explorer_slider_and_switch(notebooks, name):
    from playwright.sync_api import expect

    notebook = notebooks.run(name)
    page = notebook.page
    explorers = widget_views(page, "reset policy")
    assert explorers.count() > 0, f"{name} builds a PolicyExplorer but shows none"

    for index in range(explorers.count()):
        view = explorers.nth(index)
        view.scroll_into_view_if_needed()
        picture = Picture(view)
        scenario = view.locator(".widget-dropdown select").input_value().split(":")[0]
        assert scenario in SCENARIOS, f"the explorer shows {scenario!r}, which is not one of tokenlab's scenarios"
        policy = TokenPolicy().replace(**SCENARIOS[scenario].policy)
        copy = ExplorerCopy(scenario)

        # After "reset policy" the explorer shows the scenario's own policy, whatever the notebook changed.
        button(view, "reset policy").click()
        text, png = copy.at()
        wait_for_text(lambda: explorer_text(view), text, "the explorer after reset policy")
        expect(view).to_contain_text("Changed from the scenario's policy: nothing")
        picture.settle()

        # Drag the idle-lifetime slider one stop to the right (to the left from the last stop).
        field = "refresh_token_idle_ttl"
        current = getattr(policy, field)
        stops = sorted(set(LIFETIME_CHOICES[field]) | {current})
        position = stops.index(current)
        target = position + 1 if position + 1 < len(stops) else position - 1
        slider = view.locator(".widget-slider").filter(has_text="refresh, idle")
        drag_slider(page, slider, target, len(stops))
        moved = {field: stops[target]}
        text, moved_png = copy.at(**moved)
        wait_for_text(lambda: explorer_text(view), text, "the explorer after the slider")
        expect(view).to_contain_text(f"Changed from the scenario's policy: {field} ")
        picture.follow(png, moved_png, "dragging the idle-lifetime slider")
        screenshot_view(notebooks, notebook, view, f"-explorer{index + 1}")

        view.get_by_role("checkbox", name="rotate refresh tokens").click()
        switched = {**moved, "rotate_refresh_tokens": not policy.rotate_refresh_tokens}
        text, switched_png = copy.at(**switched)
        wait_for_text(lambda: explorer_text(view), text, "the explorer after the rotation switch")
        expect(view).to_contain_text(f"rotation {'on' if switched['rotate_refresh_tokens'] else 'off'}")
        picture.follow(moved_png, switched_png, "the rotation switch")

        button(view, "reset policy").click()
        text, reset_png = copy.at()
        wait_for_text(lambda: explorer_text(view), text, "the explorer after reset policy")
        picture.follow(switched_png, reset_png, "reset policy")

    assert_stayed_offline(notebook)
