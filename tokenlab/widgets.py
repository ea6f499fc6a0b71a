"""Interactive views for the notebooks: a scenario player, a token playground and a policy explorer.

Each view is a thin layer over plain methods that tests and notebook cells
call directly. Every button and slider calls one of those methods, and no token
rule lives here. The views read the engine, :mod:`tokenlab.scenarios`,
:mod:`tokenlab.client` and :mod:`tokenlab.timeline`, and show:

* a deterministic text (:meth:`text`), which is also the ``text/plain`` of the
  view, so that nbval can compare stored notebook outputs;
* a timeline figure (:meth:`figure`), drawn with matplotlib's object API and
  shown in the widget as PNG bytes in an :class:`ipywidgets.Image`.

Displaying a view in a notebook sends the interactive widget together with a
static PNG and the text, so front ends without a widget manager (nbviewer,
GitHub, nbconvert without widget state) still show the picture and the text.

The ipywidgets container is built on first access to ``.widget`` (or on
display). Until then the methods only change state, and the figure is drawn
when :meth:`figure` or :meth:`png` asks for it; once the widget exists, every
change redraws it.

This module imports ipywidgets and matplotlib; ``import tokenlab`` does not
load it.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

import ipywidgets as widgets
from matplotlib.dates import num2date
from matplotlib.figure import Figure

from .authority import TokenAuthority
from .client import Client, ClientCall, ProtectedApi
from .clock import DEFAULT_START, SimulatedClock, to_timedelta
from .errors import ConfigurationError, TokenlabError
from .events import Event, EventKind
from .keys import demo_key
from .policy import TokenPolicy
from .scenarios import (
    API_SCOPE,
    CLIENT_ID,
    DEFAULT_SCOPE,
    DEFAULT_SUBJECT,
    SCENARIOS,
    Scenario,
    ScenarioResult,
    ScenarioRun,
    StepResult,
    get_scenario,
)
from .store import MemoryStore
from .timeline import format_timeline, plot_timeline, summarize

__all__ = ["PolicyExplorer", "ScenarioPlayer", "TokenPlayground"]

PNG_DPI = 80
"""Resolution of the timeline PNG. The timeline figure is 12 inches wide, so the picture is 960 pixels wide."""

_PNG_OPTIONS = {"compress_level": 3}
"""zlib level for the PNG. Level 3 saved about 10 ms per render over the default 6 for a 33-event timeline,
for a file about 7% larger (an estimate from one 2-core machine with matplotlib 3.11)."""

_ERROR_STYLE = "color:#B00020"
_PANE_LAYOUT = {"border": "1px solid #C8C8C8", "padding": "4px 8px", "width": "33%"}

_FINGERPRINT_IN_BRACKETS = re.compile(r" \(([0-9a-f]{8})\)")
_BARE_FINGERPRINT = re.compile(r"\b[0-9a-f]{8}\b")


# -- text helpers --------------------------------------------------------------


def _time_text(moment: datetime, start: datetime) -> str:
    """Format a simulated time as HH:MM:SS, adding milliseconds when set and the date when it differs from ``start``."""
    text = f"{moment:%H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    if moment.date() != start.date():
        text = f"{moment.day} {moment:%b} {text}"
    return text


def _duration_text(delta: timedelta) -> str:
    """Format a duration in the largest unit that divides it exactly: "30 d", "36 h", "90 min", "45 s"."""
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _policy_text(policy: TokenPolicy) -> str:
    """Describe the policy fields that change scenario outcomes, on one line."""
    parts = [
        f"access token {_duration_text(policy.access_token_ttl)}",
        f"refresh token {_duration_text(policy.refresh_token_ttl)} absolute, "
        f"{_duration_text(policy.refresh_token_idle_ttl)} idle",
        f"rotation {'on' if policy.rotate_refresh_tokens else 'off'}",
        f"reuse detection {'on' if policy.detect_reuse else 'off'}",
        f"grace {_duration_text(policy.reuse_grace) if policy.reuse_grace else '0 s'}",
    ]
    if policy.leeway:
        parts.append(f"leeway {_duration_text(policy.leeway)}")
    return "; ".join(parts)


def _error_text(error: TokenlabError, events: Iterable[Event] = ()) -> str:
    """Return an error's code and message, with refresh token fingerprints replaced by labels."""
    return f"{error.error}: {_without_fingerprints(error.message, events)}"


def _without_fingerprints(text: str, events: Iterable[Event]) -> str:
    """Replace the token fingerprints that ``events`` know with the tokens' labels.

    Refresh tokens are random, so their fingerprints change from run to run
    while the labels (``RT1``) repeat. Messages that show them stay identical
    across runs once "RT1 (a1b2c3d4)" reads "RT1".
    """
    labels = {event.token: event.label for event in events if event.token}
    if not labels:
        return text

    def drop_bracketed(match: re.Match[str]) -> str:
        return "" if match.group(1) in labels else match.group(0)

    def label_of(match: re.Match[str]) -> str:
        if match.group(0) not in labels:
            return match.group(0)
        return labels[match.group(0)] or "a token"

    text = _FINGERPRINT_IN_BRACKETS.sub(drop_bracketed, text)
    return _BARE_FINGERPRINT.sub(label_of, text)


