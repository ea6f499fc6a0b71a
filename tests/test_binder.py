"""Rehearse Binder: build an environment from binder/ alone and run every notebook in it.

This is what mybinder.org does with the repository: install
binder/requirements.txt, run binder/postBuild from the repository root, then
open the notebooks. The test does the same in a fresh venv on a copy of the
tracked files, so a dependency missing from binder/ fails here first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def tracked_files() -> list[str]:
    output = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    return [name for name in output.split("\0") if name]


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (repository copy, venv bin folder) after the Binder build steps."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files Binder would see")

    base = tmp_path_factory.mktemp("binder")
    repo = base / "repo"
    for name in tracked_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, target)

    env_dir = base / "env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = str(bin_dir / "python")
    environ = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PIP_DISABLE_PIP_VERSION_CHECK="1")

    subprocess.run(
        [python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=repo, env=environ, check=True,
    )
    subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=environ, check=True)
    return repo, bin_dir


def test_binder_runtime_names_a_supported_python():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    major, minor = runtime.removeprefix("python-").split(".")[:2]
    assert (int(major), int(minor)) >= (3, 10)


def test_binder_requirements_are_pinned():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert requirements
    unpinned = [line for line in requirements if "==" not in line]
    assert unpinned == []


def test_binder_environment_imports_tokenlab(binder_env):
    repo, bin_dir = binder_env
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", "import tokenlab, tokenlab.widgets, tokenlab.timeline; print(tokenlab.__file__)"],
        cwd=repo.parent, check=True, capture_output=True, text=True,
    )
    assert str(repo) in result.stdout


def notebook_names() -> list[str]:
    return sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("name", notebook_names())
def test_binder_environment_runs_notebook(binder_env, name, tmp_path):
    repo, bin_dir = binder_env
    subprocess.run(
        [str(bin_dir / "python"), "-m", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=300", "--output-dir", str(tmp_path), f"notebooks/{name}"],
        cwd=repo, check=True, capture_output=True, text=True,
    )
    executed = json.loads((tmp_path / name).read_text())
    errors = [
        output.get("ename")
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
