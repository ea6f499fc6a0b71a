"""The ``tokenlab`` command line: list and run scenarios, inspect a JWT, open the notebooks.

``main(argv)`` returns the exit status instead of exiting, so tests can call it
directly: 0 on success, 1 when an operation failed (an unreadable token, a file
that cannot be written, JupyterLab missing), 2 on bad usage (an unknown
command, scenario or policy field, an invalid value). Errors are one message on
stderr that names the value and the fix, never a traceback.

Only ``run --plot`` needs matplotlib, and this module never imports it
itself. The scenario and timeline modules are imported only by the commands
that use them, so ``inspect`` and ``lab`` start quickly.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import difflib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import tokenlab

from .clock import DEFAULT_START, SystemClock, parse_instant
from .errors import ConfigurationError, InvalidToken, TokenlabError
from .fingerprints import fingerprint
from .keys import read_header
from .policy import TokenPolicy

PLOT_FORMATS = (".png", ".svg")
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
KEY_LOCATING_HEADERS = ("jku", "jwk", "x5u", "x5c")
TIME_CLAIMS = ("iat", "nbf", "exp")
MAX_ACCESS_TOKEN_LIFETIME = timedelta(days=1)
"""An access token living longer than this gets a warning; tokenlab's default lifetime is 5 minutes."""

MAX_SETTING_DURATION = timedelta(days=36500)
"""Maximum duration that --set accepts; far longer ones would put expiry times past the year 9999."""

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_OPAQUE_TOKEN = re.compile(r"[A-Za-z0-9_~+/=-]+")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([+-]?)((?:\d+(?:\.\d+)?[smhd])+|\d+(?:\.\d+)?)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
_TRUE_WORDS = ("true", "on", "yes", "1")
_FALSE_WORDS = ("false", "off", "no", "0")


class UsageError(Exception):
    """The command line is wrong: exit status 2, with the command's usage line."""


class CommandError(Exception):
    """The command was well formed but could not be carried out: exit status 1."""


