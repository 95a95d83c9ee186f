"""Bad input, one test per kind: a clear message, never a traceback, never a
damaged model, and code in a model file never runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import ROOT, drawn_digit, tiny_model

from model.data.preprocess import (
    DrawingTooSmallError,
    EmptyDrawingError,
    canvas_to_mnist,
)
from model.lab import store
from model.lab.limits import DEMO, LOCAL
from model.lab.registry import import_model
from model.serving.contract import InvalidModelError
from model.training.config import ConfigError, TrainConfig

# --- drawings ---------------------------------------------------------------


def black_canvas() -> np.ndarray:
    img = np.zeros((280, 280, 4), np.uint8)
    img[..., 3] = 255
    return img


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_uniform_canvas_is_refused(fill):
    img = black_canvas()
    img[..., :3] = fill
    with pytest.raises(EmptyDrawingError):
        canvas_to_mnist(img)


def test_single_dot_is_too_small():
    with pytest.raises(DrawingTooSmallError, match="too small"):
        canvas_to_mnist(drawn_digit([[(100, 100), (101, 101)]], width=6))


def test_ink_touching_every_edge_still_reads():
    img = drawn_digit([[(0, 0), (279, 279)], [(279, 0), (0, 279)]], width=30)  # an X across the canvas
    out = canvas_to_mnist(img)
    rows, cols = np.flatnonzero(out.max(axis=1) > 0.2), np.flatnonzero(out.max(axis=0) > 0.2)
    assert rows[-1] - rows[0] + 1 <= 21 and cols[-1] - cols[0] + 1 <= 21


def test_huge_and_tiny_drawings_give_the_same_digit_image():
    huge = drawn_digit([[(140, 5), (140, 275)]], width=24)
    tiny = drawn_digit([[(140, 120), (140, 150)]], width=3)
    a, b = canvas_to_mnist(huge), canvas_to_mnist(tiny)
    assert a.shape == b.shape == (28, 28)
    assert np.abs(a - b).mean() < 0.05


# --- model files ------------------------------------------------------------

def saved(model: keras.Model, path) -> bytes:
    model.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("name,data", [
    ("notes.h5", b"this is not a model"),
    ("notes.keras", b"PK\x03\x04 not really a zip"),
    ("picture.png", b"\x89PNG\r\n\x1a\n"),
])
def test_uploaded_file_that_is_not_a_model(lab_dir, name, data):
    with pytest.raises(InvalidModelError):
        import_model(data, name, LOCAL.max_upload_bytes)
    assert not list((lab_dir / "models").glob("upload-*")) if (lab_dir / "models").exists() else True


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_truncated_model_file(lab_dir, tmp_path, suffix):
    data = saved(tiny_model(), tmp_path / f"m{suffix}")
    with pytest.raises(InvalidModelError):
        import_model(data[: len(data) // 2], f"cut{suffix}", LOCAL.max_upload_bytes)


@pytest.mark.parametrize("kwargs,message", [
    ({"inputs": (32, 32, 3)}, "input shape"),
    ({"outputs": 5}, "10 classes"),
    ({"activation": "linear"}, "not probabilities"),
])
def test_model_that_is_no_digit_classifier(lab_dir, tmp_path, kwargs, message):
    data = saved(tiny_model(**kwargs), tmp_path / "m.keras")
    with pytest.raises(InvalidModelError, match=message):
        import_model(data, "m.keras", LOCAL.max_upload_bytes)


def marker_lambda(marker: Path):
    """A real lambda, saved as bytecode with the model, whose only effect is
    to create ``marker``: if anything (this process or the sandbox's child)
    ever runs it, the file exists."""
    return eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_refused_and_never_runs(lab_dir, tmp_path, suffix):
    marker = tmp_path / "the lambda ran"
    data = saved(tiny_model(extra=keras.layers.Lambda(marker_lambda(marker))), tmp_path / f"m{suffix}")
    assert marker.exists(), "building the model ran the lambda: the probe works"
    marker.unlink()
    with pytest.raises(InvalidModelError, match="Lambda"):
        import_model(data, f"evil{suffix}", LOCAL.max_upload_bytes)
    assert not marker.exists(), "checking the upload ran the Lambda's code"


MARKER_ENV = "MNIST_LAB_TEST_EVIL_MARKER"


@keras.saving.register_keras_serializable(package="Evil")
class Evil(keras.layers.Layer):
    """A custom layer whose construction leaves a file behind (the path in
    ``MARKER_ENV``, which the sandbox's child inherits)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        Path(os.environ[MARKER_ENV]).touch()

    def call(self, x):
        return x


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_custom_object_is_refused_and_never_built(lab_dir, tmp_path, suffix, monkeypatch):
    marker = tmp_path / "the custom layer was built"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    data = saved(tiny_model(extra=Evil()), tmp_path / f"m{suffix}")
    assert marker.exists(), "building the model built the layer: the probe works"
    marker.unlink()
    with pytest.raises(InvalidModelError, match="refused"):
        import_model(data, f"evil{suffix}", LOCAL.max_upload_bytes)
    assert not marker.exists(), "checking the upload built the custom layer"


def test_upload_over_the_size_limit(lab_dir, tmp_path):
    data = saved(tiny_model(), tmp_path / "m.keras")
    with pytest.raises(InvalidModelError, match="limit"):
        import_model(data, "m.keras", max_bytes=len(data) - 1)


def test_good_upload_is_kept_as_a_run(lab_dir, default_run):
    data = default_run.path.read_bytes()
    meta = import_model(data, "mine.h5", LOCAL.max_upload_bytes)
    assert meta["key"].startswith("upload-")
    assert meta["metrics"]["test_accuracy"] == pytest.approx(default_run.metrics["test_accuracy"], abs=1e-3)
    assert store.load_run_meta(meta["key"]) == meta
    assert not (lab_dir / "mnist_model.h5").exists()  # an upload never replaces the current model


# --- hyperparameters --------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("learning_rate", 0.0), ("learning_rate", -0.1), ("epochs", 0), ("epochs", 10_000),
    ("batch_size", 0), ("batch_size", 60_001), ("hidden_units", (0,)), ("optimizer", "magic"),
])
def test_absurd_hyperparameters(field, value):
    with pytest.raises(ConfigError):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--learning-rate", "-1"], ["--batch-size", "0"],
                                  ["--epochs", "10000"], ["--hidden-units", "12,x"]])
