"""Fuzzing: mutated real tokens and random input never crash the engine or ``tokenlab inspect``.

Each example builds a fresh authority on its own simulated clock, issues and
refreshes a few tokens, then feeds one mutation of them, or random input, to
``verify``, ``refresh``, ``revoke``, ``introspect`` and ``tokenlab inspect``.
The properties: no exception other than a :class:`tokenlab.TokenlabError`,
``introspect`` always returns a dict, ``inspect`` exits with 0, 1 or 2 and
writes no traceback, and nothing that was not issued verifies, refreshes,
revokes or introspects as active. A token that the test signs again with the
authority's own key counts as issued by the key holder: when it verifies, its
header and claims must satisfy every rule ``verify`` checks.

The separate, longer run is ``python tests/benchmarks/fuzz_engine.py``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

import tokenlab as tl
from tokenlab import cli

START = "2026-01-05T09:00:00+00:00"
ALGORITHMS = ("RS256", "ES256", "HS256")
CLIENT_ID = "app"
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope")
LAST_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEADER_NAMES = ("alg", "typ", "kid", "jku", "jwk", "x5u", "x5c", "crit", "b64")
CLAIM_NAMES = ("iss", "sub", "aud", "client_id", "iat", "exp", "nbf", "jti", "scope")
DEEP_NESTING = "[" * 1200 + "]" * 1200
"""Deeper than Python's JSON parser can go (it raises RecursionError), yet short enough for a token."""

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- a session of issued tokens ----------------------------------------------------------


@dataclass
class Session:
    """An authority and the tokens it issued: two families, one refreshed once."""

    authority: tl.TokenAuthority
    access_tokens: list[str]
    refresh_tokens: list[str]

    @property
    def tokens(self) -> list[str]:
        return self.access_tokens + self.refresh_tokens

    def issued(self, value: object) -> bool:
        return as_text(value) in self.tokens

    def remember(self, pair: tl.TokenPair) -> None:
        self.access_tokens.append(pair.access_token)
        self.refresh_tokens.append(pair.refresh_token)


def start_session(key: tl.SigningKey, store: tl.TokenStore | None = None) -> Session:
    """Issue AT1/RT1 and AT3/RT3, and refresh RT1 into AT2/RT2, on a new clock at START.

    Hypothesis runs many examples in one test call, so each builds its own
    clock here instead of sharing the function-scoped ``clock`` fixture.
    """
    authority = tl.TokenAuthority(
        policy=tl.TokenPolicy(readable_ids=True), clock=tl.SimulatedClock(START),
        store=store if store is not None else tl.MemoryStore(), key=key,
    )
    session = Session(authority, [], [])
    first = authority.issue("alice", client_id=CLIENT_ID, scope="read write")
    session.remember(first)
    session.remember(authority.refresh(first.refresh_token, client_id=CLIENT_ID))
    session.remember(authority.issue("bob", client_id=CLIENT_ID, scope="read"))
    return session


def as_text(value: object) -> str | None:
    """Return the token text an input stands for: a str as is, ASCII bytes decoded."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes) and value.isascii():
        return value.decode("ascii")
    return None


# -- strategies ---------------------------------------------------------------------------

# Any code point, lone surrogates included: json.dumps writes those as "\ud800" escapes.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),  # NaN and infinities included, written as NaN, Infinity and -Infinity
    ANY_TEXT,
    st.sampled_from(
        ["none", "NONE", "at+jwt", "JWT", "demo-rs256", "demo-hs256", "https://api.tokenlab.example", "\ud800"]
    ),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=10,
)
# JSON text that json.dumps never writes from a Python value.
RAW_JSON = st.sampled_from(["1" * 5000, "1e999", "-0", "NaN", "-Infinity", "253402300800", "1767603900.5"])


@st.composite
def json_member_value(draw: st.DrawFn, *, deep: bool) -> str:
    """Draw the JSON text of one member value; ``deep`` allows nesting past the parser's limit."""
    choices = [JSON_VALUES.map(json.dumps), RAW_JSON]
    if deep:
        choices.append(st.just(DEEP_NESTING))
    return draw(st.one_of(*choices))


