"""Fixtures for the browser tests: a private JupyterLab server, Debian's Chromium driven by Playwright, and run notebooks.

The server runs on a free loopback port with no token and no password, in
a temporary root folder that contains a copy of ``notebooks/``. Its config,
data, runtime, settings and workspace folders are temporary too, so nothing
from the user's own Jupyter setup changes what the tests see, and the news
and update checks, which would fetch from the internet, are off.

Every browser context blocks each request that is not addressed to
127.0.0.1, localhost or ::1, and counts it. Each test asserts the count is
zero, since the course must work offline.

Chromium comes from Debian (``apt-get install chromium``), never from
``playwright install``. Without ``/usr/bin/chromium`` (or the binary named
in ``TOKENLAB_CHROMIUM``) the tests fail when the environment variable
``CI`` is set and are skipped otherwise.

Screenshots go to the folder in ``TOKENLAB_SCREENSHOT_DIR``, or to a new
temporary folder; the last lines of the pytest run name it. The three in
``tests/browser/screenshots/`` are widget screenshots from such a run,
reduced to 64 colours with Pillow (``Image.quantize(colors=64)``) for the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
CHROMIUM = Path(os.environ.get("TOKENLAB_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium; ``TOKENLAB_CHROMIUM`` names another Chromium or Chrome binary."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    # A second guard besides the request blocking: Chromium resolves no host name but the loopback ones.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1280, "height": 900}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

SERVER_START_TIMEOUT = 120
"""Seconds to wait for JupyterLab to respond. It started within 6 s on a shared 2-core machine; the rest is margin."""
SERVER_STOP_TIMEOUT = 30
"""Seconds JupyterLab gets to shut its kernels down after SIGTERM before it is killed."""
KERNEL_TIMEOUT = 120
"""Seconds to wait for a notebook's kernel to start, and again for all its cells to run."""
EXPECT_TIMEOUT_MS = 30_000
"""How long a Playwright ``expect`` waits for a widget to show a change; each change is one kernel round trip."""

ANNOUNCEMENTS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
PROMPT_NUMBER = re.compile(r"\[(\d+)\]:")
PROMPTS_JS = (
    "[...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]"
    ".map(prompt => prompt.textContent.trim())"
)
"""A JavaScript expression for the prompts of all code cells, such as "[3]:", "[*]:" (queued or running) or "[ ]:"."""
KERNEL_IDLE = re.compile(r"\| Idle$")
"""The end of the status bar's kernel item, "Python 3 (ipykernel) | Idle", once the kernel is ready and not busy."""


