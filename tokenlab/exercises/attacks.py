"""Exercises of notebook 07 (attack lab): one per attack on the naive verifier.

Each checker takes the learner's answer and returns ``(correct, message)``.
Where an answer is a token, an issuer or a function, the checker runs it
against :class:`~tokenlab.naive.NaiveVerifier` and
:class:`~tokenlab.TokenAuthority` and judges what happened. Where the right
answer is a check name, the checker finds it by running the engine. Every
naive verifier a checker builds lives in a temporary folder that is removed
afterwards; nothing here opens a network connection.
"""

from __future__ import annotations

import functools
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from jwt.utils import base64url_decode

from ..authority import TokenAuthority
from ..errors import TokenlabError
from ..keys import SigningKey, demo_key
from ..naive import LEGACY_KID, WEAK_HMAC_SECRET, NaiveVerifier, read_token, sign_token
from ..policy import TokenPolicy
from . import exercise
from .access_tokens import CHECK_NAMES

NOTEBOOK = "07-attack-lab"

QUIZ_HMAC_SECRET = "butterfly"
"""The secret of :func:`weak_key_quiz_token`, a word of the bundled list. The checker never compares with it."""

KEY_FOLDER = "/srv/api/keys"
TARGET_FILE = "/dev/null"
"""The kid exercise: a naive API on Linux reads ``KEY_FOLDER/<kid>``; the attacker wants ``TARGET_FILE``."""

ISSUER = TokenPolicy().issuer
AUDIENCE = TokenPolicy().audience


def _name(answer: Any) -> str | None:
    """Return a string answer stripped, lower-cased and without quotes; None for anything else."""
    if not isinstance(answer, str):
        return None
    return answer.strip().strip("'\"").strip().lower()


@contextmanager
def _naive_lab() -> Iterator[tuple[TokenAuthority, NaiveVerifier]]:
    """Yield the notebook's setup: a demo authority and a naive API whose key folder is removed afterwards."""
    authority = TokenAuthority.demo()
    with tempfile.TemporaryDirectory(prefix="tokenlab-check-") as folder:
        yield authority, NaiveVerifier.for_authority(folder, authority)


def _outcome(verifier: Any, token: str, **options: Any) -> tuple[dict[str, Any] | None, TokenlabError | None]:
    """Verify ``token`` and return (claims, None) when accepted or (None, error) when rejected."""
    try:
        return verifier.verify(token, **options), None
    except TokenlabError as error:
        return None, error


@functools.cache
def _genuine_claims() -> tuple[tuple[str, Any], ...]:
    """Return the claims of the notebook's first token: mallory's, scope 'read', issued at 09:00:00."""
    authority = TokenAuthority.demo()
    token = authority.issue("mallory", client_id="app", scope="read").access_token
    return tuple(read_token(token)[1].items())


@functools.cache
def _demo_rs256() -> SigningKey:
    return demo_key("RS256")


def _signed_by_demo_key(**changes: Any) -> str:
    """Sign mallory's claims, changed by ``changes`` (a value of None drops that claim), with the demo RS256 key."""
    claims = dict(_genuine_claims(), **changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return _demo_rs256().sign(claims)


# -- 1. decode-only -------------------------------------------------------------------

ONE_DAY = 24 * 3600


@exercise(
    "attack-unverified",
    notebook=NOTEBOOK,
    prompt=(
        "Edit mallory's access token so that the naive API in decode-only mode "
        "(verify_signature=False) accepts it as alice's token, with 'admin' in its scope and an "
        "exp at least one day after its iat. Use no key. Answer the edited token as a string."
    ),
    hints=(
        "Start from the claims that naive.read_token(mallory.access_token) returns, and change three of them.",
        "exp and iat are whole seconds since 1970. How many seconds does a day have?",
        "naive.replace_claims(token, new_claims) keeps the header and the signature and swaps the payload.",
    ),
)
def check_unverified(answer: Any) -> tuple[bool, str]:
    """Accept any token the decode-only mode takes as alice's, with admin scope and a day-long lifetime."""
    if answer is None:
        return False, "replace None with your edited token, as a string, and run the cell again."
    if not isinstance(answer, str):
        return False, f"answer with the token itself, a string, not {type(answer).__name__}."

    with _naive_lab() as (authority, api):
        claims, error = _outcome(api, answer, verify_signature=False)
    if error is not None:
        return False, f"even the decode-only API rejects it (check {error.check!r}: {error}). Start again from mallory's token."
    if claims.get("sub") != "alice":
        return False, f"the API accepts it, but for sub {claims.get('sub')!r}. Whose token should it look like?"
    scope = claims.get("scope")
    if not isinstance(scope, str) or "admin" not in scope.split():
        return False, f"the API accepts it, but its scope is {scope!r}. Scopes are one space-separated string."
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (iat, exp)):
        return False, "keep iat and exp as whole numbers of seconds, as in the original token."
    if exp - iat < ONE_DAY:
        return False, f"exp is {exp - iat} seconds after iat; make the token last at least a day."

    _, real = _outcome(authority, answer, stateless=True)
    verdict = f"tokenlab rejects the same token at check {real.check!r}" if real else "tokenlab accepts it too"
    return True, (
        f"any claim can be rewritten when nobody checks the signature: identity, permissions, lifetime. "
        f"{verdict}."
    )


