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

What the visitor waits for is more than the training: the job's process starts,
imports TensorFlow, loads MNIST, and after the training scores the test set and
saves the run. ``expected_wait`` adds that: a fixed start-up cost (``STARTUP_S``,
or the median measured on this machine's finished jobs, ``startup_seconds``)
the network's build (``BUILD_S``, whatever the epochs) and the test set's
forward pass. For a network unlike every kept run (``first_of_its_size``) the
kept runs' pace is a guess; a probe of a few of its real steps
(``model.training.probe``, kept by ``model.lab.pace`` under ``pace_key``)
replaces it. ``time_left`` is the one estimate of the time
left during a run that every view shows: the estimate made before it started,
giving way to the run's own pace as it progresses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from model.training.config import TRAIN_SIZE, ConfigError, TrainConfig, native_bfloat16

# A step's fixed cost (Python, the optimizer's update, the input pipeline): 1.2 ms with tf.data's
# autotuning on, 0.4 ms without (the classic MLP's 5,625 steps: 8.8 s, then 3.5 s).
STEP_OVERHEAD_S = 0.4e-3
SECONDS_PER_MAC = 7e-11  # a multiply-add of a batch's forward and backward pass
# bfloat16 about halves the multiply-adds' time on a CPU that computes it natively (bench.speed,
# bench.presets: strong-cnn 34-38 -> 19-27 s an epoch); emulated elsewhere: not measured, not assumed faster.
BFLOAT16_MAC_FACTOR = 0.55
CONFIRM_S = 10 * 60  # longer than this, the Train page asks before it starts
# A job's cost besides its training (process start, TensorFlow's import, MNIST from the cache, scoring
# the test set, saving .h5, .keras and the meta): measured by bench.estimate on 2 shared cores,
# 6.5-9 s; this machine's finished jobs replace it (``startup_seconds``).
STARTUP_S = 7.5
# Inside a run's train_seconds, whatever its epochs: building the network, compiling and tracing
# its step (bench.estimate: the classic MLP's 1, 3 and 10 epochs, 4.3, 6.1 and 22.7 s on a busy day).
BUILD_S = 2.0
TEST_SIZE = 10_000
INSTANT_S = 0.5  # kept settings: the kept run comes back at once


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


def steps_per_epoch(config: TrainConfig) -> int:
    return math.ceil(TRAIN_SIZE * (1 - config.validation_split) / config.batch_size)


def predicted_seconds(config: TrainConfig) -> float:
    """Seconds of training on the machine the constants were measured on, in
    the precision ``config`` computes in here (bfloat16 is faster only where native)."""
    steps = config.epochs * steps_per_epoch(config)
    native = config.computed_in() == "bfloat16" and native_bfloat16()
    per_mac = SECONDS_PER_MAC * (BFLOAT16_MAC_FACTOR if native else 1)
    return steps * (STEP_OVERHEAD_S + per_mac * config.batch_size * multiply_adds(config))


def machine_factor(runs: Iterable[dict[str, Any]], fixed: float = 0.0, architecture: str | None = None) -> float:
    """How much slower (> 1) or faster this machine trained the kept runs than
    predicted: the median ratio, 1 when there are none (clamped to 0.2-5).
    ``fixed``: seconds of each run's time that are not steps (taken out first).
    ``architecture``: from the runs of that architecture when there are any: a
    machine's speed on convolutions and on dense layers differ (this AMD EPYC
    without bfloat16: the MLP 1-2x the constants, the CNNs 2-4x; bench.estimate)."""
    return _median(_ratios(runs, fixed, predicted_seconds), architecture, 0.2, 5.0, 1.0)


def here(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs trained on this machine: not one shipped with the app
    (``"shipped": true`` in its sidecar), whose time is another machine's."""
    return [meta for meta in runs if not meta.get("shipped")]


def _ratios(runs: Iterable[dict[str, Any]], fixed: float,
            expected: Callable[[TrainConfig], float | None]) -> dict[str, list[float]]:
    """Each complete kept run's training time (less ``fixed``) against
    ``expected(config)`` (None leaves the run out), by architecture."""
    ratios: dict[str, list[float]] = {}
    for meta in here(runs):
        try:
            config = TrainConfig.from_dict(meta["config"])
            seconds = float(meta["train_seconds"])
            if meta.get("computed_in"):  # what it ran as, not what "auto" means today
                config = dataclasses.replace(config, precision=meta["computed_in"])
        except (KeyError, TypeError, ValueError, ConfigError):
            continue  # uploads, damaged metas
        reference = expected(config)
        if reference and seconds > 0 and meta.get("epochs_run", config.epochs) == config.epochs:
            ratios.setdefault(config.architecture, []).append(max(0.1 * seconds, seconds - fixed) / reference)
    return ratios


def _median(ratios: dict[str, list[float]], architecture: str | None, low: float, high: float,
            default: float) -> float:
    """The median ratio of ``architecture``'s runs, or of all when it has none, clamped; ``default`` for none."""
    chosen = ratios.get(architecture) or [r for same in ratios.values() for r in same]
    return min(high, max(low, statistics.median(chosen))) if chosen else default


LIKE_SIZE = 3.0  # kept runs of the same architecture within this factor of multiply-adds set a network's pace


def first_of_its_size(config: TrainConfig, runs: Iterable[dict[str, Any]] = ()) -> bool:
    """Is the estimate for ``config`` a first guess: no run kept here of its
    architecture within ``LIKE_SIZE`` times its multiply-adds per image? The
    estimate then extrapolates another network's pace, and can be 2x off
    (bench/RESULTS.md: strong-cnn from fast-cnn's pace 2.2x over; the first CNN
    after only MLPs 2.1x): the Train page says so, or probes it (``estimate_basis``)."""
    size = multiply_adds(config)
    for meta in here(runs):
        try:
            kept = TrainConfig.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError, ConfigError):
            continue
        if kept.architecture == config.architecture and 1 / LIKE_SIZE <= multiply_adds(kept) / size <= LIKE_SIZE:
            return False
    return True


# What sets a training step's time: the network, its batch, precision and input pipeline (not the
# epochs, the learning rate, the seed or the drawings).
PACE_FIELDS = ("architecture", "hidden_units", "conv_filters", "convs_per_block", "kernel_size", "padding",
               "activation", "optimizer", "batch_size", "dropout", "batch_norm", "augment", "stroke_augment",
               "precision")
# A training's step against a probe's (model.training.probe) on the same network, when no kept run
# was probed: on this AMD EPYC without bfloat16, strong-cnn 0.81-0.96, fast-cnn 1.04-1.10, the
# classic MLP 1.14-1.40 (bench.estimate, 2026-12-05; a probe's few steps vary by about 20% on this
# shared machine).
PROBE_FACTOR = 1.0


def pace_key(config: TrainConfig) -> str:
    """The key of ``config``'s step time: the same for configs that differ only
    in what does not change a step's cost."""
    fields = {name: getattr(config, name) for name in PACE_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=list).encode()).hexdigest()[:12]


