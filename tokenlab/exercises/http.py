"""Exercises of notebook 08 (over the wire): a refresh request, when to refresh, a logout request.

Each checker takes the learner's answer and returns ``(correct, message)``.
The right answers come from sending the learner's request to a lab server
application in process (Flask's test client: no socket, no network) or from
the lab client's own rule, never from a stored value. Flask is imported
only inside the checkers, so the other notebooks' exercises load without the
``http`` extra.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..authority import TokenAuthority
from . import exercise

NOTEBOOK = "08-over-the-wire"

REFRESH_PLACEHOLDER = "<refresh token>"
ACCESS_PLACEHOLDER = "<access token>"
LETTERS = ("A", "B", "C", "D", "E")

_NEEDS_EXTRA = "this exercise needs the http extra: pip install -e '.[http]', then restart the kernel."


class _Lab:
    """A fresh demo authority and its lab application, with alice logged in through the public client ``app``."""

    def __init__(self, scope: str = "profile") -> None:
        from ..http import DEMO_PASSWORDS, create_app

        self.authority = TokenAuthority.demo()
        self.client = create_app(self.authority).test_client()
        login = self.client.post("/token", data={
            "grant_type": "password", "client_id": "app", "username": "alice",
            "password": DEMO_PASSWORDS["alice"], "scope": scope,
        }, headers={"Tokenlab-Actor": "user"})
        body = login.get_json()
        self.access_token: str = body["access_token"]
        self.refresh_token: str = body["refresh_token"]

    def fill(self, form: Mapping[str, str]) -> dict[str, str]:
        """Replace the placeholders in the learner's form with this lab's real tokens."""
        real = {REFRESH_PLACEHOLDER: self.refresh_token, ACCESS_PLACEHOLDER: self.access_token}
        return {name: real.get(value, value) for name, value in form.items()}

    def kinds(self) -> list[str]:
        return self.authority.events.kinds()


def _form(answer: Any) -> tuple[dict[str, str] | None, str | None]:
    """Return the learner's form fields, or None and a message saying what shape was expected."""
    if not isinstance(answer, Mapping):
        return None, f"answer a dict of form fields such as {{'name': 'value'}}, not {type(answer).__name__}."
    for name, value in answer.items():
        if not isinstance(name, str) or not isinstance(value, str):
            return None, f"every field name and value must be a string; {name!r}: {value!r} is not."
    return dict(answer), None


def _missing_extra() -> bool:
    try:
        import flask  # noqa: F401
    except ModuleNotFoundError:
        return True
    return False


def _status_text(response: Any) -> str:
    body = response.get_json(silent=True) or {}
    error = body.get("error") if isinstance(body, dict) else None
    return f"{response.status_code} {error}" if error else str(response.status_code)


# -- a refresh request, written by hand ------------------------------------------------


