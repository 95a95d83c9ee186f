"""Kept models as a visitor manages them: the list (scores, size, date, what
made it), which one is current, deleting one, and what a training costs.
What a finished training becomes for its owner is ``model.lab.outcome``'s.

    from model.lab import models
    models.kept_models()                  # newest first, the current one marked
    models.estimate_wait(TrainConfig())   # seconds from the Train button to the result
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.lab import jobs, store
from model.lab.champion import accuracy
from model.lab.pace import job_timings, training_estimate
from model.lab.runs import is_kept  # noqa: F401 (the pages' name for it)
from model.training.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class KeptModel:
    key: str
    description: str
    accuracy: float | None
    loss: float | None
    size_bytes: int
    finished_at: str  # ISO 8601, UTC
    made_by: str  # "training", "upload", "ensemble", "search"…
    current: bool
    owner: str | None
    meta: dict[str, Any]

    @property
    def date(self) -> str:
        """The local date and time it was made, to the minute."""
        try:
            when = datetime.datetime.fromisoformat(self.finished_at).astimezone()
        except ValueError:
            return "?"
        return when.strftime("%Y-%m-%d %H:%M")


def made_by(meta: dict[str, Any]) -> str:
    if meta.get("members"):
        return "ensemble"
    if meta.get("config") is None:
        return "upload"
    return "training" + (" with drawings" if meta.get("drawings") else "")


def kept_models(root: Path | None = None, session: str | None = None) -> list[KeptModel]:
    """Every kept run, newest first (with ``session``: not other visitors' private ones)."""
    current = store.current_run(root)
    current_key = current.key if current else None
    out = []
    for meta in store.list_runs(root, session=session):
        key = meta.get("key")
        if not key:
            continue
        metrics = meta.get("metrics") or {}
        loss = metrics.get("test_loss")
        out.append(KeptModel(key=key, description=meta.get("description", key), accuracy=accuracy(meta),
                             loss=float(loss) if isinstance(loss, (int, float)) else None,
                             size_bytes=store.kept_run_bytes(key, root), finished_at=meta.get("finished_at", ""),
                             made_by=made_by(meta), current=key == current_key, owner=meta.get("owner"),
                             meta=meta))
    return out


class CannotDelete(ValueError):
    """The run can't be deleted; the message says why, in words."""


def delete(key: str, root: Path | None = None, session: str | None = None, demo: bool = False) -> None:
    """Delete kept run ``key``: never the current model nor a run a job is
    making; in the public demo only a visitor's own (``session``'s) runs."""
    meta = store.load_run_meta(key, root)
    if meta is None:
        return  # gone already
    if key in store.pinned_keys(root):
        raise CannotDelete("it is the current model: make another one current first")
    if key in jobs.running_keys(root):
        raise CannotDelete("a training is making it right now")
    if demo and (session is None or meta.get("owner") != session):
        raise CannotDelete("in the public demo you can delete only the models you uploaded")
    store.delete_run(key, root)


# --- what a training costs here ---------------------------------------------------


def busy() -> tuple[float, int] | None:
    """``(load average, cores)`` when other work keeps this machine busy (a
    one-minute load above its cores), else None. Jobs run at the lowest
    priority (nice 19), so then a training may take many times the estimate
    (bench.estimate: fast-cnn 181 s instead of 9 s at load 4.6 on 2 cores)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return (load, cores) if load > cores + 0.5 else None


def estimate_wait(config: TrainConfig, root: Path | None = None, kept: bool | None = None) -> float:
    """Seconds from the Train button to the result for ``config`` on this
    machine (``kept``: whether it was trained before; found out when None)."""
    return training_estimate(config, root, kept)[0]


def wait_in_line(before: int | None = None, root: Path | None = None, workers: int = 1) -> float:
    """Seconds until a job starts: what is left of the running jobs and the
    visitors' jobs queued before job ``before`` (None: before a new one), over
    ``workers``. The server's own yielding work steps aside (``jobs.YIELDING``)
    and is not counted."""
    import time

    total = 0.0
    for job in jobs.list_jobs(root, limit=200):
        if job.kind != "train" or not job.active or job.session in jobs.YIELDING:
            continue
        if job.status == "queued" and before is not None and job.id >= before:
            continue
        try:
            expected = estimate_wait(TrainConfig.from_dict(job.params["config"]), root, kept=False)
        except (KeyError, TypeError, ValueError, ConfigError):
            continue
        ran = time.time() - job.started_at if job.status == "running" and job.started_at else 0.0
        total += max(0.0, expected - ran)
    return total / max(1, workers)


def estimate_search(space, trials: int, epochs: int, subset: int, validation: float = 0.1,
                    root: Path | None = None) -> float:
    """Seconds a KerasTuner search (``model.lab.tuning``) of ``space`` (a
    ``SearchSpace``) should take here: every architecture, layer sizes and
    batch size it may pick, as likely as each other, on ``subset`` images
    less the validation part."""
    import dataclasses
    import itertools

    from model.training.estimate import search_seconds

    configs = []
    for architecture, hidden, filters, batch in itertools.product(
            space.architectures, space.hidden_units, space.conv_filters, space.batch_sizes):
        if architecture == "mlp" and filters != space.conv_filters[0]:
            continue  # an MLP has no convolutions: one config, not one per filter choice
        try:
            configs.append(dataclasses.replace(TrainConfig(), architecture=architecture, hidden_units=hidden,
                                               conv_filters=filters, batch_size=batch, epochs=epochs))
        except ConfigError:
            continue
    return search_seconds(configs, trials, int(subset * (1 - validation)), store.list_runs(root), job_timings(root))
