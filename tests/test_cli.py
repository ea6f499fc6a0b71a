"""The tokenlab command line: parsing, help, exit codes, inspect, lab, scenarios and run."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

import tokenlab as tl
from tokenlab import cli, scenarios, timeline

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- helpers ----------------------------------------------------------------


def run_module(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tokenlab ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "tokenlab", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def craft_token(header: dict | str, claims: dict | str, signature: bytes = b"") -> str:
    """Build a compact JWS by hand, so headers the engine never writes can be tested."""
    header_json = header if isinstance(header, str) else json.dumps(header)
    claims_json = claims if isinstance(claims, str) else json.dumps(claims)
    return ".".join([b64url(header_json.encode()), b64url(claims_json.encode()), b64url(signature)])


@pytest.fixture
def system_clock(monkeypatch: pytest.MonkeyPatch, clock: tl.SimulatedClock) -> tl.SimulatedClock:
    """Make ``inspect`` read the simulated clock where it would read the system clock."""
    monkeypatch.setattr(cli, "SystemClock", lambda: clock)
    return clock


def make_authority(clock: tl.Clock, algorithm: str = "RS256", **policy: object) -> tl.TokenAuthority:
    return tl.TokenAuthority(
        policy=tl.TokenPolicy(readable_ids=True, **policy),
        clock=clock,
        store=tl.MemoryStore(),
        key=tl.demo_key(algorithm),
    )


def inspect_output(capsys: pytest.CaptureFixture[str], token: str) -> tuple[int, str, str]:
    code = cli.main(["inspect", token])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- parsing and help -------------------------------------------------------


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("scenarios", "run", "inspect", "lab"):
        assert command in out


@pytest.mark.parametrize("command", ["scenarios", "run", "inspect", "lab"])
def test_command_help_exits_zero(capsys, command):
    assert cli.main([command, "--help"]) == 0
    assert f"usage: tokenlab {command}" in capsys.readouterr().out


def test_run_help_lists_policy_fields(capsys):
    cli.main(["run", "--help"])
    out = capsys.readouterr().out
    for field in ("access_token_ttl", "reuse_grace", "leeway", "rotate_refresh_tokens"):
        assert field in out


def test_missing_command_exits_2(capsys):
    assert cli.main([]) == 2
    assert "required" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys):
    assert cli.main(["explode"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_version_prints_package_version(capsys):
    assert cli.main(["--version"]) == 0
    assert tl.__version__ in capsys.readouterr().out


def test_module_help_runs_in_subprocess():
    result = run_module("--help")
    assert result.returncode == 0
    assert "usage: tokenlab" in result.stdout


def test_module_bad_usage_exits_2():
    result = run_module("inspect")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "TOKEN" in result.stderr


# -- --set values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("5m", 300),
        ("2h", 7200),
        ("30d", 30 * 86400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("0", 0),
        ("5M", 300),
        ("-5s", -5),
    ],
)
def test_parse_duration_accepts(text, seconds):
    assert cli.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "m", "5x", "5 minutes", "1e3", "inf", "nan", "5mm", "--5s"])
def test_parse_duration_rejects(text):
    with pytest.raises(cli.UsageError, match="not a duration"):
        cli.parse_duration(text, "leeway")


def test_parse_duration_rejects_overflow():
    with pytest.raises(cli.UsageError, match="out of range"):
        cli.parse_duration("99999999999d", "access_token_ttl")


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("On", True), ("yes", True), ("1", True), ("false", False), ("OFF", False), ("no", False), ("0", False)],
)
def test_parse_bool_accepts(text, value):
    assert cli.parse_bool(text) is value


@pytest.mark.parametrize("text", ["", "maybe", "2", "enabled"])
def test_parse_bool_rejects(text):
    with pytest.raises(cli.UsageError, match="not a boolean"):
        cli.parse_bool(text, "detect_reuse")


def test_parse_settings_reads_each_kind():
    overrides = cli.parse_settings(["leeway=30s", "detect-reuse=off", "issuer=https://as.example"])
    assert overrides == {"leeway": timedelta(seconds=30), "detect_reuse": False, "issuer": "https://as.example"}


def test_parse_settings_last_value_wins():
    assert cli.parse_settings(["leeway=10", "leeway=20"]) == {"leeway": timedelta(seconds=20)}


def test_parse_settings_unknown_field_lists_fields():
    with pytest.raises(cli.UsageError) as caught:
        cli.parse_settings(["access_ttl=5m"])
    message = str(caught.value)
    assert "access_ttl" in message
    assert "did you mean access_token_ttl" in message
    assert "refresh_token_idle_ttl (duration)" in message


def test_parse_settings_rejects_item_without_equals():
    with pytest.raises(cli.UsageError, match="FIELD=VALUE"):
        cli.parse_settings(["leeway"])


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"leeway": timedelta(seconds=-1)}, "negative"),
        ({"leeway": timedelta(minutes=2)}, "cap"),
        ({"reuse_grace": timedelta(minutes=5)}, "cap"),
        ({"access_token_ttl": timedelta(0)}, "positive"),
        ({"issuer": ""}, "non-empty"),
    ],
)
def test_check_policy_reports_constraint(overrides, fragment):
    with pytest.raises(cli.UsageError, match=fragment):
        cli._check_policy({}, overrides)


def test_check_policy_combines_scenario_policy():
    with pytest.raises(cli.UsageError, match="rotate_refresh_tokens"):
        cli._check_policy({"rotate_refresh_tokens": False}, {"reuse_grace": timedelta(seconds=10)})


@pytest.mark.parametrize(("value", "text"), [(timedelta(days=30), "30d"), (timedelta(minutes=5), "5m"), (timedelta(seconds=90), "90s")])
def test_format_duration_picks_largest_unit(value, text):
    assert cli.format_duration(value) == text


# -- inspect: tokens from the engine ----------------------------------------


def test_inspect_shows_header_and_claims(capsys, system_clock):
    pair = make_authority(system_clock).issue("alice", client_id="app", scope="read write")
    code, out, _ = inspect_output(capsys, pair.access_token)

    assert code == 0
    assert "NOTHING WAS VERIFIED" in out
    assert json.dumps(jwt.get_unverified_header(pair.access_token), indent=2) in out
    assert json.dumps(jwt.decode(pair.access_token, options={"verify_signature": False}), indent=2) in out


def test_inspect_shows_event_fingerprint(capsys, system_clock):
    authority = make_authority(system_clock)
    pair = authority.issue("alice", client_id="app", scope="read")
    _, out, _ = inspect_output(capsys, pair.access_token)

    issued = authority.events.of_kind("issued")
    access_event = next(event for event in issued if event.token_type == "access_token")
    assert f"Fingerprint: {access_event.token} " in out


def test_inspect_shows_time_left(capsys, system_clock):
    pair = make_authority(system_clock).issue("alice", client_id="app", scope="read")
    system_clock.advance(seconds=61)
    _, out, _ = inspect_output(capsys, pair.access_token)

    # The default lifetime is 5 minutes, and 61 seconds have passed.
    assert "exp  2026-01-05 09:05:00 UTC  (3m 59s left)" in out
    assert "iat  2026-01-05 09:00:00 UTC  (1m 1s ago)" in out


def test_inspect_es256_token_has_no_warnings(capsys, system_clock):
    pair = make_authority(system_clock, "ES256").issue("alice", client_id="app", scope="read")
    _, out, _ = inspect_output(capsys, pair.access_token)
    assert "Warnings: none found" in out


def test_inspect_shows_time_since_expiry(capsys, system_clock):
    pair = make_authority(system_clock).issue("alice", client_id="app", scope="read")
    system_clock.advance(hours=2)
    code, out, _ = inspect_output(capsys, pair.access_token)

    assert code == 0
    assert "(expired 1h 55m 0s ago)" in out


def test_inspect_notes_hs256_shared_secret(capsys, system_clock):
    pair = make_authority(system_clock, "HS256").issue("alice", client_id="app", scope="read")
    _, out, _ = inspect_output(capsys, pair.access_token)
    assert "shared secret" in out


def test_inspect_warns_long_lifetime(capsys, system_clock):
    authority = make_authority(system_clock, access_token_ttl=timedelta(days=400))
    pair = authority.issue("alice", client_id="app", scope="read")
    _, out, _ = inspect_output(capsys, pair.access_token)
    assert "exp lies 400d 0h 0m 0s after iat" in out


def test_inspect_refresh_token_is_opaque(capsys, system_clock):
    pair = make_authority(system_clock).issue("alice", client_id="app", scope="read")
    code, out, err = inspect_output(capsys, pair.refresh_token)

    assert code == 1
    assert "opaque token (a refresh token?), which has no readable content" in err
    assert tl.fingerprint(pair.refresh_token) in err
    assert out == ""


def test_inspect_never_prints_refresh_token(capsys, system_clock):
    pair = make_authority(system_clock).issue("alice", client_id="app", scope="read")
    _, out, err = inspect_output(capsys, pair.refresh_token)
    assert pair.refresh_token not in out + err


# -- inspect: crafted tokens ------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_inspect_warns_alg_none(capsys, system_clock, alg):
    token = craft_token({"alg": alg, "typ": "at+jwt"}, {"sub": "mallory", "exp": 1767604200})
    code, out, _ = inspect_output(capsys, token)

    assert code == 0
    assert f'alg is "{alg}": the token is unsigned' in out
    assert "Signature: 0 bytes" in out


@pytest.mark.parametrize("name", ["jku", "jwk", "x5u", "x5c"])
def test_inspect_warns_key_locating_header(capsys, system_clock, name):
    header = {"alg": "RS256", "typ": "at+jwt", name: "https://attacker.example/keys"}
    token = craft_token(header, {"sub": "mallory", "exp": 1767604200}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert f"the header has '{name}'" in out


@pytest.mark.parametrize("kid", ["../../dev/null", "keys/prod", "C:\\keys\\a", "a\x00b"])
def test_inspect_warns_kid_with_path_characters(capsys, system_clock, kid):
    token = craft_token({"alg": "RS256", "typ": "at+jwt", "kid": kid}, {"exp": 1767604200}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert "contains path characters" in out


def test_inspect_accepts_plain_kid(capsys, system_clock):
    token = craft_token({"alg": "RS256", "typ": "at+jwt", "kid": "demo-rs256"}, {"exp": 1767604200}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert "path characters" not in out


def test_inspect_warns_missing_exp(capsys, system_clock):
    token = craft_token({"alg": "RS256", "typ": "at+jwt"}, {"sub": "alice"}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert "there is no exp claim" in out


@pytest.mark.parametrize(("header", "fragment"), [({"alg": "RS256", "typ": "JWT"}, 'typ is "JWT"'), ({"alg": "RS256"}, "there is no typ header")])
def test_inspect_warns_typ_not_at_jwt(capsys, system_clock, header, fragment):
    _, out, _ = inspect_output(capsys, craft_token(header, {"exp": 1767604200}, b"sig"))
    assert fragment in out


def test_inspect_accepts_application_at_jwt(capsys, system_clock):
    token = craft_token({"alg": "RS256", "typ": "application/AT+JWT"}, {"exp": 1767604200}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert "typ" not in out.split("Warnings")[1]


def test_inspect_warns_exp_far_from_now(capsys, system_clock):
    token = craft_token({"alg": "RS256", "typ": "at+jwt"}, {"exp": 253402300799}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert "after now" in out
    assert "years" in out


def test_inspect_warns_duplicate_member(capsys, system_clock):
    token = craft_token('{"alg": "RS256", "typ": "at+jwt", "alg": "none"}', {"exp": 1767604200}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert 'header member "alg" appears twice' in out


@pytest.mark.parametrize("value", ["tomorrow", True, 1e300])
def test_inspect_reports_unusable_exp(capsys, system_clock, value):
    token = craft_token({"alg": "RS256", "typ": "at+jwt"}, {"exp": value}, b"sig")
    code, out, _ = inspect_output(capsys, token)
    assert code == 0
    assert "is not a usable NumericDate" in out


def test_inspect_escapes_control_characters(capsys, system_clock):
    token = craft_token({"alg": "RS256", "typ": "at+jwt"}, {"sub": "\x1b[2J\u202eevil", "exp": 1767604200}, b"sig")
    _, out, _ = inspect_output(capsys, token)
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "\\u001b[2J\\u202eevil" in out


# -- inspect: malformed input -----------------------------------------------


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("abc.def", "three dot-separated segments"),
        ("a.b.c.d", "three dot-separated segments"),
        ("a.b.c.d.e", "encrypted JWT (JWE)"),
        ("not a token", "this is not a JWT"),
        (craft_token({"alg": "RS256"}, "[1, 2]"), "payload segment is a JSON array, not an object"),
        (craft_token({"alg": "RS256"}, "{not json"), "payload segment is not valid JSON"),
        (craft_token({"typ": "at+jwt"}, {"exp": 1}), "alg"),
        (b64url(b'{"alg":"RS256"}') + ".e30.si+g", "signature segment is not valid base64url"),
        (b64url(b'{"alg":"RS256"}') + ".ab$c.sig", "payload segment is not valid base64url"),
        (b64url(b'{"alg":"RS256"}') + "." + b64url(b"\xff\xfe") + ".sig", "not UTF-8"),
        ("!!!." + b64url(b"{}") + ".sig", "cannot read the token"),
    ],
)
def test_inspect_rejects_malformed_token(capsys, token, fragment):
    code, out, err = inspect_output(capsys, token)
    assert code == 1
    assert fragment in err
    assert out == ""


def test_inspect_rejects_empty_argument(capsys):
    code, _, err = inspect_output(capsys, "   ")
    assert code == 1
    assert "empty" in err


def test_inspect_malformed_in_subprocess():
    result = run_module("inspect", "abc.def.ghi")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr


# -- inspect: stdin ---------------------------------------------------------


def test_inspect_reads_stdin_in_subprocess():
    # The subprocess reads the real system clock, so the token is issued at the current time.
    clock = tl.SimulatedClock(tl.SystemClock().now())
    pair = make_authority(clock).issue("alice", client_id="app", scope="read")
    result = run_module("inspect", "-", stdin=pair.access_token + "\n")

    assert result.returncode == 0
    assert '"sub": "alice"' in result.stdout
    assert "left)" in result.stdout


def test_inspect_expired_in_subprocess():
    clock = tl.SimulatedClock(tl.SystemClock().now() - timedelta(days=1))
    pair = make_authority(clock).issue("alice", client_id="app", scope="read")
    result = run_module("inspect", pair.access_token)

    assert result.returncode == 0
    assert "(expired 23h 55m" in result.stdout


def test_inspect_reads_text_stdin(capsys, monkeypatch, system_clock):
    pair = make_authority(system_clock).issue("alice", client_id="app", scope="read")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"Bearer {pair.access_token}\n"))
    code, out, _ = inspect_output(capsys, "-")
    assert code == 0
    assert '"jti": "at-1"' in out


def test_inspect_rejects_empty_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\n")))
    code, _, err = inspect_output(capsys, "-")
    assert code == 1
    assert "stdin is empty" in err


def test_inspect_rejects_binary_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe.a.b")))
    code, _, err = inspect_output(capsys, "-")
    assert code == 1
    assert "not ASCII" in err


# -- lab --------------------------------------------------------------------


@pytest.fixture
def hide_jupyterlab(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = cli.importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "jupyterlab":
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(cli.importlib.util, "find_spec", find_spec)


@pytest.fixture
def forbid_launch(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record, instead of running, any command the lab command would start."""
    launched: list[list[str]] = []

    def execv(path, argv):
        launched.append(list(argv))
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execv", execv)
    monkeypatch.setattr(cli.subprocess, "call", lambda argv: launched.append(list(argv)) or 0)
    return launched


