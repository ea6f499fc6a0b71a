"""The naive verifier: every attack of notebook 07 gets through it, and TokenAuthority.verify stops each one.

Each attack has a pair of tests: the naive verifier accepts the forged
token, and the authority rejects it at the check named in its error. The
authority and the naive verifier share the ``clock`` fixture, the demo RS256
key, the issuer and the audience, as in the notebook.
"""

from __future__ import annotations

import socket
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import tokenlab as tl
from tokenlab import naive

NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")
OTHER_AUDIENCE = "https://prints.tokenlab.example"
LOOK_ALIKE_ISSUER = "https://auth.tokenlab.example/tenants/mallory"
MALLORY_URL = "https://mallory.example/jwks.json"


@pytest.fixture
def auth(authority) -> tl.TokenAuthority:  # type: ignore[no-untyped-def]
    return authority()


@pytest.fixture
def lab(tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "lab"
    folder.mkdir()
    return folder


@pytest.fixture
def api(lab, auth) -> naive.NaiveVerifier:  # type: ignore[no-untyped-def]
    return naive.NaiveVerifier.for_authority(lab, auth)


@pytest.fixture
def mallory_token(auth) -> str:  # type: ignore[no-untyped-def]
    return auth.issue("mallory", client_id="app", scope="read").access_token


@pytest.fixture
def header(mallory_token) -> dict:  # type: ignore[no-untyped-def]
    return naive.read_token(mallory_token)[0]


@pytest.fixture
def admin_claims(mallory_token) -> dict:  # type: ignore[no-untyped-def]
    return dict(naive.read_token(mallory_token)[1], scope="read admin")


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    """Mallory's own RSA key; generating one takes about 0.1 s, so once per module."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_jwk(attacker_key) -> dict:  # type: ignore[no-untyped-def]
    return RSAAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)


def failed_check(verifier, token: str, **options) -> str | None:  # type: ignore[no-untyped-def]
    """Return the check that rejects ``token``, or None when ``verifier`` accepts it."""
    try:
        verifier.verify(token, **options)
    except tl.TokenlabError as error:
        return error.check
    return None


def test_both_accept_genuine_token(api, auth, mallory_token):
    assert failed_check(api, mallory_token) is None
    assert failed_check(auth, mallory_token) is None


def test_naive_rejects_expired_token(api, clock, mallory_token):
    clock.advance(minutes=5)
    assert failed_check(api, mallory_token) == "exp"


# -- 1. decode-only -------------------------------------------------------------------


def test_decode_only_accepts_edited_payload(api, mallory_token, admin_claims):
    edited = naive.replace_claims(mallory_token, admin_claims)
    assert api.verify(edited, verify_signature=False)["scope"] == "read admin"


def test_naive_signature_check_rejects_edited_payload(api, mallory_token, admin_claims):
    edited = naive.replace_claims(mallory_token, admin_claims)
    assert failed_check(api, edited) == "signature"


def test_authority_rejects_edited_payload_at_signature(auth, mallory_token, admin_claims):
    edited = naive.replace_claims(mallory_token, admin_claims)
    assert failed_check(auth, edited) == "signature"


# -- 2. alg none ----------------------------------------------------------------------


def test_sign_token_without_key_leaves_signature_empty(header, admin_claims):
    assert naive.sign_token(dict(header, alg="none"), admin_claims).endswith(".")


@pytest.mark.parametrize("spelling", NONE_SPELLINGS)
def test_naive_accepts_alg_none(api, header, admin_claims, spelling):
    unsigned = naive.sign_token(dict(header, alg=spelling), admin_claims)
    assert api.verify(unsigned)["scope"] == "read admin"


@pytest.mark.parametrize("spelling", NONE_SPELLINGS)
def test_authority_rejects_alg_none_at_algorithm(auth, header, admin_claims, spelling):
    unsigned = naive.sign_token(dict(header, alg=spelling), admin_claims)
    assert failed_check(auth, unsigned) == "algorithm"


# -- 3. weak HMAC key -----------------------------------------------------------------


def test_wordlist_has_at_most_1000_unique_words():
    words = naive.load_wordlist()
    assert len(words) <= naive.MAX_CRACK_WORDS
    assert len(set(words)) == len(words)


def test_wordlist_contains_weak_secret():
    assert naive.WEAK_HMAC_SECRET in naive.load_wordlist()


def test_crack_finds_weak_secret(api):
    words = naive.load_wordlist()
    result = naive.crack_hmac_secret(api.issue("mallory", scope="read"), words)
    assert result.secret == naive.WEAK_HMAC_SECRET
    assert result.tries == words.index(naive.WEAK_HMAC_SECRET) + 1
    assert result.stopped_by == "found"


def test_naive_accepts_token_signed_with_cracked_secret(api):
    legacy_token = api.issue("mallory", scope="read")
    secret = naive.crack_hmac_secret(legacy_token, naive.load_wordlist()).secret
    legacy_header, legacy_claims = naive.read_token(legacy_token)
    forged = naive.sign_token(legacy_header, dict(legacy_claims, scope="read admin"), key=secret)
    assert api.verify(forged)["scope"] == "read admin"


def test_signing_key_rejects_weak_secret():
    with pytest.raises(tl.SigningKeyError):
        tl.SigningKey.from_secret(naive.WEAK_HMAC_SECRET)


def test_crack_misses_demo_hs256_key_within_budget(authority):
    hs_auth = authority("HS256")
    token = hs_auth.issue("mallory", client_id="app", scope="read").access_token
    words = naive.load_wordlist()
    started = time.perf_counter()
    result = naive.crack_hmac_secret(token, words, time_budget=5.0)
    elapsed = time.perf_counter() - started
    assert result.secret is None
    assert result.tries == len(words)
    assert result.stopped_by == "end of word list"
    assert elapsed < 5.0  # loose: the whole list takes about 0.01 s on one core


def test_authority_rejects_guessed_hmac_secret_at_signature(authority):
    hs_auth = authority("HS256")
    token = hs_auth.issue("mallory", client_id="app", scope="read").access_token
    hs_header, hs_claims = naive.read_token(token)
    guess = naive.sign_token(hs_header, dict(hs_claims, scope="read admin"), key=naive.WEAK_HMAC_SECRET)
    assert failed_check(hs_auth, guess) == "signature"


def test_crack_stops_at_max_words(api):
    words = naive.load_wordlist()
    limit = words.index(naive.WEAK_HMAC_SECRET)  # stops one word short of the secret
    result = naive.crack_hmac_secret(api.issue("mallory", scope="read"), words, max_words=limit)
    assert result.secret is None
    assert result.tries == limit
    assert result.stopped_by == "max_words"


def test_crack_stops_when_time_budget_is_spent(api):
    result = naive.crack_hmac_secret(api.issue("mallory", scope="read"), naive.load_wordlist(), time_budget=0)
    assert result.tries == 0
    assert result.stopped_by == "time budget"


def test_crack_never_reads_past_max_words(api):
    def endless_words():  # type: ignore[no-untyped-def]
        while True:
            yield "not-the-secret"

    result = naive.crack_hmac_secret(api.issue("mallory", scope="read"), endless_words())
    assert result.tries == naive.MAX_CRACK_WORDS


@pytest.mark.parametrize(
    "limits",
    [{"max_words": naive.MAX_CRACK_WORDS + 1}, {"max_words": -1}, {"max_words": True},
     {"time_budget": naive.MAX_CRACK_SECONDS + 1}, {"time_budget": -1}],
    ids=repr,
)
def test_crack_rejects_limits_out_of_range(api, limits):
    with pytest.raises(tl.ConfigurationError):
        naive.crack_hmac_secret(api.issue("mallory", scope="read"), ["word"], **limits)


def test_crack_rejects_rs256_token(mallory_token):
    with pytest.raises(tl.ConfigurationError):
        naive.crack_hmac_secret(mallory_token, ["word"])


# -- 4. jwk header --------------------------------------------------------------------


def test_naive_accepts_jwk_injection(api, header, admin_claims, attacker_key, attacker_jwk):
    token = naive.sign_token(dict(header, jwk=attacker_jwk), admin_claims, key=attacker_key)
    assert api.verify(token)["scope"] == "read admin"


def test_authority_rejects_jwk_injection_at_signature(auth, header, admin_claims, attacker_key, attacker_jwk):
    token = naive.sign_token(dict(header, jwk=attacker_jwk), admin_claims, key=attacker_key)
    assert failed_check(auth, token) == "signature"


# -- 5. jku header --------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):  # type: ignore[no-untyped-def]
    """Make every attempt to open a socket or resolve a name fail the test."""

    def fail_on_network_use(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the lab must not touch the network")

    monkeypatch.setattr(socket, "socket", fail_on_network_use)
    monkeypatch.setattr(socket, "create_connection", fail_on_network_use)
    monkeypatch.setattr(socket, "getaddrinfo", fail_on_network_use)


def jku_token(header, claims, key) -> str:  # type: ignore[no-untyped-def]
    return naive.sign_token(dict(header, kid="mallory-1", jku=MALLORY_URL), claims, key=key)


def test_naive_accepts_jku_injection_without_network(
    no_network, api, header, admin_claims, attacker_key, attacker_jwk
):
    api.jwks_by_url[MALLORY_URL] = {"keys": [dict(attacker_jwk, kid="mallory-1")]}
    token = jku_token(header, admin_claims, attacker_key)
    assert api.verify(token)["scope"] == "read admin"


def test_naive_rejects_jku_missing_from_simulated_web(no_network, api, header, admin_claims, attacker_key):
    token = jku_token(header, admin_claims, attacker_key)
    assert failed_check(api, token) == "jku"


def test_authority_rejects_jku_injection_at_kid(no_network, auth, header, admin_claims, attacker_key):
    token = jku_token(header, admin_claims, attacker_key)
    assert failed_check(auth, token) == "kid"


# -- 6. kid path traversal ------------------------------------------------------------


@pytest.fixture
def empty_file_in_lab(lab):  # type: ignore[no-untyped-def]
    (lab / "dev").mkdir()
    (lab / "dev" / "null").write_bytes(b"")


def kid_token(header, claims, kid: str, secret: bytes) -> str:  # type: ignore[no-untyped-def]
    return naive.sign_token(dict(header, alg="HS256", kid=kid), claims, key=secret)


def test_naive_accepts_kid_path_traversal(empty_file_in_lab, api, header, admin_claims):
    token = kid_token(header, admin_claims, "../dev/null", b"")
    assert api.verify(token)["scope"] == "read admin"


def test_naive_compares_hmac_for_refused_secret(empty_file_in_lab, api, header, admin_claims):
    token = kid_token(header, admin_claims, "../dev/null", b"not the empty secret")
    assert failed_check(api, token) == "signature"


def test_authority_rejects_kid_path_traversal_at_kid(empty_file_in_lab, auth, header, admin_claims):
    token = kid_token(header, admin_claims, "../dev/null", b"")
    assert failed_check(auth, token) == "kid"


@pytest.mark.parametrize("kid", ["../../outside/known", "/{outside}/known"])
def test_naive_reads_no_file_outside_lab(tmp_path, api, header, admin_claims, kid):
    # The file exists and its content would verify the token, so only the lab's rail can reject it.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "known").write_bytes(b"known content")
    kid = kid.replace("/{outside}", str(tmp_path / "outside"))
    token = kid_token(header, admin_claims, kid, b"known content")
    assert failed_check(api, token) == "kid"


# -- 7. algorithm confusion -----------------------------------------------------------


def public_pem(auth: tl.TokenAuthority) -> bytes:
    """Rebuild the PEM text of the authority's public key from its published JWK Set, as an attacker can."""
    return tl.SigningKey.from_jwk(auth.jwks()["keys"][0]).public_pem().encode()


def test_published_key_matches_naive_key_file(api, auth, lab):
    assert public_pem(auth) == (lab / "keys" / auth.keys.current.kid).read_bytes()


def test_pyjwt_refuses_pem_as_hmac_secret(auth, admin_claims):
    # The reason the naive verifier and sign_token fall back to the standard library's hmac.
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode(admin_claims, public_pem(auth), algorithm="HS256")


def test_naive_accepts_algorithm_confusion(api, auth, header, admin_claims):
    token = naive.sign_token(dict(header, alg="HS256"), admin_claims, key=public_pem(auth))
    assert api.verify(token)["scope"] == "read admin"


def test_authority_rejects_algorithm_confusion_at_algorithm(auth, header, admin_claims):
    token = naive.sign_token(dict(header, alg="HS256"), admin_claims, key=public_pem(auth))
    assert failed_check(auth, token) == "algorithm"


# -- 8. another audience --------------------------------------------------------------


@pytest.fixture
def other_audience_token(authority) -> str:  # type: ignore[no-untyped-def]
    prints = authority(audience=OTHER_AUDIENCE)
    return prints.issue("alice", client_id="prints-app", scope="read write").access_token


def test_naive_accepts_token_for_other_audience(api, other_audience_token):
    assert api.verify(other_audience_token)["aud"] == OTHER_AUDIENCE


def test_authority_rejects_other_audience_at_aud(auth, other_audience_token):
    assert failed_check(auth, other_audience_token) == "aud"


# -- 9. issuer prefix -----------------------------------------------------------------


@pytest.fixture
def look_alike_token(authority) -> str:  # type: ignore[no-untyped-def]
    tenant = authority(issuer=LOOK_ALIKE_ISSUER)
    return tenant.issue("alice", client_id="app", scope="read admin").access_token


def test_naive_accepts_issuer_with_same_prefix(api, look_alike_token):
    assert api.verify(look_alike_token)["iss"] == LOOK_ALIKE_ISSUER


def test_authority_rejects_issuer_with_same_prefix_at_iss(auth, look_alike_token):
    assert failed_check(auth, look_alike_token) == "iss"


def test_naive_rejects_unrelated_issuer(api, authority):
    stranger = authority(issuer="https://login.example")
    token = stranger.issue("alice", client_id="app", scope="read").access_token
    assert failed_check(api, token) == "iss"


# -- input the naive verifier rejects -------------------------------------------------


@pytest.mark.parametrize("token", ["not a token", "a.b", 42], ids=repr)
def test_naive_rejects_malformed_token(api, token):
    assert failed_check(api, token) == "format"


def test_naive_rejects_unusable_jwk(api, header, admin_claims, attacker_key):
    token = naive.sign_token(dict(header, jwk="not a key"), admin_claims, key=attacker_key)
    assert failed_check(api, token) == "jwk"
