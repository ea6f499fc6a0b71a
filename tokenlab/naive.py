"""A deliberately naive JWT verifier, written to be attacked in notebook 07. NEVER USE IT.

Nothing in this module protects anything. :class:`NaiveVerifier` makes, on
purpose, the mistakes that real resource servers have shipped:

- it can decode a token without verifying it (``verify(token, verify_signature=False)``);
- it takes the algorithm from the token's own ``alg`` header, and accepts
  ``none`` in any casing as "no signature needed";
- its legacy HS256 key is a dictionary word, and it silences PyJWT's warning
  about short HMAC keys;
- it trusts a public key embedded in the ``jwk`` header, and a key set
  "fetched" from the ``jku`` header's URL;
- it reads its keys from files named by the ``kid`` header, so ``../`` in a
  ``kid`` reaches files outside its key folder;
- it uses a key file's bytes with whatever algorithm the header's ``alg``
  names, so an RSA public key in PEM form becomes an HMAC secret when
  ``alg`` is HS256 (algorithm confusion);
- it never checks ``aud``, and accepts any ``iss`` that starts with the real
  issuer.

:class:`tokenlab.TokenAuthority` makes none of these mistakes; the notebook
sends every forged token to both. The module also holds the attacker's tools
the notebook uses: :func:`read_token`, :func:`replace_claims`,
:func:`sign_token`, :func:`crack_hmac_secret` and :func:`load_wordlist`.

Lab safety rails, which are not part of the naive logic:

- no network access at all: a ``jku`` URL is only looked up in the in-memory
  dict :attr:`NaiveVerifier.jwks_by_url`, which the notebook fills;
- key files are read only inside the lab folder the caller created; a ``kid``
  may climb out of ``keys/`` but never out of that folder;
- the word-list attack stops after :data:`MAX_CRACK_WORDS` words or its time
  budget, whichever comes first.

Signatures are made and checked with PyJWT. PyJWT refuses an empty HMAC key
and a PEM key as an HMAC secret. Only for those two cases does this module
compute HMAC-SHA256 with the standard library's :mod:`hmac`, and that
bypass is exactly the insecure step the attacks exploit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import jwt
from jwt.utils import base64url_decode, base64url_encode
from jwt.warnings import InsecureKeyLengthWarning

from .errors import ConfigurationError, InvalidToken

if TYPE_CHECKING:
    from .authority import TokenAuthority
    from .clock import Clock

WEAK_HMAC_SECRET = "sunshine"
"""The naive API's legacy HS256 secret: a word from ``data/wordlist.txt``. DEMO ONLY, and weak on purpose."""

LEGACY_KID = "legacy-hs256"
"""The ``kid`` of the naive API's legacy HS256 key file."""

MAX_CRACK_WORDS = 1000
"""Most words :func:`crack_hmac_secret` tries in one call."""

MAX_CRACK_SECONDS = 30.0
"""Maximum time budget of :func:`crack_hmac_secret`, in seconds."""

MAX_KEY_FILE_BYTES = 64 * 1024
"""Maximum number of bytes read from one key file. A PEM public key is under 1 KiB."""

_HS256 = jwt.get_algorithm_by_name("HS256")

# PyJWT's own checks of exp, nbf, iat, aud, iss, sub and jti are off: the naive
# verifier does its few claim checks itself, against the simulated clock.
_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


def _reject(message: str, check: str) -> InvalidToken:
    return InvalidToken(message, check=check)