def probe_factor(runs: Iterable[dict[str, Any]], probes: Mapping[str, float], architecture: str | None = None) -> float:
    """How much longer a training's step took than its probe, over the kept
    runs whose network was probed (the median, clamped to 0.5-3; of the runs
    of ``architecture`` when there are any: an MLP's tiny steps weigh the
    per-step overheads more); ``PROBE_FACTOR`` when there are none."""
    def probed(config: TrainConfig) -> float | None:
        step = probes.get(pace_key(config))
        return config.epochs * steps_per_epoch(config) * step if step else None

    return _median(_ratios(runs, BUILD_S, probed), architecture, 0.5, 3.0, PROBE_FACTOR)


def estimate_basis(config: TrainConfig, runs: Iterable[dict[str, Any]] = (),
                   probes: Mapping[str, float] = {}) -> str:
    """What the estimate for ``config`` stands on: "history" (kept runs of its
    kind and size), "probe" (a probe of its own steps) or "guess" (neither)."""
    if not first_of_its_size(config, runs):
        return "history"
    return "probe" if probes.get(pace_key(config)) else "guess"


def expected_seconds(config: TrainConfig, runs: Iterable[dict[str, Any]] = ()) -> float:
    """The training time to expect for ``config`` here (early stopping may end it sooner)."""
    for meta in runs:
        if meta.get("key") == config.key() and "train_seconds" in meta:
            return float(meta["train_seconds"])  # trained before: it will be reused at once
    return predicted_seconds(config) * machine_factor(runs, architecture=config.architecture)


