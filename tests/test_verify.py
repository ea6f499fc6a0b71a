"""Access token verification: each check at its boundary, the order of the checks, and their names.

Tokens the authority would never issue are signed with its own key
(``auth.keys.current.sign``) or built by hand with ``forge``. Such tokens
carry a ``jti`` the store does not know, so the ones that should pass every
earlier check are verified with ``stateless=True``.
"""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import tokenlab as tl

TTL = 300  # default access token lifetime, seconds
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


def _check_of(auth: tl.TokenAuthority, token: object, **kwargs) -> str | None:  # type: ignore[no-untyped-def]
    """Return the name of the check that rejects ``token``."""
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token, **kwargs)  # type: ignore[arg-type]
    return caught.value.check


@pytest.fixture
def auth(authority):  # type: ignore[no-untyped-def]
    return authority("RS256")


@pytest.fixture
def pair(auth):  # type: ignore[no-untyped-def]
    return auth.issue("alice", client_id="app", scope="read write")


# -- a genuine token ----------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_verify_returns_claims(authority, alg):
    auth = authority(alg)
    pair = auth.issue("alice", client_id="app", scope="read write")
    claims = auth.verify(pair.access_token)
    assert claims["sub"] == "alice"
    assert claims["client_id"] == "app"
    assert claims["scope"] == "read write"
    assert claims["iss"] == auth.policy.issuer
    assert claims["aud"] == auth.policy.audience
    assert claims["jti"] == "at-1"


def test_issued_token_header(auth, pair):
    header = jwt.get_unverified_header(pair.access_token)
    assert header == {"alg": "RS256", "kid": "demo-rs256", "typ": "at+jwt"}


def test_issued_token_lifetime(auth, pair, clock):
    claims = auth.verify(pair.access_token)
    assert claims["iat"] == int(clock.now().timestamp())
    assert claims["exp"] == claims["iat"] + TTL


# -- exp and leeway -------------------------------------------------------------


def test_access_token_valid_one_second_before_exp(auth, pair, clock):
    clock.advance(seconds=TTL - 1)
    assert auth.verify(pair.access_token)["sub"] == "alice"


def test_access_token_valid_just_before_exp(auth, pair, clock):
    clock.advance(seconds=TTL - 0.001)
    assert auth.verify(pair.access_token)["sub"] == "alice"


def test_access_token_rejected_exactly_at_exp(auth, pair, clock):
    clock.advance(seconds=TTL)
    assert _check_of(auth, pair.access_token) == "exp"


def test_expired_token_rejected_when_stateless(auth, pair, clock):
    clock.advance(seconds=TTL)
    assert _check_of(auth, pair.access_token, stateless=True) == "exp"


def test_expired_message_says_refresh(auth, pair, clock):
    clock.advance(seconds=TTL)
    with pytest.raises(tl.InvalidToken, match="expired at 2026-01-05 09:05:00 UTC.*refresh it"):
        auth.verify(pair.access_token)


def test_issue_at_fractional_second_truncates_iat(auth, clock):
    clock.advance(seconds=0.7)
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(seconds=TTL - 0.7)
    assert _check_of(auth, pair.access_token) == "exp"


def test_leeway_accepts_last_second(authority, clock):
    auth = authority(leeway=30)
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(seconds=TTL + 29)
    assert auth.verify(pair.access_token)["sub"] == "alice"


def test_leeway_rejects_at_its_end(authority, clock):
    auth = authority(leeway=30)
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(seconds=TTL + 30)
    assert _check_of(auth, pair.access_token) == "exp"


# -- nbf and iat in the future -----------------------------------------------------


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_future_claim_now_accepted(auth, access_claims, clock, claim):
    now = int(clock.now().timestamp())
    token = auth.keys.current.sign(access_claims(auth, **{claim: now}))
    assert auth.verify(token, stateless=True)["sub"] == "alice"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_future_claim_one_second_ahead_rejected(auth, access_claims, clock, claim):
    now = int(clock.now().timestamp())
    token = auth.keys.current.sign(access_claims(auth, **{claim: now + 1}))
    assert _check_of(auth, token, stateless=True) == claim


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_future_claim_within_leeway_accepted(authority, access_claims, clock, claim):
    auth = authority(leeway=30)
    now = int(clock.now().timestamp())
    token = auth.keys.current.sign(access_claims(auth, **{claim: now + 30}))
    assert auth.verify(token, stateless=True)["sub"] == "alice"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_future_claim_beyond_leeway_rejected(authority, access_claims, clock, claim):
    auth = authority(leeway=30)
    now = int(clock.now().timestamp())
    token = auth.keys.current.sign(access_claims(auth, **{claim: now + 31}))
    assert _check_of(auth, token, stateless=True) == claim


