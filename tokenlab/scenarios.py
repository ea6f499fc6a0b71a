"""Scripted stories about access and refresh tokens, replayed step by step on a simulated clock.

A :class:`Scenario` is data: a title, a summary, an explanation for the
learner, policy changes, and a tuple of :class:`Step` values, each an action
name with its arguments and a one-sentence note. A :class:`ScenarioRun` plays
the steps against a fresh :class:`~tokenlab.TokenAuthority`, one at a time or
all at once, and can step back. Widgets, the command line and the notebooks
all drive scenarios through this module and read the authority's event log.

Every run starts at 2026-01-05 09:00:00 UTC on a :class:`~tokenlab.SimulatedClock`,
with the demo RS256 key and readable ids, so two runs of one scenario record
the same events with the same labels, times and outcomes. Only fingerprints
and the texts that quote them differ, because refresh tokens are random;
:func:`repeatable_fields` picks out the fields that repeat.

The actions a step may name are the ``_action_*`` methods of
:class:`ScenarioRun`, and :data:`ACTIONS` lists them. A client is created when
a step first names it. Its strategy is ``reactive`` unless the run or an
``open`` step sets another one.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from .authority import TokenAuthority, TokenPair
from .client import STRATEGIES, Client, ClientCall, ProtectedApi, TokenStorage
from .clock import DEFAULT_START, OffsetClock, SimulatedClock
from .errors import ConfigurationError, TokenlabError
from .events import Event
from .keys import SigningKey, demo_key
from .policy import TokenPolicy
from .store import MemoryStore

CLIENT_ID = "app"
"""The OAuth client id every client in the scenarios uses: one public client application."""

DEFAULT_SUBJECT = "alice"
DEFAULT_SCOPE = "read write"
API_SCOPE = "read"
"""The scope the scenarios' protected API requires on each request."""

ActionOutcome = tuple[bool, str, TokenlabError | None]
"""The result of a step action: whether its operation succeeded, a one-line outcome, and the error that ended it."""


# -- data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of a scenario: an action name, its arguments, and a sentence for the learner.

    The action must be one of :data:`ACTIONS`, and the arguments must fit it;
    both are checked when the step is created.
    """

    action: str
    args: Mapping[str, Any]
    note: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))
        method = getattr(ScenarioRun, f"_action_{self.action}", None) if isinstance(self.action, str) else None
        if method is None:
            raise ConfigurationError(
                f"unknown step action {self.action!r}; the actions are: {', '.join(ACTIONS)}"
            )
        try:
            inspect.signature(method).bind(None, **self.args)
        except TypeError as exc:
            raise ConfigurationError(
                f"step {self.action!r} cannot take the arguments {dict(self.args)!r} ({exc}); "
                f"it takes {ACTIONS[self.action]}"
            ) from None
        if not isinstance(self.note, str) or not self.note.strip():
            raise ConfigurationError(f"step {self.action!r} needs a note: one sentence for the learner")

    def as_dict(self) -> dict[str, Any]:
        """Return the step as plain, JSON-ready values: ``{"action": ..., "args": {...}, "note": ...}``."""
        return {"action": self.action, "args": dict(self.args), "note": self.note}

    def describe(self) -> str:
        """Return the step as a call, such as ``call_api(client='user')``."""
        arguments = ", ".join(f"{name}={value!r}" for name, value in self.args.items())
        return f"{self.action}({arguments})"


@dataclass(frozen=True)
class Scenario:
    """A story about tokens: what the learner reads, and the steps that play it.

    ``policy`` contains the :class:`~tokenlab.TokenPolicy` fields this
    scenario changes from the defaults, such as short lifetimes that fit the
    story into a few hours.
    """

    name: str
    title: str
    summary: str
    explanation: str
    steps: tuple[Step, ...]
    policy: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "policy", MappingProxyType(dict(self.policy)))
        if not self.steps:
            raise ConfigurationError(f"scenario {self.name!r} has no steps")
        # Building the policy once checks the field names and values now, not at the first run.
        TokenPolicy().replace(**self.policy)


@dataclass
class StepResult:
    """The result of one step: the events it recorded and a one-line outcome.

    ``ok`` is False when the step's operation failed (a call that ended
    without a 200, a refresh that was rejected), which in many scenarios is
    the point. ``error`` is the error that ended it, and ``time`` the
    simulated time after the step.
    """

    index: int
    step: Step
    note: str
    events: list[Event]
    ok: bool
    outcome: str
    error: TokenlabError | None
    time: datetime
    note_applies: bool = True
    """False when this run's policy or strategy changed the step's outcome, so ``note`` no longer fits."""

    @property
    def display_note(self) -> str:
        """Return the note, flagged when this run's settings changed the outcome it describes."""
        if self.note_applies:
            return self.note
        return f"{self.note} [This note describes the scenario's own policy; with this run's settings the outcome differs.]"

    def describe(self) -> str:
        """Return the step number, the time and the outcome on one line."""
        return f"{self.index + 1:2d}. {_time_text(self.time)} {self.outcome}"