class NaiveVerifier:
    """A resource server's token check full of classic mistakes. DO NOT USE IT: it exists to be attacked.

    It keeps its keys as files in ``<lab_folder>/keys/``, one file per
    ``kid``: an RSA public key in PEM form, or the raw bytes of an HMAC
    secret. :meth:`for_authority` writes that folder. The constructor does no
    file I/O. A key file is read when a token's ``kid`` names it, or when
    :meth:`issue` signs a legacy token.

    ``verify()`` returns the claims or raises :class:`~tokenlab.InvalidToken`,
    like :meth:`TokenAuthority.verify`, so that both can be called the same
    way. Its ``check`` names the one of its few checks that failed.
    """

    def __init__(
        self,
        lab_folder: str | Path,
        *,
        clock: Clock,
        issuer: str,
        audience: str,
        default_kid: str | None = None,
    ) -> None:
        self.lab_folder = Path(lab_folder).resolve()
        self.key_folder = self.lab_folder / "keys"
        self.clock = clock
        self.issuer = issuer
        self.audience = audience
        """Stored, and never compared with ``aud``: that is one of the mistakes."""
        self.default_kid = default_kid
        self.jwks_by_url: dict[str, Mapping[str, Any]] = {}
        """The simulated web: URL -> JWK Set. A ``jku`` URL is looked up here, never fetched."""
        self._issued = 0

    @classmethod
    def for_authority(
        cls, lab_folder: str | Path, authority: TokenAuthority, *, hmac_secret: str = WEAK_HMAC_SECRET
    ) -> NaiveVerifier:
        """Set up a naive API next to ``authority``: same clock, issuer and public keys, plus a weak legacy key.

        Writes ``keys/<kid>`` with the PEM public key of each of the
        authority's asymmetric keys, and ``keys/legacy-hs256`` with
        ``hmac_secret``. ``lab_folder`` must be an existing folder that the
        caller created for the lab, such as a ``tempfile.TemporaryDirectory``.
        """
        folder = Path(lab_folder)
        if not folder.is_dir():
            raise ConfigurationError(
                f"lab_folder {str(folder)!r} is not an existing folder; create one with tempfile.TemporaryDirectory()"
            )
        verifier = cls(
            folder,
            clock=authority.clock,
            issuer=authority.policy.issuer,
            audience=authority.policy.audience,
            default_kid=authority.keys.current.kid,
        )
        verifier.key_folder.mkdir(exist_ok=True)
        for key in authority.keys:
            pem = key.public_pem()
            if pem is not None:
                (verifier.key_folder / key.kid).write_text(pem, encoding="ascii")
        (verifier.key_folder / LEGACY_KID).write_text(hmac_secret, encoding="utf-8")
        return verifier

    # -- issuing --------------------------------------------------------

    def issue(self, subject: str, *, scope: str, client_id: str = "legacy-app") -> str:
        """Issue a token the way the naive API's legacy login does: HS256 with the secret in ``keys/legacy-hs256``."""
        self._issued += 1
        issued_at = int(self.clock.now().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "client_id": client_id,
            "iat": issued_at,
            "exp": issued_at + 300,
            "jti": f"legacy-{self._issued}",
            "scope": scope,
        }
        header = {"alg": "HS256", "kid": LEGACY_KID, "typ": "at+jwt"}
        return sign_token(header, claims, key=self._read_key_file(LEGACY_KID))

    # -- verifying ------------------------------------------------------

    def verify(self, token: str, *, verify_signature: bool = True) -> dict[str, Any]:
        """Check ``token`` naively and return its claims; raise :class:`InvalidToken` when even this fails.

        With ``verify_signature=False`` nothing about the signature is
        looked at: the decode-only mode some APIs leave switched on.
        """
        header = _read_header(token)
        if verify_signature:
            claims = self._verified_claims(token, header)
        else:
            # MISTAKE: the payload is trusted without any signature check.
            claims = _unverified_claims(token)
        self._check_claims(claims)
        return claims

    def _verified_claims(self, token: str, header: Mapping[str, Any]) -> dict[str, Any]:
        # MISTAKE: the token chooses its own algorithm.
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise _reject("the token header has no alg string", "algorithm")

        # MISTAKE: an unsigned token, in any casing of "none", needs no signature.
        if alg.lower() == "none":
            return _unverified_claims(token)

        key = self._find_key(header)
        try:
            with warnings.catch_warnings():
                # MISTAKE: PyJWT warns that the legacy secret is short, and the warning is silenced.
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                return jwt.decode(token, key, algorithms=[alg], options=_SIGNATURE_ONLY)
        except jwt.InvalidKeyError:
            if alg == "HS256" and isinstance(key, bytes):
                return _claims_if_hmac_matches(token, key)
            raise _reject(f"the key does not fit the algorithm {alg!r}", "signature") from None
        except jwt.InvalidSignatureError:
            raise _reject("the signature does not verify", "signature") from None
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise _reject(f"the token could not be verified ({type(exc).__name__}: {exc})", "signature") from None

    def _find_key(self, header: Mapping[str, Any]) -> Any:
        """Pick the verification key from the token's own header: ``jwk`` first, then ``jku``, then the ``kid`` file."""
        # MISTAKE: a public key inside the token verifies the token's own signature.
        if "jwk" in header:
            try:
                return jwt.PyJWK(header["jwk"]).key
            except (jwt.PyJWTError, AttributeError, TypeError, ValueError, KeyError) as exc:
                raise _reject(f"the jwk header is not a usable key ({exc})", "jwk") from None

        # MISTAKE: the key set comes from a URL that the token names.
        if "jku" in header:
            return self._key_from_jku(header["jku"], header.get("kid"))

        # MISTAKE: the kid is used as a file name, unchecked.
        kid = header.get("kid", self.default_kid)
        return self._read_key_file(kid)

    def _key_from_jku(self, url: object, kid: object) -> Any:
        # Lab safety rail: the lookup is a dict access; no URL is ever fetched.
        document = self.jwks_by_url.get(url) if isinstance(url, str) else None
        if document is None:
            raise _reject(f"the simulated web has no key set at {str(url)[:80]!r}", "jku")
        try:
            key_set = jwt.PyJWKSet.from_dict(dict(document))
        except (jwt.PyJWTError, AttributeError, TypeError, ValueError, KeyError) as exc:
            raise _reject(f"the document at {url!r} is not a JWK Set ({exc})", "jku") from None
        for jwk in key_set.keys:
            if kid is None or jwk.key_id == kid:
                return jwk.key
        raise _reject(f"the key set at {url!r} has no key with kid {kid!r}", "jku")

    def _read_key_file(self, kid: object) -> bytes:
        if not isinstance(kid, str) or not kid:
            raise _reject(f"the kid must name a key file, not {kid!r}", "kid")
        try:
            path = (self.key_folder / kid).resolve()
        except (OSError, ValueError) as exc:
            raise _reject(f"the kid {kid[:80]!r} is not a usable file name ({exc})", "kid") from None

        # Lab safety rail, not part of the naive logic: a kid may climb out of keys/ (that is the
        # path traversal being demonstrated), but no file outside the lab folder is ever read.
        if not path.is_relative_to(self.lab_folder):
            raise _reject(
                f"the kid {kid[:80]!r} leads outside the lab folder, and the lab reads no file there", "kid"
            )
        try:
            with path.open("rb") as file:
                return file.read(MAX_KEY_FILE_BYTES)
        except OSError:
            raise _reject(f"no key file for kid {kid[:80]!r}", "kid") from None

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise _reject(f"the exp claim must be a number, not {exp!r:.40}", "exp")
        if self.clock.now().timestamp() >= exp:
            raise _reject("the token has expired", "exp")

        # MISTAKE: any issuer that merely starts with ours is accepted.
        if not self.accepts_issuer(claims.get("iss")):
            raise _reject(f"the issuer {str(claims.get('iss'))[:80]!r} is not ours", "iss")

        # MISTAKE: aud is never compared with self.audience, so tokens for any API pass.

    def accepts_issuer(self, iss: object) -> bool:
        """Return True if the naive issuer check lets ``iss`` through: a prefix comparison, which is the mistake."""
        return isinstance(iss, str) and iss.startswith(self.issuer)

    def __repr__(self) -> str:
        return f"NaiveVerifier(issuer={self.issuer!r}, NEVER USE: built to be attacked)"


