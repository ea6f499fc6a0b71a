"""Exercises of notebook 02 (refresh tokens): the reactive client, lifetimes and the two expiries.

Each checker takes the learner's answer and returns ``(correct, message)``.
The right answers come from running the engine and the client model on the
situation the exercise describes, never from a stored value. Those runs are
cached, because they are deterministic and each costs a fraction of a second.
"""

from __future__ import annotations

import functools
import math
from datetime import timedelta
from typing import Any

from ..authority import TokenAuthority
from ..client import Client, ProtectedApi
from ..errors import ConfigurationError, TokenlabError
from ..policy import TokenPolicy
from . import exercise

NOTEBOOK = "02-refresh-tokens"

SESSION_CALLS = 10
SESSION_INTERVAL = timedelta(minutes=3)
"""The 401 exercise: a reactive client calls every 3 minutes, 10 times, with 5-minute access tokens."""

STOLEN_TOKEN_DEADLINE = timedelta(minutes=15)
MAX_REFRESHES_PER_HOUR = 6
"""The lifetime exercise: a stolen access token is rejected 15 minutes after issue, and at most 6 refreshes an hour."""

USE_DAYS = (6, 13)
RETURN_DAY = 29
"""The two-expiries exercise: login on day 0, the app refreshes on days 6 and 13, the user returns on day 29."""


def _whole_number(answer: Any) -> int | None:
    """Return an int answer, or a string of digits as an int; None for anything else."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, float) and answer.is_integer():
        return int(answer)
    if isinstance(answer, str) and answer.strip().isdigit():
        return int(answer.strip())
    return None


# -- how many 401 responses ----------------------------------------------------------


def reactive_session() -> Client:
    """Run the 401 exercise's session and return the client, whose ``calls`` record every call."""
    authority = TokenAuthority.demo()
    api = ProtectedApi(authority, required_scope="read")
    app = Client(authority, api, client_id="app", strategy="reactive", name="user")
    app.login("alice", scope="read")
    for _ in range(SESSION_CALLS):
        authority.clock.advance(SESSION_INTERVAL)
        app.call_api()
    return app


def count_401_responses(app: Client) -> int:
    """Count the 401 responses a client received: the first response of each call, and each retry's."""
    count = 0
    for call in app.calls:
        responses = [call.first_response, call.response] if call.retried else [call.response]
        count += sum(1 for response in responses if response is not None and response.status == 401)
    return count


@functools.cache
def expected_401_count() -> int:
    """Return how many 401 responses the exercise's session gets, by running it."""
    return count_401_responses(reactive_session())


@exercise(
    "refresh-reactive-401s",
    notebook=NOTEBOOK,
    prompt=(
        "A reactive client logs in at 09:00 and calls the API every 3 minutes, 10 times (09:03 to "
        "09:30). Access tokens live 5 minutes. How many 401 responses does it receive in total? "
        "Answer a whole number."
    ),
    hints=(
        "Write down when each access token was issued and when it expires. A new one is issued only "
        "when a call gets a 401.",
        "The first token expires at 09:05:00. Which call is the first to get a 401, and when does the "
        "token it refreshes to expire?",
        "You can also run the session: build a new authority, ProtectedApi and Client as in the "
        "notebook, log in, run session(app, calls=10, every=timedelta(minutes=3)) and count the 401s.",
    ),
)
def check_reactive_401s(answer: Any) -> tuple[bool, str]:
    """Accept the number of 401 responses: one for each access token that expired during the session."""
    if answer is None:
        return False, "replace None with a whole number and run the cell again."
    number = _whole_number(answer)
    if number is None:
        return False, f"answer a whole number, not {type(answer).__name__} {answer!r}."

    expected = expected_401_count()
    if number == expected:
        return True, (
            "each of those calls cost an extra round trip: a 401, a refresh, then the retry. The "
            "user never saw them, but the API and the authorization server did."
        )
    if number == 0:
        return False, "one access token cannot last a 30-minute session. When does the first one expire?"
    if number >= SESSION_CALLS:
        return False, "not every call fails: a fresh access token passes the calls made before it expires."
    if abs(number - expected) == 1:
        return False, (
            "close. Check each expiry against the exact-second rule, and remember that a refreshed "
            "token's lifetime starts at the call that refreshed it, not at the old token's expiry."
        )
    return False, "list the calls one by one with the access token each one sends and that token's exp."


# -- choosing access_token_ttl -------------------------------------------------------


def _as_lifetime(answer: Any) -> tuple[timedelta | None, str | None]:
    """Read a TokenPolicy, a timedelta or a number of seconds as an access token lifetime."""
    if isinstance(answer, TokenPolicy):
        return answer.access_token_ttl, None
    if isinstance(answer, timedelta):
        value = answer
    elif isinstance(answer, (int, float)) and not isinstance(answer, bool):
        if not math.isfinite(answer):
            return None, f"{answer!r} is not a lifetime; give a timedelta such as timedelta(minutes=5)."
        value = timedelta(seconds=answer)
    else:
        return None, (
            "answer a timedelta, a TokenPolicy or a number of seconds, "
            f"not {type(answer).__name__}."
        )
    try:
        TokenPolicy(access_token_ttl=value)
    except ConfigurationError as error:
        return None, f"TokenPolicy rejects that lifetime: {error}."
    return value, None