@dataclass
class ScenarioResult:
    """A finished run: its scenario, the policy it used, every event and every step's result."""

    scenario: Scenario
    policy: TokenPolicy
    events: list[Event]
    steps: list[StepResult]
    now: datetime
    strategy: str | None = None

    def kinds(self) -> list[str]:
        """Return the kinds of all events in order, as plain strings."""
        return [event.kind.value for event in self.events]

    def __repr__(self) -> str:
        failed = sum(1 for step in self.steps if not step.ok)
        return (
            f"ScenarioResult({self.scenario.name!r}, {len(self.steps)} steps, {failed} failed, "
            f"{len(self.events)} events, ended {self.now:%H:%M:%S})"
        )


def _step_signature(ok: bool, error: TokenlabError | None, events: Sequence[Event]) -> tuple[Any, ...]:
    """Return what a step's note describes: success, the error code, and which kinds of events happened."""
    return ok, (error.error if error else None), frozenset(event.kind for event in events)


def _reference_outcomes(scenario: Scenario) -> list[tuple[Any, ...]]:
    """Return each step's signature under the scenario's own policy, which its notes describe."""
    reference = ScenarioRun(scenario)
    outcomes = []
    while not reference.done:
        result = reference.step()
        outcomes.append(_step_signature(result.ok, result.error, result.events))
    return outcomes


def repeatable_fields(event: Event) -> tuple[Any, ...]:
    """Return the fields of ``event`` that two runs of a scenario reproduce exactly.

    Left out are the token fingerprint, the reason text and the details,
    which quote fingerprints of random refresh tokens.
    """
    return (
        event.seq, event.time, event.kind.value, event.outcome, event.label, event.token_type,
        event.family_id, event.client_id, event.subject, event.scope, event.actor, event.check,
        event.error, event.issued_at, event.expires_at, event.related,
    )


@functools.lru_cache(maxsize=None)
def _scenario_key(algorithm: str) -> SigningKey:
    """Return the demo key of ``algorithm``, loaded once: parsing the RSA key takes tens of milliseconds."""
    return demo_key(algorithm)


def _time_text(moment: datetime) -> str:
    """Return ``moment`` as HH:MM:SS, with milliseconds only when there are any."""
    text = f"{moment:%H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text


def _step_text(delta: timedelta) -> str:
    """Return a time step the way people say it: 20 ms, 45 s, 4 min 30 s, 2 h, 15 d."""
    if delta < timedelta(seconds=1):
        return f"{delta.total_seconds() * 1000:g} ms"
    parts = []
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount:g} {unit}")
    if seconds:
        parts.append(f"{seconds:g} s")
    return " ".join(parts)


# -- running -------------------------------------------------------------------


