"""Fixtures for the browser tests: one headless `streamlit run dashboard.py`
per module on a free loopback port, over an empty work folder (its first visit
serves the starter model that ships with the app), and Debian's Chromium
driven by Playwright's sync API.

This folder has an ``__init__.py`` on purpose: without it pytest imports this
file as the top-level module ``conftest``, replacing ``tests/conftest.py`` in
``sys.modules``, and every ``from conftest import ...`` in tests/ then fails.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.common import CHROMIUM, Server, chromium_options

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
# The README's screenshots: refreshed in docs/ only when asked (MNIST_LAB_DOCS=1 pytest -m browser),
# so that a test run leaves the checkout as it was.
DOCS = ROOT / "docs" if os.environ.get("MNIST_LAB_DOCS") else ARTIFACTS / "docs"
HEALTH_TIMEOUT = 60.0  # seconds for the server to answer /_stcore/health
VIEWPORT = {"width": 1400, "height": 1000}
# A phone as a visitor's is: its size, touch, and a phone's user agent (Streamlit closes its sidebar
# once a page is picked only where the user agent says "mobile"; without it the sidebar stayed over
# the page on coming back, and a finger drew on the sidebar).
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2,
         "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/156.0.0.0 Mobile Safari/537.36"}


@contextlib.contextmanager
def run_server(workdir: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`streamlit run dashboard.py`, headless, on 127.0.0.1 and a free port,
    with ``workdir`` as MNIST_LAB_DIR and its output in ``log``; stopped
    when the block ends, whatever happens in it."""
    with Server(workdir, log=log, env=env) as srv:
        try:
            srv.wait_healthy(HEALTH_TIMEOUT)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"streamlit did not start: {exc}")
        yield srv


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module, over an empty work folder: its first visit
    makes the starter model that ships with the app current
    (``model.lab.starter``), as on any fresh lab."""
    workdir = tmp_path_factory.mktemp("browser_lab")
    log = tmp_path_factory.mktemp("browser_server") / "streamlit.log"
    # Background trainings take at least 4 s an epoch, on any machine: a test
    # that watches a training's progress sees it running (model.training.callbacks.Pace).
    pace = os.environ.get("MNIST_LAB_MIN_EPOCH_S") or "4"  # set it to run the suite at another pace
    with run_server(workdir, log, env={"MNIST_LAB_MIN_EPOCH_S": pace}) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for one module: closed before other test
    files run, so Playwright's event loop never outlives the browser tests.
    Missing Chromium skips the browser tests on a developer machine and
    fails them under CI."""
    in_ci = bool(os.environ.get("CI"))
    if not Path(CHROMIUM).exists():
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
        b = p.chromium.launch(**chromium_options())
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
BENIGN_DEEP_LINK_PROBE = re.compile(r"^https?://127\.0\.0\.1:\d+/[a-z]+/_stcore/(health|host-config)$")


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
            print(f"server log tail ({server.log}):\n{server.log_tail(30)}", flush=True)
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
    if figures:  # merged with what the other pytest-xdist worker wrote
        from model.files import read_json, write_json

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / "timings.json"
        try:
            known = read_json(path) if os.environ.get("PYTEST_XDIST_WORKER") else {}
        except (OSError, ValueError):
            known = {}
        write_json(path, {**(known if isinstance(known, dict) else {}), **figures})


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

