"""Exercises of notebook 03 (rotation and reuse detection): who is locked out, active tokens, the grace window.

Each checker takes the learner's answer and returns ``(correct, message)``.
The right answers come from running the engine or a scenario on the
situation the exercise describes, never from a stored value. Those runs are
deterministic, so their results are cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from ..authority import TokenAuthority
from ..errors import ConfigurationError, InvalidGrant
from ..policy import TokenPolicy
from ..scenarios import run_scenario
from . import exercise

NOTEBOOK = "03-rotation-and-reuse-detection"

ACTORS = ("user", "attacker")
PART_TWO_START = 7
"""Index of the stolen-refresh-token step where part two begins: the user's second login."""

REPLAY_DELAY = timedelta(seconds=30)
"""The grace-window exercise: an attacker replays the rotated refresh token this long after the rotation."""


# -- shared answer parsing ----------------------------------------------------------


def _labels(answer: Any) -> set[str] | None:
    """Read a set, list or tuple of labels, or one string of labels separated by commas or spaces."""
    if isinstance(answer, str):
        items: Iterable[Any] = answer.replace(",", " ").split()
    elif isinstance(answer, (set, frozenset, list, tuple)):
        items = answer
    else:
        return None
    if not all(isinstance(item, str) for item in items):
        return None
    return {item.strip().strip("'\"").upper() for item in items if item.strip()}


# -- who is locked out when the attacker refreshes first -----------------------------


_ACTOR_WORDS = {
    "user": {"user"},
    "the user": {"user"},
    "alice": {"user"},
    "attacker": {"attacker"},
    "the attacker": {"attacker"},
    "both": {"user", "attacker"},
    "both of them": {"user", "attacker"},
    "user and attacker": {"user", "attacker"},
    "attacker and user": {"user", "attacker"},
    "nobody": set(),
    "no one": set(),
    "neither": set(),
    "none": set(),
}


def _actors(answer: Any) -> set[str] | None:
    """Read 'user', 'attacker', 'both' or 'nobody', or a collection of actor names."""
    if isinstance(answer, str):
        return _ACTOR_WORDS.get(" ".join(answer.strip().strip("'\"").lower().split()))
    if isinstance(answer, (set, frozenset, list, tuple)) and all(isinstance(item, str) for item in answer):
        chosen = {item.strip().lower() for item in answer}
        return chosen if chosen <= set(ACTORS) else None
    return None


@functools.cache
def locked_out_in_part_two() -> frozenset[str]:
    """Run stolen-refresh-token and return who cannot call the API at the end of part two.

    An actor is locked out when its last API call of part two fails. Each
    client refreshes after a 401 before it gives up, so that failure means
    its refresh token no longer works either.
    """
    result = run_scenario("stolen-refresh-token")
    last_call_ok: dict[str, bool] = {}
    for step_result in result.steps[PART_TWO_START:]:
        if step_result.step.action == "call_api":
            last_call_ok[step_result.step.args["client"]] = step_result.ok
    return frozenset(actor for actor, ok in last_call_ok.items() if not ok)


@exercise(
    "rotation-attacker-first",
    notebook=NOTEBOOK,
    prompt=(
        "Both the user and the attacker hold a copy of the same refresh token. This time the attacker "
        "refreshes first, and a few minutes later the user's client refreshes with its copy. Who is "
        "locked out afterwards? Answer 'user', 'attacker', 'both' or 'nobody'."
    ),
    hints=(
        "Rotation makes the first refresh an ordinary one. Which of the two refreshes presents a token "
        "that was already rotated?",
        "When the server detects reuse, it does not revoke one token: it revokes something larger. "
        "Which tokens does each of the two hold at that moment?",
        "Play part two of the stolen-refresh-token scenario with the ScenarioPlayer and read the last two steps.",
    ),
)
def check_attacker_first(answer: Any) -> tuple[bool, str]:
    """Reuse detection revokes the whole family, whoever presents the rotated token."""
    if answer is None:
        return False, "replace None with 'user', 'attacker', 'both' or 'nobody' and run the cell again."
    chosen = _actors(answer)
    if chosen is None:
        return False, f"{answer!r} is not one of 'user', 'attacker', 'both' or 'nobody'."

    expected = set(locked_out_in_part_two())
    if chosen == expected:
        return True, (
            "the server saw only that a rotated refresh token came back. It cannot tell the user from the "
            "attacker, so it revoked the whole family, and with it every token either of them held."
        )
    if not chosen:
        return False, (
            "one of the two refreshes presents a token that was already rotated. What does the server do "
            "when that happens?"
        )
    if chosen == {"user"}:
        return False, (
            "the user's refresh is the one that triggers reuse detection. But what does the server revoke then, and "
            "where did the attacker's newer tokens come from?"
        )
    return False, (
        "the attacker's refresh came first and was an ordinary rotation. What happens to the user's copy "
        "of the token, and what does the server do when the user presents it?"
    )