class ScenarioRun:
    """A scenario being played, one step at a time, on its own authority and simulated clock.

    The policy is ``policy`` (by default :class:`~tokenlab.TokenPolicy` with
    its defaults), then the scenario's own changes, then ``overrides``, which
    are TokenPolicy fields such as ``reuse_grace=10``. Readable ids are
    turned on unless ``readable_ids=False`` is passed. ``strategy`` sets the
    refresh strategy of every client that the scenario does not give one.
    """

    def __init__(
        self,
        scenario: Scenario | str,
        *,
        policy: TokenPolicy | None = None,
        strategy: str | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(scenario, str):
            scenario = get_scenario(scenario)
        if not isinstance(scenario, Scenario):
            raise ConfigurationError(f"scenario must be a Scenario or a scenario name, not {type(scenario).__name__}")
        if policy is not None and not isinstance(policy, TokenPolicy):
            raise ConfigurationError(f"policy must be a TokenPolicy, not {type(policy).__name__}")
        if strategy is not None and strategy not in STRATEGIES:
            raise ConfigurationError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")

        self.scenario = scenario
        self.strategy = strategy
        changes = {"readable_ids": True, **scenario.policy, **overrides}
        self.policy = (policy or TokenPolicy()).replace(**changes)
        self._reference: list[tuple[Any, ...]] | None = None
        if strategy is not None or self.policy != TokenPolicy().replace(readable_ids=True, **scenario.policy):
            self._reference = _reference_outcomes(scenario)
        self.reset()

    # -- state ---------------------------------------------------------------

    def reset(self) -> None:
        """Start again from before the first step, on a new authority and clock."""
        self.clock = SimulatedClock(DEFAULT_START)
        self.authority = TokenAuthority(
            policy=self.policy, clock=self.clock, store=MemoryStore(), key=_scenario_key("RS256")
        )
        self.clients: dict[str, Client] = {}
        self.apis: dict[tuple[Any, ...], ProtectedApi] = {}
        # Every token any client has had, by label (AT1, RT2), so that steps can name old tokens.
        self.tokens: dict[str, str] = {}
        self.results: list[StepResult] = []

    @property
    def position(self) -> int:
        """How many steps have run."""
        return len(self.results)

    @property
    def done(self) -> bool:
        """True when every step has run."""
        return self.position >= len(self.scenario.steps)

    @property
    def events(self) -> list[Event]:
        """Every event recorded so far, oldest first."""
        return list(self.authority.events)

    @property
    def now(self) -> datetime:
        """The current simulated time."""
        return self.clock.now()

    def step(self) -> StepResult:
        """Run the next step and return its result.

        Raises :class:`~tokenlab.ConfigurationError` when every step has run
        already (call :meth:`reset` or :meth:`back` first), or when the step
        does not fit the run, such as a token label never issued; events the
        step recorded before failing stay in the log.
        """
        if self.done:
            raise ConfigurationError(
                f"scenario {self.scenario.name!r} has run all {len(self.scenario.steps)} steps; "
                "call reset() to start again or back() to undo the last step"
            )
        index = self.position
        step = self.scenario.steps[index]
        first_event = len(self.authority.events)

        action: Callable[..., ActionOutcome] = getattr(self, f"_action_{step.action}")
        ok, outcome, error = action(**step.args)
        self._remember_tokens()

        note_applies = True
        if self._reference is not None and index < len(self._reference):
            note_applies = self._reference[index] == _step_signature(ok, error, self.authority.events[first_event:])
        result = StepResult(
            index=index, step=step, note=step.note, events=self.authority.events[first_event:],
            ok=ok, outcome=outcome, error=error, time=self.clock.now(), note_applies=note_applies,
        )
        self.results.append(result)
        return result

    def back(self) -> None:
        """Undo the last step by replaying all the steps before it on a fresh authority.

        Replaying gives the same labels, times and outcomes; the tokens
        themselves are new, since refresh tokens are random. At the start it
        does nothing.
        """
        target = max(self.position - 1, 0)
        self.reset()
        while self.position < target:
            self.step()

    def run(self) -> ScenarioResult:
        """Run every remaining step and return the whole run's result."""
        while not self.done:
            self.step()
        return ScenarioResult(
            scenario=self.scenario, policy=self.policy, events=self.events, steps=list(self.results),
            now=self.now, strategy=self.strategy,
        )

    def __repr__(self) -> str:
        return f"ScenarioRun({self.scenario.name!r}, step {self.position} of {len(self.scenario.steps)})"

    # -- helpers for the actions ---------------------------------------------

    def _client(self, name: str) -> Client:
        client = self.clients.get(name)
        if client is None:
            client = self._open_client(name, self.strategy or "reactive", storage=None)
        return client

    def _open_client(self, name: str, strategy: str, storage: TokenStorage | None) -> Client:
        client = Client(
            self.authority, self._api(), client_id=CLIENT_ID, strategy=strategy,  # type: ignore[arg-type]
            name=name, storage=storage,
        )
        self.clients[name] = client
        return client

    def _api(self, *, stateless: bool = False, clock_offset: float = 0, leeway: float | None = None) -> ProtectedApi:
        """Return the protected API a call goes to, creating each kind of resource server once."""
        key = (stateless, clock_offset, leeway)
        api = self.apis.get(key)
        if api is not None:
            return api

        server = self.authority
        name = "stateless api" if stateless else "api"
        details = []
        if clock_offset:
            server = server.with_clock(OffsetClock(self.clock, clock_offset))
            details.append(f"clock {clock_offset:+g} s")
        if leeway is not None:
            if server is self.authority:
                server = server.with_clock(self.clock)
            # The view shares store, keys and events with the authority; only its own policy changes.
            server.policy = server.policy.replace(leeway=leeway)
            details.append(f"leeway {leeway:g} s")
        if details:
            name += f" ({', '.join(details)})"
        api = ProtectedApi(server, required_scope=API_SCOPE, stateless=stateless, name=name)
        self.apis[key] = api
        return api

    def _remember_tokens(self) -> None:
        for client in self.clients.values():
            held = client.tokens
            if held is None:
                continue
            if held.access_token and held.access_label:
                self.tokens[held.access_label] = held.access_token
            if held.refresh_token and held.refresh_label:
                self.tokens[held.refresh_label] = held.refresh_token

    def _token(self, label: str) -> str:
        try:
            return self.tokens[label]
        except KeyError:
            known = ", ".join(sorted(self.tokens)) or "none yet"
            raise ConfigurationError(
                f"no token labelled {label!r} has been issued in this run; the labels so far: {known}"
            ) from None

    @staticmethod
    def _pair_text(pair: TokenPair) -> str:
        return f"{pair.access_label} and {pair.refresh_label}"

    # -- actions -------------------------------------------------------------
    # Each returns (ok, one-line outcome, error) and is named by Step.action.

    def _action_open(
        self, client: str, strategy: str | None = None, share_storage_with: str | None = None
    ) -> ActionOutcome:
        """Open a client (a browser tab), optionally sharing another client's token storage."""
        if client in self.clients:
            raise ConfigurationError(f"client {client!r} is already open; give the new client another name")
        storage = None
        if share_storage_with is not None:
            if share_storage_with not in self.clients:
                raise ConfigurationError(
                    f"no client {share_storage_with!r} to share storage with; open or log in that client first"
                )
            storage = self.clients[share_storage_with].storage
        opened = self._open_client(client, strategy or self.strategy or "reactive", storage)
        loaded = opened.tokens
        if loaded is None:
            return True, f"{client} opens ({opened.strategy}) with no tokens", None
        labels = f"{loaded.access_label} and {loaded.refresh_label}"
        return True, f"{client} opens ({opened.strategy}) and loads {labels} from the shared storage", None

    def _action_login(self, client: str, subject: str = DEFAULT_SUBJECT, scope: str = DEFAULT_SCOPE) -> ActionOutcome:
        """Log ``subject`` in with ``client``: a new grant and a new token family."""
        pair = self._client(client).login(subject, scope)
        return True, f"{client}: logged in as {subject}, got {self._pair_text(pair)} (family {pair.family_id})", None

    def _action_call_api(
        self,
        client: str,
        auto_refresh: bool = True,
        stateless: bool = False,
        clock_offset: float = 0,
        leeway: float | None = None,
    ) -> ActionOutcome:
        """Call the protected API; the arguments pick the kind of resource server."""
        api = self._api(stateless=stateless, clock_offset=clock_offset, leeway=leeway)
        call: ClientCall = self._client(client).call_api(api=api, auto_refresh=auto_refresh)
        return call.ok, f"{client} -> {api.name}: {call.describe()}", call.exception

    def _action_refresh(self, client: str) -> ActionOutcome:
        """Exchange the client's refresh token now."""
        caller = self._client(client)
        held = caller.tokens
        presented = held.refresh_label if held else None
        try:
            tokens = caller.refresh()
        except ConfigurationError:
            raise
        except TokenlabError as exc:
            check = f" ({exc.check})" if exc.check else ""
            return False, f"{client}: refresh with {presented} failed: {exc.error}{check}", exc
        return True, f"{client}: refreshed {presented}, got {tokens.access_label} and {tokens.refresh_label}", None

    def _action_set_strategy(self, client: str, strategy: str) -> ActionOutcome:
        """Switch a client to another refresh strategy."""
        self._client(client).strategy = strategy
        return True, f"{client} now refreshes with the {strategy} strategy", None

    def _action_advance(
        self, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> ActionOutcome:
        """Let simulated time pass."""
        before = self.clock.now()
        after = self.clock.advance(seconds=seconds, minutes=minutes, hours=hours, days=days)
        return True, f"time passes: {_time_text(before)} -> {_time_text(after)} (+{_step_text(after - before)})", None

    def _action_steal(self, client: str, victim: str, token_type: str = "refresh_token") -> ActionOutcome:
        """Let ``client`` copy the victim's refresh token, access token, or both (``token_type="both"``)."""
        victim_tokens = self._client(victim).tokens
        if victim_tokens is None:
            raise ConfigurationError(f"client {victim!r} has no tokens to steal; let it log in first")
        copies = {
            "refresh_token": victim_tokens.only_refresh_token,
            "access_token": victim_tokens.only_access_token,
            "both": lambda: victim_tokens,
        }
        if token_type not in copies:
            raise ConfigurationError(f"token_type must be one of {', '.join(copies)}, not {token_type!r}")
        stolen = copies[token_type]()
        self._client(client).hold(stolen)
        labels = " and ".join(label for label in (stolen.access_label, stolen.refresh_label) if label)
        return True, f"{client} copies {labels} from {victim}", None

    def _action_logout(self, client: str) -> ActionOutcome:
        """Log the client out: revoke its refresh token, which ends the family, and forget its tokens."""
        caller = self._client(client)
        held = caller.tokens
        changed = caller.logout()
        if not changed:
            return True, f"{client}: logged out; nothing was left to revoke", None
        assert held is not None
        return True, f"{client}: logged out, {held.refresh_label} revoked and family {held.family_id} ended", None

    def _action_introspect(self, token: str, actor: str = "resource server") -> ActionOutcome:
        """Ask the authority about the token labelled ``token`` (RFC 7662)."""
        response = self.authority.introspect(self._token(token), actor=actor)
        if not response["active"]:
            return True, f"{actor}: introspection says {token} is inactive", None
        expires = datetime.fromtimestamp(response["exp"], tz=timezone.utc)
        shown = f"{expires:%H:%M:%S}" if expires.date() == self.clock.now().date() else f"{expires:%Y-%m-%d %H:%M:%S}"
        return True, f"{actor}: introspection says {token} is active until {shown}", None

    def _action_inspect_family(self, family: str) -> ActionOutcome:
        """List the refresh tokens the store keeps for a family, with their status; records no event."""
        records = self.authority.store.family_refresh_tokens(family)
        if not records:
            raise ConfigurationError(f"no family {family!r} in this run")
        statuses = ", ".join(f"{record.label} {record.status}" for record in records)
        return True, f"the store keeps family {family}: {statuses}", None

    def _action_jwks(self, actor: str = "resource server") -> ActionOutcome:
        """Fetch the authority's public keys (the JWKS); records no event."""
        keys = self.authority.jwks()["keys"]
        listed = ", ".join(f"{key['kid']} ({key['alg']})" for key in keys) or "no keys"
        return True, f"{actor}: the JWKS lists {len(keys)} key(s): {listed}", None

    def _action_rotate_key(self, algorithm: str = "ES256", actor: str = "admin") -> ActionOutcome:
        """Make the demo key of ``algorithm`` the signing key; the previous key keeps verifying."""
        previous = self.authority.keys.current.kid
        new_key = self.authority.rotate_signing_key(_scenario_key(algorithm), actor=actor)
        return True, f"{actor}: new tokens are signed with {new_key.kid}; {previous} still verifies", None

    def _action_remove_key(self, kid: str, actor: str = "admin") -> ActionOutcome:
        """Stop accepting tokens signed with the key ``kid``."""
        self.authority.remove_key(kid, actor=actor)
        return True, f"{actor}: removed key {kid}; tokens it signed no longer verify", None


def _action_signature(name: str) -> str:
    method = getattr(ScenarioRun, f"_action_{name}")
    parameters = list(inspect.signature(method).parameters.values())[1:]
    return "(" + ", ".join(str(p) for p in parameters) + ")"


ACTIONS: dict[str, str] = {
    name[len("_action_"):]: _action_signature(name[len("_action_"):])
    for name in sorted(vars(ScenarioRun))
    if name.startswith("_action_")
}
"""The step actions by name, each with its parameters as text, such as ``"(client: 'str')"``."""


def _step(action: str, note: str, **args: Any) -> Step:
    return Step(action, args, note)


# -- the scenarios ---------------------------------------------------------------

_HAPPY_PATH = Scenario(
    name="happy-path",
    title="The happy path: log in and call an API",
    summary="The user logs in, gets an access token and a refresh token, and calls the API twice.",
    explanation=(
        "Logging in gives the client two tokens. The access token is a short-lived, signed JWT that the "
        "client sends in the Authorization header of every API request; the API checks its signature and "
        "expiry without asking anyone. The refresh token is a long-lived random string that only the "
        "authorization server understands; the client keeps it to get new access tokens later. Here "
        "nothing goes wrong: both calls happen within the access token's five minutes."
    ),
    steps=(
        _step("login", "The user logs in and the authorization server issues AT1 and RT1 in a new family F1.",
              client="user"),
        _step("call_api", "The client sends AT1 as a bearer token and the API verifies it.", client="user"),
        _step("advance", "Two minutes pass; AT1 has three minutes left.", minutes=2),
        _step("call_api", "The same access token works again, because it has not expired.", client="user"),
        _step("introspect", "The resource server may also ask the authorization server whether AT1 is active.",
              token="AT1"),
    ),
)

_ACCESS_EXPIRY = Scenario(
    name="access-expiry",
    title="Access tokens expire",
    summary="The access token stops working at the exact second of its exp claim.",
    explanation=(
        "An access token carries its own expiry time, the exp claim, and the API rejects it from that "
        "second on: a token is valid while now < exp. The API then answers 401 with the error "
        "invalid_token in the WWW-Authenticate header. Short lifetimes limit the damage of a leaked "
        "access token, since nobody has to remember to revoke it. This client is told not to refresh, "
        "so you see the bare expiry."
    ),
    steps=(
        _step("login", "The user logs in and gets AT1, valid for five minutes, until 09:05:00.", client="user"),
        _step("call_api", "A call at 09:00:00 succeeds.", client="user", auto_refresh=False),
        _step("advance", "Four minutes and 59 seconds pass.", minutes=4, seconds=59),
        _step("call_api", "At 09:04:59 AT1 is still valid, with one second left.", client="user", auto_refresh=False),
        _step("advance", "One more second passes; the clock now shows exactly AT1's exp.", seconds=1),
        _step("call_api", "At exp the API rejects AT1 with 401 invalid_token.", client="user", auto_refresh=False),
        _step("introspect", "Introspection agrees: an expired token is inactive.", token="AT1"),
    ),
)

_REFRESH_FLOW = Scenario(
    name="refresh-flow",
    title="Refreshing: after a 401, or ahead of time",
    summary="The client trades its refresh token for a new access token, first after a 401, then before expiry.",
    explanation=(
        "When the access token expires, the client does not ask the user to log in again: it sends the "
        "refresh token to the authorization server's token endpoint and gets a new access token, and, "
        "because rotation is on, a new refresh token too. A reactive client waits for the API's 401, "
        "refreshes, and retries the request once. A proactive client refreshes before sending, once "
        "three quarters of the access token's lifetime have passed, so the user never sees a failed request."
    ),
    steps=(
        _step("login", "The user logs in and gets AT1 and RT1.", client="user"),
        _step("call_api", "AT1 works.", client="user"),
        _step("advance", "Five minutes pass and AT1 expires.", minutes=5),
        _step("call_api", "The reactive client gets 401, refreshes with RT1 for AT2 and RT2, and retries once.",
              client="user"),
        _step("set_strategy", "The client switches to refreshing ahead of time.", client="user", strategy="proactive"),
        _step("advance", "Four minutes pass; AT2 is past three quarters of its life but not expired.", minutes=4),
        _step("call_api", "The proactive client refreshes with RT2 before sending, so no request fails.",
              client="user"),
        _step("advance", "One minute passes.", minutes=1),
        _step("call_api", "AT3 is young, so the client sends it without refreshing.", client="user"),
    ),
)

_ROTATION = Scenario(
    name="rotation",
    title="Refresh token rotation",
    summary="Every refresh replaces the refresh token; the old ones stay on record as rotated.",
    explanation=(
        "With rotation, each refresh token can be used once: the token endpoint marks the presented token "
        "rotated and returns a new one in the same family. The server keeps the old tokens, marked, instead "
        "of deleting them, because it must recognise one if it ever comes back: a rotated token that is "
        "presented again was copied (see stolen-refresh-token). Rotation never extends the family's "
        "absolute lifetime, which was fixed at login."
    ),
    steps=(
        _step("login", "The user logs in and gets RT1 in family F1.", client="user"),
        _step("advance", "Five minutes pass.", minutes=5),
        _step("refresh", "The client refreshes with RT1 and gets RT2; RT1 is now rotated.", client="user"),
        _step("advance", "Five minutes pass.", minutes=5),
        _step("refresh", "The client refreshes with RT2 and gets RT3.", client="user"),
        _step("advance", "Five minutes pass.", minutes=5),
        _step("refresh", "The client refreshes with RT3 and gets RT4.", client="user"),
        _step("inspect_family", "The store still holds every refresh token of F1; only the newest is active.",
              family="F1"),
        _step("introspect", "RT1 is inactive: it was rotated.", token="RT1"),
        _step("introspect", "RT4, the newest, is active.", token="RT4"),
    ),
)

_STOLEN_REFRESH_TOKEN = Scenario(
    name="stolen-refresh-token",
    title="A stolen refresh token is caught by reuse detection",
    summary="An attacker replays a copied refresh token; the server detects the reuse and revokes the family.",
    explanation=(
        "A refresh token lives for weeks, so stealing one is worth more than stealing an access token. "
        "Rotation makes a copy detectable: after the first exchange the token is rotated, and whoever "
        "presents it second, the attacker or the real user, presents a rotated token. The server cannot "
        "tell which of the two is the attacker, so it revokes the whole family (RFC 9700): every refresh "
        "token and access token of the grant stops working, and the user must log in again. In part one "
        "the user refreshes first and the attacker's replay is caught. In part two the attacker refreshes "
        "first and gets in for a while, until the user's own refresh is detected as reuse, which locks the attacker out too."
    ),
    steps=(
        _step("login", "The user logs in and gets AT1 and RT1 in family F1.", client="user"),
        _step("steal", "Malware on the user's machine copies RT1.", client="attacker", victim="user"),
        _step("advance", "Five minutes pass and AT1 expires.", minutes=5),
        _step("call_api", "The user's client refreshes with RT1, which rotates it to RT2.", client="user"),
        _step("advance", "A minute later the attacker acts.", minutes=1),
        _step("refresh", "The attacker replays the rotated RT1: reuse is detected and family F1 is revoked.",
              client="attacker"),
        _step("call_api", "The user is locked out too: AT2 and RT2 belonged to the revoked family.", client="user"),
        _step("login", "Part two: the user logs in again and gets AT3 and RT3 in family F2.", client="user"),
        _step("steal", "The attacker copies RT3 as well.", client="attacker", victim="user"),
        _step("advance", "Two minutes pass.", minutes=2),
        _step("refresh", "This time the attacker refreshes first and gets AT4 and RT4.", client="attacker"),
        _step("call_api", "The attacker reads the user's data with AT4.", client="attacker"),
        _step("advance", "Three minutes later the user's AT3 expires.", minutes=3),
        _step("call_api", "The user's client presents RT3, which the attacker already rotated: reuse, F2 is revoked.",
              client="user"),
        _step("call_api", "The attacker's AT4 and RT4 died with the family, so the attacker is locked out.",
              client="attacker"),
    ),
)

_TWO_TABS_RACE = Scenario(
    name="two-tabs-race",
    title="Two tabs refresh at once",
    summary="Two tabs refresh with the same refresh token 20 ms apart; strict reuse detection logs the user out.",
    explanation=(
        "Browser tabs of one app share stored tokens, but each keeps its own copy in memory. When the access "
        "token expires, both tabs may refresh with the same refresh token before either has seen the other's "
        "result. To the server the second exchange looks exactly like a stolen token being replayed, so it "
        "revokes the family and the user is logged out of both tabs. Two fixes exist: a short grace window on "
        "the server, in which the parent of the newest token may be exchanged once more (run with "
        "reuse_grace=10), or a single-flight client, in which a tab first checks whether another tab has "
        "already refreshed and takes that result (run with strategy='single-flight'). With the grace window, "
        "tab B's retry supersedes tab A's RT2, so tab A must take the newest refresh token from storage "
        "before its next refresh, or that refresh counts as reuse."
    ),
    steps=(
        _step("login", "Tab A logs the user in and saves AT1 and RT1 to the browser's storage.", client="tab A"),
        _step("open", "Tab B opens and loads the same AT1 and RT1 from storage.", client="tab B",
              share_storage_with="tab A"),
        _step("advance", "Five minutes pass and AT1 expires in both tabs.", minutes=5),
        _step("call_api", "Tab A gets 401, refreshes with RT1 for AT2 and RT2, and retries.", client="tab A"),
        _step("advance", "20 milliseconds later tab B makes its own request.", seconds=0.02),
        _step("call_api", "Tab B gets 401 with AT1 and refreshes with RT1, which is now rotated.", client="tab B"),
        _step("advance", "One second passes.", seconds=1),
        _step("call_api", "Tab A calls again with AT2: does the user still have a session?", client="tab A"),
    ),
)

_LOGOUT_REVOCATION = Scenario(
    name="logout-revocation",
    title="Logging out, and the access token that lives on",
    summary="Logout revokes the refresh token, but a stateless API accepts the last access token until it expires.",
    explanation=(
        "Logging out means revoking the refresh token (RFC 7009), which ends the whole family at the "
        "authorization server. An access token, however, is checked by the API itself, and an API that only "
        "checks the signature and exp (a stateless one) never hears about the revocation: a copy of the "
        "access token keeps working until it expires. An API that checks a deny-list on every request, or "
        "asks the authorization server by introspection, rejects it at once, at the cost of a lookup per "
        "request. Short access token lifetimes bound the stateless case."
    ),
    steps=(
        _step("login", "The user logs in and gets AT1 and RT1.", client="user"),
        _step("call_api", "AT1 works.", client="user"),
        _step("steal", "A copy of AT1 leaks, for example through a log file, and an attacker picks it up.",
              client="attacker", victim="user", token_type="access_token"),
        _step("advance", "One minute passes.", minutes=1),
        _step("logout", "The user logs out: the client revokes RT1, which revokes family F1 and its access tokens.",
              client="user"),
        _step("call_api", "A stateless API checks only signature and exp, so it still accepts the copied AT1.",
              client="attacker", stateless=True),
        _step("call_api", "A stateful API checks revocation and rejects AT1 at once.", client="attacker"),
        _step("introspect", "Introspection also reports AT1 inactive.", token="AT1"),
        _step("advance", "Four minutes pass, to AT1's exp.", minutes=4),
        _step("call_api", "Only now does the stateless API reject AT1, because it has expired.",
              client="attacker", stateless=True),
    ),
)

_IDLE_VS_ABSOLUTE_EXPIRY = Scenario(
    name="idle-vs-absolute-expiry",
    title="Idle expiry and absolute expiry of refresh tokens",
    summary="A session ends after an hour unused, and after four hours however often it is used.",
    explanation=(
        "A refresh token has two deadlines. The idle expiry ends a session that nobody uses: here a refresh "
        "token expires one hour after it was issued or last used. The absolute expiry is fixed at login for "
        "the whole family and rotation never extends it: here four hours, so even a user who comes back "
        "every 55 minutes must log in again at 14:00. The defaults are 15 days and 30 days; this story "
        "shortens them to fit in one morning."
    ),
    policy={"refresh_token_idle_ttl": timedelta(hours=1), "refresh_token_ttl": timedelta(hours=4)},
    steps=(
        _step("login", "The user logs in at 09:00; RT1 expires if unused until 10:00.", client="user"),
        _step("call_api", "AT1 works.", client="user"),
        _step("advance", "The app stays unused for an hour.", hours=1),
        _step("call_api", "AT1 expired long ago, and RT1 has now hit its idle expiry: the user must log in again.",
              client="user"),
        _step("login", "The user logs in again at 10:00; family F2 ends at 14:00 whatever happens.", client="user"),
        _step("advance", "55 minutes pass.", minutes=55),
        _step("call_api", "The client refreshes, which rotates the refresh token and restarts the idle hour.",
              client="user"),
        _step("advance", "55 minutes pass.", minutes=55),
        _step("call_api", "Another refresh keeps the session alive.", client="user"),
        _step("advance", "55 minutes pass.", minutes=55),
        _step("call_api", "Another refresh keeps the session alive.", client="user"),
        _step("advance", "55 minutes pass.", minutes=55),
        _step("call_api", "The last refresh before the absolute deadline.", client="user"),
        _step("advance", "20 minutes pass and it is 14:00.", minutes=20),
        _step("call_api", "The refresh token is only 20 minutes old, but family F2 has reached its absolute expiry.",
              client="user"),
    ),
)

_CLOCK_SKEW = Scenario(
    name="clock-skew",
    title="Clock skew between servers",
    summary="A resource server whose clock runs 45 s ahead rejects tokens early; leeway fixes it.",
    explanation=(
        "The authorization server writes exp using its clock, and the API compares exp with its own. If the "
        "API's clock runs ahead, tokens expire early there; if it runs behind, fresh tokens look issued in "
        "the future. Servers synchronise their clocks, but a few seconds of skew are common, so verifiers "
        "allow a small leeway: a token is accepted while now < exp + leeway. Leeway is capped at 60 seconds, "
        "because every second of it is a second more for a leaked token."
    ),
    steps=(
        _step("login", "The user logs in at 09:00:00; AT1 expires at 09:05:00.", client="user"),
        _step("call_api", "An API whose clock runs 45 s ahead accepts AT1 at first.", client="user", clock_offset=45),
        _step("advance", "Four and a half minutes pass; by the true time AT1 has 30 s left.", minutes=4, seconds=30),
        _step("call_api", "An API with an accurate clock accepts AT1.", client="user"),
        _step("call_api", "The skewed API reads 09:05:15 and rejects AT1 as expired, 30 s too early.",
              client="user", clock_offset=45, auto_refresh=False),
        _step("call_api", "The same skewed API with a 60 s leeway accepts AT1.", client="user", clock_offset=45,
              leeway=60),
        _step("call_api", "Without leeway, a reactive client recovers only by refreshing 30 s before it needed to.",
              client="user", clock_offset=45),
    ),
)

_KEY_ROTATION = Scenario(
    name="key-rotation",
    title="Rotating the signing key",
    summary="The authority signs with a new key; old tokens verify until the old key is removed.",
    explanation=(
        "Access tokens are signed, and each token names its key in the kid header. To replace a key, the "
        "authority starts signing with a new one but keeps the old one for verifying, and publishes both "
        "public keys in its JWKS, so tokens already issued keep working. The old key may go once the last "
        "token it signed has expired, that is one access token lifetime after the rotation. Here it is "
        "removed too early on purpose: the user's AT1 fails, and the client recovers by refreshing, because "
        "refresh tokens are not signed JWTs. The new demo key is an ES256 key: each key has its own "
        "algorithm, chosen by kid and never by the token's header."
    ),
    steps=(
        _step("login", "The user logs in and gets AT1, signed with the key demo-rs256.", client="user"),
        _step("jwks", "The JWKS publishes one public key."),
        _step("advance", "One minute passes.", minutes=1),
        _step("rotate_key", "The admin rotates the signing key to demo-es256.", algorithm="ES256"),
        _step("jwks", "The JWKS now publishes both keys."),
        _step("call_api", "AT1, signed with the old key, still verifies.", client="user"),
        _step("advance", "One more minute passes; AT1 has three minutes left.", minutes=1),
        _step("remove_key", "The admin removes the old key too early.", kid="demo-rs256"),
        _step("jwks", "The JWKS publishes only the new key."),
        _step("call_api", "AT1 now fails: its kid names a key the server no longer has.", client="user",
              auto_refresh=False),
        _step("call_api", "The reactive client refreshes and gets AT2, signed with the new key.", client="user"),
    ),
)

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        _HAPPY_PATH,
        _ACCESS_EXPIRY,
        _REFRESH_FLOW,
        _ROTATION,
        _STOLEN_REFRESH_TOKEN,
        _TWO_TABS_RACE,
        _LOGOUT_REVOCATION,
        _IDLE_VS_ABSOLUTE_EXPIRY,
        _CLOCK_SKEW,
        _KEY_ROTATION,
    )
}
"""The built-in scenarios by name, in teaching order."""


