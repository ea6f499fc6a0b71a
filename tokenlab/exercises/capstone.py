"""Exercises of notebook 06 (capstone): a token policy for a banking app, a TV app and a single-page app.

Each app has a list of requirements in plain words. The learner's answer is
a :class:`~tokenlab.TokenPolicy` (for the single-page app, also the refresh
strategy of its tabs), and the checker plays one scripted scenario per
requirement against that design with :mod:`tokenlab.scenarios`: stolen tokens,
a lost refresh response, two tabs racing, users who come back after a while,
resource servers with skewed clocks. The feedback says, per requirement,
whether it passed and what happened when it did not. It never states the
policy values the requirements imply; the hints give the reasoning.
"""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping

from ..client import STRATEGIES
from ..errors import TokenlabError
from ..events import EventKind
from ..policy import TokenPolicy
from ..scenarios import Scenario, ScenarioResult, ScenarioRun, Step
from . import exercise

NOTEBOOK = "06-capstone"

DEFAULT_STRATEGY = "reactive"
"""The refresh strategy of a design that names none, as for a bare TokenPolicy."""

Judge = Callable[[ScenarioResult], "tuple[bool, str]"]
"""A function that decides from a finished run whether a requirement holds, with a text of what happened when it does not."""


@dataclass(frozen=True)
class Design:
    """A learner's choice for one app: the server's policy and the client's refresh strategy."""

    policy: TokenPolicy
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True)
class Trial:
    """One scripted run: the steps to play under a design, and how to judge the result."""

    steps: tuple[Step, ...]
    judge: Judge


@dataclass(frozen=True)
class Requirement:
    """One requirement of an app, and the trial that tests it.

    ``trial`` builds the steps from the design's policy, because some steps
    depend on it (a call one second before the access token's ``exp``).
    """

    key: str
    text: str
    trial: Callable[[TokenPolicy], Trial]


@dataclass(frozen=True)
class App:
    """An application whose token policy the learner designs."""

    key: str
    title: str
    requirements: tuple[Requirement, ...]

    def requirement(self, key: str) -> Requirement:
        """Return the requirement called ``key``; raise KeyError naming the known keys if absent."""
        for item in self.requirements:
            if item.key == key:
                return item
        known = ", ".join(item.key for item in self.requirements)
        raise KeyError(f"{self.key} has no requirement {key!r}; its requirements are: {known}")


def _step(action: str, note: str, **args: Any) -> Step:
    return Step(action, args, note)


def _whole_seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _expiry_seconds(policy: TokenPolicy) -> float:
    """Return how long after issue an access token stops passing verify(): its lifetime plus the leeway."""
    return (policy.access_token_ttl + policy.leeway).total_seconds()


def _failure(result: ScenarioResult, index: int) -> str:
    """Describe why step ``index`` failed, in the words of the token endpoint or the API."""
    step = result.steps[index]
    if step.error is not None:
        check = f" ({step.error.check})" if step.error.check else ""
        return f"{step.error.error}{check}"
    return step.outcome


def _first_failed_call(result: ScenarioResult) -> int | None:
    for index, step in enumerate(result.steps):
        if step.step.action == "call_api" and not step.ok:
            return index
    return None


def _elapsed(result: ScenarioResult, index: int) -> str:
    """Return how long after the first step step ``index`` ran, in the largest whole unit that fits."""
    delta = result.steps[index].time - result.steps[0].time
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{rest} s" if rest else ""]
    return " ".join(part for part in parts if part) or "0 s"


# -- the trials ----------------------------------------------------------------------