def _missing(reason: str) -> None:
    """Fail under CI, where a skipped browser suite would have tested nothing; skip on a learner's machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (the environment variable CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(reason)


# -- screenshots -------------------------------------------------------------------------

_screenshot_dir: Path | None = None


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """The folder for screenshots: ``TOKENLAB_SCREENSHOT_DIR`` or a new temporary folder, kept after the run."""
    global _screenshot_dir
    chosen = os.environ.get("TOKENLAB_SCREENSHOT_DIR")
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="tokenlab-screenshots-"))
    _screenshot_dir = folder
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _screenshot_dir is not None:
        count = len(list(_screenshot_dir.glob("*.png")))
        terminalreporter.write_line(f"browser tests: {count} screenshot(s) in {_screenshot_dir}")


# -- JupyterLab ---------------------------------------------------------------------------


@dataclass
class LabServer:
    """A running JupyterLab server: its base URL, its root folder and its log file."""

    url: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's output, for failure messages."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _isolated_environment(base: Path) -> dict[str, str]:
    """Return the environment for JupyterLab, with every per-user Jupyter, IPython and matplotlib folder under ``base``."""
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
    }
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_TOKEN", "JUPYTER_PREFER_ENV_PATH")
    }
    for name, folder in folders.items():
        path = base / folder
        path.mkdir(parents=True, exist_ok=True)
        environment[name] = str(path)

    # page_config.json in the config folder is where `jupyter labextension disable` writes.
    page_config = base / "config" / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True, exist_ok=True)
    page_config.write_text(json.dumps({"disabledExtensions": {ANNOUNCEMENTS_PLUGIN: True}}))

    # By default JupyterLab skips rendering cells outside the viewport (CSS content-visibility), and
    # Playwright then finds no button or text in them. Rendering every cell costs little for these notebooks.
    notebook_settings = base / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    notebook_settings.parent.mkdir(parents=True, exist_ok=True)
    notebook_settings.write_text(json.dumps({"windowingMode": "none"}))
    return environment


def _wait_until_answering(server: LabServer, deadline: float) -> None:
    """Poll the server's status endpoint until it returns 200; fail with its log if it exits or times out."""
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        if server.process.poll() is not None:
            pytest.fail(
                f"JupyterLab exited with code {server.process.returncode} before responding; its output:\n"
                f"{server.log_tail()}",
                pytrace=False,
            )
        try:
            with no_proxy.open(f"{server.url}/api/status", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"JupyterLab did not respond at {server.url} within {SERVER_START_TIMEOUT} s; its output:\n"
                f"{server.log_tail()}",
                pytrace=False,
            )
        time.sleep(0.25)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab by its process id with SIGTERM, which shuts its kernels down; SIGKILL its process group if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The server leads its own process group (start_new_session), so this reaches its kernels too.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """Start JupyterLab on a free loopback port over a copy of notebooks/, and stop it at the end, also after a failure."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks")
    environment = _isolated_environment(base / "user")
    port = _free_loopback_port()
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        # CI runs as root; the server refuses to start as root without this.
        "--ServerApp.allow_root=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    log = base / "jupyterlab.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=root, env=environment, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = LabServer(url=f"http://127.0.0.1:{port}", root=root, log=log, process=process)
    try:
        _wait_until_answering(server, time.monotonic() + SERVER_START_TIMEOUT)
        yield server
    finally:
        _stop(process)


# -- Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright with a fresh temporary profile."""
    if not CHROMIUM.exists():
        _missing(f"Chromium not found at {CHROMIUM}; install it with `apt-get install chromium`")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("the Python package playwright is not installed; install the test extra: pip install -e '.[test]'")

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOOPBACK_HOSTS


# -- notebooks ---------------------------------------------------------------------------


@dataclass
class OpenNotebook:
    """A notebook open in its own browser context, with the requests that context tried to send off this machine."""

    name: str
    page: Any
    offsite_requests: list[str] = field(default_factory=list)
    failure: str | None = None
    """Why opening or running the notebook failed, or ``None`` once every cell ran."""


