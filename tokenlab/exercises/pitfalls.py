"""Exercises of notebook 05 (pitfalls): leeway, scope narrowing, key removal and refresh traffic.

Each checker takes the learner's answer and returns ``(correct, message)``.
The right answers come from running the engine or the client model on the
situation the exercise describes, never from a stored value, so an exercise
stays true if a rule changes. Those runs are cached where they do not depend
on the answer, because they are deterministic.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from datetime import datetime, time, timedelta, timezone
from typing import Any

from ..authority import TokenAuthority
from ..client import Client, ProtectedApi
from ..clock import OffsetClock, SimulatedClock
from ..errors import ConfigurationError, TokenlabError
from ..keys import demo_key
from ..policy import MAX_LEEWAY, TokenPolicy
from ..scope import parse_scope
from . import exercise

NOTEBOOK = "05-pitfalls"

BEHIND = timedelta(seconds=20)
"""The leeway exercise: the resource server's clock runs this far behind the authorization server's."""

GRANTED_SCOPE = "read write"
NARROWED_SCOPE = "read"
"""The scope exercise: the grant's scope, and the narrower scope of the first refresh."""

KEY_ROTATED_AFTER = timedelta(minutes=1)
"""The key exercise: the signing key is rotated one minute after the demo clock's start (09:01:00)."""

MODEL_MINUTES = 60
"""The refresh-traffic model: a reactive client calls the API once a minute for this many minutes."""


# -- answers of common shapes ----------------------------------------------------------


def _seconds(answer: Any) -> tuple[float | None, str | None]:
    """Read a number of seconds or a timedelta; return the seconds, or None and a message."""
    if isinstance(answer, timedelta):
        return answer.total_seconds(), None
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return None, f"answer a number of seconds or a timedelta, not {type(answer).__name__}."
    if not math.isfinite(answer):
        return None, f"{answer!r} is not a number of seconds."
    return float(answer), None


