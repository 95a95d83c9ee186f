"""What a training costs on this machine: the networks' measured paces, and
the estimate the pages show (``training_estimate``).

When a visitor sets up a network unlike every run kept here, the Train page's
estimate would extrapolate another network's pace (up to 2x off); it asks for
a probe instead (``model.training.probe``: a few real steps, seconds), run in a
process of its own by a background thread, one at a time, and kept in
``pace.json`` under the network's ``pace_key`` so it is measured once.

    from model.lab import pace
    pace.measure(config)        # True while a probe runs (its own started if needed)
    pace.probes()               # {pace_key: seconds a step}, for expected_wait
    pace.training_estimate(config)   # (seconds from the Train button to the result, its basis)

``MNIST_LAB_PROBE=0`` turns probing off (the estimate stays a first guess).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from model import settings
from model.files import read_json, write_json
from model.lab import db, store
from model.lab.runs import is_kept
from model.logs import first_line
from model.training.config import ConfigError, TrainConfig
from model.training.estimate import estimate_basis, expected_wait, pace_key

log = logging.getLogger("mnist_lab")

PACE_FILE = "pace.json"
PROBE_TIMEOUT_S = 120.0
PROBE_NICE = 10  # before the visitors' drawing, after nothing else; jobs train at 19

_lock = threading.Lock()
_running: dict[Path, str] = {}  # folder -> the pace key being probed (one probe at a time per folder)
_failed: set[tuple[Path, str]] = set()  # probes that failed in this process: not tried again
_then: dict[Path, set[Callable[[Path], None]]] = {}  # called with the folder when its probe ends


def _path(root: Path | None) -> Path:
    return (root or store.workdir()) / PACE_FILE


def probes(root: Path | None = None) -> dict[str, float]:
    """The step times measured here so far, by pace key ({} when none or unreadable)."""
    try:
        data = read_json(_path(root))
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and v > 0} \
        if isinstance(data, dict) else {}


def busy(root: Path | None = None) -> bool:
    """Is a network being probed for this folder now?"""
    return (root or store.workdir()).resolve() in _running


def measure(config: TrainConfig, root: Path | None = None, then: Callable[[Path], None] | None = None) -> bool:
    """Probe ``config``'s network in the background unless it was measured,
    its probe failed before, or a job is training here. True while a probe
    runs: its own, or another one before it (then its own starts at the next
    call once that ended). ``then(folder)``, a function, runs in the probe's
    thread when the running probe ends (for work that no page run would
    come back for, such as the demo's upgrade)."""
    if not settings.flag("MNIST_LAB_PROBE"):
        return False
    folder, key = (root or store.workdir()).resolve(), pace_key(config)
    with _lock:
        waiting = folder in _running
        if not waiting and ((folder, key) in _failed or key in probes(folder) or _training(folder)):
            return False
        if then is not None:
            _then.setdefault(folder, set()).add(then)
        if waiting:
            return True
        _running[folder] = key
    threading.Thread(target=_probe, args=(config, folder, key), daemon=True, name=f"probe-{key}").start()
    return True


def _training(folder: Path) -> bool:
    """Is a job running here? A probe then waits: beside a training it would
    take memory the demo may not have (2.7 GB on Community Cloud), and CPU."""
    try:
        with db.connect(folder) as conn:
            return conn.execute(sa.select(db.jobs.c.id).where(db.jobs.c.status == "running").limit(1)).first() \
                is not None
    except db.DatabaseUnavailable:
        return False


def _probe(config: TrainConfig, folder: Path, key: str) -> None:
    try:
        seconds = run_probe(config)
        with _lock:  # one writer per folder in this process; the file is replaced whole
            measured = probes(folder)
            measured[key] = seconds
            write_json(_path(folder), measured)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        log.warning("probing %s failed: %s", config.describe(), first_line(str(exc)))
        _failed.add((folder, key))
    finally:
        with _lock:
            _running.pop(folder, None)
            waiting = _then.pop(folder, set())
        for then in waiting:
            try:
                then(folder)
            except Exception:  # a background thread: nobody else would hear of it
                log.exception("after probing %s", config.describe())


def run_probe(config: TrainConfig) -> float:
    """Seconds a step of ``config``'s network takes here, from a probe in a
    process of its own (nice ``PROBE_NICE``, killed after ``PROBE_TIMEOUT_S``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "model.training.probe", json.dumps(config.to_dict())],
                          capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=env, check=False,
                          cwd=Path(__file__).resolve().parents[2], preexec_fn=lambda: os.nice(PROBE_NICE))
    if done.returncode != 0:
        raise ValueError(first_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                                    f"exit status {done.returncode}"))
    return float(json.loads(done.stdout.strip().splitlines()[-1])["step_seconds"])


# --- what a training costs here: the estimate the pages show --------------------------


def job_timings(root: Path | None = None, limit: int = 200) -> list[tuple[TrainConfig, float, float]]:
    """This machine's finished trainings that ran (not reused): ``(config,
    seconds from the Train button to the result, seconds of training)``.
    A job queued behind others counts from when it started, plus the runner's
    pick-up (at most 2 s)."""
    with db.connect(root) as conn:
        done = conn.execute(sa.select(db.jobs).where(db.jobs.c.kind == "train", db.jobs.c.status == "done")
                            .order_by(db.jobs.c.id.desc()).limit(limit)).all()
    out = []
    for job in done:
        result = job.result or {}
        if result.get("cached") or not result.get("train_seconds"):
            continue
        if job.started_at is None or job.finished_at is None or result.get("metrics") is None:
            continue
        try:
            config = TrainConfig.from_dict(job.params["config"])
        except (KeyError, TypeError, ValueError, ConfigError):
            continue
        waited = job.finished_at - job.started_at + min(2.0, max(0.0, job.started_at - job.created_at))
        out.append((config, waited, float(result["train_seconds"])))
    return out


def training_estimate(config: TrainConfig, root: Path | None = None,
                      kept: bool | None = None) -> tuple[float, str]:
    """``expected_wait`` and what it stands on (``estimate_basis``): "history"
    (kept runs like it), "probe" (its own steps, measured: ``measure``)
    or "guess" (a first guess: no network of its kind and size trained or
    probed here yet), from one read of the kept runs."""
    if kept is None:
        kept = is_kept(config, root)
    runs, measured = store.list_runs(root), probes(root)
    return (expected_wait(config, runs, job_timings(root), kept=kept, probes=measured),
            estimate_basis(config, runs, measured))
