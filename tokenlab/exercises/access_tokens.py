"""Exercises of notebook 01 (access tokens): JWT parts, claims, expiry and the order of checks.

Each checker takes the learner's answer and returns ``(correct, message)``.
Where the right answer follows from the engine (the second a token expires,
the check that rejects a token), the checker derives it by running the
engine instead of storing it, so the exercise stays true if a rule changes.
Those runs are cached: they are deterministic, and loading the demo key takes
a noticeable fraction of a second.
"""

from __future__ import annotations

import base64
import json
import functools
import re
from datetime import datetime, time, timedelta, timezone
from typing import Any

from ..authority import TokenAuthority
from ..errors import TokenlabError
from . import exercise

NOTEBOOK = "01-access-tokens"

CHECK_NAMES = (
    "format", "typ", "algorithm", "kid", "signature", "iss", "aud", "claims",
    "exp", "nbf", "iat", "revocation", "scope",
)
"""Every value ``error.check`` takes for an access token, in the order verify() runs the checks."""

ERROR_CODES = ("invalid_token", "insufficient_scope", "invalid_request")
"""The values ``error.error`` takes when verify() rejects an access token, which learners mix up with check names."""

QUIZ_TOKEN_TTL = timedelta(minutes=15)
QUIZ_TOKEN_ISSUED_AFTER = timedelta(minutes=12, seconds=30)
"""The expiry exercise's token: issued 12 min 30 s after the demo clock's start, living 15 minutes."""

OTHER_API = "https://billing.tokenlab.example"


def _name(answer: Any) -> str | None:
    """Return a string answer stripped, lower-cased and without quotes; None for anything else."""
    if not isinstance(answer, str):
        return None
    return answer.strip().strip("'\"").strip().lower()


def _not_a_check_name(answer: Any, name: str, where: str) -> str:
    """Explain why ``answer`` is not a check name, and point to the check names with the sentence ``where``."""
    if name in ERROR_CODES:
        return (
            f"{name} is error.error, the OAuth error code, which several checks share. The exercise asks for "
            "error.check, the name of the check that failed."
        )
    return f"{answer!r} is not one of the check names verify() reports. {where}"


def _first_failing_check(authority: TokenAuthority, token: str) -> str | None:
    """Return the name of the first check that rejects ``token``, or None when it passes."""
    try:
        authority.verify(token)
    except TokenlabError as error:
        return error.check
    return None


# -- which check rejects an edited payload ---------------------------------------


@functools.cache
def edited_payload_check() -> str | None:
    """Return the check that rejects a genuine token whose exp was moved an hour later without re-signing."""
    authority = TokenAuthority.demo()
    token = authority.issue("alice", client_id="app", scope="read").access_token
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 3600
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return _first_failing_check(authority, f"{header}.{edited}.{signature}")


@exercise(
    "access-edited-payload",
    notebook=NOTEBOOK,
    prompt=(
        "An attacker decodes a genuine access token, changes exp to one hour later, re-encodes the "
        "payload and keeps the original header and signature. Which check name does error.check "
        "show when the API verifies the edited token? Answer a string such as 'typ'."
    ),
    hints=(
        "The checks run in a fixed order, and the first one that fails is the one reported. The table of "
        "checks further down this notebook lists them in that order.",
        "The new exp lies in the future, so the time check would pass. Which earlier check looks at "
        "the exact bytes of the payload?",
        "The signature segment was computed over the original header and payload. What happens when "
        "either of them changes by one byte?",
    ),
)
def check_edited_payload(answer: Any) -> tuple[bool, str]:
    """Accept the check that first rejects an edited payload: the one that covers the payload's bytes."""
    if answer is None:
        return False, "replace None with a check name, as a string, and run the cell again."
    name = _name(answer)
    if name is None:
        return False, f"answer with a check name as a string, not {type(answer).__name__}."
    if name not in CHECK_NAMES:
        return False, _not_a_check_name(
            answer, name,
            "The table under 'What a resource server checks, and in which order', further down this notebook, "
            "lists every check name in the order verify() runs the checks.",
        )

    expected = edited_payload_check()
    if name == expected:
        return True, (
            "editing any claim breaks the signature, so the token fails before its claims are even "
            "read. Decoding a JWT proves nothing; only verifying does."
        )
    if name == "exp":
        return False, (
            "the new exp is in the future, so the time check would pass. But verify() never gets that "
            "far: an earlier check fails first. What did the edit change that the authority can detect?"
        )
    if name in ("format", "typ", "algorithm", "kid"):
        return False, (
            f"the {name} check reads only the header, which the attacker left untouched. "
            "Which check covers the payload too?"
        )
    return False, (
        f"{name} comes after an earlier check that already fails. "
        "Look at the order of the checks: which one notices that the payload changed?"
    )