# -- argument parsing -------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with its four subcommands."""
    parser = argparse.ArgumentParser(
        prog="tokenlab",
        description=(
            "Learn how OAuth 2.0 access tokens and refresh tokens work: run scenarios on a "
            "simulated clock, look inside a JWT, or open the course notebooks."
        ),
        epilog="Run 'tokenlab COMMAND --help' for the options of one command.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"tokenlab {tokenlab.__version__}")
    commands = parser.add_subparsers(dest="command", title="commands")
    commands.required = True

    scenarios = commands.add_parser(
        "scenarios",
        help="list the scenarios with a one-line summary each",
        description="List the scenarios that 'tokenlab run' can play, in teaching order.",
        allow_abbrev=False,
    )
    scenarios.set_defaults(handler=_cmd_scenarios, parser=scenarios)

    run = commands.add_parser(
        "run",
        help="run one scenario and print its timeline",
        description=textwrap.fill(
            "Run a scenario on a simulated clock that starts at 2026-01-05 09:00 UTC and print "
            "each step's note and the text timeline of what the authority did. Runs are "
            "deterministic: the same scenario and settings always print the same timeline.",
            width=80,
        ),
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    run.add_argument("name", metavar="NAME", help="scenario name, as 'tokenlab scenarios' lists it")
    run.add_argument(
        "--plot",
        metavar="FILE",
        type=Path,
        help="also draw the timeline and save it to FILE; the suffix picks the format (.png or .svg)",
    )
    run.add_argument(
        "--set",
        dest="settings",
        metavar="FIELD=VALUE",
        action="append",
        default=[],
        help="change one token policy field for this run (repeat for several), e.g. --set leeway=30s",
    )
    run.set_defaults(handler=_cmd_run, parser=run)

    inspect = commands.add_parser(
        "inspect",
        help="decode a JWT and show its header, claims and times, without verifying it",
        description=(
            "Decode a JWT access token and show its header and claims as JSON, its times in UTC "
            "against this computer's clock, and warnings about risky headers and claims. "
            "Nothing is verified: not the signature, not the issuer, not the audience. "
            "Only inspect tokens you made for the course; never paste a real token anywhere."
        ),
        epilog="Pass '-' to read the token from stdin, which keeps it out of your shell history.",
        allow_abbrev=False,
    )
    inspect.add_argument("token", metavar="TOKEN", help="the JWT (compact form), or '-' to read it from stdin")
    inspect.set_defaults(handler=_cmd_inspect, parser=inspect)

    lab = commands.add_parser(
        "lab",
        help="open the course notebooks in JupyterLab",
        description=(
            "Start JupyterLab on the course notebooks, in the notebooks/ folder of a tokenlab "
            "source checkout. JupyterLab comes with the 'lab' extra: pip install \"tokenlab[lab]\"."
        ),
        allow_abbrev=False,
    )
    lab.add_argument(
        "--dir",
        dest="directory",
        metavar="DIR",
        type=Path,
        help="open this directory instead of the notebooks/ directory next to the tokenlab package",
    )
    lab.add_argument(
        "--dry-run",
        action="store_true",
        help="print the command that would start JupyterLab, and do not start it",
    )
    lab.set_defaults(handler=_cmd_lab, parser=lab)

    return parser


def _run_epilog() -> str:
    lines = ["policy fields for --set (TokenPolicy default in brackets; a scenario may change some):"]
    for name, default in _policy_fields().items():
        lines.append(f"  {name:<24}{_field_kind(default)} [{_format_setting(default)}]")
    lines += [
        "",
        "durations: seconds, or a number with a unit s, m, h or d: 90, 90s, 5m, 2h, 30d, 1h30m",
        f"           (at most {format_duration(MAX_SETTING_DURATION)})",
        "booleans:  true/false, on/off, yes/no or 1/0",
        "",
        "examples:",
        "  tokenlab run rotation --set access_token_ttl=2m",
        "  tokenlab run stolen-refresh-token --set detect_reuse=off --plot stolen.png",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    _allow_unencodable_output()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits by itself after --help or --version (0) and on bad usage (2).
        return exc.code if isinstance(exc.code, int) else 2

    try:
        return args.handler(args)
    except UsageError as exc:
        args.parser.print_usage(sys.stderr)
        print(f"{args.parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"{args.parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{args.parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (as with '| head'); send the rest nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _allow_unencodable_output() -> None:
    """Print characters the terminal's encoding lacks (such as an arrow in a timeline) as escapes.

    Without this, a terminal set to ASCII or Latin-1 would end a run with a
    UnicodeEncodeError. UTF-8 streams are left unchanged.
    """
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding != "utf8" and reconfigure is not None:
            reconfigure(errors="backslashreplace")


# -- tokenlab scenarios -----------------------------------------------------


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from . import scenarios

    entries = scenarios.list_scenarios()
    width = max((len(entry.name) for entry in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.summary}")
    return 0


# -- tokenlab run -----------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    # Check everything that needs no scenario first, so a typo is reported at once.
    overrides = parse_settings(args.settings)
    plot_path = _check_plot_path(args.plot) if args.plot is not None else None

    from . import scenarios

    try:
        scenario = scenarios.get_scenario(args.name)
    except ConfigurationError as exc:
        raise UsageError(f"{exc.message}. Run 'tokenlab scenarios' to list them with a summary") from None
    _check_policy(scenario.policy, overrides)

    run = scenarios.ScenarioRun(scenario, **overrides)
    try:
        result = run.run()
    except TokenlabError as exc:
        # A step written for the scenario's own policy can fail under a changed one,
        # for example when it names a token that rotation would have issued. Print the
        # steps that ran, then the error.
        partial = scenarios.ScenarioResult(
            scenario=scenario, policy=run.policy, events=run.events, steps=list(run.results), now=run.now
        )
        print(format_run(partial, overrides))
        failed = run.position + 1
        raise CommandError(
            f"step {failed} of {scenario.name} ({scenario.steps[run.position].note!r}) could not run "
            f"with this policy: {exc.message}. The scenario's story needs settings close to its own; "
            "drop or change the --set values"
        ) from None
    print(format_run(result, overrides))

    if plot_path is not None:
        _save_plot(result, plot_path)
        print(f"\nTimeline figure saved to {plot_path}")
    return 0


def format_run(result: Any, overrides: Mapping[str, Any] | None = None) -> str:
    """Return what ``tokenlab run`` prints for a finished scenario run.

    ``result`` is a :class:`tokenlab.scenarios.ScenarioResult`. Each step's note
    and outcome is followed by the timeline lines of the events it recorded.
    """
    # NOTE: tokenlab.timeline imports matplotlib when it loads, so a run without
    # --plot loads matplotlib too, until timeline defers that import to its plot code.
    from . import timeline

    scenario = result.scenario
    lines = [scenario.title, scenario.summary, ""]
    lines.extend(textwrap.wrap(scenario.explanation, width=88))
    if overrides:
        changed = ", ".join(f"{name}={_format_setting(value)}" for name, value in overrides.items())
        lines.extend(["", f"Policy changed with --set: {changed}"])

    lines.extend(["", f"Steps, on a simulated clock starting {_utc_text(parse_instant(DEFAULT_START))}:"])
    timeline_lines = timeline.format_timeline(result.events).splitlines() if result.events else []
    if len(timeline_lines) == len(result.events):
        lines.extend(_interleave_steps(result.steps, timeline_lines))
    else:
        # NOTE: the interleaved layout needs one timeline line per event; if
        # format_timeline ever writes otherwise, the steps and the timeline are printed apart.
        lines.extend(_interleave_steps(result.steps, None))
        lines.extend(["", "Timeline:", *timeline_lines])

    lines.extend(["", f"Simulated time at the end: {_utc_text(result.now)}", f"Summary: {timeline.summarize(result.events)}"])
    return "\n".join(lines)


def _interleave_steps(steps: Sequence[Any], timeline_lines: Sequence[str] | None) -> list[str]:
    """List each step's note and outcome, followed by its events' lines from ``timeline_lines``."""
    lines = []
    position = 0
    number_width = len(str(len(steps)))
    indent = " " * (number_width + 4)
    for step in steps:
        lines.append(f"{step.index + 1:>{number_width}}. {step.display_note}")
        failed = "" if step.ok else "  [failed]"
        lines.append(f"{indent}-> {step.outcome}{failed}")
        if timeline_lines is not None:
            count = len(step.events)
            lines.extend(indent + "   " + line for line in timeline_lines[position : position + count])
            position += count
    return lines


def _save_plot(result: Any, path: Path) -> None:
    from . import timeline

    ax = timeline.plot_timeline(result.events, now=result.now)
    try:
        ax.figure.savefig(path, format=path.suffix.lower()[1:], bbox_inches="tight")
    except OSError as exc:
        raise CommandError(f"cannot write the figure to {path}: {exc.strerror or exc}") from None


def _check_plot_path(path: Path) -> Path:
    if path.suffix.lower() not in PLOT_FORMATS:
        found = f"the suffix '{path.suffix}'" if path.suffix else "no suffix"
        raise UsageError(
            f"--plot {path} has {found}; name the file with .png or .svg, for example --plot timeline.png"
        )
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: the directory {path.parent} does not exist; create it or pick another path")
    return path


# -- --set FIELD=VALUE ------------------------------------------------------


def _policy_fields() -> dict[str, Any]:
    """Return each TokenPolicy field name with its default; the default's type decides how --set parses a value."""
    return {field.name: field.default for field in dataclasses.fields(TokenPolicy)}


def _field_kind(default: Any) -> str:
    if isinstance(default, timedelta):
        return "duration"
    if isinstance(default, bool):
        return "true/false"
    return "text"


def _describe_fields() -> str:
    return ", ".join(f"{name} ({_field_kind(default)})" for name, default in _policy_fields().items())


def parse_settings(settings: Sequence[str]) -> dict[str, Any]:
    """Parse ``--set FIELD=VALUE`` items into TokenPolicy overrides.

    A later item for the same field wins. Raises :class:`UsageError` for an
    item without ``=``, an unknown field or a value of the wrong kind.
    """
    defaults = _policy_fields()
    overrides: dict[str, Any] = {}
    for item in settings:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise UsageError(f"--set {item!r} is not FIELD=VALUE; write it like --set leeway=30s")
        if name not in defaults:
            close = difflib.get_close_matches(name, defaults, n=3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise UsageError(f"unknown policy field {name!r} in --set {item}; {hint}the fields are: {_describe_fields()}")
        overrides[name] = _parse_value(name, text.strip(), defaults[name])
    return overrides


def _parse_value(name: str, text: str, default: Any) -> Any:
    if isinstance(default, timedelta):
        value = parse_duration(text, name)
        if value > MAX_SETTING_DURATION:
            raise UsageError(
                f"{name}={text} is longer than the {format_duration(MAX_SETTING_DURATION)} (100 years) that "
                "--set accepts; a lifetime that long only shows that the token never expires"
            )
        return value
    if isinstance(default, bool):
        return parse_bool(text, name)
    return text


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """Parse ``90``, ``90s``, ``5m``, ``2h``, ``30d`` or a sum such as ``1h30m`` into a timedelta.

    A bare number counts as seconds. A leading minus sign is accepted here so
    that the policy, which rejects negative durations, reports the constraint.
    """
    compact = text.replace(" ", "").lower()
    match = _DURATION.fullmatch(compact)
    if match is None:
        raise UsageError(
            f"{name}={text!r} is not a duration; give seconds or a number with a unit "
            "s, m, h or d, such as 90, 90s, 5m, 2h, 30d or 1h30m"
        )
    sign, body = match.groups()
    if body[-1] in _DURATION_UNITS:
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(body))
    else:
        seconds = float(body)
    try:
        value = timedelta(seconds=seconds)
    except OverflowError:
        raise UsageError(f"{name}={text!r} is out of range; a duration holds at most 999999999 days") from None
    return -value if sign == "-" else value


def format_duration(value: timedelta) -> str:
    """Write a duration in the largest unit that divides it exactly: 30d, 2h, 5m, 90s."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:g}s"


def parse_bool(text: str, name: str = "value") -> bool:
    """Parse true/false, on/off, yes/no or 1/0 (any casing) into a bool."""
    word = text.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise UsageError(f"{name}={text!r} is not a boolean; write true or false (also on/off, yes/no, 1/0)")


def _check_policy(scenario_policy: Any, overrides: dict[str, Any]) -> None:
    """Raise UsageError when the scenario's policy with ``overrides`` applied is invalid."""
    if not overrides:
        return
    try:
        TokenPolicy(**{**dict(scenario_policy), **overrides})
    except ConfigurationError as exc:
        settings_text = ", ".join(f"{name}={_format_setting(value)}" for name, value in overrides.items())
        raise UsageError(f"--set {settings_text} is not a valid policy: {exc.message}") from None


def _format_setting(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- tokenlab inspect -------------------------------------------------------


@dataclass(frozen=True)
class DecodedJwt:
    """The parts of a compact JWS, decoded but not verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signature_length: int
    fingerprint: str
    """The short hash by which tokenlab's events and error messages name the token."""
    duplicate_names: tuple[str, ...]
    """Member names that appear twice in the header or claims JSON."""


def _cmd_inspect(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    decoded = decode_jwt(token)
    print(format_inspection(decoded, SystemClock().now()))
    return 0


def _read_token(argument: str) -> str:
    if argument == "-":
        if sys.stdin.isatty():
            print("Paste the token, then press Enter and Ctrl-D:", file=sys.stderr)
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("ascii")
            except UnicodeDecodeError:
                raise CommandError("stdin contains bytes that are not ASCII; a JWT is base64url text") from None
        source = "stdin"
    else:
        raw = argument
        source = "the TOKEN argument"

    token = raw.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        raise CommandError(f"{source} is empty; give a JWT, or '-' and the JWT on stdin")
    return token


def decode_jwt(token: str) -> DecodedJwt:
    """Split and decode a compact JWS without checking its signature or any claim.

    Raises :class:`CommandError` with a clear message for an opaque token, an
    encrypted JWT (JWE), a wrong number of segments, bad base64url or JSON.
    """
    segments = token.split(".")
    if len(segments) == 1:
        if _OPAQUE_TOKEN.fullmatch(token):
            raise CommandError(
                "this looks like an opaque token (a refresh token?), which has no readable content; "
                "only the server that issued it can look it up (RFC 7662 introspection). "
                f"tokenlab's events name it by its fingerprint {fingerprint(token)}"
            )
        raise CommandError("this is not a JWT: a JWT is three base64url segments separated by dots")
    if len(segments) == 5:
        raise CommandError(
            "this has five segments, so it is an encrypted JWT (JWE); its content cannot be read "
            "without the recipient's key, and tokenlab only reads signed JWTs (three segments)"
        )

    try:
        read_header(token)
    except InvalidToken as exc:
        raise CommandError(f"cannot read the token: {exc.message}") from None

    duplicates: list[str] = []
    header = _decode_json_segment(segments[0], "header", duplicates)
    claims = _decode_json_segment(segments[1], "payload", duplicates)
    signature = _decode_segment(segments[2], "signature")
    return DecodedJwt(header, claims, len(signature), fingerprint(token), tuple(duplicates))


def _decode_segment(segment: str, name: str) -> bytes:
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise CommandError(
            f"the {name} segment is not valid base64url; a JWT segment uses only A-Z, a-z, 0-9, '-' and '_' "
            "(was the token cut off or copied with extra characters?)"
        )
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CommandError(f"the {name} segment is not valid base64url ({exc})") from None


def _decode_json_segment(segment: str, name: str, duplicates: list[str]) -> dict[str, Any]:
    raw = _decode_segment(segment, name)

    def collect_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(f"{name} member {json.dumps(key)}")
            seen[key] = value
        return seen

    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=collect_pairs)
    except UnicodeDecodeError:
        raise CommandError(f"the {name} segment decodes to bytes that are not UTF-8 text, so it is not JSON") from None
    except (ValueError, RecursionError) as exc:
        raise CommandError(f"the {name} segment is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        raise CommandError(f"the {name} segment is a JSON {kind}, not an object; a JWT header and payload are JSON objects")
    return value


def format_inspection(decoded: DecodedJwt, now: datetime) -> str:
    """Return the report ``tokenlab inspect`` prints, with times measured from ``now``."""
    lines = [
        "NOTHING WAS VERIFIED. This is what the token says about itself: the signature, the",
        "issuer and the audience were not checked, so anyone could have written these values.",
        "",
        "Header:",
        _pretty_json(decoded.header),
        "",
        "Claims:",
        _pretty_json(decoded.claims),
        "",
        f"Signature: {decoded.signature_length} bytes, not checked",
        f"Fingerprint: {decoded.fingerprint} (the name tokenlab's event log gives this token)",
        "",
        f"Times in UTC, measured against this computer's clock ({_utc_text(now)}):",
    ]
    lines.extend(_describe_times(decoded.claims, now))

    warnings = find_warnings(decoded, now)
    lines.append("")
    if warnings:
        lines.append("Warnings:")
        lines.extend(_bullet(text) for text in warnings)
    else:
        lines.append("Warnings: none found (which still does not make the token valid).")
    return "\n".join(lines)


def _pretty_json(value: dict[str, Any]) -> str:
    # json.dumps escapes C0 control characters, and ensure_ascii escapes every other
    # non-ASCII one (C1 controls, bidirectional overrides), so a crafted claim
    # cannot move the cursor or disguise text in the terminal.
    return json.dumps(value, indent=2, ensure_ascii=True)


def _bullet(text: str) -> str:
    return textwrap.fill(text, width=92, initial_indent="  - ", subsequent_indent="    ")


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _claim_time(value: Any) -> datetime | None:
    """Return a NumericDate claim as a UTC datetime, or None when it is not a usable number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _describe_times(claims: dict[str, Any], now: datetime) -> list[str]:
    lines = []
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        moment = _claim_time(claims[name])
        if moment is None:
            lines.append(f"  {name}  {json.dumps(claims[name])} is not a date: a NumericDate is seconds since 1970, before the year 10000")
            continue
        lines.append(f"  {name}  {_utc_text(moment)}  {_relative_time(name, moment, now)}")
    if not lines:
        lines.append("  the token has no iat, nbf or exp claim")
    return lines


def _relative_time(name: str, moment: datetime, now: datetime) -> str:
    if name == "exp":
        if moment <= now:
            return f"(expired {format_span(now - moment)} ago)"
        return f"({format_span(moment - now)} left)"
    if name == "nbf" and moment > now:
        return f"(not usable for another {format_span(moment - now)})"
    if moment > now:
        return f"({format_span(moment - now)} in the future)"
    return f"({format_span(now - moment)} ago)"


def format_span(span: timedelta) -> str:
    """Write a non-negative timedelta as '2d 3h 4m 5s', leaving out leading zero units.

    Two years or more are written in days with an approximate number of years.
    """
    total = int(span.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days >= 730:
        return f"{days}d (about {days / 365.25:.0f} years)"
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{amount}{unit}" for amount, unit in parts)


def find_warnings(decoded: DecodedJwt, now: datetime) -> list[str]:
    """Return one sentence for each risky header or claim in the token."""
    warnings = _algorithm_warnings(decoded.header)
    warnings += _key_header_warnings(decoded.header)
    warnings += _type_warnings(decoded.header)
    warnings += _expiry_warnings(decoded.claims, now)
    for name in decoded.duplicate_names:
        warnings.append(
            f"the {name} appears twice; JSON parsers disagree on which copy wins, "
            "so two verifiers can read different values from one token"
        )
    return warnings


def _algorithm_warnings(header: dict[str, Any]) -> list[str]:
    alg = header.get("alg")
    if not isinstance(alg, str):
        return []
    if alg.lower() == "none":
        return [
            f"alg is {json.dumps(alg)}: the token is unsigned, so anyone can write one. "
            "A verifier must reject 'none' in any casing"
        ]
    if alg.upper().startswith("HS"):
        return [
            f"alg {json.dumps(alg)} uses a shared secret (HMAC): every service that can verify this "
            "token can also mint new ones, and a short or guessable secret can be found offline from "
            "this one token. Prefer RS256 or ES256 when more than one service verifies"
        ]
    return []


def _key_header_warnings(header: dict[str, Any]) -> list[str]:
    warnings = []
    for name in KEY_LOCATING_HEADERS:
        if name in header:
            warnings.append(
                f"the header has {name!r}, which tells the verifier where to find the key; "
                "whoever made the token chose it, so a verifier must ignore it and use only keys "
                "it already trusts (a forger can point it at their own key)"
            )

    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        warnings.append(f"kid is a {type(kid).__name__}, not a string; a verifier should reject it")
    elif isinstance(kid, str) and _looks_like_path(kid):
        warnings.append(
            f"kid {json.dumps(kid)} contains path characters ('/', '\\', '..' or control characters); "
            "a verifier that builds a file name or query from kid could be led to the wrong key. "
            "kid should only select among the verifier's own keys"
        )
    return warnings


def _looks_like_path(kid: str) -> bool:
    return "/" in kid or "\\" in kid or ".." in kid or not kid.isprintable()


def _type_warnings(header: dict[str, Any]) -> list[str]:
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES:
        return []
    found = f"typ is {json.dumps(typ)}" if "typ" in header else "there is no typ header"
    return [
        f"{found}: an RFC 9068 access token has typ 'at+jwt', and a verifier that checks it "
        "cannot mistake an ID token or another JWT for an access token"
    ]


def _expiry_warnings(claims: dict[str, Any], now: datetime) -> list[str]:
    if "exp" not in claims:
        return ["there is no exp claim, so the token never expires: a leaked copy works forever"]

    expires = _claim_time(claims["exp"])
    if expires is None:
        return [f"exp {json.dumps(claims['exp'])} is not a usable NumericDate (seconds since 1970, before the year 10000)"]

    warnings = []
    issued = _claim_time(claims.get("iat"))
    lifetime = expires - issued if issued is not None else None
    remaining = expires - now
    if max(lifetime or timedelta(0), remaining) > MAX_ACCESS_TOKEN_LIFETIME:
        longest = max(lifetime or timedelta(0), remaining)
        warnings.append(
            f"exp lies {format_span(longest)} after {'iat' if longest == lifetime else 'now'}: access tokens "
            f"usually live minutes (tokenlab's default is 5 minutes), and a leaked one stays usable that long"
        )
    if issued is not None and issued > now:
        warnings.append(f"iat lies {format_span(issued - now)} in the future; the issuer's clock may be wrong")
    return warnings


# -- tokenlab lab -----------------------------------------------------------


def source_root() -> Path:
    """Return the directory above the tokenlab package: the repository root in a source checkout."""
    return Path(tokenlab.__file__).resolve().parents[1]


def _cmd_lab(args: argparse.Namespace) -> int:
    root = source_root()
    if importlib.util.find_spec("jupyterlab") is None:
        raise CommandError(
            "JupyterLab is not installed in this Python environment; install it with the 'lab' extra:\n"
            f"  {_install_command(root)}\nthen run 'tokenlab lab' again"
        )

    directory = args.directory if args.directory is not None else root / "notebooks"
    if not directory.is_dir():
        if args.directory is not None:
            raise CommandError(f"--dir {directory} does not exist or is not a directory; give the directory that contains the .ipynb files")
        raise CommandError(
            f"there is no notebooks directory at {directory}. The notebooks are in the notebooks/ directory of "
            "the tokenlab source repository, not in the installed package: clone the repository and "
            "run 'tokenlab lab' from that checkout, or pass the directory with --dir"
        )

    command = [sys.executable, "-m", "jupyter", "lab", str(directory)]
    if args.dry_run:
        print(shlex.join(command))
        return 0

    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        # Replace this process, so Ctrl-C reaches JupyterLab's own shutdown prompt.
        os.execv(sys.executable, command)
    return subprocess.call(command)


def _install_command(root: Path) -> str:
    pip = f"{shlex.quote(sys.executable)} -m pip install"
    if (root / "pyproject.toml").is_file():
        return f'cd {shlex.quote(str(root))} && {pip} -e ".[lab]"'
    return f'{pip} "tokenlab[lab]"'
