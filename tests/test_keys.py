"""SigningKey, KeySet and key rotation: strength checks, pinned algorithms, and what jwks() publishes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import tokenlab as tl

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _pem(private_key) -> bytes:  # type: ignore[no-untyped-def]
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(private_key) -> bytes:  # type: ignore[no-untyped-def]
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_1024():  # type: ignore[no-untyped-def]
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


# -- HMAC secrets ----------------------------------------------------------


def test_hs256_secret_of_31_bytes_rejected():
    with pytest.raises(tl.SigningKeyError, match="31 bytes, shorter than the 32 bytes required"):
        tl.SigningKey.from_secret(b"x" * 31)


def test_hs256_secret_of_32_bytes_accepted():
    assert tl.SigningKey.from_secret(b"x" * 32).algorithm == "HS256"


def test_hs256_secret_counts_utf8_bytes():
    # 16 two-byte characters make 32 bytes.
    assert tl.SigningKey.from_secret("é" * 16).algorithm == "HS256"


def test_hs256_secret_rejects_other_types():
    with pytest.raises(tl.SigningKeyError):
        tl.SigningKey.from_secret(12345)  # type: ignore[arg-type]


def test_hs256_oct_jwk_with_short_secret_rejected():
    short = base64.urlsafe_b64encode(b"x" * 16).rstrip(b"=").decode()
    with pytest.raises(tl.SigningKeyError, match="shorter than the 32 bytes"):
        tl.SigningKey.from_jwk({"kty": "oct", "k": short})


# -- RSA and EC strength ---------------------------------------------------


def test_rsa_1024_pem_rejected(rsa_1024):
    with pytest.raises(tl.SigningKeyError, match="1024 bits, fewer than the 2048 required"):
        tl.SigningKey.from_pem(_pem(rsa_1024))


def test_rsa_1024_public_pem_rejected(rsa_1024):
    with pytest.raises(tl.SigningKeyError, match="1024 bits"):
        tl.SigningKey.from_pem(_public_pem(rsa_1024))


def test_rsa_1024_jwk_rejected(rsa_1024):
    numbers = rsa_1024.public_key().public_numbers()

    def encode(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    with pytest.raises(tl.SigningKeyError, match="1024 bits"):
        tl.SigningKey.from_jwk({"kty": "RSA", "n": encode(numbers.n), "e": encode(numbers.e)})


def test_ec_p384_pem_rejected():
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(tl.SigningKeyError, match="P-256"):
        tl.SigningKey.from_pem(_pem(key))


def test_ed25519_pem_rejected():
    with pytest.raises(tl.SigningKeyError, match="not supported"):
        tl.SigningKey.from_pem(_pem(ed25519.Ed25519PrivateKey.generate()))


# -- PEM loading -------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        b"\x00\xff" * 100,
    ],
)
def test_from_pem_garbage_rejected(garbage):
    with pytest.raises(tl.SigningKeyError, match="not a PEM private or public key"):
        tl.SigningKey.from_pem(garbage)


def test_from_pem_non_text_rejected():
    with pytest.raises(tl.SigningKeyError):
        tl.SigningKey.from_pem(12345)  # type: ignore[arg-type]


def test_from_pem_encrypted_rejected():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )
    with pytest.raises(tl.SigningKeyError, match="encrypted"):
        tl.SigningKey.from_pem(pem)


def test_from_pem_algorithm_mismatch_rejected():
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(tl.SigningKeyError, match="ES256, not RS256"):
        tl.SigningKey.from_pem(_pem(key), "RS256")


def test_from_pem_infers_algorithm():
    key = ec.generate_private_key(ec.SECP256R1())
    assert tl.SigningKey.from_pem(_pem(key)).algorithm == "ES256"


def test_public_pem_key_cannot_sign():
    key = tl.SigningKey.from_pem(tl.demo_key("RS256").public_pem())
    assert key.can_sign is False
    with pytest.raises(tl.SigningKeyError, match="can verify but not sign"):
        key.sign({"sub": "alice"})


def test_authority_rejects_public_only_key():
    public = tl.SigningKey.from_pem(tl.demo_key("RS256").public_pem())
    with pytest.raises(tl.SigningKeyError, match="needs a key that can sign"):
        tl.TokenAuthority(key=public)


# -- JWK loading -------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "HS256", "RS512", "PS256", "none"])
def test_rsa_jwk_with_mismatching_alg_rejected(alg):
    jwk = dict(tl.demo_key("RS256").public_jwk(), alg=alg)
    with pytest.raises(tl.SigningKeyError, match="does not fit kty"):
        tl.SigningKey.from_jwk(jwk)


def test_ec_jwk_with_rs256_alg_rejected():
    jwk = dict(tl.demo_key("ES256").public_jwk(), alg="RS256")
    with pytest.raises(tl.SigningKeyError, match="does not fit kty"):
        tl.SigningKey.from_jwk(jwk)


def test_jwk_with_use_enc_rejected():
    jwk = dict(tl.demo_key("RS256").public_jwk(), use="enc")
    with pytest.raises(tl.SigningKeyError, match="not 'sig'"):
        tl.SigningKey.from_jwk(jwk)


def test_jwk_with_unknown_kty_rejected():
    with pytest.raises(tl.SigningKeyError, match="kty 'OKP' is not supported"):
        tl.SigningKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})


def test_ec_jwk_with_other_curve_rejected():
    jwk = dict(tl.demo_key("ES256").public_jwk(), crv="P-384")
    with pytest.raises(tl.SigningKeyError, match="P-256"):
        tl.SigningKey.from_jwk(jwk)


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", 42])
def test_jwk_not_an_object_rejected(bad):
    with pytest.raises(tl.SigningKeyError):
        tl.SigningKey.from_jwk(bad)  # type: ignore[arg-type]


def test_jwk_with_broken_members_rejected():
    with pytest.raises(tl.SigningKeyError, match="could not be loaded"):
        tl.SigningKey.from_jwk({"kty": "RSA", "n": "!!", "e": "AQAB"})


def test_public_jwk_round_trip_verifies(authority):
    auth = authority("ES256")
    pair = auth.issue("alice", client_id="app", scope="read")
    public = tl.SigningKey.from_jwk(json.dumps(auth.keys.current.public_jwk()))
    assert public.kid == auth.keys.current.kid
    header, _ = public.verify_signature(pair.access_token)
    assert header["kid"] == public.kid


# -- generation, kids, reprs ------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_generated_key_signs_and_verifies(alg):
    key = tl.SigningKey.generate(alg, kid=f"test-{alg}")
    header, payload = key.verify_signature(key.sign({"sub": "alice"}))
    assert header["alg"] == alg
    assert header["kid"] == f"test-{alg}"
    assert json.loads(payload) == {"sub": "alice"}


def test_generate_rejects_unsupported_algorithm():
    with pytest.raises(tl.SigningKeyError, match="unsupported algorithm 'RS512'"):
        tl.SigningKey.generate("RS512")


@pytest.mark.parametrize("kid", ["", "x" * 129, "tab\there", 5])
def test_bad_kid_rejected(kid):
    with pytest.raises(tl.SigningKeyError, match="kid"):
        tl.SigningKey.from_secret(b"x" * 32, kid=kid)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_demo_keys_are_fixed(alg):
    assert tl.demo_key(alg).fingerprint == tl.demo_key(alg).fingerprint
    assert tl.demo_key(alg).kid == f"demo-{alg.lower()}"


def test_hs256_repr_hides_secret():
    secret = bytes(range(32))
    text = repr(tl.SigningKey.from_secret(secret, kid="k1"))
    assert secret.hex() not in text
    assert base64.urlsafe_b64encode(secret).rstrip(b"=").decode() not in text
    assert "k1" in text


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_asymmetric_repr_hides_key_material(alg):
    key = tl.demo_key(alg)
    text = repr(key)
    jwk = key.public_jwk()
    assert "BEGIN" not in text
    for member in ("n", "x", "y"):
        if member in jwk:
            assert jwk[member][:16] not in text
    assert key.kid in text


def test_public_jwk_has_no_private_members():
    for alg in ("RS256", "ES256"):
        jwk = tl.demo_key(alg).public_jwk()
        assert PRIVATE_JWK_MEMBERS.isdisjoint(jwk)
        assert jwk["use"] == "sig"
        assert jwk["alg"] == alg


def test_hmac_key_has_no_public_jwk():
    key = tl.demo_key("HS256")
    assert key.public_jwk() is None
    assert key.public_pem() is None


# -- KeySet and rotation through the authority -----------------------------


def test_jwks_publishes_rs256_public_key(authority):
    jwks = authority("RS256").jwks()
    assert [k["kid"] for k in jwks["keys"]] == ["demo-rs256"]
    assert PRIVATE_JWK_MEMBERS.isdisjoint(jwks["keys"][0])


def test_jwks_of_hs256_authority_is_empty(authority):
    assert authority("HS256").jwks() == {"keys": []}


def test_jwks_never_contains_hmac_secret(authority):
    auth = authority("RS256")
    auth.rotate_signing_key(tl.SigningKey.from_secret(b"s" * 32, kid="hmac-2"))
    jwks = auth.jwks()
    assert [k["kid"] for k in jwks["keys"]] == ["demo-rs256"]
    assert base64.urlsafe_b64encode(b"s" * 32).rstrip(b"=").decode() not in json.dumps(jwks)


def test_jwks_lists_retired_key_until_removed(authority):
    auth = authority("ES256")
    new_key = auth.rotate_signing_key()
    assert {k["kid"] for k in auth.jwks()["keys"]} == {"demo-es256", new_key.kid}
    auth.remove_key("demo-es256")
    assert {k["kid"] for k in auth.jwks()["keys"]} == {new_key.kid}


def test_rotated_key_signs_new_tokens(authority):
    auth = authority("ES256")
    new_key = auth.rotate_signing_key(tl.SigningKey.generate("ES256", kid="es-2"))
    pair = auth.issue("alice", client_id="app", scope="read")
    header, _ = new_key.verify_signature(pair.access_token)
    assert header["kid"] == "es-2"


def test_old_token_verifies_after_rotation(authority):
    auth = authority("ES256")
    old = auth.issue("alice", client_id="app", scope="read")
    auth.rotate_signing_key()
    assert auth.verify(old.access_token)["sub"] == "alice"


def test_old_token_rejected_after_remove_key(authority):
    auth = authority("ES256")
    old = auth.issue("alice", client_id="app", scope="read")
    auth.rotate_signing_key()
    auth.remove_key("demo-es256")
    with pytest.raises(tl.InvalidToken) as caught:
        auth.verify(old.access_token)
    assert caught.value.check == "kid"


def test_old_token_inactive_after_remove_key(authority):
    auth = authority("ES256")
    old = auth.issue("alice", client_id="app", scope="read")
    auth.rotate_signing_key()
    auth.remove_key("demo-es256")
    assert auth.introspect(old.access_token) == {"active": False}


def test_new_token_survives_removal_of_old_key(authority):
    auth = authority("ES256")
    auth.rotate_signing_key()
    new = auth.issue("alice", client_id="app", scope="read")
    auth.remove_key("demo-es256")
    assert auth.verify(new.access_token)["sub"] == "alice"


def test_refresh_token_survives_key_rotation(authority):
    auth = authority("ES256")
    pair = auth.issue("alice", client_id="app", scope="read")
    auth.rotate_signing_key()
    auth.remove_key("demo-es256")
    assert auth.verify(auth.refresh(pair.refresh_token, client_id="app").access_token)["sub"] == "alice"


def test_rotation_to_other_algorithm(authority):
    auth = authority("HS256")
    old = auth.issue("alice", client_id="app", scope="read")
    auth.rotate_signing_key(tl.SigningKey.generate("ES256", kid="es-2"))
    new = auth.issue("alice", client_id="app", scope="read")
    assert auth.verify(old.access_token)["sub"] == "alice"
    assert auth.verify(new.access_token)["sub"] == "alice"


def test_remove_current_key_refused(authority):
    auth = authority("HS256")
    with pytest.raises(tl.SigningKeyError, match="current signing key"):
        auth.remove_key("demo-hs256")


def test_remove_unknown_key_refused(authority):
    with pytest.raises(tl.SigningKeyError, match="no key with kid 'nope'"):
        authority("HS256").remove_key("nope")


def test_rotate_to_duplicate_kid_refused(authority):
    auth = authority("HS256")
    with pytest.raises(tl.SigningKeyError, match="already in use"):
        auth.rotate_signing_key(tl.SigningKey.from_secret(b"y" * 32, kid="demo-hs256"))


def test_rotate_to_public_key_refused(authority):
    auth = authority("RS256")
    public = tl.SigningKey.from_pem(tl.SigningKey.generate("ES256").public_pem())
    with pytest.raises(tl.SigningKeyError, match="only a public key"):
        auth.rotate_signing_key(public)


def test_keyset_requires_signing_key():
    with pytest.raises(tl.SigningKeyError):
        tl.KeySet("demo")  # type: ignore[arg-type]