# -- which claim names the user ----------------------------------------------------

@functools.cache
def demo_claims() -> dict[str, Any]:
    """Return the verified claims of an access token issued to alice, as in the notebook."""
    authority = TokenAuthority.demo()
    return authority.verify(authority.issue("alice", client_id="app", scope="read").access_token)


_CLAIM_MEANINGS = {
    "iss": "iss names the authorization server that issued the token, not the person it was issued for.",
    "aud": "aud names the API the token is meant for, not a person.",
    "client_id": "client_id names the application that asked for the token. One person may use many "
                 "applications, and one application serves many people.",
    "iat": "iat is the second the token was issued, a number of seconds since 1970.",
    "exp": "exp is the second the token stops being valid.",
    "jti": "jti is the token's own unique id, used to revoke that one token. It changes with every token.",
    "scope": "scope lists what the token allows (read, write), not who uses it.",
}


@exercise(
    "access-user-claim",
    notebook=NOTEBOOK,
    prompt=(
        "Which claim of an access token tells the API which user the token acts for? "
        "Answer the claim's name as a string, as it appears in the decoded payload."
    ),
    hints=(
        "Print the decoded claims again and read each value: which one is the user's name here?",
        "The user in this course is alice. Which claim holds 'alice'?",
    ),
)
def check_user_claim(answer: Any) -> tuple[bool, str]:
    """Accept the claim that names the user, the token's subject."""
    if answer is None:
        return False, "replace None with a claim name, as a string, and run the cell again."
    name = _name(answer)
    if name is None:
        return False, f"answer with a claim name as a string, not {type(answer).__name__}."

    user_claims = [claim for claim, value in demo_claims().items() if value == "alice"]
    if name in user_claims or (name == "subject" and "sub" in user_claims):
        return True, (
            "it holds the user's identifier, unique within the issuer. The API keys its data on it "
            "(together with iss), never on client_id."
        )
    if name in _CLAIM_MEANINGS:
        return False, _CLAIM_MEANINGS[name] + " Which claim is about the user?"
    if name == "alice":
        return False, "that is the value in this token. The exercise asks for the name of the claim that holds it."
    if name in ("typ", "alg", "kid"):
        return False, f"{name} is a header field: it describes the token, not the user. Look in the payload."
    return False, (
        f"{answer!r} is not a claim of this course's access tokens. "
        "Print the decoded payload and pick one of its keys."
    )


# -- the second a token stops working -------------------------------------------


@functools.cache
def quiz_token_expiry() -> datetime:
    """Return the first second at which the expiry exercise's token is rejected, found with the engine.

    The token is issued the way the notebook issues it. The clock then moves
    one second at a time from just before ``exp`` until verify() fails.
    """
    authority = TokenAuthority.demo(access_token_ttl=QUIZ_TOKEN_TTL)
    authority.clock.advance(QUIZ_TOKEN_ISSUED_AFTER)
    token = authority.issue("bob", client_id="app", scope="read").access_token
    authority.clock.advance(QUIZ_TOKEN_TTL - timedelta(seconds=2))
    while _first_failing_check(authority, token) is None:
        authority.clock.advance(seconds=1)
    return authority.clock.now()


def _as_utc_time(answer: Any) -> tuple[datetime | time | None, str | None]:
    """Read an answer as an aware datetime or a time of day; return it, or None and a message."""
    if isinstance(answer, datetime):
        if answer.tzinfo is None or answer.utcoffset() is None:
            return None, (
                "that datetime has no time zone, so it could mean any hour. Add tzinfo=timezone.utc, "
                "or answer a string 'HH:MM:SS' in UTC."
            )
        return answer.astimezone(timezone.utc), None
    if isinstance(answer, time):
        return answer.replace(tzinfo=None), None
    if isinstance(answer, str):
        text = answer.strip()
        match = re.fullmatch(r"(\d{1,2}):(\d{2}):(\d{2})(?:\s*UTC)?", text, flags=re.IGNORECASE)
        if match:
            hours, minutes, seconds = (int(part) for part in match.groups())
            if hours > 23 or minutes > 59 or seconds > 59:
                return None, f"{text!r} is not a time of day; write it as 'HH:MM:SS'."
            return time(hours, minutes, seconds), None
        if re.fullmatch(r"\d{1,2}:\d{2}", text):
            return None, "give the seconds too, as 'HH:MM:SS': the exact second matters here."
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None, f"{text!r} is not a time; write it as 'HH:MM:SS', for example '09:00:00'."
        return _as_utc_time(parsed)
    return None, f"answer a string 'HH:MM:SS' or a timezone-aware datetime, not {type(answer).__name__}."


