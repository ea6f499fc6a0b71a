"""External test vectors: Project Wycheproof's JWS and JWK cases, and RFC 7515 Appendix A.1.

The Wycheproof files are read in place from the ``shared`` folder beside the
repository. tokenlab supports RS256, ES256 and HS256 only, one algorithm per
key, so a ``valid`` case of any other algorithm must be rejected, either when
its key is loaded or when the token is verified.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

import tokenlab as tl
from tokenlab.keys import SUPPORTED_ALGORITHMS, read_header

VECTORS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "vectors" / "wycheproof"
SIGNATURE_FILE = VECTORS_DIR / "json_web_signature_test.json"
KEY_FILE = VECTORS_DIR / "json_web_key_test.json"

SUPPORTED = ("RS256", "ES256", "HS256")

# `valid` cases of a supported algorithm that tokenlab rejects on purpose, by tcId.
VALID_REJECTED_BY_DESIGN = {
    372: "a '?' is inserted into the header segment. RFC 7515 §5.2 requires base64url without any "
    "other characters, so the segment is malformed, and the signing input differs from the one signed",
    373: "a '?' is inserted into the payload segment, rejected for the same reason as tcId 372",
}

# `invalid` cases that tokenlab accepts, because their token is byte-identical to the
# `valid` tcId 357. The padding their comment names is missing from the file itself, so
# no verifier can tell them apart. Each listed case must stay identical to tcId 357.
INVALID_LABEL_CONTRADICTED = {
    367: "invalidBase64Padding: the token carries no padding and equals tcId 357",
    370: "invalidBase64PaddingInPayload: the token carries no padding and equals tcId 357",
}
CONTRADICTING_VALID_CASE = 357

# Expected outcome counts over the 401 cases of json_web_signature_test.json, derived
# from the groups in the file:
# - valid accepted, 18: HS256 8, ES256 2 and RS256 8.
#   HS256: one in group "hs256", tcIds 348 and 352, and five in group "base64" (its
#   seven valid cases less tcIds 372 and 373). ES256: tcIds 18 and 378.
#   RS256: tcId 33, the five RS256_2048 cases, and tcIds 345 and 349.
# - valid of an unsupported algorithm, rejected, 26: RS384 4, RS512 4, PS256 8,
#   PS384 4, PS512 4, ES521 2.
# - valid rejected by design, 2: VALID_REJECTED_BY_DESIGN.
# - invalid rejected, 353: all 355 invalid cases but the 2 in INVALID_LABEL_CONTRADICTED.
EXPECTED_SIGNATURE_COUNTS = {
    "valid accepted": 18,
    "valid rejected, unsupported algorithm": 26,
    "valid rejected by design": 2,
    "invalid rejected": 353,
    "invalid accepted, label contradicted": 2,
}
EXPECTED_SIGNATURE_TOTAL = 401

MISSING_FILE_REASON = (
    "the Wycheproof vector file {path} is missing; CI has a copy beside the repository "
    "at ../shared/vectors/wycheproof"
)


# -- loading the vector files ---------------------------------------------


@dataclass(frozen=True)
class VectorCase:
    """One Wycheproof test case with the JWKs of its group."""

    tc_id: int
    algorithm: str
    result: str
    comment: str
    flags: tuple[str, ...]
    jws: str
    group_index: int

    @property
    def label(self) -> str:
        return f"tc{self.tc_id}-{self.algorithm}-{self.result}"


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _header_algorithm(jws: str) -> str:
    """Return the ``alg`` a token's header names, or ``"unknown"`` when the header cannot be read."""
    try:
        header = json.loads(_b64url_decode(jws.split(".")[0]))
    except (ValueError, TypeError):
        return "unknown"
    alg = header.get("alg") if isinstance(header, dict) else None
    return alg if isinstance(alg, str) else "unknown"


