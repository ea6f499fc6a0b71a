"""Shared fixtures for the engine tests: a simulated clock, a demo policy, and authority builders.

Time moves only through the ``clock`` fixture. Tests whose outcome may depend
on the store carry ``@pytest.mark.both_stores`` and then run once with a
:class:`~tokenlab.MemoryStore` and once with an :class:`~tokenlab.SQLiteStore`.
Tokens the engine would never issue are built with ``key.sign(claims)``
(see :func:`access_claims`) or, for raw headers and payloads, with ``forge``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from importlib import resources
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import tokenlab as tl

START = "2026-01-05T09:00:00+00:00"
STORE_KINDS = ("memory", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_stores: run the test once with MemoryStore and once with SQLiteStore"
    )

    # On a fresh machine matplotlib's first import builds a font cache and says so on stderr.
    # Building it here, before any notebook kernel starts, keeps that notice out of nbval's view.
    import matplotlib.font_manager  # noqa: F401


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("store_kind", STORE_KINDS)


@pytest.fixture
def clock() -> tl.SimulatedClock:
    """A simulated clock standing at 2026-01-05 09:00:00 UTC."""
    return tl.SimulatedClock(START)


@pytest.fixture
def policy() -> tl.TokenPolicy:
    """The default policy with readable ids (``at-1``, ``F1``)."""
    return tl.TokenPolicy(readable_ids=True)


@pytest.fixture
def store_kind() -> str:
    """Which store ``authority`` builds; ``both_stores`` tests override it with each kind."""
    return "memory"


@pytest.fixture
def make_store(store_kind: str, tmp_path) -> Callable[[], tl.TokenStore]:  # type: ignore[no-untyped-def]
    """Build a new empty store of ``store_kind``; SQLite files live in ``tmp_path`` and are closed afterwards."""
    opened: list[tl.SQLiteStore] = []
    numbers = itertools.count(1)

    def build() -> tl.TokenStore:
        if store_kind == "memory":
            return tl.MemoryStore()
        number = next(numbers)
        store = tl.SQLiteStore(tmp_path / ("t.db" if number == 1 else f"t{number}.db"))
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def demo_keys() -> dict[str, tl.SigningKey]:
    """The three demo keys, loaded once: loading and checking the RSA key takes about 0.1 s."""
    return {alg: tl.demo_key(alg) for alg in ("RS256", "ES256", "HS256")}


@pytest.fixture
def authority(clock, policy, make_store, demo_keys) -> Callable[..., tl.TokenAuthority]:  # type: ignore[no-untyped-def]
    """Build a TokenAuthority on the ``clock`` fixture with a demo key and readable ids.

    ``authority(alg="RS256", clock=None, store=None, **policy_changes)``:
    keyword arguments other than ``alg``, ``clock`` and ``store`` change the
    ``policy`` fixture, for instance ``authority(reuse_grace=10)``.
    """

    def build(
        alg: str = "RS256",
        *,
        clock: tl.Clock | None = None,
        store: tl.TokenStore | None = None,
        **policy_changes: Any,
    ) -> tl.TokenAuthority:
        return tl.TokenAuthority(
            policy=policy.replace(**policy_changes),
            clock=clock if clock is not None else default_clock,
            store=store if store is not None else make_store(),
            key=demo_keys[alg],
        )

    default_clock = clock
    return build


@pytest.fixture
def access_claims(clock) -> Callable[..., dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Build the claims of a valid access token of ``auth`` at the clock's time.

    ``access_claims(auth, drop=(), **overrides)``: ``overrides`` replace or
    add claims, ``drop`` names claims to leave out. The ``jti`` is not in the
    authority's store, so a stateful verify of such a token fails at the
    revocation check. Verify it with ``stateless=True`` to test the earlier checks.
    """
    numbers = itertools.count(1)

    def build(auth: tl.TokenAuthority, drop: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
        now = int(clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": auth.policy.issuer,
            "sub": "alice",
            "aud": auth.policy.audience,
            "client_id": "app",
            "iat": now,
            "exp": now + int(auth.policy.access_token_ttl.total_seconds()),
            "jti": f"crafted-{next(numbers)}",
            "scope": "read write",
        }
        claims.update(overrides)
        for name in drop:
            del claims[name]
        return claims

    return build


def b64url(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url, as JWS segments are."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")


def _demo_rsa_private_key() -> Any:
    pem = resources.files("tokenlab").joinpath("data").joinpath("demo-rs256.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


@pytest.fixture(scope="session")
def forge() -> Callable[..., str]:
    """Build a compact JWS by hand from any header and payload, bypassing PyJWT's own checks.

    ``forge(header, payload, *, hmac_secret=None, unsigned=False)``: header
    and payload are dicts (JSON-encoded here) or raw bytes. By default the
    signature is RS256 with the demo RSA key, so it verifies against
    ``demo_key("RS256")``. ``hmac_secret`` signs with HMAC-SHA256 instead;
    ``unsigned`` leaves the signature segment empty.
    """
    rsa_key = _demo_rsa_private_key()

    def build(header: Any, payload: Any, *, hmac_secret: bytes | None = None, unsigned: bool = False) -> str:
        signing_input = f"{b64url(_json_bytes(header))}.{b64url(_json_bytes(payload))}".encode("ascii")
        if unsigned:
            signature = b""
        elif hmac_secret is not None:
            signature = hmac.new(hmac_secret, signing_input, hashlib.sha256).digest()
        else:
            signature = rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode("ascii") + "." + b64url(signature)

    return build
