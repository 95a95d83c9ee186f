"""Train a digit classifier, evaluate it on the test set, and save it.

    python -m model.train                        # the classic MLP, 3 epochs
    python -m model.train --optimizer adam --epochs 5 --hidden-units 256,128
    python -m model.train --architecture cnn --augment 0.5 --out cnn.h5
    python -m model.train --preset strong-cnn --epochs 15

From Python::

    from model.config import TrainConfig
    from model.train import train
    result = train(TrainConfig(epochs=1))
    result.metrics["test_accuracy"], result.path

The same settings never train twice: each run is kept under ``models/<key>/``
and training again with the same config returns that run at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import dataclasses
import datetime
import logging
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model import store
from model.cli import FAILED, Parser, fail, sizes_argument, start_tensorflow
from model.config import DRAWINGS_WEIGHT, PRESETS, ConfigError, TrainConfig
from model.data import Split, load_mnist
from model.evaluate import test_metrics
from model.preprocess import scale_images

log = logging.getLogger("mnist_lab")


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


def model_inputs(images: np.ndarray, shape: Sequence[int | None]) -> np.ndarray:
    """uint8 or float images (N, 28, 28) as float32 in the model's input shape."""
    x = scale_images(images) if images.dtype == np.uint8 else np.asarray(images, np.float32)
    return x.reshape((len(x), *[d for d in shape if d is not None]))


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
    ``stroke_augment`` (placement and pen strengths, ``model.augment``),
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
        from model.augment import distortion

        shape = x.shape[1:]
        distort = distortion(augment, stroke_augment, seed or 0)

        def augmented(images, labels):
            return tf.reshape(distort(tf.reshape(images, (-1, 28, 28, 1))), (-1, *shape)), labels

        ds = ds.map(augmented)  # one call at a time: the seed fixes every distortion
    return ds.with_options(steady_options()).prefetch(PREFETCH)


def fit(config: TrainConfig, train_data: Split, callbacks: Sequence[Any] = (), log_dir: Path | None = None):
    """Build and fit a model on ``train_data`` (uint8 images, int labels); its
    last ``config.validation_split`` part, if any, is held out to validate.
    Returns ``(model, history)``, history being per-epoch metric lists, and the
    model holding only Keras' own layers (``with_keras_layers``): it saves as
    plain Keras. With ``log_dir``, TensorBoard logs of every epoch are written there."""
    from model.architectures import with_keras_layers

    x, y = np.asarray(train_data[0]), np.asarray(train_data[1])
    n_val = max(1, int(len(x) * config.validation_split)) if config.validation_split else 0
    model = build_compiled(config, n_train=len(x) - n_val)
    validation = (x[-n_val:], y[-n_val:]) if n_val else None
    history = fit_model(model, config, (x[:len(x) - n_val], y[:len(y) - n_val]), validation, callbacks, log_dir)
    return with_keras_layers(model), history


