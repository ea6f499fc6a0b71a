"""Fuzz the token engine and ``tokenlab inspect`` with mutated real tokens and random input.

Run on its own::

    python tests/benchmarks/fuzz_engine.py [--count N] [--seed S] [--seconds T]

Each input is random bytes or text of up to 1 MB, or one mutation of a token
that an authority really issued. The mutations are bit flips, swapped or
spliced segments, truncation, dots inserted or deleted, another base64
alphabet, and headers and payloads re-encoded with random JSON values. Every input goes to
``verify`` (stateful and stateless), ``refresh``, ``revoke``, ``introspect``
and to ``tokenlab inspect``, as its argument and on stdin. The authorities
use RS256, ES256 and HS256, on a MemoryStore and on an SQLiteStore.

The properties checked for each input:

- no exception other than a :class:`tokenlab.TokenlabError`;
- ``introspect`` returns a dict, exactly ``{"active": False}`` unless the token is active;
- ``tokenlab inspect`` exits with 0, 1 or 2 and writes no traceback;
- nothing that was not issued verifies, refreshes, revokes or introspects as active.
  A re-encoded token that the fuzzer signed again with the authority's own key
  counts as issued by the key holder; when it verifies, its header and claims
  must satisfy every rule that verification checks.

The mutator is a seeded :class:`random.Random`, so a run repeats with the same
``--seed`` (the default seed is random and printed). The run stops after
``--count`` inputs or ``--seconds`` of wall time, whichever comes first, prints
the count and each unexpected outcome, and exits with status 1 if there was any.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import random
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from jwt.algorithms import get_default_algorithms

import tokenlab as tl
from tokenlab import cli

ALGORITHMS = ("RS256", "ES256", "HS256")
CLIENT_ID = "app"
MAX_RANDOM_LENGTH = 1 << 20
REPORTED_PROBLEMS = 20
"""How many kinds of problem the run prints with an example; the rest are only counted."""

BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEADER_NAMES = ("alg", "typ", "kid", "jku", "jwk", "x5u", "x5c", "crit", "b64", "cty", "zip")
CLAIM_NAMES = ("iss", "sub", "aud", "client_id", "iat", "exp", "nbf", "jti", "scope", "typ", "cnf")
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope")
LAST_NUMERIC_DATE = 253402300799
INTERESTING_NUMBERS = (
    "0", "-0", "-1", "1e308", "-1e308", "1e309", "1.5", "1767603900.0", "1767603900.5", "9007199254740993",
    "253402300799", "253402300800", "18446744073709551616", "-9223372036854775809", "NaN", "Infinity",
    "-Infinity", "1" * 5000,
)
INTERESTING_STRINGS = (
    "", " ", "none", "NONE", "nOnE", "HS256", "RS256", "ES256", "at+jwt", "AT+JWT", "application/at+jwt", "JWT",
    "demo-rs256", "demo-es256", "demo-hs256", "../../etc/passwd", "\u0000", "\u202e", "\ud800", "\udfff",
    "\U0001f600", "é" * 40, "https://auth.tokenlab.example", "https://api.tokenlab.example", "app", "read write",
)


def b64url(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode an unpadded base64url segment, as an issued token has."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- random JSON --------------------------------------------------------------


def random_string_literal(rng: random.Random) -> str:
    """Return a JSON string literal: an interesting value, escapes, or random characters."""
    choice = rng.random()
    if choice < 0.4:
        return json.dumps(rng.choice(INTERESTING_STRINGS))
    if choice < 0.5:
        # Raw escapes, including lone surrogates that json.dumps would never write.
        return '"' + "".join(f"\\u{rng.randrange(0x10000):04x}" for _ in range(rng.randrange(1, 6))) + '"'
    length = rng.choice((1, 8, 64, 3000))
    text = "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x110000)))) for _ in range(length))
    return json.dumps(text, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def random_json(rng: random.Random, depth: int = 0) -> str:
    """Return random JSON text, with NaN and Infinity literals, huge numbers and nesting.

    The text is built by hand so it can hold what ``json.dumps`` never writes:
    duplicate object members and lone surrogate escapes.
    """
    choice = rng.random()
    if depth > 3 or choice < 0.45:
        scalar = rng.random()
        if scalar < 0.35:
            return rng.choice(INTERESTING_NUMBERS)
        if scalar < 0.45:
            return rng.choice(("true", "false", "null"))
        if scalar < 0.55:
            return str(rng.randrange(-(10**20), 10**20))
        return random_string_literal(rng)
    if choice < 0.55:
        depth_of_nesting = rng.choice((10, 900, 1200, 3000))
        return "[" * depth_of_nesting + "]" * depth_of_nesting
    if choice < 0.75:
        return "[" + ",".join(random_json(rng, depth + 1) for _ in range(rng.randrange(4))) + "]"
    members = []
    for _ in range(rng.randrange(4)):
        name = json.dumps(rng.choice(CLAIM_NAMES + HEADER_NAMES))
        members.append(f"{name}:{random_json(rng, depth + 1)}")
    return "{" + ",".join(members) + "}"


def mutate_object_text(rng: random.Random, value: dict[str, Any], names: tuple[str, ...]) -> str:
    """Return JSON text for ``value`` with a few members changed, removed, duplicated or added."""
    members = [(json.dumps(name), json.dumps(member)) for name, member in value.items()]
    for _ in range(rng.randrange(1, 4)):
        operation = rng.random()
        name = json.dumps(rng.choice(names + tuple(value)))
        if operation < 0.45:
            members = [(n, v) for n, v in members if n != name] + [(name, random_json(rng))]
        elif operation < 0.6:
            members = [(n, v) for n, v in members if n != name]
        elif operation < 0.85:
            members.append((name, random_json(rng)))  # a duplicate member: the last copy wins in Python
        else:
            rng.shuffle(members)
    if rng.random() < 0.05:
        return random_json(rng)  # not an object at all
    return "{" + ",".join(f"{n}:{v}" for n, v in members) + "}"


# -- the authorities under test ---------------------------------------------------


@dataclass
class Target:
    """An authority and every token it issued, as the fuzzer saw them."""

    name: str
    authority: tl.TokenAuthority
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)

    def issue(self) -> tl.TokenPair:
        pair = self.authority.issue("alice", client_id=CLIENT_ID, scope="read write")
        self.remember(pair)
        return pair

    def remember(self, pair: tl.TokenPair) -> None:
        self.access_tokens.add(pair.access_token)
        self.refresh_tokens.add(pair.refresh_token)

    @property
    def key(self) -> tl.SigningKey:
        return self.authority.keys.current


def build_targets(folder: Path) -> list[Target]:
    """Build one authority per algorithm on a MemoryStore, and an ES256 one on an SQLiteStore."""
    clock = tl.SimulatedClock("2026-01-05T09:00:00+00:00")
    targets = []
    for algorithm in ALGORITHMS:
        authority = tl.TokenAuthority(clock=clock, key=tl.demo_key(algorithm), store=tl.MemoryStore())
        targets.append(Target(f"{algorithm}/memory", authority))
    store = tl.SQLiteStore(folder / "fuzz.db", durable=False)
    authority = tl.TokenAuthority(clock=clock, key=tl.demo_key("ES256"), store=store)
    targets.append(Target("ES256/sqlite", authority))
    for target in targets:
        for _ in range(3):
            target.issue()
    return targets


# -- mutations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One fuzz input, with how it was made."""

    value: Any
    mutation: str
    resigned: bool = False
    """True when the fuzzer signed the input with the authority's own key."""