def test_lab_dry_run_prints_jupyter_command(capsys, forbid_launch):
    notebooks = Path(tl.__file__).resolve().parents[1] / "notebooks"
    if not notebooks.is_dir():
        pytest.skip("not running from a source checkout with a notebooks/ directory")

    assert cli.main(["lab", "--dry-run"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [sys.executable, "-m", "jupyter", "lab", str(notebooks)]
    assert forbid_launch == []


def test_lab_dry_run_opens_given_dir(capsys, tmp_path, forbid_launch):
    assert cli.main(["lab", "--dry-run", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split()[-1] == str(tmp_path)


def test_lab_without_dry_run_starts_same_command(tmp_path, forbid_launch):
    with pytest.raises(SystemExit):
        cli.main(["lab", "--dir", str(tmp_path)])
    assert forbid_launch == [[sys.executable, "-m", "jupyter", "lab", str(tmp_path)]]


def test_lab_missing_jupyterlab_prints_install(capsys, hide_jupyterlab, forbid_launch):
    assert cli.main(["lab", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "JupyterLab is not installed" in err
    assert '-m pip install -e ".[lab]"' in err
    assert forbid_launch == []


def test_lab_install_command_outside_checkout(capsys, monkeypatch, tmp_path, hide_jupyterlab):
    monkeypatch.setattr(cli, "source_root", lambda: tmp_path)
    cli.main(["lab", "--dry-run"])
    assert 'pip install "tokenlab[lab]"' in capsys.readouterr().err


def test_lab_missing_notebooks_names_source(capsys, monkeypatch, tmp_path, forbid_launch):
    monkeypatch.setattr(cli, "source_root", lambda: tmp_path)
    assert cli.main(["lab", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert f"no notebooks directory at {tmp_path / 'notebooks'}" in err
    assert "source repository" in err


def test_lab_rejects_missing_dir(capsys, tmp_path, forbid_launch):
    assert cli.main(["lab", "--dry-run", "--dir", str(tmp_path / "absent")]) == 1
    assert "is not a directory" in capsys.readouterr().err


# -- scenarios --------------------------------------------------------------


def test_scenarios_lists_names_and_summaries(capsys):
    assert cli.main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = scenarios.list_scenarios()

    assert len(lines) == len(expected)
    column = max(len(scenario.name) for scenario in expected) + 2
    for line, scenario in zip(lines, expected):
        assert line[:column].rstrip() == scenario.name
        assert line[column:] == scenario.summary


def test_console_script_lists_scenarios():
    executable = Path(sys.executable).with_name("tokenlab")
    if not executable.exists():
        pytest.skip("the tokenlab console script is not installed next to this Python")
    result = subprocess.run([str(executable), "scenarios"], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0
    assert result.stdout.split()[0] == scenarios.list_scenarios()[0].name


# -- run --------------------------------------------------------------------


def test_run_prints_every_step_note(capsys):
    assert cli.main(["run", "happy-path"]) == 0
    out = capsys.readouterr().out
    for step in scenarios.get_scenario("happy-path").steps:
        assert step.note in out


def test_run_prints_every_timeline_line(capsys):
    cli.main(["run", "stolen-refresh-token"])
    out = capsys.readouterr().out
    result = scenarios.run_scenario("stolen-refresh-token")
    for line in timeline.format_timeline(result.events).splitlines():
        assert line in out
    assert timeline.summarize(result.events) in out


def test_run_output_repeats_exactly(capsys):
    cli.main(["run", "rotation"])
    first = capsys.readouterr().out
    cli.main(["run", "rotation"])
    assert capsys.readouterr().out == first


def test_run_set_changes_policy(capsys):
    assert cli.main(["run", "access-expiry", "--set", "access_token_ttl=10m"]) == 0
    out = capsys.readouterr().out
    assert "Policy changed with --set: access_token_ttl=10m" in out
    assert "access token of F1, expires in 10 min" in out
    assert "expires in 5 min" not in out


def test_run_unknown_scenario_suggests_match(capsys):
    assert cli.main(["run", "rotaton"]) == 2
    err = capsys.readouterr().err
    assert "'rotaton'" in err
    assert "did you mean 'rotation'" in err


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("leeway=2m", "above the cap of 60 s"),
        ("reuse_grace=-1s", "must not be negative"),
        ("access_token_ttl=0", "must be positive"),
        ("lifetime=5m", "the fields are: access_token_ttl (duration)"),
        ("detect_reuse=maybe", "not a boolean"),
        ("access_token_ttl=soon", "not a duration"),
        ("access_token_ttl=3000000d", "longer than the 36500d"),
        ("refresh_token_ttl=36501d", "longer than the 36500d"),
        ("leeway", "not FIELD=VALUE"),
    ],
)
def test_run_bad_set_exits_2(capsys, setting, fragment):
    assert cli.main(["run", "happy-path", "--set", setting]) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("name", ["timeline.pdf", "timeline", "timeline.png.txt"])
def test_run_bad_plot_suffix_exits_2(capsys, tmp_path, name):
    assert cli.main(["run", "happy-path", "--plot", str(tmp_path / name)]) == 2
    assert ".png or .svg" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_run_plot_missing_directory_exits_2(capsys, tmp_path):
    assert cli.main(["run", "happy-path", "--plot", str(tmp_path / "absent" / "t.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_plot_writes_svg(capsys, tmp_path):
    path = tmp_path / "timeline.SVG"
    assert cli.main(["run", "rotation", "--plot", str(path)]) == 0

    data = path.read_bytes()
    assert data.startswith(b"<?xml")
    assert b"<svg" in data[:1000]
    assert f"saved to {path}" in capsys.readouterr().out


def test_run_plot_writes_png_in_subprocess(tmp_path):
    path = tmp_path / "timeline.png"
    result = run_module("run", "key-rotation", "--plot", str(path))

    assert result.returncode == 0
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_run_without_plot_skips_matplotlib():
    code = "import sys; from tokenlab.cli import main; main(['run', 'rotation']); print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "False"


def test_run_step_error_exits_1(capsys, monkeypatch):
    real_step = scenarios.ScenarioRun.step

    def step_failing_second(run):
        if run.position == 1:
            raise tl.ConfigurationError("no token labelled 'RT9' has been issued in this run")
        return real_step(run)

    monkeypatch.setattr(scenarios.ScenarioRun, "step", step_failing_second)
    assert cli.main(["run", "happy-path"]) == 1

    captured = capsys.readouterr()
    steps = scenarios.get_scenario("happy-path").steps
    assert steps[0].note in captured.out
    assert f"step 2 of happy-path ({steps[1].note!r}) could not run" in captured.err
    assert "'RT9'" in captured.err


def test_run_on_ascii_terminal_has_no_traceback():
    result = run_module("run", "rotation", env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
