"""Signing keys: one algorithm per key, and the authority's set of keys.

Every key is pinned to exactly one algorithm, RS256, ES256 or HS256, and a
token is only ever verified with the algorithm of the key its ``kid`` names.
The header's ``alg`` must agree but never chooses anything, and ``jwk``,
``jku``, ``x5u`` and ``x5c`` headers are never read (RFC 8725 §2.1, §3.1).
JWT encoding and signatures are PyJWT's; key handling is ``cryptography``'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import warnings
from importlib import resources
from typing import Any, Literal, Mapping

import jwt
from jwt.utils import base64url_decode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import InvalidToken, SigningKeyError
from .fingerprints import fingerprint

Algorithm = Literal["RS256", "ES256", "HS256"]
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "HS256")
MIN_HMAC_KEY_BYTES = 32
MIN_RSA_KEY_BITS = 2048
MAX_TOKEN_LENGTH = 8192
"""Longest compact JWS accepted, in characters; longer input is rejected before parsing."""

_DEMO_HMAC_SEED = b"tokenlab demo HS256 key: public course material, never use it for anything real"

# PyJWT with the minimum key length enforced, so a short HMAC key is an error, not a warning.
_JWS = jwt.PyJWS(options={"enforce_minimum_key_length": True})


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# The odd primes up to 167. A modulus from the ROCA-flawed generator is, modulo each of them,
# a power of 65537; a random modulus is so for all of them with a chance of about 4e-9.
_ROCA_PRIMES = tuple(p for p in range(3, 168, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2)))
_ROCA_SUBGROUPS = {p: {pow(65537, k, p) for k in range(p)} for p in _ROCA_PRIMES}


def _has_roca_fingerprint(modulus: int) -> bool:
    """Return True if an RSA modulus has the structure of CVE-2017-15361 (ROCA) keys."""
    return all(modulus % p in powers for p, powers in _ROCA_SUBGROUPS.items())


def _check_algorithm(algorithm: object) -> str:
    if not isinstance(algorithm, str) or algorithm.upper() not in SUPPORTED_ALGORITHMS:
        raise SigningKeyError(
            f"unsupported algorithm {algorithm!r}; choose one of {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    return algorithm.upper()


def _check_kid(kid: object) -> str | None:
    if kid is None:
        return None
    if not isinstance(kid, str) or not kid or len(kid) > 128 or not kid.isprintable():
        raise SigningKeyError(f"kid must be a short printable string, not {kid!r}")
    return kid


class SigningKey:
    """One key pinned to one algorithm, with its ``kid``.

    Create one with :meth:`generate`, :meth:`from_pem`, :meth:`from_jwk` or
    :meth:`from_secret`. A key loaded from a public key or a public JWK can
    verify but not sign. ``repr()`` shows only the ``kid``, the algorithm and
    a short fingerprint, never key material.
    """

    def __init__(self, algorithm: str, *, kid: str, signing_key: Any, verifying_key: Any) -> None:
        self.algorithm: str = _check_algorithm(algorithm)
        self.kid: str = _check_kid(kid) or ""
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self._check_strength()

    # -- constructors ---------------------------------------------------

    @classmethod
    def generate(cls, algorithm: str = "RS256", kid: str | None = None) -> SigningKey:
        """Generate a new random key: RSA 2048, EC P-256, or a 32-byte HMAC secret."""
        algorithm = _check_algorithm(algorithm)
        kid = _check_kid(kid)

        if algorithm == "HS256":
            return cls.from_secret(secrets.token_bytes(MIN_HMAC_KEY_BYTES), kid=kid)

        if algorithm == "RS256":
            private: Any = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_KEY_BITS)
        else:
            private = ec.generate_private_key(ec.SECP256R1())
        return cls._from_crypto_key(private, algorithm, kid)

    @classmethod
    def from_secret(cls, secret: bytes | str, kid: str | None = None) -> SigningKey:
        """Wrap an HS256 secret; it must be at least 32 bytes (RFC 7518 §3.2, RFC 8725 §3.5)."""
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, bytes):
            raise SigningKeyError(f"an HS256 secret must be bytes or str, not {type(secret).__name__}")
        if len(secret) < MIN_HMAC_KEY_BYTES:
            raise SigningKeyError(
                f"HS256 secret is {len(secret)} bytes, shorter than the {MIN_HMAC_KEY_BYTES} bytes required; "
                "a short secret can be guessed offline from one token. "
                "Use SigningKey.generate('HS256') or secrets.token_bytes(32)"
            )
        kid = _check_kid(kid) or "hs256-" + fingerprint(b"kid:" + secret)
        return cls("HS256", kid=kid, signing_key=secret, verifying_key=secret)

    @classmethod
    def from_pem(cls, pem: bytes | str, algorithm: str | None = None, kid: str | None = None) -> SigningKey:
        """Load an unencrypted PEM private key, or a public key (which can then only verify)."""
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
        if not isinstance(data, bytes):
            raise SigningKeyError(f"pem must be bytes or str, not {type(pem).__name__}")

        key: Any
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise SigningKeyError("the PEM key is encrypted; decrypt it first, tokenlab takes no passwords") from None
        except ValueError:
            try:
                key = serialization.load_pem_public_key(data)
            except ValueError:
                raise SigningKeyError(
                    "the text is not a PEM private or public key; it should start with "
                    "'-----BEGIN PRIVATE KEY-----' or '-----BEGIN PUBLIC KEY-----'"
                ) from None

        inferred = cls._algorithm_for(key)
        if algorithm is not None and _check_algorithm(algorithm) != inferred:
            raise SigningKeyError(f"the PEM holds a key for {inferred}, not {algorithm}; pass algorithm={inferred!r}")
        return cls._from_crypto_key(key, inferred, _check_kid(kid))

    @classmethod
    def from_jwk(cls, jwk_data: Mapping[str, Any] | str, kid: str | None = None) -> SigningKey:
        """Load a key from a JWK (RFC 7517), as a dict or a JSON string.

        The JWK's ``alg``, when present, must be one of the supported
        algorithms and agree with the key type; ``use``, when present, must
        be ``sig``, and ``key_ops``, when present, must list ``sign`` or
        ``verify``.
        """
        if isinstance(jwk_data, str):
            try:
                jwk_data = json.loads(jwk_data)
            except (ValueError, RecursionError) as exc:
                raise SigningKeyError(f"the JWK is not valid JSON ({exc})") from None
        if not isinstance(jwk_data, Mapping):
            raise SigningKeyError(f"a JWK must be a JSON object, not {type(jwk_data).__name__}")

        kty = jwk_data.get("kty")
        default_alg = {"RSA": "RS256", "EC": "ES256", "oct": "HS256"}.get(kty)  # type: ignore[arg-type]
        if default_alg is None:
            raise SigningKeyError(f"JWK kty {kty!r} is not supported; use 'RSA', 'EC' or 'oct'")
        alg = jwk_data.get("alg", default_alg)
        if alg != default_alg:
            raise SigningKeyError(
                f"JWK alg {alg!r} does not fit kty {kty!r}; tokenlab pins {kty} keys to {default_alg}"
            )
        if jwk_data.get("use", "sig") != "sig":
            raise SigningKeyError(f"JWK use {jwk_data.get('use')!r} is not 'sig'; this key is not for signatures")
        key_ops = jwk_data.get("key_ops")
        if key_ops is not None and not (
            isinstance(key_ops, list) and all(isinstance(op, str) for op in key_ops) and {"sign", "verify"} & set(key_ops)
        ):
            raise SigningKeyError(
                f"JWK key_ops {key_ops!r} lists neither 'sign' nor 'verify' (RFC 7517 §4.3); this key is not for signatures"
            )
        if kty == "EC" and jwk_data.get("crv") != "P-256":
            raise SigningKeyError(f"ES256 needs curve P-256, but the JWK says crv={jwk_data.get('crv')!r}")

        kid = _check_kid(kid) or _check_kid(jwk_data.get("kid"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = jwt.PyJWK(dict(jwk_data), algorithm=default_alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
            raise SigningKeyError(f"the JWK could not be loaded as a {default_alg} key ({exc})") from None

        if kty == "oct":
            return cls.from_secret(parsed.key, kid=kid)
        return cls._from_crypto_key(parsed.key, default_alg, kid)

    @classmethod
    def _from_crypto_key(cls, key: Any, algorithm: str, kid: str | None) -> SigningKey:
        if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            signing, verifying = key, key.public_key()
        else:
            signing, verifying = None, key
        instance = cls(algorithm, kid=kid or "pending", signing_key=signing, verifying_key=verifying)
        if kid is None:
            instance.kid = instance.thumbprint()[:16]
        return instance

    @staticmethod
    def _algorithm_for(key: Any) -> str:
        if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            return "RS256"
        if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
            return "ES256"
        raise SigningKeyError(f"{type(key).__name__} keys are not supported; use an RSA or EC P-256 key")

    def _check_strength(self) -> None:
        key = self._verifying_key
        if self.algorithm == "RS256":
            if not isinstance(key, rsa.RSAPublicKey):
                raise SigningKeyError("an RS256 key must be an RSA key")
            if key.key_size < MIN_RSA_KEY_BITS:
                raise SigningKeyError(
                    f"the RSA key has {key.key_size} bits, fewer than the {MIN_RSA_KEY_BITS} required "
                    "(RFC 7518 §3.3); generate a 2048-bit or larger key"
                )
            if _has_roca_fingerprint(key.public_numbers().n):
                raise SigningKeyError(
                    "the RSA key has the ROCA fingerprint (CVE-2017-15361): it was made by a flawed "
                    "generator and its private key can be computed. Generate a new key"
                )
        elif self.algorithm == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise SigningKeyError("an ES256 key must be an EC key on curve P-256 (secp256r1)")
        elif not isinstance(key, bytes) or len(key) < MIN_HMAC_KEY_BYTES:
            raise SigningKeyError(f"an HS256 key must be at least {MIN_HMAC_KEY_BYTES} bytes")

    # -- properties -----------------------------------------------------

    @property
    def is_symmetric(self) -> bool:
        """True for HS256, whose one secret both signs and verifies."""
        return self.algorithm == "HS256"

    @property
    def can_sign(self) -> bool:
        """True when the key contains private (or secret) material."""
        return self._signing_key is not None

    @property
    def fingerprint(self) -> str:
        """A short fingerprint of the key, safe to show."""
        if self.is_symmetric:
            return fingerprint(b"key:" + self._verifying_key)
        return fingerprint(self.thumbprint())

    def public_jwk(self) -> dict[str, Any] | None:
        """Return the public JWK with ``kid``, ``alg`` and ``use``; ``None`` for an HMAC key."""
        key = self._verifying_key
        if isinstance(key, rsa.RSAPublicKey):
            numbers = key.public_numbers()
            jwk: dict[str, Any] = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
        elif isinstance(key, ec.EllipticCurvePublicKey):
            numbers_ec = key.public_numbers()
            jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": base64.urlsafe_b64encode(numbers_ec.x.to_bytes(32, "big")).rstrip(b"=").decode(),
                "y": base64.urlsafe_b64encode(numbers_ec.y.to_bytes(32, "big")).rstrip(b"=").decode(),
            }
        else:
            return None
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def thumbprint(self) -> str:
        """Return the RFC 7638 JWK thumbprint (SHA-256, base64url) of an asymmetric key."""
        jwk = self.public_jwk()
        if jwk is None:
            raise SigningKeyError("an HMAC key has no public JWK thumbprint")
        required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
        canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(canonical.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def public_pem(self) -> str | None:
        """Return the public key as PEM text; ``None`` for an HMAC key."""
        if self.is_symmetric:
            return None
        return self._verifying_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    # -- signing and verification ---------------------------------------

    def sign(self, claims: Mapping[str, Any], *, typ: str = "at+jwt") -> str:
        """Encode and sign ``claims`` as a compact JWS with header ``alg``, ``kid`` and ``typ``."""
        if not self.can_sign:
            raise SigningKeyError(f"key {self.kid} contains only a public key, so it can verify but not sign")
        return jwt.encode(dict(claims), self._signing_key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": typ})

    def verify_signature(self, token: str, header: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
        """Check ``token``'s signature with this key and its one algorithm.

        Returns the header and the raw payload bytes; the payload is not
        parsed or checked. Raises :class:`InvalidToken` when the token is
        malformed, names another algorithm (``none`` included), or the
        signature does not verify. ``header`` is the result of
        :func:`read_header` when the caller already has it.
        """
        if header is None:
            header = read_header(token)
        alg = header.get("alg")
        if alg != self.algorithm:
            raise InvalidToken(
                f"the token header says alg {alg!r}, but key {self.kid} is pinned to {self.algorithm}; "
                "tokens signed with any other algorithm are rejected",
                check="algorithm",
            )

        try:
            verified = _JWS.decode_complete(token, key=self._verifying_key, algorithms=[self.algorithm])
        except jwt.InvalidSignatureError:
            raise InvalidToken(
                f"the signature does not verify with key {self.kid} ({self.algorithm}); "
                "the token was altered or signed with another key",
                check="signature",
            ) from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(
                f"the token could not be verified with key {self.kid} ({type(exc).__name__}: {exc})",
                check="signature",
            ) from None
        return verified["header"], verified["payload"]

    def __repr__(self) -> str:
        role = "private" if self.can_sign else "public"
        return f"SigningKey({self.algorithm}, kid={self.kid!r}, {role}, fingerprint={self.fingerprint})"


def read_header(token: object) -> dict[str, Any]:
    """Parse a compact JWS header without verifying anything, checking only its form.

    Raises :class:`InvalidToken` naming the problem: not a string, too long,
    not three segments, bad base64url, not a JSON object, or no ``alg``.
    """
    if isinstance(token, (bytes, bytearray)):
        raise InvalidToken(
            "the token is bytes; pass it as a str, for example token.decode('ascii')", check="format"
        )
    if not isinstance(token, str):
        raise InvalidToken(f"the token must be a string, not {type(token).__name__}", check="format")
    if token[:7].lower() == "bearer ":
        raise InvalidToken(
            "the token starts with 'Bearer ', which belongs to the Authorization header; pass only the token",
            check="format",
        )
    if token != token.strip():
        raise InvalidToken(
            "the token has spaces or line breaks around it; pass the token exactly as it was issued",
            check="format",
        )
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(
            f"the token is {len(token)} characters, longer than the {MAX_TOKEN_LENGTH} accepted", check="format"
        )
    if token.count(".") != 2:
        raise InvalidToken(
            f"a JWT has three dot-separated segments (header.payload.signature), this one has {token.count('.') + 1}",
            check="format",
        )
    if "=" in token:
        # PyJWT accepts '=' padding after the signature, so a padded copy of an issued token
        # would verify under another fingerprint. A JWS never has padding (RFC 7515 §2).
        raise InvalidToken(
            "the token contains '=', but JWT segments are base64url without padding; "
            "pass the token exactly as it was issued",
            check="format",
        )

    # PyJWT parses the whole token again, strictly, when the signature is verified; this
    # first look decodes only the header, which is all the checks before the signature need.
    try:
        header = json.loads(base64url_decode(token.split(".", 1)[0]))
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidToken(
            f"the token header is not base64url-encoded JSON ({type(exc).__name__}); "
            "pass the token exactly as it was issued",
            check="format",
        ) from None
    if not isinstance(header, dict):
        raise InvalidToken("the token header is not a JSON object", check="format")
    if not isinstance(header.get("alg"), str):
        raise InvalidToken("the token header has no 'alg' string", check="algorithm")
    return header


class KeySet:
    """The authority's keys: the current signing key, plus retired keys that still verify.

    ``kid`` selects only among these keys. A token without ``kid`` is tried
    against the current key alone.
    """

    def __init__(self, current: SigningKey) -> None:
        if not isinstance(current, SigningKey):
            raise SigningKeyError(f"key must be a SigningKey, not {type(current).__name__}")
        if not current.can_sign:
            raise SigningKeyError(f"key {current.kid} contains only a public key, but the authority needs a key that can sign")
        self.current = current
        self._keys: dict[str, SigningKey] = {current.kid: current}

    def rotate(self, new_key: SigningKey) -> SigningKey:
        """Make ``new_key`` the signing key and keep the previous one for verification; return the previous one."""
        if not isinstance(new_key, SigningKey):
            raise SigningKeyError(f"new_key must be a SigningKey, not {type(new_key).__name__}")
        if not new_key.can_sign:
            raise SigningKeyError(f"key {new_key.kid} contains only a public key, but a signing key must be able to sign")
        if new_key.kid in self._keys:
            raise SigningKeyError(f"kid {new_key.kid!r} is already in use; give the new key a different kid")
        previous = self.current
        self._keys[new_key.kid] = new_key
        self.current = new_key
        return previous

    def remove(self, kid: str) -> SigningKey:
        """Stop accepting tokens signed with key ``kid``; the current key cannot be removed."""
        if kid == self.current.kid:
            raise SigningKeyError(f"key {kid} is the current signing key; rotate to a new key before removing it")
        try:
            return self._keys.pop(kid)
        except KeyError:
            raise SigningKeyError(f"no key with kid {kid!r}; known kids: {', '.join(self._keys)}") from None

    def select(self, header: Mapping[str, Any]) -> SigningKey:
        """Return the key a token header's ``kid`` names, or the current key when there is no ``kid``."""
        alg = header.get("alg")
        if isinstance(alg, str) and alg.lower() == "none":
            raise InvalidToken(
                f"the token header says alg {alg!r}, an unsigned token; unsigned tokens are never accepted",
                check="algorithm",
            )
        if "kid" not in header:
            return self.current
        kid = header["kid"]
        if not isinstance(kid, str):
            raise InvalidToken(f"the kid header must be a string, not {type(kid).__name__}", check="kid")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(
                f"the kid {kid[:40]!r} names no key of this authority; the token was signed elsewhere "
                "or with a key that has been removed",
                check="kid",
            )
        return key

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._keys.values()))

    def __len__(self) -> int:
        return len(self._keys)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Return the public keys as a JWK Set; HMAC keys are never published."""
        return {"keys": [jwk for key in self._keys.values() if (jwk := key.public_jwk()) is not None]}

    def __repr__(self) -> str:
        return f"KeySet(current={self.current.kid!r}, kids={list(self._keys)!r})"


def demo_key(algorithm: str = "RS256") -> SigningKey:
    """Return tokenlab's fixed demo key for ``algorithm``. DEMO ONLY: the key is public.

    Notebooks use it so their outputs repeat exactly; its ``kid`` starts with
    ``demo-`` so that nobody mistakes it for a real key.
    """
    algorithm = _check_algorithm(algorithm)
    if algorithm == "HS256":
        return SigningKey.from_secret(hashlib.sha256(_DEMO_HMAC_SEED).digest(), kid="demo-hs256")
    name = f"demo-{algorithm.lower()}.pem"
    pem = resources.files("tokenlab").joinpath("data").joinpath(name).read_bytes()
    return SigningKey.from_pem(pem, algorithm, kid=f"demo-{algorithm.lower()}")


__all__ = ["SigningKey", "KeySet", "demo_key", "read_header", "SUPPORTED_ALGORITHMS"]