@functools.cache
def stolen_token_passes_at_deadline(ttl: timedelta) -> bool:
    """Return True if an access token stolen the second it was issued still passes at the deadline."""
    authority = TokenAuthority.demo(access_token_ttl=ttl)
    stolen = authority.issue("alice", client_id="app", scope="read").access_token
    authority.clock.advance(STOLEN_TOKEN_DEADLINE)
    try:
        authority.verify(stolen, actor="attacker")
    except TokenlabError:
        return False
    return True


def refreshes_per_hour(ttl: timedelta) -> float:
    """Return how many refreshes an hour of continuous use needs: one per access token lifetime."""
    return timedelta(hours=1) / ttl


def _rate_text(rate: float) -> str:
    """Write a refresh rate for a learner: "12", "about 6.67", or "just over 6" where rounding hides the excess."""
    if rate.is_integer():
        return f"{rate:.0f}"
    rounded = f"{rate:.3g}"
    if float(rounded).is_integer():
        return f"just {'over' if rate > float(rounded) else 'under'} {rounded}"
    return f"about {rounded}"


@exercise(
    "refresh-access-ttl",
    notebook=NOTEBOOK,
    prompt=(
        "Choose an access_token_ttl so that an access token stolen the second it is issued is "
        "rejected 15 minutes later at the latest, and an app in continuous use refreshes at most 6 "
        "times an hour. Answer a timedelta, a TokenPolicy, or a number of seconds."
    ),
    hints=(
        "There are two limits: one from security (an upper bound) and one from the app (a lower bound).",
        "An app in continuous use refreshes once per access token lifetime. How long must a token "
        "live for 6 lifetimes to fill an hour?",
        "For the upper bound, remember the exact-second rule: a token is rejected from the second of its exp.",
    ),
)
def check_access_ttl(answer: Any) -> tuple[bool, str]:
    """Accept a lifetime that keeps a stolen token short-lived and the refresh traffic bounded."""
    if answer is None:
        return False, "replace None with a lifetime such as timedelta(minutes=5) and run the cell again."
    ttl, problem = _as_lifetime(answer)
    if problem is not None:
        return False, problem
    assert ttl is not None

    if ttl < timedelta(minutes=1) and not isinstance(answer, (timedelta, TokenPolicy)):
        return False, (
            f"a bare number counts as seconds, as in TokenPolicy, so {answer!r} is under a minute. "
            "Did you mean minutes? Write timedelta(minutes=...)."
        )
    if stolen_token_passes_at_deadline(ttl):
        return False, (
            f"with a lifetime of {ttl}, the attacker's copy still passes verify() 15 minutes after it was "
            "stolen. Shorten the lifetime."
        )
    rate = refreshes_per_hour(ttl)
    if rate > MAX_REFRESHES_PER_HOUR:
        return False, (
            f"with a lifetime of {ttl}, a busy app refreshes {_rate_text(rate)} times an hour, more than the "
            f"{MAX_REFRESHES_PER_HOUR} the app team can accept. Lengthen the lifetime."
        )
    return True, (
        f"a lifetime of {ttl} meets both limits. Every choice of lifetime trades the damage a stolen "
        "token can do against the refresh traffic and the load on the authorization server."
    )


# -- idle or absolute expiry ---------------------------------------------------------


@functools.cache
def first_expiry_check() -> str | None:
    """Replay the two-expiries exercise with the engine; return the check that ends the session."""
    authority = TokenAuthority.demo()
    refresh_token = authority.issue("alice", client_id="app", scope="read").refresh_token
    day = 0
    for next_day in (*USE_DAYS, RETURN_DAY):
        authority.clock.advance(days=next_day - day)
        day = next_day
        try:
            refresh_token = authority.refresh(refresh_token, client_id="app").refresh_token
        except TokenlabError as error:
            return error.check
    return None


_EXPIRY_NAMES = {
    "idle": "idle_expiry",
    "idle_expiry": "idle_expiry",
    "idle expiry": "idle_expiry",
    "refresh_token_idle_ttl": "idle_expiry",
    "absolute": "absolute_expiry",
    "absolute_expiry": "absolute_expiry",
    "absolute expiry": "absolute_expiry",
    "refresh_token_ttl": "absolute_expiry",
}


@exercise(
    "refresh-first-expiry",
    notebook=NOTEBOOK,
    prompt=(
        "With the default policy (absolute 30 days, idle 15 days), alice logs in on day 0. Her app "
        "refreshes on day 6 and on day 13, and she does not open it again until day 29. Which expiry "
        "ends her session: 'idle' or 'absolute'?"
    ),
    hints=(
        "Work out both deadlines. The absolute one is fixed at login; the idle one moves with every use.",
        "After the refresh on day 13, when is the idle deadline of the newest refresh token?",
    ),
)
def check_first_expiry(answer: Any) -> tuple[bool, str]:
    """Accept the expiry whose deadline comes first and so ends the session."""
    if answer is None:
        return False, "replace None with 'idle' or 'absolute' and run the cell again."
    if not isinstance(answer, str):
        return False, f"answer 'idle' or 'absolute' as a string, not {type(answer).__name__}."
    chosen = _EXPIRY_NAMES.get(answer.strip().strip("'\"").lower())
    if chosen is None:
        return False, f"{answer!r} is neither 'idle' nor 'absolute'."

    expected = first_expiry_check()
    if chosen == expected:
        return True, (
            "her refresh token's deadline passed before she came back, so she must log in again, even "
            "though the other deadline was still ahead. Whichever expiry comes first wins."
        )
    if chosen == "absolute_expiry":
        return False, (
            "the absolute expiry is at day 30, and she returns on day 29. Is any other deadline "
            "earlier than her return?"
        )
    return False, "compute both deadlines from the days she used the app; which one passes before she returns?"
