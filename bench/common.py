"""What the benchmarks share: machine and load reporting, percentiles, verdicts,
temporary work folders, mouse strokes of a digit, the Streamlit server and
the headless Chromium that drives it.

Nothing here imports TensorFlow at module level (``cold_start`` and
``data_load`` time that import themselves)."""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# --- the machine -------------------------------------------------------------------


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_average() -> tuple[float, float, float]:
    with open("/proc/loadavg") as f:
        one, five, fifteen = (float(v) for v in f.read().split()[:3])
    return one, five, fifteen


def load_text() -> str:
    one, five, fifteen = load_average()
    busy = "  (BUSY: other work is running, timings may be inflated)" if one > 0.5 else "  (idle)"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {cores()} cores{busy}"


def load_short() -> str:
    return f"load {load_average()[0]:.2f}"


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{cores()} cores ({model}), CPU only, Python {platform.python_version()}"


def header(title: str, goal: str) -> None:
    """The first lines of every benchmark: what, goal, when, where, how busy."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"== {title}")
    print(f"goal: {goal}")
    print(f"date: {now}   machine: {machine()}")
    print(f"before: {load_text()}", flush=True)


def footer() -> None:
    print(f"after: {load_text()}", flush=True)


def verdict(ok: bool, text: str) -> None:
    print(f"VERDICT: {'PASS' if ok else 'FAIL'}: {text}", flush=True)


# --- statistics --------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float))) if len(values) else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else math.nan


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def latency_line(name: str, seconds: Sequence[float]) -> str:
    """n, p50, p95, min and max of some durations, in milliseconds."""
    if not len(seconds):
        return f"{name}: no samples"
    return (f"{name}: n={len(seconds)}  p50 {ms(percentile(seconds, 50))}  p95 {ms(percentile(seconds, 95))}"
            f"  min {ms(min(seconds))}  max {ms(max(seconds))}")


def polyline(stroke: Sequence[tuple[float, float]], step_px: float = 6.0) -> list[tuple[float, float]]:
    """A stroke's polyline with a point every ``step_px`` pixels (page coordinates): the mouse moves a pen makes."""
    out = [stroke[0]]
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step_px))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


def draw(page, strokes, move_ms: float = 0.0) -> int:
    """Draw the strokes with the mouse, one move every ``move_ms``; returns the number of moves."""
    moves = 0
    for stroke in strokes:
        path = polyline(stroke)
        page.mouse.move(*path[0])
        page.mouse.down()
        for x, y in path[1:]:
            t = time.perf_counter()
            page.mouse.move(x, y)
            moves += 1
            rest = move_ms / 1000 - (time.perf_counter() - t)
            if rest > 0:
                time.sleep(rest)
        page.mouse.up()
    return moves