def stolen_access_token(limit: timedelta, limit_text: str) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which an attacker copies the access token at login and uses it ``limit`` later, which must fail."""

    def build(policy: TokenPolicy) -> Trial:
        steps = (
            _step("login", "The user logs in.", client="user"),
            _step("steal", "An attacker copies the access token.", client="attacker", victim="user",
                  token_type="access_token"),
            _step("advance", f"{limit_text} pass.", seconds=limit.total_seconds()),
            _step("call_api", "The attacker calls the API with the copy.", client="attacker", auto_refresh=False),
        )

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            if result.steps[-1].ok:
                return False, f"the copied access token was still accepted {limit_text} after it was issued."
            return True, ""

        return Trial(steps, judge)

    return build


def refresh_load(max_per_hour: int) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which an active user calls the API once a minute for an hour, and count its refreshes."""

    def build(policy: TokenPolicy) -> Trial:
        steps = [_step("login", "The user logs in.", client="user")]
        for _ in range(60):
            steps.append(_step("advance", "A minute passes.", minutes=1))
            steps.append(_step("call_api", "The app calls the API.", client="user"))

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            failed = _first_failed_call(result)
            if failed is not None:
                return False, (
                    f"the active user was logged out after {_elapsed(result, failed)}: {_failure(result, failed)}."
                )
            refreshes = result.kinds().count(EventKind.REFRESHED.value)
            if refreshes > max_per_hour:
                return False, f"an active user caused {refreshes} refreshes in one hour."
            return True, ""

        return Trial(tuple(steps), judge)

    return build


def clock_skew(skew_seconds: int) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which APIs with skewed clocks must accept tokens that are still valid.

    The first call sends a token to the API that runs ``skew_seconds`` behind,
    the second it was issued. The second call sends it to the API that runs
    ahead, one second before its ``exp``. Neither call may refresh, so that a
    rejection shows.
    """

    def build(policy: TokenPolicy) -> Trial:
        last_valid_second = max(_whole_seconds(policy.access_token_ttl) - 1, 0)
        steps = (
            _step("login", "The user logs in.", client="user"),
            _step("call_api", "The fresh token goes to an API whose clock runs behind.", client="user",
                  clock_offset=-skew_seconds, auto_refresh=False),
            _step("advance", "Time passes until one second before the token's exp.", seconds=last_valid_second),
            _step("call_api", "The token goes to an API whose clock runs ahead.", client="user",
                  clock_offset=skew_seconds, auto_refresh=False),
        )

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            if not result.steps[1].ok:
                return False, (
                    f"an API whose clock runs {skew_seconds} s behind rejected a token issued that very second: "
                    f"{_failure(result, 1)}."
                )
            if not result.steps[3].ok:
                return False, (
                    f"an API whose clock runs {skew_seconds} s ahead rejected a token one second before its exp: "
                    f"{_failure(result, 3)}."
                )
            return True, ""

        return Trial(steps, judge)

    return build


def replayed_refresh_token(every: timedelta, times: int, later_text: str) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which a refresh token copied at login is replayed after ``times`` uses of the app."""

    def build(policy: TokenPolicy) -> Trial:
        steps = [
            _step("login", "The user logs in.", client="user"),
            _step("steal", "An attacker copies the refresh token.", client="attacker", victim="user"),
        ]
        for _ in range(times):
            steps.append(_step("advance", "Time passes.", seconds=every.total_seconds()))
            steps.append(_step("call_api", "The user keeps using the app.", client="user"))
        steps.append(_step("refresh", "The attacker replays the copied refresh token.", client="attacker"))

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            if result.steps[-1].ok:
                return False, f"the copied refresh token, replayed {later_text} later, got the attacker fresh tokens."
            return True, ""

        return Trial(tuple(steps), judge)

    return build