def test_cli_refuses_absurd_hyperparameters_in_one_line(lab_dir, args):
    run = subprocess.run([sys.executable, "-m", "model", "train", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "MNIST_LAB_DIR": str(lab_dir)})
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "error" in run.stderr.strip().splitlines()[-1]


def test_demo_limits():
    DEMO.check(TrainConfig())
    with pytest.raises(ConfigError, match="public demo"):
        DEMO.check(TrainConfig(epochs=DEMO.max_epochs + 1))
    with pytest.raises(ConfigError, match="units"):
        DEMO.check(TrainConfig(hidden_units=(4096,)))
    LOCAL.check(TrainConfig(epochs=100, hidden_units=(4096,)))


# --- damaged files at start-up ----------------------------------------------

def test_missing_sidecar_is_reported_but_the_model_still_serves(lab_with_model):
    from test_pages import open_page, texts

    from model.lab import store

    (lab_with_model / store.CURRENT_LINK / "meta.json").unlink()
    at = open_page("draw")
    assert "sidecar" in texts(at)
    assert "Draw a digit" in texts(at)


def test_corrupt_sidecar_on_the_landing_page(lab_with_model):
    from test_pages import app

    (lab_with_model / "mnist_model.json").write_text("{not json")
    at = app().run()
    assert not at.exception
    assert "no readable sidecar" in at.warning[0].value
