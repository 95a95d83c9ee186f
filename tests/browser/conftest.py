"""Fixtures for the browser tests: one headless `streamlit run dashboard.py`
per module on a free loopback port, over an empty work folder, and Debian's
Chromium driven by Playwright's sync API.

This folder has an ``__init__.py`` on purpose: without it pytest imports this
file as the top-level module ``conftest``, replacing ``tests/conftest.py`` in
``sys.modules``, and every ``from conftest import ...`` in tests/ then fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HEALTH_TIMEOUT = 60.0  # seconds for the server to answer /_stcore/health
VIEWPORT = {"width": 1400, "height": 1000}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no server log: {exc})"


def _health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().decode(errors="replace").strip()
    except (urllib.error.URLError, OSError):
        return None


@dataclass
class Server:
    url: str
    port: int
    workdir: Path  # MNIST_LAB_DIR of the server: mnist_model.h5 and models/ live here
    log: Path


@contextlib.contextmanager
def run_server(workdir: Path, log: Path) -> Iterator[Server]:
    """`streamlit run dashboard.py`, headless, on 127.0.0.1 and a free port,
    with ``workdir`` as MNIST_LAB_DIR and its output in ``log``; stopped
    (terminate, then kill) when the block ends, whatever happens in it."""
    port = _free_port()
    env = dict(os.environ, MNIST_LAB_DIR=str(workdir), TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop("MNIST_LAB_DEMO", None)  # the local limits, whatever the caller's shell says
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard.py",
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--server.address", "127.0.0.1", "--server.port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while _health(url) != "ok":
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with code {proc.returncode} before answering "
                            f"{url}/_stcore/health; last lines of {log}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{url}/_stcore/health did not answer 'ok' within {HEALTH_TIMEOUT:.0f} s; "
                            f"last lines of {log}:\n{_tail(log)}")
            time.sleep(0.25)  # polling interval of a bounded wait, not a fixed delay
        yield Server(url=url, port=port, workdir=workdir, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module, over an empty work folder (no model yet)."""
    workdir = tmp_path_factory.mktemp("browser_lab")
    log = tmp_path_factory.mktemp("browser_server") / "streamlit.log"
    with run_server(workdir, log) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for one module: closed before other test
    files run, so Playwright's event loop never outlives the browser tests.
    Missing Chromium skips the browser tests on a developer machine and
    fails them under CI."""
    in_ci = bool(os.environ.get("CI"))
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (make chromium) to run the browser tests"
        if in_ci:
            pytest.fail(message + " (CI is set, so this is a failure)")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        if in_ci:
            pytest.fail(f"playwright is not installed: {exc}")
        pytest.skip(f"playwright is not installed (pip install -r requirements-dev.txt): {exc}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Console:
    """Console messages of type "error" and uncaught page errors, as seen."""
    errors: list[str] = field(default_factory=list)


# Streamlit's frontend, opened directly on a page's URL (/train, /evaluate,
# /draw), first probes that URL as a possible base path for its server
# endpoints: GET /<page>/_stcore/health and /<page>/_stcore/host-config answer
# 404, then it finds them at the root and carries on. Chromium logs each 404
# as a console error ("Failed to load resource ... 404"). It is a known
# Streamlit issue (streamlit/streamlit#7074), harmless, and only those exact
# two URLs under a page's path are ignored; the landing page, opened at "/",
# shows none of them.
BENIGN_DEEP_LINK_PROBE = re.compile(r"^https?://127\.0\.0\.1:\d+/(train|evaluate|draw)/_stcore/(health|host-config)$")


def real_errors(console: Console) -> list[str]:
    return [e for e in console.errors if not e.startswith("BENIGN ")]


@pytest.fixture
def page(browser, server, request):
    """A fresh browser context (a new Streamlit session) and page; console
    errors land in ``page.console``; a failed test leaves a screenshot."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    pg = context.new_page()
    console = Console()

    def on_console(msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        tag = "BENIGN " if (BENIGN_DEEP_LINK_PROBE.match(where) and "404" in msg.text) else ""
        console.errors.append(f"{tag}console error: {msg.text} (at {where})")

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: console.errors.append(f"page error: {exc}"))
    pg.console = console
    try:
        yield pg
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            try:
                pg.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"))
            except Exception as exc:  # a dead page must not hide the test's own failure
                print(f"no failure screenshot: {exc}", flush=True)
            print(f"server log tail ({server.log}):\n{_tail(server.log, 30)}", flush=True)
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


@pytest.fixture(scope="session")
def timings() -> Iterator[dict[str, float]]:
    """Time-to-interactive figures; written to test-artifacts/timings.json."""
    figures: dict[str, float] = {}
    yield figures
    if figures:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "timings.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

