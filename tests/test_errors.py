"""The error classes: OAuth error codes, HTTP statuses and WWW-Authenticate values (RFC 6749 §5.2, RFC 6750 §3.1)."""

from __future__ import annotations

import pytest

import tokenlab as tl

CODES = [
    (tl.TokenlabError, "invalid_request", 400),
    (tl.InvalidRequest, "invalid_request", 400),
    (tl.InvalidToken, "invalid_token", 401),
    (tl.InvalidGrant, "invalid_grant", 400),
    (tl.InvalidScope, "invalid_scope", 400),
    (tl.UnauthorizedClient, "unauthorized_client", 400),
    (tl.ConfigurationError, "invalid_request", None),
    (tl.ClockError, "invalid_request", None),
    (tl.SigningKeyError, "invalid_request", None),
    (tl.StoreError, "server_error", 500),
]


@pytest.mark.parametrize(("cls", "code", "status"), CODES, ids=lambda value: getattr(value, "__name__", str(value)))
def test_error_class_code_and_status(cls, code, status):
    error = cls("something failed")
    assert error.error == code
    assert error.status_code == status
    assert isinstance(error, tl.TokenlabError)


def test_insufficient_scope_code_and_status():
    error = tl.InsufficientScope("needs admin", required_scope="admin")
    assert error.error == "insufficient_scope"
    assert error.status_code == 403
    assert error.scope == "admin"


def test_invalid_token_www_authenticate():
    header = tl.InvalidToken("the token expired").www_authenticate
    assert header == 'Bearer error="invalid_token", error_description="the token expired"'


def test_invalid_request_www_authenticate():
    assert tl.InvalidRequest("bad").www_authenticate.startswith('Bearer error="invalid_request"')


def test_insufficient_scope_www_authenticate_names_scope():
    header = tl.InsufficientScope("needs admin", required_scope="admin write").www_authenticate
    assert header.startswith('Bearer error="insufficient_scope"')
    assert header.endswith('scope="admin write"')


@pytest.mark.parametrize("cls", [tl.InvalidGrant, tl.InvalidScope, tl.UnauthorizedClient, tl.ConfigurationError])
def test_token_endpoint_errors_have_no_www_authenticate(cls):
    assert cls("x").www_authenticate is None


@pytest.mark.parametrize("message", ['say "hi"', "back\\slash", "tab\there", "naïve ✓", "line\nbreak"])
def test_www_authenticate_description_stays_in_allowed_characters(message):
    header = tl.InvalidToken(message).www_authenticate
    description = header.split('error_description="', 1)[1].rsplit('"', 1)[0]
    assert all(0x20 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in description)


def test_error_facts_default_to_none():
    error = tl.InvalidGrant("x")
    assert (error.token, error.at, error.check) == (None, None, None)


def test_error_str_is_message():
    error = tl.InvalidGrant("refresh token RT1 expired")
    assert str(error) == "refresh token RT1 expired"
    assert error.message == "refresh token RT1 expired"


def test_error_repr_names_class_and_code():
    assert repr(tl.InvalidScope("too wide")) == "InvalidScope(error='invalid_scope', message='too wide')"


def test_configuration_errors_are_value_errors():
    for cls in (tl.ConfigurationError, tl.ClockError, tl.SigningKeyError):
        assert issubclass(cls, ValueError)


# -- errors raised by real operations -----------------------------------------------------


def _raised_errors(authority, clock):  # type: ignore[no-untyped-def]
    """Provoke one error of each kind from a real authority and return them."""
    auth = authority("RS256")
    pair = auth.issue("alice", client_id="app", scope="read")
    attempts = [
        lambda: auth.verify("not-a-token"),
        lambda: auth.verify(pair.access_token, required_scope="admin"),
        lambda: auth.refresh(pair.refresh_token, client_id="other"),
        lambda: auth.refresh(pair.refresh_token, client_id="app", scope="admin"),
        lambda: auth.refresh(None, client_id="app"),
        lambda: auth.revoke(pair.refresh_token, client_id="other"),
        lambda: auth.issue("", client_id="app", scope="read"),
        lambda: tl.TokenPolicy(leeway=-1),
        lambda: tl.SigningKey.from_secret(b"short"),
        lambda: clock.advance(-1),
    ]
    errors = []
    for attempt in attempts:
        with pytest.raises(tl.TokenlabError) as caught:
            attempt()
        errors.append(caught.value)
    return errors


def test_every_raised_error_carries_code(authority, clock):
    for error in _raised_errors(authority, clock):
        assert isinstance(error.error, str) and error.error, repr(error)
        assert isinstance(error.message, str) and error.message, repr(error)


def test_raised_errors_cover_the_codes(authority, clock):
    codes = {error.error for error in _raised_errors(authority, clock)}
    assert codes == {"invalid_token", "insufficient_scope", "invalid_grant", "invalid_scope",
                     "invalid_request", "unauthorized_client"}


def test_verify_error_is_bearer_401(authority):
    auth = authority()
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify("a.b")
    assert caught.value.status_code == 401
    assert caught.value.www_authenticate.startswith('Bearer error="invalid_token"')
    assert caught.value.check == "format"


def test_verify_error_names_time_and_token(authority, clock):
    auth = authority()
    clock.advance(hours=1)
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify("x.y.z")
    assert caught.value.at == clock.now()
    assert caught.value.token == tl.fingerprint("x.y.z")
