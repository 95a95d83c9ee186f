"""The test-only pace of background trainings (model.training.callbacks.Pace):
an epoch lasts at least the time asked, spread over its batches, so a test
that watches progress sees a training running on any machine."""

from __future__ import annotations

import time

import keras
import numpy as np

from model.training.callbacks import PACE_ENV, Pace, paced


def fit_seconds(callbacks) -> tuple[float, list[float]]:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    x, y = np.zeros((40, 4), np.float32), keras.utils.to_categorical(np.zeros(40), 2)
    stamps: list[float] = []
    stamp = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: stamps.append(time.perf_counter()))
    started = time.perf_counter()
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[*callbacks, stamp])
    return time.perf_counter() - started, [t - started for t in stamps]


def test_each_epoch_lasts_at_least_the_pace_spread_over_its_batches():
    seconds, stamps = fit_seconds([Pace(0.8)])
    assert seconds >= 1.6  # two epochs of at least 0.8 s
    assert len(stamps) == 8
    assert stamps[1] >= 0.4 - 0.01  # the second of four batches ends no sooner than half the epoch's pace


def test_no_pace_unless_the_environment_asks(monkeypatch):
    monkeypatch.delenv(PACE_ENV, raising=False)
    assert paced() == []
    monkeypatch.setenv(PACE_ENV, "2.5")
    [pace] = paced()
    assert isinstance(pace, Pace) and pace.min_epoch_s == 2.5