# -- 2. alg none ----------------------------------------------------------------------


@exercise(
    "attack-alg-none",
    notebook=NOTEBOOK,
    prompt=(
        "A developer patches the naive API: it now rejects a token whose alg is exactly 'none'. "
        "Give an alg value for an unsigned token that the patched API still accepts. Answer a string."
    ),
    hints=(
        "The patch compares two strings with ==. How does the naive API itself compare alg with 'none'?",
        "Look at the loop over spellings in the section above.",
    ),
)
def check_alg_none(answer: Any) -> tuple[bool, str]:
    """Accept an alg value that the exact-match patch misses but the naive API still treats as unsigned."""
    if answer is None:
        return False, "replace None with an alg value, as a string, and run the cell again."
    if not isinstance(answer, str):
        return False, f"answer with an alg value as a string, not {type(answer).__name__}."
    if answer == "none":
        return False, "the patch catches exactly that spelling. Is it the only one the naive API treats as unsigned?"

    header = {"alg": answer, "kid": "demo-rs256", "typ": "at+jwt"}
    unsigned = sign_token(header, dict(_genuine_claims(), scope="read admin"))
    with _naive_lab() as (authority, api):
        claims, error = _outcome(api, unsigned)
        _, real = _outcome(authority, unsigned, stateless=True)
    if error is not None:
        return False, (
            f"with alg {answer!r} the naive API looks for a signature, finds an empty one and rejects the token "
            f"(check {error.check!r}). Which alg values make it skip the signature?"
        )
    return True, (
        f"the patched API accepts an unsigned token with alg {answer!r}. A deny-list of bad names "
        f"always misses a spelling; tokenlab pins one algorithm per key instead and rejects this token at "
        f"check {real.check!r}."
    )


# -- 3. weak HMAC key -------------------------------------------------------------------


@functools.cache
def weak_key_quiz_token() -> str:
    """Return a legacy HS256 token of another naive API, signed with another word from the bundled list."""
    claims = dict(_genuine_claims(), client_id="legacy-app", jti="legacy-quiz")
    header = {"alg": "HS256", "kid": LEGACY_KID, "typ": "at+jwt"}
    return sign_token(header, claims, key=QUIZ_HMAC_SECRET)


def _signs_quiz_token(word: str) -> bool:
    signing_input, _, signature_part = weak_key_quiz_token().rpartition(".")
    algorithm = jwt.get_algorithm_by_name("HS256")
    try:
        key = algorithm.prepare_key(word)
    except jwt.InvalidKeyError:
        return False
    return algorithm.verify(signing_input.encode("ascii"), key, base64url_decode(signature_part))


