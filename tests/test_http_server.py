"""Tests for tokenlab.http: the lab server's endpoints, its lifecycle, the transcript and the lab client.

Every server listens on 127.0.0.1 only and is stopped by its fixture, even
when a test fails. Time moves only through the ``clock`` fixture (or the
server's ``advance``, which moves the same clock).
"""

from __future__ import annotations

import base64
import logging
import socket
import threading

import pytest

pytest.importorskip("flask", reason="the http extra is not installed")
requests = pytest.importorskip("requests", reason="the http extra is not installed")

import tokenlab as tl  # noqa: E402
from tokenlab.http import (  # noqa: E402
    DEMO_CLIENT_SECRETS,
    DEMO_PASSWORDS,
    LabClient,
    LabServer,
    RegisteredClient,
    Transcript,
    authority_labeler,
    bearer_error,
    refresh_needed,
)
from tokenlab.http.forms import clean_description  # noqa: E402

from http_lab import auth, lab  # noqa: F401  (fixtures)

FORM = "application/x-www-form-urlencoded"
ALICE = {"username": "alice", "password": DEMO_PASSWORDS["alice"]}
# RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
DESCRIPTION_CHARACTERS = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


@pytest.fixture
def http():  # type: ignore[no-untyped-def]
    """A requests session that ignores proxy settings, so requests stay on loopback."""
    session = requests.Session()
    session.trust_env = False
    try:
        yield session
    finally:
        session.close()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def web_auth() -> dict[str, str]:
    return {"Authorization": basic("web", DEMO_CLIENT_SECRETS["web"])}


def rs_auth() -> dict[str, str]:
    return {"Authorization": basic("resource-server", DEMO_CLIENT_SECRETS["resource-server"])}


def post(http, lab, path, data=None, headers=None):  # type: ignore[no-untyped-def]
    return http.post(lab.url + path, data=data, headers=headers, timeout=10)


def login(http, lab, client_id="app", scope=None, headers=None):  # type: ignore[no-untyped-def]
    form = {"grant_type": "password", **ALICE}
    if client_id is not None:
        form["client_id"] = client_id
    if scope is not None:
        form["scope"] = scope
    response = post(http, lab, "/token", form, headers)
    assert response.status_code == 200, response.text
    return response.json()


def assert_oauth_error(response, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert set(body["error_description"]) <= DESCRIPTION_CHARACTERS


# -- lifecycle ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "", "::", None])
def test_server_rejects_non_loopback_host(auth, host):
    with pytest.raises(tl.ConfigurationError, match="loopback"):
        LabServer(auth, host=host)


@pytest.mark.parametrize("port", [-1, 65536, True, "8080", 1.5])
def test_server_rejects_bad_port(auth, port):
    with pytest.raises(tl.ConfigurationError, match="port"):
        LabServer(auth, port=port)


def test_server_listens_on_free_loopback_port(lab):
    assert lab.running
    assert lab.port > 0
    assert lab.url == f"http://127.0.0.1:{lab.port}"


def test_server_localhost_binds_ipv4_loopback(auth, http):
    with LabServer(auth, host="localhost") as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert http.get(server.url + "/.well-known/jwks.json", timeout=10).status_code == 200


def test_server_stop_closes_port(auth):
    server = LabServer(auth).start()
    port = server.port
    server.stop()
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_server_context_manager_stops_after_error(auth):
    server = LabServer(auth)
    with pytest.raises(RuntimeError):
        with server:
            assert server.running
            raise RuntimeError("boom")
    assert not server.running


def test_server_start_twice_rejected(lab):
    with pytest.raises(tl.ConfigurationError, match="already running"):
        lab.start()


def test_server_restarts_after_stop(auth, http):
    server = LabServer(auth)
    server.start()
    server.stop()
    server.stop()
    try:
        server.start()
        assert http.get(server.url + "/.well-known/jwks.json", timeout=10).status_code == 200
    finally:
        server.stop()


def test_server_url_unavailable_when_stopped(auth):
    with pytest.raises(tl.ConfigurationError, match="not running"):
        LabServer(auth).url


def test_server_repr_hides_port(lab):
    assert str(lab.port) not in repr(lab)


# -- token endpoint: the login grant -----------------------------------------------------


def test_login_returns_token_response(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "app", **ALICE})
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "profile"


