"""Secrets hygiene: no token and no key material in logs, reprs, messages, events, timelines or the JWKS.

test_events.py scans one hand-driven RS256 session with a rotated HMAC key.
This file adds every scenario, with its clients, step results, text timeline
and ``tokenlab run`` output. It also scans a wider session for each algorithm
and store, the errors of key loading and the JWKS after key rotations, looks
for RSA and EC private numbers and PEM text as well as HMAC secrets, and
checks the demo keys' labelling.

A secret counts as leaked when any 16-character window of it appears in an
output: long enough that no label, fingerprint or date matches by chance,
short enough to catch a token cut in half.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import tokenlab as tl
from tokenlab import cli, scenarios, timeline

WINDOW = 16
ALGORITHMS = ("RS256", "ES256", "HS256")
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")
LOG_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def windows_of(texts: Iterable[str]) -> set[str]:
    return {text[start : start + WINDOW] for text in texts for start in range(len(text) - WINDOW + 1)}


def public_forms(key: tl.SigningKey) -> list[str]:
    """Return the public key in base64 and base64url, at each of the three byte alignments of a DER file."""
    verifying = key._verifying_key
    if isinstance(verifying, rsa.RSAPublicKey):
        values = [verifying.public_numbers().n, verifying.public_numbers().e]
    else:
        values = [verifying.public_numbers().x, verifying.public_numbers().y]
    forms = []
    for value in values:
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + int_bytes(value)).decode("ascii")
            forms += [encoded, encoded.replace("+", "-").replace("/", "_")]
    return forms


class SecretScanner:
    """Secrets by name, kept as their 16-character windows, and a search for any of them in a text."""

    def __init__(self) -> None:
        self._windows: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        for start in range(max(len(text) - WINDOW + 1, 1)):
            self._windows[text[start : start + WINDOW]] = name

    def add_token(self, token: str) -> None:
        if token.count(".") == 2:
            # The header and payload segments are public JSON; the token and its signature are not.
            self.add(f"access token {tl.fingerprint(token)}", token.split(".")[2])
            self._windows[token] = f"access token {tl.fingerprint(token)}"
        else:
            self.add(f"refresh token {tl.fingerprint(token)}", token)

    def add_key(self, key: tl.SigningKey) -> None:
        """Add every common text form of the key's private or secret material."""
        material = key._signing_key
        name = f"key {key.kid}"
        if isinstance(material, bytes):
            forms = [material.hex(), material.hex().upper(), b64url(material), base64.b64encode(material).decode(),
                     material.decode("latin-1")]
            for form in forms:
                self.add(f"{name} secret", form)
            return
        if isinstance(material, rsa.RSAPrivateKey):
            numbers = material.private_numbers()
            values = {"d": numbers.d, "p": numbers.p, "q": numbers.q, "dp": numbers.dmp1, "dq": numbers.dmq1,
                      "qi": numbers.iqmp}
        elif isinstance(material, ec.EllipticCurvePrivateKey):
            values = {"d": material.private_numbers().private_value}
        else:
            return
        for member, value in values.items():
            for form in (str(value), format(value, "x"), b64url(int_bytes(value))):
                self.add(f"{name} private {member}", form)
        # A private PEM file contains the public key too, which may be shown, so its windows are left out.
        public = windows_of(public_forms(key))
        for private_format in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
            pem = material.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())
            body = "".join(line for line in pem.decode("ascii").splitlines() if not line.startswith("-----"))
            for window in windows_of([body]) - public:
                self._windows[window] = f"{name} private PEM"

    def leaks(self, texts: Iterable[str]) -> list[str]:
        """Return one line for each text that contains a window of a secret."""
        found = []
        for text in texts:
            for start in range(len(text) - WINDOW + 1):
                name = self._windows.get(text[start : start + WINDOW])
                if name is not None:
                    found.append(f"{name} appears in {text[max(start - 40, 0) : start + 60]!r}")
                    break
        return found


def error_texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error)]
    if isinstance(error, tl.TokenlabError):
        texts += [error.message, str(error.www_authenticate), str(error.token)]
    return texts


def event_texts(events: Iterable[tl.Event]) -> list[str]:
    return [text for event in events for text in (repr(event), str(event), event.describe())]


def log_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    return [LOG_FORMAT.format(record) for record in records]


def store_texts(store: tl.TokenStore) -> list[str]:
    """Return the reprs of the store and of every record it keeps."""
    texts = [repr(store)]
    for family in store.families():
        texts.append(repr(family))
        texts += [repr(record) for record in store.family_refresh_tokens(family.family_id)]
        texts += [repr(record) for record in store.family_access_tokens(family.family_id)]
    return texts


