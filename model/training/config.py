"""Every hyperparameter of a training run, in one validated dataclass.

The defaults are the classic recipe: an MLP 784-128-128-10 (ReLU, softmax),
SGD at Keras' default learning rate, categorical cross-entropy, batch 32, 3 epochs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from model import settings
from model.data.mnist import TRAIN_SIZE

ARCHITECTURES = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu")
SCHEDULES = ("constant", "cosine", "onecycle")
PRECISIONS = ("float32", "auto", "bfloat16")
DEFAULT_LEARNING_RATES = {"sgd": 0.01, "adam": 0.001, "adamw": 0.001, "rmsprop": 0.001}

# The version of the code that trains (architectures, fit, data pipeline): part
# of every run's key, so a run trained by older code is never reused as "the
# same settings" once that code changed. Bump it with any change that can
# change a trained model.
RECIPE_VERSION = 3  # 3: one composed distortion (model.data.augment) instead of Keras' augmentation layers

MAX_EPOCHS = 200
MAX_UNITS = 4096
MAX_DRAWINGS_WEIGHT = 100
DRAWINGS_WEIGHT = 3  # the suggested weight when drawings are turned on: measured in bench/drawings.py


BFLOAT16_SWITCH = "MNIST_LAB_BFLOAT16"  # "1" or "0": this machine's answer, whatever the CPU says


def native_bfloat16() -> bool:
    """Does this CPU compute bfloat16 natively (AVX512-BF16 or AMX, read from
    /proc/cpuinfo)? There, training in bfloat16 is about 1.5x as fast as in
    float32 (bench.speed, bench/RESULTS.md); elsewhere it is emulated.
    ``MNIST_LAB_BFLOAT16=1`` (or ``=0``) answers instead of the CPU, so that a
    developer on either kind of machine can run the other kind's path."""
    switch = settings.text(BFLOAT16_SWITCH)
    return switch == "1" if switch else _cpu_has_bfloat16()


@functools.lru_cache(maxsize=1)
def _cpu_has_bfloat16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


class ConfigError(ValueError):
    """A hyperparameter is out of range; the message says which and why."""