@exercise(
    "attack-weak-key",
    notebook=NOTEBOOK,
    prompt=(
        "quiz_token was signed by another naive API with HS256 and a weak secret. Find the secret "
        "with the bundled word list and answer it as a string."
    ),
    hints=(
        "naive.crack_hmac_secret(token, words) tries each word as the HMAC secret.",
        "Pass quiz_token and words, then read the secret field of the result.",
    ),
)
def check_weak_key(answer: Any) -> tuple[bool, str]:
    """Accept the word whose HMAC-SHA256 matches the quiz token's signature, checked with PyJWT."""
    if answer is None:
        return False, "replace None with the secret you found, as a string, and run the cell again."
    if not isinstance(answer, str):
        return False, f"answer with the secret as a string, not {type(answer).__name__}."
    if _signs_quiz_token(answer):
        return True, (
            "that word signs quiz_token. With it you can sign any token this API accepts. "
            "An HMAC secret must be random and at least 32 bytes, like SigningKey.generate('HS256')."
        )
    if answer == WEAK_HMAC_SECRET:
        return False, "that is the secret of the naive API above. quiz_token was signed by another API: crack quiz_token itself."
    return False, "with that secret the HMAC of quiz_token does not match its signature. Run the word list on quiz_token."


# -- 4. jwk header ------------------------------------------------------------------------


@functools.cache
def jwk_with_own_kid_check() -> str | None:
    """Return the check that rejects a jwk-injected token whose kid names the attacker's own key."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = dict(RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True), kid="mallory-1")
    header = {"alg": "RS256", "kid": "mallory-1", "typ": "at+jwt", "jwk": public_jwk}
    token = sign_token(header, dict(_genuine_claims(), scope="read admin"), key=private_key)
    _, error = _outcome(TokenAuthority.demo(), token, stateless=True)
    return error.check if error else None


@exercise(
    "attack-jwk",
    notebook=NOTEBOOK,
    prompt=(
        "Mallory changes her jwk token: the kid is now 'mallory-1', the name of her own key, and "
        "everything else stays. Which check name does tokenlab's error.check show? Answer a string."
    ),
    hints=(
        "tokenlab never reads the jwk header. What does it do with the kid?",
        "Before a signature can be checked, the authority must pick one of its own keys.",
    ),
)
def check_jwk(answer: Any) -> tuple[bool, str]:
    """Accept the check that rejects a token whose kid names no key of the authority."""
    if answer is None:
        return False, "replace None with a check name, as a string, and run the cell again."
    name = _name(answer)
    if name is None:
        return False, f"answer with a check name as a string, not {type(answer).__name__}."
    if name == "jwk":
        return False, "no check is named after the jwk header, because tokenlab never reads it. Which header does it read to pick a key?"
    if name not in CHECK_NAMES:
        return False, f"{answer!r} is not a check name that verify() reports; see the list in notebook 01."

    expected = jwk_with_own_kid_check()
    if name == expected:
        return True, (
            "kid only chooses among the authority's own keys, and it has none called mallory-1. "
            "A key that the token brings along is never one of them."
        )
    if name == "signature":
        return False, "the signature check needs a key first. Can the authority find the key that this token names?"
    return False, f"the {name} check is not the first to fail here. Follow the checks in order: header, key, signature."


# -- 5. jku header --------------------------------------------------------------------------

KEY_SOURCES = {
    "jku": "the URL in the token's jku header",
    "jku-prefix": "the jku URL, if it starts with the issuer's URL",
    "configured": "a JWK Set URL set in the resource server's configuration, with kid choosing among its keys",
    "jwk": "the public key in the token's jwk header",
}


@exercise(
    "attack-jku",
    notebook=NOTEBOOK,
    prompt=(
        "Where should a resource server get the public keys that verify access tokens? Answer one "
        "of the names 'jku', 'jku-prefix', 'configured' or 'jwk', as a string."
    ),
    hints=(
        "Who writes the token header: the authorization server, or whoever sent the token?",
        "A prefix check on a URL has the same flaw as the issuer check of section 9.",
    ),
)
def check_jku(answer: Any) -> tuple[bool, str]:
    """Accept the key source that the token's sender cannot influence."""
    if answer is None:
        return False, "replace None with one of the four names, as a string, and run the cell again."
    name = _name(answer)
    if name is None or name not in KEY_SOURCES:
        return False, f"answer one of the names {', '.join(repr(key) for key in KEY_SOURCES)}, as a string."
    if name == "configured":
        return True, (
            "the keys come from where the server's own configuration says, and the token's kid only picks "
            "among them. Nothing in the token decides which keys are trusted."
        )
    if name == "jku-prefix":
        return False, (
            "a URL that starts like the issuer's may still lead to another host, as section 9 shows, "
            "or to an open redirect on the real one."
        )
    return False, "that key comes from the token itself, and the token was written by the attacker."