def _load_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _cases(
    document: dict[str, Any] | None, jwk_of_group: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[VectorCase]:
    """Flatten a vector file into cases, taking the algorithm from the group key's ``alg``, else the token header."""
    if document is None:
        return []
    cases = []
    for index, group in enumerate(document["testGroups"]):
        jwk = jwk_of_group(group)
        for test in group["tests"]:
            algorithm = jwk.get("alg") or _header_algorithm(test["jws"])
            cases.append(
                VectorCase(
                    tc_id=test["tcId"],
                    algorithm=algorithm,
                    result=test["result"],
                    comment=test["comment"],
                    flags=tuple(test["flags"]),
                    jws=test["jws"],
                    group_index=index,
                )
            )
    return cases


def _signature_group_jwk(group: dict[str, Any]) -> dict[str, Any]:
    """Return the JWK a verifier uses: the public key when the group has one, else the private or secret key."""
    return group.get("public") or group["private"]


def _key_group_jwk(group: dict[str, Any]) -> dict[str, Any]:
    return group["private"]["keys"][0]


SIGNATURE_DOCUMENT = _load_json(SIGNATURE_FILE)
KEY_DOCUMENT = _load_json(KEY_FILE)
SIGNATURE_CASES = _cases(SIGNATURE_DOCUMENT, _signature_group_jwk)
KEY_CASES = _cases(KEY_DOCUMENT, _key_group_jwk)


def _params(cases: list[VectorCase], path: Path, ids: Callable[[VectorCase], str]) -> list[Any]:
    """Wrap cases for parametrize, or return one skipped parameter naming the missing file."""
    if not cases:
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING_FILE_REASON.format(path=path)))]
    return [pytest.param(case, id=ids(case)) for case in cases]