def test_login_response_not_cached(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "app", **ALICE})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_login_issues_from_authority(lab, http, auth):
    body = login(http, lab, scope="profile notes:read")
    claims = auth.verify(body["access_token"])
    assert claims["sub"] == "alice"
    assert claims["client_id"] == "app"
    assert claims["scope"] == "profile notes:read"


@pytest.mark.parametrize("username, password", [("alice", "wrong-password"), ("mallory", "alice-demo-password")])
def test_login_bad_credentials_is_invalid_grant(lab, http, username, password):
    form = {"grant_type": "password", "client_id": "app", "username": username, "password": password}
    response = post(http, lab, "/token", form)
    assert_oauth_error(response, 400, "invalid_grant")
    assert response.json()["error_description"] == "the username or password is wrong"


@pytest.mark.parametrize("missing", ["username", "password"])
def test_login_missing_field_is_invalid_request(lab, http, missing):
    form = {"grant_type": "password", "client_id": "app", **ALICE}
    del form[missing]
    response = post(http, lab, "/token", form)
    assert_oauth_error(response, 400, "invalid_request")
    assert missing in response.json()["error_description"]


def test_login_scope_beyond_client_is_invalid_scope(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "app", "scope": "notes:write", **ALICE})
    assert_oauth_error(response, 400, "invalid_scope")


def test_login_malformed_scope_is_invalid_scope(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "app", "scope": 'pro"file', **ALICE})
    assert_oauth_error(response, 400, "invalid_scope")


def test_login_records_actor_from_header(lab, http, auth):
    login(http, lab, headers={"Tokenlab-Actor": "tab A"})
    assert {event.actor for event in auth.events.of_kind("issued")} == {"tab A"}


def test_login_actor_defaults_to_client_id(lab, http, auth):
    login(http, lab, headers={"Tokenlab-Actor": "x" * 200})
    assert {event.actor for event in auth.events.of_kind("issued")} == {"app"}


# -- token endpoint: client authentication -------------------------------------------------


def test_confidential_client_logs_in_with_basic(lab, http, auth):
    body = login(http, lab, client_id=None, headers=web_auth())
    assert auth.verify(body["access_token"])["client_id"] == "web"


def test_confidential_client_body_client_id_may_repeat_basic(lab, http):
    assert login(http, lab, client_id="web", headers=web_auth())["token_type"] == "Bearer"


@pytest.mark.parametrize("authorization", [
    basic("web", "wrong-secret"),
    basic("nobody", "secret"),
    basic("app", ""),
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    "Basic",
    "Bearer some-token",
    "Digest username=web",
])
def test_bad_client_authentication_is_401_with_basic_challenge(lab, http, authorization):
    response = post(http, lab, "/token", {"grant_type": "password", **ALICE}, {"Authorization": authorization})
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_confidential_client_without_secret_is_401(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "web", **ALICE})
    assert_oauth_error(response, 401, "invalid_client")


def test_unknown_public_client_is_401(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "nobody", **ALICE})
    assert_oauth_error(response, 401, "invalid_client")


