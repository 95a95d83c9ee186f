"""A Keras callback that reports training progress to any function: the Train
page draws with it, the CLI prints with it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras

from model import settings


@dataclass
class Progress:
    epochs: int
    steps_per_epoch: int
    epoch: int = 0  # epochs finished
    step: int = 0  # batches finished in all
    batch_steps: list[int] = field(default_factory=list)  # sampled batch curves
    batch_loss: list[float] = field(default_factory=list)
    batch_accuracy: list[float] = field(default_factory=list)
    epoch_logs: list[dict[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    event: str = "begin"  # what the last report was about: begin, batch, epoch or end

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / max(1, self.total_steps))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def to_dict(self) -> dict:
        """What a page shows of it (for a job's row in the database)."""
        return {"epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch, "epoch": self.epoch,
                "step": self.step, "elapsed": self.elapsed, "event": self.event,
                "batch_steps": self.batch_steps, "batch_loss": self.batch_loss,
                "batch_accuracy": self.batch_accuracy, "epoch_logs": self.epoch_logs}

    @property
    def history(self) -> dict[str, list[float]]:
        """The finished epochs' metrics, as Keras' ``History.history``: name -> values."""
        names = self.epoch_logs[0] if self.epoch_logs else {}
        return {name: [logs[name] for logs in self.epoch_logs] for name in names}


class ProgressCallback(keras.callbacks.Callback):
    """Calls ``report(progress)`` at most every ``interval`` seconds during an
    epoch, and at the end of every epoch. Reading a batch's logs forces a wait
    for the device, so between reports the batch hook only counts."""

    def __init__(self, report: Callable[[Progress], None], interval: float = 0.3) -> None:
        super().__init__()
        self.report = report
        self.interval = interval
        self.progress: Progress | None = None
        self._last = 0.0

    def on_train_begin(self, logs=None) -> None:
        self.progress = Progress(epochs=self.params["epochs"], steps_per_epoch=self.params["steps"])
        self._last = time.perf_counter()
        self._send("begin")

    def _send(self, event: str) -> None:
        self.progress.event = event
        self.report(self.progress)

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        p = self.progress
        p.step = p.epoch * p.steps_per_epoch + batch + 1
        now = time.perf_counter()
        if now - self._last >= self.interval and logs:
            self._last = now
            p.batch_steps.append(p.step)
            p.batch_loss.append(float(logs["loss"]))
            p.batch_accuracy.append(float(logs.get("accuracy", float("nan"))))
            self._send("batch")

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        p = self.progress
        p.epoch = epoch + 1
        p.step = p.epoch * p.steps_per_epoch
        p.epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})
        self._send("epoch")

    def on_train_end(self, logs=None) -> None:
        self._send("end")


PACE_ENV = "MNIST_LAB_MIN_EPOCH_S"  # tests only: the least time an epoch of a background training takes


class Pace(keras.callbacks.Callback):
    """Spreads each epoch over at least ``min_epoch_s`` seconds, sleeping
    after a batch that comes early. For tests that watch a training's
    progress: they set the pace instead of racing the machine, so a faster
    machine still shows them a training in progress. A no-op where training
    is slower than that anyway."""

    def __init__(self, min_epoch_s: float) -> None:
        super().__init__()
        self.min_epoch_s = min_epoch_s
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        due = self._started + self.min_epoch_s * (batch + 1) / self.params["steps"]
        early = due - time.perf_counter()
        if early > 0:
            time.sleep(early)


def paced() -> list[keras.callbacks.Callback]:
    """``[Pace(...)]`` when ``MNIST_LAB_MIN_EPOCH_S`` is set (tests), else nothing."""
    value = settings.number(PACE_ENV)
    return [Pace(value)] if value else []