def table(header_row: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width text table."""
    cells = [list(map(str, header_row))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header_row))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- work folders and models -------------------------------------------------------


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"mnist-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def train_into(root: Path, config=None):
    """Train ``config`` (default: the classic recipe) into a fresh work folder
    ``root``, so a server started with ``MNIST_LAB_DIR=root`` has a current model."""
    from model.lab.runs import train
    from model.logs import quiet_tensorflow
    from model.training.config import TrainConfig

    quiet_tensorflow()
    return train(config or TrainConfig(), root=root)


# --- drawn digits ------------------------------------------------------------------


def digit_strokes(box: dict[str, float], digit: int = 1) -> list[list[tuple[float, float]]]:
    """Mouse strokes (page coordinates) drawing ``digit`` upright and centred
    inside an element's bounding box, from ``model.data.strokes``' templates."""
    from model.data.strokes import CANVAS
    from model.data.strokes import digit_strokes as canvas_strokes

    return [[(box["x"] + x / CANVAS * box["width"], box["y"] + y / CANVAS * box["height"]) for x, y in stroke]
            for stroke in canvas_strokes(digit)]


# --- the Streamlit server ----------------------------------------------------------

SERVER_FLAGS = ["--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none", "--server.address", "127.0.0.1"]
LANDING_TEXT = "Draw a digit and see what the model reads"
CANVAS = ".draw canvas"  # the Draw page's canvas (app_pages/draw_canvas, in its component's shadow root)
# The digit read on the drawing now on the canvas (a reading that is not stale), in the browser or on the server
PREDICTION = ".draw[data-stale='0'] .what[data-digit] .digit"
EMPTY_CANVAS_TEXT = "Draw a digit"  # the canvas's reading while nothing is drawn
SEEN_TEXT = "What the model sees (28x28)"  # under the canvas once the server has the settled drawing

_FIND_JS = """const find = (root, sel, out) => {
    root.querySelectorAll(sel).forEach(e => out.push(e));
    root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) find(e.shadowRoot, sel, out); });
    return out;
  };"""

# Run before an action after which the page must settle again (a page switch): forgets
# the ready state, so READY_TO_DRAW_JS waits for its 300 ms of calm afresh.
MARK_CANVAS_OLD_JS = """() => {
  %s
  find(document, '.draw canvas', []).forEach(c => { c.__benchOld = true; });
  window.__benchReadyAt = '';
}""" % _FIND_JS

# True once the Draw page is ready for a new drawing, and has stayed so, with the
# canvas in the same place, for 300 ms: one canvas, not marked old by
# MARK_CANVAS_OLD_JS, whose component reads (its model loaded in the browser, or
# reading on the server), showing "Draw a digit", the script idle.
# For page.wait_for_function(READY_TO_DRAW_JS, polling=100), sync or async API.
READY_TO_DRAW_JS = """() => {
  %s
  const canvases = find(document, '.draw canvas', []);
  const boxes = find(document, '.draw', []);
  const running = document.querySelector('[data-testid="stStatusWidget"]') !== null;
  let where = '';
  if (canvases.length === 1 && !canvases[0].__benchOld && boxes.length === 1
      && ['browser', 'server'].includes(boxes[0].dataset.reader)
      && boxes[0].querySelector('.words').textContent.includes('%s')) {
    const r = canvases[0].getBoundingClientRect();
    if (r.width > 0) where = r.left + ',' + r.top;
  }
  const ok = where !== '' && !running;
  if (!ok || window.__benchReadyAt !== where) {
    window.__benchReadyAt = ok ? where : '';
    window.__benchReadySince = performance.now();
    return false;
  }
  return performance.now() - window.__benchReadySince >= 300;
}""" % (_FIND_JS, EMPTY_CANVAS_TEXT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run dashboard.py`` on a free loopback port, in its own
    process group, with ``MNIST_LAB_DIR`` = ``workdir`` and its output in
    ``log``. Use as a context manager: the server is always stopped at the
    end. The browser tests start theirs with it too."""

    def __init__(self, workdir: Path, port: int | None = None, log: Path | None = None,
                 env: dict[str, str] | None = None, app_dir: Path = ROOT) -> None:
        self.workdir, self.port = Path(workdir), port or free_port()
        self.app_dir = Path(app_dir)  # the checkout whose dashboard.py runs (another one: a "before" figure)
        self.env = env or {}  # e.g. MNIST_LAB_DEMO=1
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or Path(tempfile.mkstemp(prefix="mnist-bench-server-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None
        self.started = math.nan

    def start(self) -> Server:
        env = dict(os.environ, MNIST_LAB_DIR=str(self.workdir), PYTHONUNBUFFERED="1")
        env.pop("MNIST_LAB_DEMO", None)
        env.update(self.env)
        cmd = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(self.port),
               *SERVER_FLAGS]
        self._log = open(self.log, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=self.app_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                return r.status == 200 and r.read().strip() == b"ok"
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds from process start to the health endpoint answering ok."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.healthy():
                return time.perf_counter() - self.started
            time.sleep(0.02)
        raise TimeoutError(f"the server was not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def rss_mib(self) -> float:
        """The server process's resident memory (VmRSS), MiB."""
        return rss_mib(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM the server's own process group, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (its threads included), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


# --- Chromium ----------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_options() -> dict:
    """Keyword arguments for ``playwright.chromium.launch`` (sync or async API):
    Debian's Chromium, headless, loopback only."""
    return {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}
