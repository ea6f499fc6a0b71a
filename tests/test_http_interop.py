"""Interoperability: client libraries that tokenlab did not write talk to the lab server over loopback.

Authlib's ``OAuth2Session`` (a requests session) logs in with the password
grant and is refused once the simulated clock passes the access token's
expiry. It then refreshes and carries on. It also revokes and introspects. PyJWT's
``PyJWKClient`` fetches the lab's JWK Set and verifies an access token.

Both libraries read the wall clock, while the lab runs on a simulated clock
that starts at 2026-01-05 09:00 UTC. The comments of each test explain where
that matters and how it is handled.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("flask", reason="the http extra is not installed")
pytest.importorskip("requests", reason="the http extra is not installed")
pytest.importorskip("authlib", reason="the http extra is not installed")

import jwt  # noqa: E402
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402

import tokenlab as tl  # noqa: E402
from tokenlab.http import DEMO_CLIENT_SECRETS, DEMO_PASSWORDS, LabServer, Transcript, authority_labeler  # noqa: E402

from http_lab import auth, lab  # noqa: F401  (fixtures)

ACCESS_TTL_SECONDS = 300


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):  # type: ignore[no-untyped-def]
    """Keep urllib (used by PyJWKClient) from sending loopback requests to a proxy named in the environment."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost,::1")


@pytest.fixture
def updates() -> list[dict]:  # type: ignore[type-arg]
    """The tokens Authlib passes to its ``update_token`` callback, in order."""
    return []


@pytest.fixture
def session(lab, updates):  # type: ignore[no-untyped-def]
    """An Authlib session for the public client ``app``, with a transcript of its traffic."""

    def update_token(token, refresh_token=None, access_token=None):  # type: ignore[no-untyped-def]
        updates.append(dict(token))

    oauth = OAuth2Session(
        client_id="app",
        token_endpoint_auth_method="none",
        scope="profile",
        token_endpoint=lab.url + "/token",
        update_token=update_token,
        leeway=0,
    )
    oauth.trust_env = False
    oauth.transcript = Transcript(labeler=authority_labeler(lab.authority), clock=lab.authority.clock)
    oauth.transcript.attach(oauth, actor="authlib")
    try:
        yield oauth
    finally:
        oauth.close()


def fetch(session, lab):  # type: ignore[no-untyped-def]
    return session.fetch_token(lab.url + "/token", username="alice", password=DEMO_PASSWORDS["alice"])


def advance(lab, session, seconds: int) -> None:  # type: ignore[no-untyped-def]
    """Move the simulated clock, and the session's idea of its token's expiry, by ``seconds``.

    Authlib stores ``expires_at`` as wall-clock time (time.time() plus
    ``expires_in`` when the response arrived) and compares it with
    time.time(). The lab's clock moves in jumps while the wall clock barely
    moves, so the token's remaining lifetime is shifted back by the same
    jump, so Authlib then counts exactly as much lifetime left as the server does.
    """
    lab.advance(seconds=seconds)
    session.token["expires_at"] = int(session.token["expires_at"]) - seconds


# -- Authlib --------------------------------------------------------------------------


def test_authlib_password_grant_obtains_pair(session, lab, auth):
    token = fetch(session, lab)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == ACCESS_TTL_SECONDS
    assert auth.verify(token["access_token"])["sub"] == "alice"
    assert auth.introspect(token["refresh_token"])["active"] is True


def test_authlib_session_calls_api(session, lab):
    fetch(session, lab)
    response = session.get(lab.url + "/api/profile")
    assert response.status_code == 200
    assert response.json()["sub"] == "alice"


def test_authlib_refused_after_expiry(session, lab):
    fetch(session, lab)
    # Only the simulated clock moves, so Authlib still thinks the token is fresh and sends it.
    lab.advance(seconds=ACCESS_TTL_SECONDS)
    response = session.get(lab.url + "/api/profile")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_authlib_explicit_refresh_after_401_carries_on(session, lab, updates):
    first = dict(fetch(session, lab))
    lab.advance(seconds=ACCESS_TTL_SECONDS)
    assert session.get(lab.url + "/api/profile").status_code == 401

    # On a 401 invalid_token the application calls Authlib's refresh_token(), as RFC 6750 §3.1 intends.
    session.refresh_token(lab.url + "/token")
    response = session.get(lab.url + "/api/profile")

    assert response.status_code == 200
    assert session.token["refresh_token"] != first["refresh_token"]
    assert [update["access_token"] for update in updates] == [session.token["access_token"]]


def test_authlib_auto_refresh_on_expires_at(session, lab, auth, updates):
    fetch(session, lab)
    advance(lab, session, ACCESS_TTL_SECONDS)

    # Authlib now finds expires_at in the past and refreshes before sending the request.
    response = session.get(lab.url + "/api/profile")

    assert response.status_code == 200
    assert len(updates) == 1
    assert [exchange.status for exchange in session.transcript] == [200, 200, 200]
    assert [exchange.target for exchange in session.transcript] == ["/token", "/token", "/api/profile"]
    assert [e.kind.value for e in auth.events.of_kind("refreshed", "rotated")] == ["refreshed", "rotated"]


def test_authlib_no_refresh_one_second_before_expiry(session, lab, updates):
    fetch(session, lab)
    advance(lab, session, ACCESS_TTL_SECONDS - 1)
    assert session.get(lab.url + "/api/profile").status_code == 200
    assert updates == []


