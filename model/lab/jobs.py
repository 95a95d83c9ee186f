"""Background jobs: trainings and searches that outlive the page that asked for them.

Streamlit stops a script run at the visitor's next click, so work that must
run to its end cannot run inside the page. A job is a row in the lab's
database (``model.lab.db``); a runner thread in the server starts each queued job,
first come first served, in a process of its own (``python -m model.lab.jobs ID``),
so a crash or an out-of-memory kill in training never takes the server down and
drawing stays responsive. The job's process writes its progress and a
heartbeat to its row; every session reads the rows. A second request for the
same work while it is queued or running joins it instead of training again.

Why a process per job and not a ``ProcessPoolExecutor``: a pool can neither
stop a running task (Cancel, the demo's time budget) nor tell a crash of one
task from a broken pool; ``subprocess`` gives both, and the queue lives in the
database, where a restarted server finds it (a job that was running when its
server died is reported as interrupted, never left "running").

A job tells the truth about itself. Its row holds a lease: the boot of the
machine and the identity (pid and start time, from ``/proc``) of the server
process that runs it and of the job's own process, so a restarted server
knows at its first read which jobs lost their process, and a new request
never joins a dead job (a server on another machine falls back to the
heartbeat). The job's process writes progress from a thread of its own: a
database that is locked, down or full skips a progress write (the next one
carries newer progress), never stops the training. Each ending names its
cause: cancelled, the time budget, a signal (out of memory only when the
kernel's cgroup counted an OOM kill), a full disk, the database.

    from model.lab import jobs
    job = jobs.submit_training(TrainConfig(epochs=1), session="abc")
    jobs.ensure_runner()            # once per server process
    jobs.get(job.id).status         # queued, running, done, failed, cancelled, interrupted
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from model import settings
from model.files import DiskFull, disk_full, disk_full_message
from model.lab import champion, db, outcome, starter, store
from model.lab.limits import LOCAL, Limits, current_limits
from model.logs import first_line
from model.training.config import ConfigError, TrainConfig, preset_config
from model.training.estimate import human, time_left

log = logging.getLogger("mnist_lab")

ROOT = Path(__file__).resolve().parents[2]  # the checkout: model/lab/ is two levels down
HEARTBEAT_S = 2.0
STALE_S = 30.0  # a running job with no heartbeat for this long has lost its process
POLL_S = 0.25
BACKOFF_MAX_S = 30.0  # a runner whose database is gone retries at most this far apart
PROGRESS_S = 0.5  # a job's process writes its progress at most this often
FINISH_PATIENCE_S = 120.0  # a job's process retries writing its ending this long
EX_TEMPFAIL = 75  # a job's exit status: it ended, but the database could not be told
TRAINING_NEED_BYTES = 100 * 2**20  # room a training's run needs when the model's size is unknown
IDLE_S = 60.0  # a runner with nothing to do for this long ends; the next page run starts another
# The starter: the shipped fast-cnn run (model.lab.starter), served at once; trained here only
# when the checkout has none or the owner names a preset (MNIST_LAB_WARMUP). fast-cnn trains in
# ~8 s (bfloat16; ~25 s in float32) and reads drawn digits far better than the MLP (bench/presets.py).
WARMUP_PRESET = starter.PRESET
WARMUP_SESSION = "server"
# The demo's stronger model, trained once in the background after the starter: the preset
# that reads real handwriting best (bench/RESULTS.md, "Reading handwriting through the Draw
# path"). MNIST_LAB_UPGRADE names another preset, or 0 for none.
UPGRADE_PRESET = "strong-cnn"
UPGRADE_SESSION = "server-upgrade"
# It serves within 5 minutes on any machine: fewer epochs where the preset's take longer (strong-cnn's
# 10 epochs took 657 s on an AMD EPYC without bfloat16, so 4 there; about 210 s on an Intel Xeon with
# bfloat16, so all 10 there). strong-cnn at 4 epochs: 99.55% on MNIST, and MNIST's test writers drawn on a canvas read
# at 99.50%, against the starter's 98.80% (bench/RESULTS.md).
UPGRADE_WITHIN_S = 5 * 60.0
MIN_UPGRADE_EPOCHS = 3
# The demo learns from its visitors: after RETRAIN_AFTER new corrections (MNIST_LAB_RETRAIN_AFTER;
# 0: only on the owner's click) a challenger trains with them and passes champion.gate or not.
RETRAIN_AFTER = 200
LEARN_SESSION = "server-learn"
LEARN_LOOK_S = 60.0  # how often a server process counts the new corrections
SERVER_SESSIONS = (WARMUP_SESSION, UPGRADE_SESSION, LEARN_SESSION)  # the server's own (no visitor budget)
YIELDING = (UPGRADE_SESSION, LEARN_SESSION)  # the server's own work that steps aside for a visitor's job


def _visitors(session) -> sa.ColumnElement[bool]:
    """A job of a visitor's (or a person's, locally), not one of the server's own."""
    return sa.or_(session.is_(None), session.not_in(SERVER_SESSIONS))
_upgrade_seen: set[Path] = set()  # work folders whose upgrade job this process has seen queued
_learn_next: dict[Path, float] = {}  # work folder -> when this process counts its new corrections again