def _pre(text: str) -> str:
    return f"<pre style='margin:0;white-space:pre-wrap'>{html.escape(text)}</pre>"


def _render_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, pil_kwargs=_PNG_OPTIONS)
    return buffer.getvalue()


def _button(description: str, tooltip: str, action: Callable[[], object], icon: str = "") -> widgets.Button:
    button = widgets.Button(description=description, tooltip=tooltip, icon=icon)
    button.on_click(lambda _button: action())
    return button


# -- the shared view machinery ------------------------------------------------------


class _TimelineView:
    """Base class of the three views, with the cached figure and PNG, the lazily built widget, and display.

    Subclasses implement :meth:`text`, ``_draw`` (return the Axes of a new
    timeline), ``_build_widget`` and ``_update_view``, and call ``_changed``
    after every state change.
    """

    def __init__(self) -> None:
        self._figure: Figure | None = None
        self._png: bytes | None = None
        self._widget: widgets.Box | None = None
        self._children: list[widgets.Widget] = []

    def text(self) -> str:
        raise NotImplementedError

    def figure(self) -> Figure:
        """Return the current timeline as a matplotlib Figure.

        The same Figure is returned until the state changes. It is not
        registered with pyplot, so nothing needs closing: it is freed once
        no reference to it is left.
        """
        if self._figure is None:
            self._figure = self._draw().figure
        return self._figure

    def png(self) -> bytes:
        """Return the current timeline as PNG bytes, rendered at most once per state."""
        if self._png is None:
            self._png = _render_png(self.figure())
        return self._png

    @property
    def widget(self) -> widgets.Box:
        """The ipywidgets container with the controls, the texts and the timeline image; built on first use."""
        if self._widget is None:
            self._widget = self._build_widget()
            self._update_view()
        return self._widget

    def close(self) -> None:
        """Close the ipywidgets this view created, so the kernel stops tracking them."""
        for child in self._children:
            child.close()
        if self._widget is not None:
            self._widget.close()
        self._children = []
        self._widget = None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Return the widget view, the static PNG and the deterministic text (IPython's display protocol)."""
        bundle = dict(self.widget._repr_mimebundle_())
        bundle["text/plain"] = self.text()
        bundle["image/png"] = base64.b64encode(self.png()).decode("ascii")
        return bundle

    def _changed(self) -> None:
        """Forget the drawn state and, when the widget exists, redraw it."""
        self._figure = None
        self._png = None
        if self._widget is not None:
            self._update_view()

    def _track(self, child: widgets.Widget) -> Any:
        self._children.append(child)
        return child

    def _image(self) -> widgets.Image:
        return self._track(widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto")))

    def _draw(self) -> Any:
        raise NotImplementedError

    def _build_widget(self) -> widgets.Box:
        raise NotImplementedError

    def _update_view(self) -> None:
        raise NotImplementedError


# -- scenario player ----------------------------------------------------------------


def _scenario_window(run: ScenarioRun, start: datetime) -> tuple[datetime, datetime]:
    """Return a plot window spanning the whole of ``run`` when played to its end.

    The window is computed once, so the time axis stays put while the
    learner steps. It is the window that :func:`plot_timeline` picks for the
    finished run: that window measures the notes of the last moments and
    leaves them room right of their markers, where a shorter window would
    push them left, over the bars. A step that cannot run under the run's
    policy ends the window at the steps before it.
    """
    try:
        run.run()
    except TokenlabError:
        pass
    if not run.events:
        return start - timedelta(seconds=5), start + timedelta(minutes=2)
    first, last = plot_timeline(run.events, now=run.now).get_xlim()
    return num2date(first), num2date(last)


class ScenarioPlayer(_TimelineView):
    """Play a scenario one step at a time, with the timeline up to the current step.

    ``scenario`` is a :class:`~tokenlab.scenarios.Scenario` or its name;
    ``policy`` and ``overrides`` change the policy as for
    :class:`~tokenlab.scenarios.ScenarioRun`, for example ``reuse_grace=10``.
    An invalid policy raises :class:`~tokenlab.ConfigurationError` here.

    :meth:`step`, :meth:`back`, :meth:`reset` and :meth:`play` are what the
    buttons call. A step that cannot run under the chosen policy (a scenario
    that introspects ``RT4`` when rotation is off never issues ``RT4``) does
    not raise: its error is kept in :attr:`error` and shown instead.
    """

    def __init__(self, scenario: Scenario | str, *, policy: TokenPolicy | None = None, **overrides: Any) -> None:
        super().__init__()
        self.run = ScenarioRun(scenario, policy=policy, **overrides)
        self.scenario = self.run.scenario
        self.error: TokenlabError | None = None
        """The error of the last step that could not run, or ``None``."""
        self._start = self.run.now
        self._window = _scenario_window(ScenarioRun(scenario, policy=policy, **overrides), self._start)

    @property
    def position(self) -> int:
        """How many steps have run."""
        return self.run.position

    @property
    def result(self) -> StepResult | None:
        """The result of the step that ran last, or ``None`` before the first step."""
        return self.run.results[-1] if self.run.results else None

    def step(self) -> StepResult | None:
        """Run the next step and return its result; at the end, or when the step cannot run, return ``None``."""
        if self.run.done:
            return None
        result = self._advance()
        self._changed()
        return result

    def back(self) -> None:
        """Undo the last step: the run replays the steps before it on a fresh authority."""
        self.error = None
        self.run.back()
        self._changed()

    def reset(self) -> None:
        """Go back to before the first step."""
        self.error = None
        self.run.reset()
        self._changed()

    def play(self) -> None:
        """Run every remaining step, then redraw once."""
        while not self.run.done and self._advance() is not None:
            pass
        self._changed()

    def go_to(self, position: int) -> None:
        """Show the state after ``position`` steps, stepping forward or replaying from the start."""
        position = max(0, min(int(position), len(self.scenario.steps)))
        if position == self.run.position:
            return
        if position < self.run.position:
            self.error = None
            self.run.reset()
        while self.run.position < position and self._advance() is not None:
            pass
        self._changed()

    def _advance(self) -> StepResult | None:
        if self.run.done:
            return None
        try:
            result = self.run.step()
        except TokenlabError as exc:
            self.error = exc
            return None
        self.error = None
        return result

    # -- what it shows ---------------------------------------------------------

    def text(self) -> str:
        """Return the scenario title, the step number, the step's note and outcome, and the events it recorded."""
        count = len(self.scenario.steps)
        lines = [f"{self.scenario.title} ({self.scenario.name})"]
        result = self.result
        if result is None:
            lines.append(f"Step 0/{count}: not started. {self.scenario.summary}")
        else:
            lines.append(f"Step {self.position}/{count} at {_time_text(result.time, self._start)}: {result.display_note}")
            lines.append(f"Outcome: {_without_fingerprints(result.outcome, self.run.events)}")
        if self.error is not None:
            next_step = self.scenario.steps[self.position]
            lines.append(
                f"Step {self.position + 1} ({next_step.action}) cannot run with this policy: "
                f"{_error_text(self.error, self.run.events)}"
            )
        if result is not None:
            lines.append("Events recorded by this step:")
            lines.append(format_timeline(result.events) if result.events else "(none)")
        return "\n".join(lines)

    def _draw(self) -> Any:
        return plot_timeline(self.run.events, now=self.run.now, window=self._window)

    def _build_widget(self) -> widgets.Box:
        count = len(self.scenario.steps)
        self._header = self._track(widgets.HTML(
            f"<h3 style='margin:4px 0'>{html.escape(self.scenario.title)}</h3>"
            f"<p style='margin:4px 0'>{html.escape(self.scenario.explanation)}</p>"
        ))
        self._buttons = {
            "reset": self._track(_button("reset", "Go back to before the first step", self.reset, "fast-backward")),
            "back": self._track(_button("back", "Undo the last step", self.back, "step-backward")),
            "step": self._track(_button("step", "Run the next step", self.step, "step-forward")),
            "play": self._track(_button("play", "Run every remaining step", self.play, "play")),
        }
        self._slider = self._track(widgets.IntSlider(
            value=self.position, min=0, max=count, description="step", continuous_update=False,
        ))
        self._slider.observe(lambda change: self.go_to(change["new"]), names="value")
        self._status = self._track(widgets.HTML())
        self._events_view = self._track(widgets.HTML())
        self._picture = self._image()
        controls = self._track(widgets.HBox([*self._buttons.values(), self._slider]))
        return widgets.VBox([self._header, controls, self._status, self._events_view, self._picture])

    def _update_view(self) -> None:
        count = len(self.scenario.steps)
        at_start, at_end = self.position == 0, self.run.done
        self._buttons["reset"].disabled = at_start and self.error is None
        self._buttons["back"].disabled = at_start
        self._buttons["step"].disabled = at_end
        self._buttons["play"].disabled = at_end
        # go_to() returns at once when the slider already shows the position, so this cannot loop.
        self._slider.value = self.position

        result = self.result
        if result is None:
            status = f"<b>Step 0 of {count}</b>: press <i>step</i> to begin. {html.escape(self.scenario.summary)}"
        else:
            outcome = _without_fingerprints(result.outcome, self.run.events)
            status = (
                f"<b>Step {self.position} of {count}</b> at {_time_text(result.time, self._start)}: "
                f"{html.escape(result.display_note)}<br><b>Outcome:</b> {html.escape(outcome)}"
            )
        if self.error is not None:
            status += f"<br><span style='{_ERROR_STYLE}'>{html.escape(_error_text(self.error, self.run.events))}</span>"
        self._status.value = status
        events = format_timeline(result.events) if result is not None and result.events else ""
        self._events_view.value = _pre(events) if events else ""
        self._picture.value = self.png()

    def __repr__(self) -> str:
        return f"ScenarioPlayer({self.scenario.name!r}, step {self.position} of {len(self.scenario.steps)})"


# -- token playground ---------------------------------------------------------------


def _server_outcome(events: Sequence[Event]) -> str | None:
    """Describe what the resource server decided about each access token it was shown, or ``None``."""
    parts = []
    for event in events:
        if event.token_type != "access_token" or event.actor is None:
            continue
        label = event.label or "an unknown token"
        if event.kind is EventKind.VERIFIED:
            parts.append(f"accepted {label} from {event.actor}")
        elif event.kind in (EventKind.REJECTED, EventKind.EXPIRED):
            parts.append(f"rejected {label} from {event.actor} ({event.check or event.error})")
    return "; ".join(parts) or None


class TokenPlayground(_TimelineView):
    """A sandbox with a user's app, an attacker and a resource server, driven by buttons.

    The user is a :class:`~tokenlab.client.Client` (client id ``app``,
    reactive refresh) logged in as ``alice`` when the playground opens. The
    attacker is a second client of the same application, without tokens
    until :meth:`steal` copies the user's refresh token. Every method returns
    one line saying what each actor involved got back, and redraws. Errors
    from the engine never escape: they are shown as their OAuth error code
    and message.

    ``policy`` defaults to the secure defaults with readable ids
    (``at-1``, ``F1``). Time moves only with :meth:`wait`.
    """

    def __init__(self, policy: TokenPolicy | None = None) -> None:
        super().__init__()
        if policy is not None and not isinstance(policy, TokenPolicy):
            raise ConfigurationError(f"policy must be a TokenPolicy, not {type(policy).__name__}")
        self.policy = policy if policy is not None else TokenPolicy(readable_ids=True)
        self.clock = SimulatedClock(DEFAULT_START)
        self.authority = TokenAuthority(
            policy=self.policy, clock=self.clock, store=MemoryStore(), key=demo_key("RS256")
        )
        self.api = ProtectedApi(self.authority, required_scope=API_SCOPE, name="api")
        self.user = Client(self.authority, self.api, client_id=CLIENT_ID, name="user")
        self.attacker = Client(self.authority, self.api, client_id=CLIENT_ID, name="attacker")
        self.outcomes: dict[str, str] = {
            "user": "not logged in yet",
            "attacker": "nothing stolen yet",
            "resource server": "no request yet",
        }
        """What each actor got back last, with the time."""
        self.last_action = ""
        """The line the last method returned."""
        self.last_failed = False
        """True when the last action ended in an error or a failed request."""
        self.last_events: list[Event] = []
        """The events the last action recorded."""
        self._start = self.clock.now()
        self.login()

    # -- actions ---------------------------------------------------------------

    def login(self) -> str:
        """Log the user in again: a new grant, a new token family."""

        def act() -> tuple[dict[str, str], bool]:
            pair = self.user.login(DEFAULT_SUBJECT, DEFAULT_SCOPE)
            got = f"logged in as {DEFAULT_SUBJECT}, got {pair.access_label} and {pair.refresh_label} (family {pair.family_id})"
            return {"user": got}, True

        return self._act("user", act)

    def call_api(self) -> str:
        """Let the user's app call the API; it refreshes once and retries after a 401, as a reactive client does."""

        def act() -> tuple[dict[str, str], bool]:
            call = self.user.call_api()
            return {"user": self._call_text(call)}, call.ok

        return self._act("user", act)

    def wait(self, minutes: float) -> str:
        """Let ``minutes`` of simulated time pass."""

        def act() -> tuple[dict[str, str], bool]:
            before = self.clock.now()
            after = self.clock.advance(minutes=minutes)
            passed = _duration_text(after - before) if after > before else "no time"
            return {"clock": f"{passed} passed, now {_time_text(after, self._start)}"}, True

        return self._act("clock", act)

    def refresh(self) -> str:
        """Let the user's app exchange its refresh token now."""

        def act() -> tuple[dict[str, str], bool]:
            presented = self.user.tokens.refresh_label if self.user.tokens else None
            tokens = self.user.refresh()
            same = " (the same refresh token: rotation is off)" if tokens.refresh_label == presented else ""
            return {"user": f"refreshed {presented}, got {tokens.access_label} and {tokens.refresh_label}{same}"}, True

        return self._act("user", act)

    def steal(self) -> str:
        """Let the attacker copy the user's current refresh token."""

        def act() -> tuple[dict[str, str], bool]:
            held = self.user.tokens
            if held is None or held.refresh_token is None:
                return {"attacker": "nothing to steal: the user holds no refresh token"}, False
            self.attacker.hold(held.only_refresh_token())
            return {"attacker": f"copied {held.refresh_label} from the user"}, True

        return self._act("attacker", act)

    def replay(self) -> str:
        """Let the attacker present its copy of the refresh token and, if that works, call the API with the new access token."""

        def act() -> tuple[dict[str, str], bool]:
            held = self.attacker.tokens
            if held is None or held.refresh_token is None:
                return {"attacker": "holds no refresh token: steal one first"}, False
            try:
                tokens = self.attacker.refresh()
            except TokenlabError as exc:
                return {"attacker": f"replay of {held.refresh_label} failed with {self._error(exc)}"}, False
            call = self.attacker.call_api(auto_refresh=False)
            got = f"replayed {held.refresh_label}, got {tokens.access_label} and {tokens.refresh_label}; {self._call_text(call)}"
            return {"attacker": got}, call.ok

        return self._act("attacker", act)

    def revoke_access(self) -> str:
        """Let the user's app revoke its access token, which puts it on the deny-list until it expires."""

        def act() -> tuple[dict[str, str], bool]:
            held = self.user.tokens
            if held is None or held.access_token is None:
                return {"user": "holds no access token to revoke"}, False
            changed = self.authority.revoke(
                held.access_token, client_id=CLIENT_ID, token_type_hint="access_token", actor=self.user.name
            )
            if not changed:
                last = self.authority.events.last()
                reason = last.reason if last is not None and last.reason else "nothing to revoke"
                return {"user": f"revoking {held.access_label} had no effect ({reason})"}, True
            return {"user": f"revoked {held.access_label}: the API rejects it from now on; the refresh token still works"}, True

        return self._act("user", act)

    def logout(self) -> str:
        """Let the user log out: the app revokes its refresh token, which ends the whole family."""

        def act() -> tuple[dict[str, str], bool]:
            held = self.user.tokens
            if not self.user.logout():
                return {"user": "logged out; nothing was left to revoke"}, True
            assert held is not None
            ended = f", family {held.family_id} ended" if held.refresh_token else ""
            revoked = held.refresh_label or held.access_label
            return {"user": f"logged out: {revoked} revoked{ended}"}, True

        return self._act("user", act)

    def _act(self, actor: str, action: Callable[[], tuple[dict[str, str], bool]]) -> str:
        """Run ``action``, catching engine errors, then record each actor's outcome and redraw."""
        first_event = len(self.authority.events)
        try:
            outcomes, ok = action()
        except TokenlabError as exc:
            outcomes, ok = {actor: f"failed with {self._error(exc)}"}, False
        self.last_events = self.authority.events[first_event:]
        server = _server_outcome(self.last_events)
        if server is not None:
            outcomes["resource server"] = server

        stamp = _time_text(self.clock.now(), self._start)
        for name, outcome in outcomes.items():
            if name in self.outcomes:
                self.outcomes[name] = f"at {stamp}: {outcome}"
        self.last_action = " | ".join(f"{name}: {outcome}" for name, outcome in outcomes.items())
        self.last_failed = not ok
        self._changed()
        return self.last_action

    def _error(self, error: TokenlabError) -> str:
        return _error_text(error, self.authority.events)

    def _call_text(self, call: ClientCall) -> str:
        # describe() already names the error code, so only the message is added.
        text = call.describe()
        if call.exception is not None:
            text += f". {_without_fingerprints(call.exception.message, self.authority.events)}"
        return text

    # -- what it shows ---------------------------------------------------------

    def _holding(self, client: Client) -> str:
        held = client.tokens
        if held is None:
            return "holds no tokens"
        parts = []
        if held.access_token is not None and held.expires_at is not None:
            state = "expired" if self.clock.now() >= held.expires_at else "expires"
            parts.append(f"{held.access_label} ({state} {_time_text(held.expires_at, self._start)})")
        if held.refresh_token is not None:
            parts.append(str(held.refresh_label))
        return "holds " + " and ".join(parts)

    def text(self) -> str:
        """Return the time, the policy, the last action, each actor's tokens and last outcome, and the last events."""
        lines = [
            f"Token playground at {_time_text(self.clock.now(), self._start)}; policy: {_policy_text(self.policy)}",
            f"Last action: {self.last_action}",
            f"User app: {self._holding(self.user)}; last outcome {self.outcomes['user']}",
            f"Attacker: {self._holding(self.attacker)}; last outcome {self.outcomes['attacker']}",
            f"Resource server: last outcome {self.outcomes['resource server']}",
            f"So far: {summarize(self.authority.events)}",
            "Events of the last action:",
            format_timeline(self.last_events) if self.last_events else "(none)",
        ]
        return "\n".join(lines)

    def _draw(self) -> Any:
        return plot_timeline(self.authority.events, now=self.clock.now())

    def _build_widget(self) -> widgets.Box:
        self._minutes = self._track(widgets.BoundedFloatText(
            value=5, min=0, max=60 * 24 * 90, step=1, description="minutes",
            layout=widgets.Layout(width="170px"),
        ))
        self._buttons = {
            "login": self._track(_button("Log in", "Log the user in again: a new token family", self.login, "sign-in")),
            "call_api": self._track(_button("Call API", "The user's app calls the API", self.call_api, "cloud")),
            "wait": self._track(_button(
                "Wait", "Let the number of minutes on the left pass", lambda: self.wait(self._minutes.value), "clock-o"
            )),
            "refresh": self._track(_button("Refresh", "The user's app exchanges its refresh token", self.refresh, "refresh")),
            "steal": self._track(_button("Steal refresh token", "The attacker copies the user's refresh token", self.steal, "user-secret")),
            "replay": self._track(_button("Replay as attacker", "The attacker presents the copied refresh token", self.replay, "repeat")),
            "revoke_access": self._track(_button(
                "Revoke access token", "The user's app revokes its access token", self.revoke_access, "ban"
            )),
            "logout": self._track(_button("Log out", "The user's app revokes its refresh token", self.logout, "sign-out")),
        }
        buttons = self._buttons
        user_row = self._track(widgets.HBox([
            buttons["login"], buttons["call_api"], buttons["refresh"], self._minutes, buttons["wait"],
        ]))
        other_row = self._track(widgets.HBox([
            buttons["revoke_access"], buttons["logout"], buttons["steal"], buttons["replay"],
        ]))
        self._status = self._track(widgets.HTML())
        self._panes = {
            name: self._track(widgets.HTML(layout=widgets.Layout(**_PANE_LAYOUT)))
            for name in ("user", "attacker", "resource server")
        }
        panes = self._track(widgets.HBox(list(self._panes.values())))
        self._picture = self._image()
        return widgets.VBox([user_row, other_row, self._status, panes, self._picture])

    def _update_view(self) -> None:
        now = _time_text(self.clock.now(), self._start)
        style = f" style='{_ERROR_STYLE}'" if self.last_failed else ""
        self._status.value = (
            f"<b>{now}</b> &nbsp; <span{style}>{html.escape(self.last_action)}</span>"
            f"<br><i>{html.escape(summarize(self.authority.events))}</i>"
        )
        holdings = {"user": self._holding(self.user), "attacker": self._holding(self.attacker), "resource server": ""}
        titles = {"user": "User app", "attacker": "Attacker", "resource server": "Resource server"}
        for name, pane in self._panes.items():
            held = f"{html.escape(holdings[name])}<br>" if holdings[name] else ""
            pane.value = f"<b>{titles[name]}</b><br>{held}<small>{html.escape(self.outcomes[name])}</small>"
        self._picture.value = self.png()

    def __repr__(self) -> str:
        return f"TokenPlayground(at {_time_text(self.clock.now(), self._start)}, events={len(self.authority.events)})"


# -- policy explorer ----------------------------------------------------------------


def _durations(*specs: tuple[float, str]) -> tuple[timedelta, ...]:
    return tuple(timedelta(**{unit: amount}) for amount, unit in specs)


LIFETIME_CHOICES: dict[str, tuple[timedelta, ...]] = {
    "access_token_ttl": _durations(
        (30, "seconds"), (1, "minutes"), (2, "minutes"), (5, "minutes"), (10, "minutes"), (15, "minutes"),
        (30, "minutes"), (60, "minutes"),
    ),
    "refresh_token_ttl": _durations(
        (1, "hours"), (2, "hours"), (4, "hours"), (8, "hours"), (12, "hours"), (1, "days"), (2, "days"),
        (7, "days"), (14, "days"), (30, "days"), (60, "days"), (90, "days"),
    ),
    "refresh_token_idle_ttl": _durations(
        (30, "minutes"), (1, "hours"), (2, "hours"), (4, "hours"), (8, "hours"), (12, "hours"), (1, "days"),
        (2, "days"), (7, "days"), (15, "days"), (30, "days"),
    ),
}
"""The stops of the lifetime sliders. A lifetime set in code that is not a stop is added as an extra stop."""

_LIFETIME_LABELS = {
    "access_token_ttl": "access token",
    "refresh_token_ttl": "refresh, absolute",
    "refresh_token_idle_ttl": "refresh, idle",
}
_POLICY_FIELDS = tuple(field.name for field in dataclass_fields(TokenPolicy))
_DURATION_FIELDS = ("access_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl", "reuse_grace", "leeway")


def _change_text(name: str, value: Any) -> str:
    """Format one policy change for the text, durations in their unit."""
    if name in _DURATION_FIELDS:
        try:
            return f"{name} {_duration_text(to_timedelta(value, name))}"
        except TokenlabError:
            pass
    return f"{name}={value!r}"


def _reuse_text(events: Sequence[Event]) -> str:
    detected = [event for event in events if event.kind is EventKind.REUSE_DETECTED]
    if not detected:
        return "not triggered"
    replays = ", ".join(f"{event.label} replayed by {event.actor}" for event in detected)
    return f"triggered {len(detected)} time{'s' if len(detected) > 1 else ''} ({replays})"


class PolicyExplorer(_TimelineView):
    """Replay a scenario under a policy the learner changes with sliders, and compare the outcomes.

    The policy is the scenario's own (the defaults plus the scenario's
    changes), then the learner's changes: ``initial_policy`` and every
    :meth:`set` since. :meth:`set` replays the whole scenario and redraws.

    A change that makes the policy invalid, such as a grace window with
    rotation off, does not raise: :attr:`error` keeps the
    :class:`~tokenlab.ConfigurationError`, :meth:`text` shows its message
    and :attr:`result` stays the last valid run. A step that cannot run
    under the policy ends the run there and is reported the same way.
    Only a name that is not a :class:`~tokenlab.TokenPolicy` field raises,
    because that is a mistake in the calling code.
    """

    def __init__(self, scenario: Scenario | str = "stolen-refresh-token", **initial_policy: Any) -> None:
        super().__init__()
        self._known: dict[str, Scenario] = dict(SCENARIOS)
        self.scenario = self._resolve(scenario)
        self.changes: dict[str, Any] = {}
        """The policy fields set by the learner, on top of the scenario's policy."""
        self.result: ScenarioResult | None = None
        """The last run that had a valid policy, or ``None`` when no policy so far was valid."""
        self.error: TokenlabError | None = None
        """Why the last replay failed or stopped early, or ``None``."""
        self.failed_step: int | None = None
        """The number (from 1) of the step that could not run, when a step could not."""
        self._syncing = False
        _check_policy_fields(initial_policy)
        self.changes.update(initial_policy)
        self._replay()

    def set(self, **policy_fields: Any) -> ScenarioResult | None:
        """Change policy fields, replay the scenario and redraw; return the run's result, or ``None`` if the policy is invalid.

        Durations are timedeltas or numbers of seconds, as for
        :class:`~tokenlab.TokenPolicy`. Raises
        :class:`~tokenlab.ConfigurationError` only for an unknown field name.
        """
        _check_policy_fields(policy_fields)
        self.changes.update(policy_fields)
        return self._replay_and_redraw()

    def choose(self, scenario: Scenario | str) -> ScenarioResult | None:
        """Switch to another scenario, keep the learner's changes, replay and redraw."""
        self.scenario = self._resolve(scenario)
        return self._replay_and_redraw()

    def _resolve(self, scenario: Scenario | str) -> Scenario:
        """Return the scenario named ``scenario``, remembering scenarios passed as objects so the dropdown can offer them."""
        if isinstance(scenario, Scenario):
            self._known[scenario.name] = scenario
            return scenario
        return self._known[scenario] if scenario in self._known else get_scenario(scenario)

    def reset(self) -> ScenarioResult | None:
        """Drop the learner's changes and replay with the scenario's own policy."""
        self.changes.clear()
        return self._replay_and_redraw()

    def _replay_and_redraw(self) -> ScenarioResult | None:
        result = self._replay()
        self._changed()
        return result

    def _replay(self) -> ScenarioResult | None:
        """Run the scenario with the current changes; keep the result, or the error that stopped it."""
        self.failed_step = None
        try:
            run = ScenarioRun(self.scenario, **self.changes)
        except ConfigurationError as exc:
            self.error = exc
            return None

        self.error = None
        try:
            result = run.run()
        except TokenlabError as exc:
            self.error = exc
            self.failed_step = run.position + 1
            result = ScenarioResult(
                scenario=self.scenario, policy=run.policy, events=run.events, steps=list(run.results), now=run.now
            )
        self.result = result
        return result

    # -- what it shows ---------------------------------------------------------

    def _report(self) -> tuple[list[tuple[str, bool]], list[str]]:
        """Return the lines above the steps, each with whether it reports an error, and one line per step."""
        changed = ", ".join(_change_text(name, value) for name, value in self.changes.items())
        header = [(f"Changed from the scenario's policy: {changed or 'nothing'}", False)]
        if self.error is not None and self.failed_step is None:
            header.append((f"Invalid policy: {_error_text(self.error)}", True))
            if self.result is None:
                return header, []
            header.append(("The run below used the last valid policy.", False))

        result = self.result
        assert result is not None
        header.append((f"Policy: {_policy_text(result.policy)}", False))
        header.append((f"Outcome: {summarize(result.events)}", False))
        header.append((f"Reuse detection: {_reuse_text(result.events)}", False))
        if self.error is not None and self.failed_step is not None:
            action = self.scenario.steps[self.failed_step - 1].action
            header.append((
                f"Step {self.failed_step} ({action}) cannot run with this policy: "
                f"{_error_text(self.error, result.events)}",
                True,
            ))
        steps = [_without_fingerprints(step.describe(), result.events) for step in result.steps]
        return header, steps

    def text(self) -> str:
        """Return the scenario, the policy, the outcome, whether reuse detection fired, and each step's outcome."""
        header, steps = self._report()
        lines = [f"Policy explorer: {self.scenario.title} ({self.scenario.name})"]
        lines.extend(line for line, _ in header)
        if steps:
            lines.append("Steps:")
            lines.extend(steps)
        return "\n".join(lines)

    def _draw(self) -> Any:
        if self.result is None:
            return plot_timeline([], title="No valid policy yet")
        return plot_timeline(self.result.events, now=self.result.now)

    def _build_widget(self) -> widgets.Box:
        style = {"description_width": "120px"}
        wide = widgets.Layout(width="420px")
        self._scenario_choice = self._track(widgets.Dropdown(
            options=self._scenario_options(), description="scenario", style=style,
            layout=widgets.Layout(width="640px"),
        ))
        self._scenario_choice.observe(self._on_scenario, names="value")

        self._controls: dict[str, widgets.ValueWidget] = {}
        for name, label in _LIFETIME_LABELS.items():
            self._controls[name] = self._track(widgets.SelectionSlider(
                options=[(_duration_text(value), value) for value in LIFETIME_CHOICES[name]],
                description=label, continuous_update=False, style=style, layout=wide,
            ))
        self._controls["reuse_grace"] = self._track(widgets.IntSlider(
            min=0, max=60, description="grace (s)", continuous_update=False, style=style, layout=wide,
        ))
        self._controls["rotate_refresh_tokens"] = self._track(widgets.Checkbox(description="rotate refresh tokens"))
        self._controls["detect_reuse"] = self._track(widgets.Checkbox(description="detect reuse"))
        for name, control in self._controls.items():
            control.observe(self._control_handler(name), names="value")

        reset = self._track(_button("reset policy", "Use the scenario's own policy again", self.reset, "undo"))
        self._status = self._track(widgets.HTML())
        self._steps_view = self._track(widgets.HTML())
        self._picture = self._image()
        sliders = self._track(widgets.VBox([self._controls[name] for name in (*_LIFETIME_LABELS, "reuse_grace")]))
        switches = self._track(widgets.VBox([
            self._controls["rotate_refresh_tokens"], self._controls["detect_reuse"], reset,
        ]))
        settings = self._track(widgets.HBox([sliders, switches]))
        return widgets.VBox([self._scenario_choice, settings, self._status, self._steps_view, self._picture])

    def _control_handler(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handle(change: dict[str, Any]) -> None:
            if not self._syncing:
                self.set(**{name: change["new"]})

        return handle

    def _scenario_options(self) -> tuple[tuple[str, str], ...]:
        return tuple((f"{name}: {scenario.title}", name) for name, scenario in self._known.items())

    def _on_scenario(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.choose(change["new"])

    def _shown_policy(self) -> dict[str, Any]:
        """Return the values the controls show: the valid policy's, overlaid with the learner's requested values."""
        values: dict[str, Any] = {}
        if self.result is not None:
            values = {name: getattr(self.result.policy, name) for name in self._controls}
        for name, value in self.changes.items():
            if name not in self._controls:
                continue
            if name in _DURATION_FIELDS:
                try:
                    value = to_timedelta(value, name)
                except TokenlabError:
                    continue
            values[name] = value
        return values

    def _sync_controls(self) -> None:
        """Make the controls show the current scenario and policy without triggering a replay."""
        self._syncing = True
        try:
            if self._scenario_choice.options != self._scenario_options():
                self._scenario_choice.options = self._scenario_options()
            self._scenario_choice.value = self.scenario.name
            for name, value in self._shown_policy().items():
                control = self._controls[name]
                if name in LIFETIME_CHOICES:
                    stops = sorted(set(LIFETIME_CHOICES[name]) | {value})
                    control.options = [(_duration_text(stop), stop) for stop in stops]
                    control.value = value
                elif name == "reuse_grace":
                    control.value = int(min(max(value.total_seconds(), 0), control.max))
                elif isinstance(value, bool):
                    control.value = value
        finally:
            self._syncing = False

    def _update_view(self) -> None:
        self._sync_controls()
        header, steps = self._report()
        self._status.value = "<br>".join(
            f"<span style='{_ERROR_STYLE}'>{html.escape(line)}</span>" if is_error else html.escape(line)
            for line, is_error in header
        )
        self._steps_view.value = _pre("\n".join(steps)) if steps else ""
        self._picture.value = self.png()

    def __repr__(self) -> str:
        state = "invalid policy" if self.error is not None and self.failed_step is None else f"{len(self.changes)} change(s)"
        return f"PolicyExplorer({self.scenario.name!r}, {state})"


def _check_policy_fields(changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - set(_POLICY_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"unknown policy field(s) {', '.join(unknown)}; the fields are: {', '.join(_POLICY_FIELDS)}"
        )
