"""Kept runs combined into an ensemble (``model.training.ensemble.combine``),
scored on MNIST's test set and kept as a run ``ensemble-<hash>`` itself.

    python -m model ensemble RUN RUN [RUN ...]           # keep the ensemble as a run, make it current
    python -m model ensemble RUN RUN --out ensemble.h5   # also save it there
    python -m model ensemble RUN RUN --no-current        # keep it without making it current

From Python::

    from model.lab.ensembles import ensemble_runs
    meta = ensemble_runs(["<key>", "<key>"])   # kept as run ensemble-<hash>, scored on the test set
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.lab import store
from model.serving.contract import InvalidModelError
from model.training.ensemble import EnsembleError, combine

PREFIX = "ensemble-"


def ensemble_key(keys: Sequence[str], owner: str | None = None) -> str:
    """The run key of the ensemble of ``keys`` (any order; one private run per owner)."""
    text = ",".join(sorted(set(keys)))
    if owner is not None:
        text += "\0owner\0" + owner
    return PREFIX + store.short_hash(text)


def load_member(key: str, root: Path | None = None):
    """Kept run ``key``'s model, checked (``load_classifier``). Raises EnsembleError."""
    from model.serving.predict import load_classifier

    if store.load_run_meta(key, root) is None:
        raise EnsembleError(f"no kept run {key}")
    folder = store.run_dir(key, root)
    path = folder / "model.keras"
    if not path.is_file():
        path = store.run_model_path(key, root)
    try:
        return load_classifier(path, name=f"run {key}", own=True)
    except InvalidModelError as exc:
        raise EnsembleError(str(exc)) from None


def ensemble_runs(keys: Sequence[str], root: Path | None = None, make_current: bool = True,
                  owner: str | None = None, test_data=None) -> dict[str, Any]:
    """Combine kept runs ``keys`` (at least 2 different ones), score the
    ensemble on MNIST's test set (``test_data``: another (images, labels)),
    and keep it as the run ``ensemble-<hash of the sorted keys>``; made the
    current model when ``make_current``. ``owner`` (the public demo's
    session) makes it a private run. Combining the same runs again returns
    the kept run. Returns its meta; raises ``EnsembleError``."""
    from model.serving.evaluate import test_metrics
    from model.training.fit import run_meta

    keys = list(dict.fromkeys(keys))  # in the given order, each once
    if len(keys) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 different kept runs, got {len(keys)}")
    metas = {}
    for key in keys:
        meta = store.load_run_meta(key, root)
        if meta is None:
            raise EnsembleError(f"no kept run {key}")
        metas[key] = meta
    key = ensemble_key(keys, owner)
    folder = store.run_dir(key, root)
    with store.file_lock(folder.with_suffix(".lock")):
        meta = store.load_run_meta(key, root)
        if meta is None:
            model = combine([load_member(k, root) for k in keys])
            described = " + ".join(metas[k].get("description", k) for k in keys)
            meta = run_meta(key, f"ensemble of {len(keys)}: {described}", model, test_metrics(model, test_data),
                            members=keys)
            if owner is not None:
                meta["owner"] = owner
            store.save_run(model, meta, root)
    if make_current:
        store.make_current(key, root)
    return meta