def sign(key: tl.SigningKey, signing_input: str) -> str:
    """Sign ``signing_input`` with ``key``'s own algorithm, as the authority would."""
    algorithm = get_default_algorithms()[key.algorithm]
    return b64url(algorithm.sign(signing_input.encode("ascii"), key._signing_key))


def flip_bit(rng: random.Random, token: str) -> str:
    position = rng.randrange(len(token))
    flipped = chr(ord(token[position]) ^ (1 << rng.randrange(8)))
    return token[:position] + flipped + token[position + 1 :]


def swap_segments(rng: random.Random, token: str, other: str) -> str:
    segments, donor = token.split("."), other.split(".")
    if rng.random() < 0.5 and len(segments) > 1:
        first, second = rng.sample(range(len(segments)), 2)
        segments[first], segments[second] = segments[second], segments[first]
    else:
        position = rng.randrange(min(len(segments), len(donor)))
        segments[position] = donor[position]
    return ".".join(segments)


def change_dots(rng: random.Random, token: str) -> str:
    position = rng.randrange(len(token) + 1)
    if rng.random() < 0.5 and "." in token:
        dots = [i for i, ch in enumerate(token) if ch == "."]
        position = rng.choice(dots)
        return token[:position] + token[position + 1 :]
    return token[:position] + "." * rng.randrange(1, 3) + token[position:]