def thief_refreshes_first(delay: timedelta, delay_text: str) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which a thief refreshes with a copied refresh token and the app refreshes ``delay`` later.

    From the app's refresh on, the thief must be locked out, so its next call
    fails even though it may refresh.
    """

    def build(policy: TokenPolicy) -> Trial:
        steps = (
            _step("login", "The user logs in.", client="user"),
            _step("steal", "A thief copies the refresh token.", client="thief", victim="user"),
            _step("advance", "One second passes.", seconds=1),
            _step("refresh", "The thief refreshes first and gets its own pair.", client="thief"),
            _step("advance", f"The user's app refreshes {delay_text} later.", seconds=delay.total_seconds()),
            _step("refresh", "The user's app presents the refresh token the thief already used.", client="user"),
            _step("call_api", "The thief calls the API and refreshes if it needs to.", client="thief"),
        )

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            if not result.steps[-1].ok:
                return True, ""
            kinds = result.kinds()
            if EventKind.GRACE_REUSE.value in kinds:
                reason = "the server took the app's refresh for a retry within the grace window, not for reuse"
            elif EventKind.REUSE_DETECTED.value in kinds:
                reason = "reuse was detected, but too late to stop the thief"
            elif result.steps[5].ok:
                reason = "the server let the app refresh with a token the thief had already used, and nothing else happened"
            else:
                reason = "the server rejected the app's refresh, but left the thief's tokens valid"
            return False, f"the thief still got through after the app refreshed: {reason}."

        return Trial(steps, judge)

    return build


def lost_response(retry_after: timedelta, retry_text: str) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which a refresh response is lost and the app retries ``retry_after`` later.

    The retrying app is a second client that contains a copy of the app's
    tokens from before the refresh, because that is all the app has left once
    the response is lost. It must get new tokens and keep working through its
    next refresh.
    """

    def build(policy: TokenPolicy) -> Trial:
        steps = (
            _step("login", "The user logs in.", client="app"),
            _step("steal", "The app keeps its tokens; this copy stands for what it still holds after the loss.",
                  client="app after the loss", victim="app", token_type="both"),
            _step("refresh", "The app refreshes, but the response never arrives.", client="app"),
            _step("advance", f"The app retries {retry_text} later.", seconds=retry_after.total_seconds()),
            _step("refresh", "The app retries with the refresh token it still holds.", client="app after the loss"),
            _step("advance", "The new access token expires, leeway included.", seconds=_expiry_seconds(policy)),
            _step("call_api", "The app calls the API, refreshing first if it needs to.", client="app after the loss"),
        )

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            if not result.steps[4].ok:
                if EventKind.REUSE_DETECTED.value in result.kinds():
                    return False, (
                        f"the retry {retry_text} after the lost response was taken for reuse, the family was "
                        "revoked, and the user had to log in again."
                    )
                return False, f"the retry {retry_text} after the lost response was rejected: {_failure(result, 4)}."
            if not result.steps[-1].ok:
                return False, f"the retry worked, but the app's next call failed: {_failure(result, 6)}."
            return True, ""

        return Trial(steps, judge)

    return build


def two_tabs() -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which two tabs that share token storage refresh 20 ms apart, twice, and keep working."""

    def build(policy: TokenPolicy) -> Trial:
        steps = [
            _step("login", "Tab A logs the user in.", client="tab A"),
            _step("open", "Tab B opens and loads the same tokens from the browser's storage.", client="tab B",
                  share_storage_with="tab A"),
        ]
        for _ in range(2):
            steps += [
                _step("advance", "The access token expires in both tabs.", seconds=_expiry_seconds(policy)),
                _step("call_api", "Tab A calls the API.", client="tab A"),
                _step("advance", "20 ms later, tab B calls too.", seconds=0.02),
                _step("call_api", "Tab B calls the API.", client="tab B"),
                _step("advance", "One second passes.", seconds=1),
                _step("call_api", "Tab A calls again.", client="tab A"),
            ]

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            failed = _first_failed_call(result)
            if failed is None:
                return True, ""
            tab = result.steps[failed].step.args["client"]
            cycle = "first" if failed < 2 + 6 else "second"
            return False, f"in the {cycle} expiry, a request of {tab} failed: {_failure(result, failed)}."

        return Trial(tuple(steps), judge)

    return build


def away(duration: timedelta, duration_text: str, *, still_logged_in: bool) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which the user logs in, leaves the app alone for ``duration``, then comes back."""

    def build(policy: TokenPolicy) -> Trial:
        steps = (
            _step("login", "The user logs in.", client="user"),
            _step("advance", "The app stays unused.", seconds=duration.total_seconds()),
            _step("call_api", "The user comes back and the app calls the API.", client="user"),
        )

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            back_in = result.steps[-1].ok
            if still_logged_in and not back_in:
                return False, f"after {duration_text} away, the user had to log in again: {_failure(result, 2)}."
            if not still_logged_in and back_in:
                return False, f"after {duration_text} without use, the app still got through without a new login."
            return True, ""

        return Trial(steps, judge)

    return build