def test_missing_client_id_is_401(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", **ALICE})
    assert_oauth_error(response, 401, "invalid_client")


def test_client_secret_in_body_is_rejected(lab, http):
    form = {"grant_type": "password", "client_id": "web", "client_secret": DEMO_CLIENT_SECRETS["web"], **ALICE}
    assert_oauth_error(post(http, lab, "/token", form), 401, "invalid_client")


def test_body_client_id_differing_from_basic_is_401(lab, http):
    form = {"grant_type": "password", "client_id": "app", **ALICE}
    assert_oauth_error(post(http, lab, "/token", form, web_auth()), 401, "invalid_client")


def test_basic_credentials_are_form_decoded(auth, http):
    clients = {"odd id": RegisteredClient.confidential(
        "odd id", "client with a space", "se:cr+et%", scope="profile", default_scope="profile")}
    with LabServer(auth, clients=clients) as server:
        encoded = basic("odd+id", "se%3Acr%2Bet%25")
        response = post(http, server, "/token", {"grant_type": "password", **ALICE}, {"Authorization": encoded})
        assert response.status_code == 200, response.text


def test_client_without_grant_is_unauthorized_client(lab, http):
    form = {"grant_type": "password", **ALICE}
    assert_oauth_error(post(http, lab, "/token", form, rs_auth()), 400, "unauthorized_client")


# -- token endpoint: form validation ----------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "urn:tokenlab:demo-login", "PASSWORD"])
def test_unknown_grant_type_is_unsupported_grant_type(lab, http, grant_type):
    response = post(http, lab, "/token", {"grant_type": grant_type, "client_id": "app"})
    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_long_grant_type_is_not_echoed(lab, http):
    pasted = "x" * 43
    response = post(http, lab, "/token", {"grant_type": pasted, "client_id": "app"})
    assert_oauth_error(response, 400, "unsupported_grant_type")
    assert pasted not in response.text


def test_missing_grant_type_is_invalid_request(lab, http):
    assert_oauth_error(post(http, lab, "/token", {"client_id": "app", **ALICE}), 400, "invalid_request")


def test_empty_grant_type_counts_as_missing(lab, http):
    response = post(http, lab, "/token", {"grant_type": "", "client_id": "app", **ALICE})
    assert_oauth_error(response, 400, "invalid_request")
    assert "no grant_type" in response.json()["error_description"]


def test_duplicate_parameter_is_invalid_request(lab, http):
    body = "grant_type=password&grant_type=refresh_token&client_id=app&username=alice&password=x"
    response = post(http, lab, "/token", body, {"Content-Type": FORM})
    assert_oauth_error(response, 400, "invalid_request")
    assert "more than once" in response.json()["error_description"]


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_invalid_request(lab, http, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post(lab.url + "/token", data=b"grant_type=password", headers=headers, timeout=10)
    assert_oauth_error(response, 400, "invalid_request")
    assert "Content-Type" in response.json()["error_description"]


def test_form_content_type_with_charset_accepted(lab, http):
    body = "grant_type=password&client_id=app&username=alice&password=" + DEMO_PASSWORDS["alice"]
    response = post(http, lab, "/token", body, {"Content-Type": FORM + "; charset=UTF-8"})
    assert response.status_code == 200


def test_oversized_body_is_413_json(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "padding": "x" * 20000})
    assert_oauth_error(response, 413, "invalid_request")


def test_max_body_bytes_is_configurable(auth, http):
    with LabServer(auth, max_body_bytes=1024) as server:
        response = post(http, server, "/token", {"grant_type": "password", "padding": "x" * 1100})
        assert_oauth_error(response, 413, "invalid_request")


def test_non_utf8_body_is_invalid_request(lab, http):
    response = post(http, lab, "/token", b"grant_type=%ff%fe", {"Content-Type": FORM})
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("body", ["grant_type", "a=1&&b=2", "=" * 5])
def test_malformed_form_is_invalid_request(lab, http, body):
    assert_oauth_error(post(http, lab, "/token", body, {"Content-Type": FORM}), 400, "invalid_request")


def test_too_many_parameters_is_invalid_request(lab, http):
    body = "&".join(f"p{i}=v" for i in range(30))
    assert_oauth_error(post(http, lab, "/token", body, {"Content-Type": FORM}), 400, "invalid_request")


def test_control_characters_are_invalid_request(lab, http):
    response = post(http, lab, "/token", {"grant_type": "password", "client_id": "app", "username": "ali\nce", "password": "x"})
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("name", ["refresh_token", "password", "client_secret"])
def test_secret_in_query_is_invalid_request(lab, http, name):
    response = http.post(f"{lab.url}/token?{name}=abc", data={"grant_type": "refresh_token"}, timeout=10)
    assert_oauth_error(response, 400, "invalid_request")
    assert "URL" in response.json()["error_description"]


def test_get_on_token_endpoint_is_405_json(lab, http):
    response = http.get(lab.url + "/token", timeout=10)
    assert_oauth_error(response, 405, "invalid_request")
    assert "POST" in response.headers["Allow"]


def test_unknown_path_is_404_json(lab, http):
    response = http.get(lab.url + "/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_clean_description_keeps_rfc_characters():
    assert set(clean_description('a "quoted" \\ value\nwith é and \x00')) <= DESCRIPTION_CHARACTERS


def test_clean_description_cuts_long_text():
    assert len(clean_description("x" * 5000)) == 600


# -- token endpoint: the refresh grant ----------------------------------------------------------


def refresh(http, lab, refresh_token, client_id="app", **extra):  # type: ignore[no-untyped-def]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    return post(http, lab, "/token", form)


def test_refresh_rotates_refresh_token(lab, http, auth):
    first = login(http, lab)
    response = refresh(http, lab, first["refresh_token"])
    second = response.json()
    label = authority_labeler(auth)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert label(second["refresh_token"]) == "RT2"
    assert label(second["access_token"]) == "AT2"


def test_refresh_records_events_in_order(lab, http, auth):
    first = login(http, lab)
    start = len(auth.events)
    refresh(http, lab, first["refresh_token"])
    assert [e.kind.value for e in auth.events[start:]] == ["refreshed", "rotated", "issued", "issued"]


def test_refresh_replay_is_invalid_grant_and_revokes_family(lab, http, auth):
    first = login(http, lab)
    second = refresh(http, lab, first["refresh_token"]).json()
    replay = refresh(http, lab, first["refresh_token"])
    assert_oauth_error(replay, 400, "invalid_grant")
    assert auth.events.of_kind("reuse_detected")
    assert_oauth_error(refresh(http, lab, second["refresh_token"]), 400, "invalid_grant")
    api = http.get(lab.url + "/api/profile", headers={"Authorization": "Bearer " + second["access_token"]}, timeout=10)
    assert api.status_code == 401


def test_refresh_by_other_client_is_invalid_grant(lab, http, auth):
    first = login(http, lab)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert_oauth_error(post(http, lab, "/token", form, web_auth()), 400, "invalid_grant")
    assert refresh(http, lab, first["refresh_token"]).status_code == 200


def test_refresh_without_token_is_invalid_request(lab, http):
    response = post(http, lab, "/token", {"grant_type": "refresh_token", "client_id": "app"})
    assert_oauth_error(response, 400, "invalid_request")


def test_refresh_unknown_token_is_invalid_grant(lab, http):
    assert_oauth_error(refresh(http, lab, "x" * 43), 400, "invalid_grant")


def test_refresh_may_narrow_scope(lab, http):
    first = login(http, lab, scope="profile notes:read")
    assert refresh(http, lab, first["refresh_token"], scope="profile").json()["scope"] == "profile"


def test_refresh_wider_scope_is_invalid_scope(lab, http):
    first = login(http, lab, scope="profile")
    assert_oauth_error(refresh(http, lab, first["refresh_token"], scope="profile notes:read"), 400, "invalid_scope")


def test_refresh_after_idle_expiry_is_invalid_grant(lab, http):
    first = login(http, lab)
    lab.advance(days=16)
    assert_oauth_error(refresh(http, lab, first["refresh_token"]), 400, "invalid_grant")


def test_concurrent_refreshes_rotate_once(lab, auth):
    session = requests.Session()
    session.trust_env = False
    first = login(session, lab)
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def work() -> None:
        own = requests.Session()
        own.trust_env = False
        barrier.wait(timeout=10)
        statuses.append(refresh(own, lab, first["refresh_token"]).status_code)
        own.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    session.close()
    assert sorted(statuses) == [200] + [400] * 5
    assert len(auth.events.of_kind("rotated")) == 1


def test_server_works_with_sqlite_store(authority, tmp_path, http):
    store = tl.SQLiteStore(tmp_path / "lab.db")
    try:
        with LabServer(authority(store=store)) as server:
            first = login(http, server)
            assert refresh(http, server, first["refresh_token"]).status_code == 200
    finally:
        store.close()


# -- revocation ----------------------------------------------------------------------------


def test_revoke_unknown_token_is_200_with_empty_body(lab, http):
    response = post(http, lab, "/revoke", {"token": "never-issued-token-value", "client_id": "app"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Cache-Control"] == "no-store"


def test_revoke_refresh_token_ends_family(lab, http, auth):
    body = login(http, lab)
    response = post(http, lab, "/revoke", {"token": body["refresh_token"], "token_type_hint": "refresh_token", "client_id": "app"})
    assert response.status_code == 200
    assert auth.introspect(body["access_token"]) == {"active": False}
    assert_oauth_error(refresh(http, lab, body["refresh_token"]), 400, "invalid_grant")


def test_revoke_access_token_keeps_refresh_token(lab, http, auth):
    body = login(http, lab)
    post(http, lab, "/revoke", {"token": body["access_token"], "token_type_hint": "access_token", "client_id": "app"})
    assert auth.introspect(body["access_token"]) == {"active": False}
    assert refresh(http, lab, body["refresh_token"]).status_code == 200


@pytest.mark.parametrize("hint", ["refresh_token", "bogus_hint"])
def test_revoke_access_token_with_wrong_hint_still_revokes(lab, http, auth, hint):
    body = login(http, lab)
    post(http, lab, "/revoke", {"token": body["access_token"], "token_type_hint": hint, "client_id": "app"})
    assert auth.introspect(body["access_token"]) == {"active": False}


def test_revoke_other_clients_token_is_unauthorized_client(lab, http, auth):
    body = login(http, lab)
    response = post(http, lab, "/revoke", {"token": body["refresh_token"]}, web_auth())
    assert_oauth_error(response, 400, "unauthorized_client")
    assert auth.introspect(body["refresh_token"])["active"] is True


def test_revoke_without_token_is_invalid_request(lab, http):
    assert_oauth_error(post(http, lab, "/revoke", {"client_id": "app"}), 400, "invalid_request")


def test_revoke_without_client_is_401(lab, http):
    body = login(http, lab)
    assert_oauth_error(post(http, lab, "/revoke", {"token": body["refresh_token"]}), 401, "invalid_client")


def test_revoke_records_actor(lab, http, auth):
    body = login(http, lab)
    post(http, lab, "/revoke", {"token": body["refresh_token"], "client_id": "app"}, {"Tokenlab-Actor": "user"})
    assert auth.events.of_kind("revoked")[-1].actor == "user"


# -- introspection --------------------------------------------------------------------------


def test_introspect_active_access_token(lab, http):
    body = login(http, lab)
    response = post(http, lab, "/introspect", {"token": body["access_token"]}, rs_auth())
    info = response.json()
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert info["active"] is True
    assert info["sub"] == "alice"
    assert info["client_id"] == "app"
    assert info["token_type"] == "access_token"


def test_introspect_refresh_token(lab, http):
    body = login(http, lab)
    info = post(http, lab, "/introspect", {"token": body["refresh_token"], "token_type_hint": "refresh_token"}, rs_auth()).json()
    assert info["active"] is True
    assert info["token_type"] == "refresh_token"


def test_introspect_expired_token_is_only_inactive(lab, http):
    body = login(http, lab)
    lab.advance(minutes=5)
    assert post(http, lab, "/introspect", {"token": body["access_token"]}, rs_auth()).json() == {"active": False}


def test_introspect_by_public_client_is_401(lab, http):
    body = login(http, lab)
    response = post(http, lab, "/introspect", {"token": body["access_token"], "client_id": "app"})
    assert_oauth_error(response, 401, "invalid_client")


def test_introspect_without_credentials_is_401(lab, http):
    assert_oauth_error(post(http, lab, "/introspect", {"token": "x"}), 401, "invalid_client")


def test_introspect_without_token_is_invalid_request(lab, http):
    assert_oauth_error(post(http, lab, "/introspect", {}, rs_auth()), 400, "invalid_request")


# -- discovery ----------------------------------------------------------------------------------


def test_jwks_publishes_public_key_only(lab, http):
    keys = http.get(lab.url + "/.well-known/jwks.json", timeout=10).json()["keys"]
    assert [key["kid"] for key in keys] == ["demo-rs256"]
    assert "d" not in keys[0]


def test_jwks_empty_for_hmac_key(authority, http):
    with LabServer(authority("HS256")) as server:
        assert http.get(server.url + "/.well-known/jwks.json", timeout=10).json() == {"keys": []}


def test_metadata_lists_loopback_endpoints(lab, http, auth):
    metadata = http.get(lab.url + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == auth.policy.issuer
    assert metadata["token_endpoint"] == lab.url + "/token"
    assert metadata["revocation_endpoint"] == lab.url + "/revoke"
    assert metadata["introspection_endpoint"] == lab.url + "/introspect"
    assert metadata["jwks_uri"] == lab.url + "/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["password", "refresh_token"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "none"]


# -- the protected API -------------------------------------------------------------------------


def api_get(http, lab, path="/api/profile", token=None, headers=None):  # type: ignore[no-untyped-def]
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return http.get(lab.url + path, headers=sent, timeout=10)


def test_profile_with_valid_token(lab, http):
    response = api_get(http, lab, token=login(http, lab)["access_token"])
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "name": "Alice Example"}
    assert response.headers["Cache-Control"] == "no-store"


def test_profile_without_token_is_401_bare_challenge(lab, http):
    response = api_get(http, lab)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="profile"'


def test_profile_with_basic_scheme_is_401_bare_challenge(lab, http):
    response = api_get(http, lab, headers={"Authorization": basic("app", "x")})
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="profile"'


def test_profile_after_expiry_is_401_invalid_token(lab, http):
    token = login(http, lab)["access_token"]
    lab.advance(minutes=5)
    response = api_get(http, lab, token=token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token", error_description="')
    assert response.json()["error"] == "invalid_token"


def test_profile_one_second_before_expiry_passes(lab, http):
    token = login(http, lab)["access_token"]
    lab.advance(seconds=299)
    assert api_get(http, lab, token=token).status_code == 200


def test_notes_without_scope_is_403_insufficient_scope(lab, http):
    response = api_get(http, lab, "/api/notes", token=login(http, lab)["access_token"])
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="notes:read"' in response.headers["WWW-Authenticate"]


def test_notes_with_scope_passes(lab, http):
    response = api_get(http, lab, "/api/notes", token=login(http, lab, scope="profile notes:read")["access_token"])
    assert response.status_code == 200
    assert response.json()["sub"] == "alice"


def test_api_rejects_token_in_query(lab, http):
    token = login(http, lab)["access_token"]
    response = http.get(f"{lab.url}/api/profile?access_token={token}", timeout=10)
    assert_oauth_error(response, 400, "invalid_request")
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer a b", "Bearer tok\u00e9n"])
def test_api_malformed_bearer_is_400(lab, http, authorization):
    response = api_get(http, lab, headers={"Authorization": authorization.encode("utf-8")})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_api_forged_token_is_401(lab, http, forge):
    token = forge({"alg": "none", "typ": "at+jwt"}, {"sub": "mallory"}, unsigned=True)
    assert api_get(http, lab, token=token).status_code == 401


def test_api_records_actor(lab, http, auth):
    api_get(http, lab, token=login(http, lab)["access_token"], headers={"Tokenlab-Actor": "tab B"})
    assert auth.events.of_kind("verified")[-1].actor == "tab B"


# -- the clock ----------------------------------------------------------------------------------


def test_advance_moves_authority_clock(lab, clock):
    before = clock.now()
    assert (lab.advance(minutes=3) - before).total_seconds() == 180
    assert clock.now() == lab.advance()


def test_advance_requires_simulated_clock(authority):
    server = LabServer(authority(clock=tl.SystemClock()))
    with pytest.raises(tl.ConfigurationError, match="SimulatedClock"):
        server.advance(minutes=1)


def test_backwards_clock_is_server_error_without_traceback(auth, http):
    class BackwardsClock:
        def __init__(self) -> None:
            self.times = [auth.clock.now(), auth.clock.now().replace(hour=8)]

        def now(self):  # type: ignore[no-untyped-def]
            return self.times.pop(0) if len(self.times) > 1 else self.times[0]

    with LabServer(auth.with_clock(BackwardsClock())) as server:
        login(http, server)
        response = post(http, server, "/token", {"grant_type": "password", "client_id": "app", **ALICE})
        assert_oauth_error(response, 500, "server_error")
        assert "Traceback" not in response.text


# -- logging --------------------------------------------------------------------------------------


def test_logs_never_contain_tokens(lab, http, caplog):
    caplog.set_level(logging.DEBUG, logger="tokenlab")
    body = login(http, lab)
    refresh(http, lab, body["refresh_token"])
    refresh(http, lab, body["refresh_token"])
    http.post(f"{lab.url}/token?refresh_token={body['refresh_token']}", data={}, timeout=10)
    http.get(f"{lab.url}/api/profile?access_token={body['access_token']}", timeout=10)
    api_get(http, lab, token=body["access_token"])
    assert "-> 400 invalid_grant" in caplog.text
    assert body["refresh_token"] not in caplog.text
    assert body["access_token"] not in caplog.text
    assert DEMO_PASSWORDS["alice"] not in caplog.text


def test_requests_print_nothing(lab, http, capfd):
    body = login(http, lab)
    api_get(http, lab, token=body["access_token"])
    http.get(lab.url + "/nowhere", timeout=10)
    post(http, lab, "/token", b"\xff", {"Content-Type": FORM})
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


@pytest.mark.parametrize("raw, status", [
    (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
    (b"BREW /api/profile HTTP/1.1\r\nHost: lab\r\n\r\n", b"405"),
])
def test_malformed_request_gets_4xx_and_prints_nothing(lab, capfd, raw, status):
    with socket.create_connection(("127.0.0.1", lab.port), timeout=5) as connection:
        connection.sendall(raw)
        reply = connection.recv(1024)
    assert reply.split(b" ")[1] == status
    assert capfd.readouterr().err == ""


# -- transcript -------------------------------------------------------------------------------


def run_session(server: LabServer) -> str:
    """Log in with a confidential client, call, expire, refresh, replay and revoke; return the transcript text."""
    web = server.client("web", name="user")
    web.login("alice", DEMO_PASSWORDS["alice"], scope="profile notes:read")
    web.get("/api/profile")
    stolen = web.tokens.refresh_token
    server.advance(minutes=5)
    web.get("/api/profile")
    attacker = server.client("web", name="attacker")
    attacker.request("POST", "/token", data={"grant_type": "refresh_token", "refresh_token": stolen}, authenticate=True)
    web.get("/api/profile")
    server.client("resource-server", name="api").introspect(web.tokens.access_token if web.tokens else "x" * 43)
    return server.transcript.text()


def test_transcript_hides_every_secret(auth):
    with LabServer(auth) as server:
        web = server.client("web")
        web.login("alice", DEMO_PASSWORDS["alice"])
        tokens = web.tokens
        web.refresh()
        web.logout()
        text = server.transcript.text()
        port = str(server.port)
    assert tokens.access_token not in text
    assert tokens.refresh_token not in text
    assert DEMO_PASSWORDS["alice"] not in text
    assert DEMO_CLIENT_SECRETS["web"] not in text
    assert base64.b64encode(f"web:{DEMO_CLIENT_SECRETS['web']}".encode()).decode() not in text
    assert port not in text


def test_transcript_names_tokens_by_label(lab):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    app.refresh()
    text = lab.transcript.text()
    assert "refresh_token=<RT1>" in text
    assert '"access_token": "<AT2>"' in text
    assert "password=<hidden>" in text


def test_transcript_repeats_exactly_across_runs(authority):
    texts = []
    for _ in range(2):
        with LabServer(authority(clock=tl.SimulatedClock("2026-01-05T09:00:00+00:00"))) as server:
            texts.append(run_session(server))
    assert texts[0] == texts[1]
    assert "reuse" in texts[0]


def test_transcript_shows_loopback_origin_as_lab(lab):
    lab.client("app").request("GET", "/.well-known/oauth-authorization-server")
    assert '"token_endpoint": "http://lab/token"' in lab.transcript.text()


def test_transcript_unknown_token_shown_by_fingerprint(lab):
    lab.client("app").request("GET", "/api/profile", headers={"Authorization": "Bearer not-a-real-token"})
    assert f"Bearer <token {tl.fingerprint('not-a-real-token')}>" in lab.transcript.text()


def test_transcript_basic_credentials_show_client_only(lab):
    lab.client("web").login("alice", DEMO_PASSWORDS["alice"])
    assert "Authorization: Basic <web + secret>" in lab.transcript.text()


def test_transcript_omits_changing_headers(lab):
    lab.client("app").login("alice", DEMO_PASSWORDS["alice"])
    text = lab.transcript.text()
    for header in ("Date:", "Server:", "User-Agent:", "Content-Length:", "Tokenlab-Actor:"):
        assert header not in text


def test_transcript_stamps_simulated_time(lab):
    app = lab.client("app")
    lab.advance(minutes=7)
    app.login("alice", DEMO_PASSWORDS["alice"])
    assert lab.transcript[0].heading().startswith("#1  09:07:00  user  POST /token -> 200 OK")


def test_transcript_slices_and_summarizes(lab):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    app.get("/api/profile")
    tail = lab.transcript[-1:]
    assert isinstance(tail, Transcript)
    assert len(tail) == 1
    assert lab.transcript.summary().splitlines()[1].startswith("#2")


def test_transcript_attaches_to_foreign_session(lab, http):
    transcript = Transcript(labeler=authority_labeler(lab.authority))
    detach = transcript.attach(http, actor="library")
    login(http, lab)
    detach()
    http.get(lab.url + "/.well-known/jwks.json", timeout=10)
    assert len(transcript) == 1
    assert transcript[0].actor == "library"
    assert transcript[0].response_json["access_token"] == "<AT1>"


def test_transcript_widget_follows_new_exchanges(lab):
    pytest.importorskip("ipywidgets")
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    view = lab.transcript.widget()
    widget = view.widget
    app.get("/api/profile")
    bundle = view._repr_mimebundle_()
    try:
        assert len(widget.children) == 2
        assert widget.get_title(1).startswith("#2")
        assert bundle["text/plain"] == lab.transcript.summary()
        assert "application/vnd.jupyter.widget-view+json" in bundle
    finally:
        view.close()


# -- the lab client -------------------------------------------------------------------------------


def statuses(result) -> list[int]:  # type: ignore[no-untyped-def]
    return [exchange.status for exchange in result.exchanges]


def test_reactive_client_refreshes_after_401(lab):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    lab.advance(minutes=5)
    result = app.get("/api/profile")
    assert statuses(result) == [401, 200, 200]
    assert [exchange.note for exchange in result.exchanges] == [None, "refresh after a 401", "retry with the new access token"]
    assert result.status == 200


def test_reactive_client_without_auto_refresh_returns_401(lab):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    lab.advance(minutes=5)
    assert statuses(app.get("/api/profile", auto_refresh=False)) == [401]


def test_proactive_client_refreshes_before_expiry(lab):
    app = lab.client("app", strategy="proactive", proactive_fraction=0.75)
    app.login("alice", DEMO_PASSWORDS["alice"])
    lab.advance(minutes=3)
    assert statuses(app.get("/api/profile")) == [200]
    lab.advance(seconds=45)
    result = app.get("/api/profile")
    assert statuses(result) == [200, 200]
    assert result.exchanges[0].note == "refresh before expiry"


def test_client_does_not_refresh_on_403(lab):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    assert statuses(app.get("/api/notes")) == [403]


def test_client_forgets_tokens_after_invalid_grant(lab):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    stolen = app.tokens.refresh_token
    app.refresh()
    lab.client("app", name="attacker").request(
        "POST", "/token", data={"grant_type": "refresh_token", "refresh_token": stolen}, authenticate=True)
    lab.advance(minutes=5)
    result = app.get("/api/profile")
    assert statuses(result) == [401, 400]
    assert app.tokens is None


def test_client_logout_revokes_family(lab, auth):
    app = lab.client("app")
    app.login("alice", DEMO_PASSWORDS["alice"])
    access = app.tokens.access_token
    assert app.logout().status == 200
    assert app.tokens is None
    assert auth.introspect(access) == {"active": False}


def test_client_result_body_is_redacted(lab):
    app = lab.client("app")
    result = app.login("alice", DEMO_PASSWORDS["alice"])
    assert result.body["refresh_token"] == "<RT1>"
    assert result.ok


@pytest.mark.parametrize("url", ["http://example.com", "https://127.0.0.1:8000", "http://10.0.0.1:80", "http://127.0.0.1:8000/api"])
def test_client_refuses_non_loopback_url(url):
    with pytest.raises(tl.ConfigurationError, match="loopback"):
        LabClient(url, client_id="app")


def test_client_on_stopped_server_raises_configuration_error(auth):
    server = LabServer(auth).start()
    app = server.client("app")
    server.stop()
    with pytest.raises(tl.ConfigurationError, match="cannot reach"):
        app.login("alice", DEMO_PASSWORDS["alice"])


def test_client_refresh_without_login_raises(lab):
    with pytest.raises(tl.ConfigurationError, match="login"):
        lab.client("app").refresh()


@pytest.mark.parametrize("status, header, expected", [
    (401, 'Bearer error="invalid_token", error_description="expired"', True),
    (401, 'bearer error=invalid_token', True),
    (401, 'Bearer realm="profile"', False),
    (403, 'Bearer error="insufficient_scope", scope="notes:read"', False),
    (400, 'Bearer error="invalid_request"', False),
    (401, 'Basic realm="tokenlab"', False),
    (401, None, False),
    (200, None, False),
])
def test_refresh_needed_only_for_invalid_token(status, header, expected):
    assert refresh_needed(status, header) is expected


def test_bearer_error_reads_quoted_value_after_description():
    header = 'Bearer error_description="a, b \\" c", error="invalid_token"'
    assert bearer_error(header) == "invalid_token"