def _require(document: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    if document is None:
        pytest.skip(MISSING_FILE_REASON.format(path=path))
    return document


# -- json_web_signature_test.json -----------------------------------------


@functools.cache
def _signature_group_key(group_index: int) -> tuple[tl.SigningKey | None, str | None]:
    """Load a group's key once. Return the key, or ``None`` and the SigningKeyError message."""
    group = SIGNATURE_DOCUMENT["testGroups"][group_index]  # type: ignore[index]
    try:
        return tl.SigningKey.from_jwk(_signature_group_jwk(group)), None
    except tl.SigningKeyError as exc:
        return None, str(exc)


def _signature_outcome(case: VectorCase) -> str:
    """Run one case and return ``"accepted"`` or how it was rejected. Any other exception propagates."""
    key, load_error = _signature_group_key(case.group_index)
    if key is None:
        return f"key rejected at load: {load_error}"
    try:
        key.verify_signature(case.jws)
    except tl.InvalidToken as exc:
        return f"token rejected (check {exc.check}): {exc.message}"
    return "accepted"


def _expected_signature_category(case: VectorCase) -> str:
    if case.result not in ("valid", "invalid"):
        raise AssertionError(f"{case.label}: result {case.result!r} has no rule in this test; add one")
    if case.tc_id in INVALID_LABEL_CONTRADICTED:
        return "invalid accepted, label contradicted"
    if case.tc_id in VALID_REJECTED_BY_DESIGN:
        return "valid rejected by design"
    if case.result == "invalid":
        return "invalid rejected"
    if case.algorithm in SUPPORTED:
        return "valid accepted"
    return "valid rejected, unsupported algorithm"


@pytest.mark.parametrize("case", _params(SIGNATURE_CASES, SIGNATURE_FILE, lambda case: case.label))
def test_wycheproof_signature(case: VectorCase) -> None:
    outcome = _signature_outcome(case)
    category = _expected_signature_category(case)
    context = f"{case.label} ({case.comment}, flags {list(case.flags)}): {outcome}"

    if category == "valid accepted":
        assert outcome == "accepted", f"valid case rejected; fix tokenlab or list it in VALID_REJECTED_BY_DESIGN: {context}"
    elif category == "valid rejected by design":
        assert outcome != "accepted", f"listed in VALID_REJECTED_BY_DESIGN but now accepted; remove it: {context}"
    elif category == "invalid accepted, label contradicted":
        assert outcome == "accepted", f"listed in INVALID_LABEL_CONTRADICTED but now rejected; remove it: {context}"
    else:
        assert outcome != "accepted", f"{category} expected, but the token was accepted: {context}"


@pytest.mark.parametrize("tc_id", sorted(VALID_REJECTED_BY_DESIGN))
def test_listed_valid_rejection_is_supported_case(tc_id: int) -> None:
    _require(SIGNATURE_DOCUMENT, SIGNATURE_FILE)
    matches = [case for case in SIGNATURE_CASES if case.tc_id == tc_id]

    assert len(matches) == 1, f"tcId {tc_id} is not in the file; remove it from VALID_REJECTED_BY_DESIGN"
    assert matches[0].result == "valid"
    assert matches[0].algorithm in SUPPORTED


@pytest.mark.parametrize("tc_id", sorted(INVALID_LABEL_CONTRADICTED))
def test_listed_invalid_acceptance_equals_valid_case(tc_id: int) -> None:
    _require(SIGNATURE_DOCUMENT, SIGNATURE_FILE)
    by_id = {case.tc_id: case for case in SIGNATURE_CASES}

    assert tc_id in by_id, f"tcId {tc_id} is not in the file; remove it from INVALID_LABEL_CONTRADICTED"
    assert by_id[tc_id].result == "invalid"
    assert by_id[CONTRADICTING_VALID_CASE].result == "valid"
    assert by_id[tc_id].jws == by_id[CONTRADICTING_VALID_CASE].jws, (
        f"tcId {tc_id} no longer equals tcId {CONTRADICTING_VALID_CASE}; the file was corrected, "
        "so remove it from INVALID_LABEL_CONTRADICTED"
    )


def test_supported_algorithms_match_tokenlab() -> None:
    # EXPECTED_SIGNATURE_COUNTS assumes exactly these three algorithms.
    assert tuple(SUPPORTED_ALGORITHMS) == SUPPORTED


def test_wycheproof_signature_counts() -> None:
    document = _require(SIGNATURE_DOCUMENT, SIGNATURE_FILE)
    counts = dict.fromkeys(EXPECTED_SIGNATURE_COUNTS, 0)
    for case in SIGNATURE_CASES:
        accepted = _signature_outcome(case) == "accepted"
        if case.result == "valid" and case.algorithm in SUPPORTED:
            category = "valid accepted" if accepted else "valid rejected by design"
        elif case.result == "valid":
            category = "valid accepted, unsupported algorithm" if accepted else "valid rejected, unsupported algorithm"
        else:
            category = "invalid accepted, label contradicted" if accepted else "invalid rejected"
        counts[category] = counts.get(category, 0) + 1

    assert document["numberOfTests"] == EXPECTED_SIGNATURE_TOTAL
    assert len(SIGNATURE_CASES) == EXPECTED_SIGNATURE_TOTAL
    assert len({case.tc_id for case in SIGNATURE_CASES}) == EXPECTED_SIGNATURE_TOTAL
    assert counts == EXPECTED_SIGNATURE_COUNTS


def _rs256_key_from(group_index: int) -> tl.SigningKey:
    """Load a group's RSA public key with its ``alg`` removed, so tokenlab pins it to RS256."""
    jwk = dict(_signature_group_jwk(SIGNATURE_DOCUMENT["testGroups"][group_index]))  # type: ignore[index]
    jwk.pop("alg", None)
    return tl.SigningKey.from_jwk(jwk)


ALG_NONE_CASES = [case for case in SIGNATURE_CASES if "AlgIsNone" in case.flags]


@pytest.mark.parametrize("case", _params(ALG_NONE_CASES, SIGNATURE_FILE, lambda case: case.label))
def test_alg_none_rejected_by_rs256_key(case: VectorCase) -> None:
    # These cases are in a PS512 group whose key tokenlab rejects, so the rejection above
    # never reaches the token. Re-pinning the same RSA key to RS256 checks the token itself.
    key = _rs256_key_from(case.group_index)

    with pytest.raises(tl.InvalidToken) as caught:
        key.verify_signature(case.jws)

    assert caught.value.check == "algorithm"


# -- json_web_key_test.json -----------------------------------------------
#
# Single-key groups test whether SigningKey.from_jwk rejects a bad key. Four cases
# (tcIds 1 to 4) hold a key set instead, and tokenlab has no JWK Set loader, so they
# map onto KeySet, the authority's set of keys:
# - tcIds 2 and 3: two HS256 keys with distinct kids, and the token's kid selects one.
# - tcId 4, duplicate kid: KeySet.rotate rejects a second key with a kid already in use.
# - tcId 1, an HS256 secret and a public-only EC key in one set: KeySet accepts only keys
#   that can sign, so it rejects the public key. A set of an HS256 and an ES256 private
#   key is allowed on purpose, so that a course can rotate between algorithms.
#   Such a set cannot lead to an EC or RSA public key being used as an HMAC secret,
#   because each key is pinned to one algorithm. A second test checks that too.

KEY_SET_CASE_IDS = {1, 2, 3, 4}

# Invalid keys that SigningKey.from_jwk still loads, by tcId.
# Invalid JWK cases that tokenlab still accepts, by tcId with the reason; none at present.
KEY_GAPS: dict[int, str] = {}

# The first 38 odd primes. A ROCA modulus is a power of 65537 modulo each of them.
ROCA_PRIMES = tuple(p for p in range(3, 168) if all(p % d for d in range(2, int(p**0.5) + 1)))


def _key_group(case: VectorCase) -> dict[str, Any]:
    return KEY_DOCUMENT["testGroups"][case.group_index]  # type: ignore[index]


def _key_roles(cases: list[VectorCase]) -> list[tuple[VectorCase, str]]:
    """Pair each single-key case with each JWK its group holds: ``public``, ``private`` or both."""
    return [
        (case, role)
        for case in cases
        if case.tc_id not in KEY_SET_CASE_IDS
        for role in ("public", "private")
        if role in _key_group(case)
    ]


def _key_params() -> list[Any]:
    if KEY_DOCUMENT is None:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=MISSING_FILE_REASON.format(path=KEY_FILE)))]
    params = []
    for case, role in _key_roles(KEY_CASES):
        marks = []
        if case.tc_id in KEY_GAPS:
            marks.append(pytest.mark.xfail(strict=True, reason=KEY_GAPS[case.tc_id]))
        params.append(pytest.param(case, role, id=f"jwk-{case.label}-{role}", marks=marks))
    return params