@exercise(
    "http-refresh-request",
    notebook=NOTEBOOK,
    prompt=(
        "Write the form fields of the request that the public client 'app' sends to POST /token to "
        "exchange its refresh token for a new pair. Answer a dict; where the refresh token goes, write the "
        "string '<refresh token>' and the check puts in a real one of its own."
    ),
    hints=(
        "Look at the transcript of the refresh above: which fields did the body carry?",
        "Three fields: one names the grant (RFC 6749 section 6), one carries the token, one says which "
        "public client is asking.",
    ),
)
def check_refresh_request(answer: Any) -> tuple[bool, str]:
    """Send the learner's refresh request to a fresh lab and judge what the token endpoint does."""
    if answer is None:
        return False, "replace None with a dict of form fields and run the cell again."
    form, problem = _form(answer)
    if form is None:
        return False, problem or ""
    if REFRESH_PLACEHOLDER not in form.values():
        return False, f"put the string {REFRESH_PLACEHOLDER!r} where the refresh token goes; the check fills in a real one."
    if _missing_extra():
        return False, _NEEDS_EXTRA

    lab = _Lab()
    before = len(lab.kinds())
    response = lab.client.post("/token", data=lab.fill(form), headers={"Tokenlab-Actor": "user"})
    events = lab.kinds()[before:]
    status = _status_text(response)

    if response.status_code == 200 and "refreshed" in events:
        return True, (
            "the token endpoint answered 200 with a new access token and, because of rotation, a new "
            "refresh token. The old refresh token is now used up."
        )
    if response.status_code == 200:
        return False, (
            "the server answered 200, but it started a new login instead of refreshing. A refresh needs "
            "no password: which grant trades a refresh token?"
        )
    error = (response.get_json(silent=True) or {}).get("error")
    advice = {
        "invalid_client": "the server could not tell which client sends this. How does a public client name itself?",
        "unsupported_grant_type": "the server does not know that grant. How does RFC 6749 section 6 spell it?",
        "invalid_grant": "the server did not accept the refresh token. Is the placeholder in the right field?",
        "invalid_scope": "the scope asks for more than the grant holds. Leave scope out to keep the same scope.",
        "unauthorized_client": "this client may not use that grant. Which grant trades a refresh token?",
    }.get(error or "", "a parameter is missing, empty or sent in a way the server does not accept.")
    return False, f"the token endpoint answered {status}: {advice}"


# -- which responses call for a refresh -----------------------------------------------


