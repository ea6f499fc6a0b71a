"""The README's two commands are the ones CI and new users run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [line.strip() for line in text.splitlines() if line.startswith("    python3 -m venv")]


def test_readme_opens_with_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "jupyter lab notebooks/" in commands[0]
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci_script = (ROOT / ".ci" / "run").read_text()
    test_command = readme_commands()[1]
    ci_lines = [line.strip() for line in ci_script.splitlines()]
    assert test_command in ci_lines


def test_readme_commands_come_before_any_section():
    text = (ROOT / "README.md").read_text()
    first_section = re.search(r"^## ", text, flags=re.MULTILINE)
    assert first_section is not None
    assert text.index("python3 -m venv") < first_section.start()


def test_readme_first_session_runs_as_printed(capsys):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "'jti': 'at-1'" in printed
    assert "exp - the access token expired at 2026-01-05 09:05:00 UTC" in printed
    assert "TokenPair(access=AT2, refresh=RT2" in printed