@pytest.mark.parametrize(("case", "role"), _key_params())
def test_wycheproof_jwk(case: VectorCase, role: str) -> None:
    jwk = _key_group(case)[role]["keys"][0]
    context = f"{case.label} ({case.comment}), {role} JWK"

    if case.result == "valid" and case.algorithm in SUPPORTED:
        key = tl.SigningKey.from_jwk(jwk)
        header, _ = key.verify_signature(case.jws)
        assert header["alg"] == case.algorithm, context
    else:
        # An invalid key, or a valid key of an algorithm tokenlab does not support.
        with pytest.raises(tl.SigningKeyError):
            tl.SigningKey.from_jwk(jwk)


def test_jwk_key_set_cases_are_known() -> None:
    _require(KEY_DOCUMENT, KEY_FILE)
    key_set_ids = {case.tc_id for case in KEY_CASES if len(_key_group(case)["private"]["keys"]) > 1}

    assert key_set_ids == KEY_SET_CASE_IDS


def test_jwk_case_count() -> None:
    document = _require(KEY_DOCUMENT, KEY_FILE)

    assert document["numberOfTests"] == 26
    assert len(KEY_CASES) == 26


def _key_set_from_group(case: VectorCase) -> tuple[tl.KeySet, list[tl.SigningKey]]:
    keys = [tl.SigningKey.from_jwk(jwk) for jwk in _key_group(case)["private"]["keys"]]
    key_set = tl.KeySet(keys[0])
    for key in keys[1:]:
        key_set.rotate(key)
    return key_set, keys


