"""Shared fixtures: a private work folder per test, MNIST, and one full
default training that several tests reuse (it takes about ten seconds)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.config import TrainConfig  # noqa: E402
from model.data import load_mnist  # noqa: E402


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty work folder: no model, no registry."""
    monkeypatch.setenv("MNIST_LAB_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """2,000 training and 500 test images: enough to learn something in a second."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:2000], y_train[:2000]), (x_test[:500], y_test[:500])


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """The classic recipe trained once on the full data, in its own folder."""
    from model.train import train

    root = tmp_path_factory.mktemp("default_run")
    return train(TrainConfig(), root=root)


@pytest.fixture
def lab_with_model(lab_dir: Path, default_run) -> Path:
    """A work folder holding the default model as the current one."""
    src = default_run.path.parent
    for name in ("mnist_model.h5", "mnist_model.json"):
        shutil.copy(src / name, lab_dir / name)
    shutil.copytree(src / "models", lab_dir / "models")
    return lab_dir


def drawn_digit(strokes, size: int = 280, width: int = 18) -> np.ndarray:
    """An RGBA canvas image (white ink on black) with the given polyline strokes,
    each a list of (x, y) points in canvas pixels, as the canvas returns it."""
    from model.strokes import render

    return render(strokes, width, size)


def tiny_model(inputs=(784,), outputs: int = 10, activation: str = "softmax", extra=None):
    """An untrained Keras classifier of any input/output shape, for file checks."""
    import keras

    x = inp = keras.Input(inputs)
    if extra is not None:
        x = extra(x)
    if len(inputs) > 1:
        x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(outputs, activation=activation)(x))
