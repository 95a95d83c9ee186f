"""Trained runs, kept: the same settings never train twice.

    from model.training.config import TrainConfig
    from model.lab.runs import train
    result = train(TrainConfig(epochs=1))
    result.metrics["test_accuracy"], result.path

Each run is kept under ``models/<key>/`` (``model.lab.store``) and training
again with the same config returns that run at once. A config with a
drawings weight trains with the saved drawings' training part
(``model.lab.drawings``), and which drawings is part of the run's key.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.lab import store
from model.training.config import ConfigError, TrainConfig
from model.training.fit import train_new


@dataclass
class TrainResult:
    model: Any  # keras.Model
    meta: dict[str, Any]  # config, metrics, history, timing, versions (the sidecar)
    path: Path  # the current model file, mnist_model.h5
    cached: bool  # True when an earlier run with the same settings was reused

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta["metrics"]

    @property
    def history(self) -> dict[str, list[float]]:
        return self.meta["history"]


NO_DRAWINGS = ("there are no saved drawings to train with yet (the held-out fifth is never trained on): "
               "save some on the Draw page, or turn the drawings weight to 0")


def training_drawings(config: TrainConfig, root: Path | None = None, none: str = NO_DRAWINGS):
    """The saved drawings' training part that ``config`` trains with (None
    when its drawings weight is 0); ConfigError (``none``) if there are none yet."""
    if not config.drawings_weight:
        return None
    from model.lab.drawings import TRAIN_PER_SESSION, collection

    used = collection("train", root, per_session=TRAIN_PER_SESSION)
    if not len(used):
        raise ConfigError(none)
    return used


def run_key(config: TrainConfig, root: Path | None = None) -> str:
    """The key of the run that training ``config`` now makes: its settings
    and, with drawings, which drawings (a new one means a new run)."""
    used = training_drawings(config, root)
    return config.key(drawings=used.digest() if used is not None else "")


def is_kept(config: TrainConfig, root: Path | None = None) -> bool:
    """Were these settings trained before (a Train click reuses the run at once)?"""
    try:
        return store.load_run_meta(run_key(config, root), root) is not None
    except ConfigError:  # drawings asked for and none saved: nothing kept, nothing to train yet
        return False


def starting_model(config: TrainConfig, root: Path | None = None):
    """The kept model that ``config`` fine-tunes (``start_from``), or None;
    ConfigError when that run is not kept here."""
    if not config.start_from:
        return None
    folder = store.run_dir(config.start_from, root)
    if store.load_run_meta(config.start_from, root) is None or not (folder / "model.keras").exists():
        raise ConfigError(f"there is no kept run {config.start_from} to start from")
    import keras

    return keras.models.load_model(folder / "model.keras", compile=False)


def _train_and_keep(config: TrainConfig, callbacks: Sequence[Any], key: str, used, root: Path | None):
    """Train in a temporary folder (its TensorBoard logs too), renamed to
    ``models/<key>`` only when the run is complete: a failed or stopped
    training leaves nothing behind."""
    tmp = store.temp_run_dir(key, root)
    try:
        model, meta = train_new(config, callbacks, log_dir=tmp / "logs", key=key, drawings=used,
                                start=starting_model(config, root))
        store.save_run(model, meta, root, folder=tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model, meta


def train(config: TrainConfig = TrainConfig(), callbacks: Sequence[Any] = (),
          root: Path | None = None, out: Path | None = None, make_current: bool = True) -> TrainResult:
    """Train ``config`` on MNIST (or reuse the run that already did), keep the
    run in the registry, and (``make_current``) make it the current model,
    ``mnist_model.h5`` in the work folder; ``out``: also save it there."""
    used = training_drawings(config, root)  # read once: trained on and named by the key
    key = config.key(drawings=used.digest() if used is not None else "")
    folder = store.run_dir(key, root)
    # Sessions asking for the same settings wait here and share one training.
    with store.file_lock(folder.with_suffix(".lock")):
        meta = store.load_run_meta(key, root)
        cached = meta is not None
        if cached:
            import keras

            model = keras.models.load_model(folder / "model.keras", compile=False)
        else:
            with store.file_lock(store.training_lock_path(root)):  # one training at a time
                model, meta = _train_and_keep(config, callbacks, key, used, root)
    path = store.make_current(key, root) if make_current else store.run_model_path(key, root)
    if out is not None and Path(out).resolve() != path.resolve():
        store.save_model(model, Path(out))
        store.write_json(store.sidecar_path(Path(out)), meta)
        path = Path(out)
    return TrainResult(model=model, meta=meta, path=path, cached=cached)