def _code_cell_sources(path: Path) -> list[str]:
    notebook = json.loads(path.read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _choose_menu(page: Any, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def _prompts(page: Any) -> list[str]:
    return page.evaluate(f"() => {PROMPTS_JS}")


def _error_texts(page: Any) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll(\".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']\")]"
        ".map(output => output.innerText)"
    )


class NotebookRunner:
    """Open each notebook in a fresh browser context, run all its cells, and keep the page for the widget tests."""

    def __init__(self, server: LabServer, browser: Any, screenshots: Path) -> None:
        self.server = server
        self.browser = browser
        self.screenshots = screenshots
        self._opened: dict[str, OpenNotebook] = {}

    def run(self, name: str) -> OpenNotebook:
        """Return ``name`` open with all cells run, running it on first use; fail if it did not run."""
        if name not in self._opened:
            self._opened[name] = self._open_and_run(name)
        notebook = self._opened[name]
        if notebook.failure is not None:
            pytest.fail(f"{name} did not run in JupyterLab: {notebook.failure}", pytrace=False)
        return notebook

    def screenshot(self, notebook: OpenNotebook, suffix: str = "") -> Path:
        """Save the page as ``<notebook stem><suffix>.png`` in the screenshot folder."""
        path = self.screenshots / f"{Path(notebook.name).stem}{suffix}.png"
        notebook.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        for notebook in self._opened.values():
            notebook.page.context.close()

    def _new_page(self, notebook: OpenNotebook) -> Any:
        context = self.browser.new_context(viewport=VIEWPORT)

        def block_offsite(route: Any) -> None:
            if _is_loopback(route.request.url):
                route.continue_()
            else:
                notebook.offsite_requests.append(route.request.url)
                route.abort()

        context.route("**/*", block_offsite)
        page = context.new_page()
        # context.route does not see WebSockets; these are counted here (kernels use ws://127.0.0.1).
        page.on("websocket", lambda socket: None if _is_loopback(socket.url) else notebook.offsite_requests.append(socket.url))
        return page

    def _open_and_run(self, name: str) -> OpenNotebook:
        notebook = OpenNotebook(name=name, page=None)
        notebook.page = self._new_page(notebook)
        try:
            notebook.failure = self._run_all_cells(notebook.page, name)
        except Exception as error:  # a Playwright timeout or a closed page: report it as this notebook's failure
            notebook.failure = f"{type(error).__name__}: {error}"
        return notebook

    def _run_all_cells(self, page: Any, name: str) -> str | None:
        """Open ``name``, clear its stored outputs, run all cells and wait for them; return why that failed, or ``None``."""
        sources = _code_cell_sources(self.server.root / "notebooks" / name)
        # Each notebook gets its own workspace, so that no page reopens another page's notebook; ?reset starts it empty.
        page.goto(f"{self.server.url}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}?reset")

        # The execution indicator reads "idle" before any kernel exists, so wait for the status bar's kernel status.
        page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for(timeout=KERNEL_TIMEOUT * 1000)
        # Fold the file browser away, as a learner with a small screen would, so the screenshots show more notebook.
        open_sidebar_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if open_sidebar_tab.count():
            open_sidebar_tab.click()
        prompts = _prompts(page)
        if len(prompts) != len(sources):
            return f"the page shows {len(prompts)} code cells, the file has {len(sources)}"

        # The stored outputs carry execution counts, so clear them first: a number seen afterwards is from this run.
        _choose_menu(page, "Edit", "Clear Outputs of All Cells")
        page.wait_for_function(f"() => ({PROMPTS_JS}).every(prompt => prompt === '[ ]:')")
        _choose_menu(page, "Run", "Run All Cells")
        # Run All marks every cell queued ([*]) at once; a short notebook may also be done before the first look.
        page.wait_for_function(
            f"() => ({PROMPTS_JS}).some(prompt => prompt === '[*]:') || ({PROMPTS_JS}).every(prompt => prompt !== '[ ]:')"
        )
        return self._wait_for_all_cells(page, sources, time.monotonic() + KERNEL_TIMEOUT)

    def _wait_for_all_cells(self, page: Any, sources: list[str], deadline: float) -> str | None:
        """Wait until no cell is queued or running; return why the run is incomplete, or ``None``."""
        # JupyterLab gives an empty code cell no execution count.
        expected = [bool(source.strip()) for source in sources]
        while True:
            prompts = _prompts(page)
            numbered = [PROMPT_NUMBER.fullmatch(prompt) is not None for prompt in prompts]
            if numbered == expected and kernel_is_idle(page):
                break
            if "[*]:" not in prompts and numbered != expected:
                # Nothing is queued any more, yet a cell has no number: Run All stopped at an error.
                missing = [index + 1 for index, (got, want) in enumerate(zip(numbered, expected)) if want and not got]
                errors = "\n".join(_error_texts(page)) or "(no error output shown)"
                return f"code cells {missing} (counting code cells from 1) did not run; error output:\n{errors}"
            if time.monotonic() > deadline:
                return f"not every cell ran within {KERNEL_TIMEOUT} s; prompts: {prompts}"
            time.sleep(0.2)

        numbers = [int(match.group(1)) for match in map(PROMPT_NUMBER.fullmatch, prompts) if match]
        if numbers != sorted(set(numbers)):
            return f"the execution counts do not increase from the first cell to the last: {numbers}"
        return None


def kernel_is_idle(page: Any) -> bool:
    """Return whether the status bar shows the notebook's kernel as idle (not starting, busy or disconnected)."""
    return page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).count() > 0


@pytest.fixture(scope="session")
def notebooks(browser: Any, lab_server: LabServer, screenshot_dir: Path) -> Iterator[NotebookRunner]:
    """The notebooks of the course, each run once in JupyterLab and kept open for the widget tests."""
    runner = NotebookRunner(lab_server, browser, screenshot_dir)
    try:
        yield runner
    finally:
        runner.close()