def scoring_seconds(config: TrainConfig, factor: float = 1.0) -> float:
    """Scoring the test set after training: a forward pass (a third of a
    training step's multiply-adds) over 10,000 images in batches of 1,000."""
    return TEST_SIZE * multiply_adds(config) * SECONDS_PER_MAC / 3 * factor


def startup_seconds(jobs: Iterable[tuple[TrainConfig, float, float]], factor: float = 1.0) -> float:
    """The fixed cost of a training job on this machine, from finished jobs
    given as ``(config, wall seconds from queued to done, train_seconds)``
    (trainings that ran, not reused ones): the median of what is left once
    training and scoring are taken out; ``STARTUP_S`` when there are none
    (clamped to 1-60 s)."""
    rest = [wall - train - scoring_seconds(config, factor) for config, wall, train in jobs
            if wall > 0 and train > 0]
    return min(60.0, max(1.0, statistics.median(rest))) if rest else STARTUP_S


def expected_wait(config: TrainConfig, runs: Iterable[dict[str, Any]] = (),
                  jobs: Iterable[tuple[TrainConfig, float, float]] = (), kept: bool = False,
                  probes: Mapping[str, float] = {}) -> float:
    """What the visitor waits from the Train button to the result: the
    training, its scoring and a job's start-up; ``INSTANT_S`` for kept settings.
    ``probes``: measured step times by ``pace_key``; one for ``config`` sets
    its pace when no kept run is like it (``estimate_basis`` "probe")."""
    if kept:
        return INSTANT_S
    runs = [m for m in runs if m.get("key") != config.key()]  # (a kept run is reused: see ``kept``)
    if estimate_basis(config, runs, probes) == "probe":
        step = predicted_seconds(config) / (config.epochs * steps_per_epoch(config))
        factor = probes[pace_key(config)] * probe_factor(runs, probes, config.architecture) / step
    else:
        factor = machine_factor(runs, BUILD_S, config.architecture)
    training = BUILD_S + predicted_seconds(config) * factor
    return training + scoring_seconds(config, factor) + startup_seconds(jobs, factor)


def time_left(expected_total: float, waited: float, fraction: float = 0.0,
              train_elapsed: float = 0.0, finishing: float = 1.0) -> float:
    """Seconds left in a run expected to take ``expected_total`` seconds of
    waiting, ``waited`` seconds in, with ``fraction`` of its training steps
    done in ``train_elapsed`` seconds of training. Before training starts it
    is what the estimate left, never less than the estimate's training part
    (a slow start-up never counts down into a training that has not begun); during training, the estimate and the run's
    own pace (plus ``finishing``: scoring and saving) weighted by the fraction
    done, so it moves smoothly from one to the other and never jumps when the
    first, slow steps give way to the rest."""
    prior = max(0.0, expected_total - waited)
    if fraction <= 0 or train_elapsed <= 0:  # still starting: the training it has not begun is still ahead
        return max(1.0, prior, expected_total - STARTUP_S)
    fraction = min(1.0, fraction)
    pace = train_elapsed * (1 - fraction) / fraction + finishing
    return max(1.0, fraction * pace + (1 - fraction) * prior)


TRIAL_OVERHEAD_S = 1.5  # a search trial's build, compile and validation besides its steps


def search_seconds(configs: Iterable[TrainConfig], trials: int, images: int, runs: Iterable[dict[str, Any]] = (),
                   jobs: Iterable[tuple[TrainConfig, float, float]] = ()) -> float:
    """A hyperparameter search of ``trials`` trials, each one of ``configs``
    (as likely as the others) trained on ``images`` images: their mean time,
    corrected for this machine, and a job's start-up."""
    runs = list(runs)
    factor = machine_factor(runs)
    configs = list(configs)
    if not configs:
        return startup_seconds(jobs, factor)
    trial = statistics.mean(predicted_seconds(c) * images / (TRAIN_SIZE * (1 - c.validation_split))
                            for c in configs) * factor + TRIAL_OVERHEAD_S
    return trials * trial + startup_seconds(jobs, factor)


def human(seconds: float) -> str:
    """'about 9 s', 'about 4 minutes', 'about 2 hours'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"