# -- which refresh tokens are active ------------------------------------------------


@functools.cache
def two_devices_statuses() -> dict[str, str]:
    """Run the active-tokens exercise's story and return each refresh token's status by label.

    At 09:00 alice logs in on her laptop (F1: AT1, RT1) and on her phone
    (F2: AT2, RT2). At 09:05 the laptop refreshes RT1 for RT3 and the phone
    RT2 for RT4, and malware on the laptop copies RT3. At 09:10 the laptop
    refreshes RT3 for RT5. At 09:11 the malware presents its copy of RT3.
    """
    authority = TokenAuthority.demo()
    laptop = authority.issue("alice", client_id="app", scope="read", actor="laptop")
    phone = authority.issue("alice", client_id="app", scope="read", actor="phone")

    authority.clock.advance(minutes=5)
    laptop = authority.refresh(laptop.refresh_token, client_id="app", actor="laptop")
    phone = authority.refresh(phone.refresh_token, client_id="app", actor="phone")
    copied = laptop.refresh_token

    authority.clock.advance(minutes=5)
    laptop = authority.refresh(laptop.refresh_token, client_id="app", actor="laptop")

    authority.clock.advance(minutes=1)
    try:
        authority.refresh(copied, client_id="app", actor="malware")
    except InvalidGrant:
        pass

    return {
        record.label: record.status
        for family in authority.store.families()
        for record in authority.store.family_refresh_tokens(family.family_id)
    }


@exercise(
    "rotation-active-tokens",
    notebook=NOTEBOOK,
    prompt=(
        "After the steps of the story (two devices, a copied RT3 replayed at 09:11), which refresh "
        "tokens are active? Answer a set of labels such as {'RT1', 'RT2'}, or set() for none."
    ),
    hints=(
        "Go through the steps one at a time and keep a list of each token's status: active, rotated or revoked.",
        "A refresh token that was exchanged is rotated, not active. What does the replay of a rotated token revoke?",
        "Reuse detection acts on one token family. Which family does RT3 belong to, and which tokens are in the other one?",
    ),
)
def check_active_tokens(answer: Any) -> tuple[bool, str]:
    """Only the newest token of a family is active, and a replay revokes that family."""
    if answer is None:
        return False, "replace None with a set of labels such as {'RT1', 'RT2'} and run the cell again."
    chosen = _labels(answer)
    if chosen is None:
        return False, (
            f"answer a set of refresh token labels such as {{'RT1', 'RT2'}}, not {type(answer).__name__}."
        )

    statuses = two_devices_statuses()
    unknown = sorted(chosen - set(statuses))
    if unknown:
        return False, (
            f"the story has no refresh token {', '.join(unknown)}. Its refresh tokens are "
            f"{', '.join(sorted(statuses))}; access tokens are not asked about."
        )
    expected = {label for label, status in statuses.items() if status == "active"}
    if chosen == expected:
        return True, (
            "the replay of RT3 revoked family F1 including its newest token, but the phone's family F2 "
            "was untouched. Reuse detection logs out one grant, not every session of the user."
        )
    missing = _missing_text(len(expected - chosen))
    rotated = sorted(label for label in chosen if statuses[label] == "rotated")
    if rotated:
        return False, (
            f"{', '.join(rotated)} {'was' if len(rotated) == 1 else 'were'} exchanged for a newer token. "
            f"The store keeps a rotated token, but can it still be used?{missing}"
        )
    revoked = sorted(label for label in chosen if statuses[label] == "revoked")
    if revoked:
        return False, (
            f"think again about {', '.join(revoked)}: what happens to a whole family when one of its "
            f"rotated tokens comes back?{missing}"
        )
    return False, (
        "reuse detection revokes one family, not every token of the user. Which family did the "
        "replayed token belong to, and what is the newest token of the other one?"
    )