def change_alphabet(rng: random.Random, token: str) -> str:
    operation = rng.randrange(6)
    if operation == 0:
        return token.replace("-", "+").replace("_", "/")
    if operation == 1:
        segments = token.split(".")
        position = rng.randrange(len(segments))
        segments[position] += "=" * rng.randrange(1, 3)
        return ".".join(segments)
    if operation == 2:
        position = rng.randrange(len(token) + 1)
        return token[:position] + rng.choice((" ", "\n", "\t", "=", "+", "/", "~", "!", "\u00a0")) + token[position:]
    if operation == 3:
        return token.swapcase()
    if operation == 4:
        # Change the last character's unused low bits, which a lax decoder ignores.
        segments = token.split(".")
        position = rng.randrange(len(segments))
        segment = segments[position]
        if segment and segment[-1] in BASE64URL_ALPHABET:
            index = BASE64URL_ALPHABET.index(segment[-1]) ^ rng.randrange(1, 4)
            segments[position] = segment[:-1] + BASE64URL_ALPHABET[index]
        return ".".join(segments)
    return f"Bearer {token}"


def reencode(rng: random.Random, target: Target, token: str) -> Candidate:
    """Re-encode the header or payload of an access token with random JSON, then sign or not."""
    header_segment, payload_segment, signature = token.split(".")
    header = json.loads(b64url_decode(header_segment))
    claims = json.loads(b64url_decode(payload_segment))
    header_text, claims_text = json.dumps(header), json.dumps(claims)
    part = rng.random()
    if part < 0.35 or part >= 0.7:
        header_text = mutate_object_text(rng, header, HEADER_NAMES)
    if part >= 0.35:
        claims_text = mutate_object_text(rng, claims, CLAIM_NAMES)
    encoded = [b64url(text.encode("utf-8", "surrogatepass")) for text in (header_text, claims_text)]
    signing_input = ".".join(encoded)

    ending = rng.random()
    if ending < 0.5:
        return Candidate(f"{signing_input}.{sign(target.key, signing_input)}", "reencode-resigned", resigned=True)
    if ending < 0.6 and target.key.algorithm != "HS256":
        # Algorithm confusion: an HMAC made with the public key as its secret.
        secret = target.key.public_pem().encode("ascii")
        mac = get_default_algorithms()["HS256"].sign(signing_input.encode("ascii"), secret)
        return Candidate(f"{signing_input}.{b64url(mac)}", "reencode-public-key-hmac")
    if ending < 0.7:
        return Candidate(f"{signing_input}.", "reencode-unsigned")
    return Candidate(f"{signing_input}.{signature}", "reencode-old-signature")


def random_input(rng: random.Random) -> Candidate:
    """Return random bytes or text of up to 1 MB, or a value of another type."""
    length = rng.choice((0, 1, 43, 100, 8192, 8193, 70000, MAX_RANDOM_LENGTH))
    kind = rng.random()
    if kind < 0.3:
        return Candidate(rng.randbytes(length), "random-bytes")
    if kind < 0.55:
        return Candidate(rng.randbytes(length).decode("latin-1"), "random-latin1")
    if kind < 0.8:
        return Candidate("".join(rng.choices(BASE64URL_ALPHABET + ".", k=min(length, 20000))), "random-base64url")
    if kind < 0.95:
        text = "".join(chr(rng.randrange(0x110000)) for _ in range(min(length, 2000)))
        return Candidate(text, "random-unicode")
    return Candidate(rng.choice((None, 0, -1, 1.5, float("nan"), True, [], {}, ("a", "b"))), "non-string")


