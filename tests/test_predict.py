"""model.serving.predict: open a saved digit classifier safely, and read digits with it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import tiny_model

from model.serving.contract import InvalidModelError
from model.serving.predict import load_classifier, predict_batch, predict_proba


def test_error_is_a_value_error():
    assert issubclass(InvalidModelError, ValueError)


# --- good models ------------------------------------------------------------------

@pytest.fixture(scope="module")
def default_classifier(default_run):
    return load_classifier(default_run.path)


def test_default_model_loads(default_classifier, default_run, mnist):
    assert default_classifier.input_shape == (None, 784)
    x = mnist[1][0][:20].reshape(20, 784).astype(np.float32) / 255
    np.testing.assert_allclose(default_classifier.predict(x, verbose=0),
                               default_run.model.predict(x, verbose=0), atol=1e-6)


def test_predict_proba_matches_plain_keras(default_classifier, default_run, mnist):
    reference = keras.models.load_model(default_run.path, compile=False)
    images = mnist[1][0][:10].astype(np.float32) / 255
    expected = reference.predict(images.reshape(10, 784), verbose=0)
    for image, row in zip(images, expected):
        probs = predict_proba(default_classifier, image)
        assert probs.shape == (10,)
        assert probs.min() >= 0 and probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(probs, row, atol=1e-5)
    # a flattened image is the same image
    np.testing.assert_allclose(predict_proba(default_classifier, images[0].ravel()),
                               predict_proba(default_classifier, images[0]), atol=1e-7)
    np.testing.assert_allclose(predict_batch(default_classifier, images), expected, atol=1e-5)


def test_default_model_reads_test_digits(default_classifier, mnist):
    x, y = mnist[1]
    probs = predict_batch(default_classifier, x[:200].astype(np.float32) / 255)
    assert (probs.argmax(axis=1) == y[:200]).mean() > 0.9


def test_predict_proba_refuses_a_wrong_size():
    model = tiny_model()
    with pytest.raises(ValueError, match="28x28"):
        predict_proba(model, np.zeros((27, 27), np.float32))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (784,)], ids=["28x28", "28x28x1", "784"])
def test_image_shaped_models_load_and_predict(tmp_path, mnist, shape, suffix):
    model = tiny_model(inputs=shape)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    loaded = load_classifier(path)
    assert loaded.input_shape[1:] == shape
    image = mnist[1][0][0].astype(np.float32) / 255
    probs = predict_proba(loaded, image)
    expected = model.predict(image.reshape(1, *shape), verbose=0)[0]
    assert np.allclose(probs, expected, atol=1e-5)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


# --- files that are no usable classifier ---------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(InvalidModelError, match="no model file"):
        load_classifier(tmp_path / "missing.h5")


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(InvalidModelError):
        load_classifier(tmp_path)


def test_text_file_renamed_h5(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("these are my notes, not a model\n")
    with pytest.raises(InvalidModelError):
        load_classifier(path)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_truncated_file(tmp_path, suffix):
    whole = tmp_path / f"whole{suffix}"
    tiny_model().save(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError):
        load_classifier(cut)


def test_keras_file_that_is_not_a_zip(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"\x89HDF\r\n\x1a\n but not really" * 10)
    with pytest.raises(InvalidModelError):
        load_classifier(path)


def test_other_suffix_is_refused(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(InvalidModelError, match="expected a .h5 or .keras"):
        load_classifier(path)


def test_weights_only_h5_is_refused(tmp_path):
    path = tmp_path / "only.weights.h5"
    tiny_model().save_weights(path)
    with pytest.raises(InvalidModelError, match="weights only"):
        load_classifier(path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("kwargs,message", [
    ({"outputs": 5}, "10 classes"),
    ({"inputs": (32, 32, 3)}, "input shape"),
    ({"activation": "linear"}, "not probabilities"),
], ids=["5 outputs", "32x32x3 input", "linear last layer"])
def test_not_a_digit_classifier(tmp_path, kwargs, message, suffix):
    path = tmp_path / f"model{suffix}"
    tiny_model(**kwargs).save(path)
    with pytest.raises(InvalidModelError, match=message):
        load_classifier(path)


def test_two_outputs_are_refused(tmp_path):
    inp = keras.Input((784,))
    a = keras.layers.Dense(10, activation="softmax")(inp)
    b = keras.layers.Dense(10, activation="softmax")(inp)
    path = tmp_path / "two.keras"
    keras.Model(inp, [a, b]).save(path)
    with pytest.raises(InvalidModelError, match="one input and one output"):
        load_classifier(path)


def test_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "the lambda ran"
    # A real lambda (saved as bytecode) whose only effect is to create the marker file.
    touch = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    model = tiny_model(extra=keras.layers.Lambda(touch))
    path = tmp_path / "evil.keras"
    model.save(path)
    assert marker.exists()  # building the model ran it: the probe works
    marker.unlink()
    with pytest.raises(InvalidModelError, match="Lambda"):
        load_classifier(path)
    assert not marker.exists(), "loading the model ran the Lambda's code"


def test_file_over_max_bytes(tmp_path):
    path = tmp_path / "model.keras"
    tiny_model().save(path)
    size = path.stat().st_size
    with pytest.raises(InvalidModelError, match="limit"):
        load_classifier(path, max_bytes=size - 1)
    assert load_classifier(path, max_bytes=size) is not None