# -- 6. kid path traversal --------------------------------------------------------------------


@exercise(
    "attack-kid-path",
    notebook=NOTEBOOK,
    prompt=(
        "A naive API on Linux reads its key from the file /srv/api/keys/<kid>. Which kid makes it "
        "read /dev/null, whose content an attacker knows (it is empty)? Answer a string."
    ),
    hints=(
        "'..' in a path means the parent folder. How many levels does /srv/api/keys have?",
        "Each '../' climbs one level. Climb to / and then go down to dev/null.",
    ),
)
def check_kid_path(answer: Any) -> tuple[bool, str]:
    """Accept a kid that resolves from the key folder to /dev/null; computed on path strings, nothing is read."""
    if answer is None:
        return False, "replace None with a kid, as a string, and run the cell again."
    if not isinstance(answer, str) or not answer.strip():
        return False, "answer with a kid as a non-empty string, such as 'demo-rs256'."
    if "\\" in answer:
        return False, "this server runs Linux: paths use forward slashes."

    target = posixpath.normpath(posixpath.join(KEY_FOLDER, answer))
    if target == TARGET_FILE:
        if answer.startswith("/"):
            return True, (
                "an absolute kid works too: joining a folder with an absolute path drops the folder. "
                "tokenlab's kid never names a file; it only picks one of the authority's keys."
            )
        return True, (
            "each '../' climbs one folder, and above / there is nothing more to climb. The API now uses "
            "an empty HMAC secret that the attacker knows. tokenlab's kid never names a file."
        )
    return False, f"with that kid the API would read {target}. Adjust the path until it lands on /dev/null."


# -- 7. algorithm confusion ---------------------------------------------------------------------

CONFUSION_FIXES = {
    "hide-public-key": "stop publishing the public key",
    "pin-algorithm": "verify with the one algorithm pinned to the key, whatever the header says",
    "bigger-rsa-key": "use a 4096-bit RSA key",
    "shorter-lifetime": "make access tokens expire after one minute",
}


@exercise(
    "attack-alg-confusion",
    notebook=NOTEBOOK,
    prompt=(
        "Which one change to the naive API stops the algorithm confusion attack? Answer one of the "
        "names 'hide-public-key', 'pin-algorithm', 'bigger-rsa-key' or 'shorter-lifetime', as a string."
    ),
    hints=(
        "Which value in the token made the API treat its RSA public key as an HMAC secret?",
        "Could mallory get the public key some other way if it were not published?",
    ),
)
def check_alg_confusion(answer: Any) -> tuple[bool, str]:
    """Accept pinning the algorithm to the key: the header's alg then decides nothing."""
    if answer is None:
        return False, "replace None with one of the four names, as a string, and run the cell again."
    name = _name(answer)
    if name is None or name not in CONFUSION_FIXES:
        return False, f"answer one of the names {', '.join(repr(key) for key in CONFUSION_FIXES)}, as a string."
    if name == "pin-algorithm":
        return True, (
            "a key verifies with its own algorithm only, so an HS256 header on an RSA key is an error, "
            "not an instruction. That is tokenlab's algorithm check."
        )
    if name == "hide-public-key":
        return False, (
            "a public key is meant to be public: every resource server needs it, and it can often be "
            "recovered from two signed tokens. Which value in the token did the attack really use?"
        )
    if name == "bigger-rsa-key":
        return False, "the size of the RSA key plays no part: its PEM text is used as an HMAC secret, whatever its length."
    return False, "a forged token can be minted at any moment, so a short lifetime only means minting it again."


# -- 8. audience ------------------------------------------------------------------------------

AUDIENCE_CASES: tuple[Any, ...] = (
    AUDIENCE,
    "https://prints.tokenlab.example",
    ["https://prints.tokenlab.example", AUDIENCE],
    ["https://prints.tokenlab.example"],
    AUDIENCE + ".mallory.example",
    "https://api.tokenlab",
    AUDIENCE + "/",
    [],
    None,
)
"""aud values to try a learner's function on; None stands for a token without aud."""