def make_candidate(rng: random.Random, target: Target) -> Candidate:
    """Return one fuzz input for ``target``: a mutated issued token, or random input."""
    access = rng.choice(sorted(target.access_tokens))
    refresh = rng.choice(sorted(target.refresh_tokens))
    choice = rng.random()
    if choice < 0.08:
        return random_input(rng)
    if choice < 0.35:
        return reencode(rng, target, access)

    token = access if rng.random() < 0.75 else refresh
    other = rng.choice(sorted(target.access_tokens | target.refresh_tokens))
    mutations: list[tuple[str, Callable[[], str]]] = [
        ("bit-flip", lambda: flip_bit(rng, token)),
        ("segment-swap", lambda: swap_segments(rng, token, other)),
        ("truncate", lambda: token[: rng.randrange(len(token))]),
        ("dots", lambda: change_dots(rng, token)),
        ("alphabet", lambda: change_alphabet(rng, token)),
        ("as-bytes", lambda: flip_bit(rng, token).encode("utf-8", "surrogatepass")),
    ]
    name, mutate = rng.choice(mutations)
    return Candidate(mutate(), name)


# -- the properties -------------------------------------------------------------------


def claims_break_rules(authority: tl.TokenAuthority, token: str, claims: dict[str, Any]) -> str | None:
    """Check a verified token against the rules ``verify`` enforces; return what is broken, or None."""
    header = json.loads(b64url_decode(token.split(".")[0]))
    if not isinstance(header.get("typ"), str) or header["typ"].lower() not in ACCESS_TOKEN_TYPES:
        return f"typ {header.get('typ')!r}"
    key = authority.keys.current
    if header.get("kid", key.kid) != key.kid or header.get("alg") != key.algorithm:
        return f"alg {header.get('alg')!r} with kid {header.get('kid')!r}"
    if claims.get("iss") != authority.policy.issuer:
        return f"iss {claims.get('iss')!r}"
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if authority.policy.audience not in [a for a in audiences if isinstance(a, str)]:
        return f"aud {claims.get('aud')!r}"
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            return f"missing {name}"
    for name in ("sub", "client_id", "jti", "scope"):
        if not isinstance(claims[name], str) or not claims[name]:
            return f"{name} {claims[name]!r}"
    now = authority.clock.now().timestamp()
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        if type(value) is not int or not 0 <= value <= LAST_NUMERIC_DATE:
            return f"{name} {value!r}"
    if not now < claims["exp"] or claims["iat"] > now or claims.get("nbf", 0) > now:
        return f"times exp={claims['exp']} iat={claims['iat']} nbf={claims.get('nbf')} at {now}"
    return None


def summarize_exception(exc: BaseException) -> str:
    """Name an exception and the innermost tokenlab line it passed through."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if "tokenlab" in frame.filename]
    place = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{place}: {str(exc)[:160]}"


def as_text(value: Any) -> str | None:
    """Return the token text an input stands for: a str as is, ASCII bytes decoded."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return None