@functools.cache
def candidate_responses() -> tuple[tuple[str, int, str], ...]:
    """Return the five API responses of the second exercise as (letter, status, WWW-Authenticate).

    They come from real requests to a lab application: a token without the
    notes scope, an expired token, no token at all, a token in the URL,
    and an access token the client had revoked.
    """
    lab = _Lab()
    client = lab.client

    def get(path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.get(path, headers=headers)

    forbidden = get("/api/notes", lab.access_token)
    no_token = get("/api/profile")
    in_query = client.get(f"/api/profile?access_token={lab.access_token}")
    revoked_lab = _Lab()
    revoked_lab.client.post("/revoke", data={"token": revoked_lab.access_token, "client_id": "app"})
    revoked = revoked_lab.client.get("/api/profile", headers={"Authorization": f"Bearer {revoked_lab.access_token}"})
    lab.authority.clock.advance(minutes=5)  # type: ignore[attr-defined]
    expired = get("/api/profile", lab.access_token)

    responses = (forbidden, expired, no_token, in_query, revoked)
    return tuple(
        (letter, response.status_code, response.headers.get("WWW-Authenticate", ""))
        for letter, response in zip(LETTERS, responses)
    )


def candidate_responses_text() -> str:
    """Return the five responses as the notebook prints them: letter, status line and challenge."""
    from http import HTTPStatus

    lines = []
    for letter, status, challenge in candidate_responses():
        lines.append(f"{letter}: {status} {HTTPStatus(status).phrase}")
        lines.append(f"   WWW-Authenticate: {challenge}")
    return "\n".join(lines)


@functools.cache
def letters_to_refresh() -> frozenset[str]:
    """Return the letters whose response makes the lab client refresh and retry, by its own rule."""
    from ..http import refresh_needed

    return frozenset(letter for letter, status, challenge in candidate_responses() if refresh_needed(status, challenge))


def _letters(answer: Any) -> set[str] | None:
    if isinstance(answer, str):
        items: Any = [part for part in answer.replace(",", " ").split() if part] if answer.strip() else []
    elif isinstance(answer, (set, frozenset, list, tuple)):
        items = answer
    else:
        return None
    letters = set()
    for item in items:
        if not isinstance(item, str) or item.strip().upper() not in LETTERS:
            return None
        letters.add(item.strip().upper())
    return letters


_WHY_NOT = {
    "A": "would a new access token of the same grant have a wider scope than this one?",
    "C": "the request carried no token at all. Is there an access token to renew, or a login to do?",
    "D": "what did the server object to: the token, or where the request put it?",
}
_WHY = {
    "B": "a token that has expired is exactly what a refresh replaces.",
    "E": "a revoked access token is rejected like an expired one. Would a new access token from the same refresh token pass?",
}


@exercise(
    "http-when-to-refresh",
    notebook=NOTEBOOK,
    prompt=(
        "Five responses of the API are printed above, labelled A to E. After which of them should a "
        "client refresh its access token and retry the request? Answer a set of letters, such as {'A'}, "
        "or set() for none."
    ),
    hints=(
        "Read the error in each WWW-Authenticate header, and ask: would a new access token of the same "
        "grant change the answer?",
        "RFC 6750 section 3.1 says which error means the token itself is no good: expired, revoked or malformed.",
    ),
)
def check_when_to_refresh(answer: Any) -> tuple[bool, str]:
    """Compare the learner's letters with the responses that make the lab client refresh."""
    if answer is None:
        return False, "replace None with a set of letters, such as {'A'}, and run the cell again."
    letters = _letters(answer)
    if letters is None:
        return False, f"answer a set of letters from A to E, such as {{'A', 'C'}}, not {answer!r}."
    if _missing_extra():
        return False, _NEEDS_EXTRA

    expected = letters_to_refresh()
    if letters == expected:
        return True, (
            "only 401 with error=\"invalid_token\" says the token itself is no good. A refresh may fix that; "
            "if the refresh fails with invalid_grant, the user has to log in again."
        )
    wrong = sorted(letters - expected)
    missed = sorted(expected - letters)
    if wrong:
        first = wrong[0]
        return False, f"reconsider {first}: {_WHY_NOT.get(first, 'would refreshing change this answer?')}"
    first = missed[0]
    return False, f"one more response calls for a refresh. Look again at {first}: {_WHY.get(first, '')}".rstrip()


# -- a logout request, written by hand -------------------------------------------------


@exercise(
    "http-logout-request",
    notebook=NOTEBOOK,
    prompt=(
        "Write the form fields of the request to POST /revoke that logs alice out of the public client "
        "'app': afterwards neither of her tokens may work. Answer a dict; write '<refresh token>' or "
        "'<access token>' where a token goes, and the check puts in real ones of its own."
    ),
    hints=(
        "RFC 7009 revokes one token per request. Which one token's revocation ends the whole token family?",
        "Besides the token, the request says which client is asking; a hint about the token's type is optional.",
    ),
)
def check_logout_request(answer: Any) -> tuple[bool, str]:
    """Send the learner's revocation request to a fresh lab and check that both tokens stopped working."""
    if answer is None:
        return False, "replace None with a dict of form fields and run the cell again."
    form, problem = _form(answer)
    if form is None:
        return False, problem or ""
    if _missing_extra():
        return False, _NEEDS_EXTRA

    lab = _Lab()
    response = lab.client.post("/revoke", data=lab.fill(form), headers={"Tokenlab-Actor": "user"})
    access_active = lab.authority.introspect(lab.access_token)["active"]
    refresh_active = lab.authority.introspect(lab.refresh_token)["active"]

    if response.status_code != 200:
        error = (response.get_json(silent=True) or {}).get("error")
        advice = {
            "invalid_client": "the server could not tell which client is asking. How does a public client name itself?",
            "invalid_request": "a required parameter is missing or empty. Which field carries the token?",
            "unauthorized_client": "that token belongs to another client.",
        }.get(error or "", "the request is not one the revocation endpoint accepts.")
        return False, f"the revocation endpoint answered {_status_text(response)}: {advice}"
    if not access_active and not refresh_active:
        return True, (
            "revoking the refresh token ended its whole family, so the access token minted from it stopped "
            "working too. That is a logout."
        )
    if not access_active:
        return False, (
            "the server answered 200 and the access token stopped working, but the app can still refresh, "
            "so the session goes on. Which token's revocation ends the whole family?"
        )
    return False, (
        "the server answered 200, yet both tokens still work. RFC 7009 answers 200 even for a token it does "
        "not know, so a 200 alone proves nothing. Did the right placeholder reach the right field?"
    )