def _key_case(tc_id: int) -> VectorCase:
    _require(KEY_DOCUMENT, KEY_FILE)
    return next(case for case in KEY_CASES if case.tc_id == tc_id)


@pytest.mark.parametrize("tc_id", [2, 3])
def test_jwk_key_set_selects_by_kid(tc_id: int) -> None:
    case = _key_case(tc_id)
    key_set, keys = _key_set_from_group(case)
    selected = key_set.select(read_header(case.jws))

    assert selected is keys[0]
    if case.result == "valid":
        header, payload = selected.verify_signature(case.jws)
        assert header["kid"] == keys[0].kid
        assert payload == b"foo"
    else:
        with pytest.raises(tl.InvalidToken) as caught:
            selected.verify_signature(case.jws)
        assert caught.value.check == "signature"


def test_jwk_duplicate_kid_rejected_by_key_set() -> None:
    case = _key_case(4)
    first, second = (tl.SigningKey.from_jwk(jwk) for jwk in _key_group(case)["private"]["keys"])
    key_set = tl.KeySet(first)

    assert first.kid == second.kid
    with pytest.raises(tl.SigningKeyError):
        key_set.rotate(second)


def test_jwk_mixed_key_set_rejected() -> None:
    case = _key_case(1)
    hmac_key, ec_key = (tl.SigningKey.from_jwk(jwk) for jwk in _key_group(case)["private"]["keys"])
    key_set = tl.KeySet(hmac_key)

    assert hmac_key.verify_signature(case.jws)[1] == b"foo"
    assert not ec_key.can_sign
    with pytest.raises(tl.SigningKeyError):
        key_set.rotate(ec_key)


def test_jwk_mixed_set_ec_key_rejects_token() -> None:
    case = _key_case(1)
    _, ec_jwk = _key_group(case)["private"]["keys"]
    ec_key = tl.SigningKey.from_jwk(ec_jwk)

    with pytest.raises(tl.InvalidToken) as caught:
        ec_key.verify_signature(case.jws)

    assert caught.value.check == "algorithm"


def _has_roca_fingerprint(modulus: int) -> bool:
    """Return True when ``modulus`` mod each prime is a power of 65537, as Infineon's flawed primes make it."""
    for prime in ROCA_PRIMES:
        powers = {pow(65537, exponent, prime) for exponent in range(prime - 1)}
        if modulus % prime not in powers:
            return False
    return True


def test_jwk_roca_key_rejected_by_name() -> None:
    # The tcId 7 key is a ROCA key by this file's own check, and tokenlab's demo key is not.
    # A random modulus passes the check with a probability of about 4e-9.
    roca_jwk = _key_group(_key_case(7))["public"]["keys"][0]
    demo_jwk = tl.demo_key("RS256").public_jwk()

    assert _has_roca_fingerprint(int.from_bytes(_b64url_decode(roca_jwk["n"]), "big"))
    assert not _has_roca_fingerprint(int.from_bytes(_b64url_decode(demo_jwk["n"]), "big"))  # type: ignore[index]
    with pytest.raises(tl.SigningKeyError, match="ROCA"):
        tl.SigningKey.from_jwk(roca_jwk)


# -- RFC 7515 Appendix A.1: HS256 -----------------------------------------
#
# The values below are written out from RFC 7515 Appendix A.1. The header and
# payload JSON contain CRLF line breaks followed by a space.