def _time_of_day(answer: Any) -> tuple[time | None, str | None]:
    """Read 'HH:MM:SS' or an aware datetime as a UTC time of day; return it, or None and a message."""
    if isinstance(answer, datetime):
        if answer.tzinfo is None or answer.utcoffset() is None:
            return None, "that datetime has no time zone; add tzinfo=timezone.utc or answer 'HH:MM:SS' in UTC."
        moment = answer.astimezone(timezone.utc)
        if moment.date() != SimulatedClock().now().date():
            return None, "the date is off: everything in this exercise happens on 2026-01-05 (UTC)."
        return moment.time().replace(microsecond=0), None
    if not isinstance(answer, str):
        return None, f"answer a string 'HH:MM:SS' or a timezone-aware datetime, not {type(answer).__name__}."
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2}):(\d{2})\s*(?:UTC)?\s*", answer, flags=re.IGNORECASE)
    if not match:
        return None, f"{answer!r} is not a time; write it as 'HH:MM:SS', for example '09:00:00'."
    hours, minutes, seconds = (int(part) for part in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        return None, f"{answer.strip()!r} is not a time of day; write it as 'HH:MM:SS'."
    return time(hours, minutes, seconds), None


# -- the smallest leeway for a server whose clock runs behind ----------------------------


def accepted_with_leeway(leeway: float) -> bool:
    """Return True if a token sent at once to a resource server ``BEHIND`` the issuer passes with ``leeway``."""
    issuer = TokenAuthority.demo()
    token = issuer.issue("alice", client_id="app", scope="read").access_token
    server = issuer.with_clock(OffsetClock(issuer.clock, -BEHIND))
    server.policy = issuer.policy.replace(leeway=leeway)
    try:
        server.verify(token)
    except TokenlabError:
        return False
    return True


@functools.cache
def smallest_leeway() -> int | None:
    """Return the smallest whole number of seconds of leeway that accepts the exercise's token."""
    cap = int(MAX_LEEWAY.total_seconds())
    return next((seconds for seconds in range(cap + 1) if accepted_with_leeway(seconds)), None)


@exercise(
    "pitfalls-leeway-behind",
    notebook=NOTEBOOK,
    prompt=(
        "The authorization server issues a token at 09:00:00 and the client sends it at once to a "
        "resource server whose clock runs 20 s behind. What is the smallest leeway, in whole seconds, "
        "with which that resource server accepts the token? Answer a number of seconds or a timedelta."
    ),
    hints=(
        "Work out what the resource server's clock shows when the token arrives, and compare it with "
        "the token's iat and exp.",
        "A clock that runs behind never sees a token expire early. Which time check fails instead, and "
        "how does leeway enter that check?",
        "You can try it: resource_server(authority, -20, leeway=...) builds that server, and try_verify() tells "
        "you what it answers. Only a freshly issued token shows the problem.",
    ),
)
def check_leeway_behind(answer: Any) -> tuple[bool, str]:
    """Accept the smallest leeway that lets the iat check pass on a server whose clock runs behind."""
    if answer is None:
        return False, "replace None with a number of seconds and run the cell again."
    seconds, problem = _seconds(answer)
    if problem is not None:
        return False, problem
    assert seconds is not None

    cap = MAX_LEEWAY.total_seconds()
    if seconds < 0:
        return False, "a leeway cannot be negative: it widens the time checks, it never narrows them."
    if seconds > cap:
        return False, (
            f"TokenPolicy rejects a leeway above {cap:g} s, and every extra second of leeway is a second "
            "more for a stolen token. Look for a much smaller value."
        )
    if seconds == smallest_leeway():
        return True, (
            "the token's iat lies that far in the resource server's future, and leeway is what lets iat "
            "lie in the future. Note which check failed without it: iat, not exp. A clock that runs "
            "behind rejects fresh tokens; a clock that runs ahead rejects tokens shortly before they expire."
        )
    if accepted_with_leeway(seconds):
        return False, (
            "that leeway works, but a smaller one works too. Every second of leeway is granted to every "
            "token, stolen ones included, so pick the smallest that does the job."
        )
    return False, (
        "with that leeway the resource server still rejects the token. Which claim of a fresh token "
        "does a server whose clock runs behind see as lying in the future, and by how much?"
    )


# -- the scope after a narrowed refresh ---------------------------------------------------


@functools.cache
def scope_after_two_refreshes() -> str:
    """Refresh once with the narrower scope, then once without a scope; return the last access token's scope."""
    authority = TokenAuthority.demo()
    pair = authority.issue("alice", client_id="app", scope=GRANTED_SCOPE)
    narrowed = authority.refresh(pair.refresh_token, client_id="app", scope=NARROWED_SCOPE)
    authority.clock.advance(minutes=5)
    again = authority.refresh(narrowed.refresh_token, client_id="app")
    return authority.introspect(again.access_token)["scope"]


def _scope_set(answer: Any) -> tuple[frozenset[str] | None, str | None]:
    if isinstance(answer, (list, tuple, set, frozenset)) and all(isinstance(item, str) for item in answer):
        answer = " ".join(answer)
    if not isinstance(answer, str):
        return None, f"answer the scope as a string such as 'read', not {type(answer).__name__}."
    text = answer.strip().strip("'\"")
    if not text:
        return None, "the answer is empty; an access token always has at least one scope."
    try:
        return frozenset(parse_scope(text)), None
    except TokenlabError as error:
        return None, f"{answer!r} is not a scope string ({error})."


@exercise(
    "pitfalls-scope-after-narrowing",
    notebook=NOTEBOOK,
    prompt=(
        "alice's grant has the scope 'read write'. Her client refreshes once with scope='read', and "
        "five minutes later refreshes again with the refresh token it got, this time without a scope. "
        "What scope does the access token of that second refresh carry? Answer a scope string."
    ),
    hints=(
        "Omitting scope on a refresh means: the same scope as ... what, exactly? The previous access "
        "token, or something the refresh token carries?",
        "Introspect the refresh token the first, narrowed refresh returned. Which scope does it report?",
    ),
)
def check_scope_after_narrowing(answer: Any) -> tuple[bool, str]:
    """Accept the grant's scope, because a refresh without a scope requests the refresh token's scope."""
    if answer is None:
        return False, "replace None with a scope string and run the cell again."
    scopes, problem = _scope_set(answer)
    if problem is not None:
        return False, problem
    assert scopes is not None

    expected = frozenset(scope_after_two_refreshes().split())
    if scopes == expected:
        return True, (
            "narrowing applies to one access token only. The refresh token keeps the grant's scope, and a "
            "refresh without a scope asks for all of it again, so a client that wants to stay narrow must "
            "ask for the narrow scope on every refresh."
        )
    if scopes == frozenset(NARROWED_SCOPE.split()):
        return False, (
            "that is the scope of the access token from the first, narrowed refresh. Did that refresh also "
            "change what the new refresh token carries? Introspect it."
        )
    if not scopes <= frozenset(GRANTED_SCOPE.split()):
        return False, "a refresh can never widen the scope beyond the grant's. Which scopes did alice grant?"
    return False, "think about where the second refresh takes its scope from when it names none."


# -- when the old signing key may go ------------------------------------------------------


@functools.cache
def safe_key_removal_time() -> datetime:
    """Return the first second at which the last token signed with the old key no longer verifies.

    The token is issued at 09:01:00 just before the rotation, which makes it
    the last one the old key signs. From that second on, removing the key
    rejects nothing that would have passed.
    """
    authority = TokenAuthority.demo()
    authority.clock.advance(KEY_ROTATED_AFTER)
    last_old = authority.issue("alice", client_id="app", scope="read").access_token
    authority.rotate_signing_key(demo_key("ES256"))
    authority.clock.advance(authority.policy.access_token_ttl - timedelta(seconds=2))
    while True:
        try:
            authority.verify(last_old)
        except TokenlabError:
            return authority.clock.now()
        authority.clock.advance(seconds=1)


@exercise(
    "pitfalls-key-removal",
    notebook=NOTEBOOK,
    prompt=(
        "The admin rotates the signing key at 09:01:00. Access tokens live 5 minutes and the leeway is 0. "
        "A token was issued with the old key at 09:01:00, just before the rotation. What is the earliest "
        "time at which the old key can be removed without rejecting any token that would still pass? "
        "Answer 'HH:MM:SS' or an aware datetime."
    ),
    hints=(
        "Which is the last token the old key signed, and until when does that token pass verify()?",
        "Remember the exact-second rule from notebook 01: a token is valid while now < exp.",
    ),
)
def check_key_removal(answer: Any) -> tuple[bool, str]:
    """Accept the second at which the last token signed with the old key expires."""
    if answer is None:
        return False, "replace None with a time such as '09:00:00' and run the cell again."
    value, problem = _time_of_day(answer)
    if problem is not None:
        return False, problem
    assert value is not None

    expected = safe_key_removal_time()
    answered = datetime.combine(expected.date(), value, tzinfo=timezone.utc)
    rotated = SimulatedClock().now() + KEY_ROTATED_AFTER
    if answered == expected:
        return True, (
            "from that second on, every token the old key signed has expired, so removing the key rejects "
            "nothing that would still pass. With leeway, wait that much longer. Real servers wait one "
            "access token lifetime plus the leeway, plus however long resource servers cache the JWKS."
        )
    if answered <= rotated:
        return False, "at that time the old key is still the only key that signed the live tokens. Try a later time."
    if answered < expected:
        return False, (
            "at that time a token signed with the old key still passes, and removing the key would reject "
            "it. Until when does the last of those tokens live?"
        )
    if answered - expected <= timedelta(seconds=1):
        return False, "safe, but one second later than needed. Reread the exact-second rule."
    return False, (
        "safe, but later than needed. The old key only has to stay until the last token it signed expires."
    )


# -- which lifetime sets the refresh traffic ------------------------------------------------


def refresh_traffic(policy: TokenPolicy) -> tuple[int, int]:
    """Run the notebook's model with ``policy``; return the refreshes and the failed calls in one hour.

    A reactive client logs in at 09:00 and calls the API once a minute for
    :data:`MODEL_MINUTES` minutes.
    """
    authority = TokenAuthority.demo(policy)
    app = Client(authority, ProtectedApi(authority, required_scope="read"), client_id="app", name="user")
    app.login("alice", "read")
    for _ in range(MODEL_MINUTES):
        authority.clock.advance(minutes=1)
        app.call_api()
    refreshes = sum(1 for call in app.calls if call.refreshed)
    failures = sum(1 for call in app.calls if not call.ok)
    return refreshes, failures


@functools.cache
def default_refreshes() -> int:
    """Return the model's refreshes in one hour with the default policy."""
    return refresh_traffic(TokenPolicy())[0]


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _lifetime_text(delta: timedelta) -> str:
    """Write a lifetime in whole minutes when it has no seconds part, else in seconds."""
    seconds = delta.total_seconds()
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} s"