def active_session(every: timedelta, length: timedelta, length_text: str, *, must_end: bool) -> Callable[[TokenPolicy], Trial]:
    """Build the trial in which the user calls the API every ``every`` until ``length`` after login.

    With ``must_end=False`` every call must succeed. With ``must_end=True``
    the call at ``length`` must fail, because no session may last that long.
    """

    def build(policy: TokenPolicy) -> Trial:
        steps = [_step("login", "The user logs in.", client="user")]
        for _ in range(int(length / every)):
            steps.append(_step("advance", "Time passes.", seconds=every.total_seconds()))
            steps.append(_step("call_api", "The user uses the app.", client="user"))

        def judge(result: ScenarioResult) -> tuple[bool, str]:
            if must_end:
                if result.steps[-1].ok:
                    return False, f"the user was still logged in {length_text} after logging in."
                return True, ""
            failed = _first_failed_call(result)
            if failed is not None:
                return False, (
                    f"the user was logged out {_elapsed(result, failed)} after logging in: {_failure(result, failed)}."
                )
            return True, ""

        return Trial(tuple(steps), judge)

    return build


# -- the three apps --------------------------------------------------------------------

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

SKEW_SECONDS = 3
"""All three apps use the same API servers, whose clocks may be this many seconds off."""

BANK = App("bank", "Mobile banking app", (
    Requirement("stolen-access-token",
                "A copied access token stops working within 5 minutes of being issued.",
                stolen_access_token(5 * MINUTE, "5 minutes")),
    Requirement("refresh-load",
                "An active customer (a request every minute) causes at most 20 refreshes an hour.",
                refresh_load(20)),
    Requirement("clock-skew",
                f"The API servers' clocks may be up to {SKEW_SECONDS} s ahead of or behind the authorization "
                "server's; that must never make them reject a valid token.",
                clock_skew(SKEW_SECONDS)),
    Requirement("replayed-refresh-token",
                "A refresh token copied at login and replayed an hour later, while the customer keeps using "
                "the app, is rejected.",
                replayed_refresh_token(10 * MINUTE, 6, "an hour")),
    Requirement("thief-refreshes-first",
                "A thief who refreshes with a copied refresh token one second before the customer's app is "
                "locked out the moment the app refreshes.",
                thief_refreshes_first(timedelta(seconds=1), "one second")),
    Requirement("idle-logout",
                "After 30 minutes without use, the customer must log in again.",
                away(30 * MINUTE, "30 minutes", still_logged_in=False)),
    Requirement("working-day",
                "A customer who uses the app every 10 minutes stays logged in for a working day (8 hours).",
                active_session(10 * MINUTE, 8 * HOUR, "8 hours", must_end=False)),
    Requirement("session-cap",
                "No session lasts 12 hours, however active the customer is.",
                active_session(10 * MINUTE, 12 * HOUR, "12 hours", must_end=True)),
))

TV = App("tv", "Streaming app on a smart TV", (
    Requirement("stolen-access-token",
                "A copied access token stops working within an hour of being issued.",
                stolen_access_token(HOUR, "an hour")),
    Requirement("refresh-load",
                "A TV that is streaming (a request every minute) refreshes at most 4 times an hour.",
                refresh_load(4)),
    Requirement("clock-skew",
                f"The API servers' clocks may be up to {SKEW_SECONDS} s ahead of or behind the authorization "
                "server's; that must never make them reject a valid token.",
                clock_skew(SKEW_SECONDS)),
    Requirement("replayed-refresh-token",
                "A refresh token copied at login and replayed a week later, while the viewer keeps watching "
                "every day, is rejected.",
                replayed_refresh_token(DAY, 7, "a week")),
    Requirement("thief-refreshes-first",
                "A thief who refreshes with a copied refresh token is locked out as soon as the TV next "
                "refreshes, an hour later.",
                thief_refreshes_first(HOUR, "an hour")),
    Requirement("lost-response",
                "When the home Wi-Fi loses the response to a refresh and the TV retries 4 seconds later, "
                "the viewer stays logged in.",
                lost_response(timedelta(seconds=4), "4 seconds")),
    Requirement("holiday",
                "A viewer back from a month-long holiday (30 days) is still logged in.",
                away(30 * DAY, "30 days", still_logged_in=True)),
    Requirement("half-year",
                "A viewer who watches once a week stays logged in for half a year (26 weeks).",
                active_session(7 * DAY, 26 * 7 * DAY, "26 weeks", must_end=False)),
))

