"""Fit a digit classifier: the one training loop of the lab.

    from model.training.config import ConfigError, TrainConfig
    from model.training.fit import train_new
    model, meta = train_new(TrainConfig(epochs=1))   # a Keras model and its run's meta
    meta["metrics"]["test_accuracy"]

This is pure ML: it keeps nothing on disk. Keeping runs, reusing the run of
the same settings and making one the current model is the lab's
(``model.lab.runs``; ``python -m model train`` on the command line).
"""

from __future__ import annotations

import datetime
import importlib.util
import logging
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.data.inputs import model_inputs
from model.data.mnist import Split, load_mnist
from model.serving.evaluate import test_metrics
from model.training.config import ConfigError, TrainConfig

log = logging.getLogger("mnist_lab")


# tf.data's autotuning off, a fixed prefetch of two batches: with it on, one epoch in three or
# four of the fast CNN ran on one core of two (half the machine idle: 5 s instead of 2.3 s, the
# same CPU seconds), at random; Keras makes a new iterator, so a new autotuner, every epoch.
# bench.speed's "autotuned input pipeline" variant measures it.
PREFETCH = 2


def steady_options():
    """tf.data options of every training pipeline: no autotuning."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None, augment: float = 0.0,
                 stroke_augment: float = 0.0):
    """An in-memory tf.data pipeline of model inputs ``x`` and int labels ``y``;
    shuffled every epoch when ``seed`` is given. With ``augment`` or
    ``stroke_augment`` (placement and pen strengths, ``model.data.augment``),
    every batch is randomly distorted, each epoch anew, by a background thread while the model trains on the batch
    before: the core the training step leaves idle does it (1.2x faster than
    augmentation layers inside the model, measured on the strong CNN)."""
    import keras
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, keras.utils.to_categorical(y, 10).astype(np.float32)))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment or stroke_augment:
        from model.data.augment import distortion

        shape = x.shape[1:]
        distort = distortion(augment, stroke_augment, seed or 0)

        def augmented(images, labels):
            return tf.reshape(distort(tf.reshape(images, (-1, 28, 28, 1))), (-1, *shape)), labels

        ds = ds.map(augmented)  # one call at a time: the seed fixes every distortion
    return ds.with_options(steady_options()).prefetch(PREFETCH)


def fit(config: TrainConfig, train_data: Split, callbacks: Sequence[Any] = (), log_dir: Path | None = None,
        start=None):
    """Build and fit a model on ``train_data`` (uint8 images, int labels); its
    last ``config.validation_split`` part, if any, is held out to validate.
    ``start``: a trained model of the same architecture whose weights the
    training starts from (fine-tuning), instead of fresh ones.
    Returns ``(model, history)``, history being per-epoch metric lists, and the
    model holding only Keras' own layers (``with_keras_layers``): it saves as
    plain Keras. With ``log_dir``, TensorBoard logs of every epoch are written there."""
    from model.training.architectures import with_keras_layers

    x, y = np.asarray(train_data[0]), np.asarray(train_data[1])
    n_val = max(1, int(len(x) * config.validation_split)) if config.validation_split else 0
    model = build_compiled(config, n_train=len(x) - n_val)
    if start is not None:
        start_from(model, start)
    validation = (x[-n_val:], y[-n_val:]) if n_val else None
    history = fit_model(model, config, (x[:len(x) - n_val], y[:len(y) - n_val]), validation, callbacks, log_dir)
    return with_keras_layers(model), history


def build_compiled(config: TrainConfig, n_train: int):
    """The network ``config`` describes, seeded, built in the distribution
    strategy's scope and compiled for ``n_train`` training images: the start
    of every training and of every tuning trial."""
    import keras

    from model.training.architectures import build_model, compile_model
    from model.training.distribute import strategy_scope

    keras.utils.set_random_seed(config.seed)
    with strategy_scope():  # every local GPU when there are 2 or more; else a no-op
        model = build_model(config)
        compile_model(model, config, steps_per_epoch=-(-n_train // config.batch_size))
    return model


def start_from(model, start) -> None:
    """Give ``model`` the weights of ``start`` (fine-tuning); ConfigError when
    their architectures differ (another layer count or shape)."""
    mine, theirs = model.get_weights(), start.get_weights()
    if [w.shape for w in mine] != [w.shape for w in theirs]:
        raise ConfigError("the run to start from has another architecture: fine-tune it with its own settings")
    model.set_weights(theirs)


EARLY_STOPPING_MONITOR = "val_accuracy"  # what early stopping watches, and what tuning scores


def fit_model(model, config: TrainConfig, train_data: Split, validation_data: Split | None = None,
              callbacks: Sequence[Any] = (), log_dir: Path | None = None) -> dict[str, list[float]]:
    """The one fit loop of training (``fit``) and tuning (``model.training.tune``):
    ``model`` trained on ``train_data`` (uint8 or float images, int labels)
    for ``config.epochs`` epochs, validated on ``validation_data``. With
    ``config.early_stopping``, training stops after that many epochs without
    a better validation accuracy, and the model is left with the weights of
    its best epoch. Returns the per-epoch metric lists."""
    import keras

    shape = model.input_shape[1:]
    x, y = model_inputs(np.asarray(train_data[0]), shape), np.asarray(train_data[1])
    validation = None
    if validation_data is not None:
        validation = make_dataset(model_inputs(np.asarray(validation_data[0]), shape),
                                  np.asarray(validation_data[1]), 1000, seed=None)
    all_callbacks = list(callbacks)
    if log_dir is not None and importlib.util.find_spec("tensorboard") is not None:
        all_callbacks.append(keras.callbacks.TensorBoard(str(log_dir), update_freq="epoch", profile_batch=0,
                                                         write_graph=False))
    if config.early_stopping and validation is not None:
        all_callbacks.append(keras.callbacks.EarlyStopping(
            monitor=EARLY_STOPPING_MONITOR, mode="max", patience=config.early_stopping,
            restore_best_weights=True))
    training = make_dataset(x, y, config.batch_size, config.seed, config.augment, config.stroke_augment)
    history = model.fit(training, epochs=config.epochs, validation_data=validation, callbacks=all_callbacks,
                        shuffle=False, verbose=0)
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def run_meta(key: str, description: str, model, metrics: dict[str, float], config: TrainConfig | None = None,
             history: dict[str, list[float]] | None = None, **extra: Any) -> dict[str, Any]:
    """The sidecar every kept model carries, whatever made it (a training, an
    upload, an ensemble): its key, what it is, its test scores, its size,
    when, and the library versions; ``extra`` adds fields."""
    return {"key": key, "config": config.to_dict() if config is not None else None, "description": description,
            "metrics": metrics, "history": history or {}, "parameters": int(model.count_params()),
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "versions": versions(), **extra}


def train_new(config: TrainConfig, callbacks: Sequence[Any] = (), log_dir: Path | None = None,
              key: str | None = None, drawings=None, start=None) -> tuple[Any, dict[str, Any]]:
    """Train ``config`` on MNIST's training set (plus ``drawings``, an object
    with ``x``, ``y`` and ``digest()``, each repeated ``config.drawings_weight``
    times), from the weights of ``start`` (the model of run ``config.start_from``)
    when given; returns the model and its run's meta (scores, history, timing)."""
    train_data, test_data = load_mnist()
    if drawings is not None:  # first, each repeated: augmented like the rest; validation stays MNIST's tail
        x, y = train_data
        train_data = (np.concatenate([np.tile(drawings.x, (config.drawings_weight, 1, 1)), x]),
                      np.concatenate([np.tile(drawings.y, config.drawings_weight), y]))
    started = time.perf_counter()
    model, history = fit(config, train_data, callbacks, log_dir=log_dir, start=start)
    seconds = time.perf_counter() - started
    # the recipe under its key; what it computed in on this machine in its description and record
    meta = run_meta(key or config.key(), config.as_computed().describe(), model, test_metrics(model, test_data),
                    config=config, history=history, epochs_run=len(next(iter(history.values()), [])),
                    train_seconds=round(seconds, 3), computed_in=config.computed_in())
    if drawings is not None:
        meta["drawings"] = {"count": len(drawings), "weight": config.drawings_weight, "digest": drawings.digest(),
                            "per_digit": np.bincount(drawings.y, minlength=10).tolist()}
    return model, meta