RFC7515_HEADER = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
RFC7515_PAYLOAD = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
RFC7515_SIGNATURE = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7515_TOKEN = f"{RFC7515_HEADER}.{RFC7515_PAYLOAD}.{RFC7515_SIGNATURE}"
RFC7515_JWK = {
    "kty": "oct",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}
RFC7515_HEADER_BYTES = b'{"typ":"JWT",\r\n "alg":"HS256"}'
RFC7515_PAYLOAD_BYTES = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
RFC7515_SIGNATURE_OCTETS = bytes(
    [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
        22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ]
)


def test_rfc7515_header_bytes() -> None:
    assert _b64url_decode(RFC7515_HEADER) == RFC7515_HEADER_BYTES


def test_rfc7515_payload_bytes() -> None:
    assert _b64url_decode(RFC7515_PAYLOAD) == RFC7515_PAYLOAD_BYTES


def test_rfc7515_key_is_64_bytes() -> None:
    assert len(_b64url_decode(RFC7515_JWK["k"])) == 64


def test_rfc7515_signature_bytes() -> None:
    assert _b64url_decode(RFC7515_SIGNATURE) == RFC7515_SIGNATURE_OCTETS


def test_rfc7515_hmac_over_signing_input() -> None:
    signing_input = f"{RFC7515_HEADER}.{RFC7515_PAYLOAD}".encode("ascii")
    mac = hmac.new(_b64url_decode(RFC7515_JWK["k"]), signing_input, hashlib.sha256).digest()

    assert mac == _b64url_decode(RFC7515_SIGNATURE)


def test_rfc7515_verifies_with_jwk() -> None:
    key = tl.SigningKey.from_jwk(RFC7515_JWK)
    header, payload = key.verify_signature(RFC7515_TOKEN)

    assert key.algorithm == "HS256"
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert payload == RFC7515_PAYLOAD_BYTES


def _flip_bit(segment: str, byte_index: int) -> str:
    """Flip the lowest bit of one decoded byte of a base64url segment and re-encode it."""
    data = bytearray(_b64url_decode(segment))
    data[byte_index] ^= 0x01
    return _b64url_encode(bytes(data))


# Each change keeps the segment well-formed, so only the signature check can catch it:
# header "JWT" becomes "JWU", payload "joe" becomes "jod", and the first MAC byte changes.
ONE_BIT_CHANGES = {
    "header": (0, RFC7515_HEADER_BYTES.index(b'JWT"') + 2),
    "payload": (1, RFC7515_PAYLOAD_BYTES.index(b'joe"') + 2),
    "signature": (2, 0),
}


@pytest.mark.parametrize("segment_name", list(ONE_BIT_CHANGES))
def test_rfc7515_one_bit_change_rejected(segment_name: str) -> None:
    segment_index, byte_index = ONE_BIT_CHANGES[segment_name]
    segments = RFC7515_TOKEN.split(".")
    segments[segment_index] = _flip_bit(segments[segment_index], byte_index)
    tampered = ".".join(segments)
    key = tl.SigningKey.from_jwk(RFC7515_JWK)

    assert tampered != RFC7515_TOKEN
    with pytest.raises(tl.InvalidToken) as caught:
        key.verify_signature(tampered)
    assert caught.value.check == "signature"


def test_rfc7515_token_rejected_by_authority(clock: tl.SimulatedClock, policy: tl.TokenPolicy) -> None:
    # The RFC token is a plain JWT (typ "JWT"), and its exp lies in 2011. The typ check
    # runs first, so it is the one reported, even though the key is the right one.
    authority = tl.TokenAuthority(
        policy=policy,
        clock=clock,
        store=tl.MemoryStore(),
        key=tl.SigningKey.from_jwk(RFC7515_JWK),
    )

    with pytest.raises(tl.InvalidToken) as caught:
        authority.verify(RFC7515_TOKEN)

    assert caught.value.check == "typ"
    assert authority.events.last().check == "typ"
