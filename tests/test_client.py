"""Tests for the client model: the protected API's HTTP responses and the three refresh strategies."""

from __future__ import annotations

import threading

import pytest

import tokenlab as tl
from tokenlab.client import ApiResponse, Client, ProtectedApi, SavedTokens, TokenStorage, bearer

THREADS = 8


@pytest.fixture
def auth(clock: tl.SimulatedClock) -> tl.TokenAuthority:
    """An authority on the simulated clock, with readable ids, 5-minute access tokens and the demo HS256 key."""
    return tl.TokenAuthority(policy=tl.TokenPolicy(readable_ids=True), clock=clock, key=tl.demo_key("HS256"))


@pytest.fixture
def api(auth: tl.TokenAuthority) -> ProtectedApi:
    """A stateful API that requires the scope ``read``."""
    return ProtectedApi(auth, required_scope="read")


def make_client(auth: tl.TokenAuthority, api: ProtectedApi, **options) -> Client:  # type: ignore[no-untyped-def]
    options.setdefault("name", "user")
    return Client(auth, api, client_id="app", **options)


def kinds_since(auth: tl.TokenAuthority, start: int) -> list[str]:
    return [event.kind.value for event in auth.events[start:]]


def run_in_threads(calls: list) -> list:  # type: ignore[type-arg]
    """Start one thread per callable, release them together, and return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)  # type: ignore[type-arg]

    def work(index: int) -> None:
        barrier.wait(timeout=10)
        results[index] = calls[index]()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads), "a client thread did not finish"
    return results


# -- ProtectedApi ------------------------------------------------------------------


def test_api_accepts_valid_bearer_token(auth, api):
    pair = auth.issue("alice", client_id="app", scope="read write")
    response = api.get(bearer(pair.access_token))
    assert response.status == 200
    assert response.body["sub"] == "alice"
    assert response.www_authenticate is None


def test_api_scheme_is_case_insensitive(auth, api):
    pair = auth.issue("alice", client_id="app", scope="read")
    assert api.get(f"bearer {pair.access_token}").status == 200
    assert api.get(f"BEARER  {pair.access_token}").status == 200


@pytest.mark.parametrize("header", [None, "", "   ", "Basic YWxpY2U6c2VjcmV0", "Digest x=1"])
def test_api_without_bearer_credentials_gets_401_without_error(auth, api, header):
    response = api.get(header)
    assert response.status == 401
    assert response.error is None
    assert response.www_authenticate == 'Bearer realm="api"'
    assert "error=" not in response.www_authenticate


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer   ", "Bearer a b", "Bearer tok\u00e9n", "Bearer a,b", "Bearer\tabc", 'Bearer "abc"'],
)
def test_api_malformed_bearer_header_is_invalid_request(auth, api, header):
    response = api.get(header)
    assert response.status == 400
    assert response.error == "invalid_request"
    assert response.www_authenticate.startswith('Bearer error="invalid_request"')


def test_api_header_problems_record_no_event(auth, api):
    api.get(None)
    api.get("Bearer a b")
    assert len(auth.events) == 0


def test_api_unparseable_token_is_invalid_token(auth, api):
    response = api.get("Bearer not-a-jwt")
    assert response.status == 401
    assert response.error == "invalid_token"
    assert response.check == "format"
    assert auth.events.last().kind == tl.EventKind.REJECTED


def test_api_expired_token_is_invalid_token(auth, api, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    clock.advance(minutes=5)
    response = api.get(bearer(pair.access_token))
    assert response.status == 401
    assert response.error == "invalid_token"
    assert response.check == "exp"
    assert 'error="invalid_token"' in response.www_authenticate


def test_api_missing_scope_is_insufficient_scope(auth):
    admin_api = ProtectedApi(auth, required_scope="admin", name="admin api")
    pair = auth.issue("alice", client_id="app", scope="read")
    response = admin_api.get(bearer(pair.access_token))
    assert response.status == 403
    assert response.error == "insufficient_scope"
    assert 'scope="admin"' in response.www_authenticate


def test_api_stateless_accepts_revoked_token(auth, api):
    stateless_api = ProtectedApi(auth, required_scope="read", stateless=True, name="stateless api")
    pair = auth.issue("alice", client_id="app", scope="read")
    auth.revoke(pair.refresh_token, client_id="app")
    assert stateless_api.get(bearer(pair.access_token)).status == 200
    assert api.get(bearer(pair.access_token)).check == "revocation"


def test_api_records_caller_as_actor(auth, api):
    pair = auth.issue("alice", client_id="app", scope="read")
    api.get(bearer(pair.access_token), actor="tab A")
    assert auth.events.last().actor == "tab A"


def test_api_rejects_name_with_quote(auth):
    with pytest.raises(tl.ConfigurationError):
        ProtectedApi(auth, name='my "api"')


def test_api_response_describe_names_error_and_check():
    error = tl.InvalidToken("expired", check="exp")
    response = ApiResponse(401, {"error": "invalid_token"}, "Bearer", error)
    assert response.describe() == "401 Unauthorized invalid_token (exp)"


# -- Client basics -------------------------------------------------------------------


def test_login_saves_tokens_in_memory_and_storage(auth, api):
    client = make_client(auth, api)
    pair = client.login("alice", "read write")
    assert client.tokens.access_label == pair.access_label
    assert client.storage.load() == client.tokens


def test_saved_tokens_repr_hides_tokens(auth, api):
    client = make_client(auth, api)
    pair = client.login("alice")
    text = repr(client.tokens)
    assert pair.refresh_token not in text
    assert pair.access_token not in text
    assert "RT1" in text


def test_saved_tokens_expiry_follows_expires_in(auth, api, clock):
    client = make_client(auth, api)
    client.login("alice")
    assert client.tokens.expires_at == clock.now() + auth.policy.access_token_ttl


def test_call_succeeds_with_fresh_token(auth, api):
    client = make_client(auth, api)
    client.login("alice")
    call = client.call_api()
    assert call.status == 200
    assert call.access_label == "AT1"
    assert not call.refreshed
    assert not call.retried
    assert client.calls == [call]


def test_call_without_tokens_sends_no_header(auth, api):
    call = make_client(auth, api).call_api()
    assert call.status == 401
    assert call.error is None
    assert call.access_label is None
    assert len(auth.events) == 0


def test_client_rejects_unknown_strategy(auth, api):
    with pytest.raises(tl.ConfigurationError):
        make_client(auth, api, strategy="eager")


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, True, "0.5"])
def test_client_rejects_bad_proactive_fraction(auth, api, fraction):
    with pytest.raises(tl.ConfigurationError):
        make_client(auth, api, proactive_fraction=fraction)


def test_refresh_without_refresh_token_raises(auth, api):
    with pytest.raises(tl.ConfigurationError):
        make_client(auth, api).refresh()


def test_explicit_refresh_rotates_token(auth, api):
    client = make_client(auth, api)
    client.login("alice")
    tokens = client.refresh()
    assert tokens.refresh_label == "RT2"
    assert client.tokens == tokens
    assert client.storage.load() == tokens


def test_logout_revokes_family(auth, api):
    client = make_client(auth, api)
    pair = client.login("alice")
    assert client.logout() is True
    assert client.tokens is None
    assert api.get(bearer(pair.access_token)).check == "revocation"


def test_logout_without_tokens_changes_nothing(auth, api):
    assert make_client(auth, api).logout() is False
    assert len(auth.events) == 0


# -- reactive ------------------------------------------------------------------------


def test_reactive_refreshes_after_401_and_retries(auth, api, clock):
    client = make_client(auth, api)
    client.login("alice")
    clock.advance(minutes=5)
    start = len(auth.events)

    call = client.call_api()

    assert call.status == 200
    assert call.access_label == "AT1"
    assert call.refreshed
    assert call.refresh_label == "RT1"
    assert call.retried
    assert call.retry_access_label == "AT2"
    assert call.first_response.check == "exp"
    assert kinds_since(auth, start) == ["expired", "refreshed", "rotated", "issued", "issued", "verified"]


def test_reactive_retries_only_once(auth, clock):
    # This server's clock is ten minutes ahead, so every access token looks expired to it.
    skewed_api = ProtectedApi(auth.with_clock(tl.OffsetClock(clock, 600)), required_scope="read")
    client = make_client(auth, skewed_api)
    client.login("alice")
    start = len(auth.events)

    call = client.call_api()

    assert call.status == 401
    assert call.retried
    assert len(auth.events.of_kind("rotated")) == 1
    assert kinds_since(auth, start).count("expired") == 2
    assert len(client.calls) == 1


def test_reactive_does_not_refresh_on_403(auth):
    admin_api = ProtectedApi(auth, required_scope="admin")
    client = make_client(auth, admin_api)
    client.login("alice", "read")
    call = client.call_api()
    assert call.status == 403
    assert not call.refreshed
    assert auth.events.of_kind("refreshed") == []


def test_auto_refresh_false_never_refreshes(auth, api, clock):
    client = make_client(auth, api)
    client.login("alice")
    clock.advance(minutes=5)
    call = client.call_api(auto_refresh=False)
    assert call.status == 401
    assert not call.refreshed
    assert auth.events.of_kind("refreshed") == []


def test_failed_refresh_forgets_tokens(auth, api, clock):
    client = make_client(auth, api)
    pair = client.login("alice")
    auth.revoke(pair.refresh_token, client_id="app")
    clock.advance(minutes=5)

    call = client.call_api()

    assert call.status == 401
    assert call.refresh_error == "invalid_grant"
    assert call.exception.check == "revocation"
    assert not call.retried
    assert client.tokens is None
    assert client.storage.load() is None


def test_refresh_token_alone_is_exchanged_before_call(auth, api):
    victim = make_client(auth, api)
    victim.login("alice")
    thief = make_client(auth, api, name="attacker")
    thief.hold(victim.tokens.only_refresh_token())

    call = thief.call_api()

    assert call.status == 200
    assert call.refresh_reason == "no_access_token"
    assert call.access_label == "AT2"


# -- proactive -----------------------------------------------------------------------


def test_proactive_refreshes_before_expiry(auth, api, clock):
    client = make_client(auth, api, strategy="proactive")
    client.login("alice")
    clock.advance(minutes=4)
    start = len(auth.events)

    call = client.call_api()

    assert call.status == 200
    assert call.refresh_reason == "proactive"
    assert call.access_label == "AT2"
    assert kinds_since(auth, start) == ["refreshed", "rotated", "issued", "issued", "verified"]


def test_proactive_waits_until_fraction_has_passed(auth, api, clock):
    client = make_client(auth, api, strategy="proactive", proactive_fraction=0.75)
    client.login("alice")
    clock.advance(minutes=3, seconds=44)
    assert not client.refresh_due()
    assert not client.call_api().refreshed
    clock.advance(seconds=1)
    assert client.refresh_due()


def test_proactive_never_gets_401_over_an_hour(auth, api, clock):
    client = make_client(auth, api, strategy="proactive")
    client.login("alice")
    for _ in range(60):
        clock.advance(minutes=1)
        client.call_api()
    assert [call.status for call in client.calls] == [200] * 60
    assert auth.events.of_kind("expired", "rejected") == []
    assert len(auth.events.of_kind("rotated")) > 0


def test_proactive_failed_refresh_still_sends_token(auth, clock):
    stateless_api = ProtectedApi(auth, required_scope="read", stateless=True)
    client = make_client(auth, stateless_api, strategy="proactive")
    pair = client.login("alice")
    auth.revoke(pair.refresh_token, client_id="app")
    clock.advance(minutes=4)

    call = client.call_api()

    assert call.refresh_error == "invalid_grant"
    assert call.access_label == "AT1"
    assert call.status == 200
    assert client.tokens is None


# -- tabs sharing storage ---------------------------------------------------------------


def test_tab_loads_shared_storage_when_opened(auth, api):
    tab_a = make_client(auth, api, name="tab A")
    tab_a.login("alice")
    tab_b = make_client(auth, api, name="tab B", storage=tab_a.storage)
    assert tab_b.tokens == tab_a.tokens


def test_reactive_tabs_racing_trigger_reuse_detection(auth, api, clock):
    tab_a = make_client(auth, api, name="tab A")
    tab_a.login("alice")
    tab_b = make_client(auth, api, name="tab B", storage=tab_a.storage)
    clock.advance(minutes=5)

    assert tab_a.call_api().status == 200
    clock.advance(seconds=0.02)
    second = tab_b.call_api()

    assert second.status == 401
    assert second.exception.check == "reuse"
    assert len(auth.events.of_kind("reuse_detected")) == 1


def test_single_flight_tab_takes_shared_result(auth, api, clock):
    tab_a = make_client(auth, api, name="tab A", strategy="single-flight")
    tab_a.login("alice")
    tab_b = make_client(auth, api, name="tab B", strategy="single-flight", storage=tab_a.storage)
    clock.advance(minutes=5)

    tab_a.call_api()
    clock.advance(seconds=0.02)
    second = tab_b.call_api()

    assert second.status == 200
    assert second.shared_refresh
    assert not second.refreshed
    assert second.retry_access_label == "AT2"
    assert len(auth.events.of_kind("refreshed")) == 1


def test_single_flight_shares_failed_refresh(auth, api, clock):
    tab_a = make_client(auth, api, name="tab A", strategy="single-flight")
    pair = tab_a.login("alice")
    tab_b = make_client(auth, api, name="tab B", strategy="single-flight", storage=tab_a.storage)
    auth.revoke(pair.refresh_token, client_id="app")
    clock.advance(minutes=5)

    first = tab_a.call_api()
    second = tab_b.call_api()

    assert first.refresh_error == "invalid_grant"
    assert second.refresh_error == "invalid_grant"
    assert second.shared_refresh
    refresh_rejections = [e for e in auth.events.of_kind("rejected") if e.token_type == "refresh_token"]
    assert len(refresh_rejections) == 1
    assert tab_b.tokens is None


# -- real threads ---------------------------------------------------------------------


def test_single_flight_threads_refresh_once(auth, api, clock):
    storage = TokenStorage()
    make_client(auth, api, storage=storage).login("alice")
    clients = [
        make_client(auth, api, name=f"tab {i}", strategy="single-flight", storage=storage) for i in range(THREADS)
    ]
    clock.advance(minutes=5)

    calls = run_in_threads([client.call_api for client in clients])

    assert len(auth.events.of_kind("rotated")) == 1
    assert [call.status for call in calls] == [200] * THREADS
    assert auth.events.of_kind("reuse_detected") == []


def test_single_flight_threads_on_one_client_refresh_once(auth, api, clock):
    client = make_client(auth, api, strategy="single-flight")
    client.login("alice")
    clock.advance(minutes=5)

    calls = run_in_threads([client.call_api] * THREADS)

    assert len(auth.events.of_kind("rotated")) == 1
    assert [call.status for call in calls] == [200] * THREADS


def test_reactive_threads_trigger_reuse_detection(auth, api, clock):
    storage = TokenStorage()
    make_client(auth, api, storage=storage).login("alice")
    clients = [make_client(auth, api, name=f"tab {i}", storage=storage) for i in range(THREADS)]
    clock.advance(minutes=5)

    calls = run_in_threads([client.call_api for client in clients])

    # Every client has its own copy of RT1. One exchange rotates it, the next is reuse,
    # and the rest find the family already revoked.
    assert len(auth.events.of_kind("rotated")) == 1
    assert len(auth.events.of_kind("reuse_detected")) == 1
    assert sum(call.refresh_error == "invalid_grant" for call in calls) == THREADS - 1


def test_saved_tokens_from_pair_keeps_labels(auth, clock):
    pair = auth.issue("alice", client_id="app", scope="read")
    saved = SavedTokens.from_pair(pair, clock.now())
    assert (saved.access_label, saved.refresh_label, saved.family_id) == ("AT1", "RT1", "F1")
    assert saved.only_refresh_token().access_token is None
    assert saved.only_access_token().refresh_token is None
