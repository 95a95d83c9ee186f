"""The Draw page's in-browser reading, the parts Python holds: the web export
of a model (``model.serving.web``: batch 1, what Keras predicts), the files
it is written to (``model.lab.web_models``: once per model file, named by a
hash, written whole), the vendored runtime served by the app, and the
browser's copy of the preprocessing keeping the server's constants.

The browser itself (LiteRT.js, the JavaScript preprocessing on 1,000
drawings, the canvas) is tested in tests/browser/test_draw.py."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, tiny_model

from model.data import preprocess
from model.serving.export import tflite_predict
from model.serving.web import to_web_tflite, web_input_shape

RUNTIME = ROOT / "static" / "vendor" / "litertjs-2.5.3"
CANVAS_DIR = ROOT / "app_pages" / "draw_canvas"


def small_cnn():
    """A CNN with batch norm and dropout (strong-cnn's kinds of layer), its
    batch-norm statistics moved off their defaults so the export must carry them."""
    import dataclasses

    import keras

    from model.training.architectures import build_model, with_keras_layers
    from model.training.config import PRESETS

    config = dataclasses.replace(PRESETS["strong-cnn"], conv_filters=(4, 8), hidden_units=(16,),
                                 precision="float32")
    model = with_keras_layers(build_model(config))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    return model


def keras_probs(model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model(images.reshape(len(images), *model.input_shape[1:]), training=False))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.random((6, 28, 28)).astype(np.float32) ** 3


@pytest.mark.parametrize("kind", ["mlp", "flat-input", "cnn", "ensemble"])
def test_the_web_export_takes_one_image_and_predicts_what_keras_does(kind, images):
    from model.training.ensemble import combine

    model = {"mlp": lambda: tiny_model((784,)), "flat-input": lambda: tiny_model((28, 28)),
             "cnn": small_cnn, "ensemble": lambda: combine([tiny_model((784,)), small_cnn()])}[kind]()
    data = to_web_tflite(model)
    assert web_input_shape(model) == [1, *model.input_shape[1:]]
    from model.serving.export import _interpreter

    interpreter = _interpreter(data)
    assert list(interpreter.get_input_details()[0]["shape"]) == web_input_shape(model)  # batch 1, not -1
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 10]
    got = np.concatenate([tflite_predict(data, images[i:i + 1]) for i in range(len(images))])
    assert np.abs(got - keras_probs(model, images)).max() < 1e-5


def test_a_model_is_converted_once_and_named_by_its_file(tmp_path, monkeypatch):
    from model.lab import web_models

    model = tiny_model((784,))
    path = tmp_path / "model.keras"
    model.save(path)
    calls = []
    real = web_models.to_web_tflite
    monkeypatch.setattr(web_models, "to_web_tflite", lambda m: calls.append(1) or real(m))
    monkeypatch.setattr(web_models, "_known", {})
    static = tmp_path / "static"

    assert web_models.cached(path, static) is None
    web = web_models.web_model(model, path, static)
    assert re.fullmatch(r"models/[0-9a-f]{24}\.tflite", web.url)
    assert (static / web.url).read_bytes()[4:8] == b"TFL3"  # a TFLite flatbuffer
    assert web.input_shape == [1, 784] and web.size_bytes == (static / web.url).stat().st_size
    assert [p.name for p in (static / "models").iterdir()] == [Path(web.url).name]  # no temporary file left
    assert web_models.web_model(model, path, static) == web and web_models.cached(path, static) == web
    monkeypatch.setattr(web_models, "_known", {})  # a new process (a restart): the file is found, not remade
    assert web_models.web_model(model, path, static).url == web.url
    assert len(calls) == 1

    other = tiny_model((784,))
    other.save(path)  # a new version of the file: a new name, so browsers fetch it again
    assert web_models.web_model(other, path, static).url != web.url
    assert len(calls) == 2


def test_old_exports_are_pruned_but_not_recent_ones(tmp_path, monkeypatch):
    import os
    import time

    from model.lab import web_models

    folder = tmp_path / "models"
    folder.mkdir()
    now = time.time()
    for i in range(6):
        f = folder / f"{i:024x}.tflite"
        f.write_bytes(b"x")
        os.utime(f, (now - 7200 - i, now - 7200 - i) if i >= 3 else (now - i, now - i))
    monkeypatch.setattr(web_models, "MAX_FILES", 2)
    web_models._prune(folder, keep=folder / f"{0:024x}.tflite")
    # the two most recent stay; beyond them only those unused for an hour go
    assert sorted(p.name[-8:-7] for p in folder.iterdir()) == ["0", "1", "2"]


def test_the_runtime_is_vendored_and_served_by_the_app():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True
    for name in ("litert.js", "wasm-utils.js", "LICENSE", "README.md", "wasm/litert_wasm_internal.js",
                 "wasm/litert_wasm_internal.wasm.gz", "wasm/litert_wasm_compat_internal.js",
                 "wasm/litert_wasm_compat_internal.wasm.gz"):
        assert (RUNTIME / name).is_file(), name
    assert 'from "./wasm-utils.js"' in (RUNTIME / "litert.js").read_text()  # no bare import left
    assert '"version": "2.5.3"' in (RUNTIME / "package.json").read_text()
    assert 'RUNTIME_DIR = "vendor/litertjs-2.5.3/"' in (CANVAS_DIR / "draw.js").read_text()
    weight = sum(f.stat().st_size for f in RUNTIME.rglob("*") if "compat" not in f.name and f.is_file()
                 and f.suffix in (".js", ".gz"))
    assert weight < 3.3e6  # what one browser downloads (one of the two builds), the model aside


def test_the_browsers_preprocessing_keeps_the_servers_constants():
    """preprocess.js is a copy of model/data/preprocess.py (the parity test
    in tests/browser/test_draw.py holds their outputs together): the same
    thresholds and sizes, under the same names."""
    js = (CANVAS_DIR / "preprocess.js").read_text()
    constants = {name: value for name, value in re.findall(r"export const ([A-Z_]+) = ([^;]+);", js)}
    for name in ("DIGIT_BOX", "SIZE", "INK_LEVEL", "MIN_DRAWING_FRACTION", "SMALL_DRAWING_FRACTION",
                 "OFF_CENTRE_FRACTION", "MNIST_STROKE_WIDTH", "MAX_SHEAR"):
        assert float(constants[name]) == getattr(preprocess, name), name
    for name in ("MNIST_SLANTS", "MNIST_STROKE_WIDTHS"):
        assert [float(v) for v in constants[name].strip("[]").split(",")] == list(getattr(preprocess, name)), name


def test_the_component_module_is_the_preprocessing_then_the_canvas():
    from app_pages.draw_canvas import component_js

    module = component_js()
    assert module.index("export function canvasToMnist") < module.index("export default function")
    assert "export function loadModel" in module