def test_nbf_reached_by_clock_accepted(auth, access_claims, clock):
    now = int(clock.now().timestamp())
    token = auth.keys.current.sign(access_claims(auth, nbf=now + 60))
    clock.advance(seconds=60)
    assert auth.verify(token, stateless=True)["nbf"] == now + 60


# -- step 1: typ ------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt ", "application/jwt", "id_token", ""])
def test_typ_other_than_access_token_rejected(auth, access_claims, typ):
    token = auth.keys.current.sign(access_claims(auth), typ=typ)
    assert _check_of(auth, token, stateless=True) == "typ"


def test_missing_typ_rejected(auth, access_claims, forge):
    token = forge({"alg": "RS256", "kid": "demo-rs256"}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "typ"


def test_non_string_typ_rejected(auth, access_claims, forge):
    token = forge({"alg": "RS256", "kid": "demo-rs256", "typ": ["at+jwt"]}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "typ"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt", "Application/AT+JWT"])
def test_access_token_typ_accepted_in_any_case(auth, access_claims, typ):
    token = auth.keys.current.sign(access_claims(auth), typ=typ)
    assert auth.verify(token, stateless=True)["sub"] == "alice"


# -- step 2: algorithm and key selection ---------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_rejected_without_signature(auth, access_claims, forge, alg):
    token = forge({"alg": alg, "typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth), unsigned=True)
    assert _check_of(auth, token, stateless=True) == "algorithm"


@pytest.mark.parametrize("alg", ["none", "None"])
def test_alg_none_rejected_without_kid(auth, access_claims, forge, alg):
    token = forge({"alg": alg, "typ": "at+jwt"}, access_claims(auth), unsigned=True)
    assert _check_of(auth, token, stateless=True) == "algorithm"


def test_alg_none_rejected_with_valid_signature(auth, access_claims, forge):
    token = forge({"alg": "none", "typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "algorithm"


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256", "rs256"])
def test_alg_other_than_key_rejected(auth, access_claims, forge, alg):
    token = forge({"alg": alg, "typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "algorithm"


def test_missing_alg_rejected(auth, access_claims, forge):
    token = forge({"typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "algorithm"


@pytest.mark.parametrize("with_kid", [True, False])
def test_hs256_with_public_key_as_secret_rejected(auth, access_claims, forge, with_kid):
    # Algorithm confusion: the RS256 public key is public, so an attacker can HMAC with it.
    header = {"alg": "HS256", "typ": "at+jwt"}
    if with_kid:
        header["kid"] = "demo-rs256"
    public_pem = auth.keys.current.public_pem().encode("ascii")
    token = forge(header, access_claims(auth), hmac_secret=public_pem)
    assert _check_of(auth, token, stateless=True) == "algorithm"


def test_unknown_kid_rejected(auth, access_claims, forge):
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": "someone-else"}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "kid"


def test_non_string_kid_rejected(auth, access_claims, forge):
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": 7}, access_claims(auth))
    assert _check_of(auth, token, stateless=True) == "kid"


def test_token_without_kid_uses_current_key(auth, access_claims, forge):
    token = forge({"alg": "RS256", "typ": "at+jwt"}, access_claims(auth))
    assert auth.verify(token, stateless=True)["sub"] == "alice"


@pytest.fixture
def attacker():  # type: ignore[no-untyped-def]
    """An ES256 key the authority does not know, with its public JWK."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private, tl.SigningKey.from_pem(pem, kid="attacker").public_jwk()


@pytest.mark.parametrize("kid", [None, "demo-es256", "attacker"])
@pytest.mark.parametrize("field", ["jwk", "jku", "x5u", "x5c"])
def test_header_key_fields_never_used(authority, access_claims, attacker, kid, field):
    auth = authority("ES256")
    private, attacker_jwk = attacker
    embedded = {
        "jwk": attacker_jwk,
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIBattackercertificate"],
    }[field]
    headers = {"typ": "at+jwt", field: embedded}
    if kid is not None:
        headers["kid"] = kid
    token = jwt.encode(access_claims(auth), private, algorithm="ES256", headers=headers)
    if kid is None:
        # PyJWT adds no kid of its own; make sure the header is as intended.
        assert "kid" not in jwt.get_unverified_header(token)
    expected = "kid" if kid == "attacker" else "signature"
    assert _check_of(auth, token, stateless=True) == expected


def test_foreign_key_with_same_kid_rejected(authority, clock):
    auth = authority("HS256")
    other = tl.TokenAuthority(
        policy=auth.policy, clock=clock, key=tl.SigningKey.from_secret(b"o" * 32, kid="demo-hs256")
    )
    pair = other.issue("alice", client_id="app", scope="read")
    assert _check_of(auth, pair.access_token, stateless=True) == "signature"


# -- step 3: signature ------------------------------------------------------------


def test_altered_payload_rejected(auth, pair, access_claims, forge):
    header, _, signature = pair.access_token.split(".")
    forged_payload = forge({}, access_claims(auth, jti="at-1", scope="admin")).split(".")[1]
    assert _check_of(auth, f"{header}.{forged_payload}.{signature}") == "signature"


def test_swapped_signature_rejected(auth, pair):
    other = auth.issue("bob", client_id="app", scope="read")
    header, payload, _ = pair.access_token.split(".")
    assert _check_of(auth, f"{header}.{payload}.{other.access_token.split('.')[2]}") == "signature"


def test_empty_signature_rejected(auth, pair):
    header, payload, _ = pair.access_token.split(".")
    assert _check_of(auth, f"{header}.{payload}.") == "signature"


# -- step 4: iss and aud --------------------------------------------------------------


ISSUER = "https://auth.tokenlab.example"
AUDIENCE = "https://api.tokenlab.example"


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example",
        ISSUER + ".evil.example",
        ISSUER + "/",
        ISSUER[:-1],
        ISSUER.upper(),
        "",
        None,
        [ISSUER],
    ],
)
def test_wrong_iss_rejected(auth, access_claims, forge, iss):
    # forge, because PyJWT refuses to encode an iss that is not a string.
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth, iss=iss))
    assert _check_of(auth, token, stateless=True) == "iss"


@pytest.mark.parametrize(
    "aud",
    [
        "https://other-api.example",
        AUDIENCE + "/admin",
        AUDIENCE[:-1],
        ["https://other-api.example"],
        [],
        None,
        123,
        [[AUDIENCE]],
    ],
)
def test_wrong_aud_rejected(auth, access_claims, aud):
    token = auth.keys.current.sign(access_claims(auth, aud=aud))
    assert _check_of(auth, token, stateless=True) == "aud"


@pytest.mark.parametrize("aud", [[AUDIENCE], ["https://other-api.example", AUDIENCE], [AUDIENCE, 5]])
def test_aud_list_containing_audience_accepted(auth, access_claims, aud):
    token = auth.keys.current.sign(access_claims(auth, aud=aud))
    assert auth.verify(token, stateless=True)["aud"] == aud


def test_other_issuer_policy_rejects_token(authority, pair):
    other = authority(issuer="https://auth.other.example")
    assert _check_of(other, pair.access_token, stateless=True) == "iss"


# -- step 5: required claims and their types --------------------------------------


@pytest.mark.parametrize(
    ("claim", "check"),
    [
        ("iss", "iss"),
        ("aud", "aud"),
        ("sub", "claims"),
        ("client_id", "claims"),
        ("iat", "claims"),
        ("exp", "claims"),
        ("jti", "claims"),
        ("scope", "claims"),
    ],
)
def test_missing_claim_rejected(auth, access_claims, claim, check):
    token = auth.keys.current.sign(access_claims(auth, drop=(claim,)))
    assert _check_of(auth, token, stateless=True) == check


@pytest.mark.parametrize("claim", ["sub", "client_id", "jti", "scope"])
@pytest.mark.parametrize("value", ["", 5, None, ["alice"]])
def test_string_claim_of_wrong_type_rejected(auth, access_claims, claim, value):
    token = auth.keys.current.sign(access_claims(auth, **{claim: value}))
    assert _check_of(auth, token, stateless=True) == "claims"


BAD_NUMERIC_DATES = ["1700000000", True, False, 1.5, [1], None, {"t": 1}, 10**50, -1, MAX_NUMERIC_DATE + 1]


@pytest.mark.parametrize("value", BAD_NUMERIC_DATES, ids=repr)
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_numeric_date_of_wrong_type_rejected(auth, access_claims, claim, value):
    token = auth.keys.current.sign(access_claims(auth, **{claim: value}))
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(token, stateless=True)
    assert caught.value.error == "invalid_token"
    assert caught.value.check == "claims"


def test_exp_at_year_9999_accepted(auth, access_claims):
    token = auth.keys.current.sign(access_claims(auth, exp=MAX_NUMERIC_DATE))
    assert auth.verify(token, stateless=True)["exp"] == MAX_NUMERIC_DATE


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=repr)
def test_non_finite_exp_rejected(auth, access_claims, forge, value):
    # json.dumps writes NaN and Infinity, which Python's json.loads reads back as floats.
    token = forge({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, access_claims(auth, exp=value))
    assert _check_of(auth, token, stateless=True) == "claims"


# -- step 7: revocation, stateful and stateless ---------------------------------------


def test_crafted_token_with_unknown_jti_fails_stateful(auth, access_claims):
    token = auth.keys.current.sign(access_claims(auth))
    assert _check_of(auth, token) == "revocation"


def test_crafted_token_with_unknown_jti_passes_stateless(auth, access_claims):
    token = auth.keys.current.sign(access_claims(auth))
    assert auth.verify(token, stateless=True)["jti"] == "crafted-1"


def test_revoked_token_fails_stateful(auth, pair):
    auth.revoke(pair.access_token, client_id="app")
    assert _check_of(auth, pair.access_token) == "revocation"


def test_revoked_token_passes_stateless(auth, pair):
    auth.revoke(pair.access_token, client_id="app")
    assert auth.verify(pair.access_token, stateless=True)["jti"] == "at-1"


# -- step 8: scope ---------------------------------------------------------------------


@pytest.mark.parametrize("required", ["read", "write", "read write", "write read", ["read", "write"]])
def test_granted_scope_accepted(auth, pair, required):
    assert auth.verify(pair.access_token, required_scope=required)["scope"] == "read write"


def test_insufficient_scope_rejected(auth, pair):
    with pytest.raises(tl.InsufficientScope) as caught:
        auth.verify(pair.access_token, required_scope="admin")
    error = caught.value
    assert error.error == "insufficient_scope"
    assert error.status_code == 403
    assert error.check == "scope"
    assert error.www_authenticate.startswith('Bearer error="insufficient_scope"')
    assert 'scope="admin"' in error.www_authenticate


def test_insufficient_scope_names_all_required(auth, pair):
    with pytest.raises(tl.InsufficientScope) as caught:
        auth.verify(pair.access_token, required_scope="read admin")
    assert caught.value.scope == "read admin"
    assert 'scope="read admin"' in caught.value.www_authenticate


def test_insufficient_scope_is_not_invalid_token(auth, pair):
    with pytest.raises(tl.TokenlabError) as caught:
        auth.verify(pair.access_token, required_scope="admin")
    assert not isinstance(caught.value, tl.InvalidToken)


def test_scope_match_is_case_sensitive(auth, pair):
    with pytest.raises(tl.InsufficientScope):
        auth.verify(pair.access_token, required_scope="READ")


def test_scope_prefix_does_not_match(authority):
    auth = authority()
    pair = auth.issue("alice", client_id="app", scope="read:all")
    with pytest.raises(tl.InsufficientScope):
        auth.verify(pair.access_token, required_scope="read")


# -- the order of the checks ---------------------------------------------------------------


def test_typ_checked_before_algorithm(auth, access_claims, forge):
    token = forge({"alg": "none", "typ": "JWT"}, access_claims(auth), unsigned=True)
    assert _check_of(auth, token) == "typ"


def test_algorithm_checked_before_signature(auth, access_claims, forge):
    token = forge({"alg": "none", "typ": "at+jwt"}, access_claims(auth, iss="https://evil.example"), unsigned=True)
    assert _check_of(auth, token) == "algorithm"


def test_signature_checked_before_iss(auth, access_claims, forge):
    token = forge(
        {"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"},
        access_claims(auth, iss="https://evil.example"),
        hmac_secret=b"k" * 32,
    )
    assert _check_of(auth, token) == "signature"


def test_iss_checked_before_aud(auth, access_claims):
    token = auth.keys.current.sign(access_claims(auth, iss="https://evil.example", aud="https://x.example"))
    assert _check_of(auth, token) == "iss"


def test_aud_checked_before_claims(auth, access_claims):
    token = auth.keys.current.sign(access_claims(auth, aud="https://x.example", drop=("jti",)))
    assert _check_of(auth, token) == "aud"


def test_claims_checked_before_time(auth, access_claims, clock):
    token = auth.keys.current.sign(access_claims(auth, sub=""))
    clock.advance(seconds=TTL)
    assert _check_of(auth, token) == "claims"


def test_time_checked_before_revocation(auth, pair, clock):
    auth.revoke(pair.access_token, client_id="app")
    clock.advance(seconds=TTL)
    assert _check_of(auth, pair.access_token) == "exp"


def test_revocation_checked_before_scope(auth, pair):
    auth.revoke(pair.access_token, client_id="app")
    assert _check_of(auth, pair.access_token, required_scope="admin") == "revocation"


def test_exp_checked_before_nbf(auth, access_claims, clock):
    now = int(clock.now().timestamp())
    token = auth.keys.current.sign(access_claims(auth, exp=now, nbf=now + 100))
    assert _check_of(auth, token, stateless=True) == "exp"


# -- the error itself -------------------------------------------------------------------------


def test_invalid_token_error_fields(auth, pair, clock):
    clock.advance(seconds=TTL)
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(pair.access_token)
    error = caught.value
    assert error.status_code == 401
    assert error.error == "invalid_token"
    assert error.www_authenticate.startswith('Bearer error="invalid_token"')
    assert error.token == tl.fingerprint(pair.access_token)
    assert error.at == clock.now()


def test_invalid_required_scope_is_caller_error(auth, pair):
    with pytest.raises(tl.InvalidScope):
        auth.verify(pair.access_token, required_scope="")
