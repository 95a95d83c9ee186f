"""Shared fixtures: a private work folder per test, MNIST, and one full
default training that several tests reuse (about ten seconds, more on a busy
machine). Every test that uses it, directly or through another fixture, is
marked ``slow`` here, so ``pytest -m "not slow"`` runs no full training."""

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "default_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty work folder: no model, no registry, and no starter model
    trained by itself (tests that want one turn MNIST_LAB_WARMUP back on)."""
    monkeypatch.setenv("MNIST_LAB_DIR", str(tmp_path))
    monkeypatch.setenv("MNIST_LAB_WARMUP", "0")
    monkeypatch.delenv("MNIST_LAB_DEMO", raising=False)
    monkeypatch.delenv("MNIST_LAB_DATABASE_URL", raising=False)
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
    shutil.copytree(default_run.path.parent, lab_dir, symlinks=True, dirs_exist_ok=True)
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