@st.composite
def object_text(draw: st.DrawFn, base: dict[str, Any], names: tuple[str, ...], *, deep: bool) -> str:
    """Draw JSON text for ``base`` with members changed, removed, duplicated or added, or a non-object."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_member_value(deep=deep))
    members = [(json.dumps(name), json.dumps(value)) for name, value in base.items()]
    for _ in range(draw(st.integers(1, 3))):
        name = json.dumps(draw(st.sampled_from(names + tuple(base))))
        operation = draw(st.sampled_from(["replace", "remove", "duplicate"]))
        if operation != "duplicate":
            members = [(n, v) for n, v in members if n != name]
        if operation != "remove":
            # A duplicate member is added after the first one; Python's json keeps the last.
            members.append((name, draw(json_member_value(deep=deep))))
    return "{" + ",".join(f"{n}:{v}" for n, v in members) + "}"


def _flip_bit(data: st.DataObject, token: str) -> str:
    position = data.draw(st.integers(0, len(token) - 1))
    flipped = chr(ord(token[position]) ^ (1 << data.draw(st.integers(0, 7))))
    return token[:position] + flipped + token[position + 1 :]


def _swap_segments(data: st.DataObject, token: str, others: list[str]) -> str:
    segments = token.split(".")
    donor = data.draw(st.sampled_from(others)).split(".")
    position = data.draw(st.integers(0, len(segments) - 1))
    if data.draw(st.booleans()) and len(segments) > 1:
        other = (position + data.draw(st.integers(1, len(segments) - 1))) % len(segments)
        segments[position], segments[other] = segments[other], segments[position]
    else:
        segments[position] = donor[min(position, len(donor) - 1)]
    return ".".join(segments)


def _change_dots(data: st.DataObject, token: str) -> str:
    if "." in token and data.draw(st.booleans()):
        position = data.draw(st.sampled_from([i for i, ch in enumerate(token) if ch == "."]))
        return token[:position] + token[position + 1 :]
    position = data.draw(st.integers(0, len(token)))
    return token[:position] + "." * data.draw(st.integers(1, 2)) + token[position:]


def _change_alphabet(data: st.DataObject, token: str) -> str:
    segments = token.split(".")
    position = data.draw(st.integers(0, len(segments) - 1))
    segment = segments[position]
    change = data.draw(st.sampled_from(["standard", "padding", "insert", "swapcase", "low-bits", "bearer"]))
    if change == "standard":
        segments[position] = segment.replace("-", "+").replace("_", "/")
    elif change == "padding":
        # The padding that would complete the last base64 quantum, which lax decoders accept.
        segments[position] = segment + "=" * (-len(segment) % 4 or data.draw(st.integers(1, 2)))
    elif change == "insert":
        at = data.draw(st.integers(0, len(segment)))
        segments[position] = segment[:at] + data.draw(st.sampled_from(" \n\t=+/~!\u00a0")) + segment[at:]
    elif change == "swapcase":
        segments[position] = segment.swapcase()
    elif change == "low-bits" and segment and segment[-1] in BASE64URL_ALPHABET:
        # The last character's low bits carry no data when the length is not a multiple of 4.
        index = BASE64URL_ALPHABET.index(segment[-1]) ^ data.draw(st.integers(1, 3))
        segments[position] = segment[:-1] + BASE64URL_ALPHABET[index]
    elif change == "bearer":
        return "Bearer " + token
    return ".".join(segments)


MUTATIONS: dict[str, Callable[[st.DataObject, str, list[str]], str]] = {
    "bit-flip": lambda data, token, others: _flip_bit(data, token),
    "segment-swap": _swap_segments,
    "truncate": lambda data, token, others: token[: data.draw(st.integers(0, len(token) - 1))],
    "dots": lambda data, token, others: _change_dots(data, token),
    "alphabet": lambda data, token, others: _change_alphabet(data, token),
}


def draw_mutation(data: st.DataObject, session: Session) -> str | bytes:
    """Draw one mutation of a token the session issued, sometimes as ASCII bytes."""
    token = data.draw(st.sampled_from(session.tokens), label="token")
    name = data.draw(st.sampled_from(sorted(MUTATIONS)), label="mutation")
    mutated = MUTATIONS[name](data, token, session.tokens)
    if mutated.isascii() and data.draw(st.integers(0, 9)) == 0:
        return mutated.encode("ascii")
    return mutated


def sign_input(key: tl.SigningKey, signing_input: str) -> str:
    """Sign ``signing_input`` with ``key`` and its own algorithm, as the authority does."""
    return b64url(get_default_algorithms()[key.algorithm].sign(signing_input.encode("ascii"), key._signing_key))


def draw_reencoded(data: st.DataObject, session: Session, *, deep: bool = True) -> tuple[str, bool]:
    """Draw an access token whose header or payload is re-encoded with random JSON.

    Returns the token and whether it carries a valid signature of the
    authority's key: re-signed, or left with its old signature, or none.
    """
    token = data.draw(st.sampled_from(session.access_tokens), label="token")
    header_segment, payload_segment, old_signature = token.split(".")
    header_text = b64url_decode(header_segment).decode()
    payload_text = b64url_decode(payload_segment).decode()
    part = data.draw(st.sampled_from(["header", "payload", "both"]), label="part")
    if part != "payload":
        header_text = data.draw(object_text(json.loads(header_text), HEADER_NAMES, deep=deep), label="header")
    if part != "header":
        payload_text = data.draw(object_text(json.loads(payload_text), CLAIM_NAMES, deep=deep), label="payload")

    signing_input = ".".join(b64url(text.encode("utf-8", "surrogatepass")) for text in (header_text, payload_text))
    ending = data.draw(st.sampled_from(["resigned", "old-signature", "unsigned"]), label="signature")
    if ending == "resigned":
        return f"{signing_input}.{sign_input(session.authority.keys.current, signing_input)}", True
    if ending == "old-signature":
        return f"{signing_input}.{old_signature}", False
    return f"{signing_input}.", False


@st.composite
def random_inputs(draw: st.DrawFn) -> object:
    """Draw random bytes or text, short or up to 1 MB, or a value that is not a string at all."""
    kind = draw(st.sampled_from(["bytes", "text", "large-bytes", "large-text", "other"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(st.characters(exclude_categories=()), max_size=300))
    if kind == "other":
        return draw(st.sampled_from([None, 0, 1.5, float("nan"), True, [], {}, ("a.b.c",)]))
    # Hypothesis cannot draw a megabyte element by element, so a drawn seed expands to it.
    length = draw(st.sampled_from([8192, 8193, 100_000, 1 << 20]))
    filler = random.Random(draw(st.integers(0, 2**32))).randbytes(length)
    return filler if kind == "large-bytes" else filler.decode("latin-1")


# -- the properties ---------------------------------------------------------------------


def rule_broken_by(authority: tl.TokenAuthority, token: str, claims: dict[str, Any]) -> str | None:
    """Check the header and claims of a token that verified; return the rule it breaks, or None."""
    header = json.loads(b64url_decode(token.split(".")[0]))
    key = authority.keys.current
    if not isinstance(header.get("typ"), str) or header["typ"].lower() not in ACCESS_TOKEN_TYPES:
        return f"typ {header.get('typ')!r}"
    if header.get("kid", key.kid) != key.kid or header.get("alg") != key.algorithm:
        return f"alg {header.get('alg')!r} with kid {header.get('kid')!r}"
    if claims.get("iss") != authority.policy.issuer:
        return f"iss {claims.get('iss')!r}"
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if authority.policy.audience not in [a for a in audiences if isinstance(a, str)]:
        return f"aud {claims.get('aud')!r}"
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        return f"missing {missing}"
    for name in ("sub", "client_id", "jti", "scope"):
        if not isinstance(claims[name], str) or not claims[name]:
            return f"{name} {claims[name]!r}"
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        if type(value) is not int or not 0 <= value <= LAST_NUMERIC_DATE:
            return f"{name} {value!r}"
    now = authority.clock.now().timestamp()
    if not now < claims["exp"] or claims["iat"] > now or claims.get("nbf", 0) > now:
        return f"times exp={claims['exp']} iat={claims['iat']} nbf={claims.get('nbf')} at {now}"
    return None


def check_engine(session: Session, value: object, *, resigned: bool = False) -> None:
    """Run verify, introspect, revoke and refresh on ``value`` and assert the properties."""
    authority = session.authority
    issued = session.issued(value)
    allowed_to_pass = issued or resigned

    for stateless in (False, True):
        try:
            claims = authority.verify(value, stateless=stateless)  # type: ignore[arg-type]
        except tl.TokenlabError:
            continue
        assert allowed_to_pass, f"verify(stateless={stateless}) accepted a token that was never issued"
        if not issued:
            assert rule_broken_by(authority, as_text(value), claims) is None  # type: ignore[arg-type]

    response = authority.introspect(value)
    assert isinstance(response, dict)
    assert response == {"active": False} or (response.get("active") is True and allowed_to_pass)

    with contextlib.suppress(tl.TokenlabError):
        changed = authority.revoke(value, client_id=CLIENT_ID)  # type: ignore[arg-type]
        assert not changed or allowed_to_pass, "revoke revoked something with a token that was never issued"

    with contextlib.suppress(tl.TokenlabError):
        authority.refresh(value, client_id=CLIENT_ID)  # type: ignore[arg-type]
        assert as_text(value) in session.refresh_tokens, "refresh accepted a token that was never issued"


def run_inspect(arguments: list[str], stdin: bytes = b"") -> tuple[int, str]:
    """Call ``tokenlab inspect`` in-process; return its exit status and stderr.

    stdout and stderr encode strictly as UTF-8, as a terminal does, so output
    that a terminal could not print fails here too.
    """
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    with mock.patch.object(sys, "stdin", fake_stdin), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cli.main(["inspect", *arguments])
    stderr.flush()
    return status, stderr.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]


def check_inspect(value: str | bytes) -> None:
    """Run ``tokenlab inspect`` on ``value`` as its argument (when it can be one) and on stdin."""
    runs = []
    # An argv entry cannot contain NUL, and one that starts with '-' is read as an option (exit 2).
    if isinstance(value, str) and "\x00" not in value:
        runs.append(run_inspect([value]))
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    runs.append(run_inspect(["-"], data))
    for status, errors in runs:
        assert status in (0, 1, 2)
        assert "Traceback" not in errors


@pytest.fixture(scope="module")
def sessions() -> dict[str, Callable[[], Session]]:
    """Session builders by algorithm; the demo keys are loaded once for the module."""
    keys = {algorithm: tl.demo_key(algorithm) for algorithm in ALGORITHMS}
    return {algorithm: (lambda key=key: start_session(key)) for algorithm, key in keys.items()}


# -- engine ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@FUZZ
@given(data=st.data())
def test_mutated_token_never_passes(sessions, algorithm: str, data: st.DataObject) -> None:
    session = sessions[algorithm]()
    value = draw_mutation(data, session)

    check_engine(session, value)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@FUZZ
@given(data=st.data())
def test_reencoded_token_passes_only_by_rules(sessions, algorithm: str, data: st.DataObject) -> None:
    session = sessions[algorithm]()
    token, resigned = draw_reencoded(data, session)

    check_engine(session, token, resigned=resigned)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tl.SQLiteStore]:
    """One SQLite store for every example; each example adds its own families to it."""
    with tl.SQLiteStore(tmp_path_factory.mktemp("fuzz") / "tokens.db", durable=False) as store:
        yield store


@FUZZ
@given(data=st.data())
def test_reencoded_token_on_sqlite_passes_only_by_rules(sqlite_store: tl.SQLiteStore, data: st.DataObject) -> None:
    session = start_session(tl.demo_key("HS256"), sqlite_store)
    token, resigned = draw_reencoded(data, session)

    check_engine(session, token, resigned=resigned)


@FUZZ
@given(value=random_inputs())
def test_random_input_never_passes(sessions, value: object) -> None:
    check_engine(sessions["HS256"](), value)


# -- tokenlab inspect --------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "HS256"])
@FUZZ
@given(data=st.data())
def test_inspect_mutated_token_exits_cleanly(sessions, algorithm: str, data: st.DataObject) -> None:
    session = sessions[algorithm]()
    if data.draw(st.booleans(), label="re-encode"):
        value: str | bytes = draw_reencoded(data, session, deep=True)[0]
    else:
        value = draw_mutation(data, session)

    check_inspect(value)


@FUZZ
@given(value=random_inputs().filter(lambda value: isinstance(value, (str, bytes))))
def test_inspect_random_input_exits_cleanly(value: str | bytes) -> None:
    check_inspect(value)


# -- cases the fuzzing found ----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_padded_signature_never_verifies(sessions, algorithm: str) -> None:
    # PyJWT 2.15 accepts '=' padding after the signature, so this copy would verify under
    # another fingerprint unless tokenlab rejects padding itself.
    session = sessions[algorithm]()
    token = session.access_tokens[0]
    padded = token + "=" * (-len(token.split(".")[2]) % 4 or 4)

    with pytest.raises(tl.InvalidToken) as caught:
        session.authority.verify(padded, stateless=True)
    assert caught.value.check == "format"
    assert session.authority.introspect(padded) == {"active": False}
    assert session.authority.revoke(padded, client_id=CLIENT_ID) is False


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@pytest.mark.parametrize("claim", ["jti", "sub", "client_id", "scope"])
def test_lone_surrogate_claim_rejected(sessions, tmp_path: Path, store_kind: str, claim: str) -> None:
    key = tl.demo_key("HS256")
    store = tl.SQLiteStore(tmp_path / "tokens.db", durable=False) if store_kind == "sqlite" else None
    session = start_session(key, store)
    header_segment, payload_segment, _ = session.access_tokens[0].split(".")
    claims = json.loads(b64url_decode(payload_segment))
    claims[claim] = "\ud800"
    signing_input = f"{header_segment}.{b64url(json.dumps(claims).encode('ascii'))}"
    token = f"{signing_input}.{sign_input(key, signing_input)}"

    with pytest.raises(tl.InvalidToken) as caught:
        session.authority.verify(token, stateless=True)
    assert caught.value.check == "claims"
    assert session.authority.introspect(token) == {"active": False}
    assert session.authority.revoke(token, client_id=CLIENT_ID) is False
    if store is not None:
        store.close()


def test_inspect_deeply_nested_payload_exits_1() -> None:
    header = b64url(b'{"alg":"HS256","typ":"at+jwt"}')
    token = f"{header}.{b64url(DEEP_NESTING.encode('ascii'))}.c2ln"

    status, errors = run_inspect([token])

    assert status == 1
    assert "payload" in errors