@pytest.fixture
def captured_pairs(monkeypatch: pytest.MonkeyPatch) -> list[tl.TokenPair]:
    """Every pair any TokenAuthority returns from issue() or refresh() during the test."""
    pairs: list[tl.TokenPair] = []
    for name in ("issue", "refresh"):
        original = getattr(tl.TokenAuthority, name)

        def recording(self: tl.TokenAuthority, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            pair = _original(self, *args, **kwargs)
            pairs.append(pair)
            return pair

        monkeypatch.setattr(tl.TokenAuthority, name, recording)
    return pairs


@pytest.fixture(scope="module")
def demo_scanner() -> SecretScanner:
    """A scanner loaded with the three demo keys."""
    scanner = SecretScanner()
    for algorithm in ALGORITHMS:
        scanner.add_key(tl.demo_key(algorithm))
    return scanner


# -- scenarios ---------------------------------------------------------------------------


def scenario_texts(run: scenarios.ScenarioRun, result: scenarios.ScenarioResult) -> list[str]:
    """Return everything a learner can see of a finished scenario run."""
    texts = [repr(run), repr(run.authority), repr(run.authority.keys), repr(run.authority.events)]
    texts += [repr(key) for key in run.authority.keys]
    texts += store_texts(run.authority.store)
    texts += event_texts(result.events)
    for step in result.steps:
        texts += [repr(step), step.describe(), step.outcome]
        if step.error is not None:
            texts += error_texts(step.error)
    for client in run.clients.values():
        texts += [repr(client), repr(client.storage), repr(client.tokens)]
        for call in client.calls:
            texts += [repr(call), call.describe()]
            for response in (call.response, call.first_response):
                if response is not None:
                    texts += [repr(response), json.dumps(response.body), str(response.www_authenticate)]
            if call.exception is not None:
                texts += error_texts(call.exception)
    texts += [repr(api) for api in run.apis.values()]
    texts += [json.dumps(run.authority.jwks())]
    texts += [timeline.format_timeline(result.events), timeline.summarize(result.events), cli.format_run(result)]
    return texts


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_scenario_shows_no_secret(name: str, captured_pairs, demo_scanner, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.DEBUG, logger="tokenlab"):
        run = scenarios.ScenarioRun(name)
        result = run.run()

    scanner = SecretScanner()
    scanner._windows.update(demo_scanner._windows)
    for pair in captured_pairs:
        scanner.add_token(pair.access_token)
        scanner.add_token(pair.refresh_token)
    texts = scenario_texts(run, result) + log_texts(caplog.records) + [repr(pair) for pair in captured_pairs]

    assert captured_pairs, "the scenario should issue tokens"
    assert scanner.leaks(texts) == []


def test_scanner_finds_half_a_token(demo_scanner) -> None:  # type: ignore[no-untyped-def]
    # The scan must catch a token cut in half, and a key in the forms a JWK or a PEM file uses.
    authority = tl.TokenAuthority.demo()
    pair = authority.issue("alice", client_id="app", scope="read")
    scanner = SecretScanner()
    scanner.add_token(pair.access_token)
    scanner.add_token(pair.refresh_token)
    key = tl.demo_key("RS256")._signing_key
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    assert scanner.leaks([f"token {pair.refresh_token[10:30]}..."])
    assert scanner.leaks([f"signature {pair.access_token.split('.')[2][:20]}"])
    assert scanner.leaks([pair.access_token])
    assert demo_scanner.leaks([b64url(int_bytes(key.private_numbers().p))])
    assert demo_scanner.leaks([pem.decode("ascii").splitlines()[-2]])  # the end of the file contains qi
    assert demo_scanner.leaks([tl.demo_key("HS256")._signing_key.hex()[20:40]])
    assert scanner.leaks([pair.access_token.split(".")[0], "AT1 RT1 at-1 F1"]) == []


# -- a hand-driven session for each algorithm and store --------------------------------------


def drive_session(authority: tl.TokenAuthority, clock: tl.SimulatedClock) -> tuple[list[BaseException], list[str]]:
    """Run operations that succeed and fail, rotate and remove keys; return the errors and outputs."""
    errors: list[BaseException] = []
    outputs: list[str] = []

    def attempt(operation: Callable[[], Any]) -> None:
        try:
            result = operation()
        except tl.TokenlabError as exc:
            errors.append(exc)
        else:
            outputs.append(repr(result))

    first = authority.issue("alice", client_id="app", scope="read write")
    second = authority.refresh(first.refresh_token, client_id="app", scope="read")
    attempt(lambda: authority.refresh(first.refresh_token, client_id="app"))  # grace-window retry
    clock.advance(seconds=30)
    attempt(lambda: authority.refresh(first.refresh_token, client_id="app"))  # reuse: the family is revoked
    attempt(lambda: authority.verify(second.access_token))
    other = authority.issue("bob", client_id="app", scope="read")
    attempt(lambda: authority.verify(other.access_token, required_scope="admin"))
    attempt(lambda: authority.refresh(other.refresh_token, client_id="evil"))
    attempt(lambda: authority.refresh(other.refresh_token, client_id="app", scope="read admin"))
    attempt(lambda: authority.revoke(other.access_token, client_id="evil", token_type_hint="refresh_token"))
    attempt(lambda: authority.revoke(other.refresh_token, client_id="evil", token_type_hint="access_token"))
    skewed = authority.with_clock(tl.OffsetClock(clock, -120))
    attempt(lambda: skewed.verify(other.access_token))  # issued in the future for this server
    for token in (first.access_token, first.refresh_token, other.access_token, other.refresh_token):
        outputs.append(repr(authority.introspect(token)))

    old_kid = authority.keys.current.kid
    for algorithm in ALGORITHMS:
        attempt(lambda algorithm=algorithm: authority.rotate_signing_key(tl.SigningKey.generate(algorithm)))
    attempt(lambda: authority.rotate_signing_key(authority.keys.current))  # the kid is already in use
    attempt(lambda: authority.remove_key(authority.keys.current.kid))
    attempt(lambda: authority.remove_key(old_kid))
    attempt(lambda: authority.verify(other.access_token))  # its key is gone
    third = authority.issue("carol", client_id="app", scope="read")
    attempt(lambda: authority.verify(third.access_token))
    attempt(lambda: authority.revoke(third.access_token, client_id="app"))
    clock.advance(days=16)
    attempt(lambda: authority.refresh(third.refresh_token, client_id="app"))  # idle expiry
    attempt(lambda: authority.revoke(third.refresh_token, client_id="app"))
    fourth = authority.issue("dave", client_id="app", scope="read")
    clock.advance(days=31)
    attempt(lambda: authority.refresh(fourth.refresh_token, client_id="app"))  # absolute expiry
    return errors, outputs


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_session_shows_no_secret(algorithm: str, store_kind: str, clock, tmp_path: Path, captured_pairs, caplog) -> None:  # type: ignore[no-untyped-def]
    store = tl.SQLiteStore(tmp_path / "tokens.db", durable=False) if store_kind == "sqlite" else tl.MemoryStore()
    authority = tl.TokenAuthority(
        policy=tl.TokenPolicy(reuse_grace=timedelta(seconds=10)), clock=clock, store=store,
        key=tl.SigningKey.generate(algorithm),
    )
    with caplog.at_level(logging.DEBUG, logger="tokenlab"):
        errors, outputs = drive_session(authority, clock)

    scanner = SecretScanner()
    for key in authority.keys:
        scanner.add_key(key)
    for pair in captured_pairs:
        scanner.add_token(pair.access_token)
        scanner.add_token(pair.refresh_token)
    texts = outputs + [repr(authority), repr(authority.keys), repr(authority.events), json.dumps(authority.jwks())]
    texts += [repr(key) for key in authority.keys] + [repr(pair) for pair in captured_pairs]
    texts += store_texts(store) + event_texts(authority.events) + log_texts(caplog.records)
    texts += [text for error in errors for text in error_texts(error)]
    if isinstance(store, tl.SQLiteStore):
        store.close()

    assert len(errors) >= 12, [type(error).__name__ for error in errors]
    assert len(authority.keys) == 3
    assert scanner.leaks(texts) == []


# -- errors of key loading -----------------------------------------------------------------------


def private_jwk(key: tl.SigningKey) -> dict[str, Any]:
    """Return the full private JWK of an RSA, EC or HMAC key, as a key file contains it."""
    material = key._signing_key
    if isinstance(material, bytes):
        return {"kty": "oct", "k": b64url(material)}
    jwk = dict(key.public_jwk() or {})
    if isinstance(material, rsa.RSAPrivateKey):
        numbers = material.private_numbers()
        members = {"d": numbers.d, "p": numbers.p, "q": numbers.q, "dp": numbers.dmp1, "dq": numbers.dmq1, "qi": numbers.iqmp}
    else:
        members = {"d": material.private_numbers().private_value}
    jwk.update({name: b64url(int_bytes(value)) for name, value in members.items()})
    return jwk


def broken_key_inputs(key: tl.SigningKey) -> list[Callable[[], Any]]:
    """Return calls that load broken or mismatched forms of ``key``'s material, each of which must fail."""
    jwk = private_jwk(key)
    calls: list[Callable[[], Any]] = [
        lambda: tl.SigningKey.from_jwk({**jwk, "alg": "none"}),
        lambda: tl.SigningKey.from_jwk({**jwk, "use": "enc"}),
        lambda: tl.SigningKey.from_jwk(json.dumps(jwk)[:-5]),
    ]
    if jwk["kty"] == "oct":
        calls.append(lambda: tl.SigningKey.from_secret(key._signing_key[:20]))
        calls.append(lambda: tl.SigningKey.from_jwk({**jwk, "k": jwk["k"][:26]}))
    else:
        broken = {**jwk, "d": jwk["d"][:-8] + "AAAAAAAA"}
        calls.append(lambda: tl.SigningKey.from_jwk(broken))
        pem = key._signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        calls.append(lambda: tl.SigningKey.from_pem(pem[: len(pem) // 2] + "\n-----END PRIVATE KEY-----\n"))
        other = "ES256" if key.algorithm == "RS256" else "RS256"
        calls.append(lambda: tl.SigningKey.from_pem(pem, algorithm=other))
    return calls


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_key_loading_errors_show_no_key(algorithm: str, demo_keys) -> None:  # type: ignore[no-untyped-def]
    key = demo_keys[algorithm]
    scanner = SecretScanner()
    scanner.add_key(key)
    errors = []
    for call in broken_key_inputs(key):
        with pytest.raises(tl.SigningKeyError) as caught:
            call()
        errors.append(caught.value)

    assert scanner.leaks([text for error in errors for text in error_texts(error)]) == []


# -- the JWKS ------------------------------------------------------------------------------------


def jwks_problems(authority: tl.TokenAuthority, scanner: SecretScanner) -> list[str]:
    """Return what is wrong with the authority's JWKS: private members, secrets, or keys missing."""
    jwks = authority.jwks()
    problems = [f"{jwk.get('kid')} has {name!r}" for jwk in jwks["keys"] for name in PRIVATE_JWK_MEMBERS if name in jwk]
    problems += [f"{jwk.get('kid')} has kty {jwk.get('kty')!r}" for jwk in jwks["keys"] if jwk.get("kty") not in ("RSA", "EC")]
    published = sorted(jwk["kid"] for jwk in jwks["keys"])
    asymmetric = sorted(key.kid for key in authority.keys if not key.is_symmetric)
    if published != asymmetric:
        problems.append(f"the JWKS lists {published}, not the public keys {asymmetric}")
    problems += scanner.leaks([json.dumps(jwks)])
    return problems


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_jwks_stays_public_through_rotations(algorithm: str, clock) -> None:  # type: ignore[no-untyped-def]
    first_key = tl.SigningKey.generate(algorithm)
    authority = tl.TokenAuthority(clock=clock, key=first_key)
    scanner = SecretScanner()
    scanner.add_key(first_key)
    problems = jwks_problems(authority, scanner)

    for new_algorithm in ("RS256", "ES256", "HS256", algorithm):
        new_key = tl.SigningKey.generate(new_algorithm)
        scanner.add_key(new_key)
        authority.rotate_signing_key(new_key)
        problems += jwks_problems(authority, scanner)
    authority.remove_key(first_key.kid)
    problems += jwks_problems(authority, scanner)

    assert problems == []
    assert len(authority.jwks()["keys"]) == 2 + (algorithm != "HS256")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_jwks_omits_private_jwk_members(algorithm: str, clock, demo_keys) -> None:  # type: ignore[no-untyped-def]
    loaded = tl.SigningKey.from_jwk(private_jwk(demo_keys[algorithm]), kid="loaded")
    authority = tl.TokenAuthority(clock=clock, key=loaded)
    scanner = SecretScanner()
    scanner.add_key(loaded)

    assert loaded.can_sign
    assert jwks_problems(authority, scanner) == []


def test_jwks_of_hmac_only_authority_is_empty(clock) -> None:  # type: ignore[no-untyped-def]
    authority = tl.TokenAuthority(clock=clock, key=tl.SigningKey.generate("HS256"))
    authority.rotate_signing_key()

    assert authority.jwks() == {"keys": []}


# -- demo keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_demo_key_kid_starts_with_demo(algorithm: str) -> None:
    assert tl.demo_key(algorithm).kid.startswith("demo-")


def test_demo_authority_uses_demo_key() -> None:
    assert tl.TokenAuthority.demo().keys.current.kid.startswith("demo-")


def test_demo_readme_says_demo_only() -> None:
    data = resources.files("tokenlab").joinpath("data")
    readme = data.joinpath("README.md").read_text(encoding="utf-8")
    pem_files = sorted(item.name for item in data.iterdir() if item.name.endswith(".pem"))

    words = " ".join(readme.split()).lower()

    assert "for the course only" in words
    assert "never use them" in words
    assert "demo-" in readme
    assert pem_files, "the demo PEM files should ship in tokenlab/data"
    for name in pem_files:
        assert name in readme, f"{name} is not described in tokenlab/data/README.md"