def from_known_fields(cls, d: dict[str, Any], what: str):
    """``cls(**d)`` for a dataclass, refusing keys it has no field for."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {what}: {', '.join(sorted(unknown))}")
    return cls(**d)


def parse_sizes(text: str) -> tuple[int, ...]:
    """Layer sizes as typed, "128,128" -> (128, 128); "" is no layers."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"expected whole numbers separated by commas, got {text!r}") from None


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "mlp"
    hidden_units: tuple[int, ...] = (128, 128)  # MLP: dense layers; CNN: dense head
    conv_filters: tuple[int, ...] = (32, 64)  # CNN only: one conv block (then max-pool) per entry
    convs_per_block: int = 1  # CNN only: convolutions in each block
    kernel_size: int = 3  # CNN only
    padding: str = "same"  # CNN only: "same" keeps the size, "valid" trims the borders (cheaper)
    activation: str = "relu"
    optimizer: str = "sgd"
    learning_rate: float | None = None  # None: the optimizer's Keras default
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD only
    weight_decay: float = 0.0  # AdamW only
    schedule: str = "constant"
    batch_size: int = 32
    epochs: int = 3
    dropout: float = 0.0
    batch_norm: bool = False
    l2: float = 0.0
    augment: float = 0.0  # strength of random shifts/rotations/zoom; 0 is off
    # strength of pen-like distortions: stroke thickness (dilation/erosion), slant
    # (shear) and elastic wobble, so MNIST's scans look like canvas drawings too; 0 is off
    stroke_augment: float = 0.0
    label_smoothing: float = 0.0  # train towards 1 - s (+ s/10) instead of one-hot targets; 0 is off
    validation_split: float = 0.0
    early_stopping: int = 0  # patience in epochs; 0 is off (needs a validation split)
    seed: int = 0
    # "bfloat16": convolutions and dense layers compute in bfloat16 while training
    # (Keras' mixed precision; weights stay float32, the output layer too), about
    # 1.5x as fast on CPUs with native bfloat16 (AVX512-BF16, AMX; bench.speed). The
    # trained model is float32, like any other. "auto": bfloat16 where the CPU
    # computes it natively (``native_bfloat16``), float32 elsewhere: the same recipe
    # and the same key on every machine, computed as fast as each machine can (the
    # CNN presets). What a run computed in is part of its record (``computed_in``,
    # the run's meta and its description), not of its name.
    precision: str = "float32"
    # Saved drawings (``model.lab.drawings``, their training part) added to MNIST's
    # training set, each repeated this many times; 0 is off. Which drawings is
    # data, not a setting: ``model.lab.runs.train`` reads them from the database
    # and names the run ``key(drawings=<their digest>)``.
    drawings_weight: int = 0
    # Fine-tuning: the key of a kept run whose weights this training starts from
    # (its architecture must be this one); "" trains from freshly initialised
    # weights. The lab's retraining on visitors' drawings fine-tunes the current
    # model for a few epochs instead of training from scratch (bench/learning.py).
    start_from: str = ""

    def __post_init__(self) -> None:
        # Lists from JSON or widgets become tuples, so configs compare and hash.
        object.__setattr__(self, "hidden_units", tuple(int(u) for u in self.hidden_units))
        object.__setattr__(self, "conv_filters", tuple(int(u) for u in self.conv_filters))
        for f in dataclasses.fields(self):  # 1 and 1.0 are the same setting: same key
            value = getattr(self, f.name)
            if f.type in ("float", "float | None") and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        self.validate()

    @property
    def lr(self) -> float:
        """The learning rate in effect."""
        if self.learning_rate is None:
            return DEFAULT_LEARNING_RATES[self.optimizer]
        return self.learning_rate

    def validate(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        for name, allowed in (("architecture", ARCHITECTURES), ("optimizer", OPTIMIZERS),
                              ("activation", ACTIVATIONS), ("schedule", SCHEDULES),
                              ("precision", PRECISIONS)):
            value = getattr(self, name)
            check(value in allowed, f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        check(self.learning_rate is None or 0 < self.learning_rate <= 10,
              f"learning rate must be > 0 and <= 10, got {self.learning_rate}")
        check(1 <= self.epochs <= MAX_EPOCHS, f"epochs must be 1 to {MAX_EPOCHS}, got {self.epochs}")
        check(1 <= self.batch_size <= TRAIN_SIZE,
              f"batch size must be 1 to {TRAIN_SIZE}, got {self.batch_size}")
        check(len(self.hidden_units) <= 8, "at most 8 hidden layers")
        check(all(1 <= u <= MAX_UNITS for u in self.hidden_units),
              f"hidden layer sizes must be 1 to {MAX_UNITS}, got {list(self.hidden_units)}")
        check(self.architecture != "cnn" or 1 <= len(self.conv_filters) <= 3,
              "a CNN has 1 to 3 conv blocks")
        check(1 <= self.convs_per_block <= 3, f"1 to 3 convolutions a block, got {self.convs_per_block}")
        check(self.kernel_size in (3, 5), f"kernel size must be 3 or 5, got {self.kernel_size}")
        check(self.padding in ("same", "valid"), f"padding must be same or valid, got {self.padding!r}")
        check(self.architecture != "cnn" or self.feature_map_size() >= 1,
              "the conv blocks shrink the 28x28 image to nothing: use fewer blocks or padding 'same'")
        check(all(1 <= f <= 512 for f in self.conv_filters),
              f"conv filters must be 1 to 512, got {list(self.conv_filters)}")
        check(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        check(0 <= self.weight_decay < 1, f"weight decay must be in [0, 1), got {self.weight_decay}")
        check(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        check(0 <= self.l2 < 1, f"L2 must be in [0, 1), got {self.l2}")
        check(0 <= self.augment <= 1, f"augmentation strength must be in [0, 1], got {self.augment}")
        check(0 <= self.stroke_augment <= 1,
              f"stroke augmentation strength must be in [0, 1], got {self.stroke_augment}")
        check(0 <= self.label_smoothing <= 0.5,
              f"label smoothing must be in [0, 0.5], got {self.label_smoothing}")
        check(0 <= self.validation_split < 0.5,
              f"validation split must be in [0, 0.5), got {self.validation_split}")
        check(self.early_stopping >= 0, "early-stopping patience must be >= 0")
        check(0 <= self.drawings_weight <= MAX_DRAWINGS_WEIGHT,
              f"drawings weight must be 0 (off) to {MAX_DRAWINGS_WEIGHT}, got {self.drawings_weight}")
        check(self.early_stopping == 0 or self.validation_split > 0,
              "early stopping needs a validation split")
        check(self.start_from == "" or re.fullmatch(r"[0-9a-f]{12}", self.start_from) is not None,
              f"start from: expected a kept run's 12-character key, got {self.start_from!r}")

    def computed_in(self) -> str:
        """The precision a training of this config computes in on this machine."""
        if self.precision == "auto":
            return "bfloat16" if native_bfloat16() else "float32"
        return self.precision

    def as_computed(self) -> TrainConfig:
        """This config with "auto" resolved for this machine: what a run records it ran as."""
        return dataclasses.replace(self, precision=self.computed_in())

    def feature_map_size(self) -> int:
        """Side of the last conv block's output (each block: convolutions, then 2x2 max-pool)."""
        side = 28
        for _ in self.conv_filters:
            if self.padding == "valid":
                side -= self.convs_per_block * (self.kernel_size - 1)
            side //= 2
        return side

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden_units"] = list(self.hidden_units)
        d["conv_filters"] = list(self.conv_filters)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return from_known_fields(cls, d, "hyperparameters")

    def key(self, drawings: str = "") -> str:
        """A short stable hash of everything that changes the trained model.
        ``drawings``: the digest of the saved drawings trained with (when
        ``drawings_weight`` is on), so a new drawing means a new run."""
        d = self.to_dict()
        d["learning_rate"] = self.lr
        # Settings that don't apply can't make a different model: leave them out.
        if self.architecture == "mlp":
            for name in ("conv_filters", "convs_per_block", "kernel_size", "padding"):
                d.pop(name)
        if self.optimizer != "sgd":
            d.pop("momentum"), d.pop("nesterov")
        if self.optimizer != "adamw":
            d.pop("weight_decay")
        if not self.label_smoothing:
            d.pop("label_smoothing")
        if not self.stroke_augment:
            d.pop("stroke_augment")
        if self.precision in ("float32", "auto"):  # keys made before the option stay the same, and
            d.pop("precision")  # "auto" names the recipe, not the machine: one key on every CPU
        if self.drawings_weight:
            d["drawings"] = drawings
        else:  # off: every key made before the option existed stays the same
            d.pop("drawings_weight")
        if not self.start_from:
            d.pop("start_from")
        d["recipe"] = RECIPE_VERSION
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def describe(self) -> str:
        if self.architecture == "mlp":
            shape = "-".join(str(u) for u in (784, *self.hidden_units, 10))
            arch = f"MLP {shape}"
        else:
            blocks = "-".join(f"{f}x{self.convs_per_block}" if self.convs_per_block > 1 else str(f)
                              for f in self.conv_filters)
            if (self.kernel_size, self.padding) != (3, "same"):
                blocks += f" ({self.kernel_size}x{self.kernel_size} {self.padding})"
            dense = f" + dense {'-'.join(map(str, self.hidden_units))}" if self.hidden_units else ""
            arch = f"CNN conv {blocks}{dense}"
        extra = f", {self.precision}" if self.precision == "bfloat16" else ""
        extra += f", seed {self.seed}" if self.seed else ""  # runs that differ only by it, told apart
        extra += f" + saved drawings x{self.drawings_weight}" if self.drawings_weight else ""
        extra += f", fine-tuned from run {self.start_from}" if self.start_from else ""
        return (f"{arch}, {self.optimizer.upper()} lr {self.lr:.3g}, batch {self.batch_size}, "
                f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}{extra}")


# A preset's name is one recipe on every machine (its epochs, batch and schedule; its key): the
# CNN presets compute in "auto" precision, bfloat16 where the CPU has it natively (about 1.5x as
# fast there), and each run records what it computed in. Users who compare "strong-cnn" across
# machines compare the same recipe; the model line says which precision each run used.
PRESETS: dict[str, TrainConfig] = {
    # The seed's recipe, unchanged: about 94% in 3 epochs.
    "classic": TrainConfig(),
    # Keras' simple convnet example: two conv blocks, dropout, Adam.
    "small-cnn": TrainConfig(architecture="cnn", conv_filters=(32, 64), hidden_units=(), dropout=0.5,
                             optimizer="adam", batch_size=128, epochs=3),
    # Fastest to 99%: LeNet-like 5x5 valid convolutions (a third of the small CNN's work) and a
    # 64-unit dense layer (0.4% of the work), Adam with a one-cycle schedule. In bfloat16: 2 epochs
    # of batch 256 with label smoothing, 99.10-99.17% and fonts read at 95.6-96.5% over seeds 0-2
    # in 8-9 s (3 epochs without smoothing, as before: 99.14%, fonts 94.5%, 10-11 s on the same
    # machine; bench/RESULTS.md). In float32 the same recipe: 99.03-99.15% over seeds 0-2 in
    # 22-27 s on 2 cores without bfloat16, where 4 epochs of batch 128 took 45 s for 99.28%: the
    # demo's first visitor waits half as long for the starter (2026-12-05).
    "fast-cnn": TrainConfig(architecture="cnn", conv_filters=(16, 32), kernel_size=5, padding="valid",
                            hidden_units=(64,), optimizer="adam", learning_rate=0.008, schedule="onecycle",
                            batch_size=256, epochs=2, label_smoothing=0.1, precision="auto"),
    # Aimed at 99.7% and at drawings: two convolutions a block, batch norm, dropout, augmentation,
    # pen augmentation (drawn digits and fonts), label smoothing, one cycle; 10 epochs on every
    # machine: 99.69% in 809 s in float32 on AMD EPYC without bfloat16 (2026-12-05); with bfloat16
    # on Intel Xeon, 16 epochs gave 99.70-99.75% over seeds 0-3 in 348-368 s and 20 no better
    # (bench/RESULTS.md), so 10 there take about 210 s. (Until 2026-12-08 the epochs followed the
    # CPU: 16 with bfloat16, 10 without; one name now means one recipe.) Unpadded convolutions
    # shrink the maps (28-26-24, 12-10-8): 40% less work than "same".
    "strong-cnn": TrainConfig(architecture="cnn", conv_filters=(32, 64), convs_per_block=2, padding="valid",
                              hidden_units=(256,), batch_norm=True, dropout=0.3, augment=0.6, stroke_augment=0.5,
                              label_smoothing=0.1, optimizer="adam", learning_rate=0.003, schedule="onecycle",
                              batch_size=128, epochs=10, precision="auto"),
}


def preset_config(name: str) -> TrainConfig:
    """A preset by name, or "NAME:EPOCHS" for its recipe with another number
    of epochs (the demo's starter and upgrade on a slower machine, say
    "strong-cnn:4"); ConfigError for anything else."""
    preset, colon, epochs = name.strip().partition(":")
    if preset not in PRESETS:
        raise ConfigError(f"no preset named {preset!r} (one of {', '.join(PRESETS)})")
    if not colon:
        return PRESETS[preset]
    if not epochs.strip().isdigit():
        raise ConfigError(f"{name!r}: the epochs after the colon must be a whole number")
    return dataclasses.replace(PRESETS[preset], epochs=int(epochs))


# Fine-tuning a kept run on new data (the retraining on visitors' drawings): its own recipe, a
# few epochs, a fraction of its learning rate. Chosen in bench/learning.py on the saved drawings'
# held-out part (never on the style's scoring set).
FINE_TUNE_EPOCHS = 2
FINE_TUNE_LR_FACTOR = 0.2


def fine_tuning(config: TrainConfig, key: str, epochs: int = FINE_TUNE_EPOCHS,
                lr_factor: float = FINE_TUNE_LR_FACTOR) -> TrainConfig:
    """``config``, the recipe of the kept run ``key``, continued from that run's
    weights for ``epochs`` epochs at ``lr_factor`` times its learning rate. A
    run that was itself fine-tuned is fine-tuned again with its own settings
    (the rate does not shrink with every generation)."""
    if config.start_from:
        return dataclasses.replace(config, start_from=key)
    return dataclasses.replace(config, start_from=key, epochs=epochs, learning_rate=config.lr * lr_factor)