def check_engine(target: Target, candidate: Candidate) -> list[str]:
    """Run every engine operation on ``candidate``; return the properties it broke."""
    problems: list[str] = []
    authority = target.authority
    text = as_text(candidate.value)
    issued_access = text in target.access_tokens
    issued_refresh = text in target.refresh_tokens

    def call(operation: str, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except tl.TokenlabError:
            return None
        except Exception as exc:  # noqa: BLE001 - any other exception is the finding
            problems.append(f"{operation} raised {summarize_exception(exc)}")
            return None

    for stateless in (False, True):
        claims = call(f"verify(stateless={stateless})", lambda: authority.verify(candidate.value, stateless=stateless))
        if claims is None or issued_access:
            continue
        if not candidate.resigned:
            problems.append(f"verify(stateless={stateless}) accepted a token that was never issued")
        elif (broken := claims_break_rules(authority, text, claims)) is not None:
            problems.append(f"verify(stateless={stateless}) accepted a re-signed token that breaks a rule: {broken}")

    response = call("introspect", lambda: authority.introspect(candidate.value))
    if not isinstance(response, dict):
        problems.append(f"introspect returned {type(response).__name__}, not a dict")
    elif response.get("active") is not True and response != {"active": False}:
        problems.append(f"introspect of an inactive token returned {response!r}")
    elif response.get("active") is True and not (issued_access or issued_refresh or candidate.resigned):
        problems.append("introspect reported a never-issued token as active")

    revoked = call("revoke", lambda: authority.revoke(candidate.value, client_id=CLIENT_ID))
    if revoked and not (issued_access or issued_refresh or candidate.resigned):
        problems.append("revoke revoked something with a token that was never issued")

    pair = call("refresh", lambda: authority.refresh(candidate.value, client_id=CLIENT_ID))
    if pair is not None:
        target.remember(pair)
        if not issued_refresh:
            problems.append("refresh accepted a refresh token that was never issued")
    return problems


def run_inspect(candidate: Candidate) -> list[str]:
    """Run ``tokenlab inspect`` on ``candidate`` as an argument and on stdin; return the properties it broke."""
    problems: list[str] = []
    value = candidate.value
    if isinstance(value, str) and "\x00" not in value:
        problems += _inspect_once([value], b"")
    if isinstance(value, (str, bytes)):
        data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        problems += _inspect_once(["-"], data)
    return problems


def _inspect_once(arguments: list[str], stdin: bytes) -> list[str]:
    # Text streams over bytes, encoding strictly as a UTF-8 terminal does.
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    where = "stdin" if arguments == ["-"] else "argument"
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = cli.main(["inspect", *arguments])
    except Exception as exc:  # noqa: BLE001 - any exception out of main() is the finding
        return [f"inspect ({where}) raised {summarize_exception(exc)}"]
    finally:
        sys.stdin = saved_stdin
    stderr.flush()
    errors = stderr.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]
    problems = []
    if status not in (0, 1, 2):
        problems.append(f"inspect ({where}) exited with {status!r}")
    if "Traceback" in errors:
        problems.append(f"inspect ({where}) wrote a traceback: {errors[-300:]}")
    return problems


# -- the run ------------------------------------------------------------------------------


def describe(candidate: Candidate) -> str:
    value = candidate.value
    text = repr(value) if not isinstance(value, (str, bytes)) or len(value) <= 200 else f"{value[:200]!r}... ({len(value)} long)"
    return f"{candidate.mutation}: {text}"


def fuzz(count: int, seed: int, seconds: float) -> int:
    """Run the fuzzer; print the count and every problem; return the exit status."""
    rng = random.Random(seed)
    print(f"seed {seed}; up to {count} inputs or {seconds:g} s")
    problems: list[tuple[str, Candidate, str]] = []
    started = time.perf_counter()
    done = 0
    with tempfile.TemporaryDirectory() as folder:
        targets = build_targets(Path(folder))
        try:
            while done < count and time.perf_counter() - started < seconds:
                target = rng.choice(targets)
                if done % 200 == 0:
                    target.issue()  # fresh, unrevoked tokens keep the properties meaningful
                candidate = make_candidate(rng, target)
                found = check_engine(target, candidate) + run_inspect(candidate)
                problems += [(target.name, candidate, problem) for problem in found]
                done += 1
        finally:
            for target in targets:
                if isinstance(target.authority.store, tl.SQLiteStore):
                    target.authority.store.close()

    elapsed = time.perf_counter() - started
    print(f"inputs: {done} in {elapsed:.1f} s (seed {seed})")
    if done < count:
        print(f"stopped by the time budget of {seconds:g} s before {count} inputs")
    print(f"unexpected outcomes: {len(problems)}")
    # Group by what broke, and show the first input that broke it.
    groups: dict[str, list[tuple[str, Candidate]]] = {}
    for name, candidate, problem in problems:
        groups.setdefault(problem.strip(), []).append((name, candidate))
    for rank, (problem, examples) in enumerate(sorted(groups.items(), key=lambda item: -len(item[1]))):
        if rank == REPORTED_PROBLEMS:
            print(f"\n... and {len(groups) - REPORTED_PROBLEMS} more kinds")
            break
        name, candidate = examples[0]
        print(f"\n{len(examples)} x {problem}\n  first input [{name}] {describe(candidate)}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz tokenlab's engine and 'tokenlab inspect'.")
    parser.add_argument("--count", type=int, default=20000, help="number of inputs (default 20000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the mutator (default: random, printed)")
    parser.add_argument("--seconds", type=float, default=900.0, help="time budget in seconds (default 900)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    return fuzz(args.count, seed, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