def _read_header(token: object) -> dict[str, Any]:
    if not isinstance(token, str):
        raise _reject(f"the token must be a string, not {type(token).__name__}", "format")
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _reject(f"the token is not a JWT ({exc})", "format") from None


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _reject(f"the payload is not a JSON object ({exc})", "format") from None
    return claims


def _claims_if_hmac_matches(token: str, secret: bytes) -> dict[str, Any]:
    """Check an HS256 signature with a secret that PyJWT rejected: empty, or a PEM public key.

    INSECURE ON PURPOSE: PyJWT rejects a PEM key as an HMAC secret because
    that is how algorithm confusion works, and an empty secret protects
    nothing. Computing the HMAC with the standard library instead is the step
    that the kid and algorithm-confusion attacks exploit.
    """
    signing_input, _, signature_part = token.rpartition(".")
    try:
        expected = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        signature = base64url_decode(signature_part)
    except (ValueError, TypeError):
        raise _reject("the token is not base64url text", "signature") from None
    if not hmac.compare_digest(expected, signature):
        raise _reject("the signature does not verify", "signature")
    return _unverified_claims(token)


# -- the attacker's tools ------------------------------------------------


def read_token(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode a token's header and claims without verifying anything, as anyone with a copy of it can."""
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _segment(data: Mapping[str, Any]) -> str:
    return base64url_encode(json.dumps(dict(data), separators=(",", ":")).encode("utf-8")).decode("ascii")


def replace_claims(token: str, claims: Mapping[str, Any]) -> str:
    """Return ``token`` with its payload replaced by ``claims``, keeping its header and signature."""
    header_part, _, signature_part = token.split(".")
    return f"{header_part}.{_segment(claims)}.{signature_part}"


def sign_token(header: Mapping[str, Any], claims: Mapping[str, Any], key: Any = None) -> str:
    """Build a compact JWS from ``header`` and ``claims``, signed with the algorithm that ``header["alg"]`` names.

    ``key`` is a private key from ``cryptography``, HMAC secret bytes or
    text, or ``None`` for an unsigned token with an empty signature part.
    The header is written as given, so it may carry ``none`` in any casing,
    a ``jwk`` or a ``jku``.
    """
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    if key is None:
        return signing_input + "."

    algorithm = jwt.get_algorithm_by_name(header["alg"])
    try:
        signature = algorithm.sign(signing_input.encode("ascii"), algorithm.prepare_key(key))
    except jwt.InvalidKeyError:
        if header["alg"] != "HS256" or not isinstance(key, (bytes, str)):
            raise
        # PyJWT rejects an empty or PEM HMAC secret. So the attacker computes the HMAC with the
        # standard library, as the naive verifier does when it checks the signature.
        secret = key.encode("utf-8") if isinstance(key, str) else key
        signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{base64url_encode(signature).decode('ascii')}"


@dataclass(frozen=True)
class CrackResult:
    """The outcome of a word-list attack on an HS256 token."""

    secret: str | None
    """The word whose HMAC matches the signature, or ``None`` when no word tried matched."""

    tries: int
    """How many words were tried."""

    stopped_by: str
    """Why the loop ended: ``found``, ``end of word list``, ``max_words`` or ``time budget``."""


def load_wordlist() -> list[str]:
    """Return the bundled list of common words (``tokenlab/data/wordlist.txt``), most common first."""
    text = resources.files("tokenlab").joinpath("data").joinpath("wordlist.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def crack_hmac_secret(
    token: str,
    words: Iterable[str],
    *,
    max_words: int = MAX_CRACK_WORDS,
    time_budget: float = 10.0,
) -> CrackResult:
    """Try each word as the HS256 secret of ``token``, offline, and return the first that matches.

    The server gets no request during the attack: one genuine token is all
    an attacker needs. The loop stops at the first match, after
    ``max_words`` words (at most :data:`MAX_CRACK_WORDS`), or when
    ``time_budget`` seconds of wall time have passed (at most
    :data:`MAX_CRACK_SECONDS`). Raises
    :class:`~tokenlab.ConfigurationError` for a token that is not HS256 or
    for limits out of range.
    """
    if isinstance(max_words, bool) or not isinstance(max_words, int) or not 0 <= max_words <= MAX_CRACK_WORDS:
        raise ConfigurationError(f"max_words must be a whole number from 0 to {MAX_CRACK_WORDS}, not {max_words!r}")
    if isinstance(time_budget, bool) or not isinstance(time_budget, (int, float)) or not 0 <= time_budget <= MAX_CRACK_SECONDS:
        raise ConfigurationError(
            f"time_budget must be a number of seconds from 0 to {MAX_CRACK_SECONDS:g}, not {time_budget!r}"
        )
    header = _read_header(token)
    if header.get("alg") != "HS256":
        raise ConfigurationError(f"only HS256 tokens can be cracked with a word list; this one is {header.get('alg')!r}")
    signing_input, _, signature_part = token.rpartition(".")
    message = signing_input.encode("ascii")
    signature = base64url_decode(signature_part)

    # The wall clock only bounds how long the lab runs; no token time depends on it.
    deadline = time.monotonic() + time_budget
    tries = 0
    for word in words:
        if tries >= max_words:
            return CrackResult(None, tries, "max_words")
        if time.monotonic() >= deadline:
            return CrackResult(None, tries, "time budget")
        tries += 1
        try:
            key = _HS256.prepare_key(word)
        except jwt.InvalidKeyError:
            continue  # PyJWT refuses an empty word as a key; no token can be signed with it there.
        if _HS256.verify(message, key, signature):
            return CrackResult(word, tries, "found")
    return CrackResult(None, tries, "end of word list")


__all__ = [
    "NaiveVerifier",
    "CrackResult",
    "crack_hmac_secret",
    "load_wordlist",
    "read_token",
    "replace_claims",
    "sign_token",
    "WEAK_HMAC_SECRET",
    "LEGACY_KID",
    "MAX_CRACK_WORDS",
]
