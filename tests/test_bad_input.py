"""Malformed input: every operation raises its typed error (or, for introspect, returns inactive), never a library exception."""

from __future__ import annotations

import base64

import pytest

import tokenlab as tl


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


NESTED = b"[" * 2000 + b"]" * 2000  # deeper than the JSON parser's recursion limit, yet under 8192 characters in base64url

JUNK_TOKENS = [
    "",
    "abc",
    "a.b",
    "a.b.c.d",
    "a..b..c",
    "...",
    "!!!.x.y",
    "a.e30.sig",  # header of one base64url character: impossible length
    b64url(b"not json") + ".e30.sig",
    b64url(b"[1, 2]") + ".e30.sig",
    b64url(b'"at+jwt"') + ".e30.sig",
    b64url(b"\xff\xfe\xfd") + ".e30.sig",
    b64url(b'{"typ": "at+jwt"}') + ".e30.sig",
    b64url(b'{"alg": 5, "typ": "at+jwt"}') + ".e30.sig",
    b64url(NESTED) + ".e30.sig",
    "é.é.é",
    "\x00.\x00.\x00",
    "x" * 1_000_000,
    "a." * 500_000 + "a",
]
NON_STRINGS = [None, 0, 12345, 1.5, True, ["a.b.c"], {"a": "b"}, object()]
JUNK_BYTES = [b"", b"abc", b"\xff\xfe.\xfd.\xfc", b"x" * 1_000_000]


def _id(value: object) -> str:
    return f"{type(value).__name__}:{str(value)[:16]!r}"


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("RS256")


# -- verify ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", JUNK_TOKENS + JUNK_BYTES + NON_STRINGS, ids=_id)
def test_verify_junk_raises_invalid_token(auth, token):
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token)
    assert caught.value.error == "invalid_token"


@pytest.mark.parametrize("token", JUNK_TOKENS + JUNK_BYTES + NON_STRINGS, ids=_id)
def test_verify_junk_stateless_raises_invalid_token(auth, token):
    with pytest.raises(tl.InvalidToken):
        auth.verify(token, stateless=True)


def test_verify_one_megabyte_names_length(auth):
    with pytest.raises(tl.InvalidToken, match="longer than the 8192 accepted") as caught:
        auth.verify("x" * 1_000_000)
    assert caught.value.check == "format"


def test_verify_two_segments_names_count(auth):
    with pytest.raises(tl.InvalidToken, match="this one has 2") as caught:
        auth.verify("a.b")
    assert caught.value.check == "format"


SIGNED_PAYLOADS = [b"not json", b"[1, 2, 3]", b'"a string"', b"42", b"null", b"\xff\xfe", b"", NESTED]


@pytest.mark.parametrize("payload", SIGNED_PAYLOADS, ids=_id)
def test_verify_signed_non_object_payload_rejected(auth, forge, payload):
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, payload)
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token)
    assert caught.value.check == "format"


@pytest.mark.parametrize("payload", [b"not json", NESTED], ids=_id)
def test_verify_unsigned_junk_payload_rejected(auth, forge, payload):
    # The signature fails first; the error path must still not trip over the payload.
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, payload, hmac_secret=b"k" * 32)
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token)
    assert caught.value.check == "signature"


def test_verify_bad_signature_base64_rejected(auth, access_claims, forge):
    header, payload, _ = forge({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth)).split(".")
    with pytest.raises(tl.InvalidToken):
        auth.verify(f"{header}.{payload}.!!!")


# -- introspect -----------------------------------------------------------------------------


@pytest.mark.parametrize("token", JUNK_TOKENS + JUNK_BYTES + NON_STRINGS, ids=_id)
def test_introspect_junk_is_inactive(auth, token):
    assert auth.introspect(token) == {"active": False}


@pytest.mark.parametrize("payload", SIGNED_PAYLOADS, ids=_id)
def test_introspect_signed_non_object_payload_is_inactive(auth, forge, payload):
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, payload)
    assert auth.introspect(token) == {"active": False}


# -- refresh ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", JUNK_TOKENS, ids=_id)
def test_refresh_junk_raises_invalid_grant(auth, token):
    with pytest.raises(tl.InvalidGrant) as caught:
        auth.refresh(token, client_id="app")
    assert caught.value.error == "invalid_grant"


@pytest.mark.parametrize("token", JUNK_BYTES + NON_STRINGS, ids=_id)
def test_refresh_non_string_raises_invalid_request(auth, token):
    with pytest.raises(tl.InvalidRequest):
        auth.refresh(token, client_id="app")


@pytest.mark.parametrize("client_id", ["", " ", None, 5, "a\x00b", "x" * 257], ids=_id)
def test_refresh_bad_client_id_raises_invalid_request(auth, client_id):
    pair = auth.issue("alice", client_id="app", scope="read")
    with pytest.raises(tl.InvalidRequest):
        auth.refresh(pair.refresh_token, client_id=client_id)


def test_refresh_junk_changes_nothing(auth):
    pair = auth.issue("alice", client_id="app", scope="read")
    for token in JUNK_TOKENS:
        with pytest.raises(tl.InvalidGrant):
            auth.refresh(token, client_id="app")
    assert auth.refresh(pair.refresh_token, client_id="app").refresh_label == "RT2"


# -- revoke -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", JUNK_TOKENS, ids=_id)
def test_revoke_junk_is_no_effect(auth, token):
    assert auth.revoke(token, client_id="app") is False


@pytest.mark.parametrize("token", JUNK_BYTES + NON_STRINGS, ids=_id)
def test_revoke_non_string_raises_invalid_request(auth, token):
    with pytest.raises(tl.InvalidRequest):
        auth.revoke(token, client_id="app")


# -- issue ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "client_id", "scope", "error"),
    [
        ("", "app", "read", tl.InvalidRequest),
        (None, "app", "read", tl.InvalidRequest),
        ("alice", "", "read", tl.InvalidRequest),
        ("alice", "app\n", "read", tl.InvalidRequest),
        ("alice", "app", "", tl.InvalidScope),
        ("alice", "app", None, tl.InvalidScope),
        ("alice", "app", 'read "x"', tl.InvalidScope),
        ("alice", "app", "r" * 1025, tl.InvalidScope),
    ],
    ids=_id,
)
def test_issue_bad_arguments_raise_typed_error(auth, subject, client_id, scope, error):
    with pytest.raises(error):
        auth.issue(subject, client_id=client_id, scope=scope)


# -- keys -----------------------------------------------------------------------------------------


def test_from_jwk_nested_json_rejected():
    with pytest.raises(tl.SigningKeyError):
        tl.SigningKey.from_jwk(NESTED.decode("ascii"))


@pytest.mark.parametrize("token", JUNK_TOKENS + JUNK_BYTES + NON_STRINGS, ids=_id)
def test_verify_signature_junk_raises_invalid_token(token):
    with pytest.raises(tl.InvalidToken):
        tl.demo_key("HS256").verify_signature(token)