def test_authlib_keeps_working_across_many_expiries(session, lab, auth):
    fetch(session, lab)
    for _ in range(3):
        advance(lab, session, ACCESS_TTL_SECONDS + 60)
        assert session.get(lab.url + "/api/profile").status_code == 200
    assert len(auth.events.of_kind("rotated")) == 3
    assert auth.events.of_kind("reuse_detected") == []


def test_authlib_wrong_password_raises_invalid_grant(session, lab):
    with pytest.raises(OAuthError) as caught:
        session.fetch_token(lab.url + "/token", username="alice", password="wrong-password")
    assert caught.value.error == "invalid_grant"


def test_authlib_replayed_refresh_token_raises_invalid_grant(session, lab, auth):
    first = dict(fetch(session, lab))
    session.refresh_token(lab.url + "/token")
    with pytest.raises(OAuthError) as caught:
        session.refresh_token(lab.url + "/token", refresh_token=first["refresh_token"])
    assert caught.value.error == "invalid_grant"
    assert auth.events.of_kind("reuse_detected")


def test_authlib_confidential_client_uses_basic(lab, auth):
    with OAuth2Session(client_id="web", client_secret=DEMO_CLIENT_SECRETS["web"], scope="profile notes:read") as web:
        web.trust_env = False
        token = web.fetch_token(lab.url + "/token", username="alice", password=DEMO_PASSWORDS["alice"])
        assert auth.verify(token["access_token"])["client_id"] == "web"
        assert web.get(lab.url + "/api/notes").status_code == 200


def test_authlib_revokes_refresh_token(session, lab, auth):
    token = dict(fetch(session, lab))
    response = session.revoke_token(lab.url + "/revoke", token=token["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    assert auth.introspect(token["access_token"]) == {"active": False}
    assert session.get(lab.url + "/api/profile").status_code == 401


def test_authlib_introspects_as_resource_server(session, lab):
    token = dict(fetch(session, lab))
    with OAuth2Session(client_id="resource-server", client_secret=DEMO_CLIENT_SECRETS["resource-server"]) as api:
        api.trust_env = False
        info = api.introspect_token(lab.url + "/introspect", token=token["access_token"]).json()
    assert info["active"] is True
    assert info["sub"] == "alice"


def test_authlib_traffic_transcript_hides_tokens(session, lab):
    token = dict(fetch(session, lab))
    advance(lab, session, ACCESS_TTL_SECONDS)
    session.get(lab.url + "/api/profile")
    text = session.transcript.text()
    assert token["access_token"] not in text
    assert token["refresh_token"] not in text
    assert "refresh_token=<RT1>" in text


# -- PyJWT ----------------------------------------------------------------------------------


def decode(lab, auth, token: str, **overrides):  # type: ignore[no-untyped-def]
    """Verify ``token`` with PyJWT, fetching the key from the lab's JWKS over loopback.

    The tokens carry simulated times (January 2026), which lie in the past
    or the future of the machine's wall clock, and PyJWT checks exp, iat and
    nbf against the wall clock. Those three checks are therefore switched
    off here, and the tests compare exp with the simulated clock instead.
    PyJWT still checks the signature, the algorithm, the audience and the issuer.
    """
    jwks = jwt.PyJWKClient(lab.url + "/.well-known/jwks.json", cache_jwk_set=False, timeout=5)
    signing_key = jwks.get_signing_key_from_jwt(token)
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False,
               "require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
    arguments = {"algorithms": ["RS256"], "audience": auth.policy.audience, "issuer": auth.policy.issuer,
                 "options": options}
    arguments.update(overrides)
    return jwt.decode(token, signing_key.key, **arguments)


def test_pyjwt_verifies_access_token_from_lab_jwks(session, lab, auth):
    token = fetch(session, lab)["access_token"]
    claims = decode(lab, auth, token)
    assert claims["sub"] == "alice"
    assert claims["client_id"] == "app"
    assert jwt.get_unverified_header(token)["kid"] == "demo-rs256"
    assert auth.clock.now().timestamp() < claims["exp"]


def test_pyjwt_rejects_wrong_audience(session, lab, auth):
    token = fetch(session, lab)["access_token"]
    with pytest.raises(jwt.InvalidAudienceError):
        decode(lab, auth, token, audience="https://other-api.example")


def test_pyjwt_rejects_wrong_issuer(session, lab, auth):
    token = fetch(session, lab)["access_token"]
    with pytest.raises(jwt.InvalidIssuerError):
        decode(lab, auth, token, issuer="https://evil.example")


def test_pyjwt_rejects_tampered_token(session, lab, auth):
    header, payload, signature = fetch(session, lab)["access_token"].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(jwt.InvalidSignatureError):
        decode(lab, auth, tampered)


def test_pyjwt_finds_rotated_key_in_jwks(session, lab, auth):
    fetch(session, lab)
    new_key = auth.rotate_signing_key()
    token = session.refresh_token(lab.url + "/token")["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == new_key.kid
    assert decode(lab, auth, token)["sub"] == "alice"


def test_pyjwt_judges_exp_by_wall_clock(session, lab, auth):
    """PyJWT judges exp by the wall clock, so against the simulated clock it is wrong in one direction or the other."""
    token = fetch(session, lab)["access_token"]
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    expired_by_wall_clock = time.time() >= exp
    lab.advance(seconds=ACCESS_TTL_SECONDS)
    with pytest.raises(tl.InvalidToken):
        auth.verify(token)
    if expired_by_wall_clock:
        with pytest.raises(jwt.ExpiredSignatureError):
            decode(lab, auth, token, options={"verify_iat": False})
    else:
        assert decode(lab, auth, token, options={"verify_iat": False})["sub"] == "alice"