@exercise(
    "access-expiry-time",
    notebook=NOTEBOOK,
    prompt=(
        "quiz_token was issued by an authority whose access_token_ttl is 15 minutes. At which "
        "simulated time (UTC) does the resource server first reject it? Answer 'HH:MM:SS' or an "
        "aware datetime."
    ),
    hints=(
        "Decode quiz_token's payload and convert its iat and exp to datetimes, as above.",
        "A token is valid while now < exp. Is it still valid at the second exp itself?",
    ),
)
def check_expiry_time(answer: Any) -> tuple[bool, str]:
    """Accept the first second at which the quiz token is rejected: the second of its exp."""
    if answer is None:
        return False, "replace None with a time such as '09:00:00' and run the cell again."
    value, problem = _as_utc_time(answer)
    if problem is not None:
        return False, problem

    expected = quiz_token_expiry()
    issued = expected - QUIZ_TOKEN_TTL
    if isinstance(value, datetime):
        if value.date() != expected.date():
            return False, "the date is off: everything in this notebook happens on 2026-01-05 (UTC)."
        value = value.time().replace(microsecond=0)
    answered = datetime.combine(expected.date(), value, tzinfo=timezone.utc)
    difference = answered - expected

    if difference == timedelta(0):
        return True, (
            "from the second of exp on, the token is rejected; one second earlier it still passes. "
            "That is the exact-second rule: valid while now < exp."
        )
    if difference == -timedelta(seconds=1):
        return False, "at that second the token is still accepted. Reread the exact-second rule: valid while now < exp."
    if answered == issued:
        return False, "that is when the token was issued (its iat). When does its lifetime end?"
    if difference.total_seconds() % 3600 == 0:
        return False, "the hour is off. Every time in this course is in UTC, not in your local time zone."
    if difference > timedelta(0):
        return False, "by then the token has long been rejected. Work from its iat and its lifetime."
    return False, "at that time the token still passes. Work from its iat and its lifetime."


# -- which check fails first ------------------------------------------------------


@functools.cache
def other_api_check() -> str | None:
    """Return the check that rejects an expired token issued for another API, found with the engine."""
    issuer = TokenAuthority.demo(audience=OTHER_API)
    token = issuer.issue("alice", client_id="app", scope="read").access_token
    issuer.clock.advance(hours=1)
    ours = TokenAuthority.demo()
    ours.clock.advance(hours=1)
    return _first_failing_check(ours, token)


@exercise(
    "access-check-order",
    notebook=NOTEBOOK,
    prompt=(
        "Our authority also issues tokens for another API (aud 'https://billing.tokenlab.example'). "
        "One of those tokens, expired an hour ago, is sent to our API. Its signature is genuine. "
        "Which check name does error.check show? Answer a string."
    ),
    hints=(
        "Two things are wrong with this token. Only the first failing check is reported.",
        "Find both failing checks in the numbered list of checks. Which comes first?",
    ),
)
def check_check_order(answer: Any) -> tuple[bool, str]:
    """Accept the first of the two failing checks that verify() runs, the one it reports."""
    if answer is None:
        return False, "replace None with a check name, as a string, and run the cell again."
    name = _name(answer)
    if name is None:
        return False, f"answer with a check name as a string, not {type(answer).__name__}."
    if name == "audience":
        name = "aud"
    if name not in CHECK_NAMES:
        return False, _not_a_check_name(
            answer, name, "Scroll up to the table of checks, in the order the resource server runs them."
        )

    expected = other_api_check()
    if name == expected:
        return True, (
            "the token fails two checks, and the one that runs first is reported. A resource server "
            "that skipped this check would accept tokens meant for other APIs of the same issuer."
        )
    if name == "exp":
        return False, (
            "the token has expired, so that check would fail. But it is not the first failing check: "
            "something else is wrong with this token, and it is checked earlier."
        )
    if name in ("signature", "typ", "algorithm", "kid", "format", "iss"):
        return False, (
            f"the {name} check passes here: the token was issued and signed by our own authority. "
            "Which check compares the token with this API?"
        )
    return False, f"the {name} check runs after the first failing one. Look at the order of the checks again."
