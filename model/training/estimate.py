"""How long a training will take on this machine, said before it starts.

A training is ``epochs x ceil(60,000 / batch)`` optimizer steps. A step costs a
fixed overhead plus a time proportional to its multiply-adds (batch x the
network's multiply-adds per image, forward and backward alike). The two
constants come from the presets measured on 2 CPU cores (bench/RESULTS.md:
classic 3.5 s, fast-cnn 23 s in float32, strong-cnn 380 s in float32; the model
below gives 3.7 s, 18 s and 421 s), and the runs kept on this machine correct
them for its speed: the median ratio of their measured to their predicted time.

    from model.training.estimate import expected_seconds
    expected_seconds(TrainConfig(epochs=3), store.list_runs())   # about 4 s here
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

from model.training.config import BFLOAT16, TRAIN_SIZE, ConfigError, TrainConfig

# A step's fixed cost (Python, the optimizer's update, the input pipeline): 1.2 ms with tf.data's
# autotuning on, 0.4 ms without (the classic MLP's 5,625 steps: 8.8 s, then 3.5 s).
STEP_OVERHEAD_S = 0.4e-3
SECONDS_PER_MAC = 7e-11  # a multiply-add of a batch's forward and backward pass
# bfloat16 about halves the multiply-adds' time on a CPU that computes it natively (bench.speed,
# bench.presets: strong-cnn 34-38 -> 19-27 s an epoch); emulated elsewhere: not measured, not assumed faster.
BFLOAT16_MAC_FACTOR = 0.55
CONFIRM_S = 10 * 60  # longer than this, the Train page asks before it starts


def multiply_adds(config: TrainConfig) -> int:
    """Multiply-adds of the network's forward pass for one image."""
    total, features = 0, 784
    if config.architecture == "cnn":
        side, channels = 28, 1
        for filters in config.conv_filters:
            for _ in range(config.convs_per_block):
                if config.padding == "valid":
                    side -= config.kernel_size - 1
                total += side * side * filters * config.kernel_size ** 2 * channels
                channels = filters
            side //= 2
        features = side * side * channels
    for units in (*config.hidden_units, 10):
        total += features * units
        features = units
    return total


def predicted_seconds(config: TrainConfig) -> float:
    """Seconds of training on the machine the constants were measured on."""
    steps = config.epochs * math.ceil(TRAIN_SIZE * (1 - config.validation_split) / config.batch_size)
    per_mac = SECONDS_PER_MAC * (BFLOAT16_MAC_FACTOR if config.precision == "bfloat16" and BFLOAT16 else 1)
    return steps * (STEP_OVERHEAD_S + per_mac * config.batch_size * multiply_adds(config))


def machine_factor(runs: Iterable[dict[str, Any]]) -> float:
    """How much slower (> 1) or faster this machine trained the kept runs than
    predicted: the median ratio, 1 when there are none (clamped to 0.2-5)."""
    ratios = []
    for meta in runs:
        try:
            config = TrainConfig.from_dict(meta["config"])
            seconds = float(meta["train_seconds"])
        except (KeyError, TypeError, ValueError, ConfigError):
            continue  # uploads, damaged metas
        if meta.get("epochs_run", config.epochs) == config.epochs and seconds > 0:
            ratios.append(seconds / predicted_seconds(config))
    return min(5.0, max(0.2, statistics.median(ratios))) if ratios else 1.0


def expected_seconds(config: TrainConfig, runs: Iterable[dict[str, Any]] = ()) -> float:
    """The training time to expect for ``config`` here (early stopping may end it sooner)."""
    for meta in runs:
        if meta.get("key") == config.key() and "train_seconds" in meta:
            return float(meta["train_seconds"])  # trained before: it will be reused at once
    return predicted_seconds(config) * machine_factor(runs)


def human(seconds: float) -> str:
    """'about 9 s', 'about 4 minutes', 'about 2 hours'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"
