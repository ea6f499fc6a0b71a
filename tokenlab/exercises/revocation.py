"""Exercises of notebook 04 (revocation and logout): stateless verifiers, verifier choices, introspection.

Each checker takes the learner's answer and returns ``(correct, message)``.
The right answers come from running the engine on the situation the exercise
describes, never from a stored value. Those runs are deterministic, so their
results are cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..authority import TokenAuthority
from ..errors import TokenlabError
from . import exercise

NOTEBOOK = "04-revocation-and-logout"

REFRESH_AT = timedelta(minutes=1)
LOGOUT_AT = timedelta(minutes=2)
"""The stateless exercise: login at 09:00, a refresh at 09:01 (the attacker copies AT2), logout at 09:02."""

VERIFIERS = ("stateless", "deny-list", "introspection")

_VERIFIER_WORDS = {
    "stateless": "stateless",
    "stateless=true": "stateless",
    "signature only": "stateless",
    "deny-list": "deny-list",
    "deny list": "deny-list",
    "denylist": "deny-list",
    "deny_list": "deny-list",
    "stateful": "deny-list",
    "stateless=false": "deny-list",
    "introspection": "introspection",
    "introspect": "introspection",
}


def _minutes(answer: Any) -> float | None:
    """Read a number of minutes, a numeric string or a timedelta as minutes; None for anything else."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, timedelta):
        return answer.total_seconds() / 60
    if isinstance(answer, (int, float)):
        return float(answer) if math.isfinite(answer) else None
    if isinstance(answer, str):
        try:
            value = float(answer.strip())
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return None


# -- how long a stateless API accepts the token after logout -------------------------


@functools.cache
def stateless_acceptance_after_logout() -> timedelta:
    """Run the stateless exercise; return how long after logout a stateless API still accepts the copied token.

    The search moves the clock one second at a time from the logout and
    returns the time of the first rejection minus the logout time.
    """
    authority = TokenAuthority.demo()
    pair = authority.issue("alice", client_id="app", scope="read", actor="user")
    authority.clock.advance(REFRESH_AT)
    pair = authority.refresh(pair.refresh_token, client_id="app", actor="user")
    copied = pair.access_token
    authority.clock.advance(LOGOUT_AT - REFRESH_AT)
    authority.revoke(pair.refresh_token, client_id="app", token_type_hint="refresh_token", actor="user")

    logged_out_at = authority.clock.now()
    for _ in range(24 * 3600):
        try:
            authority.verify(copied, stateless=True, actor="attacker")
        except TokenlabError:
            return authority.clock.now() - logged_out_at
        authority.clock.advance(seconds=1)
    raise AssertionError("the copied access token never expired")


@exercise(
    "revocation-stateless-minutes",
    notebook=NOTEBOOK,
    prompt=(
        "Access tokens live 5 minutes. alice logs in at 09:00:00; at 09:01:00 her app refreshes and gets "
        "AT2, and an attacker copies AT2. At 09:02:00 alice logs out. For how many more minutes after the "
        "logout does a stateless API accept the attacker's copy? Answer a number of minutes."
    ),
    hints=(
        "A stateless API checks the signature and exp only. Does logging out change either of them?",
        "Which access token did the attacker copy, and when was it issued? Its exp follows from that.",
    ),
)
def check_stateless_minutes(answer: Any) -> tuple[bool, str]:
    """A stateless API accepts the last access token until its own exp, whatever happens at logout."""
    if answer is None:
        return False, "replace None with a number of minutes and run the cell again."
    minutes = _minutes(answer)
    if minutes is None:
        return False, f"answer a number of minutes, not {type(answer).__name__} {answer!r}."

    expected = stateless_acceptance_after_logout().total_seconds() / 60
    if math.isclose(minutes, expected):
        return True, (
            "logging out revoked the family at the authorization server, but a stateless API never asks it. "
            "The copy works until its exp, so the access token lifetime bounds this window."
        )
    if minutes == 0:
        return False, "the logout happened at the authorization server. Does a stateless API ever hear of it?"
    if minutes > 60:
        return False, "that is more than an hour, longer than any access token here lives. Did you count in seconds?"
    return False, (
        "work out the exp of the token the attacker copied: when was that token issued, and how long "
        "do access tokens live? Then count from the logout."
    )


# -- which verifiers reject the token right after logout -------------------------------


