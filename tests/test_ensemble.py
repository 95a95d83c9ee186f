"""Ensembles (model.training.ensemble): three small members of three input shapes
((784,), (28, 28, 1), (28, 28)) combined into one plain Keras model that
predicts the average of their probabilities, loads with load_classifier,
round-trips through .keras, .h5 and TFLite; ensemble_runs keeps it as a run
naming its members; the command line fails in one line; the Train page's
section combines kept runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, tiny_model

from model.data.preprocess import scale_images
from model.lab import store
from model.lab.ensembles import ensemble_key, ensemble_runs
from model.serving.export import export_model, file_name, tflite_predict
from model.serving.predict import load_classifier, predict_batch
from model.training.config import TrainConfig
from model.training.ensemble import EnsembleError, combine


@pytest.fixture(scope="module")
def members(small_mnist):
    """An MLP and a CNN with batch norm, each fitted one epoch on 2,000
    images, and an untrained (28, 28) classifier: three input shapes."""
    import keras

    from model.training.fit import fit

    mlp, _ = fit(TrainConfig(hidden_units=(16,), batch_size=128, epochs=1), small_mnist[0])
    cnn, _ = fit(TrainConfig(architecture="cnn", conv_filters=(4,), hidden_units=(8,), optimizer="adam",
                             batch_norm=True, batch_size=128, epochs=1), small_mnist[0])
    keras.utils.set_random_seed(1)
    flat = tiny_model(inputs=(28, 28))
    return [mlp, cnn, flat]


@pytest.fixture(scope="module")
def ensemble(members):
    return combine(members)


@pytest.fixture(scope="module")
def images(mnist):
    return scale_images(mnist[1][0][:16])


def members_average(members, images: np.ndarray) -> np.ndarray:
    """The members called directly, each on its own input shape, averaged."""
    return np.mean([np.asarray(m(images.reshape((len(images), *m.input_shape[1:])), training=False))
                    for m in members], axis=0)


def test_the_ensemble_predicts_the_average_of_its_members(ensemble, members, images):
    np.testing.assert_allclose(predict_batch(ensemble, images), members_average(members, images), atol=1e-5)
    assert tuple(ensemble.input_shape[1:]) == (28, 28, 1) and tuple(ensemble.output_shape[1:]) == (10,)


def test_the_ensemble_is_one_flat_plain_keras_model(ensemble, members):
    import keras

    names = [layer.name for layer in ensemble.layers]
    assert len(names) == len(set(names))  # every member's layers, renamed
    assert not any(isinstance(layer, keras.Model) for layer in ensemble.layers)  # no nested model
    assert all(type(layer).__module__.startswith("keras.") for layer in ensemble.layers)
    assert type(ensemble.layers[-1]).__name__ == "Average"
    assert ensemble.count_params() == sum(m.count_params() for m in members)
    assert members[0].layers[1].name != ensemble.layers[2].name  # the members keep their own layers


def test_combine_leaves_the_members_alone(members, images):
    before = [m.get_weights() for m in members]
    names = [[layer.name for layer in m.layers] for m in members]
    model = combine(members[:2])
    np.testing.assert_allclose(predict_batch(model, images), members_average(members[:2], images), atol=1e-5)
    assert [[layer.name for layer in m.layers] for m in members] == names
    for old, m in zip(before, members):
        for a, b in zip(old, m.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_an_ensemble_of_ensembles_averages_all_of_them(ensemble, members, images):
    model = combine([ensemble, members[0]])  # (mean of three + the MLP) / 2
    want = (members_average(members, images) + members_average(members[:1], images)) / 2
    np.testing.assert_allclose(predict_batch(model, images), want, atol=1e-5)


def test_a_member_with_a_layer_named_reshape_combines(members, images):
    import keras

    inputs = keras.Input((28, 28))
    x = keras.layers.Reshape((28, 28, 1), name="reshape")(inputs)  # copied as "m0_reshape"
    x = keras.layers.Flatten()(x)
    own = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model = combine([own, members[0]])
    np.testing.assert_allclose(predict_batch(model, images), members_average([own, members[0]], images), atol=1e-5)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_saved_files_load_with_load_classifier_and_predict_the_same(fmt, ensemble, members, images, tmp_path):
    path = tmp_path / file_name("ensemble", fmt)
    path.write_bytes(export_model(ensemble, fmt))
    loaded = load_classifier(path)  # the untrusted-file checks included: no code, known layers, sizes
    np.testing.assert_allclose(predict_batch(loaded, images), members_average(members, images), atol=1e-5)
    np.testing.assert_allclose(predict_batch(loaded, images), predict_batch(ensemble, images), atol=1e-6)


def test_tflite_predicts_like_the_ensemble(ensemble, images):
    data = export_model(ensemble, "tflite")
    lite = tflite_predict(data, images)
    want = predict_batch(ensemble, images)
    np.testing.assert_array_equal(lite.argmax(axis=1), want.argmax(axis=1))
    np.testing.assert_allclose(lite, want, atol=1e-4)


def test_fewer_than_two_models_are_refused(members):
    with pytest.raises(EnsembleError, match="at least 2"):
        combine(members[:1])
    with pytest.raises(EnsembleError, match="at least 2"):
        combine([])


def test_a_model_that_is_no_digit_classifier_is_refused(members):
    with pytest.raises(EnsembleError, match="model 2"):
        combine([members[0], tiny_model(outputs=3)])


def keep(model, key: str, accuracy: float, root) -> None:
    store.save_run(model, {"key": key, "description": f"model {key}", "config": None,
                           "metrics": {"test_accuracy": accuracy, "test_loss": 1.0}, "history": {},
                           "finished_at": "2026-01-01T00:00:00+00:00"}, root)


@pytest.fixture
def kept(lab_dir, members):
    for key, model, accuracy in zip(("mlp-run", "cnn-run", "flat-run"), members, (0.8, 0.85, 0.1)):
        keep(model, key, accuracy, lab_dir)
    return lab_dir


def test_ensemble_runs_keeps_a_run_naming_its_members(kept, members, small_mnist):
    test_data = small_mnist[1]
    meta = ensemble_runs(["cnn-run", "mlp-run"], test_data=test_data)
    assert meta["key"] == ensemble_key(["mlp-run", "cnn-run"]) and meta["key"].startswith("ensemble-")
    assert meta["members"] == ["cnn-run", "mlp-run"]
    assert meta["description"] == "ensemble of 2: model cnn-run + model mlp-run"
    assert meta["parameters"] == members[0].count_params() + members[1].count_params()
    assert 0 <= meta["metrics"]["test_accuracy"] <= 1 and meta["metrics"]["test_loss"] > 0
    assert store.load_run_meta(meta["key"]) == meta
    current = store.current_run()
    assert current.key == meta["key"]  # made current
    model = load_classifier(store.run_model_path(meta["key"]), own=True)
    images = scale_images(test_data[0][:8])
    np.testing.assert_allclose(predict_batch(model, images), members_average(members[:2][::-1], images), atol=1e-5)
    # The same runs, in any order: the kept run, not a new one.
    assert ensemble_runs(["mlp-run", "cnn-run", "mlp-run"], make_current=False, test_data=test_data) == meta
    assert len(list((kept / "models").glob("ensemble-*/meta.json"))) == 1


def test_ensemble_runs_without_making_it_current_and_for_an_owner(kept, small_mnist):
    meta = ensemble_runs(["mlp-run", "flat-run"], make_current=False, owner="abc", test_data=small_mnist[1])
    assert store.current_run() is None
    assert meta["owner"] == "abc" and meta["key"] != ensemble_key(["mlp-run", "flat-run"])
    assert meta["key"] in [m["key"] for m in store.list_runs(session="abc")]
    assert meta["key"] not in [m["key"] for m in store.list_runs(session="someone else")]  # private


@pytest.mark.parametrize("keys,words", [
    (["mlp-run"], "at least 2 different"),
    (["mlp-run", "mlp-run"], "at least 2 different"),
    (["mlp-run", "nope"], "no kept run nope"),
])
def test_ensemble_runs_refuses_bad_keys(kept, keys, words):
    with pytest.raises(EnsembleError, match=words):
        ensemble_runs(keys)
    assert not list((kept / "models").glob("ensemble-*"))


# --- command line ------------------------------------------------------------

def run(args: list[str], lab, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, MNIST_LAB_DIR=str(lab), PYTHONPATH=str(ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "model", "ensemble", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess, status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # the whole of stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stdout and "usage:" not in result.stdout
    return lines[0]


@pytest.mark.parametrize("args,status,words", [
    ([], 2, "the following arguments are required: RUN"),
    (["mlp-run"], 2, "at least 2 different kept runs, got 1"),
    (["mlp-run", "mlp-run"], 2, "at least 2 different kept runs, got 1"),
    (["mlp-run", "missing-run"], 2, "no kept run missing-run"),
    (["mlp-run", "cnn-run", "--out", "e.txt"], 2, "--out must end in .h5 or .keras"),
    (["mlp-run", "cnn-run", "--bogus"], 2, "unrecognized arguments: --bogus"),
])
def test_cli_bad_input_is_one_line(kept, args, status, words):
    assert words in one_line_error(run(args, kept), status)
    assert not list((kept / "models").glob("ensemble-*"))


def test_cli_a_broken_member_is_one_line(kept):
    (kept / "models" / "cnn-run" / "model.keras").write_text("not a model")
    line = one_line_error(run(["mlp-run", "cnn-run"], kept), 1)
    assert "cnn-run" in line


def test_cli_combines_keeps_and_saves(kept, tmp_path):
    out = tmp_path / "out" / "ensemble.h5"
    result = run(["mlp-run", "cnn-run", "flat-run", "--out", str(out)], kept)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "ensemble of 3: model mlp-run + model cnn-run + model flat-run" in result.stdout
    assert "test accuracy" in result.stdout
    key = ensemble_key(["mlp-run", "cnn-run", "flat-run"])
    assert f"kept as run {key}; saved {out}" in result.stdout
    assert json.loads(out.with_suffix(".json").read_text())["members"] == ["mlp-run", "cnn-run", "flat-run"]
    load_classifier(out)
    assert os.readlink(kept / ".current") == os.path.join("models", key)


def test_cli_an_ensemble_worse_than_the_current_model_does_not_replace_it(kept, members):
    keep(members[1], "great-run", 0.999, kept)
    store.make_current("great-run", kept)
    result = run(["mlp-run", "cnn-run"], kept)
    assert result.returncode == 0, result.stderr
    assert "the current model scores better (0.9990: model great-run) and stays" in result.stdout
    assert store.current_run(kept).key == "great-run"
    assert run(["mlp-run", "cnn-run", "--current"], kept).returncode == 0  # the person insists
    assert store.current_run(kept).key == ensemble_key(["mlp-run", "cnn-run"])


# --- the Train page's section -------------------------------------------------

def section_app() -> None:
    from app_pages.ensemble_view import ensemble_section

    ensemble_section()


def test_the_section_combines_kept_runs(kept):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(section_app, default_timeout=120).run()
    assert not at.exception
    assert at.expander[0].label == "Combine kept models into an ensemble"
    assert at.button(key="ensemble_combine").disabled
    at.multiselect(key="ensemble_members").set_value(["mlp-run", "cnn-run"]).run()
    at.button(key="ensemble_combine").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    key = ensemble_key(["mlp-run", "cnn-run"])
    assert at.metric[0].label == "Ensemble test accuracy"
    assert "now your model" in at.success[0].value
    assert store.current_run().key == key


def test_the_section_keeps_a_better_current_model_until_use_this_model(kept, members):
    from streamlit.testing.v1 import AppTest

    keep(members[1], "great-run", 0.999, kept)
    store.make_current("great-run", kept)
    at = AppTest.from_function(section_app, default_timeout=120).run()
    at.multiselect(key="ensemble_members").set_value(["mlp-run", "cnn-run"]).run()
    at.button(key="ensemble_combine").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "kept, and your better model (99.90%) stays" in at.warning[0].value
    assert store.current_run().key == "great-run"
    key = ensemble_key(["mlp-run", "cnn-run"])
    at.button(key=f"use_{key}").click().run()
    assert store.current_run().key == key
    assert "is now your model, as you chose" in at.success[0].value and not at.warning


def test_the_section_with_fewer_than_two_kept_runs(lab_dir):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(section_app, default_timeout=60).run()
    assert not at.exception
    assert "at least two models" in at.info[0].value