def build_compiled(config: TrainConfig, n_train: int):
    """The network ``config`` describes, seeded, built in the distribution
    strategy's scope and compiled for ``n_train`` training images: the start
    of every training and of every tuning trial."""
    import keras

    from model.architectures import build_model, compile_model
    from model.distribute import strategy_scope

    keras.utils.set_random_seed(config.seed)
    with strategy_scope():  # every local GPU when there are 2 or more; else a no-op
        model = build_model(config)
        compile_model(model, config, steps_per_epoch=-(-n_train // config.batch_size))
    return model


EARLY_STOPPING_MONITOR = "val_accuracy"  # what early stopping watches, and what tuning scores


def fit_model(model, config: TrainConfig, train_data: Split, validation_data: Split | None = None,
              callbacks: Sequence[Any] = (), log_dir: Path | None = None) -> dict[str, list[float]]:
    """The one fit loop of training (``fit``) and tuning (``model.tune``):
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


def training_drawings(config: TrainConfig, root: Path | None = None):
    """The saved drawings' training part that ``config`` trains with (None
    when its drawings weight is 0); ConfigError if there are none yet."""
    if not config.drawings_weight:
        return None
    from model.drawings import collection

    used = collection("train", root)
    if not len(used):
        raise ConfigError("there are no saved drawings to train with yet (the held-out fifth is never "
                          "trained on): save some on the Draw page, or turn the drawings weight to 0")
    return used


def run_key(config: TrainConfig, root: Path | None = None) -> str:
    """The key of the run that training ``config`` now makes: its settings
    and, with drawings, which drawings (a new one means a new run)."""
    used = training_drawings(config, root)
    return config.key(drawings=used.digest() if used is not None else "")


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
                model, meta = _train_new(config, callbacks, log_dir=folder / "logs", key=key, drawings=used)
                store.save_run(model, meta, root)
    path = store.make_current(key, root) if make_current else store.run_model_path(key, root)
    if out is not None and Path(out).resolve() != path.resolve():
        store.save_model(model, Path(out))
        store.write_json(store.sidecar_path(Path(out)), meta)
        path = Path(out)
    return TrainResult(model=model, meta=meta, path=path, cached=cached)


def _train_new(config: TrainConfig, callbacks: Sequence[Any], log_dir: Path, key: str | None = None,
               drawings=None):
    train_data, test_data = load_mnist()
    if drawings is not None:  # first, each repeated: augmented like the rest; validation stays MNIST's tail
        x, y = train_data
        train_data = (np.concatenate([np.tile(drawings.x, (config.drawings_weight, 1, 1)), x]),
                      np.concatenate([np.tile(drawings.y, config.drawings_weight), y]))
    started = time.perf_counter()
    model, history = fit(config, train_data, callbacks, log_dir=log_dir)
    seconds = time.perf_counter() - started
    meta = {
        "key": key or config.key(),
        "config": config.to_dict(),
        "description": config.describe(),
        "metrics": test_metrics(model, test_data),
        "history": history,
        "epochs_run": len(next(iter(history.values()), [])),
        "train_seconds": round(seconds, 3),
        "parameters": int(model.count_params()),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }
    if drawings is not None:
        meta["drawings"] = {"count": len(drawings), "weight": config.drawings_weight, "digest": drawings.digest(),
                            "per_digit": np.bincount(drawings.y, minlength=10).tolist()}
    return model, meta


# --- command line -----------------------------------------------------------

def _parse_optional_float(text: str) -> float | None:
    if text.strip().lower() in ("", "default", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'default', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TrainConfig`` field, named after it, defaulting to it."""
    parser = Parser(prog="python -m model.train", description=__doc__.split("\n")[0])
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=sizes_argument, default=default, metavar="N,N",
                                help=f"default {','.join(map(str, default))}")
        elif default is None:
            parser.add_argument(flag, type=_parse_optional_float, default=None,
                                help="default: the optimizer's Keras default")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"default {default}")
    parser.add_argument("--drawings", action="store_true",
                        help="add the saved drawings (their training part) to MNIST's training set, each "
                             f"repeated --drawings-weight times (default then {DRAWINGS_WEIGHT})")
    parser.add_argument("--out", type=Path, default=None,
                        help="also save the model here (default: only mnist_model.h5 in the work folder)")
    parser.add_argument("--quiet", action="store_true", help="print only the final metrics")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    return parser


def _print_progress(p) -> None:
    if p.event == "epoch":
        logs = p.epoch_logs[-1]
        extra = "".join(f"  {k} {v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        print(f"epoch {p.epoch}/{p.epochs}  loss {logs['loss']:.4f}  accuracy {logs['accuracy']:.4f}"
              f"{extra}  ({p.elapsed:.1f} s)", flush=True)


def parse_args(argv: Sequence[str] | None) -> dict[str, Any]:
    """Flags over a preset's values (``--preset``) over the defaults: every
    ``TrainConfig`` field, and ``out``, ``quiet`` and ``verbose``."""
    parser = build_parser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a preset; other flags override its values")
    args = parser.parse_args(argv)
    if args.preset:
        parser.set_defaults(**PRESETS[args.preset].to_dict())
        args = parser.parse_args(argv)
    args = vars(args)
    args.pop("preset")
    if args.pop("drawings") and not args["drawings_weight"]:  # --drawings alone: the default weight
        args["drawings_weight"] = DRAWINGS_WEIGHT
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out, quiet, verbose = args.pop("out"), args.pop("quiet"), args.pop("verbose")
    try:
        config = TrainConfig(**args)
    except ConfigError as exc:
        return fail(exc)
    print(f"training {config.describe()}", flush=True)
    try:
        start_tensorflow(verbose=verbose)
        from model.callbacks import ProgressCallback

        result = train(config, callbacks=[] if quiet else [ProgressCallback(_print_progress, 5.0)], out=out)
    except ConfigError as exc:  # e.g. no saved drawings to train with
        return fail(exc)
    except Exception as exc:  # one line, never a traceback
        return fail(f"training failed: {exc}", FAILED)
    m = result.metrics
    note = " (same settings as an earlier run: reused it)" if result.cached else ""
    print(f"test loss {m['test_loss']:.4f}  test accuracy {m['test_accuracy']:.4f}{note}")
    if "drawings" in result.meta:
        print(f"trained with {result.meta['drawings']['count']} saved drawings, each {config.drawings_weight} times")
    print(f"saved {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