_LIFETIMES = ("access_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl")


@exercise(
    "pitfalls-halve-refreshes",
    notebook=NOTEBOOK,
    prompt=(
        "Change one lifetime of the default TokenPolicy so that the client in the model "
        "(a request every minute for an hour) refreshes exactly half as often as with the defaults, "
        "not less. Answer the TokenPolicy, for example tl.TokenPolicy(some_ttl=timedelta(...))."
    ),
    hints=(
        "Of the three lifetimes, which one decides how often the client has to refresh while the user "
        "is active? The other two decide when the user must log in again.",
        "In the model, the client refreshes once per access token lifetime. What lifetime gives half as "
        "many lifetimes in an hour?",
    ),
)
def check_halve_refreshes(answer: Any) -> tuple[bool, str]:
    """Accept a policy with one lifetime changed under which the model refreshes exactly half as often.

    Fewer refreshes than half is not accepted: the exercise asks for half,
    and each extra minute of access token lifetime helps a thief.
    """
    if answer is None:
        return False, "replace None with a TokenPolicy and run the cell again."
    if not isinstance(answer, TokenPolicy):
        return False, f"answer a TokenPolicy, such as tl.TokenPolicy(...), not {type(answer).__name__}."

    defaults = TokenPolicy()
    changed = [
        field.name for field in dataclasses.fields(TokenPolicy)
        if field.name != "readable_ids" and getattr(answer, field.name) != getattr(defaults, field.name)
    ]
    if not changed:
        return False, "this is the default policy. Change one lifetime."
    if len(changed) > 1:
        return False, f"change one field only; this policy changes {', '.join(changed)}."
    field = changed[0]
    if field not in _LIFETIMES:
        return False, f"{field} is not a lifetime. Change one of {', '.join(_LIFETIMES)}."

    baseline = default_refreshes()
    try:
        refreshes, failures = refresh_traffic(answer)
    except ConfigurationError as error:
        return False, f"the model cannot run with this policy: {error}."
    if failures:
        return False, (
            f"with this policy, {failures} of the user's {MODEL_MINUTES} requests failed: the session ended. "
            "Saving refreshes by logging the user out does not count."
        )
    if field != "access_token_ttl":
        return False, (
            f"the client still refreshes {_times(refreshes)} an hour, as with the defaults: {field} decides "
            "when the user has to log in again, not how often an active client refreshes."
        )
    target = baseline // 2
    if refreshes == target:
        return True, (
            f"{refreshes} refreshes an hour instead of {baseline}. The price: a stolen access token now works "
            f"for up to {_lifetime_text(answer.access_token_ttl)} instead of "
            f"{_lifetime_text(defaults.access_token_ttl)}, and so does an access token after logout at a "
            "stateless API."
        )
    if refreshes > target:
        return False, (
            f"the client refreshes {_times(refreshes)} an hour; the defaults give {baseline}, and the task "
            f"asks for {target}. Make the access token live longer."
        )
    return False, (
        f"the client refreshes only {_times(refreshes)} an hour; the defaults give {baseline}, and the task "
        f"asks for exactly {target}. Every extra minute of lifetime is a minute more for a stolen access "
        "token, so choose a shorter lifetime."
    )