def _missing_text(count: int) -> str:
    """Return a sentence saying that ``count`` active refresh tokens are missing from an answer, or "" for none."""
    if count == 0:
        return ""
    if count == 1:
        return " Also, one active refresh token is missing from your set."
    return f" Also, {count} active refresh tokens are missing from your set."


# -- a grace window for the two-tabs race ----------------------------------------------


def _as_grace(answer: Any) -> tuple[timedelta | None, str | None]:
    """Read a TokenPolicy, a timedelta or a number of seconds as a reuse_grace value."""
    if isinstance(answer, TokenPolicy):
        value = answer.reuse_grace
    elif isinstance(answer, timedelta):
        value = answer
    elif isinstance(answer, (int, float)) and not isinstance(answer, bool):
        if not math.isfinite(answer):
            return None, f"{answer!r} is not a duration; give a number of seconds such as 5."
        value = timedelta(seconds=answer)
    else:
        return None, f"answer a number of seconds, a timedelta or a TokenPolicy, not {type(answer).__name__}."
    try:
        TokenPolicy(reuse_grace=value)
    except ConfigurationError as error:
        return None, f"TokenPolicy rejects that value: {error}."
    return value, None


@functools.cache
def race_survives(grace: timedelta) -> bool:
    """Run two-tabs-race with ``grace``; return True if no reuse is detected and tab A's last call succeeds."""
    result = run_scenario("two-tabs-race", reuse_grace=grace)
    return "reuse_detected" not in result.kinds() and result.steps[-1].ok


@functools.cache
def delayed_replay_detected(grace: timedelta, delay: timedelta = REPLAY_DELAY) -> bool:
    """Return True if a copy of a refresh token, replayed ``delay`` after the user rotated it, is caught as reuse."""
    authority = TokenAuthority.demo(reuse_grace=grace)
    copied = authority.issue("alice", client_id="app", scope="read", actor="user").refresh_token
    authority.clock.advance(minutes=5)
    authority.refresh(copied, client_id="app", actor="user")
    authority.clock.advance(delay)
    try:
        authority.refresh(copied, client_id="app", actor="attacker")
    except InvalidGrant as error:
        return error.check == "reuse"
    return False


@exercise(
    "rotation-grace-window",
    notebook=NOTEBOOK,
    prompt=(
        "Choose a reuse_grace so that the two-tabs race (tab B refreshes with the same token 20 ms after "
        "tab A) no longer logs the user out, while an attacker who replays a copied refresh token 30 "
        "seconds after the user's refresh is still caught as reuse. Answer a number of seconds, a "
        "timedelta or a TokenPolicy."
    ),
    hints=(
        "There are two limits: the window must be long enough for one event and short enough for another.",
        "The window starts at the rotation, and a presentation counts as inside it only while "
        "now < rotation time + reuse_grace. How late does tab B arrive, and how late does the attacker?",
        "You can test a value yourself: run_scenario('two-tabs-race', reuse_grace=...) and read its steps.",
    ),
)
def check_grace_window(answer: Any) -> tuple[bool, str]:
    """The window must cover tab B's 20 ms and end before the attacker's replay."""
    if answer is None:
        return False, "replace None with a number of seconds and run the cell again."
    grace, problem = _as_grace(answer)
    if problem is not None:
        return False, problem
    assert grace is not None

    grace_text = f"{grace.total_seconds():g} s"
    if not race_survives(grace):
        if grace == timedelta(0):
            return False, "with no grace window, tab B's refresh is reuse and the family is revoked. Open a window."
        return False, (
            f"with reuse_grace {grace_text}, the window has closed by the time tab B presents the token. Widen it."
        )
    if not delayed_replay_detected(grace):
        return False, (
            f"with reuse_grace {grace_text}, the attacker's replay still falls inside the window: it gets a fresh "
            "pair and no reuse is detected. Narrow the window."
        )
    return True, (
        f"with {grace_text} the race is harmless and the replay is caught. Keep the window as short as your "
        "clients need, because an attacker who replays inside it gets a pair too."
    )