@functools.cache
def tokenlab_accepts_audience() -> tuple[bool, ...]:
    """Return, for each of AUDIENCE_CASES, whether tokenlab accepts a genuine token with that aud."""
    authority = TokenAuthority.demo()
    outcomes = []
    for aud in AUDIENCE_CASES:
        _, error = _outcome(authority, _signed_by_demo_key(aud=aud), stateless=True)
        outcomes.append(error is None)
    return tuple(outcomes)


@exercise(
    "attack-audience",
    notebook=NOTEBOOK,
    prompt=(
        "Write audience_ok(aud): it returns True when a token with this aud claim is meant for our API "
        f"({AUDIENCE}), else False. aud may be a string, a list of strings, or None when it is missing. "
        "Pass the function itself to check()."
    ),
    hints=(
        "RFC 7519 allows aud to be one string or a list of strings. Handle both.",
        "For a string, `AUDIENCE in aud` looks for a substring. Is that what you want?",
        "Compare whole values with ==, and only inside a list look for a member.",
    ),
)
def check_audience(answer: Any) -> tuple[bool, str]:
    """Run the learner's function on every case and compare with what tokenlab does."""
    if answer is None:
        return False, "replace None with your function audience_ok and run the cell again."
    if not callable(answer):
        return False, f"pass the function itself (audience_ok, without parentheses), not a value of type {type(answer).__name__}."

    for aud, accepted in zip(AUDIENCE_CASES, tokenlab_accepts_audience()):
        try:
            result = answer(aud)
        except Exception as exc:  # the learner's code may raise anything; report it instead
            return False, f"for aud = {aud!r} your function raised {type(exc).__name__}: {exc}."
        if not isinstance(result, bool):
            return False, f"for aud = {aud!r} your function returned {result!r}; make it return True or False."
        if result != accepted:
            verdict = "accepts" if accepted else "rejects"
            return False, f"for aud = {aud!r} your function returns {result}, but tokenlab {verdict} such a token."
    return True, (
        f"your function agrees with tokenlab on all {len(AUDIENCE_CASES)} cases, lists and missing aud included."
    )


# -- 9. issuer prefix ---------------------------------------------------------------------------


@exercise(
    "attack-issuer-prefix",
    notebook=NOTEBOOK,
    prompt=(
        "The naive API accepts any iss that starts with 'https://auth.tokenlab.example'. Give an "
        "issuer that it accepts but that lives on another host, one mallory could register. Answer a string."
    ),
    hints=(
        "A host name can go on after the text you must start with. Where does a host name end in a URL?",
        "Domain names are read from the right: which domain does 'auth.tokenlab.example.something.test' belong to?",
    ),
)
def check_issuer_prefix(answer: Any) -> tuple[bool, str]:
    """Accept an issuer that passes the prefix check while its host is not the real issuer's host."""
    if answer is None:
        return False, "replace None with an issuer URL, as a string, and run the cell again."
    if not isinstance(answer, str):
        return False, f"answer with an issuer URL as a string, not {type(answer).__name__}."

    with _naive_lab() as (authority, api):
        if not api.accepts_issuer(answer):
            return False, "the naive API rejects that issuer: it must start with exactly the text of the real one."
        try:
            host = urlsplit(answer).hostname
        except ValueError:
            host = None
        if host is None:
            return False, "that is not a URL with a host. Write it as https://<host>/..."
        if host == urlsplit(ISSUER).hostname:
            return False, (
                f"that issuer is on the real host, {host}, which mallory does not control. "
                "Make the host itself different while keeping the prefix."
            )
        _, real = _outcome(authority, _signed_by_demo_key(iss=answer), stateless=True)
    return True, (
        f"the prefix check sees our issuer, but the host is {host}. tokenlab compares iss exactly and "
        f"rejects it at check {real.check if real else None!r}."
    )


__all__ = [
    "weak_key_quiz_token",
    "KEY_SOURCES",
    "CONFUSION_FIXES",
    "AUDIENCE_CASES",
]