def _verifier_names(answer: Any) -> set[str] | None:
    """Read a set, list or tuple of verifier names, or one name as a string."""
    if isinstance(answer, str):
        items: Any = [answer]
    elif isinstance(answer, (set, frozenset, list, tuple)):
        items = answer
    else:
        return None
    names = set()
    for item in items:
        if not isinstance(item, str):
            return None
        name = _VERIFIER_WORDS.get(" ".join(item.strip().lower().split()))
        if name is None:
            return None
        names.add(name)
    return names


@functools.cache
def verifiers_rejecting_after_logout() -> frozenset[str]:
    """Log alice out right after login and return the verifiers that reject her access token at once."""
    authority = TokenAuthority.demo()
    pair = authority.issue("alice", client_id="app", scope="read", actor="user")
    authority.revoke(pair.refresh_token, client_id="app", actor="user")

    rejecting = set()
    for name, stateless in (("stateless", True), ("deny-list", False)):
        try:
            authority.verify(pair.access_token, stateless=stateless, actor="resource server")
        except TokenlabError:
            rejecting.add(name)
    if not authority.introspect(pair.access_token, actor="resource server")["active"]:
        rejecting.add("introspection")
    return frozenset(rejecting)


@exercise(
    "revocation-verifier-choices",
    notebook=NOTEBOOK,
    prompt=(
        "alice logs out, which revokes her refresh token and its family. Which of these resource server "
        "choices reject her last access token at once: 'stateless', 'deny-list', 'introspection'? "
        "Answer a set of names, or set() for none."
    ),
    hints=(
        "For each choice, ask: does the resource server consult any state that the logout changed?",
        "A signature and an exp claim are inside the token. The family's revocation is not.",
    ),
)
def check_verifier_choices(answer: Any) -> tuple[bool, str]:
    """Only a verifier that looks up revocation state sees the logout."""
    if answer is None:
        return False, "replace None with a set of names such as {'stateless'} and run the cell again."
    chosen = _verifier_names(answer)
    if chosen is None:
        return False, (
            f"answer a set of names taken from {', '.join(repr(name) for name in VERIFIERS)}, "
            f"such as {{'stateless'}}; {answer!r} is not one."
        )

    expected = set(verifiers_rejecting_after_logout())
    if chosen == expected:
        return True, (
            "both look up state at the authorization server's side on every request: the deny-list in a "
            "shared store, introspection with a call to the server. That lookup is their price."
        )
    if "stateless" in chosen:
        return False, (
            "a stateless verifier checks the signature and exp only. Did the logout change either of them?"
        )
    return False, (
        "a choice you left out also learns of the logout on the very next request. Which choices look up "
        "state that the logout changed?"
    )


# -- what introspection returns for a revoked token ---------------------------------


@functools.cache
def introspection_of_revoked_token() -> tuple[tuple[str, Any], ...]:
    """Revoke an access token and return the introspect() response for it, as sorted items."""
    authority = TokenAuthority.demo()
    pair = authority.issue("alice", client_id="app", scope="read", actor="user")
    authority.revoke(pair.access_token, client_id="app", token_type_hint="access_token", actor="user")
    return tuple(sorted(authority.introspect(pair.access_token, actor="resource server").items()))


@exercise(
    "revocation-introspect-revoked",
    notebook=NOTEBOOK,
    prompt=(
        "alice's app revokes her access token AT1, and then a resource server introspects AT1. What does "
        "introspect() return? Answer the whole response as a Python dict."
    ),
    hints=(
        "An active token's response lists its claims. Would a revoked token's response need any of them?",
        "RFC 7662 wants the response to reveal nothing to a caller who should not learn about the token. "
        "What is the one field every response has?",
    ),
)
def check_introspect_revoked(answer: Any) -> tuple[bool, str]:
    """An inactive token gets the minimal response, which reveals nothing about why."""
    if answer is None:
        return False, "replace None with a dict such as {'key': 'value'} and run the cell again."
    if not isinstance(answer, Mapping):
        return False, f"answer the whole response as a dict, as introspect() returns it, not {type(answer).__name__}."

    expected = dict(introspection_of_revoked_token())
    if dict(answer) == expected:
        return True, (
            "nothing but that. The response does not say whether the token was revoked, expired, or never "
            "existed, so introspection leaks nothing to whoever asks."
        )
    if "active" not in answer:
        return False, "every introspection response has one field that says whether the token can be used. Which is it?"
    if not isinstance(answer["active"], bool):
        return False, f"'active' is a boolean, True or False, not {answer['active']!r}."
    if answer["active"] != expected["active"]:
        return False, "AT1 was revoked. Can a resource server still accept it?"
    return False, (
        "the value of 'active' is right, but your response has more fields. Would an inactive token's "
        "response need them, and whom could they help?"
    )