SPA = App("spa", "Single-page app in the browser", (
    Requirement("stolen-access-token",
                "A copied access token stops working within 10 minutes of being issued.",
                stolen_access_token(10 * MINUTE, "10 minutes")),
    Requirement("refresh-load",
                "An active user (a request every minute) causes at most 12 refreshes an hour.",
                refresh_load(12)),
    Requirement("clock-skew",
                f"The API servers' clocks may be up to {SKEW_SECONDS} s ahead of or behind the authorization "
                "server's; that must never make them reject a valid token.",
                clock_skew(SKEW_SECONDS)),
    Requirement("replayed-refresh-token",
                "A refresh token copied at login and replayed an hour later, while the user keeps working, "
                "is rejected.",
                replayed_refresh_token(10 * MINUTE, 6, "an hour")),
    Requirement("thief-refreshes-first",
                "A thief who refreshes with a copied refresh token 10 seconds before the app is locked out "
                "the moment the app refreshes.",
                thief_refreshes_first(timedelta(seconds=10), "10 seconds")),
    Requirement("lost-response",
                "When the network loses the response to a refresh and the app retries 2 seconds later, the "
                "user stays logged in.",
                lost_response(timedelta(seconds=2), "2 seconds")),
    Requirement("two-tabs",
                "Two tabs whose access token expires at the same moment both keep working, through the next "
                "expiry too.",
                two_tabs()),
    Requirement("next-day",
                "A user who closes the tab and comes back the next day (24 hours later) is still logged in.",
                away(DAY, "24 hours", still_logged_in=True)),
    Requirement("week-away",
                "A user who comes back after a week must log in again.",
                away(7 * DAY, "a week", still_logged_in=False)),
))

APPS: dict[str, App] = {app.key: app for app in (BANK, TV, SPA)}


def get_app(key: str) -> App:
    """Return the app called ``key`` ("bank", "tv" or "spa"); raise KeyError naming the apps if absent."""
    try:
        return APPS[key]
    except (KeyError, TypeError):
        raise KeyError(f"no app {key!r}; the apps are: {', '.join(APPS)}") from None


def requirements(app: str) -> str:
    """Return an app's requirements as a numbered list, one per line, each with its key."""
    item = get_app(app)
    lines = [f"{item.title}:"]
    for number, req in enumerate(item.requirements, 1):
        lines.append(textwrap.fill(f"{number:2}. {req.key}: {req.text}", width=96, subsequent_indent="    "))
    return "\n".join(lines)


# -- running a design --------------------------------------------------------------------


