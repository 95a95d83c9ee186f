"""Hyperparameter search with KerasTuner: which architecture, layer sizes,
optimizer, learning rate, dropout and batch size train the best classifier.

    python -m model tune --trials 5 --epochs 2                  # MLPs and CNNs (model/cli/tune.py)

From Python::

    from model.training.tune import SearchSpace
    from model.lab.tuning import search
    from model.lab.runs import train
    result = search(SearchSpace(architectures=("mlp",)), max_trials=5, epochs=2)
    result.table           # one dict a trial: hyperparameters, val_accuracy, seconds
    result.best_config     # a TrainConfig: the base config with the best trial's choices
    result.best_model      # that trial's network, weights from its best epoch
    train(result.best_config)                                  # now train it for real
    train(dataclasses.replace(result.best_config, epochs=10))  # ... or for longer

Each trial is a ``TrainConfig`` (the ``base`` config with the trial's choices
put in), built, compiled and fitted by ``model.training.fit``'s own
``build_compiled`` and ``fit_model``, as a training is (same seed, input
pipeline, augmentation and early stopping), for ``epochs`` epochs on the
training set less its last ``validation_split`` part, which scores it
(validation accuracy, at the trial's best epoch). The search space's bounds
are ``TrainConfig``'s own: a choice is valid when the config it makes is. The test set is never looked at: it stays an
honest measure of whatever is picked here, once ``train(best_config)`` has
trained it on all the training data.

Trials are kept under ``models/.tuning/<name>/`` in the work folder (or
``directory``); the name is a hash of everything that defines the search, so
running the same search again reuses its finished trials, and asking for more
trials runs only the new ones (``--overwrite`` starts afresh). The search
holds the work folder's training lock, as training does: one at a time.

A search outgrows one machine with KerasTuner's distributed mode, which needs
no change here. Start the same command (same arguments, same data) on every
machine with ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` set to
the address and port of one of them, the chief, and ``KERASTUNER_TUNER_ID``
set to ``chief`` there and to a different name on each worker (``tuner0``,
``tuner1``, ...). The chief runs only the oracle: over gRPC it hands each
worker the next trial's hyperparameters and records the scores, and trains
nothing itself; each worker trains one trial after another until
``max_trials`` have run, so N workers finish about N times sooner. Point
``--dir`` at a folder all of them share (NFS, a mounted bucket) so that the
chief can load the best trial's weights; the results table and the best
config come from the chief's oracle either way. In this mode the work
folder's locks are not taken (workers sharing one machine, one GPU each,
would otherwise run one at a time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.files import write_json
from model.training.config import ConfigError, TrainConfig, from_known_fields
from model.training.fit import EARLY_STOPPING_MONITOR

TUNING = ".tuning"  # the lab keeps searches under models/.tuning/ in the work folder
HYPERPARAMETERS = ("architecture", "hidden_units", "conv_filters", "optimizer", "learning_rate",
                   "momentum", "dropout", "batch_size", "activation", "batch_norm")
OBJECTIVE = EARLY_STOPPING_MONITOR  # a trial's score: the epoch early stopping keeps is the best-scored one
MIN_IMAGES = 20


# SearchSpace field -> the TrainConfig field its values are for
SPACE_FIELDS = {"architectures": "architecture", "hidden_units": "hidden_units", "conv_filters": "conv_filters",
                "optimizers": "optimizer", "learning_rate": "learning_rate", "momentum": "momentum",
                "dropout": "dropout", "batch_sizes": "batch_size", "activations": "activation",
                "batch_norm": "batch_norm"}
RANGES = {"learning_rate", "dropout"}  # (min, max); the other fields are lists of choices


class TuningError(RuntimeError):
    """The search could not run or no trial finished; the message says why."""


# --- the search space -------------------------------------------------------

@dataclass(frozen=True)
class SearchSpace:
    """What the search may choose from. A choice with one value is fixed;
    a range whose ends are equal is fixed too.

    The default learning-rate range suits Adam and RMSprop as it is, and SGD
    with momentum 0.9 (whose effective step is ten times the rate)."""

    architectures: tuple[str, ...] = ("mlp", "cnn")
    hidden_units: tuple[tuple[int, ...], ...] = ((128,), (256,), (128, 128), (256, 128))  # CNN: its dense head
    conv_filters: tuple[tuple[int, ...], ...] = ((32, 64), (16, 32))  # CNN only
    optimizers: tuple[str, ...] = ("adam", "rmsprop", "sgd")
    learning_rate: tuple[float, float] = (1e-4, 1e-2)  # sampled on a log scale
    momentum: tuple[float, ...] = (0.9,)  # SGD only
    dropout: tuple[float, float] = (0.0, 0.5)
    batch_sizes: tuple[int, ...] = (32, 64, 128)
    activations: tuple[str, ...] = ("relu",)
    batch_norm: tuple[bool, ...] = (False,)

    def __post_init__(self) -> None:
        # Lists from JSON or widgets become tuples, so spaces compare and hash.
        def tuples(value):
            return tuple(tuple(int(u) for u in v) for v in value)

        fix = object.__setattr__
        fix(self, "architectures", tuple(self.architectures))
        fix(self, "hidden_units", tuples(self.hidden_units))
        fix(self, "conv_filters", tuples(self.conv_filters))
        fix(self, "optimizers", tuple(self.optimizers))
        fix(self, "learning_rate", tuple(float(v) for v in self.learning_rate))
        fix(self, "momentum", tuple(float(v) for v in self.momentum))
        fix(self, "dropout", tuple(float(v) for v in self.dropout))
        fix(self, "batch_sizes", tuple(int(v) for v in self.batch_sizes))
        fix(self, "activations", tuple(self.activations))
        fix(self, "batch_norm", tuple(bool(v) for v in self.batch_norm))
        self.validate()

    def validate(self) -> None:
        """Every choice and both ends of every range must be a value that
        ``TrainConfig`` accepts: its validation holds the bounds, none are
        repeated here. (Whether the choices also fit together with a base
        config is ``check_space``'s question.)"""
        for name in SPACE_FIELDS.keys() - RANGES:
            values = getattr(self, name)
            if not values:
                raise ConfigError(f"{name}: choose at least one")
            if len(set(values)) != len(values):
                raise ConfigError(f"{name}: a value is listed twice")
        for name in sorted(RANGES):
            lo, hi = self._range(name)
            if not lo <= hi:
                raise ConfigError(f"{name} range must be min <= max, got {lo:g}, {hi:g}")
        for name, field in SPACE_FIELDS.items():
            context = {"architecture": "cnn"} if field == "conv_filters" else {}  # else not checked
            for value in getattr(self, name):
                try:
                    TrainConfig(**context, **{field: value})
                except ConfigError as exc:
                    raise ConfigError(f"search space, {name}: {exc}") from None

    def _range(self, name: str) -> tuple[float, float]:
        values = getattr(self, name)
        if len(values) != 2:
            raise ConfigError(f"{name}: give a range as (min, max), got {list(values)}")
        return values[0], values[1]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        return from_known_fields(cls, d, "search-space settings")

    def declare(self, hp) -> None:
        """Declare this space's hyperparameters on KerasTuner's ``hp``."""
        def choice(name, values):
            return hp.Choice(name, list(values)) if len(values) > 1 else hp.Fixed(name, values[0])

        def span(name, lo, hi, **kwargs):
            return hp.Float(name, lo, hi, **kwargs) if lo < hi else hp.Fixed(name, lo)

        choice("architecture", self.architectures)
        choice("hidden_units", [encode_layers(h) for h in self.hidden_units])
        if "cnn" in self.architectures:
            with hp.conditional_scope("architecture", ["cnn"]):
                choice("conv_filters", [encode_layers(c) for c in self.conv_filters])
        choice("optimizer", self.optimizers)
        span("learning_rate", *self.learning_rate, sampling="log")
        if "sgd" in self.optimizers:
            with hp.conditional_scope("optimizer", ["sgd"]):
                choice("momentum", self.momentum)
        span("dropout", *self.dropout)
        choice("batch_size", self.batch_sizes)
        choice("activation", self.activations)
        choice("batch_norm", self.batch_norm)


def check_space(space: SearchSpace, base: TrainConfig) -> None:
    """Raise ``ConfigError`` if some choice of ``space`` put into ``base``
    makes an invalid ``TrainConfig`` (say, conv blocks that shrink the image
    to nothing with the base's kernel and padding), before any trial runs."""
    first = {"architecture": space.architectures[0], "hidden_units": encode_layers(space.hidden_units[0]),
             "optimizer": space.optimizers[0], "learning_rate": space.learning_rate[0],
             "dropout": space.dropout[0], "batch_size": space.batch_sizes[0],
             "activation": space.activations[0], "batch_norm": space.batch_norm[0]}
    variants = []
    for arch in space.architectures:  # the layer choices depend on each other: every combination
        for hidden in space.hidden_units:
            for conv in space.conv_filters if arch == "cnn" else [None]:
                variants.append({"architecture": arch, "hidden_units": encode_layers(hidden),
                                 "conv_filters": None if conv is None else encode_layers(conv)})
    variants += [{"optimizer": "sgd", "momentum": m} for m in space.momentum if "sgd" in space.optimizers]
    variants += [{"optimizer": o} for o in space.optimizers]
    variants += [{"learning_rate": v} for v in space.learning_rate] + [{"dropout": v} for v in space.dropout]
    variants += [{"batch_size": v} for v in space.batch_sizes] + [{"activation": v} for v in space.activations]
    variants += [{"batch_norm": v} for v in space.batch_norm]
    for variant in variants:
        try:
            config_from_values({**first, **variant}, base)
        except ConfigError as exc:
            choice = ", ".join(f"{k} {v}" for k, v in variant.items() if v is not None)
            raise ConfigError(f"the search space's choice of {choice} is invalid here: {exc}") from None


def encode_layers(units: Sequence[int]) -> str:
    """Layer sizes as one hyperparameter value: (128, 64) is "128-64", () is "none"."""
    return "-".join(str(int(u)) for u in units) or "none"


def decode_layers(text: str) -> tuple[int, ...]:
    return () if text in ("", "none") else tuple(int(u) for u in str(text).split("-"))


def config_from_values(values: dict[str, Any], base: TrainConfig = TrainConfig(),
                       epochs: int | None = None) -> TrainConfig:
    """The ``TrainConfig`` a trial trains: ``base`` with the trial's
    hyperparameter values (a row of ``SearchResult.table`` will do) put in.
    Settings a trial does not choose (conv filters for an MLP, momentum for
    Adam) keep their ``base`` values."""
    changes: dict[str, Any] = {}
    for name in HYPERPARAMETERS:
        value = values.get(name)
        if value is None:
            continue
        if name in ("hidden_units", "conv_filters"):
            value = decode_layers(value)
        elif name in ("learning_rate", "momentum", "dropout"):
            value = float(value)
        elif name == "batch_size":
            value = int(value)
        elif name == "batch_norm":
            value = bool(value)
        changes[name] = value
    if epochs is not None:
        changes["epochs"] = epochs
    return dataclasses.replace(base, **changes)


# --- results ----------------------------------------------------------------

@dataclass
class SearchResult:
    table: list[dict[str, Any]]  # one row a trial, in the order they ran
    best_config: TrainConfig  # train it for real with model.lab.runs.train(best_config)
    best_val_accuracy: float
    best_trial: str
    best_model: Any  # keras.Model: the best trial's network at its best epoch (None: see below)
    directory: Path  # where the trials are kept
    # best_model is None only on a distributed chief that cannot read the
    # workers' checkpoints (no shared directory).


def _row(trial) -> dict[str, Any]:
    values = trial.hyperparameters.values
    row: dict[str, Any] = {"trial": trial.trial_id, "status": str(trial.status)}
    for name in HYPERPARAMETERS:
        value = values.get(name)
        row[name] = value.item() if isinstance(value, np.generic) else value
    metrics = trial.metrics
    for name in (OBJECTIVE, "seconds"):
        row[name] = float(metrics.get_last_value(name)) if metrics.exists(name) else None
    return row


def _trials(oracle) -> list:
    """Every trial in the order they started, from a local oracle; from a
    distributed worker's client, the finished ones (all it can ask for)."""
    trials = getattr(oracle, "trials", None)
    if isinstance(trials, dict):
        order = [t for t in getattr(oracle, "start_order", []) if t in trials]
        order += sorted(t for t in trials if t not in order)
        return [trials[t] for t in order]
    return sorted(oracle.get_best_trials(num_trials=10**6), key=lambda t: t.trial_id)


# --- the search -------------------------------------------------------------

def search(space: SearchSpace = SearchSpace(), max_trials: int = 10, epochs: int = 2,
           base: TrainConfig = TrainConfig(), data: tuple[np.ndarray, np.ndarray] | None = None,
           directory: str | Path | None = None, callbacks: Sequence[Any] = (), seed: int = 0, *,
           validation_split: float = 0.1, overwrite: bool = False, folder: Path = Path(TUNING),
           lock: Callable[[Path], contextlib.AbstractContextManager] | None = None,
           progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run (or resume) a KerasTuner search over ``space``: ``max_trials``
    trials of ``epochs`` epochs each, scored by validation accuracy.

    ``data`` is training images (N, 28, 28) uint8 and labels, default all of
    MNIST's training set; its last ``validation_split`` part scores the
    trials. ``callbacks`` are Keras callbacks given to every trial's ``fit``
    (KerasTuner deep-copies them for each). ``seed`` drives the choice of
    trials; ``base.seed`` the weights and shuffling, as in training.
    Trials are drawn at random (``keras_tuner.RandomSearch``). ``progress`` is
    called with each finished trial's row. Trials are kept in ``directory``,
    default ``folder``/<the search's name>; ``lock(directory)``, if given, is
    held while the search runs (the lab's: one training at a time,
    ``model.lab.tuning``). Raises ``ConfigError`` for bad settings and
    ``TuningError`` if no trial finishes.

    The result's ``best_config`` has ``epochs`` epochs; train it on all the
    data with ``model.lab.runs.train(result.best_config)``."""
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ConfigError(f"max trials must be at least 1, got {max_trials}")
    if not isinstance(epochs, int):
        raise ConfigError(f"epochs must be a whole number, got {epochs!r}")
    if not validation_split > 0:
        raise ConfigError(f"validation split must be more than 0, got {validation_split}")
    TrainConfig(validation_split=validation_split)  # the upper bound is training's
    base = dataclasses.replace(base, epochs=epochs)  # and so are the epochs'
    check_space(space, base)
    if data is None:
        from model.data.mnist import load_mnist

        data = load_mnist()[0]
    images, labels = np.asarray(data[0]), np.asarray(data[1])
    if len(images) != len(labels) or images.shape[1:] not in ((28, 28), (784,)):
        raise ConfigError(f"expected images (N, 28, 28) and N labels, got {images.shape} and {labels.shape}")
    n_val = int(len(images) * validation_split)
    if len(images) < MIN_IMAGES or n_val < 1:
        raise ConfigError(f"too little data to search on: {len(images)} images")

    if directory is None:
        name = search_name(space, base, seed, validation_split, images, labels)
        directory = Path(folder) / name
    directory = Path(directory)
    with lock(directory) if lock is not None else contextlib.nullcontext():
        result = _search(space, max_trials, base, images[:-n_val], labels[:-n_val], images[-n_val:],
                         labels[-n_val:], directory, callbacks, seed, overwrite, progress)
    return result


def distributed() -> bool:
    """Is this process part of a KerasTuner distributed search (see above)?"""
    return "KERASTUNER_ORACLE_IP" in os.environ


def search_name(space: SearchSpace, base: TrainConfig, seed: int, validation_split: float,
                images: np.ndarray, labels: np.ndarray) -> str:
    """A short hash of everything that defines a search's trials (not how many)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images).data)
    digest.update(np.ascontiguousarray(labels).data)
    blob = json.dumps({"space": space.to_dict(), "base": base.to_dict(), "seed": seed,
                       "validation_split": validation_split,
                       "data": [list(images.shape), digest.hexdigest()]}, sort_keys=True)
    return "search-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def _search(space, max_trials, base, x_train, y_train, x_val, y_val, directory, callbacks, seed,
            overwrite, progress) -> SearchResult:
    import keras_tuner

    from model.training.architectures import with_keras_layers

    hypermodel = _make_hypermodel(space, base, n_train=len(x_train))
    tuner_class = _tuner_class(keras_tuner.RandomSearch)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tuner = tuner_class(hypermodel=hypermodel, objective=keras_tuner.Objective(OBJECTIVE, "max"),
                        max_trials=max_trials, seed=seed, directory=str(directory.parent),
                        project_name=directory.name, overwrite=overwrite)
    tuner.progress = progress
    try:
        tuner.search(x_train, y_train, validation_data=(x_val, y_val), callbacks=list(callbacks), verbose=0)
    except RuntimeError as exc:  # KerasTuner gives up after 3 failed trials in a row
        raise TuningError(f"the search stopped: {last_line(exc)}") from None

    table = [_row(t) for t in _trials(tuner.oracle)]
    best_trials = [t for t in tuner.oracle.get_best_trials(1) if str(t.status) == "COMPLETED"]
    if not best_trials:
        failed = next((t for t in reversed(_trials(tuner.oracle)) if getattr(t, "message", None)), None)
        why = f": {last_line(failed.message)}" if failed is not None else ""
        raise TuningError(f"no trial finished{why}")
    best = best_trials[0]
    best_config = config_from_values(best.hyperparameters.values, base)
    try:
        with warnings.catch_warnings():  # the fresh optimizer has no state to load: expected
            warnings.simplefilter("ignore")
            best_model = with_keras_layers(tuner.load_model(best))  # plain Keras, as model.training.fit.fit returns
    except Exception:
        if not distributed():
            raise
        best_model = None  # a distributed chief without the workers' checkpoints
    result = SearchResult(table=table, best_config=best_config, best_val_accuracy=float(best.score),
                          best_trial=best.trial_id, best_model=best_model, directory=directory)
    with contextlib.suppress(OSError):
        write_json(directory / "search.json", {
            "space": space.to_dict(), "base": base.to_dict(), "table": table,
            "best_trial": best.trial_id, "best_val_accuracy": result.best_val_accuracy,
            "best_config": best_config.to_dict()})
    return result


def _make_hypermodel(space: SearchSpace, base: TrainConfig, n_train: int):
    """A KerasTuner HyperModel whose trials are ``TrainConfig``s. (Defined
    here, not at import, so that importing this module imports no TensorFlow.)"""
    import keras_tuner

    from model.training.fit import build_compiled, fit_model

    class ConfigHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            space.declare(hp)
            return build_compiled(config_from_values(hp.values, base), n_train)

        def fit(self, hp, model, x, y, validation_data, callbacks=(), verbose=0, **kwargs):
            config = config_from_values(hp.values, base)
            started = time.perf_counter()
            history = fit_model(model, config, (x, y), validation_data, callbacks)
            seconds = time.perf_counter() - started
            best_epoch = int(np.argmax(history[OBJECTIVE]))
            metrics = {k: v[best_epoch] for k, v in history.items()}
            return {**metrics, "seconds": round(seconds, 3), "best_epoch": best_epoch + 1}

    return ConfigHyperModel(name="mnist_config")


def _tuner_class(base_class):
    class Tuner(base_class):
        """Reports each finished trial's row to ``self.progress``."""

        progress = None

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if self.progress is not None:
                self.progress(_row(self.oracle.get_trial(trial.trial_id)))

    return Tuner


def last_line(text: Any) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "unknown error")[:300]