def list_scenarios() -> list[Scenario]:
    """Return the built-in scenarios in teaching order."""
    return list(SCENARIOS.values())


def get_scenario(name: str) -> Scenario:
    """Return the built-in scenario called ``name``.

    Raises :class:`~tokenlab.ConfigurationError` for an unknown name,
    suggesting the closest names.
    """
    if not isinstance(name, str):
        raise ConfigurationError(f"a scenario name must be a string, not {type(name).__name__}")
    scenario = SCENARIOS.get(name)
    if scenario is not None:
        return scenario
    close = difflib.get_close_matches(name, list(SCENARIOS), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise ConfigurationError(f"no scenario called {name!r}; {hint}the scenarios are: {', '.join(SCENARIOS)}")


def run_scenario(
    name_or_scenario: Scenario | str, *, policy: TokenPolicy | None = None, **overrides: Any
) -> ScenarioResult:
    """Play a whole scenario and return its result; ``overrides`` are as for :class:`ScenarioRun`."""
    return ScenarioRun(name_or_scenario, policy=policy, **overrides).run()


__all__ = [
    "ACTIONS",
    "SCENARIOS",
    "Scenario",
    "ScenarioResult",
    "ScenarioRun",
    "Step",
    "StepResult",
    "get_scenario",
    "list_scenarios",
    "repeatable_fields",
    "run_scenario",
]
