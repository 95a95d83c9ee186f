"""A network's pace on this machine, measured: a few real training steps.

The estimate before a training (``model.training.estimate``) learns this
machine's speed from the runs it kept; for a network unlike any of them it can
only extrapolate, and a machine's speed on small and on large convolutions
differs (this AMD EPYC: fast-cnn's at 4.5x the built-in constants, strong-cnn's
at 1.9x), so the first strong-cnn after fast-cnn was estimated 2.2x too long.
Timing a few steps of the network itself (built and compiled as a training
builds it, random images through the training's own input pipeline with its
augmentation) takes seconds and leaves the guessing out.

    python -m model.training.probe '{"architecture": "cnn", ...}'   # prints {"step_seconds": ...}

It runs in a process of its own (``model.lab.pace``): TensorFlow's threads and
global state stay out of the server, and a probe that hangs can be killed.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time

import numpy as np

from model.training.config import ConfigError, TrainConfig
from model.training.estimate import predicted_seconds, steps_per_epoch

TIMED_EPOCHS = 3  # after one untimed epoch (tracing, the first batches)
EPOCH_S = 0.4  # aim for timed epochs this long on the built-in constants: a step's jitter averages out
MIN_STEPS, MAX_STEPS = 3, 200


def probe_steps(config: TrainConfig) -> int:
    """Steps in each probed epoch: enough to last about ``EPOCH_S``."""
    step = predicted_seconds(config) / (config.epochs * steps_per_epoch(config))
    return min(MAX_STEPS, max(MIN_STEPS, math.ceil(EPOCH_S / step)))


def step_seconds(config: TrainConfig) -> float:
    """Seconds one optimizer step of ``config``'s network takes here: the
    median of ``TIMED_EPOCHS`` short epochs, divided by their steps."""
    import keras

    from model.data.inputs import model_inputs
    from model.training.architectures import build_model, compile_model
    from model.training.distribute import strategy_scope
    from model.training.fit import make_dataset

    steps = probe_steps(config)
    with strategy_scope():
        model = build_model(config)
        compile_model(model, config, steps_per_epoch=steps)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (steps * config.batch_size, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images))
    data = make_dataset(model_inputs(images, model.input_shape[1:]), labels, config.batch_size, 0,
                        config.augment, config.stroke_augment)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    model.fit(data, epochs=1 + TIMED_EPOCHS, verbose=0, callbacks=[Clock()])
    return statistics.median(times[1:]) / steps


def main(argv: list[str] | None = None) -> int:
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    try:
        config = TrainConfig.from_dict(json.loads((argv or sys.argv[1:])[0]))
    except (IndexError, ValueError, TypeError, ConfigError) as exc:
        print(f"usage: python -m model.training.probe CONFIG_JSON ({exc})", file=sys.stderr)
        return 2
    print(json.dumps({"step_seconds": step_seconds(config)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