class QueueFull(RuntimeError):
    """The job could not be queued; the message says why, in one line."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str
    params: dict[str, Any]
    session: str | None
    status: str
    message: str
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    cancel: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    position: int | None = None  # in the queue (1: next), for a queued job

    @property
    def active(self) -> bool:
        return self.status in db.ACTIVE

    @property
    def title(self) -> str:
        if self.kind == "train":
            return self.params.get("description") or TrainConfig.from_dict(self.params["config"]).describe()
        return self.params.get("description", "hyperparameter search")

    @property
    def fraction(self) -> float:
        """How far it got, from 0 to 1: trials finished, or training steps done."""
        p = self.progress or {}
        if self.kind == "tune":
            return min(1.0, p.get("trials_done", 0) / max(1, p.get("trials", 1)))
        if not p.get("step"):
            return 0.0
        return min(1.0, p["step"] / max(1, p["epochs"] * p["steps_per_epoch"]))

    def seconds_left(self, expected_total: float | None) -> float | None:
        """The smoothed time left of a running training expected to take
        ``expected_total`` seconds (``estimate.time_left``); None if unknown."""
        if expected_total is None or self.status != "running" or self.started_at is None:
            return None
        p = self.progress or {}
        trained = p.get("elapsed", 0.0) if p.get("step") else 0.0
        return time_left(expected_total, time.time() - self.started_at, self.fraction, trained)

    def where(self, seconds_left: float | None = None) -> str:
        """Where it stands, in one line (with the time left, when known)."""
        p = self.progress or {}
        if self.status == "queued":
            return f"queued: number {self.position} in line"
        if self.kind == "tune":
            return f"trial {p.get('trials_done', 0)}/{p.get('trials', '?')} finished"
        left = f" · {human(seconds_left)} left" if seconds_left is not None else ""
        if not p.get("step"):
            return f"starting: TensorFlow, the data and the model{left}"
        epoch, epochs = p["epoch"], p["epochs"]
        total = epochs * p["steps_per_epoch"]
        return f"epoch {min(epoch + 1, epochs)}/{epochs} · step {p['step']:,}/{total:,} · {p['elapsed']:.0f} s{left}"


def _job(row, position: int | None = None) -> Job:
    fields = {name: getattr(row, name) for name in Job.__dataclass_fields__ if name != "position"}
    return Job(**fields, position=position)


# --- asking for work ------------------------------------------------------------


def submit(kind: str, key: str, params: dict[str, Any], session: str | None = None,
           limits: Limits | None = None, root: Path | None = None) -> Job:
    """Queue a job, or join the queued or running job doing the same work
    (its result is then settled for this job's owners too: ``params["owners"]``).
    Raises ``QueueFull`` when the queue (or, in the demo, this session's
    share of it) is full."""
    limits = limits or current_limits()
    _mark_interrupted(root)  # a job whose process is gone is never joined
    for _ in range(3):
        with db.begin(root) as conn:
            same = conn.execute(sa.select(db.jobs).where(db.jobs.c.kind == kind, db.jobs.c.key == key,
                                                         db.jobs.c.status.in_(db.ACTIVE))).first()
            if same is not None:
                owners = [o for o in params.get("owners", []) if o not in same.params.get("owners", [])]
                if owners and same.params.get("make_current") == "settle":
                    conn.execute(db.jobs.update().where(db.jobs.c.id == same.id).values(
                        params={**same.params, "owners": [*same.params.get("owners", []), *owners]}))
                return get(same.id, root)
            queued = db.jobs.c.status == "queued"
            waiting = conn.execute(sa.select(sa.func.count()).where(queued)).scalar()
            if waiting >= limits.max_queue:
                raise QueueFull(f"the queue is full ({waiting} jobs waiting): try again in a few minutes")
            if limits.demo and session is not None:
                mine = conn.execute(sa.select(sa.func.count()).where(queued, db.jobs.c.session == session)).scalar()
                if mine >= limits.queued_per_session:
                    raise QueueFull("you already have a job waiting in this public demo: "
                                    "cancel it or wait until it starts")
            try:
                new_id = conn.execute(db.jobs.insert().values(
                    kind=kind, key=key, params=params, session=session, status="queued", message="",
                    cancel=False, created_at=time.time())).inserted_primary_key[0]
            except sa.exc.IntegrityError:  # someone queued the same work a moment ago: join it
                continue
        return get(new_id, root)
    raise QueueFull("the job queue is too busy right now: try again")


def submit_training(config: TrainConfig, session: str | None = None, make_current: bool | str | None = None,
                    limits: Limits | None = None, root: Path | None = None) -> Job:
    """Train ``config`` in the background (or join the job that already does).
    ``make_current``: by default ``"settle"``: where the job ends, the run
    becomes its owner's model if it scores at least as well as theirs, else it
    is kept (``model.lab.outcome``; the owner is the visitor, ``session``, in
    the public demo, and the lab's owner locally); True makes it the current
    model for everyone, False only keeps it."""
    from model.lab.runs import run_key

    limits = limits or current_limits()
    limits.check(config)
    if make_current is None:
        make_current = "settle"
    owner = outcome.owner(session, limits)
    params = {"config": config.to_dict(), "make_current": make_current, "description": config.describe()}
    if make_current == "settle":
        params["owners"] = [owner] if owner is not None else []
    key = run_key(config, root)  # with saved drawings, it names which ones too
    meta = store.load_run_meta(key, root)
    if meta is None:
        return submit("train", key, params, session, limits, root)
    # Trained before: nothing to run, the kept run is the result at once, and its outcome too.
    result = _train_result(meta, True)
    if make_current is True:
        store.make_current(key, root)
    elif make_current == "settle" and owner is not None:
        result["outcomes"] = {owner: outcome.settle(owner, key, root).to_dict()}
    now = time.time()
    with db.begin(root) as conn:
        job_id = conn.execute(db.jobs.insert().values(
            kind="train", key=key, params=params, session=session, status="done", cancel=False,
            message="these settings were trained before: the kept run is reused", result=result,
            created_at=now, started_at=now, finished_at=now)).inserted_primary_key[0]
    return get(job_id, root)


def _train_result(meta: dict[str, Any], cached: bool) -> dict[str, Any]:
    return {"run": meta["key"], "cached": cached, "metrics": meta["metrics"],
            "train_seconds": meta.get("train_seconds")}


def submit_search(search: dict[str, Any], description: str, session: str | None = None,
                  limits: Limits | None = None, root: Path | None = None) -> Job:
    """A KerasTuner search in the background: ``search`` holds ``space`` (a
    ``SearchSpace.to_dict()``), ``trials``, ``epochs`` and ``subset``."""
    limits = limits or current_limits()
    if not limits.tuning:
        raise QueueFull("hyperparameter search is off in this public demo")
    key = store.short_hash(json.dumps(search, sort_keys=True))
    return submit("tune", key, {**search, "description": description}, session, limits, root)


def _preset_named(variable: str) -> str | None:
    """The preset (``preset_config``: "NAME" or "NAME:EPOCHS") that the
    environment variable names, or None when it names none."""
    value = settings.text(variable)
    try:
        preset_config(value)
    except ConfigError:
        return None
    return value


def starter_preset() -> str:
    """The starter model's preset: ``MNIST_LAB_WARMUP`` when it names one (say
    "classic" on a slow machine), else ``WARMUP_PRESET``."""
    return _preset_named("MNIST_LAB_WARMUP") or WARMUP_PRESET


def trains_its_starter() -> bool:
    """Does this lab train its starter (the owner named a preset in
    ``MNIST_LAB_WARMUP``) rather than serve the shipped one (``model.lab.starter``)?"""
    return _preset_named("MNIST_LAB_WARMUP") is not None or starter.shipped_key() is None


def starter_key() -> str:
    """The kept run that is this lab's starter: the shipped one, or the one it trains."""
    return preset_config(starter_preset()).key() if trains_its_starter() else starter.shipped_key()


def ensure_warmup(root: Path | None = None, retry: bool = False) -> Job | None:
    """With no model at all, make a draw-ready one current: the shipped starter
    at once (``model.lab.starter``), or, when the owner named a preset in
    ``MNIST_LAB_WARMUP``, that preset trained once in the background. Returns
    that job, or None when there is a model (or one was made at once)."""
    if store.current_run(root) is not None:
        return None
    if not trains_its_starter():
        try:
            key = starter.seed(root)
            if key is not None:
                store.make_current(key, root)
                return None
        except OSError as exc:  # a full or read-only disk: the training below says so in one line
            log.warning("the shipped starter could not be kept: %s", exc)
    preset = starter_preset()
    config = preset_config(preset)
    if store.load_run_meta(config.key(), root) is not None:  # trained before: no job needed
        store.make_current(config.key(), root)
        return None
    for job in list_jobs(root=root, session=WARMUP_SESSION)[:1]:
        if job.active or (job.status == "failed" and not retry and time.time() - (job.finished_at or 0) < 60):
            return job  # don't retry a failing warm-up in a loop
    return submit("train", config.key(), {"config": config.to_dict(), "make_current": True,
                                          "description": f"the {preset} starter model"},
                  WARMUP_SESSION, LOCAL, root)


def upgrade_preset() -> str | None:
    """The preset the demo upgrades its starter to (``MNIST_LAB_UPGRADE``, "NAME"
    or "NAME:EPOCHS", e.g. "strong-cnn:4" where 10 epochs take too long; unset:
    ``UPGRADE_PRESET``; "0" or a name of no preset: no upgrade)."""
    if not settings.is_set("MNIST_LAB_UPGRADE"):
        return UPGRADE_PRESET
    return _preset_named("MNIST_LAB_UPGRADE")


def upgrade_config(preset: str, root: Path | None = None) -> TrainConfig | None:
    """What the demo's upgrade trains: ``preset`` ("NAME:EPOCHS": as the owner
    says), with its epochs cut so that it serves within ``UPGRADE_WITHIN_S``
    on this machine (a one-cycle recipe is complete at any length; at least
    ``MIN_UPGRADE_EPOCHS``), from the Train page's estimate. None while that
    estimate waits for its probe of the network's pace (``model.lab.pace``)."""
    from model.lab import pace

    config = preset_config(preset)
    if ":" in preset:
        return config
    seconds, basis = pace.training_estimate(config, root, kept=False)
    if basis == "guess" and pace.measure(config, root, then=_upgrade_after_probe):
        return None
    if seconds <= UPGRADE_WITHIN_S or config.epochs <= MIN_UPGRADE_EPOCHS:
        return config
    one = pace.training_estimate(dataclasses.replace(config, epochs=1), root, kept=False)[0]
    per_epoch = (seconds - one) / (config.epochs - 1)
    epochs = int((UPGRADE_WITHIN_S - (one - per_epoch)) // per_epoch) if per_epoch > 0 else config.epochs
    return dataclasses.replace(config, epochs=max(MIN_UPGRADE_EPOCHS, min(config.epochs, epochs)))


def _upgrade_after_probe(folder: Path) -> None:
    """Once the upgrade's probe is in: decide it now, not at some later page run."""
    if ensure_upgrade(folder) is not None:
        ensure_runner(folder)


def ensure_upgrade(root: Path | None = None) -> Job | None:
    """In the public demo, once the starter model serves: train the stronger
    preset (``upgrade_preset``) once, in the background; when done it
    replaces the starter only if it scores at least as well
    (``champion.settle``). Never with an owner-pinned model (it wins anyway),
    and never again once its job ended (a failure is the owner's to retry).
    Returns that job, or None. Cheap on every page run: a look at the
    current model, and the database only until this process saw the job."""
    preset = upgrade_preset()
    folder = (root or store.workdir()).resolve()
    if preset is None or folder in _upgrade_seen or store.pinned_model() is not None:
        return None
    current = store.current_run(root)
    if current is None or current.key != starter_key():
        return None  # no model yet, or no longer the starter
    job = next(iter(list_jobs(root=root, session=UPGRADE_SESSION)[:1]), None)
    if job is not None and not job.active:  # it ended (and was settled then): never again
        _upgrade_seen.add(folder)
        return None
    if job is None:
        config = upgrade_config(preset, root)
        if config is None:
            return None  # its pace is being measured (seconds): decided at a later page run
        if store.load_run_meta(config.key(), root) is not None:  # trained before: decide now
            champion.settle(config.key(), root)
            _upgrade_seen.add(folder)
            return None
        job = submit("train", config.key(), {"config": config.to_dict(), "make_current": "if_better",
                                             "description": f"the demo's stronger model ({preset}, "
                                                            f"{config.epochs} epochs)"},
                     UPGRADE_SESSION, LOCAL, root)
    _upgrade_seen.add(folder)
    return job


def retrain_after() -> int:
    """New corrections that start a retraining by themselves (0: never by themselves)."""
    return int(settings.number("MNIST_LAB_RETRAIN_AFTER"))


def challenger_config(root: Path | None = None) -> TrainConfig:
    """What a retraining trains: the current model fine-tuned with the saved
    drawings (``fine_tuning``: its own recipe from its weights, a few epochs;
    bench/learning.py), or, for a model without a recipe or weights to start
    from (an upload, an ensemble), the starter's recipe from scratch."""
    from model.training.config import DRAWINGS_WEIGHT, fine_tuning

    current = store.current_run(root)
    recipe = (current.meta or {}).get("config") if current is not None else None
    try:
        config = TrainConfig.from_dict(recipe) if isinstance(recipe, dict) else None
    except (ConfigError, TypeError, ValueError):
        config = None
    if config is not None and current.key and (store.run_dir(current.key, root) / "model.keras").exists():
        config = fine_tuning(config, current.key)
    else:
        config = preset_config(starter_preset())
    return dataclasses.replace(config, drawings_weight=config.drawings_weight or DRAWINGS_WEIGHT)


def submit_retraining(root: Path | None = None, why: str = "asked by the owner") -> Job:
    """Train a challenger on the visitors' corrections, in the background; when
    done it replaces the current model only past ``champion.gate``. Raises
    QueueFull when one is already waiting or running, and ConfigError when
    there is nothing new to learn (no drawings, or the same ones as before) or
    too few sessions' held-out drawings to judge it on (``champion.MIN_SESSIONS``)."""
    from model.lab.runs import training_drawings

    last = list_jobs(root=root, session=LEARN_SESSION, limit=5)
    if any(job.active for job in last):
        raise QueueFull("a retraining is already waiting or running")
    config = challenger_config(root)
    used = training_drawings(config, root, none="there are no saved drawings to learn from yet (the held-out "
                                               "fifth is never trained on)")
    sessions = champion.voters(root)
    if sessions < champion.MIN_SESSIONS:  # the gate would refuse whatever it learned
        raise ConfigError(f"held-out drawings of {sessions} visitor session(s) so far: a new model is judged on "
                          f"those of at least {champion.MIN_SESSIONS}, so nothing would replace the current one")
    key = config.key(drawings=used.digest())
    judged = last and last[0].status == "done" and last[0].params.get("drawings") == used.digest()
    if judged or store.load_run_meta(key, root) is not None:
        raise ConfigError("no new drawings since the last retraining: this one was trained and judged already")
    params = {"config": config.to_dict(), "make_current": "gate", "drawings": used.digest(),
              "description": f"retraining on the visitors' drawings ({why})"}
    return submit("train", key, params, LEARN_SESSION, LOCAL, root)


def ensure_retraining(root: Path | None = None) -> Job | None:
    """In the public demo: once ``retrain_after()`` corrections were saved
    since the last retraining (or since the first), start the next. Never
    with an owner-pinned model. Cheap on every page run: it counts at most
    once a minute per process."""
    after = retrain_after()
    folder = (root or store.workdir()).resolve()
    if not after or store.pinned_model() is not None or time.monotonic() < _learn_next.get(folder, 0.0):
        return None
    _learn_next[folder] = time.monotonic() + LEARN_LOOK_S
    last = next(iter(list_jobs(root=root, session=LEARN_SESSION, limit=1)), None)
    if last is not None and last.active:
        return None
    from model.lab.learning import new_corrections  # at most 40 an address; none before 3 addresses

    if new_corrections(last.created_at if last else 0.0, root=root) < after:
        return None
    try:
        return submit_retraining(root, why=f"{after} new corrections")
    except (QueueFull, ConfigError) as exc:
        log.info("no retraining: %s", exc)
        return None


def cancel(job_id: int, root: Path | None = None) -> None:
    """Cancel a job: a queued one never starts; a running one is stopped by its runner."""
    with db.begin(root) as conn:
        conn.execute(db.jobs.update().where(db.jobs.c.id == job_id, db.jobs.c.status == "queued")
                     .values(status="cancelled", message="cancelled before it started", finished_at=time.time()))
        conn.execute(db.jobs.update().where(db.jobs.c.id == job_id, db.jobs.c.status == "running")
                     .values(cancel=True))


# --- reading ----------------------------------------------------------------------


def get(job_id: int, root: Path | None = None) -> Job | None:
    jobs = list_jobs(root=root, ids=[job_id])
    return jobs[0] if jobs else None


def list_jobs(root: Path | None = None, session: str | None = None, ids: list[int] | None = None,
              limit: int = 20) -> list[Job]:
    """Jobs, newest first: all, or those of ``session`` and those with the
    given ``ids`` (either). A running job whose process stopped beating is
    reported as interrupted."""
    _mark_interrupted(root)
    query = sa.select(db.jobs).order_by(db.jobs.c.id.desc()).limit(limit)
    chosen = ([db.jobs.c.session == session] if session is not None else []) + \
        ([db.jobs.c.id.in_(ids)] if ids is not None else [])
    if chosen:
        query = query.where(sa.or_(*chosen))
    with db.connect(root) as conn:
        rows = conn.execute(query).all()
        queue = [r.id for r in conn.execute(sa.select(db.jobs.c.id).where(db.jobs.c.status == "queued")
                                            .order_by(db.jobs.c.id))]
    return [_job(r, queue.index(r.id) + 1 if r.id in queue else None) for r in rows]


def running_keys(root: Path | None = None) -> set[str]:
    """The run keys of the trainings queued or running: their files are in use."""
    with db.connect(root) as conn:
        rows = conn.execute(sa.select(db.jobs.c.key).where(db.jobs.c.kind == "train",
                                                           db.jobs.c.status.in_(db.ACTIVE)))
        return {r.key for r in rows}


def keep_within_quota(root: Path | None = None, limits: Limits | None = None) -> list[str]:
    """Evict the least recently used runs and uploads beyond the disk quota
    (never the current or demo model, never a queued or running job's run)."""
    limits = limits or current_limits()
    if not limits.disk_quota_bytes:
        return []
    protected = running_keys(root) | store.pinned_keys(root)
    return store.enforce_quota(limits.disk_quota_bytes, protected, root)


def _mark_interrupted(root: Path | None) -> None:
    """Every read calls this (each page run, each live refresh): it reads the
    running jobs' leases, and writes only when one has really lost its process."""
    with db.connect(root) as conn:
        running = conn.execute(sa.select(db.jobs.c.id, db.jobs.c.lease, db.jobs.c.heartbeat)
                               .where(db.jobs.c.status == "running")).all()
    lost = {row.id: why for row in running if (why := _lost(row.lease, row.heartbeat))}
    for job_id, why in lost.items():
        _update(job_id, root, "running", status="interrupted", finished_at=time.time(), message=why)


def _lost(lease: dict[str, Any] | None, heartbeat: float | None) -> str | None:
    """Why a running job has lost its process, or None while it has one. On
    this machine the lease answers at once: the server process that runs it
    is gone (its orphaned job process is stopped too); from elsewhere, the
    heartbeat stopped."""
    if lease and lease.get("boot") == BOOT and lease.get("runner"):
        if _alive(lease["runner"]):
            return None
        _stop_orphan(lease.get("job"))
        return "interrupted: the server restarted while it ran; start it again"
    if heartbeat is None or heartbeat < time.time() - STALE_S:
        return (f"interrupted: the server that ran it stopped or restarted (no sign of life for "
                f"{STALE_S:.0f} s); start it again")
    return None


# --- which process is which --------------------------------------------------------


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


BOOT = _boot_id()  # this boot of this machine: a pid means something only within it


def process_identity(pid: int) -> list[int] | None:
    """``[pid, start time]`` of a live process (its start in clock ticks since
    boot, from ``/proc/<pid>/stat``: a reused pid has another); None if there
    is no such live process, or no ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # a zombie has ended
        return None
    return [pid, int(fields[19])]


def _alive(identity: list[int] | None) -> bool:
    return bool(identity) and process_identity(identity[0]) == list(identity)


def _stop_orphan(identity: list[int] | None) -> None:
    """End a job's process whose server died (it would end itself within a
    heartbeat; this makes it at once, so its files can be cleaned)."""
    if _alive(identity):
        with contextlib.suppress(OSError):
            os.kill(identity[0], signal.SIGKILL)


def _oom_kills() -> int | None:
    """The kernel's count of out-of-memory kills in this process's cgroup
    (cgroup v2's ``memory.events``), None when it can't be read."""
    try:
        group = Path("/proc/self/cgroup").read_text().splitlines()[0].split("::", 1)[1]
        for line in Path(f"/sys/fs/cgroup{group}/memory.events").read_text().splitlines():
            name, value = line.split()
            if name == "oom_kill":
                return int(value)
    except (OSError, IndexError, ValueError):
        return None
    return None


def _update(job_id: int, root: Path | None, where_status: str | None = None, **values: Any) -> bool:
    query = db.jobs.update().where(db.jobs.c.id == job_id)
    if where_status is not None:
        query = query.where(db.jobs.c.status == where_status)
    with db.begin(root) as conn:
        return conn.execute(query.values(**values)).rowcount > 0


def _finish(job_id: int, root: Path | None, status: str, message: str = "", result: Any = None,
            **values: Any) -> bool:
    """End a running job (a no-op if something else ended it first)."""
    return _update(job_id, root, "running", status=status, message=message, result=result,
                   finished_at=time.time(), **values)


# --- the runner (a thread in the server) -----------------------------------------

_runners: dict[str, threading.Thread] = {}
_runners_lock = threading.Lock()


def ensure_runner(root: Path | None = None, workers: int | None = None) -> None:
    """Start this process's runner for the work folder, once. It runs
    ``workers`` jobs at a time (default: the limits', 1 on these 2 cores)."""
    url = db.database_url(root)
    with _runners_lock:
        thread = _runners.get(url)
        if thread is None or not thread.is_alive():
            if not _runners:  # this process's first runner: what a crash left is removed
                with contextlib.suppress(OSError):
                    store.remove_leftovers(root)
            runner = Runner(root, workers or current_limits().workers)
            thread = threading.Thread(target=runner.serve, name=f"mnist-lab-jobs:{url}", daemon=True)
            thread.start()
            _runners[url] = thread


class Runner:
    """Starts queued jobs (``workers`` at a time), watches them, and stops
    those cancelled or over the time budget; ``step`` does one round."""

    def __init__(self, root: Path | None, workers: int, limits: Limits | None = None) -> None:
        self.root = Path(root) if root is not None else store.workdir().resolve()
        self.workers = workers
        self.id = uuid.uuid4().hex
        self.running: dict[int, tuple[subprocess.Popen, float, int | None]] = {}  # proc, start, OOM kills then
        self.limits = limits or current_limits()
        self.failures = 0  # rounds in a row that failed: the back-off grows with them

    def serve(self) -> None:
        idle_since = time.time()
        while True:
            self._round()
            if self.running:
                idle_since = time.time()
            elif time.time() - idle_since > IDLE_S and not self.failures and self._retire():
                return
            time.sleep(self.pause())

    def _round(self) -> None:
        """One ``step``; a failure is logged once in one line (the traceback
        at debug level) until the database is back, and backs the runner off."""
        try:
            self.step()
        except Exception as exc:  # the database is busy, gone or full: try again later
            self.failures += 1
            if self.failures == 1:
                log.warning("job runner: %s (retrying, at most every %.0f s)", first_line(exc), BACKOFF_MAX_S)
            log.debug("job runner", exc_info=True)
        else:
            if self.failures:
                log.warning("job runner: working again after %d failed rounds", self.failures)
            self.failures = 0

    def pause(self) -> float:
        """Seconds to the next round: ``POLL_S``, doubling with each failed round up to ``BACKOFF_MAX_S``."""
        return min(BACKOFF_MAX_S, POLL_S * 2 ** min(self.failures, 16))

    def _retire(self) -> bool:
        """End this runner if no job waits (checked under the lock that
        ``ensure_runner`` takes, so a job queued meanwhile is never orphaned)."""
        url = db.database_url(self.root)
        with _runners_lock:
            try:
                with db.connect(self.root) as conn:
                    waiting = conn.execute(sa.select(sa.func.count()).where(db.jobs.c.status == "queued")).scalar()
            except db.DatabaseUnavailable:
                return False
            if waiting:
                return False
            _runners.pop(url, None)
            return True

    def step(self) -> None:
        for job_id, (proc, started, oom_before) in list(self.running.items()):
            job = get(job_id, self.root)
            if proc.poll() is not None:
                if job is not None and job.active:
                    self._ended(job, proc.returncode, oom_before)
                del self.running[job_id]
                self._tidy()
            elif job is None or job.cancel or job.status in ("cancelled", "interrupted"):
                self._stop(proc)
                _finish(job_id, self.root, "cancelled", "cancelled")
                self._discard_partial(job)
            elif (self.limits.job_seconds and job.session not in SERVER_SESSIONS
                  and time.time() - started > self.limits.job_seconds):  # the server's own jobs: no budget
                self._stop(proc)
                _finish(job_id, self.root, "failed", f"stopped after {self.limits.job_seconds // 60} minutes, "
                                                     "the time limit of a job in this public demo")
                self._discard_partial(job)
        self._make_way()
        while len(self.running) < self.workers:
            job_id = self._claim()
            if job_id is None:
                break
            try:
                self.running[job_id] = (self._start(job_id), time.time(), _oom_kills())
            except OSError as exc:  # e.g. no room for its log: it can't start
                _finish(job_id, self.root, "failed", f"failed: {_why(exc, self.root)}")

    def _make_way(self) -> None:
        """A fair line: with every worker busy and a visitor's job waiting, the
        server's own yielding work (the demo's upgrade, a retraining) is stopped
        and queued again behind it; it restarts from its beginning once the
        visitors' jobs are done (a stopped training keeps nothing half-made)."""
        if len(self.running) < self.workers:
            return
        yielding = {job_id: get(job_id, self.root) for job_id in self.running}
        yielding = {i: j for i, j in yielding.items() if j is not None and j.session in YIELDING}
        if not yielding:
            return
        with db.connect(self.root) as conn:
            waiting = conn.execute(sa.select(sa.func.count()).where(
                db.jobs.c.status == "queued", _visitors(db.jobs.c.session))).scalar()
        for job_id, job in list(yielding.items())[:waiting]:
            proc = self.running.pop(job_id)[0]
            requeued = {"status": "queued", "started_at": None, "heartbeat": None, "progress": None, "lease": None,
                        "pid": None, "runner": None, "message": "waiting: visitors' trainings go first"}
            _update(job_id, self.root, where_status="running", **requeued)  # queued before its process stops:
            self._stop(proc)  # never seen running without one
            _update(job_id, self.root, where_status="queued", progress=None)  # its last progress write, undone
            self._discard_partial(job)
            log.info("job %s (%s) yields to a visitor's job", job_id, job.title)

    def _ended(self, job: Job, code: int, oom_before: int | None) -> None:
        """The job's process ended without saying how: say it for it. A
        training whose run is complete on disk is done whatever the database
        let it write (it ends with ``EX_TEMPFAIL`` when it could not)."""
        meta = store.load_run_meta(job.key, self.root) if job.kind == "train" and code in (0, EX_TEMPFAIL) else None
        if meta is not None:
            _finish(job.id, self.root, "done", "done", _decide(job, meta, False, self.root))
        elif _finish(job.id, self.root, "interrupted" if _stopped(code) else "failed",
                     _crash_message(code, oom_before, _oom_kills())):
            self._discard_partial(job)

    def _claim(self) -> int | None:
        """Take the oldest queued job (atomic: two runners never take the same),
        leased to this process."""
        with db.begin(self.root) as conn:  # visitors' jobs first, then the server's own (_make_way)
            server_last = sa.case((_visitors(db.jobs.c.session), 0), else_=1)
            job_id = conn.execute(sa.select(db.jobs.c.id).where(db.jobs.c.status == "queued")
                                  .order_by(server_last, db.jobs.c.id).limit(1)).scalar()
            if job_id is None:
                return None
            now = time.time()
            lease = {"boot": BOOT, "runner": process_identity(os.getpid())}
            taken = conn.execute(db.jobs.update().where(db.jobs.c.id == job_id, db.jobs.c.status == "queued")
                                 .values(status="running", runner=self.id, started_at=now, heartbeat=now,
                                         lease=lease))
            return job_id if taken.rowcount else None

    def _start(self, job_id: int) -> subprocess.Popen:
        logs = self.root / store.RUNS / ".jobs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MNIST_LAB_DIR": str(self.root), "MNIST_LAB_DATABASE_URL": db.database_url(self.root),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with open(logs / f"{job_id}.log", "ab") as out:  # the details stay in the server's files
            proc = subprocess.Popen([sys.executable, "-m", "model.lab.jobs", str(job_id)], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lease = {"boot": BOOT, "runner": process_identity(os.getpid()), "job": process_identity(proc.pid)}
        _update(job_id, self.root, pid=proc.pid, lease=lease)
        return proc

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _discard_partial(self, job: Job | None) -> None:
        """A stopped training leaves no half-made run folder behind."""
        if job is not None and job.kind == "train":
            store.discard_incomplete_run(job.key, self.root)
            with contextlib.suppress(OSError):
                store.remove_leftovers(self.root)

    def _tidy(self) -> None:
        keep_within_quota(self.root, self.limits)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # what a server's shutdown sends its process group


def _stopped(code: int | None) -> bool:
    """Did the job's process end on a request to stop (the server shutting down), not a fault?"""
    return code is not None and -code in STOP_SIGNALS


def _crash_message(code: int | None, oom_before: int | None = None, oom_after: int | None = None) -> str:
    """Why a job's process ended on its own, as far as the kernel tells."""
    if _stopped(code):
        return (f"interrupted: the training process was stopped ({signal.Signals(-code).name}), as when the "
                "server shuts down; start it again")
    if code == EX_TEMPFAIL:
        return "failed: the lab's database was unavailable when the job ended; start it again"
    if code is not None and code < 0:
        number = -code
        name = signal.Signals(number).name if number in signal.valid_signals() else "unknown"
        if number == signal.SIGKILL:
            if oom_before is not None and oom_after is not None and oom_after > oom_before:
                return "failed: out of memory: the kernel stopped the training process (signal 9)"
            return "failed: the training process was killed (signal 9: out of memory or killed by hand)"
        return f"failed: the training process was killed by signal {number} ({name})"
    return f"failed: the training process stopped unexpectedly (exit code {code})"


def _why(exc: BaseException, root: Path | None) -> str:
    """An exception of a job as one whole line for the visitor."""
    if isinstance(exc, (DiskFull, db.DatabaseUnavailable)):
        return str(exc)
    folder = (root or store.workdir()) / store.RUNS
    if disk_full(exc, folder):
        return disk_full_message(folder.resolve(), TRAINING_NEED_BYTES)
    if type(exc).__name__ == "ResourceExhaustedError":
        return "out of memory: TensorFlow could not allocate a tensor (a smaller batch or model needs less)"
    return first_line(exc)


# --- the job's own process ----------------------------------------------------------


def run(job_id: int, root: Path | None = None) -> None:
    """Do job ``job_id`` here, writing progress, heartbeat and result to its
    row; exits ``EX_TEMPFAIL`` when the database could not be told how it ended."""
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    with contextlib.suppress(OSError):
        os.nice(19)  # the server's visitors (drawing) come first; training takes the idle CPU
    try:
        job = _patiently(lambda: get(job_id, root), 30)
    except db.DatabaseUnavailable:
        sys.exit(EX_TEMPFAIL)
    if job is None or job.status != "running":
        return
    writer = ProgressWriter(job_id, root, os.getppid())
    try:
        result = (_train if job.kind == "train" else _search)(job, root, writer.put)
    except Exception as exc:  # one line for the visitor; the details go to the job's log
        log.exception("job %s failed", job_id)
        ending = {"status": "failed", "message": f"failed: {_why(exc, root)}"}
    else:
        ending = {"status": "done", "message": "done", "result": result}
    writer.stop()
    extra = {"progress": writer.latest} if writer.latest is not None else {}
    try:
        _patiently(lambda: _finish(job_id, root, **ending, **extra), FINISH_PATIENCE_S)
    except db.DatabaseUnavailable:
        log.error("job %s ended (%s) but the database could not be told", job_id, ending["message"])
        sys.exit(EX_TEMPFAIL)


def _patiently(call, seconds: float):
    """``call()``, retried while the database is unavailable, for ``seconds`` at most."""
    deadline, pause = time.monotonic() + seconds, 0.5
    while True:
        try:
            return call()
        except db.DatabaseUnavailable as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("database unavailable (%s): retrying in %.0f s", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)


class ProgressWriter:
    """The job's progress and heartbeat, written by a thread of their own:
    the training only hands over its latest progress (``put``) and never waits
    for the database. A write that fails is skipped; the next one carries
    newer progress. It also ends this process if the server that started it
    is gone."""

    def __init__(self, job_id: int, root: Path | None, parent: int) -> None:
        self.job_id, self.root, self.parent = job_id, root, parent
        self.latest: dict[str, Any] | None = None
        self._written: dict[str, Any] | None = None
        self._beat = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="job-progress", daemon=True)
        self._thread.start()

    def put(self, progress: dict[str, Any], force: bool = False) -> None:
        self.latest = progress

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=db.BUSY_S + 2)

    def _serve(self) -> None:
        while not self._done.wait(PROGRESS_S):
            if os.getppid() != self.parent:
                os._exit(1)
            self.write()

    def write(self) -> None:
        latest, now = self.latest, time.time()
        if latest is self._written and now - self._beat < HEARTBEAT_S:
            return
        values = {"heartbeat": now} if latest is self._written else {"heartbeat": now, "progress": latest}
        try:
            _update(self.job_id, self.root, **values)
        except (db.DatabaseUnavailable, sa.exc.SQLAlchemyError) as exc:
            log.warning("progress not written (%s): the next write carries it", first_line(exc))
            return
        self._written, self._beat = latest, now


def _train(job: Job, root: Path | None, report) -> dict[str, Any]:
    from model.lab.runs import train
    from model.training.callbacks import ProgressCallback, paced

    config = TrainConfig.from_dict(job.params["config"])
    make_current = job.params.get("make_current", True)  # True, False, "settle", "if_better" or "gate"
    result = train(config, callbacks=[ProgressCallback(lambda p: report(p.to_dict()), PROGRESS_S), *paced()],
                   root=root, make_current=make_current is True)
    if make_current == "if_better":
        champion.settle(result.meta["key"], root)
    out = _decide(job, result.meta, result.cached, root)
    if make_current == "gate":
        out["verdict"] = champion.gate(result.meta["key"], root).to_dict()
        out["drawings"] = (result.meta.get("drawings") or {}).get("count")
    return out


def _decide(job: Job, meta: dict[str, Any], cached: bool, root: Path | None) -> dict[str, Any]:
    """A training job's result, with what it became for everyone who asked for
    it (``model.lab.outcome``; the job read again: people may have joined it):
    decided here, where the job ends, whichever process that is."""
    out = _train_result(meta, cached)
    if job.params.get("make_current") == "settle":
        owners = (get(job.id, root) or job).params.get("owners", [])
        out["outcomes"] = {owner: outcome.settle(owner, meta["key"], root).to_dict() for owner in owners}
    return out


def _search(job: Job, root: Path | None, report) -> dict[str, Any]:
    from model.data.mnist import load_mnist
    from model.lab.tuning import search
    from model.training.tune import SearchSpace

    rows: list[dict[str, Any]] = []
    trials = int(job.params["trials"])

    def progress(row: dict[str, Any]) -> None:
        rows.append(row)
        report({"trials_done": len(rows), "trials": trials, "rows": rows}, force=True)

    report({"trials_done": 0, "trials": trials, "rows": []}, force=True)
    x, y = load_mnist()[0]
    subset = int(job.params["subset"])
    result = search(SearchSpace.from_dict(job.params["space"]), max_trials=trials, epochs=int(job.params["epochs"]),
                    data=(x[:subset], y[:subset]), progress=progress, root=root)
    return {"table": _plain(result.table), "best_config": result.best_config.to_dict(),
            "best_trial": result.best_trial, "best_val_accuracy": result.best_val_accuracy, "reused": not rows}


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(rows, default=str))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(int(sys.argv[1]))