def as_design(answer: Any) -> Design:
    """Read an answer as a design: a TokenPolicy, or a mapping with "policy" and optionally "strategy".

    Raises TypeError or ValueError with a message for the learner when the
    answer has another shape.
    """
    if isinstance(answer, Design):
        return answer
    if isinstance(answer, TokenPolicy):
        return Design(answer)
    if isinstance(answer, Mapping):
        unknown = sorted(str(name) for name in answer if name not in ("policy", "strategy"))
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; use 'policy' and 'strategy'")
        policy = answer.get("policy")
        if not isinstance(policy, TokenPolicy):
            raise TypeError(f"'policy' must be a TokenPolicy, not {type(policy).__name__}")
        strategy = answer.get("strategy", DEFAULT_STRATEGY)
        if strategy not in STRATEGIES:
            raise ValueError(f"'strategy' must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
        return Design(policy, strategy)
    raise TypeError(f"answer a TokenPolicy, or a dict with 'policy' and 'strategy', not {type(answer).__name__}")


def scenario_for(app: str, requirement: str, design: Any) -> Scenario:
    """Return the scenario that tests one requirement of an app under ``design``."""
    item = get_app(app)
    req = item.requirement(requirement)
    trial = req.trial(as_design(design).policy)
    return _scenario(item, req, trial)


def _scenario(app: App, req: Requirement, trial: Trial) -> Scenario:
    return Scenario(
        name=f"capstone-{app.key}-{req.key}",
        title=f"{app.title}: {req.key}",
        summary=req.text,
        explanation=f"The self-check of notebook 06 plays this story to test the requirement: {req.text}",
        steps=trial.steps,
    )


def run_test(app: str, requirement: str, design: Any) -> ScenarioResult:
    """Play the scenario of one requirement under ``design`` and return the result, to look at or plot."""
    chosen = as_design(design)
    return ScenarioRun(scenario_for(app, requirement, chosen), policy=chosen.policy, strategy=chosen.strategy).run()


def judge(app: str, requirement: str, design: Any) -> tuple[bool, str]:
    """Play one requirement's scenario under ``design``; return whether it passed and, if not, what happened."""
    item = get_app(app)
    req = item.requirement(requirement)
    chosen = as_design(design)
    trial = req.trial(chosen.policy)
    try:
        result = ScenarioRun(_scenario(item, req, trial), policy=chosen.policy, strategy=chosen.strategy).run()
    except TokenlabError as error:
        return False, f"the test could not run to its end with this design: {error}."
    return trial.judge(result)


def evaluate(app: str, design: Any) -> list[tuple[Requirement, bool, str]]:
    """Test every requirement of ``app`` under ``design``; return each with whether it passed and what happened."""
    chosen = as_design(design)
    return [(req, *judge(app, req.key, chosen)) for req in get_app(app).requirements]


def report(app: str, answer: Any) -> tuple[bool, str]:
    """Return whether ``answer`` meets every requirement of ``app``, and the per-requirement report."""
    outcomes = evaluate(app, answer)
    passed = sum(1 for _, ok, _ in outcomes if ok)
    lines = [f"{passed} of {len(outcomes)} requirements pass."]
    for req, ok, observed in outcomes:
        line = f"  pass  {req.key}" if ok else f"  FAIL  {req.key}: {observed}"
        lines.append(textwrap.fill(line, width=96, subsequent_indent=" " * 8))
    return passed == len(outcomes), "\n".join(lines)


def _assumed_strategy(answer: Any) -> str | None:
    """Return a note when ``answer`` names no refresh strategy, so the design is checked with the default one."""
    if isinstance(answer, TokenPolicy) or (isinstance(answer, Mapping) and "strategy" not in answer):
        return f"no strategy was given, so the tabs were checked with the {DEFAULT_STRATEGY!r} strategy."
    return None


def _checker(app: str, closing: str, *, needs_strategy: bool = False) -> Callable[[Any], tuple[bool, str]]:
    """Build the checker of one app; with ``needs_strategy``, say which strategy a design without one was checked with."""

    def check_design(answer: Any) -> tuple[bool, str]:
        if answer is None:
            return False, "replace None with your design and run the cell again."
        correct, text = report(app, answer)
        note = _assumed_strategy(answer) if needs_strategy else None
        if note is not None:
            text = f"{note}\n{text}"
        if correct:
            return True, f"{text}\n{closing}"
        return False, f"{text}\nChange one field at a time and check again; hint('capstone-{app}', 1) helps."

    return check_design


_DESIGN_SHAPE = "Answer a TokenPolicy, or a dict {'policy': TokenPolicy(...), 'strategy': 'reactive'}."

check_bank = exercise(
    "capstone-bank",
    notebook=NOTEBOOK,
    prompt=f"Design the token policy of the mobile banking app. {_DESIGN_SHAPE}",
    hints=(
        "Take the requirements one at a time and name the policy field each one constrains. Several "
        "fields are constrained from both sides, by one requirement about theft and one about the customer.",
        "A copied access token works until exp + leeway, not only until exp. The clock-skew requirement "
        "needs some leeway, so the access token must live a little less than the theft limit, and the "
        "refresh-load requirement keeps it from being too short.",
        "The thief who refreshes one second earlier leaves no room for a grace window: inside one, the "
        "app's refresh looks like a retry and the thief keeps its tokens. The idle-logout and working-day "
        "requirements bound refresh_token_idle_ttl from both sides; working-day and session-cap bound "
        "refresh_token_ttl.",
    ),
)(_checker("bank", (
    "Short lifetimes everywhere, strict rotation and no grace: the bank accepts that a lost response "
    "logs the customer out, because a stolen token costs more than a login."
)))

check_tv = exercise(
    "capstone-tv",
    notebook=NOTEBOOK,
    prompt=f"Design the token policy of the smart TV app. {_DESIGN_SHAPE}",
    hints=(
        "Sort the requirements into theft and convenience. On a TV, typing a password is painful, so the "
        "convenience requirements decide the refresh token's two lifetimes.",
        "Home Wi-Fi loses responses. A retry 4 seconds later must not count as reuse: which field allows "
        "that? The window is open while now < rotation time + window, so the window must be longer than "
        "the retry delay.",
        "For holiday and half-year, work out two times: the longest gap between two uses of the app, and "
        "how long after the login the last visit comes. Which of the refresh token's two lifetimes does "
        "each time limit? Then apply the exact-second rule: is a lifetime exactly as long as that time "
        "enough? Keep rotation and reuse detection on, because they detect a copied refresh token however "
        "long it lives.",
    ),
)(_checker("tv", (
    "Long refresh token lifetimes are acceptable here because rotation and reuse detection stay on: a "
    "copied refresh token is caught at the TV's next refresh, and the grace window absorbs lost responses."
)))

check_spa = exercise(
    "capstone-spa",
    notebook=NOTEBOOK,
    prompt=(
        "Design the token policy of the single-page app and the refresh strategy of its tabs. Answer a "
        "dict {'policy': TokenPolicy(...), 'strategy': 'reactive', 'proactive' or 'single-flight'}."
    ),
    hints=(
        "A browser app is a public client: it cannot keep a secret, so rotation with reuse detection is what "
        "protects its refresh tokens (RFC 9700 requires one of rotation or sender-constrained tokens).",
        "Two requirements need opposite things from reuse_grace: the lost response needs a window longer "
        "than the retry delay, and the thief who refreshes first needs one shorter than the app's delay.",
        "No server setting fixes the two tabs for good. With a grace window, the slower tab's refresh "
        "supersedes the faster tab's token, and the faster tab's next refresh is reuse. The tabs must share "
        "one refresh through their common storage: which strategy does that?",
    ),
)(_checker("spa", (
    "Rotation is mandatory for a public client, the small grace window absorbs a lost response without "
    "helping a thief much, and single-flight stops the tabs from racing at all."
), needs_strategy=True))


def designs_table(designs: Mapping[str, Any]) -> str:
    """Return the designs side by side: one row per policy field and one for the strategy, durations in whole units."""
    chosen = {name: as_design(value) for name, value in designs.items()}
    fields = [f.name for f in dataclasses.fields(TokenPolicy) if f.name not in ("issuer", "audience", "readable_ids")]
    width = max(len(name) for name in [*fields, "strategy"])
    header = " " * width + "".join(f"{name:>16}" for name in chosen)
    rows = [header]
    for name in fields:
        cells = "".join(f"{_show(getattr(design.policy, name)):>16}" for design in chosen.values())
        rows.append(f"{name:<{width}}{cells}")
    rows.append(f"{'strategy':<{width}}" + "".join(f"{design.strategy:>16}" for design in chosen.values()))
    return "\n".join(rows)


def _show(value: Any) -> str:
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{seconds // size} {unit}"
        return f"{value.total_seconds():g} s"
    return str(value)
